# Lever (not a Table 1 row): the Baseline whose pseudo labels *merge* into
# the initial labels instead of replacing them: every round the initial
# boxes are kept and confident fused boxes that match none of them (IoU <
# 0.4, Co-mining's) are added, so a size bias of the detector cannot
# compound round after round.
_base_ = '../baseline.py'

custom_hooks = [
    {{_base_.val_loss_start}},
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize=False,
         update='merge',
         merge_cfg=dict(match_iou=0.4, add_score=0.5)),
]
