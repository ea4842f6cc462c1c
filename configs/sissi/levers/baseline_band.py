# Lever (not a Table 1 row): the Baseline with a score band: fused boxes
# scoring 0.2-0.5 become ignore regions (neither cell nor background,
# mmdet's iscrowd / gt_instances_ignore path), below 0.2 they are dropped,
# from 0.5 they are labels. The assigners must use ignore regions.
_base_ = '../baseline.py'

model = dict(train_cfg=dict(rpn=dict(assigner=dict(ignore_iof_thr=0.5)),
                            rcnn=dict(assigner=dict(ignore_iof_thr=0.5))))

custom_hooks = [
    {{_base_.val_loss_start}},
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize=False,
         ignore_band=(0.2, 0.5)),
]
