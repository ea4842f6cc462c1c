# Copyright (c) mmsissi contributors. All rights reserved.
"""Count cells in a folder of images with a trained detector.

:class:`CellCounter` runs an MMDetection model on images of any size and
:func:`count_folder` turns a folder into ``counts.csv``, a COCO
``detections.json`` and overlay PNGs (``tools/count.py`` is the command
line front end).

- :mod:`.tiling`: the resolution images are fed at, and the tiles of large
  images;
- :mod:`.merging`: the detections of overlapping tiles merged into one
  set;
- :mod:`.counter`: :class:`CellCounter`, one image at a time;
- :mod:`.count_folder`: image input, a whole folder and its outputs.
"""
from .count_folder import (STRETCH_PERCENTILES, count_folder, draw_overlay,
                           read_detector_image, select_images,
                           to_detector_image)
from .counter import CellCounter, CountingWarning, init_counter
from .merging import merge_tile_detections
from .tiling import (auto_tile_factor, checkpoint_train_cfg, get_test_scale,
                     tile_windows)

__all__ = [
    'CountingWarning', 'CellCounter', 'init_counter', 'count_folder',
    'to_detector_image', 'read_detector_image', 'tile_windows',
    'merge_tile_detections', 'auto_tile_factor', 'get_test_scale',
    'draw_overlay', 'select_images', 'checkpoint_train_cfg',
    'STRETCH_PERCENTILES'
]
