# Copyright (c) mmsissi contributors. All rights reserved.
"""Circle Hough Transform for round cells.

Rounded-up (mitotic, detaching) cells in phase contrast are nearly circular
and surrounded by a bright halo; round nuclei in fluorescence are bright
discs. Both are found with OpenCV's gradient Hough transform
(``HOUGH_GRADIENT_ALT``) and then verified: the band ``[0.55 r, r]`` must be
brighter than the surrounding band ``[1.2 r, 1.7 r]`` on average
(``min_ring_contrast``) *and* in each of 8 angular sectors
(``min_sector_contrast``), which rejects the many arcs that the Hough
transform finds along cell edges. The box is the circle's bounding square
(``box_scale`` x radius); the score is the ring contrast divided by
``score_norm`` and clipped to ``[0, 1]``.

Lengths are in pixels (``scale`` multiplies them); defaults were tuned on
set01-set45 of the Usiigaci NIH/3T3 phase-contrast images, where round cells
are about 15-50 px across.
"""
from typing import Dict, Tuple, Union

import cv2
import numpy as np

from .watershed import _as_float_image, _merge_params

__all__ = ['HOUGH_DEFAULTS', 'detect_hough', 'ring_contrast']

#: Default parameters of :func:`detect_hough` (pixels; intensities refer to
#: the ``[0, 1]`` percentile-stretched image).
HOUGH_DEFAULTS: Dict[str, object] = dict(
    scale=1.0,  # multiplies every length below
    blur_sigma=1.0,  # pre-smoothing
    min_radius=8,  # searched radii
    max_radius=30,
    min_dist=10,  # between circle centres
    dp=1.5,  # accumulator resolution (inverse ratio)
    canny_high=100,  # Canny high threshold on the 8-bit image (param1)
    circularity=0.5,  # HOUGH_GRADIENT_ALT "perfectness" (param2, 0..1)
    min_ring_contrast=0.2,  # mean ring - mean outside band
    min_sector_contrast=0.1,  # weakest of 8 ring sectors - outside band
    box_scale=0.9,  # box half-side = box_scale * radius
    score_norm=0.5,  # score = clip(ring contrast / score_norm, 0, 1)
)


def ring_contrast(img: np.ndarray, circles: np.ndarray) -> np.ndarray:
    """Brightness of a ring relative to its outside, per circle.

    Args:
        img (np.ndarray): (H, W) float image in ``[0, 1]``.
        circles (np.ndarray): (N, 3) ``x, y, r``.

    Returns:
        np.ndarray: (N, 2) float32: mean contrast of the band
        ``[0.55 r, r]`` against ``[1.2 r, 1.7 r]``, and the same for the
        weakest of 8 angular sectors of the band.
    """
    circles = np.asarray(circles, np.float32).reshape(-1, 3)
    out = np.zeros((len(circles), 2), np.float32)
    if len(circles) == 0:
        return out
    R = int(np.ceil(circles[:, 2].max() * 1.7)) + 2
    padded = np.pad(img, R, mode='reflect')
    yy, xx = np.mgrid[-R:R + 1, -R:R + 1].astype(np.float32)
    for k, (x, y, r) in enumerate(circles):
        x0, y0 = int(round(x)), int(round(y))
        patch = padded[y0:y0 + 2 * R + 1, x0:x0 + 2 * R + 1]
        dx, dy = xx - (x - x0), yy - (y - y0)
        d = np.sqrt(dx * dx + dy * dy)
        ring = (d >= 0.55 * r) & (d <= r)
        outside = (d >= 1.2 * r) & (d <= 1.7 * r)
        if not ring.any() or not outside.any():
            continue
        bg = patch[outside].mean()
        sector = ((np.arctan2(dy, dx) + np.pi) / (np.pi / 4)).astype(int) % 8
        sec_means = [
            patch[ring & (sector == j)].mean() for j in range(8)
            if (ring & (sector == j)).any()
        ]
        out[k, 0] = patch[ring].mean() - bg
        out[k, 1] = min(sec_means) - bg
    return out


def detect_hough(img: np.ndarray,
                 return_scores: bool = False,
                 **params) -> Union[np.ndarray, Tuple[np.ndarray,
                                                      np.ndarray]]:
    """Detect round cells with the Circle Hough Transform.

    Args:
        img (np.ndarray): (H, W) float image in ``[0, 1]`` (other arrays
            are percentile-stretched first).
        return_scores (bool): Also return the scores. Defaults to False.
        **params: Overrides of :data:`HOUGH_DEFAULTS`.

    Returns:
        np.ndarray | tuple[np.ndarray, np.ndarray]: (N, 4) float32 xyxy
        boxes (clipped to the image), and (N,) float32 scores in ``[0, 1]``
        if ``return_scores``.
    """
    p = _merge_params('hough', HOUGH_DEFAULTS, params)
    s = float(p['scale'])
    img = _as_float_image(img)
    H, W = img.shape
    blurred = img
    if p['blur_sigma'] * s > 0:
        blurred = cv2.GaussianBlur(img, (0, 0), p['blur_sigma'] * s)
    img8 = np.clip(blurred * 255 + 0.5, 0, 255).astype(np.uint8)
    min_r = max(1, int(round(p['min_radius'] * s)))
    max_r = max(min_r + 1, int(round(p['max_radius'] * s)))
    circles = cv2.HoughCircles(
        img8,
        cv2.HOUGH_GRADIENT_ALT,
        dp=float(p['dp']),
        minDist=max(1.0, p['min_dist'] * s),
        param1=float(p['canny_high']),
        param2=float(p['circularity']),
        minRadius=min_r,
        maxRadius=max_r)
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    if circles is None:
        return empty if return_scores else empty[0]
    circles = circles.reshape(-1, circles.shape[-1])[:, :3]
    contrast = ring_contrast(img, circles)
    keep = (contrast[:, 0] >= p['min_ring_contrast']) & (
        contrast[:, 1] >= p['min_sector_contrast'])
    circles, contrast = circles[keep], contrast[keep]
    x, y, r = circles[:, 0], circles[:, 1], circles[:, 2] * p['box_scale']
    boxes = np.stack([
        np.clip(x - r, 0, W),
        np.clip(y - r, 0, H),
        np.clip(x + r, 0, W),
        np.clip(y + r, 0, H)
    ], 1).astype(np.float32).reshape(-1, 4)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes = boxes[valid]
    scores = np.clip(contrast[valid, 0] / p['score_norm'], 0,
                     1).astype(np.float32)
    return (boxes, scores) if return_scores else boxes
