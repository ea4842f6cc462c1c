# Copyright (c) mmsissi contributors. All rights reserved.
"""How a round of fused predictions updates the target labels.

- ``'replace'`` (the paper, SISSI): the fused boxes are the new labels.
- ``'merge'`` (Co-mining style, for incomplete labels): the *initial*
  labels are kept every round; a fused box that matches none of them (IoU
  below ``match_iou``) is added when its score is at least ``add_score``.
  Optionally a matched initial box is refined towards its fused box
  (``refine``) and an initial box no fused box supports is dropped
  (``drop_unsupported``, for spurious weak boxes). The initial boxes are
  never replaced by their own relabelling, so a size bias of the detector
  cannot compound round after round through the kept boxes. Refined and
  added boxes are the detector's, and a detector's own size bias (the
  benchmark's detectors, even one trained on clean boxes, predict DSB
  nuclei about 4 % too small) does compound through them: ``calibrate``
  first removes the fused boxes' median size bias relative to the initial
  boxes they match (:func:`size_bias`), measured on the given labels alone;
  ``calibrate='size'`` removes it as a function of the fused box's size
  (:func:`size_curve`), since those detectors regress sizes to the mean:
  small nuclei come out too large, large ones up to 20 % too small.

Either way, the *new* boxes can become ignore regions instead of labels
when they score below a band's ``high`` or when the TTA views disagree on
them (:func:`split_new`).
"""
from typing import Dict, Optional, Tuple

import numpy as np

from mmsissi.structures import box_iou

__all__ = ['UPDATE_POLICIES', 'check_merge_cfg', 'merge_labels', 'merge_all',
           'size_pairs', 'size_bias', 'size_curve', 'rescale_boxes',
           'split_new']

UPDATE_POLICIES = ('replace', 'merge')

#: The defaults of ``PseudoLabelHook(update='merge', merge_cfg=...)``.
MERGE_DEFAULTS = dict(match_iou=0.4, add_score=0.5, refine=0.0,
                      drop_unsupported=False, calibrate=False)
#: fewest matched pairs :func:`size_bias` estimates a bias from (and
#: :func:`size_curve` each of its size bins)
MIN_PAIRS = 20
#: values of ``merge_cfg['calibrate']`` (True is ``'median'``)
CALIBRATIONS = (False, True, 'median', 'size')


def check_merge_cfg(cfg=None) -> dict:
    """``MERGE_DEFAULTS`` updated by ``cfg``; a clear ValueError for an
    unknown key or a value out of range."""
    cfg = dict(MERGE_DEFAULTS, **(cfg or {}))
    unknown = set(cfg) - set(MERGE_DEFAULTS)
    if unknown:
        raise ValueError(f'merge_cfg: unknown key(s) {sorted(unknown)}; '
                         f'expected {sorted(MERGE_DEFAULTS)}')
    for key in ('match_iou', 'add_score', 'refine'):
        if not 0.0 <= float(cfg[key]) <= 1.0:
            raise ValueError(f'merge_cfg.{key} must be in [0, 1], got '
                             f'{cfg[key]}')
    if cfg['calibrate'] not in CALIBRATIONS:
        raise ValueError(f'merge_cfg.calibrate must be one of '
                         f'{CALIBRATIONS}, got {cfg["calibrate"]!r}')
    return cfg


def merge_labels(initial: np.ndarray,
                 fused: np.ndarray,
                 scores: np.ndarray,
                 match_iou: float = 0.4,
                 add_score: float = 0.5,
                 refine: float = 0.0,
                 drop_unsupported: bool = False
                 ) -> Tuple[np.ndarray, np.ndarray, Dict[str, int],
                            np.ndarray]:
    """Merge one image's fused predictions into its initial labels.

    Args:
        initial (np.ndarray): (N, 4) xyxy initial labels.
        fused (np.ndarray): (M, 4) xyxy fused boxes.
        scores (np.ndarray): (M,) their scores.
        match_iou (float): A fused box with IoU >= this with an initial box
            matches it (its best match). Defaults to 0.4 (Co-mining's).
        add_score (float): Unmatched fused boxes scoring at least this
            are added. Defaults to 0.5.
        refine (float): Weight of the fused box in a matched initial box's
            new coordinates, times the fused score: 0 keeps the initial box
            (default), 1 takes a fully confident fused box.
        drop_unsupported (bool): Drop initial boxes that no fused box
            matches. Defaults to False.

    Returns:
        tuple: ``(boxes, scores, counts, added)``: the new (K, 4) labels
        (the kept initial boxes first, then the added fused boxes), their
        scores (1 for initial boxes, the fused score for added ones),
        ``counts`` with ``kept``, ``added``, ``refined``, ``dropped``, and
        the indices in ``fused`` of the added boxes.
    """
    initial = np.asarray(initial, np.float32).reshape(-1, 4)
    fused = np.asarray(fused, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    iou = box_iou(initial, fused) if len(initial) and len(fused) else \
        np.zeros((len(initial), len(fused)), np.float32)
    matched_fused = (iou >= match_iou).any(0) if len(initial) else \
        np.zeros(len(fused), bool)
    best = iou.argmax(1) if len(fused) else np.zeros(len(initial), int)
    has = (iou.max(1) >= match_iou) if len(fused) else \
        np.zeros(len(initial), bool)
    keep = has | (not drop_unsupported)
    boxes = initial.copy()
    refined = 0
    if refine > 0 and has.any():
        w = (refine * scores[best[has]])[:, None]
        boxes[has] = (1 - w) * initial[has] + w * fused[best[has]]
        refined = int(has.sum())
    add = ~matched_fused & (scores >= add_score)
    out_b = np.concatenate([boxes[keep], fused[add]])
    out_s = np.concatenate([np.ones(int(keep.sum()), np.float32),
                            scores[add]])
    counts = dict(kept=int(keep.sum()), added=int(add.sum()),
                  refined=refined, dropped=int((~keep).sum()))
    return (out_b.astype(np.float32), out_s.astype(np.float32), counts,
            np.flatnonzero(add))


def size_pairs(initial: Dict[int, np.ndarray],
               boxes: Dict[int, np.ndarray],
               match_iou: float) -> Tuple[np.ndarray, np.ndarray]:
    """Every initial box's best match in ``boxes`` (IoU >= ``match_iou``)
    on all images: the initial box's log width and height, (P, 2), and
    log(matched / initial) of width and height, (P, 2). Pairs with an
    empty box are left out."""
    empty = np.zeros((0, 2), np.float32)
    log_wh, ratio = [empty], [empty]
    for k, fused in boxes.items():
        init = np.asarray(initial.get(k, np.zeros((0, 4))),
                          np.float32).reshape(-1, 4)
        fused = np.asarray(fused, np.float32).reshape(-1, 4)
        if not len(init) or not len(fused):
            continue
        iou = box_iou(init, fused)
        ok = iou.max(1) >= match_iou
        a, b = init[ok], fused[iou.argmax(1)[ok]]
        wh_a, wh_b = a[:, 2:] - a[:, :2], b[:, 2:] - b[:, :2]
        pos = (wh_a > 0).all(1) & (wh_b > 0).all(1)
        log_wh.append(np.log(wh_a[pos]))
        ratio.append(np.log(wh_b[pos] / wh_a[pos]))
    return np.concatenate(log_wh), np.concatenate(ratio)


def size_bias(initial: Dict[int, np.ndarray], boxes: Dict[int, np.ndarray],
              match_iou: float = 0.4,
              min_pairs: int = MIN_PAIRS) -> Tuple[float, float, int]:
    """The fused boxes' size bias relative to the initial labels: the
    median of log(fused width / initial width) and of the heights over
    every initial box's best match (IoU >= ``match_iou``) on all images.

    Initial labels that are noisy but unbiased in size (jittered, or
    missing cells) make it the detector's own bias. Returns ``(log_w,
    log_h, pairs)``; ``(0, 0, pairs)`` from fewer than ``min_pairs``
    (:data:`MIN_PAIRS`) pairs.
    """
    _, ratio = size_pairs(initial, boxes, match_iou)
    if len(ratio) < max(1, min_pairs):
        return 0.0, 0.0, len(ratio)
    log_w, log_h = np.median(ratio, 0)
    return float(log_w), float(log_h), len(ratio)


def size_curve(initial: Dict[int, np.ndarray], boxes: Dict[int, np.ndarray],
               match_iou: float = 0.4, min_pairs: int = MIN_PAIRS,
               bins: int = 8) -> Tuple[np.ndarray, np.ndarray, int]:
    """:func:`size_bias` as a function of the fused box's size.

    The matched pairs are sorted by the fused box's log size and cut into
    up to ``bins`` equal bins of at least ``min_pairs`` pairs; each bin
    gives its median log size and median log ratios. Binning on the
    *fused* size (what is known when a box is corrected) keeps the noise
    of the initial boxes on the side that the medians average out.

    Returns:
        tuple: ``(knots, bias, pairs)``: (B,) log sizes and (B, 2) log
        width / height ratios, for :func:`np.interp` (constant beyond the
        ends); ``B = 0`` from fewer than ``min_pairs`` pairs.
    """
    log_wh, ratio = size_pairs(initial, boxes, match_iou)
    size = (log_wh + ratio).mean(1)  # the fused box's log sqrt(w h)
    n_bins = min(int(bins), len(size) // max(1, min_pairs))
    if n_bins < 1:
        return np.zeros(0, np.float32), np.zeros((0, 2), np.float32), \
            len(size)
    order = np.argsort(size, kind='stable')
    parts = np.array_split(order, n_bins)
    knots = np.array([np.median(size[i]) for i in parts], np.float32)
    bias = np.array([np.median(ratio[i], 0) for i in parts], np.float32)
    return knots, bias, len(size)


def _uncurve(boxes: np.ndarray, knots: np.ndarray,
             bias: np.ndarray) -> np.ndarray:
    """``boxes`` with the :func:`size_curve` bias at their sizes removed."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if not len(knots) or not len(boxes):
        return boxes
    wh = np.clip(boxes[:, 2:] - boxes[:, :2], 1e-3, None)
    s = np.log(wh).mean(1)
    return rescale_boxes(boxes, -np.interp(s, knots, bias[:, 0]),
                         -np.interp(s, knots, bias[:, 1]))


def rescale_boxes(boxes: np.ndarray, log_w, log_h) -> np.ndarray:
    """(N, 4) xyxy boxes scaled about their centres by ``exp(log_w)`` in
    width and ``exp(log_h)`` in height (scalars, or one value per box)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    scale = np.stack(np.broadcast_arrays(
        np.asarray(log_w, np.float32).reshape(-1),
        np.asarray(log_h, np.float32).reshape(-1)), 1)
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * np.exp(scale)
    return np.concatenate([c - half, c + half], 1).astype(np.float32)


def _calibrate(initial, boxes, how, match_iou):
    """The fused boxes with their size bias removed (``how`` of
    ``merge_cfg['calibrate']``) and a note for the log."""
    if how == 'size':
        knots, bias, n = size_curve(initial, boxes, match_iou)
        text = ', '.join(f'{np.exp(s):.0f} px {w:+.3f}/{h:+.3f}'
                         for s, (w, h) in zip(knots, bias))
        return ({k: _uncurve(b, knots, bias) for k, b in boxes.items()},
                f'; size bias of the fused boxes removed by size, log w/h: '
                f'{text or "none"} ({n} pairs)')
    if how:
        log_w, log_h, n = size_bias(initial, boxes, match_iou)
        return ({k: rescale_boxes(b, -log_w, -log_h)
                 for k, b in boxes.items()},
                f'; size bias of the fused boxes removed: log w '
                f'{log_w:+.3f}, log h {log_h:+.3f} ({n} pairs)')
    return boxes, ''


def merge_all(initial: Dict[int, np.ndarray], boxes: Dict[int, np.ndarray],
              scores: Dict[int, np.ndarray], merge_cfg: dict):
    """:func:`merge_labels` on every image; with ``merge_cfg['calibrate']``
    the fused boxes' :func:`size_bias` (``True`` / ``'median'``) or
    :func:`size_curve` (``'size'``) is removed first.

    Returns:
        tuple: ``(boxes, scores, fixed, new, text)``: new labels and scores
        per image; per image the number of leading boxes that are initial
        ones (``fixed``) and the indices of the added fused boxes
        (``new``); a summary for the log.
    """
    cfg = dict(merge_cfg)
    boxes, calib = _calibrate(initial, boxes, cfg.pop('calibrate', False),
                              cfg['match_iou'])
    out_b, out_s, fixed, new, total = {}, {}, {}, {}, {}
    for k in boxes:
        out_b[k], out_s[k], c, new[k] = merge_labels(
            initial.get(k, np.zeros((0, 4), np.float32)), boxes[k],
            scores[k], **cfg)
        fixed[k] = c['kept']
        total = {n: total.get(n, 0) + v for n, v in c.items()}
    if not total:
        return out_b, out_s, fixed, new, 'merge: no image'
    return out_b, out_s, fixed, new, (
        'merge: {kept} initial kept ({refined} refined, {dropped} dropped), '
        '{added} added'.format(**total) + calib)


def split_new(boxes: Dict[int, np.ndarray], scores: Dict[int, np.ndarray],
              fixed: Dict[int, int], band: Optional[Tuple[float, float]],
              spreads: Optional[Dict[int, np.ndarray]] = None,
              max_spread: Optional[float] = None):
    """Sort the new boxes into labels, ignore regions and dropped ones, in
    place; the first ``fixed[k]`` boxes of image ``k`` (initial or previous
    labels) are left alone.

    A new box stays a label if it scores at least ``high`` of ``band`` and
    (with ``max_spread``) its views agree (spread <= ``max_spread``); else
    it becomes an ignore region if it scores at least ``low``; else it is
    dropped. ``band=None`` is ``(0, 0)``.

    Args:
        boxes, scores (dict): Per image, the labels and scores.
        fixed (dict): Per image, how many leading boxes are not new.
        band (tuple, optional): ``(low, high)``.
        spreads (dict, optional): Per image, the spread of each new box
            (aligned with ``boxes[k][fixed[k]:]``).
        max_spread (float, optional): Largest spread of a label.

    Returns:
        tuple: ``(ignore, ignore_scores, text)`` per image, and a summary.
    """
    lo, hi = band or (0.0, 0.0)
    ignore, ignore_scores, n_ign, n_low, n_spread = {}, {}, 0, 0, 0
    for k in boxes:
        f = fixed.get(k, 0)
        b, s = boxes[k][f:], scores[k][f:]
        label = s >= hi
        if max_spread is not None:
            steady = np.asarray(spreads[k]).reshape(-1) <= max_spread
            n_spread += int((label & ~steady).sum())
            label &= steady
        mid = ~label & (s >= lo)
        ignore[k], ignore_scores[k] = b[mid], s[mid]
        boxes[k] = np.concatenate([boxes[k][:f], b[label]])
        scores[k] = np.concatenate([scores[k][:f], s[label]])
        n_ign += int(mid.sum())
        n_low += int((~label & ~mid).sum())
    text = f'{n_ign} ignore regions'
    if band is not None:
        text += f' (score {lo}-{hi}: {n_ign - n_spread}; {n_low} below)'
    if max_spread is not None:
        text += f' (views disagree, spread > {max_spread}: {n_spread})'
    return ignore, ignore_scores, text
