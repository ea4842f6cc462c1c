# Copyright (c) mmsissi contributors. All rights reserved.
"""Helpers of the counting tests: the tiny demo config, demo crops, and a
fake detector returning known cells tile by tile."""
import types

import cv2
import numpy as np
from mmengine.config import Config

from mmsissi.apis import CellCounter
from mmsissi.utils import apply_cpu_scale

DEMO_CONFIG = 'configs/sissi/supervised.py'
BIG = (1100, 1500)  # h, w of the large test image


def tiny_cfg():
    """The demo config at 128 px with few proposals (fast on a CPU)."""
    cfg = apply_cpu_scale(Config.fromfile(DEMO_CONFIG), scale=(128, 128))
    cfg.model.test_cfg.rpn.nms_pre = 200
    cfg.model.test_cfg.rpn.max_per_img = 60
    cfg.model.test_cfg.rcnn.max_per_img = 40
    return cfg


def demo_crop(demo_data, i=0):
    names = sorted((demo_data / 'target' / 'train').glob('*.png'))
    return cv2.imread(str(names[i]), cv2.IMREAD_GRAYSCALE)


def big_image(demo_data):
    """1500x1100 8-bit image tiled from demo crops."""
    crops = [demo_crop(demo_data, i) for i in range(6)]
    rows = [np.hstack(crops[0:3]), np.hstack(crops[3:6]),
            np.hstack(crops[0:3])]
    return np.vstack(rows)[:BIG[0], :BIG[1]]


# Known cells of the 1500x1100 image (x1, y1, x2, y2). With 512-px tiles
# and 20 % overlap the tiles start at x 0/329/659/988 and y 0/294/588.
CELLS = np.array([
    [50, 50, 100, 90],  # inside one tile
    [400, 100, 450, 150],  # whole in two tiles (overlap zone)
    [480, 200, 540, 240],  # straddles x=512, whole in the next tile
    [300, 350, 560, 400],  # wider than the overlap, in 4 tiles: stitched
    [1000, 600, 1040, 640],  # whole in 4 tiles (overlap corner)
    [1460, 1050, 1500, 1100],  # on the image corner (outer borders)
    [700, 480, 760, 530],  # straddles y=512, whole in two lower tiles
    [1200, 250, 1260, 560],  # taller than the overlap: stitched
    [600, 1070, 700, 1100],  # on the bottom image border
], np.float64)


def fake_tile_results(windows, cells, shrink=0.0):
    """What an ideal detector returns per tile: the visible part of every
    cell, in tile coordinates; ``shrink`` pulls edges cut by the tile in by
    that many pixels (detectors rarely end exactly on the border)."""
    results = []
    for x0, y0, x1, y1 in windows:
        boxes, scores = [], []
        for i, c in enumerate(cells):
            b = np.array([max(c[0], x0), max(c[1], y0), min(c[2], x1),
                          min(c[3], y1)])
            if b[2] - b[0] < 1 or b[3] - b[1] < 1:
                continue
            b[0] += shrink * (b[0] > c[0])
            b[1] += shrink * (b[1] > c[1])
            b[2] -= shrink * (b[2] < c[2])
            b[3] -= shrink * (b[3] < c[3])
            boxes.append(b - [x0, y0, x0, y0])
            scores.append(0.9 - 0.05 * i)
        results.append((np.array(boxes, np.float32).reshape(-1, 4),
                        np.array(scores, np.float32),
                        np.zeros(len(boxes), np.int64)))
    return results


class FakeCounter(CellCounter):
    """CellCounter whose detector returns the known cells per window."""

    def __init__(self, cells, shrink=0.0, **kwargs):
        stub = types.SimpleNamespace(
            cfg=tiny_cfg(), dataset_meta=dict(classes=('cell', )))
        super().__init__(stub, **kwargs)
        self.cells = cells
        self.shrink = shrink
        self.calls = []

    def predict_windows(self, img, windows, tiled):
        self.calls.append((windows.copy(), tiled))
        return fake_tile_results(windows, self.cells, self.shrink)


def as_set(boxes):
    return sorted(tuple(np.round(b, 3)) for b in np.asarray(boxes))
