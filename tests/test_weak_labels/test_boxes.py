# Copyright (c) mmsissi contributors. All rights reserved.
"""Weak-label box utilities (mmsissi.weak_labels.boxes): evaluation,
matching and de-duplication."""
import numpy as np
import pytest

from mmsissi.weak_labels import dedupe_boxes, evaluate_boxes, match_boxes


def test_evaluate_boxes_hand_made():
    gt = {
        'a.png': np.array([[0, 0, 10, 10], [20, 20, 30, 30],
                           [50, 50, 60, 60]]),
        'b.png': np.zeros((0, 4)),
        'c.png': np.array([[0, 0, 5, 5]]),  # not predicted: not evaluated
    }
    pred = {
        'a.png':
        np.array([
            [0, 0, 10, 10],  # TP (IoU 1)
            [1, 1, 11, 11],  # duplicate of the same cell: FP
            [20, 20, 30, 32],  # TP (IoU 0.83)
            [100, 100, 110, 110],  # FP
        ]),
        'b.png':
        np.array([[0, 0, 5, 5, 0.9]]),  # FP; the score column is ignored
    }
    m = evaluate_boxes(pred, gt, iou_thr=0.5)
    assert (m['tp'], m['fp'], m['fn']) == (2, 3, 1)
    assert (m['num_pred'], m['num_gt'], m['num_images']) == (5, 3, 2)
    assert m['precision'] == pytest.approx(0.4)
    assert m['recall'] == pytest.approx(2 / 3)
    assert m['f1'] == pytest.approx(0.5)
    a = m['per_image']['a.png']
    assert (a['tp'], a['fp'], a['fn']) == (2, 2, 1)
    assert a['precision'] == pytest.approx(0.5)
    b = m['per_image']['b.png']
    assert (b['precision'], b['recall'], b['f1']) == (0.0, 0.0, 0.0)
    # a stricter threshold loses the 0.83 match
    assert evaluate_boxes(pred, gt, iou_thr=0.9)['tp'] == 1
    # nothing at all
    empty = evaluate_boxes({}, gt)
    assert empty['precision'] == 0 and empty['num_images'] == 0


def test_matching_is_greedy_by_iou_and_one_to_one():
    gt = np.array([[0, 0, 10, 10], [3, 0, 13, 10]], float)
    pred = np.array([[2, 0, 12, 10], [3, 0, 13, 10]], float)
    # pred0 overlaps both (IoU 0.67 / 0.82), pred1 matches gt1 exactly
    matches = match_boxes(pred, gt, 0.5)
    assert sorted((i, j) for i, j, _ in matches) == [(0, 0), (1, 1)]
    assert matches[0][2] == pytest.approx(1.0)


def test_dedupe_boxes():
    boxes = np.array([
        [0, 0, 10, 10],
        [1, 1, 11, 11],  # IoU 0.68 with box 0
        [30, 30, 50, 50],
        [33, 33, 45, 45],  # inside box 2, IoU 0.36
        [0, 60, 40, 100],
        [5, 65, 12, 72],  # inside box 4 but tiny (IoU 0.03): another cell
    ], float)
    scores = np.array([0.5, 0.9, 0.8, 0.7, 0.6, 0.6])
    keep = dedupe_boxes(boxes, scores, 0.5)
    assert sorted(keep.tolist()) == [1, 2, 3, 4, 5]
    assert keep[0] == 1  # highest score first
    keep = dedupe_boxes(boxes, scores, 0.5, contain_thr=0.9,
                        contain_min_iou=0.2)
    assert sorted(keep.tolist()) == [1, 2, 4, 5]
    assert len(dedupe_boxes(np.zeros((0, 4)), np.zeros(0))) == 0
