# Copyright (c) mmsissi contributors. All rights reserved.
"""Weak labels from classic image processing.

Circle Hough Transform, marker-controlled watershed and edge detection turn
unlabelled microscopy images into (incomplete but mostly correct) COCO boxes
for SISSI training. See :func:`run_weak_labels` and ``tools/weak_labels.py``.
"""
from .combine import (DEFAULT_METHODS, METHODS, WeakLabelWarning, box_iou,
                      coco_to_boxes, dedupe_boxes, default_params,
                      detect_boxes, evaluate_boxes, format_metrics,
                      load_coco_boxes, load_params_file, match_boxes,
                      parse_methods, parse_param_overrides, read_list_file,
                      run_weak_labels, update_params, write_json_atomic)
from .edges import EDGES_DEFAULTS, detect_edges
from .hough import HOUGH_DEFAULTS, detect_hough
from .io import IMAGE_EXTENSIONS, ImageReadError, list_images, read_image, \
    to_gray_float
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
