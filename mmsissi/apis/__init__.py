# Copyright (c) mmsissi contributors. All rights reserved.
"""High-level APIs: counting cells in folders of images."""
from .counting import (STRETCH_PERCENTILES, CellCounter, CountingWarning,
                       auto_tile_factor, checkpoint_train_cfg, count_folder,
                       draw_overlay, get_test_scale, init_counter,
                       merge_tile_detections, read_detector_image,
                       select_images, tile_windows, to_detector_image)

__all__ = [
    'CountingWarning', 'CellCounter', 'init_counter', 'count_folder',
    'to_detector_image', 'read_detector_image', 'tile_windows',
    'merge_tile_detections', 'auto_tile_factor', 'get_test_scale',
    'draw_overlay', 'select_images', 'checkpoint_train_cfg',
    'STRETCH_PERCENTILES'
]
