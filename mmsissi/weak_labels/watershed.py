# Copyright (c) mmsissi contributors. All rights reserved.
"""Marker-controlled watershed on local texture (the default weak labeller).

Pipeline for one float image in ``[0, 1]``:

1. *Polarity*: cells darker than the background (phase contrast, bright
   field) are processed as is; bright objects (fluorescence) are inverted
   first. ``'auto'`` decides from the intensity histogram.
2. *Foreground*: local texture ``|I - G_bg * I|`` (smoothed a little) is
   thresholded at ``thr_scale`` x Otsu, then closed, hole-filled and opened.
3. *Markers*: the local darkness ``G_bg' * I - G_m * I`` (cell bodies are
   darker than their surroundings) is reduced to its h-maxima (regional
   maxima with a dynamic of at least ``marker_h``), restricted to the
   foreground. Every foreground component without a marker gets one.
4. *Flooding*: watershed (image foresting transform) of the lightly smoothed
   intensity from the markers, inside the foreground only; pieces of a basin
   cut off from its marker are split off as their own regions.
5. *Filtering*: one box per region, kept when its area, solidity, bounding
   box aspect ratio and darkness contrast are plausible for a cell. The
   score of a box is the solidity of its region (area / convex hull area),
   the feature that ranks true cells best on the training images.

All lengths are in pixels of the input image and all areas in pixels²; the
``scale`` parameter multiplies every length (and areas by ``scale**2``), so
one number adapts the defaults to another magnification. Defaults were
tuned on set01-set45 of the Usiigaci NIH/3T3 phase-contrast images (cells
about 40-150 px across in 1022x1024 images).
"""
from typing import Dict, Optional, Tuple, Union

import cv2
import numpy as np
from scipy import ndimage as ndi

from mmsissi.fileio import to_gray_float

__all__ = [
    'WATERSHED_DEFAULTS', 'detect_watershed', 'resolve_polarity',
    'texture_foreground', 'hmax_markers', 'marker_watershed',
    'region_boxes', 'labels_to_boxes'
]

#: Default parameters of :func:`detect_watershed` (pixels / pixels²;
#: intensities refer to the ``[0, 1]`` percentile-stretched image).
WATERSHED_DEFAULTS: Dict[str, object] = dict(
    scale=1.0,  # multiplies every length below (areas by scale**2)
    polarity='auto',  # 'dark' | 'bright' | 'auto' (objects vs background)
    bg_sigma=20.0,  # background blur of the texture map
    tex_sigma=0.5,  # smoothing of the texture map
    thr_scale=0.75,  # foreground threshold = thr_scale * Otsu
    close_size=7,  # closing diameter of the foreground
    open_size=3,  # opening diameter of the foreground
    marker_sigma=5.0,  # blur of the darkness map (~ nucleus scale)
    marker_bg_sigma=25.0,  # local background of the darkness map
    marker_h=0.07,  # h-maxima dynamic of the darkness map
    flood_sigma=1.0,  # smoothing of the flooded intensity
    min_area=800,  # region area limits
    max_area=12000,
    min_solidity=0.5,  # area / convex hull area
    max_aspect=4.0,  # long / short side of the box
    min_contrast=0.07,  # peak darkness inside the region
)


def _merge_params(method: str, defaults: dict, params: dict) -> dict:
    """``defaults`` updated by ``params``; unknown keys raise ``TypeError``."""
    unknown = set(params) - set(defaults)
    if unknown:
        raise TypeError(f'unknown {method} parameter(s): {sorted(unknown)}')
    return {**defaults, **params}


def _as_float_image(img: np.ndarray) -> np.ndarray:
    """Float32 (H, W) image in ``[0, 1]``; anything else (integer dtype,
    colour, values outside ``[0, 1]``) goes through the percentile stretch of
    :func:`mmsissi.fileio.to_gray_float`."""
    img = np.asarray(img)
    if (img.ndim == 2 and np.issubdtype(img.dtype, np.floating)
            and img.size and np.nanmin(img) >= 0 and np.nanmax(img) <= 1):
        return np.nan_to_num(img.astype(np.float32, copy=False))
    return to_gray_float(img)


def _odd(k: float) -> int:
    """Round a diameter to an odd kernel size >= 1."""
    k = int(round(k))
    return max(1, k if k % 2 == 1 else k + 1)


def _disk(d: float) -> np.ndarray:
    """Elliptic structuring element of diameter ``d`` (odd)."""
    d = _odd(d)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; identity for ``sigma <= 0``."""
    if sigma <= 0:
        return img
    return cv2.GaussianBlur(img, (0, 0), float(sigma))


def resolve_polarity(img: np.ndarray, polarity: str = 'auto') -> str:
    """Decide whether the objects are darker or brighter than background.

    ``'auto'`` looks at where the median (≈ background level) sits between
    the 1st and 99th percentiles: fluorescence images have a dark
    background with a long bright tail (median close to the low end), phase
    contrast and bright field images have a mid or bright background.

    Args:
        img (np.ndarray): Float image in ``[0, 1]``.
        polarity (str): ``'dark'``, ``'bright'`` or ``'auto'``.

    Returns:
        str: ``'dark'`` or ``'bright'``.
    """
    if polarity in ('dark', 'bright'):
        return polarity
    if polarity != 'auto':
        raise ValueError(
            f"polarity must be 'dark', 'bright' or 'auto', got {polarity!r}")
    lo, med, hi = np.percentile(img[::2, ::2], (1, 50, 99))
    if hi - lo <= 1e-6:
        return 'dark'
    return 'bright' if (med - lo) < 0.25 * (hi - lo) else 'dark'


def texture_foreground(img: np.ndarray,
                       bg_sigma: float = 20.0,
                       tex_sigma: float = 0.5,
                       thr_scale: float = 0.75,
                       close_size: int = 7,
                       open_size: int = 3) -> np.ndarray:
    """Foreground mask from local texture / contrast.

    Args:
        img (np.ndarray): Float image in ``[0, 1]``.
        bg_sigma (float): Sigma of the background blur.
        tex_sigma (float): Sigma of the smoothing of ``|img - background|``.
        thr_scale (float): Threshold as a multiple of Otsu's threshold.
        close_size (int): Diameter of the closing (0 disables).
        open_size (int): Diameter of the opening (0 disables).

    Returns:
        np.ndarray: uint8 mask (0/1) of the image shape.
    """
    tex = _blur(np.abs(img - _blur(img, bg_sigma)), tex_sigma)
    top = float(np.percentile(tex, 99.5))
    if top <= 1e-8:
        return np.zeros(img.shape, np.uint8)
    t8 = np.clip(tex / top * 255, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(t8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    fg = (t8 > otsu * thr_scale).astype(np.uint8)
    if close_size and close_size > 1:
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, _disk(close_size))
    fg = ndi.binary_fill_holes(fg).astype(np.uint8)
    if open_size and open_size > 1:
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, _disk(open_size))
    return fg


def _reconstruct(marker: np.ndarray, mask: np.ndarray,
                 max_iter: int = 5000) -> np.ndarray:
    """Grayscale morphological reconstruction by dilation."""
    kernel = np.ones((3, 3), np.uint8)
    cur = np.minimum(marker, mask)
    for i in range(max_iter):
        nxt = np.minimum(cv2.dilate(cur, kernel), mask)
        if i % 8 == 7 and np.array_equal(nxt, cur):
            break
        cur = nxt
    return cur


def hmax_markers(f: np.ndarray, h: float, downsample: int = 1) -> np.ndarray:
    """Regional maxima of ``f`` whose dynamic is at least ``h``.

    Computed through the h-dome transform ``f - R_f(f - h)`` (``R`` =
    reconstruction by dilation) on a ``downsample``-times smaller copy of a
    smooth map, which is much faster and loses nothing for blurred maps.

    Args:
        f (np.ndarray): float32 map.
        h (float): Minimal dynamic (height above the saddle to a higher
            peak).
        downsample (int): Integer reduction factor. Defaults to 1.

    Returns:
        np.ndarray: uint8 mask (0/1) of the marker pixels, shape of ``f``.
    """
    f = np.ascontiguousarray(f, np.float32)
    H, W = f.shape
    ds = max(1, int(downsample))
    small = f
    if ds > 1 and H // ds >= 8 and W // ds >= 8:
        small = cv2.resize(f, (W // ds, H // ds), interpolation=cv2.INTER_AREA)
    rec = _reconstruct(small - np.float32(h), small)
    peaks = ((small - rec) >= h - 1e-6).astype(np.uint8)
    if peaks.shape != f.shape:
        peaks = cv2.resize(peaks, (W, H), interpolation=cv2.INTER_NEAREST)
    return peaks


def marker_watershed(landscape: np.ndarray, markers: np.ndarray,
                     fg: np.ndarray) -> np.ndarray:
    """Flood ``landscape`` from ``markers`` inside the mask ``fg``.

    Every foreground component lacking a marker becomes its own region, and
    the parts of a basin disconnected from its marker (the flood may jump
    through the background) are split off as separate regions.

    Args:
        landscape (np.ndarray): float map, low values are flooded first.
        markers (np.ndarray): int labels (0 = no marker).
        fg (np.ndarray): 0/1 foreground mask.

    Returns:
        np.ndarray: int64 label image (0 = background).
    """
    fg = fg > 0
    cc, ncc = ndi.label(fg)
    markers = np.where(fg, markers, 0).astype(np.int64)
    n_mk = int(markers.max())
    has = np.zeros(ncc + 1, bool)
    has[cc[markers > 0]] = True
    has[0] = True
    markers = np.where(~has[cc], cc + n_mk, markers).astype(np.int32)
    lo, hi = float(landscape.min()), float(landscape.max())
    land = (landscape - lo) / max(hi - lo, 1e-12) * 250
    land = land.astype(np.uint8)
    land[~fg] = 255
    lab = ndi.watershed_ift(land, markers).astype(np.int64)
    lab[~fg] = 0
    n_lab = int(markers.max())
    cc_of = np.zeros(n_lab + 1, np.int64)
    ys, xs = np.nonzero(markers)
    cc_of[markers[ys, xs]] = cc[ys, xs]
    orphan = (lab > 0) & (cc != cc_of[lab])
    lab[orphan] = cc[orphan] + n_lab
    return lab


def labels_to_boxes(lab: np.ndarray,
                    min_area: float = 0,
                    max_area: float = np.inf) -> np.ndarray:
    """Tight xyxy boxes (``x2``/``y2`` exclusive) of the labelled regions.

    Args:
        lab (np.ndarray): int label image (0 = background).
        min_area (float): Smallest region area kept (pixels²).
        max_area (float): Largest region area kept (pixels²).

    Returns:
        np.ndarray: (N, 4) float32 boxes.
    """
    areas = np.bincount(lab.ravel())
    boxes = []
    for i, sl in enumerate(ndi.find_objects(lab), 1):
        if sl is None or not (min_area <= areas[i] <= max_area):
            continue
        boxes.append([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop])
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def region_boxes(lab: np.ndarray,
                 min_area: float = 0,
                 max_area: float = np.inf,
                 min_solidity: float = 0.0,
                 max_aspect: float = np.inf,
                 contrast: Optional[np.ndarray] = None,
                 min_contrast: float = -np.inf
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Boxes and scores of the plausible regions of a label image.

    Args:
        lab (np.ndarray): int label image (0 = background).
        min_area (float): Smallest region area (pixels²).
        max_area (float): Largest region area (pixels²).
        min_solidity (float): Smallest area / convex hull area.
        max_aspect (float): Largest long/short side ratio of the box.
        contrast (np.ndarray, optional): Map whose maximum inside a region
            must reach ``min_contrast``.
        min_contrast (float): See ``contrast``.

    Returns:
        tuple[np.ndarray, np.ndarray]: (N, 4) float32 xyxy boxes (``x2``,
        ``y2`` exclusive) and (N,) float32 scores (region solidity).
    """
    areas = np.bincount(lab.ravel())
    boxes, scores = [], []
    for i, sl in enumerate(ndi.find_objects(lab), 1):
        if sl is None:
            continue
        area = areas[i]
        if not (min_area <= area <= max_area):
            continue
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        w, h = x1 - x0, y1 - y0
        if max(w, h) / max(min(w, h), 1) > max_aspect:
            continue
        region = lab[sl] == i
        if contrast is not None and contrast[sl][region].max() < min_contrast:
            continue
        cnts, _ = cv2.findContours(
            region.astype(np.uint8), cv2.RETR_EXTERNAL,
            cv2.CHAIN_APPROX_SIMPLE)
        hull_area = cv2.contourArea(cv2.convexHull(np.concatenate(cnts)))
        solidity = min(1.0, area / max(hull_area, 1.0))
        if solidity < min_solidity:
            continue
        boxes.append([x0, y0, x1, y1])
        scores.append(solidity)
    return (np.asarray(boxes, np.float32).reshape(-1, 4),
            np.asarray(scores, np.float32))


def detect_watershed(img: np.ndarray,
                     return_scores: bool = False,
                     **params) -> Union[np.ndarray, Tuple[np.ndarray,
                                                          np.ndarray]]:
    """Detect cells by marker-controlled watershed on local texture.

    Args:
        img (np.ndarray): (H, W) float image in ``[0, 1]`` (see
            :func:`mmsissi.fileio.read_image`; other arrays are
            percentile-stretched first).
        return_scores (bool): Also return the scores. Defaults to False.
        **params: Overrides of :data:`WATERSHED_DEFAULTS`.

    Returns:
        np.ndarray | tuple[np.ndarray, np.ndarray]: (N, 4) float32 xyxy
        boxes, and (N,) float32 scores in ``[0, 1]`` if ``return_scores``.
    """
    p = _merge_params('watershed', WATERSHED_DEFAULTS, params)
    s = float(p['scale'])
    img = _as_float_image(img)
    if resolve_polarity(img, p['polarity']) == 'bright':
        img = 1.0 - img
    fg = texture_foreground(
        img,
        bg_sigma=p['bg_sigma'] * s,
        tex_sigma=p['tex_sigma'] * s,
        thr_scale=p['thr_scale'],
        close_size=p['close_size'] * s,
        open_size=p['open_size'] * s)
    dark = _blur(img, p['marker_bg_sigma'] * s) - _blur(
        img, p['marker_sigma'] * s)
    ds = max(1, int(round(0.8 * p['marker_sigma'] * s)))
    peaks = hmax_markers(dark, p['marker_h'], ds) & fg
    markers, _ = ndi.label(peaks)
    lab = marker_watershed(_blur(img, p['flood_sigma'] * s), markers, fg)
    boxes, scores = region_boxes(
        lab,
        min_area=p['min_area'] * s * s,
        max_area=p['max_area'] * s * s,
        min_solidity=p['min_solidity'],
        max_aspect=p['max_aspect'],
        contrast=dark,
        min_contrast=p['min_contrast'])
    return (boxes, scores) if return_scores else boxes
