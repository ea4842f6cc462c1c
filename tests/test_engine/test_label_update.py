# Copyright (c) mmsissi contributors. All rights reserved.
"""PseudoLabelHook(update='merge'): the initial labels are kept every
round, unmatched confident fused boxes are added; refine and drop are
switchable. Unit tests of the rule and a real Runner run."""
import json

import numpy as np
import pytest
from mmengine.runner import Runner

from mmsissi.engine.hooks import PseudoLabelHook
from mmsissi.engine.hooks.label_update import check_merge_cfg, merge_labels
from mmsissi.structures import box_iou
from tests.helpers.tiny import tiny_cfg

INITIAL = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]],
                   np.float32)
FUSED = np.array([
    [1, 1, 11, 11],      # matches initial 0 (IoU 0.68)
    [21, 21, 33, 33],    # matches initial 1 (IoU 0.53)
    [80, 80, 90, 90],    # new cell, confident
    [100, 0, 110, 10],   # new, not confident
    [52, 40, 62, 50],    # touches initial 2 only (IoU 0): new, confident
], np.float32)
SCORES = np.array([0.9, 0.8, 0.7, 0.3, 0.6], np.float32)


def test_merge_keeps_initial_and_adds_confident_unmatched():
    boxes, scores, c, added = merge_labels(INITIAL, FUSED, SCORES)
    assert added.tolist() == [2, 4]
    np.testing.assert_array_equal(boxes[:3], INITIAL)  # untouched
    np.testing.assert_array_equal(boxes[3:], FUSED[[2, 4]])
    np.testing.assert_allclose(scores, [1, 1, 1, 0.7, 0.6])
    assert c == dict(kept=3, added=2, refined=0, dropped=0)
    # the threshold is >=
    _, _, c, _ = merge_labels(INITIAL, FUSED, SCORES, add_score=0.3)
    assert c['added'] == 3
    # a fused box matching at IoU >= match_iou is never added
    _, _, c, _ = merge_labels(INITIAL, FUSED, SCORES, match_iou=0.6)
    assert c['added'] == 3  # fused 1 (IoU 0.53) now counts as new


def test_merge_refine_and_drop():
    boxes, _, c, _ = merge_labels(INITIAL, FUSED, SCORES, refine=0.5)
    w = 0.5 * 0.9
    np.testing.assert_allclose(boxes[0], (1 - w) * INITIAL[0] + w * FUSED[0])
    np.testing.assert_allclose(boxes[2], INITIAL[2])  # unmatched: as is
    assert c['refined'] == 2
    boxes, scores, c, _ = merge_labels(INITIAL, FUSED, SCORES,
                                       drop_unsupported=True)
    assert c == dict(kept=2, added=2, refined=0, dropped=1)
    assert not (box_iou(boxes, INITIAL[2:]) > 0.99).any()
    # nothing fused: every initial box kept, or all dropped
    b, s, c, _ = merge_labels(INITIAL, np.zeros((0, 4)), np.zeros(0))
    assert len(b) == 3 and c['added'] == 0
    b, s, c, _ = merge_labels(INITIAL, np.zeros((0, 4)), np.zeros(0),
                              drop_unsupported=True)
    assert len(b) == 0 and c['dropped'] == 3
    # no initial label: confident fused boxes only
    b, s, c, _ = merge_labels(np.zeros((0, 4)), FUSED, SCORES)
    np.testing.assert_array_equal(b, FUSED[SCORES >= 0.5])


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match='unknown key'):
        check_merge_cfg(dict(match=0.5))
    with pytest.raises(ValueError, match='add_score'):
        check_merge_cfg(dict(add_score=1.5))
    with pytest.raises(ValueError, match='update must be one of'):
        PseudoLabelHook(dataloader={}, update='average')


@pytest.mark.slow
def test_merge_in_a_real_run(tmp_path, demo_data):
    """Relabelling from epoch 2 with 'merge': the epoch-3 labels are the
    initial boxes, unchanged, plus fused boxes overlapping none of them."""
    initial = demo_data / 'target' / 'train_manual.json'
    cfg = tiny_cfg(tmp_path, initial, epochs=3, hooks=[dict(
        type='PseudoLabelHook', start_epoch=2, update='merge',
        merge_cfg=dict(add_score=0.0),  # an untrained model scores low
        views=((1.0, ), ('none', 'vertical')),  # 2 views: seconds
        tta_cfg=dict(score_thr=0.0, skip_box_thr=0.0, nms_iou_thr=None))])
    Runner.from_cfg(cfg).train()
    weak = json.load(open(initial))
    got = json.load(open(tmp_path / 'labels' / 'epoch_3.json'))

    def by_image(coco):
        out = {i['id']: [] for i in coco['images']}
        for a in coco['annotations']:
            x, y, w, h = a['bbox']
            out[a['image_id']].append(([x, y, x + w, y + h],
                                       a.get('score', 1.0)))
        return out
    w, g = by_image(weak), by_image(got)
    added = 0
    for k, boxes in w.items():
        ini = np.array([b for b, _ in boxes], np.float32).reshape(-1, 4)
        new = np.array([b for b, _ in g[k]], np.float32).reshape(-1, 4)
        np.testing.assert_allclose(new[:len(ini)], ini, atol=0.01)
        extra = new[len(ini):]
        added += len(extra)
        if len(ini) and len(extra):
            assert (box_iou(extra, ini) < 0.4).all()
    assert added > 0
    log = open(next(tmp_path.glob('*/*.log'))).read()
    assert 'merge: ' in log and f'{added} added' in log


def _cells(n, rng, size=20.0):
    xy = rng.uniform(0, 400, (n, 2)).astype(np.float32)
    return np.concatenate([xy, xy + size], 1)


def test_calibrate_removes_the_detectors_size_bias():
    """Fused boxes 10 % too small in width and 20 % in height around
    jittered but unbiased initial boxes: the bias is measured on the
    matched pairs and removed from refined and added boxes alike."""
    from mmsissi.engine.hooks.label_update import (merge_all,
                                                   rescale_boxes, size_bias)
    rng = np.random.default_rng(0)
    truth = {k: _cells(12, rng) for k in range(4)}
    initial = {k: rescale_boxes(b[:8], *rng.normal(0, 0.05, 2))
               for k, b in truth.items()}  # 4 cells per image missing
    fused = {k: rescale_boxes(b, np.log(0.9), np.log(0.8))
             for k, b in truth.items()}
    scores = {k: np.full(len(b), 0.9, np.float32) for k, b in fused.items()}
    log_w, log_h, n = size_bias(initial, fused)
    assert n >= 30
    assert abs(log_w - np.log(0.9)) < 0.03
    assert abs(log_h - np.log(0.8)) < 0.03
    cfg = check_merge_cfg(dict(add_score=0.5, calibrate=True))
    boxes, _, fixed, new, text = merge_all(initial, fused, scores, cfg)
    assert 'size bias' in text
    for k in truth:
        added = boxes[k][fixed[k]:]
        assert len(added) >= 1
        wh = added[:, 2:] - added[:, :2]
        np.testing.assert_allclose(wh.mean(0), [20, 20], rtol=0.05)
    # off: the added boxes keep the detector's sizes
    cfg = check_merge_cfg(dict(add_score=0.5))
    boxes, _, fixed, _, text = merge_all(initial, fused, scores, cfg)
    wh = boxes[0][fixed[0]:, 2:] - boxes[0][fixed[0]:, :2]
    np.testing.assert_allclose(wh.mean(0), [18, 16], rtol=1e-4)
    assert 'size bias' not in text
    # too few pairs to measure: no correction
    assert size_bias({0: initial[0][:3]}, {0: fused[0]})[:2] == (0.0, 0.0)


def test_calibrate_by_size_undoes_a_regression_to_the_mean():
    """A detector that regresses sizes to the mean (log size shrunk by 0.6
    towards log 20 px: 10 px cells come out 13 px, 40 px ones 30 px): the
    median calibration leaves both ends wrong, the size curve puts the
    added boxes back at their true sizes at either end."""
    from mmsissi.engine.hooks.label_update import (merge_all,
                                                   rescale_boxes, size_curve)
    rng = np.random.default_rng(1)
    truth, fused, initial = {}, {}, {}
    for k in range(6):
        side = np.exp(rng.uniform(np.log(10), np.log(40), 30))
        xy = np.stack([np.arange(30) % 6 * 70.0, np.arange(30) // 6 * 70.0],
                      1) + 5
        truth[k] = np.concatenate([xy, xy + side[:, None]], 1)
        shrink = 0.6 * np.log(side) + 0.4 * np.log(20.0) - np.log(side)
        fused[k] = rescale_boxes(truth[k], shrink, shrink)
        initial[k] = rescale_boxes(truth[k][:20], *rng.normal(0, 0.05, 2))
    scores = {k: np.full(30, 0.9, np.float32) for k in fused}
    knots, bias, n = size_curve(initial, fused)
    assert n == 120 and len(knots) == 6 and np.all(np.diff(knots) > 0)
    assert bias[0, 0] > 0.1 and bias[-1, 0] < -0.1  # small up, large down

    def added_error(how):
        cfg = check_merge_cfg(dict(add_score=0.5, calibrate=how))
        boxes, _, fixed, _, text = merge_all(initial, fused, scores, cfg)
        err = []
        for k in truth:
            got = boxes[k][fixed[k]:]
            want = truth[k][20:]
            err.append(np.log((got[:, 2] - got[:, 0]) /
                              (want[:, 2] - want[:, 0])))
        return np.abs(np.concatenate(err)), text

    err, text = added_error('size')
    assert 'by size' in text
    assert np.median(err) < 0.03 and err.max() < 0.15
    err_median, _ = added_error('median')
    assert err_median.max() > 0.25  # one scale cannot fix both ends
    assert added_error(True)[0].max() == err_median.max()


def test_calibrate_rejects_an_unknown_method():
    with pytest.raises(ValueError, match='calibrate'):
        check_merge_cfg(dict(calibrate='mean'))
