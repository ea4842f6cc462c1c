# "Supervised only" (an extra reference row of Table 1): Faster R-CNN
# R50-FPN trained on the weak labels of the target images mixed 1:1 with
# clean source boxes, for the whole schedule; no label correction.
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn_cell.py',
    '../_base_/datasets/target_source_cells.py',
    '../_base_/schedules/sgd_8k_iters.py',
    '../_base_/default_runtime.py',
]

# an epoch is a fixed number of iterations (see the schedule)
train_dataloader = dict(
    sampler=dict(iters_per_epoch={{_base_.iters_per_epoch}}))
