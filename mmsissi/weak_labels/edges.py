# Copyright (c) mmsissi contributors. All rights reserved.
"""Edge-based cell detection: Canny, closing, hole filling, splitting.

Pipeline for one float image in ``[0, 1]``:

1. Canny edges of the Gaussian-smoothed image (thresholds are fractions of
   the 8-bit range, the image being percentile-stretched beforehand).
2. Closing joins the broken outlines, holes are filled, an opening removes
   thin debris: the filled outlines are the foreground.
3. Touching cells are split by a watershed of the distance transform from
   its h-maxima (``split_h`` pixels of dynamic), as in the classic
   distance-transform watershed.
4. Regions are filtered like in :mod:`.watershed` (area, solidity, aspect)
   and scored by their solidity.

Lengths are in pixels (``scale`` multiplies them, areas by ``scale**2``);
defaults were tuned on set01-set45 of the Usiigaci NIH/3T3 phase-contrast
images.
"""
from typing import Dict, Tuple, Union

import cv2
import numpy as np
from scipy import ndimage as ndi

from .watershed import (_as_float_image, _blur, _disk, _merge_params,
                        hmax_markers, marker_watershed, region_boxes)

__all__ = ['EDGES_DEFAULTS', 'detect_edges', 'edge_foreground']

#: Default parameters of :func:`detect_edges` (pixels / pixels²).
EDGES_DEFAULTS: Dict[str, object] = dict(
    scale=1.0,  # multiplies every length below (areas by scale**2)
    sigma=2.0,  # Gaussian smoothing before Canny
    low_threshold=0.2,  # Canny thresholds, fraction of 255
    high_threshold=0.45,
    close_size=9,  # closing diameter joining broken outlines
    open_size=5,  # opening diameter removing thin debris
    split=True,  # split touching cells by distance-transform watershed
    split_h=2.0,  # h-maxima dynamic of the distance transform (px)
    split_sigma=2.0,  # smoothing of the distance transform
    min_area=800,  # region area limits
    max_area=12000,
    min_solidity=0.5,  # area / convex hull area
    max_aspect=4.0,  # long / short side of the box
)


def edge_foreground(img: np.ndarray,
                    sigma: float = 2.0,
                    low_threshold: float = 0.2,
                    high_threshold: float = 0.45,
                    close_size: float = 9,
                    open_size: float = 5) -> np.ndarray:
    """Foreground mask from closed and filled Canny outlines.

    Args:
        img (np.ndarray): Float image in ``[0, 1]``.
        sigma (float): Gaussian smoothing before Canny.
        low_threshold (float): Canny low threshold (fraction of 255).
        high_threshold (float): Canny high threshold (fraction of 255).
        close_size (float): Closing diameter (0 disables).
        open_size (float): Opening diameter (0 disables).

    Returns:
        np.ndarray: uint8 mask (0/1).
    """
    img8 = np.clip(_blur(img, sigma) * 255 + 0.5, 0, 255).astype(np.uint8)
    edges = cv2.Canny(img8, low_threshold * 255, high_threshold * 255)
    fg = (edges > 0).astype(np.uint8)
    if close_size and close_size > 1:
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, _disk(close_size))
    fg = ndi.binary_fill_holes(fg).astype(np.uint8)
    if open_size and open_size > 1:
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, _disk(open_size))
    return fg


def detect_edges(img: np.ndarray,
                 return_scores: bool = False,
                 **params) -> Union[np.ndarray, Tuple[np.ndarray,
                                                      np.ndarray]]:
    """Detect cells from filled Canny outlines.

    Args:
        img (np.ndarray): (H, W) float image in ``[0, 1]`` (other arrays
            are percentile-stretched first).
        return_scores (bool): Also return the scores. Defaults to False.
        **params: Overrides of :data:`EDGES_DEFAULTS`.

    Returns:
        np.ndarray | tuple[np.ndarray, np.ndarray]: (N, 4) float32 xyxy
        boxes, and (N,) float32 scores in ``[0, 1]`` if ``return_scores``.
    """
    p = _merge_params('edges', EDGES_DEFAULTS, params)
    s = float(p['scale'])
    img = _as_float_image(img)
    fg = edge_foreground(
        img,
        sigma=p['sigma'] * s,
        low_threshold=p['low_threshold'],
        high_threshold=p['high_threshold'],
        close_size=p['close_size'] * s,
        open_size=p['open_size'] * s)
    if p['split']:
        dist = _blur(cv2.distanceTransform(fg, cv2.DIST_L2, 5),
                     p['split_sigma'] * s)
        markers, _ = ndi.label(hmax_markers(dist, p['split_h'] * s, 2) & fg)
        lab = marker_watershed(-dist, markers, fg)
    else:
        lab = ndi.label(fg)[0]
    boxes, scores = region_boxes(
        lab,
        min_area=p['min_area'] * s * s,
        max_area=p['max_area'] * s * s,
        min_solidity=p['min_solidity'],
        max_aspect=p['max_aspect'])
    return (boxes, scores) if return_scores else boxes
