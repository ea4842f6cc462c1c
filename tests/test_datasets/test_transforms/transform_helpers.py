# Copyright (c) mmsissi contributors. All rights reserved.
"""Helpers of the transform tests: noise images for the augmentations;
images of cells with known boxes, PSNR and the PSNR floors against one
``cv2.seamlessClone`` for the synthetic images."""
import os
from pathlib import Path

import cv2
import numpy as np


def _shared_data() -> Path:
    env = os.environ.get('MMSISSI_SHARED_DATA')
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / '..' / 'shared' / 'data'


USIIGACI = _shared_data() / 'usiigaci_nih3t3_phc'


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64))**2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def hard_paste(img, boxes, blurred):
    """The blurred image with the box regions copied back from the original:
    synthesis without Poisson blending."""
    out = blurred.copy()
    inside = box_region(img.shape, boxes)
    out[inside] = img[inside]
    return out


def laplacian_var(img, mask=None):
    g = img if img.ndim == 2 else img[..., 0]
    lap = cv2.Laplacian(g.astype(np.float32), cv2.CV_32F)
    return float(lap[mask].var() if mask is not None else lap.var())


def make_cells(h=240, w=320, n_cells=12, seed=0):
    """Phase-contrast-like image: textured background, dark cells with a
    bright halo. Returns the BGR uint8 image (equal channels) and the
    ``(n_cells, 4)`` xyxy boxes of the cells (exclusive ends)."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 10, (h, w)).astype(np.float32),
                             (0, 0), 1.0)
    img = 120.0 + noise
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    boxes = []
    cols = int(np.ceil(np.sqrt(n_cells * w / h)))
    rows = int(np.ceil(n_cells / cols))
    ch, cw = h / rows, w / cols
    for k in range(n_cells):
        r, c = divmod(k, cols)
        cy = (r + 0.5) * ch + rng.uniform(-0.1, 0.1) * ch
        cx = (c + 0.5) * cw + rng.uniform(-0.1, 0.1) * cw
        ay, ax = rng.uniform(0.2, 0.3) * ch, rng.uniform(0.2, 0.3) * cw
        d = np.sqrt(((yy - cy) / ay)**2 + ((xx - cx) / ax)**2)
        body = np.exp(-d**4) * (-50.0)
        halo = np.exp(-((d - 1.1) / 0.12)**2) * 60.0
        tex = rng.normal(0, 15, (h, w)).astype(np.float32) * (d < 1)
        img += body + halo + tex
        boxes.append([cx - 1.35 * ax, cy - 1.35 * ay, cx + 1.35 * ax,
                      cy + 1.35 * ay])
    img = np.clip(img, 0, 255).astype(np.uint8)
    boxes = np.clip(np.array(boxes), 0, [w, h, w, h])
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), boxes


def box_region(shape, boxes, shrink=0):
    m = np.zeros(shape[:2], bool)
    for x1, y1, x2, y2 in np.round(boxes).astype(int):
        m[max(y1 + shrink, 0):max(y2 - shrink, 0),
          max(x1 + shrink, 0):max(x2 - shrink, 0)] = True
    return m


def run(transform, img, boxes, **extra):
    results = dict(img=img, gt_bboxes=boxes, **extra)
    return transform(results)


# PSNR floors against one cv2.seamlessClone(MIXED_CLONE), a few dB below
# what the transform measures (in brackets). A hard paste of the labelled
# boxes onto the blurred image scores 30-40 dB, the unmodified input 24-31.
FLOOR_CELLS = 58  # [62.4] weak blur, 8 labelled cells
FLOOR_DENSE = 53  # [57.4] strong blur, colour, 23 cells, boxes over borders
FLOOR_REAL_CROP = 54  # [58.1] real image, 512x512 crop, weak blur
FLOOR_REAL = 51  # [54.8] real image, 1022x1024, weak blur


def dense_colour():
    img, boxes = make_cells(200, 260, n_cells=30, seed=3)
    img = img.copy()
    img[..., 1] = np.clip(img[..., 1] * 0.7 + 30, 0, 255)
    img[..., 2] = 255 - img[..., 2]
    return img, boxes[:20]


# --------------------------------------------------------------------------
# augmentations
# --------------------------------------------------------------------------
AUG_BOXES = np.array([[3.5, 4.0, 20.0, 30.5], [10.0, 0.0, 40.0, 12.0]],
                     np.float32)


def noise_image(h=48, w=64, channels=3, seed=0):
    """Noise with a different mean per channel, so channels are told apart."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 120, (h, w, channels)).astype(np.uint8)
    return img + (40 * np.arange(channels)).astype(np.uint8)


def aug_results(img):
    return dict(img=img, gt_bboxes=AUG_BOXES.copy(), img_shape=img.shape[:2])


def image_laplacian_var(img):
    return float(
        np.var(cv2.Laplacian(img.astype(np.float32), cv2.CV_32F)))
