# Copyright (c) mmsissi contributors. All rights reserved.
"""Inputs of Weighted Boxes Fusion: the reference's box checks, vectorised
(:func:`prefilter_boxes`), and the order the boxes are clustered in
(:func:`sort_by_label`)."""
import warnings
from typing import Any

import numpy as np

__all__ = ['to_numpy', 'prefilter_boxes', 'sort_by_label']


def to_numpy(x: Any) -> np.ndarray:
    """Convert a sequence, numpy array or torch tensor to numpy."""
    if hasattr(x, 'detach'):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def prefilter_boxes(boxes_list,
                    scores_list,
                    labels_list,
                    weights,
                    thr,
                    warn_zero_area=True):
    """Vectorised ``ensemble_boxes.ensemble_boxes_wbf.prefilter_boxes``.

    Args:
        boxes_list (Sequence): Per-view (N_i, 4) boxes.
        scores_list (Sequence): Per-view (N_i, ) scores.
        labels_list (Sequence): Per-view (N_i, ) labels.
        weights (np.ndarray): (V, ) model weights.
        thr (float): Boxes with ``score < thr`` are dropped.
        warn_zero_area (bool): Warn about every dropped zero-area box.
            Defaults to True.

    Returns:
        tuple: float64 ``coords`` (N, 4), weighted ``score`` (N,), model
        ``weight`` (N,), ``model`` index (N,) and int64 ``label`` (N,) of the
        kept boxes in input order (view by view).
    """
    views = _gather_views(boxes_list, scores_list, labels_list, thr)
    if views is None:
        return None
    raw, score, model, label = views
    xy = _checked_coords(raw)
    x1, y1, x2, y2 = xy[:, 0], xy[:, 1], xy[:, 2], xy[:, 3]
    zero = (x2 - x1) * (y2 - y1) == 0.0
    if zero.any():
        if warn_zero_area:
            for i in np.flatnonzero(zero):
                warnings.warn(f'Zero area box skipped: {raw[i]}.')
        keep = ~zero
        xy, score, model, label = (xy[keep], score[keep], model[keep],
                                   label[keep])
        if len(score) == 0:
            return None
    # `float(score) * weights[t]`: a Python float times a numpy scalar is
    # computed in the weights' float dtype (float32 weights -> float32).
    wdtype = np.result_type(weights.dtype, 1.0)
    wscore = score.astype(wdtype) * weights.astype(wdtype)[model]
    weight = weights.astype(np.float64)[model]
    return xy, wscore.astype(np.float64), weight, model, label


def _gather_views(boxes_list, scores_list, labels_list, thr):
    """The boxes of all views not scoring below ``thr``, concatenated:
    ``raw`` (N, 4) coordinates as given, float64 ``score``, int64 ``model``
    (view index) and ``label``; None when there is none.

    Raises:
        ValueError: When a view has different numbers of boxes, scores and
            labels.
    """
    coords, scores, models, labels = [], [], [], []
    for t in range(len(boxes_list)):
        boxes = boxes_list[t]
        if len(boxes) != len(scores_list[t]):
            raise ValueError(
                'Length of boxes arrays not equal to length of scores '
                f'array: {len(boxes)} != {len(scores_list[t])}')
        if len(boxes) != len(labels_list[t]):
            raise ValueError(
                'Length of boxes arrays not equal to length of labels '
                f'array: {len(boxes)} != {len(labels_list[t])}')
        if len(boxes) == 0:
            continue
        b = to_numpy(boxes)
        s = to_numpy(scores_list[t]).reshape(-1)
        # `score < thr` in the dtype numpy picks for (score, thr), as in
        # the reference's scalar comparison (float32 scores stay float32).
        keep = ~(s < thr)
        if not keep.all():
            idx = np.flatnonzero(keep)
            b, s = b[idx], s[idx]
            lab = to_numpy(labels_list[t]).reshape(-1)[idx]
        else:
            lab = to_numpy(labels_list[t]).reshape(-1)
        if len(s) == 0:
            continue
        coords.append(b.reshape(len(b), -1)[:, :4])
        scores.append(s.astype(np.float64))
        labels.append(lab.astype(np.int64))
        models.append(np.full(len(s), t, np.int64))
    if not coords:
        return None
    return (np.concatenate(coords), np.concatenate(scores),
            np.concatenate(models), np.concatenate(labels))


def _checked_coords(raw):
    """``raw`` boxes as float64 (N, 4): inverted ones swapped, coordinates
    clipped to ``[0, 1]``, with the reference's warnings (once per kind)."""
    xy = raw.astype(np.float64)
    x1, y1, x2, y2 = xy[:, 0], xy[:, 1], xy[:, 2], xy[:, 3]
    swap = x2 < x1
    if swap.any():
        warnings.warn('X2 < X1 value in box. Swap them.')
        x1, x2 = np.where(swap, x2, x1), np.where(swap, x1, x2)
    swap = y2 < y1
    if swap.any():
        warnings.warn('Y2 < Y1 value in box. Swap them.')
        y1, y2 = np.where(swap, y2, y1), np.where(swap, y1, y2)
    cols = []
    for name, v in (('X1', x1), ('Y1', y1), ('X2', x2), ('Y2', y2)):
        low = v < 0
        if low.any():
            warnings.warn(f'{name} < 0 in box. Set it to 0.')
            v = np.where(low, 0.0, v)
        high = v > 1
        if high.any():
            warnings.warn(f'{name} > 1 in box. Set it to 1. Check that you '
                          'normalize boxes in [0, 1] range.')
            v = np.where(high, 1.0, v)
        cols.append(v)
    return np.stack(cols, axis=1)


def sort_by_label(score, label):
    """Group boxes by label (order of first appearance) and sort each group
    by descending score with the reference's ``argsort()[::-1]``.

    Returns:
        tuple: ``order`` (N,) int64, segment ``bounds`` (G + 1,) int64 and
        segment labels (G,) int64.
    """
    if label.min() == label.max():
        return (score.argsort()[::-1], np.array([0, len(score)],
                                                np.int64), label[:1].copy())
    uniq, first, inv = np.unique(label, return_index=True, return_inverse=True)
    seg_of_uniq = np.empty(len(uniq), np.int64)
    seg_of_uniq[np.argsort(first, kind='stable')] = np.arange(len(uniq))
    grouped = np.argsort(seg_of_uniq[inv], kind='stable')
    sizes = np.bincount(seg_of_uniq[inv], minlength=len(uniq))
    bounds = np.zeros(len(uniq) + 1, np.int64)
    np.cumsum(sizes, out=bounds[1:])
    order = np.empty_like(grouped)
    for g in range(len(uniq)):
        idx = grouped[bounds[g]:bounds[g + 1]]
        order[bounds[g]:bounds[g + 1]] = idx[score[idx].argsort()[::-1]]
    return order, bounds, label[order[bounds[:-1]]]
