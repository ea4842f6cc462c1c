# Copyright (c) mmsissi contributors. All rights reserved.
"""Helpers of the weak-label tests: synthetic cells and data paths."""
import os
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(
    os.environ.get('MMSISSI_SHARED_DATA',
                   REPO_ROOT / '..' / 'shared' / 'data')).resolve()
USIIGACI = SHARED_DATA / 'usiigaci_nih3t3_phc'


def make_cells_image(seed: int = 0,
                     size: int = 512,
                     n_ring: int = 8,
                     n_dark: int = 8):
    """Synthetic phase-contrast-like image with known cell boxes.

    Two kinds of round cells on a noisy gray background, placed on a jittered
    grid so they never touch:

    * ``ring``: rounded-up cell, a dark textured core inside a bright halo
      ring (what the Hough method looks for); its box covers the ring.
    * ``dark``: spread cell body, a dark textured disc with a thin bright
      halo just outside; its box is the disc.

    Small dark specks (debris, no box) are scattered on the background.

    Args:
        seed (int): Random seed.
        size (int): Image side (pixels).
        n_ring (int): Number of ring cells.
        n_dark (int): Number of dark cells.

    Returns:
        tuple: uint8 image (size, size), float (N, 4) xyxy boxes of all
        cells, and a bool (N,) array telling which are ring cells.
    """
    rng = np.random.RandomState(seed)
    img = np.full((size, size), 128.0)
    n = n_ring + n_dark
    grid = int(np.ceil(np.sqrt(n)))
    cell = size / grid
    kinds = np.array([True] * n_ring + [False] * n_dark)
    rng.shuffle(kinds)
    yy, xx = np.mgrid[0:size, 0:size]
    boxes = []
    for k, is_ring in enumerate(kinds):
        cy = (k // grid + 0.5) * cell + rng.uniform(-8, 8)
        cx = (k % grid + 0.5) * cell + rng.uniform(-8, 8)
        d = np.sqrt((xx - cx)**2 + (yy - cy)**2)
        if is_ring:
            r = rng.uniform(14, 22)  # outer radius of the bright ring
            img[d < r] = 235
            img[d < 0.55 * r] = 60
            boxes.append([cx - r, cy - r, cx + r, cy + r])
        else:
            r = rng.uniform(24, 34)
            img[(d >= r) & (d < r + 3)] = 200
            img[d < r] = 70
            boxes.append([cx - r, cy - r, cx + r, cy + r])
    # debris: small dark specks that must not become boxes
    for _ in range(25):
        y, x = rng.randint(0, size, 2)
        cv2.circle(img, (int(x), int(y)), int(rng.randint(2, 4)), 80, -1)
    img += rng.normal(0, 6, img.shape)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    # granular texture inside the cells (cytoplasm)
    tex = cv2.GaussianBlur(rng.normal(0, 25, img.shape), (0, 0), 1.2)
    img = np.where(img < 100, img + tex, img)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img, np.asarray(boxes, np.float64), kinds
