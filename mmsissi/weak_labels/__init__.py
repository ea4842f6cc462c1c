# Copyright (c) mmsissi contributors. All rights reserved.
"""Weak labels from classic image processing.

Circle Hough Transform, marker-controlled watershed and edge detection turn
unlabelled microscopy images into (incomplete but mostly correct) COCO boxes
for SISSI training. See :func:`run_weak_labels` and ``tools/weak_labels.py``.
"""
from mmsissi.fileio import (IMAGE_EXTENSIONS, ImageReadError, list_images,
                            read_image, to_gray_float)
from mmsissi.structures import box_iou

from .boxes import (coco_to_boxes, dedupe_boxes, evaluate_boxes,
                    format_metrics, load_coco_boxes, match_boxes)
from .edges import EDGES_DEFAULTS, detect_edges
from .hough import HOUGH_DEFAULTS, detect_hough
from .params import (DEFAULT_METHODS, METHODS, default_params,
                     load_params_file, parse_methods, parse_param_overrides,
                     read_list_file, update_params)
from .pipeline import (WeakLabelWarning, detect_boxes, run_weak_labels,
                       write_json_atomic)
from .watershed import WATERSHED_DEFAULTS, detect_watershed

__all__ = [
    'METHODS', 'DEFAULT_METHODS', 'WATERSHED_DEFAULTS', 'HOUGH_DEFAULTS',
    'EDGES_DEFAULTS', 'IMAGE_EXTENSIONS', 'WeakLabelWarning',
    'ImageReadError', 'read_image', 'to_gray_float', 'list_images',
    'detect_watershed', 'detect_hough', 'detect_edges', 'detect_boxes',
    'dedupe_boxes', 'box_iou', 'match_boxes', 'evaluate_boxes',
    'coco_to_boxes', 'load_coco_boxes', 'write_json_atomic',
    'default_params', 'update_params', 'parse_methods',
    'parse_param_overrides', 'load_params_file', 'read_list_file',
    'run_weak_labels', 'format_metrics'
]
