# Table 1, "Baseline": mixed-batch supervised training (supervised.py) ->
# early stopping on the source validation loss -> self-training: every
# epoch from then on, the target labels are replaced by pseudo labels from
# 20-view TTA + WBF. No synthetic-like images.
_base_ = './supervised.py'

# When to start: once the source validation loss has not improved for 3
# epochs (or at `max_start_epoch`); correction starts from the weights of
# the best validation loss, restored into the model.
val_loss_start = dict(
    type='ValLossStartHook',
    patience=3,
    max_start_epoch={{_base_.max_start_epoch}},
    dataloader={{_base_.source_val_dataloader}})

# How the 20 views (scales 0.8-1.2 x {none, h, v, hv} flips) are fused, as
# the authors ran it: each view's boxes with score > 0.01; Weighted Boxes
# Fusion at IoU 0.5, skipping boxes under 0.25, average score; fused boxes
# with score >= 0.1; then NMS at IoU 0.2; no cap on the count. An image
# whose fused set is empty keeps its previous labels.
pseudo_label_tta = dict(
    view_score_thr=0.01,
    iou_thr=0.5,
    skip_box_thr=0.25,
    conf_type='avg',
    score_thr=0.1,
    nms_iou_thr=0.2,
    max_per_img=None)

custom_hooks = [
    val_loss_start,
    dict(type='PseudoLabelHook', scale={{_base_.img_scale}},
         tta_cfg=pseudo_label_tta, synthesize=False),
]
