# Copyright (c) mmsissi contributors. All rights reserved.
"""benchmarks/label_support.py: support of initial boxes, finds of
candidates, against a hand-made truth."""
import json
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from benchmarks import label_support as ls  # noqa: E402
from mmsissi.weak_labels.boxes import coco_to_boxes  # noqa: E402

IMAGES = [dict(id=1, file_name='img/a.png', width=200, height=200)]


def _coco(boxes, scores=None):
    anns = []
    for i, b in enumerate(boxes):
        a = dict(id=i + 1, image_id=1, category_id=1, bbox=list(b),
                 area=b[2] * b[3], iscrowd=0)
        if scores is not None:
            a['score'] = scores[i]
        anns.append(a)
    return dict(images=IMAGES, annotations=anns,
                categories=[dict(id=1, name='cell')])


# truth: a small cell A (10 px), a large B (40 px), a small C (10 px)
TRUTH = _coco([(10, 10, 10, 10), (100, 100, 40, 40), (150, 10, 10, 10)])
# initial labels: A (true), one false box F; B and C missed
INITIAL = _coco([(10, 10, 10, 10), (60, 150, 20, 20)])
# candidates: on A (0.9), on B (0.6), on empty ground (0.3), none on F
CANDS = _coco([(11, 10, 10, 10), (101, 101, 40, 40), (60, 60, 20, 20)],
              scores=[0.9, 0.6, 0.3])


def _inputs(cands=CANDS):
    return coco_to_boxes(TRUTH), coco_to_boxes(INITIAL), ls.scored_boxes(cands)


def test_counts_at_any_score():
    c = ls.support_counts(*_inputs())
    assert (c['supported_true'], c['supported_false']) == (1, 0)
    assert (c['unsupported_true'], c['unsupported_false']) == (0, 1)
    # dropping F leaves A alone: P 1, R 1/3
    assert c['precision_after_drop'] == 1.0
    assert c['recall_after_drop'] == pytest.approx(1 / 3)
    assert (c['new'], c['new_true']) == (2, 1)
    assert (c['missed'], c['found']) == (2, 1)


def test_min_score_leaves_weak_candidates_out():
    c = ls.support_counts(*_inputs(), min_score=0.7)
    assert (c['new'], c['found']) == (0, 0)
    assert c['supported_true'] == 1
    c = ls.support_counts(*_inputs(), min_score=0.5)
    assert (c['new'], c['new_true'], c['found']) == (1, 1, 1)


def test_a_candidate_matching_an_initial_box_is_not_new():
    # a candidate on F supports it and is not counted as new
    cands = _coco([(60, 150, 20, 20)], scores=[0.8])
    c = ls.support_counts(*_inputs(cands))
    assert (c['supported_false'], c['unsupported_false']) == (1, 0)
    assert c['new'] == 0


def test_missed_by_size():
    rows = ls.missed_by_size(*_inputs(), edges=[20])
    # under 20 px: A and C, C missed and not found; over: B missed, found
    assert rows == [(0.0, 20.0, 2, 1, 0), (20.0, float('inf'), 1, 1, 1)]


def test_boxes_without_score_score_one():
    s = ls.scored_boxes(INITIAL)
    boxes, scores = s['a.png']
    assert boxes.shape == (2, 4) and scores.tolist() == [1.0, 1.0]
    assert boxes[1].tolist() == [60, 150, 80, 170]


def test_cli(tmp_path, capsys):
    paths = []
    for name, coco in (('t', TRUTH), ('i', INITIAL), ('c', CANDS)):
        paths.append(str(tmp_path / f'{name}.json'))
        json.dump(coco, open(paths[-1], 'w'))
    ls.main(paths + ['--min-score', '0', '0.5', '--by-size', '20'])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith('min_score,supported_true')
    assert lines[1].split(',')[:5] == ['0', '1', '0', '0', '1']
    assert lines[2].split(',')[-3:] == ['2', '1', '1']
    assert lines[3] == 'size_from,size_to,cells,missed,found'
    assert lines[4:] == ['0,20,2,1,0', '20,inf,1,1,1']
