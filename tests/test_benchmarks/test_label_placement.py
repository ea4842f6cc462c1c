# Copyright (c) mmsissi contributors. All rights reserved.
"""``benchmarks/label_placement.py``: count and placement of label files
or detections against a truth file."""
import json

import numpy as np
import pytest

from benchmarks.label_placement import main
from tests.helpers.noisy_bench import coco, write


def _rows(capsys):
    lines = capsys.readouterr().out.strip().splitlines()
    head = lines[0].split(',')
    return [dict(zip(head, ln.split(','))) for ln in lines[1:]]


def test_labels_and_detections_are_placed_against_the_truth(tmp_path,
                                                            capsys):
    truth = write(tmp_path / 't.json', coco({
        'a.png': [[0, 0, 10, 10], [20, 20, 30, 30]],
        'b.png': [[5, 5, 25, 25]]}))
    # a: one box 20 % too wide (IoU 0.83), one miss; b: one at IoU ~0.6
    labels = write(tmp_path / 'l.json', coco({
        'a.png': [[0, 0, 12, 10]], 'b.png': [[5, 5, 25, 18]]}))
    names = {i['file_name']: i['id'] for i in
             json.load(open(truth))['images']}
    dets = [dict(image_id=names['images/a.png'], bbox=[0, 0, 12, 10],
                 score=0.9, category_id=1),
            dict(image_id=names['images/b.png'], bbox=[50, 50, 5, 5],
                 score=0.3, category_id=1)]  # below --min-score
    dets_file = write(tmp_path / 'd.bbox.json', dets)
    assert main([truth, labels, dets_file]) == 0
    lab, det = _rows(capsys)
    assert lab['num_boxes'] == '2' and det['num_boxes'] == '1'
    assert float(lab['precision']) == 1.0
    assert float(lab['recall']) == pytest.approx(2 / 3, abs=1e-4)
    assert float(lab['recall75']) == pytest.approx(1 / 3, abs=1e-4)
    # median over the two matches: width +log 1.2 and 0, height 0 and
    # log 0.65
    assert float(lab['log_w']) == pytest.approx(np.log(1.2) / 2, abs=1e-4)
    assert float(lab['log_h']) == pytest.approx(np.log(0.65) / 2, abs=1e-4)
    assert float(det['precision']) == 1.0
    assert float(det['log_w']) == pytest.approx(np.log(1.2), abs=1e-4)
