# Copyright (c) mmsissi contributors. All rights reserved.
"""benchmarks/oracle_labels.py: each label error corrected alone."""
import json
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from benchmarks import oracle_labels as ol  # noqa: E402
from benchmarks.noisy.branch import _quality  # noqa: E402
from mmsissi.weak_labels.boxes import coco_to_boxes  # noqa: E402

IMAGES = [dict(id=1, file_name='a.png', width=100, height=100),
          dict(id=2, file_name='sub/b.png', width=100, height=100)]
CATS = [dict(id=1, name='cell')]


def _coco(boxes, crowd=()):
    anns = [dict(id=i + 1, image_id=im, category_id=1, bbox=list(b),
                 area=b[2] * b[3], iscrowd=int(i in crowd))
            for i, (im, b) in enumerate(boxes)]
    return dict(images=IMAGES, annotations=anns, categories=CATS)


# truth: 3 cells on a.png, 1 on b.png
TRUTH = _coco([(1, (10, 10, 20, 20)), (1, (50, 50, 20, 20)),
               (1, (10, 60, 20, 20)), (2, (30, 30, 20, 20))])
# labels: cell 1 shifted by 2 px, cell 2 missed, cell 3 missed, one
# false box on a.png, b.png's cell exact, and an ignore region
LABELS = _coco([(1, (12, 12, 20, 20)), (1, (80, 5, 10, 10)),
                (2, (30, 30, 20, 20)), (1, (50, 50, 20, 20))], crowd=(3, ))


def _pr(coco):
    gt = coco_to_boxes(TRUTH, crowd=False)
    q = _quality(coco_to_boxes(coco, crowd=False),
                 coco_to_boxes(coco, crowd=True), gt)
    return q['precision'], q['recall'], q['precision75']


def test_each_correction_moves_only_its_error():
    assert _pr(LABELS) == pytest.approx((2 / 3, 2 / 4, 1 / 3))
    out, n = ol.oracle_labels(TRUTH, LABELS, remove_false=True)
    assert n == dict(removed=1, added=0, placed=0)
    assert _pr(out) == pytest.approx((1.0, 2 / 4, 1 / 2))
    out, n = ol.oracle_labels(TRUTH, LABELS, add_missed=True)
    # the ignore region (on cell 2) does not count as a label: cells 2, 3
    assert n == dict(removed=0, added=2, placed=0)
    assert _pr(out) == pytest.approx((4 / 5, 1.0, 3 / 5))
    assert len({a['id'] for a in out['annotations']}) == 6  # unique
    out, n = ol.oracle_labels(TRUTH, LABELS, fix_placement=True)
    assert n == dict(removed=0, added=0, placed=2)
    assert out['annotations'][0]['bbox'] == [10, 10, 20, 20]
    assert _pr(out) == pytest.approx((2 / 3, 2 / 4, 2 / 3))
    # the input is not changed, the ignore region is kept
    assert LABELS['annotations'][0]['bbox'] == [12, 12, 20, 20]
    assert sum(a['iscrowd'] for a in out['annotations']) == 1


def test_cli_writes_a_new_file_and_refuses_to_overwrite(tmp_path, capsys):
    truth, labels = tmp_path / 'truth.json', tmp_path / 'labels.json'
    truth.write_text(json.dumps(TRUTH))
    labels.write_text(json.dumps(LABELS))
    out = tmp_path / 'out.json'
    ol.main([str(truth), str(labels), str(out), '--remove-false',
             '--add-missed'])
    assert _pr(json.loads(out.read_text())) == pytest.approx((1, 1, 3 / 4))
    assert "'removed': 1, 'added': 2" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        ol.main([str(truth), str(labels), str(labels), '--add-missed'])
    assert json.loads(labels.read_text()) == LABELS


def test_an_image_missing_from_the_truth_names_both_files():
    other = dict(LABELS, images=IMAGES + [dict(id=3, file_name='c.png')])
    other['annotations'] = other['annotations'] + [dict(
        id=9, image_id=3, category_id=1, bbox=[1, 1, 5, 5], iscrowd=0)]
    with pytest.raises(ValueError, match=r"L\.json: image\(s\) \['c.png'\]"
                       r" not in T\.json"):
        ol.oracle_labels(TRUTH, other, remove_false=True,
                         paths=('T.json', 'L.json'))
