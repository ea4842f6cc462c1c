# Copyright (c) mmsissi contributors. All rights reserved.
"""Helpers of the WBF tests: the ensemble-boxes reference, bit-exact
comparison and test inputs."""
import warnings

import numpy as np
import pytest

from mmsissi.models.wbf import weighted_boxes_fusion

ensemble_boxes = pytest.importorskip('ensemble_boxes')
ref_wbf = ensemble_boxes.weighted_boxes_fusion

CONF_TYPES = ('avg', 'max', 'box_and_model_avg', 'absent_model_aware_avg')


def run_both(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with np.errstate(all='ignore'):
            expected = ref_wbf(*args, **kwargs)
        out = weighted_boxes_fusion(*args, **kwargs)
    return expected, out


def assert_same(expected, out):
    """Bit-exact equality of ``(boxes, scores, labels)`` (NaN == NaN)."""
    for name, e, o in zip(('boxes', 'scores', 'labels'), expected, out):
        assert isinstance(o, np.ndarray)
        assert o.shape == e.shape, (name, o.shape, e.shape)
        assert o.dtype == e.dtype, (name, o.dtype, e.dtype)
        diff = np.nanmax(np.abs(o - e), initial=0.0)
        np.testing.assert_array_equal(
            o, e, err_msg=f'{name}: max abs diff {diff}')


def check(*args, **kwargs):
    expected, out = run_both(*args, **kwargs)
    assert_same(expected, out)
    return out


def random_case(rng, n_views=None, max_boxes=30, n_labels=None, ties=False):
    """Views of jittered copies of a few random objects plus clutter."""
    n_views = int(rng.integers(1, 9)) if n_views is None else n_views
    n_labels = int(rng.integers(1, 4)) if n_labels is None else n_labels
    n_obj = int(rng.integers(1, max_boxes + 1))
    ctr = rng.uniform(0, 1, (n_obj, 2))
    wh = rng.uniform(0.02, 0.3, (n_obj, 2))
    obj = np.concatenate([ctr - wh / 2, ctr + wh / 2], axis=1)
    obj_label = rng.integers(0, n_labels, n_obj)
    boxes, scores, labels = [], [], []
    for _ in range(n_views):
        if rng.random() < 0.15:  # empty view
            boxes.append(np.zeros((0, 4)))
            scores.append(np.zeros(0))
            labels.append(np.zeros(0, np.int64))
            continue
        keep = rng.random(n_obj) < rng.uniform(0.5, 1.0)
        b = obj[keep] + rng.normal(0, rng.choice([0.0, 0.005, 0.03]),
                                   (keep.sum(), 4))
        lab = obj_label[keep]
        n_fp = int(rng.integers(0, 4))
        fp = rng.uniform(0, 1, (n_fp, 2))
        fp = np.concatenate([fp, fp + rng.uniform(0.01, 0.2, (n_fp, 2))], 1)
        b = np.clip(np.concatenate([b, fp]), 0, 1)
        lab = np.concatenate([lab, rng.integers(0, n_labels, n_fp)])
        s = rng.uniform(0, 1, len(b))
        if ties:
            s = np.round(s * 4) / 4
        order = rng.permutation(len(b))
        boxes.append(b[order])
        scores.append(s[order])
        labels.append(lab[order])
    return boxes, scores, labels


def realistic_views(seed=0, n_views=20, n_cells=150, size=1024):
    """Test-time-augmented detections of ``n_cells`` cells: per-view
    dropout, coordinate jitter, score noise and false positives."""
    rng = np.random.default_rng(seed)
    ctr = rng.uniform(0, size, (n_cells, 2))
    wh = rng.uniform(15, 80, (n_cells, 2))
    gt = np.concatenate([ctr - wh / 2, ctr + wh / 2], axis=1)
    conf = rng.beta(5, 2, n_cells)
    boxes, scores, labels = [], [], []
    for _ in range(n_views):
        keep = rng.random(n_cells) < 0.9
        size_k = np.tile(gt[keep, 2:] - gt[keep, :2], 2)
        b = gt[keep] + rng.normal(0, 0.05, size_k.shape) * size_k
        s = np.clip(conf[keep] + rng.normal(0, 0.08, keep.sum()), 0.01, 1)
        n_fp = int(rng.integers(5, 15))
        fc = rng.uniform(0, size, (n_fp, 2))
        fwh = rng.uniform(10, 60, (n_fp, 2))
        b = np.concatenate(
            [b, np.concatenate([fc - fwh / 2, fc + fwh / 2], 1)])
        s = np.concatenate([s, rng.uniform(0.01, 0.4, n_fp)])
        boxes.append(np.clip(b / size, 0, 1).astype(np.float32))
        scores.append(s.astype(np.float32))
        labels.append(np.zeros(len(b), np.int64))
    return boxes, scores, labels
