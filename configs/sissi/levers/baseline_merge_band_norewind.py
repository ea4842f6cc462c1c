# Lever combination (not a Table 1 row): the Baseline that keeps the given
# labels and trains the trained weights on:
# - no rewind at the start (see baseline_norewind.py);
# - update='merge': the initial labels are kept; a fused box matching none
#   of them (IoU < 0.4) is added from score 0.2 ...
# - ... and ignore_band (0.2, 0.5) makes those scoring 0.2-0.5 ignore
#   regions (labels from 0.5), so cells the weak labels missed are less often trained
#   as background; the assigners use them (ignore_iof_thr 0.5).
_base_ = './baseline_norewind.py'

model = dict(train_cfg=dict(rpn=dict(assigner=dict(ignore_iof_thr=0.5)),
                            rcnn=dict(assigner=dict(ignore_iof_thr=0.5))))

custom_hooks = [
    {{_base_.val_loss_start_norewind}},
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize=False,
         update='merge',
         merge_cfg=dict(match_iou=0.4, add_score=0.2),
         ignore_band=(0.2, 0.5)),
]
