# Copyright (c) mmsissi contributors. All rights reserved.
"""The sequential clustering of Weighted Boxes Fusion, the kernel of
:func:`mmsissi.models.weighted_boxes_fusion`.

Boxes of one label, visited in descending score, each join the cluster
whose running fused box overlaps them most (IoU > ``iou_thr``) or start a
new one. The cluster arrays are preallocated and only the cluster a box
joins is updated, with the reference's float32 roundings (see
:mod:`mmsissi.models.wbf`). Two backends give bit-identical results:

- :func:`_cluster_loop`, a scalar loop compiled with numba when numba is
  importable (lazily, on first use; cached on disk where possible);
- :func:`_cluster_loop_numpy`, the same loop in Python with the IoU
  against all clusters of the label vectorised.

:func:`cluster_boxes` runs the first that works; likewise
:func:`model_weight_sums` (numba only) sums the weights of the models
present in and absent from each cluster. Set the environment variable
``MMSISSI_WBF_NUMBA=0`` to force numpy.
"""
import os
import warnings

import numpy as np

__all__ = ['cluster_boxes', 'model_weight_sums']

# Largest number of models for which the compiled kernel emulates numpy's
# pairwise summation (numpy switches to recursive halving above 128).
_PAIRWISE_BLOCK = 128


# ---------------------------------------------------------------------------
# Cluster state, shared by both backends.
# ---------------------------------------------------------------------------
def _new_clusters(n: int) -> tuple:
    """Arrays of up to ``n`` clusters, in this order: fused ``box``
    (n, 4), its ``area``, float32 ``acc`` (running sum of score times
    coordinates), ``conf`` (score sum), ``wsum`` (weight sum), ``cmax``
    (max score), the output ``label``, ``score`` and ``weight``, member
    ``count``, and ``assign`` (the cluster of every box)."""
    return (np.empty((n, 4), np.float64), np.empty(n, np.float64),
            np.empty((n, 4), np.float32), np.empty(n, np.float64),
            np.empty(n, np.float64), np.empty(n, np.float64),
            np.empty(n, np.float64), np.empty(n, np.float64),
            np.empty(n, np.float64), np.zeros(n, np.int64),
            np.empty(n, np.int64))


def _start(st, c, j, s, coords, weight, lab, barea):
    """Make box ``j`` (score ``s``, area ``barea``) cluster ``c``."""
    box, area, acc, conf, wsum, cmax, out_label, out_score, out_weight, \
        count, _ = st
    for k in range(4):
        box[c, k] = coords[j, k]
        acc[c, k] = np.float32(0.0 + s * coords[j, k])
    area[c] = barea
    conf[c] = 0.0 + s
    wsum[c] = 0.0 + weight[j]
    cmax[c] = s
    count[c] = 1
    out_label[c] = lab
    out_score[c] = s
    out_weight[c] = weight[j]


# ---------------------------------------------------------------------------
# Scalar backend (compiled with numba).
# ---------------------------------------------------------------------------
def _nan_max(a, b):
    """``np.maximum`` of two floats: NaN if either is NaN."""
    return a if (a != a or a >= b) else b


def _nan_min(a, b):
    """``np.minimum`` of two floats: NaN if either is NaN."""
    return a if (a != a or a <= b) else b


def _pair_iou(ax1, ay1, ax2, ay2, a_area, bx1, by1, bx2, by2, b_area):
    """IoU of box ``a`` (a cluster's fused box) and box ``b`` given with
    their areas, with numpy's NaN semantics (0 / 0 is NaN)."""
    dx = _nan_min(ax2, bx2) - _nan_max(ax1, bx1)
    dy = _nan_min(ay2, by2) - _nan_max(ay1, by1)
    inter = _nan_max(dx, 0.0) * _nan_max(dy, 0.0)
    return inter / (a_area + b_area - inter)


def _cluster_loop(score, weight, coords, seg_bounds, seg_label, iou_thr,
                  use_max, st):
    """Cluster label segments of score-sorted boxes (numba kernel).

    A box joins the cluster with the highest IoU (the first of equal ones,
    a NaN IoU at once, like ``np.argmax``) if it is ``> iou_thr``.

    Args:
        score (np.ndarray): (N,) float64 weighted scores, sorted in
            descending order inside each segment.
        weight (np.ndarray): (N,) float64 model weight of each box.
        coords (np.ndarray): (N, 4) float64 checked x1, y1, x2, y2.
        seg_bounds (np.ndarray): (G + 1,) int64 segment boundaries, one
            segment per label.
        seg_label (np.ndarray): (G,) float64 label of each segment.
        iou_thr (float): A box matches a cluster if IoU > ``iou_thr``.
        use_max (bool): Fused score is the max (``conf_type='max'``)
            rather than the mean of the member scores.
        st (tuple): Cluster arrays of :func:`_new_clusters`, filled.

    Returns:
        int: The number of clusters.
    """
    box, area, acc, conf, wsum, cmax, out_label, out_score, out_weight, \
        count, assign = st
    m = 0
    for g in range(seg_bounds.shape[0] - 1):
        c0 = m
        lab = seg_label[g]
        lab32 = np.float64(np.float32(lab))
        mism = lab32 != lab  # then clusters of several boxes never match
        for j in range(seg_bounds[g], seg_bounds[g + 1]):
            s = score[j]
            b = coords[j]
            barea = (b[2] - b[0]) * (b[3] - b[1])
            c = -1
            best_iou = 0.0
            for i in range(c0, m):
                iou = -1.0 if mism and count[i] > 1 else _pair_iou(
                    box[i, 0], box[i, 1], box[i, 2], box[i, 3], area[i],
                    b[0], b[1], b[2], b[3], barea)
                if iou != iou or c == -1 or iou > best_iou:
                    c = i
                    best_iou = iou
                    if iou != iou:
                        break
            if c == -1 or best_iou <= iou_thr:
                c = m
                m += 1
                _start(st, c, j, s, coords, weight, lab, barea)
                assign[j] = c
                continue
            cnt = count[c] + 1
            count[c] = cnt
            for k in range(4):
                acc[c, k] = np.float32(np.float64(acc[c, k]) + s * b[k])
            conf[c] += s
            wsum[c] += weight[j]
            if cmax[c] == cmax[c] and (s != s or s > cmax[c]):
                cmax[c] = s
            for k in range(4):
                box[c, k] = np.float64(np.float32(np.float64(acc[c, k]) /
                                                  conf[c]))
            area[c] = (box[c, 2] - box[c, 0]) * (box[c, 3] - box[c, 1])
            out_score[c] = np.float64(
                np.float32(cmax[c] if use_max else conf[c] / cnt))
            out_weight[c] = np.float64(np.float32(wsum[c]))
            out_label[c] = lab32
            assign[j] = c
    return m


def _pairwise_sum(buf, k):
    """``np.add.reduce(buf[:k])`` for ``k <= _PAIRWISE_BLOCK``: 8
    interleaved accumulators combined pairwise, plus the remainder (a
    plain loop below 8 elements)."""
    if k < 8:
        res = -0.0
        for i in range(k):
            res += buf[i]
        return res
    r0 = buf[0]
    r1 = buf[1]
    r2 = buf[2]
    r3 = buf[3]
    r4 = buf[4]
    r5 = buf[5]
    r6 = buf[6]
    r7 = buf[7]
    i = 8
    while i < k - k % 8:
        r0 += buf[i]
        r1 += buf[i + 1]
        r2 += buf[i + 2]
        r3 += buf[i + 3]
        r4 += buf[i + 4]
        r5 += buf[i + 5]
        r6 += buf[i + 6]
        r7 += buf[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < k:
        res += buf[i]
        i += 1
    return res


def _model_weight_sums(offsets, models, w64):
    """Per-cluster sums of present / absent model weights (numba kernel).

    Emulates ``np.add.reduce`` on contiguous float64 arrays of at most
    ``_PAIRWISE_BLOCK`` elements (:func:`_pairwise_sum`).

    Args:
        offsets (np.ndarray): (M + 1,) int64 CSR offsets into ``models``.
        models (np.ndarray): int64 sorted unique model indices per cluster.
        w64 (np.ndarray): (V,) float64 model weights, ``V <= 128``.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``weights[present].sum()`` and
        ``weights[absent].sum()`` per cluster, models in index order.
    """
    n_clusters = offsets.shape[0] - 1
    n_models = w64.shape[0]
    present_sum = np.empty(n_clusters, np.float64)
    absent_sum = np.empty(n_clusters, np.float64)
    buf = np.empty(max(n_models, 8), np.float64)
    present = np.zeros(n_models, np.bool_)
    for c in range(n_clusters):
        lo = offsets[c]
        hi = offsets[c + 1]
        k = 0
        for i in range(lo, hi):
            buf[k] = w64[models[i]]
            present[models[i]] = True
            k += 1
        present_sum[c] = _pairwise_sum(buf, k)
        k = 0
        for i in range(n_models):
            if not present[i]:
                buf[k] = w64[i]
                k += 1
        absent_sum[c] = _pairwise_sum(buf, k)
        for i in range(lo, hi):
            present[models[i]] = False
    return present_sum, absent_sum


# Functions the compiled kernels call: compiled with them.
_JIT_HELPERS = (_start, _nan_max, _nan_min, _pair_iou, _pairwise_sum)


# ---------------------------------------------------------------------------
# Numpy backend (no numba).
# ---------------------------------------------------------------------------
def _cluster_loop_numpy(score, weight, coords, seg_bounds, seg_label,
                        iou_thr, use_max, st):
    """Pure numpy twin of :func:`_cluster_loop` (same args and returns).

    The loop over boxes stays in Python but the IoU against all clusters of
    the label is one vectorised expression over the cluster arrays.
    """
    box, area, acc, conf, wsum, cmax, out_label, out_score, out_weight, \
        count, assign = st
    m = 0
    with np.errstate(all='ignore'):
        for g in range(len(seg_bounds) - 1):
            c0 = m
            lab = float(seg_label[g])
            lab32 = float(np.float32(lab))
            mism = lab32 != lab
            for j in range(int(seg_bounds[g]), int(seg_bounds[g + 1])):
                s = score[j]
                nb = coords[j]
                barea = (nb[2] - nb[0]) * (nb[3] - nb[1])
                best = -1
                if m > c0:
                    fb = box[c0:m]
                    xa = np.maximum(fb[:, 0], nb[0])
                    ya = np.maximum(fb[:, 1], nb[1])
                    xb = np.minimum(fb[:, 2], nb[2])
                    yb = np.minimum(fb[:, 3], nb[3])
                    inter = np.maximum(xb - xa, 0) * np.maximum(yb - ya, 0)
                    ious = inter / (area[c0:m] + barea - inter)
                    if mism:
                        ious[count[c0:m] > 1] = -1
                    best = int(np.argmax(ious))
                    best = -1 if ious[best] <= iou_thr else best + c0
                if best == -1:
                    best = m
                    m += 1
                    _start(st, best, j, s, coords, weight, lab, barea)
                    assign[j] = best
                    continue
                c = best
                cnt = count[c] + 1
                count[c] = cnt
                acc[c] = acc[c].astype(np.float64) + s * nb
                conf[c] += s
                wsum[c] += weight[j]
                if cmax[c] == cmax[c] and (s != s or s > cmax[c]):
                    cmax[c] = s
                box[c] = (acc[c].astype(np.float64) / conf[c]).astype(
                    np.float32)
                area[c] = (box[c, 2] - box[c, 0]) * (box[c, 3] - box[c, 1])
                out_score[c] = np.float32(cmax[c] if use_max else conf[c] /
                                          cnt)
                out_weight[c] = np.float32(wsum[c])
                out_label[c] = lab32
                assign[j] = c
    return m


# ---------------------------------------------------------------------------
# Backend selection (lazy numba compilation).
# ---------------------------------------------------------------------------
_NUMBA_STATE = {'kernels': None, 'cache': True, 'helpers': False}


def _numba_enabled() -> bool:
    flag = os.environ.get('MMSISSI_WBF_NUMBA', '1').strip().lower()
    return flag not in ('0', 'false', 'no', 'off')


def _get_kernels():
    """Return the compiled ``(cluster_loop, model_weight_sums)`` or None.

    numba is imported and the kernels are wrapped lazily on the first call
    (compilation happens on their first use, ~1-3 s, then ~0.1 s per
    process when loaded from numba's on-disk cache). If no writable cache
    location exists (read-only install) caching is silently disabled.
    """
    state = _NUMBA_STATE
    if state['kernels'] is None:
        if not _numba_enabled():
            return None
        try:
            import numba
            from numba.extending import register_jitable
        except Exception:  # numba missing or broken
            state['kernels'] = False
            return None
        kwargs = dict(nopython=True, nogil=True, error_model='numpy')
        if not state['helpers']:
            for fn in _JIT_HELPERS:
                register_jitable(error_model='numpy')(fn)
            state['helpers'] = True
        try:
            jit = numba.jit(cache=state['cache'], **kwargs)
            state['kernels'] = (jit(_cluster_loop), jit(_model_weight_sums))
        except Exception:  # no writable cache location
            state['cache'] = False
            jit = numba.jit(cache=False, **kwargs)
            state['kernels'] = (jit(_cluster_loop), jit(_model_weight_sums))
    return state['kernels'] or None


def _call_numba(index: int, *args):
    """Call compiled kernel ``index``; return None if numba is unusable.

    A failure (e.g. a stale or foreign on-disk cache) is retried once with
    caching disabled; a second failure switches to numpy for good.
    """
    for _ in range(2):
        kernels = _get_kernels()
        if kernels is None:
            return None
        try:
            return kernels[index](*args)
        except Exception as err:  # compilation / cache loading failure
            state = _NUMBA_STATE
            if state['cache']:
                state['cache'] = False
                state['kernels'] = None
            else:
                warnings.warn(f'numba WBF kernel failed ({err!r}); using '
                              'the numpy implementation.')
                state['kernels'] = False
    return None


def cluster_boxes(score, weight, coords, seg_bounds, seg_label, iou_thr,
                  use_max):
    """Cluster label segments of score-sorted boxes, compiled or with
    numpy (arguments of :func:`_cluster_loop`).

    Returns:
        tuple: ``(m, label, score, weight, boxes, count, assign)``: the
        number of clusters, their fields in the reference's row layout
        (first ``m`` rows valid), member counts and the cluster index of
        every box.
    """
    args = (score, weight, coords, seg_bounds, seg_label, iou_thr, use_max,
            _new_clusters(score.shape[0]))
    m = _call_numba(0, *args)
    if m is None:
        m = _cluster_loop_numpy(*args)
    st = args[-1]
    box, count, assign = st[0], st[9], st[10]
    return m, st[6], st[7], st[8], box, count, assign


def model_weight_sums(offsets, models, w64):
    """Compiled :func:`_model_weight_sums`, or None when numba is unusable
    or there are more than ``_PAIRWISE_BLOCK`` models."""
    if len(w64) > _PAIRWISE_BLOCK:
        return None
    return _call_numba(1, offsets, models, w64)
