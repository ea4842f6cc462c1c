# Copyright (c) mmsissi contributors. All rights reserved.
"""The one rule every box obeys before it reaches training.

Boxes reach the detector by several paths: weak-label files from any tool,
pseudo labels (TTA + WBF, clipped to the image and rounded when written),
the label store serving them (a user may hand-edit its files), and the
training pipeline (synthesis, flips, affine warps). A box narrower or
lower than a pixel, inverted, non-finite or outside the image makes mmdet's
box coder take ``log(w / w_anchor)`` of zero or a negative number, i.e. a
NaN loss that kills the run. Every one of those paths calls
:func:`sanitize_boxes`, so they all apply the same rule:

1. non-finite boxes are dropped;
2. boxes are clipped to the image (when its size is known);
3. boxes whose width or height is below ``min_size`` pixels *after
   clipping* are dropped (inverted boxes have negative sizes and go too).

``min_size`` defaults to :data:`MIN_BOX_SIZE` = 1 px, the limit mmdet's
``CocoDataset`` applies to annotation files (``w < 1 or h < 1`` dropped).
"""
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ['MIN_BOX_SIZE', 'sanitize_boxes']

#: Smallest width and height (pixels, after clipping) of a training box.
MIN_BOX_SIZE = 1.0


def sanitize_boxes(boxes,
                   img_shape: Optional[Sequence[int]] = None,
                   min_size: float = MIN_BOX_SIZE
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """Clip boxes to the image and drop degenerate ones.

    Args:
        boxes (array-like): (N, 4) ``x1, y1, x2, y2`` boxes in pixels.
        img_shape (Sequence[int], optional): ``(height, width)`` of the
            image; None skips clipping (boxes are still checked).
        min_size (float): Smallest width and height kept, after clipping.
            Defaults to :data:`MIN_BOX_SIZE`.

    Returns:
        tuple[np.ndarray, np.ndarray]: The kept boxes (float32, clipped,
        ``(K, 4)``) and the boolean keep mask over the input (``(N,)``), so
        callers can filter labels and scores alongside and count
        ``(~keep).sum()`` dropped boxes.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    finite = np.isfinite(b).all(axis=1)
    b = np.where(finite[:, None], b, 0.0)
    if img_shape is not None:
        h, w = float(img_shape[0]), float(img_shape[1])
        b = np.stack([
            b[:, 0].clip(0, w), b[:, 1].clip(0, h),
            b[:, 2].clip(0, w), b[:, 3].clip(0, h)
        ], axis=1)
    keep = finite & (b[:, 2] - b[:, 0] >= min_size) & (
        b[:, 3] - b[:, 1] >= min_size)
    return b[keep].astype(np.float32), keep
