# Copyright (c) mmsissi contributors. All rights reserved.
"""Merging the detections of overlapping tiles
(:func:`merge_tile_detections`).

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
from typing import Any, List, Sequence, Tuple

import numpy as np

from mmsissi.structures import box_iou

__all__ = ['merge_tile_detections']


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
            pixels (see :func:`~.tiling.tile_windows`).
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
    boxes, scores, labels, tiles = _in_image_frame(windows, bboxes_list,
                                                   scores_list, labels_list)
    if len(windows) <= 1 or len(boxes) == 0:
        return _finish(boxes, scores, labels)

    cut, covered, overlaps_other = _tile_relations(
        windows, _safe_bounds(windows, img_shape, border_margin), boxes,
        tiles)
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


def _in_image_frame(windows: np.ndarray, bboxes_list: Sequence[Any],
                    scores_list: Sequence[Any], labels_list: Sequence[Any]
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray,
                               np.ndarray]:
    """The tiles' boxes in image pixels (clipped to their tile; empty ones
    dropped): ``boxes`` (N, 4), ``scores``, ``labels`` and ``tiles`` (the
    tile index of each box)."""
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
    return boxes[valid], scores[valid], labels[valid], tiles[valid]


def _tile_relations(windows: np.ndarray, safe: np.ndarray,
                    boxes: np.ndarray, tiles: np.ndarray
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per box: ``cut`` (it touches an inner border of its own tile),
    ``covered`` (another tile holds it whole, away from that tile's inner
    borders) and ``overlaps_other`` (it overlaps another tile)."""
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
    return cut, covered, overlaps_other


def _finish(boxes, scores, labels):
    """float32 boxes and scores, int64 labels, by descending score."""
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
                ious = box_iou(boxes[i], boxes[k[other]])[0]
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
                    box_iou(a[j], b[j])[0, 0] if ok[j] else 0.0
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
    """A numpy array of an array-like or a tensor."""
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)
