# Copyright (c) mmsissi contributors. All rights reserved.
"""Exactness tests of :mod:`mmsissi.models.wbf` against ensemble-boxes.

Every comparison is bit-exact (``assert_array_equal``: same boxes, scores,
labels, same order), i.e. the max abs difference is 0, for both the numba
kernel and the numpy fallback.
"""
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from wbf_helpers import (CONF_TYPES, assert_same, check, random_case,
                         realistic_views, ref_wbf)

from mmsissi.models import wbf_kernel
from mmsissi.models.wbf import fuse_views, weighted_boxes_fusion

SHARED = Path(
    os.environ.get(
        'MMSISSI_SHARED_DATA',
        Path(__file__).resolve().parents[2] / '..' / 'shared' / 'data'))


@pytest.fixture(params=['numba', 'numpy'])
def backend(request, monkeypatch):
    """Run a test with the compiled kernels and with the numpy fallback."""
    if request.param == 'numba':
        pytest.importorskip('numba')
        if wbf_kernel._get_kernels() is None:
            pytest.skip('numba kernels disabled')
    else:
        monkeypatch.setitem(wbf_kernel._NUMBA_STATE, 'kernels', False)
    return request.param


@pytest.mark.parametrize('conf_type', CONF_TYPES)
def test_random_inputs_match_reference(conf_type, backend):
    rng = np.random.default_rng(CONF_TYPES.index(conf_type))
    n_cases = 60 if backend == 'numba' else 25
    for i in range(n_cases):
        boxes, scores, labels = random_case(rng, ties=i % 3 == 0)
        n_views = len(boxes)
        kind = i % 4
        weights = None
        if kind == 1:
            weights = list(rng.uniform(0.2, 3.0, n_views))
        elif kind == 2:
            weights = [int(w) for w in rng.integers(1, 4, n_views)]
        kwargs = dict(
            weights=weights,
            iou_thr=float(rng.choice([0.1, 0.3, 0.55, 0.8])),
            skip_box_thr=float(rng.choice([0.0, 0.0, 0.25])),
            conf_type=conf_type,
            allows_overflow=bool(kind == 3))
        check(boxes, scores, labels, **kwargs)


def test_ties_and_duplicates(backend):
    """Equal scores and identical boxes: tie-breaking follows the
    reference's (unstable) ``argsort()[::-1]`` and ``np.argmax``."""
    rng = np.random.default_rng(7)
    box = np.array([[0.1, 0.1, 0.3, 0.3], [0.2, 0.1, 0.4, 0.3],
                    [0.15, 0.1, 0.35, 0.3], [0.6, 0.6, 0.7, 0.7]])
    for _ in range(20):
        n_views = int(rng.integers(2, 12))
        boxes = [box[rng.permutation(4)] for _ in range(n_views)]
        scores = [np.round(rng.uniform(0, 1, 4) * 2) / 2 for _ in boxes]
        labels = [np.zeros(4, np.int64) for _ in boxes]
        for iou_thr in (0.2, 0.33, 0.5):
            check(boxes, scores, labels, iou_thr=iou_thr)


def test_equal_iou_joins_first_cluster(backend):
    # Two clusters A (score 0.9) and B (0.75); the third box has exactly
    # the same IoU (1/3) with both and joins A, the one created first.
    boxes = [
        np.array([[0.0, 0.0, 0.25, 0.25], [0.25, 0.0, 0.5, 0.25],
                  [0.125, 0.0, 0.375, 0.25]])
    ]
    scores = [np.array([0.9, 0.75, 0.7])]
    labels = [np.zeros(3)]
    out = check(boxes, scores, labels, iou_thr=0.3)
    np.testing.assert_allclose(
        out[0][0], [0.0546875, 0.0, 0.3046875, 0.25], atol=1e-7)
    np.testing.assert_allclose(out[1], [0.8, 0.75], atol=1e-7)
    np.testing.assert_array_equal(out[0][1], [0.25, 0.0, 0.5, 0.25])


def test_realistic_clustered_views(backend):
    boxes, scores, labels = realistic_views(seed=0)
    for conf_type in CONF_TYPES:
        out = check(boxes, scores, labels, conf_type=conf_type)
        assert 150 <= len(out[0]) < sum(len(b) for b in boxes)
    check(boxes, scores, labels, iou_thr=0.4, skip_box_thr=0.3)
    check(boxes, scores, labels, weights=np.linspace(0.5, 2, 20))


def test_real_ground_truth_boxes(backend):
    ann_file = SHARED / 'usiigaci_nih3t3_phc' / 'annotations_bbox.json'
    if not ann_file.is_file():
        pytest.skip(f'{ann_file} not found')
    coco = json.loads(ann_file.read_text())
    image = coco['images'][0]
    gt = np.array([
        a['bbox'] for a in coco['annotations'] if a['image_id'] == image['id']
    ], np.float64)
    assert len(gt) > 10
    gt[:, 2:] += gt[:, :2]  # xywh -> xyxy
    w, h = image['width'], image['height']
    scale = np.array([w, h, w, h], np.float64)
    rng = np.random.default_rng(3)
    boxes, scores, labels = [], [], []
    for _ in range(20):
        keep = rng.random(len(gt)) < 0.85
        size = np.tile(gt[keep, 2:] - gt[keep, :2], 2)
        b = gt[keep] + rng.normal(0, 0.04, size.shape) * size
        boxes.append((b / scale).astype(np.float32))  # some leave [0, 1]
        scores.append(rng.beta(6, 2, keep.sum()).astype(np.float32))
        labels.append(np.zeros(keep.sum(), np.int64))
    for conf_type in CONF_TYPES:
        check(boxes, scores, labels, conf_type=conf_type)


def test_many_views_and_weight_dtypes(backend):
    """Pairwise summation of model weights (> 8 and > 128 models) and
    float32 / integer weights reproduce numpy's arithmetic."""
    rng = np.random.default_rng(11)
    for n_views in (9, 40, 130):
        boxes, scores, labels = random_case(
            rng, n_views=n_views, max_boxes=4, n_labels=2)
        for weights in (rng.uniform(0.1, 2, n_views),
                        rng.uniform(0.1, 2, n_views).astype(np.float32),
                        rng.integers(1, 5, n_views)):
            for conf_type in CONF_TYPES:
                check(
                    boxes,
                    scores,
                    labels,
                    weights=weights,
                    conf_type=conf_type,
                    iou_thr=0.3)


def test_input_types(backend):
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(5)
    boxes, scores, labels = random_case(rng, n_views=5, n_labels=2)
    # float32 arrays (scores compared to skip_box_thr in float32)
    check([b.astype(np.float32) for b in boxes],
          [s.astype(np.float32) for s in scores],
          labels,
          skip_box_thr=0.3)
    # nested lists, float labels (truncated like int())
    check([b.tolist() for b in boxes], [s.tolist() for s in scores],
          [(lab + 0.7).tolist() for lab in labels])
    # torch tensors
    check([torch.from_numpy(b).float() for b in boxes],
          [torch.from_numpy(s).float() for s in scores],
          [torch.from_numpy(lab) for lab in labels],
          skip_box_thr=0.2)


def test_degenerate_labels_and_scores(backend):
    rng = np.random.default_rng(2)
    boxes, scores, labels = random_case(rng, n_views=6, n_labels=1)
    # Labels float32 cannot represent: multi-box clusters become
    # unmatchable in the reference (float32 label != int label).
    check(boxes, scores, [lab + 2**24 + 1 for lab in labels])
    check(boxes, scores, [lab - 3 for lab in labels])
    # Zero scores: 0 / 0 fused boxes (NaN) swallow later boxes.
    check(boxes, [np.zeros_like(s) for s in scores], labels)
    check(boxes, [np.where(s < 0.5, 0.0, s) for s in scores], labels)


def test_invalid_boxes_warn_like_reference(backend):
    boxes = [
        np.array([[0.5, 0.1, 0.2, 0.4], [0.1, 0.6, 0.4, 0.3],
                  [-0.1, 0.2, 0.3, 1.2], [0.3, 0.3, 0.3, 0.5],
                  [0.2, 0.1, 0.5, 0.4]]),
        np.array([[0.21, 0.1, 0.5, 0.41], [1.1, 0.2, 1.3, 0.4]])
    ]
    scores = [np.array([0.9, 0.8, 0.7, 0.6, 0.5]), np.array([0.6, 0.9])]
    labels = [np.zeros(5), np.zeros(2)]
    with pytest.warns(UserWarning) as record:
        out = weighted_boxes_fusion(boxes, scores, labels)
    messages = {str(r.message) for r in record}
    assert 'X2 < X1 value in box. Swap them.' in messages
    assert 'Y2 < Y1 value in box. Swap them.' in messages
    assert any(m.startswith('Zero area box skipped') for m in messages)
    assert any(m.startswith('X1 > 1 in box') for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert_same(ref_wbf(boxes, scores, labels), out)


def test_empty_inputs(backend):
    empty = (np.zeros((0, 4)), np.zeros(0), np.zeros(0))
    assert_same(empty, weighted_boxes_fusion([], [], []))
    for conf_type in CONF_TYPES:
        check(
            [np.zeros((0, 4))] * 3, [np.zeros(0)] * 3, [np.zeros(0)] * 3,
            conf_type=conf_type)
        check([[], []], [[], []], [[], []], conf_type=conf_type)
    boxes = [np.array([[0.1, 0.1, 0.2, 0.2]])]
    check(boxes, [np.array([0.1])], [np.array([0])], skip_box_thr=0.5)
    check(boxes, [np.array([0.1])], [np.array([0])], skip_box_thr=0.1)


def test_invalid_arguments():
    boxes = [np.array([[0.1, 0.1, 0.2, 0.2]])] * 2
    scores = [np.array([0.5])] * 2
    labels = [np.array([0])] * 2
    for conf_type in ('mean', 'max_conf'):  # not in ensemble-boxes 1.0.9
        with pytest.raises(ValueError, match='Unknown conf_type'):
            weighted_boxes_fusion(boxes, scores, labels, conf_type=conf_type)
    with pytest.raises(ValueError, match='scores'):
        weighted_boxes_fusion(boxes, [np.array([0.5, 0.4])] * 2, labels)
    with pytest.raises(ValueError, match='labels'):
        weighted_boxes_fusion(boxes, scores, [np.array([0, 1])] * 2)
    with pytest.warns(UserWarning, match='number of weights'):
        out = weighted_boxes_fusion(boxes, scores, labels, weights=[1, 2, 3])
    assert_same(ref_wbf(boxes, scores, labels), out)


def test_fuse_views_pixel_round_trip(backend):
    torch = pytest.importorskip('torch')
    h, w = 480, 640
    scale = np.array([w, h, w, h], np.float64)
    boxes, scores, labels = realistic_views(seed=1, n_views=6, n_cells=40)
    pix = [b.astype(np.float64) * scale for b in boxes]
    # pixel boxes as numpy and as torch tensors, image shape with channels
    out_np = fuse_views(pix, scores, labels, (h, w), iou_thr=0.5)
    out_t = fuse_views([torch.from_numpy(p).float() for p in pix],
                       [torch.from_numpy(s) for s in scores],
                       [torch.from_numpy(lab) for lab in labels], (h, w, 3),
                       iou_thr=0.5)
    ref = weighted_boxes_fusion([p / scale for p in pix],
                                scores,
                                labels,
                                iou_thr=0.5)
    assert out_np[0].dtype == np.float32 and out_np[1].dtype == np.float32
    assert out_np[2].dtype == np.int64
    np.testing.assert_allclose(out_np[0], ref[0] * scale, rtol=1e-6)
    np.testing.assert_allclose(out_np[1], ref[1], rtol=1e-6)
    np.testing.assert_array_equal(out_np[2], ref[2])
    for a, b in zip(out_np, out_t):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-3)

    # A single view of disjoint boxes comes back unchanged, in pixels;
    # boxes partly outside the image are clipped silently.
    gt = np.array(
        [[10, 20, 50, 60], [100, 100, 180, 150], [600, 400, 660, 500]],
        np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        b, s, lab = fuse_views([gt], [np.array([0.9, 0.8, 0.7])],
                               [np.array([0, 1, 0])], (h, w),
                               weights=[2.0])
    np.testing.assert_allclose(
        b, [[10, 20, 50, 60], [100, 100, 180, 150], [600, 400, 640, 480]],
        rtol=1e-6)
    np.testing.assert_allclose(s, [0.9, 0.8, 0.7], rtol=1e-6)
    np.testing.assert_array_equal(lab, [0, 1, 0])
    # Jittered copies in several views fuse to the score-weighted mean.
    b, s, lab = fuse_views([gt[:1], gt[:1] + 2.0], [[0.75], [0.25]],
                           [[0], [0]], (h, w))
    np.testing.assert_allclose(b, gt[:1] + 0.5, rtol=1e-6)
    np.testing.assert_allclose(s, [0.5], rtol=1e-6)
    # Empty views
    b, s, lab = fuse_views([np.zeros((0, 4))] * 2, [np.zeros(0)] * 2,
                           [np.zeros(0, np.int64)] * 2, (h, w))
    assert b.shape == (0, 4) and s.shape == (0, ) and lab.shape == (0, )
    with pytest.raises(ValueError):
        fuse_views([gt], [], [], (h, w))
