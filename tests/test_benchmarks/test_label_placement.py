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


def test_by_size_separates_small_from_large_cells(tmp_path, capsys):
    """Small cells labelled 20 % too wide, large ones 20 % too narrow: the
    overall median hides it, the size bins show both."""
    truth = write(tmp_path / 't.json', coco({
        'a.png': [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10],
                  [0, 40, 40, 80], [50, 40, 90, 80]]}))
    labels = write(tmp_path / 'l.json', coco({
        'a.png': [[0, 0, 12, 10], [20, 0, 32, 10], [40, 0, 52, 10],
                  [0, 40, 32, 80], [50, 40, 82, 80]]}))
    assert main([truth, labels, '--by-size', '20']) == 0
    out = capsys.readouterr().out.strip().splitlines()
    start = out.index('file,size_from,size_to,pairs,log_w,log_h')
    head = out[start].split(',')
    small, large = [dict(zip(head, ln.split(',')))
                    for ln in out[start + 1:]]
    assert float(out[1].split(',')[-2]) == pytest.approx(np.log(1.2),
                                                      abs=1e-4)
    assert (small['size_from'], small['size_to'], small['pairs']) == (
        '0', '20', '3')
    assert float(small['log_w']) == pytest.approx(np.log(1.2), abs=1e-4)
    assert (large['size_to'], large['pairs']) == ('inf', '2')
    assert float(large['log_w']) == pytest.approx(np.log(0.8), abs=1e-4)
    assert float(large['log_h']) == 0.0
