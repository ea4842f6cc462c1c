# Lever combination (not a Table 1 row): the Baseline with the three
# levers that keep the given labels and take uncertainty out of the loss:
# - update='merge': the initial labels are kept; a fused box that matches
#   none of them (IoU < 0.4) is added from score 0.2 ...
# - ... and ignore_band (0.2, 0.5) makes those scoring 0.2-0.5 ignore
#   regions (labels from 0.5) (cells the weak labels likely missed are then not
#   trained as background); the assigners use them (ignore_iof_thr 0.5);
# - labeller='ema': the pseudo labels come from an EMA of the weights
#   (BatchNorm buffers included), tested with the EMA too.
_base_ = '../baseline.py'

model = dict(train_cfg=dict(rpn=dict(assigner=dict(ignore_iof_thr=0.5)),
                            rcnn=dict(assigner=dict(ignore_iof_thr=0.5))))

custom_hooks = [
    {{_base_.val_loss_start}},
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize=False,
         update='merge',
         merge_cfg=dict(match_iou=0.4, add_score=0.2),
         ignore_band=(0.2, 0.5),
         labeller='ema'),
    dict(type='EMAHook', momentum=0.004, update_buffers=True),
]
