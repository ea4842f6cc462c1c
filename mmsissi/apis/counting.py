# Copyright (c) mmsissi contributors. All rights reserved.
"""Count cells in a folder of images with a trained detector.

:class:`CellCounter` runs an MMDetection model on images of any size and
:func:`count_folder` turns a folder into ``counts.csv``, a COCO
``detections.json`` and overlay PNGs (``tools/count.py`` is the command
line front end).

Image input
    Every file is decoded by :mod:`mmsissi.weak_labels.io` (8/16-bit,
    grayscale / RGB / RGBA, PNG / TIFF / JPEG, clear errors) and converted
    to the ``uint8`` 3-channel BGR array the detector's loader
    (``LoadImageFromFile`` / ``LoadCellImageFromFile``) gives it in
    training and testing (:func:`to_detector_image`): 8-bit images are
    used as they are (gray replicated to 3 channels, alpha dropped); any
    other depth (16-bit, float) is turned to grayscale and
    contrast-stretched between its 0.1 and 99.9 percentiles to 8 bits,
    like the shared 8-bit target images were made from their 16-bit
    originals. The test pipeline is the config's, with its image loader
    replaced by ``LoadImageFromNDArray`` and its annotation loader
    removed.

Resolution and tiling
    The detector was trained on images resized (keeping the ratio) so that
    they fit the test pipeline's ``Resize`` ``scale`` ``S`` (e.g. 512): a
    training image whose longer side is ``L`` was seen at ``S / L`` of its
    native resolution. The *tile factor* ``F`` says how many image pixels
    make one network pixel: a tile covers ``T = F * min(S)`` image pixels
    and is resized by ``1 / F`` (the test pipeline's ``Resize`` with
    ``scale_factor=1/F`` instead of ``scale``).

    * ``tile_factor='auto'`` (default) takes ``F`` from the training data:
      the median ``L / S`` of the images of the first training dataset
      (the target images, read from its COCO annotation file) of the
      training config saved in the checkpoint (MMEngine stores it in
      ``meta['cfg']``, with the run's ``--cfg-options``), else of the
      given config. New images from the same microscope are then fed at
      exactly the resolution the model learnt: e.g. 1022x1024 Usiigaci
      images at scale 512 give ``F = 2``, ``T = 1024``; the 512x512 demo
      crops at the CPU scale 256 give ``F = 2``, ``T = 512``. When no
      annotation file can be read, ``F = 1`` (with a note).
    * ``tile_factor=1.0``: tiles of ``min(S)`` pixels at native resolution
      (the network's input size), for images whose pixel size is unknown.

    Images whose longer side is at most ``single_max * T`` (1.25 T) go
    through **one pass of the unchanged test pipeline** (its ``Resize`` to
    ``S``, small images are upscaled), exactly like ``tools/test.py``.
    Larger images are cut into ``T x T`` tiles overlapping by at least
    ``overlap * T`` (default 20%; the tile starts are spread evenly from
    the first to the last pixel, so every tile has the full size), and
    detected tile by tile (``batch_size`` tiles per forward pass).

Merging tiles (:func:`merge_tile_detections`)
    Boxes are mapped back to image coordinates (tile offset added, clipped
    to the tile). A box touching (within ``border_margin`` network pixels)
    an *inner* tile border, i.e. one that is not an image border, is
    *cut*: the tile saw only part of the cell.

    1. A cut box is dropped when another tile contains it away from that
       tile's own inner borders: that tile saw the whole cell, with
       context, and its detection stands for it (when it has none, the
       part is taken for a border artefact).
    2. Uncut boxes of different tiles with IoU >= ``merge_iou`` are the
       same cell seen twice (in an overlap zone): the higher score is kept
       (greedy NMS across tiles only; the detector's own NMS inside a tile
       is left alone).
    3. The remaining cut boxes belong to cells larger than the overlap
       (no tile holds them whole): parts from different tiles whose
       restrictions to the two tiles' common area have IoU >=
       ``merge_iou`` are stitched into their union box (max score).

    Choose an overlap larger than the cells (``overlap * T`` pixels) so
    that step 3 is rarely needed.
"""
import copy
import csv
import io as _io
import json
import math
import os
import os.path as osp
import sys
import warnings
from fnmatch import fnmatch
from typing import (Any, Dict, List, Optional, Sequence, Tuple, Union)

import cv2
import numpy as np

from mmsissi.utils.fileio import atomic_dump_json, atomic_write_text

from mmsissi.weak_labels.io import (IMAGE_EXTENSIONS, ImageReadError,
                                    _read_raw, list_images, to_bgr_uint8)

__all__ = [
    'CountingWarning', 'CellCounter', 'init_counter', 'count_folder',
    'to_detector_image', 'read_detector_image', 'tile_windows',
    'merge_tile_detections', 'auto_tile_factor', 'get_test_scale',
    'draw_overlay', 'select_images', 'checkpoint_train_cfg',
    'STRETCH_PERCENTILES'
]

#: Percentiles of the 16-bit -> 8-bit contrast stretch (those of the shared
#: 8-bit target images).
STRETCH_PERCENTILES = (0.1, 99.9)

#: Decoded image -> the detector's uint8 BGR input (shared with training's
#: ``LoadCellImageFromFile``).
to_detector_image = to_bgr_uint8


class CountingWarning(UserWarning):
    """Issued for skipped files and settings worth a note."""


# --------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------


def read_detector_image(path: str) -> np.ndarray:
    """Read an image file as the detector's ``uint8`` BGR input.

    Args:
        path (str): PNG / TIFF / JPEG / BMP file, 8/16-bit, gray, RGB or
            RGBA.

    Returns:
        np.ndarray: (H, W, 3) ``uint8`` BGR array.

    Raises:
        ImageReadError: When the file is missing, empty or undecodable.
    """
    raw = _read_raw(path)
    try:
        return to_detector_image(raw)
    except ValueError as e:
        raise ImageReadError(path, str(e))


# --------------------------------------------------------------------------
# tiles and merging
# --------------------------------------------------------------------------


def _axis_starts(length: int, tile: int, overlap: float) -> List[int]:
    """Tile start offsets along one axis (evenly spread, full tiles)."""
    if length <= tile:
        return [0]
    stride = tile * (1.0 - overlap)
    n = int(math.ceil((length - tile) / stride - 1e-9)) + 1
    return [int(round(v)) for v in np.linspace(0, length - tile, n)]


def tile_windows(height: int, width: int, tile: int,
                 overlap: float = 0.2) -> np.ndarray:
    """Overlapping tiles covering an image.

    Each axis longer than ``tile`` is covered by ``n`` tiles of ``tile``
    pixels, the fewest whose neighbours overlap by at least ``overlap *
    tile``; their starts are spread evenly from 0 to ``length - tile``. A
    shorter axis is covered by one tile of its own length.

    Args:
        height (int): Image height.
        width (int): Image width.
        tile (int): Tile side in pixels.
        overlap (float): Minimal overlap as a fraction of ``tile``, in
            ``[0, 1)``. Defaults to 0.2.

    Returns:
        np.ndarray: (K, 4) int64 windows ``x0, y0, x1, y1`` (exclusive
        ends), row by row.
    """
    if tile < 1:
        raise ValueError(f'tile must be >= 1 pixel, got {tile}')
    if not 0 <= overlap < 1:
        raise ValueError(f'overlap must be in [0, 1), got {overlap}')
    xs = _axis_starts(int(width), int(tile), overlap)
    ys = _axis_starts(int(height), int(tile), overlap)
    tw, th = min(tile, width), min(tile, height)
    return np.array([[x, y, x + tw, y + th] for y in ys for x in xs],
                    dtype=np.int64).reshape(-1, 4)


def _iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``x1y1x2y2`` box against (N, 4) boxes."""
    iw = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    ih = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    a = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    b = (np.clip(boxes[:, 2] - boxes[:, 0], 0, None) *
         np.clip(boxes[:, 3] - boxes[:, 1], 0, None))
    union = a + b - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, inter / union, 0.0)


def _safe_bounds(windows: np.ndarray, img_shape: Sequence[int],
                 margin: float) -> np.ndarray:
    """(K, 4) open bounds a box must lie strictly inside to be uncut.

    Inner borders are moved inwards by ``margin``; image borders are
    +-inf (a box clipped to the image never crosses them).
    """
    h, w = int(img_shape[0]), int(img_shape[1])
    win = windows.astype(np.float64)
    lo_x = np.where(windows[:, 0] > 0, win[:, 0] + margin, -np.inf)
    lo_y = np.where(windows[:, 1] > 0, win[:, 1] + margin, -np.inf)
    hi_x = np.where(windows[:, 2] < w, win[:, 2] - margin, np.inf)
    hi_y = np.where(windows[:, 3] < h, win[:, 3] - margin, np.inf)
    return np.stack([lo_x, lo_y, hi_x, hi_y], axis=1)


def _inside(boxes: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Boxes (N, 4) strictly inside one safe bound (4, )."""
    return ((boxes[:, 0] > bounds[0]) & (boxes[:, 1] > bounds[1]) &
            (boxes[:, 2] < bounds[2]) & (boxes[:, 3] < bounds[3]))


def merge_tile_detections(windows: np.ndarray,
                          bboxes_list: Sequence[Any],
                          scores_list: Sequence[Any],
                          labels_list: Sequence[Any],
                          img_shape: Sequence[int],
                          border_margin: float = 2.0,
                          merge_iou: float = 0.5
                          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge per-tile detections into one set for the whole image.

    See the module docstring for the three steps (drop cut boxes that
    another tile holds whole, NMS of uncut boxes across tiles, stitch the
    parts of cells larger than the overlap).

    Args:
        windows (np.ndarray): (K, 4) tiles ``x0, y0, x1, y1`` in image
            pixels (see :func:`tile_windows`).
        bboxes_list (Sequence): Per tile, (N_k, 4) ``x1, y1, x2, y2`` boxes
            in *tile* coordinates (numpy arrays or tensors).
        scores_list (Sequence): Per tile, (N_k, ) scores.
        labels_list (Sequence): Per tile, (N_k, ) labels.
        img_shape (Sequence[int]): ``(h, w)`` of the image.
        border_margin (float): A box edge within this many *image* pixels
            of an inner tile border touches it. Defaults to 2.0.
        merge_iou (float): IoU of two boxes of one cell (steps 2 and 3).
            Defaults to 0.5.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: ``bboxes`` (M, 4)
        float32 in image pixels, ``scores`` (M, ) float32, ``labels``
        (M, ) int64, by descending score.
    """
    windows = np.asarray(windows, dtype=np.int64).reshape(-1, 4)
    if not len(windows) == len(bboxes_list) == len(scores_list) == len(
            labels_list):
        raise ValueError('one list entry per tile window is needed')
    boxes, scores, labels, tiles = [], [], [], []
    for k, (b, s, lab) in enumerate(zip(bboxes_list, scores_list,
                                        labels_list)):
        b = _to_numpy(b).astype(np.float64).reshape(-1, 4)
        x0, y0, x1, y1 = windows[k]
        b = b + np.array([x0, y0, x0, y0], np.float64)
        b[:, 0::2] = np.clip(b[:, 0::2], x0, x1)
        b[:, 1::2] = np.clip(b[:, 1::2], y0, y1)
        boxes.append(b)
        scores.append(_to_numpy(s).astype(np.float64).reshape(-1))
        labels.append(_to_numpy(lab).astype(np.int64).reshape(-1))
        tiles.append(np.full(len(b), k, np.int64))
    boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    scores = np.concatenate(scores) if scores else np.zeros(0)
    labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    tiles = np.concatenate(tiles) if tiles else np.zeros(0, np.int64)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores, labels, tiles = (boxes[valid], scores[valid],
                                    labels[valid], tiles[valid])
    if len(windows) <= 1 or len(boxes) == 0:
        return _finish(boxes, scores, labels)

    safe = _safe_bounds(windows, img_shape, border_margin)
    n = len(boxes)
    cut = np.zeros(n, bool)
    covered = np.zeros(n, bool)
    overlaps_other = np.zeros(n, bool)
    for k in range(len(windows)):
        own = tiles == k
        inside = _inside(boxes, safe[k])
        cut[own] = ~inside[own]
        covered[~own] |= inside[~own]
        x0, y0, x1, y1 = windows[k]
        hits = ((boxes[:, 0] < x1) & (boxes[:, 2] > x0) &
                (boxes[:, 1] < y1) & (boxes[:, 3] > y0))
        overlaps_other[~own] |= hits[~own]

    # 1. cut boxes that another tile holds whole are dropped
    keep_mask = ~(cut & covered)
    # 2. uncut boxes: NMS across tiles (only boxes in overlap zones can
    # have a twin in another tile)
    uncut = np.flatnonzero(keep_mask & ~cut)
    lone = uncut[~overlaps_other[uncut]]
    cand = uncut[overlaps_other[uncut]]
    kept_uncut = list(lone) + _nms_across_tiles(cand, boxes, scores, labels,
                                                tiles, merge_iou)
    # 3. stitch the parts of cells larger than the overlap
    parts = np.flatnonzero(keep_mask & cut)
    s_boxes, s_scores, s_labels = _stitch(parts, boxes, scores, labels,
                                          tiles, windows, merge_iou)
    kept_uncut = np.asarray(kept_uncut, np.int64)
    out_boxes = np.concatenate([boxes[kept_uncut], s_boxes])
    out_scores = np.concatenate([scores[kept_uncut], s_scores])
    out_labels = np.concatenate([labels[kept_uncut], s_labels])
    return _finish(out_boxes, out_scores, out_labels)


def _finish(boxes, scores, labels):
    order = np.argsort(-np.asarray(scores), kind='stable')
    return (np.asarray(boxes, np.float32).reshape(-1, 4)[order],
            np.asarray(scores, np.float32)[order],
            np.asarray(labels, np.int64)[order])


def _nms_across_tiles(idx, boxes, scores, labels, tiles, iou_thr):
    """Greedy NMS where a box is only suppressed by one of another tile."""
    order = idx[np.argsort(-scores[idx], kind='stable')]
    kept: List[int] = []
    for i in order:
        if kept:
            k = np.asarray(kept)
            other = (tiles[k] != tiles[i]) & (labels[k] == labels[i])
            if other.any():
                ious = _iou_one(boxes[i], boxes[k[other]])
                if (ious >= iou_thr).any():
                    continue
        kept.append(int(i))
    return kept


def _stitch(idx, boxes, scores, labels, tiles, windows, iou_thr):
    """Group cut boxes of different tiles that are parts of one cell.

    A part joins the group holding the member (of another tile) it matches
    best: IoU of the two boxes restricted to the common area of their
    tiles >= ``iou_thr``; a group never takes two parts of one tile.
    """
    order = idx[np.argsort(-scores[idx], kind='stable')]
    members: List[int] = []
    member_group: List[int] = []
    groups: List[dict] = []
    win = windows.astype(np.float64)
    for i in order:
        best = None
        if members:
            m = np.asarray(members)
            g = np.asarray(member_group)
            ok = (tiles[m] != tiles[i]) & (labels[m] == labels[i])
            # common area of the two tiles
            r = np.stack([
                np.maximum(win[tiles[m], 0], win[tiles[i], 0]),
                np.maximum(win[tiles[m], 1], win[tiles[i], 1]),
                np.minimum(win[tiles[m], 2], win[tiles[i], 2]),
                np.minimum(win[tiles[m], 3], win[tiles[i], 3])
            ], axis=1)
            ok &= (r[:, 2] > r[:, 0]) & (r[:, 3] > r[:, 1])
            if ok.any():
                a = np.clip(boxes[i][None].repeat(len(m), 0),
                            r[:, [0, 1, 0, 1]], r[:, [2, 3, 2, 3]])
                b = np.clip(boxes[m], r[:, [0, 1, 0, 1]], r[:, [2, 3, 2, 3]])
                ious = np.array([
                    _iou_one(a[j], b[j:j + 1])[0] if ok[j] else 0.0
                    for j in range(len(m))
                ])
                for j in np.argsort(-ious, kind='stable'):
                    if ious[j] < iou_thr or ious[j] <= 0:
                        break
                    if tiles[i] not in groups[g[j]]['tiles']:
                        best = int(g[j])
                        break
        if best is None:
            groups.append(
                dict(box=boxes[i].copy(), score=scores[i], label=labels[i],
                     tiles={int(tiles[i])}))
            best = len(groups) - 1
        else:
            grp = groups[best]
            grp['box'][:2] = np.minimum(grp['box'][:2], boxes[i][:2])
            grp['box'][2:] = np.maximum(grp['box'][2:], boxes[i][2:])
            grp['score'] = max(grp['score'], scores[i])
            grp['tiles'].add(int(tiles[i]))
        members.append(int(i))
        member_group.append(best)
    if not groups:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)
    return (np.stack([grp['box'] for grp in groups]),
            np.array([grp['score'] for grp in groups]),
            np.array([grp['label'] for grp in groups], np.int64))


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


# --------------------------------------------------------------------------
# config helpers
# --------------------------------------------------------------------------


def _type_name(t: dict) -> str:
    return str(t.get('type', '')).split('.')[-1]


def _find_resize(pipeline) -> Optional[int]:
    for i, t in enumerate(pipeline):
        if _type_name(t) == 'Resize' and t.get('scale') is not None:
            return i
    return None


def get_test_scale(cfg) -> Tuple[Optional[Tuple[int, int]], bool]:
    """The ``scale`` of the config's test pipeline ``Resize``.

    Args:
        cfg (Config): The model config.

    Returns:
        tuple: ``((w, h) or None, keep_ratio)``.
    """
    from mmdet.utils import get_test_pipeline_cfg
    pipe = get_test_pipeline_cfg(cfg)
    i = _find_resize(pipe)
    if i is None:
        return None, True
    scale = pipe[i]['scale']
    if isinstance(scale, (int, float)):
        scale = (int(scale), int(scale))
    return (int(scale[0]), int(scale[1])), bool(pipe[i].get('keep_ratio',
                                                             False))


def _first_dataset(ds):
    while True:
        if 'datasets' in ds:
            ds = ds['datasets'][0]
        elif 'dataset' in ds:
            ds = ds['dataset']
        else:
            return ds


def auto_tile_factor(cfg) -> Tuple[Optional[float], str]:
    """Tile factor from the sizes of a config's training target images.

    The first dataset of ``cfg.train_dataloader`` (the target images in
    the SISSI configs) is read from its COCO annotation file (``width`` /
    ``height`` of its images); the factor is the median over the images of
    ``1 / r`` where ``r`` is the rescale ratio of the config's test
    ``Resize`` (``min(max(S) / max(h, w), min(S) / min(h, w))`` with
    ``keep_ratio``).

    Args:
        cfg (Config): A model config, ideally the one the model was trained
            with (see :func:`checkpoint_train_cfg`).

    Returns:
        tuple[float | None, str]: The factor (None when it cannot be
        derived) and a sentence saying where it comes from, or why not.
    """
    scale, keep_ratio = get_test_scale(cfg)
    if scale is None:
        return None, 'the test pipeline has no Resize scale'
    try:
        ds = _first_dataset(cfg.train_dataloader.dataset)
        ann = ds['ann_file']
        root = ds.get('data_root')
        if root and not osp.isabs(ann):
            ann = osp.join(root, ann)
        with open(ann) as f:
            images = json.load(f)['images']
        sizes = np.array([(int(i['height']), int(i['width']))
                          for i in images], np.float64).reshape(-1, 2)
    except Exception as e:  # noqa: BLE001 - any missing piece -> fallback
        reason = e.args[0] if isinstance(e, KeyError) and e.args else e
        return None, f'cannot read the training image sizes ({reason})'
    if not len(sizes) or (sizes <= 0).any():
        return None, f'no image sizes in {ann}'
    smax, smin = max(scale), min(scale)
    long_, short = sizes.max(1), sizes.min(1)
    if keep_ratio:
        ratio = np.minimum(smax / long_, smin / short)
    else:
        ratio = np.sqrt(scale[0] / sizes[:, 1] * scale[1] / sizes[:, 0])
    factor = float(np.median(1.0 / ratio))
    return factor, (f'median training image {int(np.median(long_))} px '
                    f'(longer side) / scale {smax} in {ann}')


def checkpoint_train_cfg(checkpoint: str):
    """The training config MMEngine saved in a checkpoint, if any.

    ``Runner`` checkpoints hold ``meta['cfg']``, the full config of the run
    (``--cfg-options`` and ``--cpu-scale`` included).

    Args:
        checkpoint (str): Checkpoint file (trusted).

    Returns:
        Config | None: The config, or None when absent or unreadable.
    """
    import torch
    from mmengine.config import Config

    from mmsissi.utils import trusted_torch_load
    try:
        with trusted_torch_load():
            try:  # memory-mapped: only the meta data is really read
                ckpt = torch.load(checkpoint, map_location='cpu', mmap=True,
                                  weights_only=False)
            except RuntimeError:  # legacy (non-zip) format
                ckpt = torch.load(checkpoint, map_location='cpu',
                                  weights_only=False)
        text = (ckpt.get('meta') or {}).get('cfg')
        if not isinstance(text, str) or not text.strip():
            return None
        return Config.fromstring(text, '.py')
    except Exception:  # noqa: BLE001 - no usable config -> None
        return None


def _class_names(model) -> List[str]:
    """Class names matching the model's number of classes."""
    n = None
    try:
        n = int(model.roi_head.bbox_head.num_classes)
    except AttributeError:
        n = getattr(getattr(model, 'bbox_head', None), 'num_classes', None)
    candidates = [getattr(model, 'dataset_meta', None) or {}]
    cfg = getattr(model, 'cfg', None)
    if cfg is not None:
        try:
            ds = _first_dataset(cfg.test_dataloader.dataset)
            candidates.append(ds.get('metainfo') or {})
        except (AttributeError, KeyError):
            pass
    for meta in candidates:
        classes = meta.get('classes')
        if classes and (n is None or len(classes) == n):
            return [str(c) for c in classes]
    if n in (None, 1):
        return ['cell']
    return [f'class_{i}' for i in range(n)]


# --------------------------------------------------------------------------
# the counter
# --------------------------------------------------------------------------


class CellCounter:
    """Detect cells in images of any size with an mmdet detector.

    Args:
        model (nn.Module): A detector from :func:`mmdet.apis.init_detector`
            (it carries its config as ``model.cfg``).
        tile_factor (float | str): Image pixels per network pixel in tiles
            (tile side ``T = F * min(S)``), or ``'auto'`` to derive it from
            the training images (:func:`auto_tile_factor`). Defaults to
            ``'auto'``.
        overlap (float): Minimal tile overlap, fraction of ``T``.
            Defaults to 0.2.
        tile (bool): Tile large images; False always runs one pass of the
            test pipeline (like ``tools/test.py``). Defaults to True.
        single_max (float): Images whose longer side is at most
            ``single_max * T`` take one pass. Defaults to 1.25.
        border_margin (float): Tolerance of the "touches an inner tile
            border" test, in network input pixels (``F`` times as many
            image pixels). Defaults to 2.0.
        merge_iou (float): IoU of two boxes of one cell across tiles.
            Defaults to 0.5.
        batch_size (int): Tiles per forward pass. Defaults to 4.
        train_cfg (Config, optional): The config the model was trained
            with (e.g. :func:`checkpoint_train_cfg`); ``'auto'`` tries its
            training images first, then those of ``model.cfg``.
    """

    def __init__(self,
                 model,
                 tile_factor: Union[float, str] = 'auto',
                 overlap: float = 0.2,
                 tile: bool = True,
                 single_max: float = 1.25,
                 border_margin: float = 2.0,
                 merge_iou: float = 0.5,
                 batch_size: int = 4,
                 train_cfg=None):
        from mmcv.transforms import Compose
        from mmdet.utils import get_test_pipeline_cfg
        from mmengine.registry import init_default_scope
        if not 0 <= overlap < 1:
            raise ValueError(f'overlap must be in [0, 1), got {overlap}')
        if batch_size < 1:
            raise ValueError(f'batch size must be >= 1, got {batch_size}')
        self.model = model
        self.cfg = model.cfg
        init_default_scope(self.cfg.get('default_scope', 'mmdet'))
        self.overlap = float(overlap)
        self.single_max = float(single_max)
        self.merge_iou = float(merge_iou)
        self.batch_size = int(batch_size)
        self.class_names = _class_names(model)

        pipe = []
        for t in copy.deepcopy(get_test_pipeline_cfg(self.cfg)):
            name = _type_name(t)
            if name.startswith('Load') and name.endswith('ImageFromFile'):
                t = dict(type='mmdet.LoadImageFromNDArray',
                         to_float32=t.get('to_float32', False))
            elif name.startswith('Load') and name.endswith('Annotations'):
                continue
            pipe.append(t)
        self.scale, self.keep_ratio = get_test_scale(self.cfg)
        self.single_pipeline = Compose(copy.deepcopy(pipe))

        self.tile = bool(tile) and self.scale is not None
        if tile and self.scale is None:
            warnings.warn(
                'the test pipeline has no Resize with a scale: every image '
                'is processed in one pass', CountingWarning)
        self.tile_factor_note = ''
        if tile_factor == 'auto':
            tile_factor, self.tile_factor_note = self._auto_factor(train_cfg)
        self.tile_factor = float(tile_factor)
        if not self.tile_factor > 0:
            raise ValueError(f'tile factor must be > 0, got {tile_factor}')
        self.tile_size = None
        self.tile_pipeline = None
        if self.tile:
            self.tile_size = max(
                1, int(round(self.tile_factor * min(self.scale))))
            i = _find_resize(pipe)
            resize = dict(pipe[i])
            resize.pop('scale')
            resize.update(scale_factor=1.0 / self.tile_factor,
                          keep_ratio=True)
            tile_pipe = copy.deepcopy(pipe)
            tile_pipe[i] = resize
            self.tile_pipeline = Compose(tile_pipe)
        self.border_margin = float(border_margin) * self.tile_factor

    def _auto_factor(self, train_cfg) -> Tuple[float, str]:
        """``'auto'``: the training config's images, then the model's."""
        reasons = []
        for cfg, where in ((train_cfg, 'training config saved in the '
                            'checkpoint'), (self.cfg, 'config')):
            if cfg is None:
                continue
            factor, note = auto_tile_factor(cfg)
            if factor is not None:
                return factor, f'{note}, from the {where}'
            reasons.append(note)
        reasons.append('using 1.0: pass --tile-factor')
        return 1.0, '; '.join(reasons)

    def describe(self) -> str:
        """One line on the resolution / tiling settings."""
        if self.scale is None:
            return 'one pass per image (no Resize scale in the test pipeline)'
        s = f'test scale {self.scale[0]}x{self.scale[1]}'
        if not self.tile:
            return s + '; one pass per image (tiling off)'
        note = f' ({self.tile_factor_note})' if self.tile_factor_note else ''
        return (f'{s}; tile factor {self.tile_factor:.3g}{note}; images '
                f'over {int(self.single_max * self.tile_size)} px are cut '
                f'into {self.tile_size} px tiles ({self.overlap:.0%} '
                f'overlap) fed at {1 / self.tile_factor:.3g}x')

    def windows(self, height: int, width: int) -> Optional[np.ndarray]:
        """Tiles of an image, or None for a single pass.

        Args:
            height (int): Image height.
            width (int): Image width.

        Returns:
            np.ndarray | None: (K, 4) windows (see :func:`tile_windows`).
        """
        if not self.tile or max(height, width) <= (self.single_max *
                                                   self.tile_size):
            return None
        return tile_windows(height, width, self.tile_size, self.overlap)

    def predict_windows(self, img: np.ndarray, windows: np.ndarray,
                        tiled: bool) -> List[Tuple[np.ndarray, np.ndarray,
                                                   np.ndarray]]:
        """Run the detector on crops of ``img``.

        Args:
            img (np.ndarray): (H, W, 3) ``uint8`` BGR image.
            windows (np.ndarray): (K, 4) crops ``x0, y0, x1, y1``.
            tiled (bool): Tiles (fed at ``1 / F``) or the whole image (the
                unchanged test pipeline).

        Returns:
            list[tuple]: Per window, ``(bboxes (N, 4), scores (N, ),
            labels (N, ))`` in the window's own coordinates.
        """
        import torch
        from mmengine.dataset import pseudo_collate
        pipeline = self.tile_pipeline if tiled else self.single_pipeline
        out = []
        for start in range(0, len(windows), self.batch_size):
            batch = []
            for x0, y0, x1, y1 in windows[start:start + self.batch_size]:
                crop = np.ascontiguousarray(img[y0:y1, x0:x1])
                batch.append(pipeline(dict(img=crop, img_id=0)))
            data = pseudo_collate(batch)
            with torch.inference_mode():
                results = self.model.test_step(data)
            for r in results:
                p = r.pred_instances
                out.append((p.bboxes.float().cpu().numpy(),
                            p.scores.float().cpu().numpy(),
                            p.labels.cpu().numpy()))
        return out

    def __call__(self, img: np.ndarray) -> Dict[str, Any]:
        """Detect cells in one image.

        Args:
            img (np.ndarray): (H, W, 3) ``uint8`` BGR image (see
                :func:`to_detector_image`).

        Returns:
            dict: ``bboxes`` (M, 4) float32 ``x1y1x2y2`` image pixels,
            ``scores`` (M, ), ``labels`` (M, ), by descending score, and
            ``windows`` (the tiles, or None for a single pass).
        """
        h, w = img.shape[:2]
        windows = self.windows(h, w)
        if windows is None:
            full = np.array([[0, 0, w, h]], np.int64)
            b, s, lab = self.predict_windows(img, full, tiled=False)[0]
            b = np.asarray(b, np.float32).reshape(-1, 4).copy()
            b[:, 0::2] = b[:, 0::2].clip(0, w)
            b[:, 1::2] = b[:, 1::2].clip(0, h)
            b, s, lab = _finish(b, s, lab)
        else:
            res = self.predict_windows(img, windows, tiled=True)
            b, s, lab = merge_tile_detections(
                windows, [r[0] for r in res], [r[1] for r in res],
                [r[2] for r in res], (h, w),
                border_margin=self.border_margin, merge_iou=self.merge_iou)
        return dict(bboxes=b, scores=s, labels=lab, windows=windows)


def init_counter(config,
                 checkpoint: str,
                 device: Optional[str] = None,
                 cpu_scale: bool = False,
                 cfg_options: Optional[dict] = None,
                 score_thr: Optional[float] = None,
                 **kwargs) -> CellCounter:
    """Build a :class:`CellCounter` from a config and a checkpoint.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str): Checkpoint file (trusted, see
            :mod:`mmsissi.utils.checkpoint`).
        device (str, optional): ``'cuda'``, ``'cuda:1'``, ``'cpu'``...
            Defaults to CUDA when available, else CPU.
        cpu_scale (bool): Apply :func:`mmsissi.utils.apply_cpu_scale` to
            the config first (for checkpoints of ``tools/train.py
            --cpu-scale``).
        cfg_options (dict, optional): Config overrides.
        score_thr (float, optional): When lower than the model's
            ``test_cfg.rcnn.score_thr``, the latter is lowered to it so
            that the counting threshold really applies.
        **kwargs: :class:`CellCounter` arguments; with ``tile_factor``
            ``'auto'`` the training config saved in the checkpoint is
            passed as ``train_cfg``.

    Returns:
        CellCounter: The counter (model in eval mode on ``device``).

    Raises:
        FileNotFoundError: When the config or the checkpoint is missing.
        ValueError: When the device is unavailable.
    """
    import torch
    from mmdet.apis import init_detector
    from mmengine.config import Config

    import mmsissi  # noqa: F401 (components, checkpoint loaders)
    from mmsissi.utils import apply_cpu_scale
    if isinstance(config, str):
        if not osp.isfile(config):
            raise FileNotFoundError(f'config not found: {config}')
        cfg = Config.fromfile(config)
    else:
        cfg = copy.deepcopy(config)
    if cpu_scale:
        cfg = apply_cpu_scale(cfg)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if str(device).startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device {device} requested but CUDA is not '
                         'available (use --device cpu)')
    if score_thr is not None:
        test_cfg = cfg.model.get('test_cfg') or {}
        # two-stage detectors: test_cfg.rcnn; one-stage: test_cfg itself
        for c in (test_cfg.get('rcnn'), test_cfg):
            if c is not None and c.get('score_thr', 0) > score_thr:
                c['score_thr'] = float(score_thr)
    if 'init_cfg' in cfg.model.get('backbone', {}):
        cfg.model.backbone.init_cfg = None  # weights come from checkpoint
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*palette.*')
        warnings.filterwarnings('ignore', message='.*dataset_meta.*')
        model = init_detector(cfg, checkpoint, device=device)
    if kwargs.get('tile_factor', 'auto') == 'auto' and \
            kwargs.get('tile', True):
        kwargs.setdefault('train_cfg', checkpoint_train_cfg(checkpoint))
    return CellCounter(model, **kwargs)


# --------------------------------------------------------------------------
# folders and outputs
# --------------------------------------------------------------------------


def draw_overlay(img: np.ndarray, bboxes: np.ndarray,
                 text: str) -> np.ndarray:
    """Boxes and a caption drawn on a copy of an image.

    Args:
        img (np.ndarray): (H, W, 3) ``uint8`` BGR image.
        bboxes (np.ndarray): (N, 4) ``x1y1x2y2`` boxes.
        text (str): Caption, written in the top-left corner on a black
            band.

    Returns:
        np.ndarray: The annotated (H, W, 3) ``uint8`` image.
    """
    out = img.copy()
    h, w = out.shape[:2]
    size = max(h, w)
    thick = max(1, int(round(size / 600)))
    for x1, y1, x2, y2 in np.asarray(bboxes).reshape(-1, 4):
        cv2.rectangle(out, (int(round(x1)), int(round(y1))),
                      (int(round(x2)) - 1, int(round(y2)) - 1), (0, 255, 0),
                      thick, cv2.LINE_AA)
    font = cv2.FONT_HERSHEY_SIMPLEX
    fscale = max(0.4, size / 900)
    fthick = max(1, int(round(fscale * 2)))
    (tw, th), base = cv2.getTextSize(text, font, fscale, fthick)
    pad = max(2, int(round(th * 0.3)))
    cv2.rectangle(out, (0, 0), (tw + 2 * pad, th + base + 2 * pad),
                  (0, 0, 0), -1)
    cv2.putText(out, text, (pad, pad + th), font, fscale, (0, 255, 255),
                fthick, cv2.LINE_AA)
    return out


def select_images(images_dir: str,
                  pattern: Union[None, str, Sequence[str]] = None
                  ) -> List[str]:
    """The image files of a folder that :func:`count_folder` processes.

    Args:
        images_dir (str): Folder (not recursive).
        pattern (None | str | Sequence[str]): Glob(s) on file names.
            Defaults to all of
            :data:`mmsissi.weak_labels.io.IMAGE_EXTENSIONS`.

    Returns:
        list[str]: Sorted absolute paths.

    Raises:
        FileNotFoundError: When ``images_dir`` does not exist.
        ValueError: When no file is selected.
    """
    if not osp.isdir(images_dir):
        raise FileNotFoundError(f'image folder not found: {images_dir}')
    images_dir = osp.abspath(images_dir)
    if pattern is None or isinstance(pattern, str):
        paths = list_images(images_dir, pattern)
    else:
        paths = [
            p for p in list_images(images_dir, '*')
            if any(fnmatch(osp.basename(p), g) for g in pattern)
        ]
    if not paths:
        if pattern is None:
            what = ('no images (' + ', '.join(IMAGE_EXTENSIONS) +
                    ') found in')
        else:
            pats = [pattern] if isinstance(pattern, str) else list(pattern)
            what = f'no files matching {", ".join(pats)} found in'
        raise ValueError(f'{what} {images_dir}')
    return paths


def _overlay_name(rel: str, used: set) -> str:
    stem, ext = osp.splitext(osp.basename(rel))
    name = stem
    if name in used:
        name = f'{stem}_{ext.lstrip(".").lower()}'
    k = 2
    base = name
    while name in used:
        name = f'{base}_{k}'
        k += 1
    used.add(name)
    return name + '.png'


def count_folder(counter: CellCounter,
                 images_dir: str,
                 out_dir: str,
                 pattern: Union[None, str, Sequence[str]] = None,
                 score_thr: float = 0.5,
                 overlays: bool = True,
                 progress: bool = True) -> Dict[str, Any]:
    """Count the cells of every image of a folder and write the results.

    Writes into ``out_dir``: ``counts.csv`` (``image, count, mean_score,
    width, height``; one row per counted image, ``mean_score`` empty when
    nothing is counted), ``detections.json`` (COCO: ``file_name``
    relative to ``images_dir``, boxes ``xywh`` with ``score``; only the
    counted boxes) and, unless ``overlays=False``,
    ``overlays/<stem>.png``. The CSV and the json are written atomically.
    Unreadable files are skipped with a :class:`CountingWarning` naming
    the file and the problem.

    Args:
        counter (CellCounter): The detector.
        images_dir (str): Folder of images (not recursive).
        out_dir (str): Output folder (created).
        pattern (None | str | Sequence[str]): Glob(s) on file names.
            Defaults to all of
            :data:`mmsissi.weak_labels.io.IMAGE_EXTENSIONS`.
        score_thr (float): Boxes scoring at least this are counted.
            Defaults to 0.5.
        overlays (bool): Write overlay PNGs. Defaults to True.
        progress (bool): Show an :class:`mmengine.utils.ProgressBar` on
            stderr. Defaults to True.

    Returns:
        dict: ``rows`` (the CSV rows as dicts), ``num_images``,
        ``num_cells``, ``skipped`` (list of ``(relative path, reason)``),
        ``num_tiled``, ``csv``, ``json``, ``overlays`` (folder or None).

    Raises:
        FileNotFoundError: When ``images_dir`` does not exist.
        ValueError: When it holds no selected image, or none is readable.
    """
    paths = select_images(images_dir, pattern)
    images_dir = osp.abspath(images_dir)
    ov_dir = osp.join(out_dir, 'overlays') if overlays else None
    if ov_dir:
        os.makedirs(ov_dir, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)

    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(paths), file=sys.stderr)
    rows, images, annotations, skipped = [], [], [], []
    used_names: set = set()
    num_tiled = 0
    for path in paths:
        rel = osp.relpath(path, images_dir).replace(os.sep, '/')
        try:
            img = read_detector_image(path)
        except ImageReadError as e:
            if bar is not None:
                sys.stderr.write('\n')
            warnings.warn(f'skipping {rel}: {e.reason}', CountingWarning)
            skipped.append((rel, e.reason))
            if bar is not None:
                bar.update()
            continue
        det = counter(img)
        num_tiled += det['windows'] is not None
        keep = det['scores'] >= score_thr
        boxes, scores = det['bboxes'][keep], det['scores'][keep]
        labels = det['labels'][keep]
        h, w = img.shape[:2]
        image_id = len(images) + 1
        images.append(dict(id=image_id, file_name=rel, width=int(w),
                           height=int(h)))
        for b, s, lab in zip(boxes, scores, labels):
            x1, y1, x2, y2 = (float(v) for v in b)
            annotations.append(
                dict(id=len(annotations) + 1, image_id=image_id,
                     category_id=int(lab) + 1,
                     bbox=[round(x1, 2), round(y1, 2), round(x2 - x1, 2),
                           round(y2 - y1, 2)],
                     area=round((x2 - x1) * (y2 - y1), 2),
                     score=round(float(s), 4), iscrowd=0))
        count = int(len(boxes))
        rows.append(dict(
            image=rel, count=count,
            mean_score=(f'{float(scores.mean()):.4f}' if count else ''),
            width=int(w), height=int(h)))
        if ov_dir:
            text = f'{count} cell{"" if count == 1 else "s"}'
            cv2.imwrite(osp.join(ov_dir, _overlay_name(rel, used_names)),
                        draw_overlay(img, boxes, text))
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stderr.write('\n')
    if not images:
        raise ValueError(f'none of the {len(paths)} selected file(s) in '
                         f'{images_dir} could be read')

    buf = _io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=['image', 'count', 'mean_score', 'width', 'height'],
        lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    csv_path = osp.join(out_dir, 'counts.csv')
    atomic_write_text(buf.getvalue(), csv_path)

    from mmsissi.version import __version__
    coco = dict(
        info=dict(
            description='mmsissi cell counts (tools/count.py)',
            version=__version__,
            images_dir=images_dir,
            score_thr=float(score_thr),
            tiling=counter.describe()),
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=n)
                    for i, n in enumerate(counter.class_names)])
    json_path = osp.join(out_dir, 'detections.json')
    atomic_dump_json(coco, json_path)
    return dict(
        rows=rows,
        num_images=len(images),
        num_cells=int(sum(r['count'] for r in rows)),
        skipped=skipped,
        num_tiled=num_tiled,
        csv=osp.abspath(csv_path),
        json=osp.abspath(json_path),
        overlays=osp.abspath(ov_dir) if ov_dir else None)
