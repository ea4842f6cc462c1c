# Table 1, "Baseline": Faster R-CNN R50-FPN trained on weak labels of the
# target images mixed 1:1 with clean source boxes; no label correction.
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn_cell.py',
    '../_base_/datasets/target_source_cells.py',
    '../_base_/schedules/sgd_50e.py',
    '../_base_/default_runtime.py',
]
