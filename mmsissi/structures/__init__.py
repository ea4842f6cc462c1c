# Copyright (c) mmsissi contributors. All rights reserved.
from .box_ops import box_iou, coco_boxes_by_image
from .box_rule import MIN_BOX_SIZE, sanitize_boxes

__all__ = [
    'MIN_BOX_SIZE', 'sanitize_boxes', 'box_iou', 'coco_boxes_by_image'
]
