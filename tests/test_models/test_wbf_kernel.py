# Copyright (c) mmsissi contributors. All rights reserved.
"""The WBF kernel's backends (mmsissi.models.wbf_kernel): the compiled
loop and the numpy fallback agree; numba failures fall back cleanly."""
import warnings

import numpy as np
import pytest
from wbf_helpers import (assert_same, check, random_case, realistic_views,
                         ref_wbf)

from mmsissi.models import wbf_kernel
from mmsissi.models.wbf import weighted_boxes_fusion
from mmsissi.models.wbf_inputs import prefilter_boxes, sort_by_label


def _kernel_inputs(seed, iou_thr=0.55):
    boxes, scores, labels = random_case(np.random.default_rng(seed),
                                        n_views=6, n_labels=2)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        out = prefilter_boxes(boxes, scores, labels, np.ones(6), 0.0)
    coords, score, weight, _, label = out
    order, bounds, seg_label = sort_by_label(score, label)
    return (np.ascontiguousarray(score[order]),
            np.ascontiguousarray(weight[order]),
            np.ascontiguousarray(coords[order]), bounds,
            seg_label.astype(np.float64), iou_thr, False)


@pytest.mark.parametrize('seed', range(5))
def test_compiled_and_numpy_loops_agree(seed, monkeypatch):
    pytest.importorskip('numba')
    if wbf_kernel._get_kernels() is None:
        pytest.skip('numba kernels disabled')
    args = _kernel_inputs(seed)
    compiled = wbf_kernel.cluster_boxes(*args)
    monkeypatch.setitem(wbf_kernel._NUMBA_STATE, 'kernels', False)
    fallback = wbf_kernel.cluster_boxes(*args)
    m = compiled[0]
    assert m == fallback[0] > 0
    for a, b in zip(compiled[1:6], fallback[1:6]):
        np.testing.assert_array_equal(a[:m], b[:m])
    np.testing.assert_array_equal(compiled[6], fallback[6])
    # every box is in a cluster of its own label, counts add up
    assert compiled[5][:m].sum() == len(args[0])


def test_model_weight_sums_match_numpy():
    pytest.importorskip('numba')
    if wbf_kernel._get_kernels() is None:
        pytest.skip('numba kernels disabled')
    rng = np.random.default_rng(0)
    w64 = rng.uniform(0.1, 2, 20)
    models = [np.sort(rng.choice(20, int(rng.integers(1, 21)),
                                 replace=False)) for _ in range(6)]
    offsets = np.cumsum([0] + [len(m) for m in models]).astype(np.int64)
    present, absent = wbf_kernel.model_weight_sums(
        offsets, np.concatenate(models).astype(np.int64), w64)
    for c, m in enumerate(models):
        mask = np.zeros(20, bool)
        mask[m] = True
        assert present[c] == w64[mask].sum()  # bit-exact pairwise sums
        assert absent[c] == w64[~mask].sum()
    assert wbf_kernel.model_weight_sums(offsets, models[0],
                                        np.ones(129)) is None


def test_numba_cache_unavailable(monkeypatch):
    """No writable cache location: kernels compile without caching."""
    numba = pytest.importorskip('numba')
    real_jit = numba.jit

    def jit(*args, **kwargs):
        if kwargs.get('cache'):
            raise RuntimeError('cannot cache function: no locator available')
        return real_jit(*args, **kwargs)

    monkeypatch.setattr(numba, 'jit', jit)
    monkeypatch.setenv('MMSISSI_WBF_NUMBA', '1')
    monkeypatch.setitem(wbf_kernel._NUMBA_STATE, 'kernels', None)
    monkeypatch.setitem(wbf_kernel._NUMBA_STATE, 'cache', True)
    boxes, scores, labels = random_case(np.random.default_rng(4), n_views=4)
    check(boxes, scores, labels)
    assert wbf_kernel._NUMBA_STATE['cache'] is False
    assert wbf_kernel._get_kernels() is not None


def test_broken_kernel_falls_back_to_numpy(monkeypatch):

    def broken(*args):
        raise RuntimeError('broken kernel')

    monkeypatch.setitem(wbf_kernel._NUMBA_STATE, 'kernels', (broken, broken))
    monkeypatch.setitem(wbf_kernel._NUMBA_STATE, 'cache', False)
    boxes, scores, labels = realistic_views(seed=6, n_views=4, n_cells=20)
    with pytest.warns(UserWarning, match='numba WBF kernel failed'):
        out = weighted_boxes_fusion(boxes, scores, labels)
    assert wbf_kernel._NUMBA_STATE['kernels'] is False
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert_same(ref_wbf(boxes, scores, labels), out)
