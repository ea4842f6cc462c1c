# Copyright (c) mmsissi contributors. All rights reserved.
import csv
import json

import numpy as np
import pytest
import torch
from mmdet.registry import METRICS


def _samples(coco, jitter=0.0, drop=0.0, seed=0, score=None):
    """Predictions made from a COCO file's own boxes."""
    rng = np.random.default_rng(seed)
    out = []
    for img in coco['images']:
        boxes = np.array([a['bbox'] for a in coco['annotations']
                          if a['image_id'] == img['id']], dtype=np.float32)
        boxes = boxes.reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        keep = rng.random(len(boxes)) >= drop
        boxes = boxes[keep] + rng.normal(0, jitter, (keep.sum(), 4))
        scores = np.full(len(boxes), 0.9) if score is None else score(len(
            boxes), rng)
        out.append(
            dict(
                img_path=f'/anywhere/{img["file_name"]}',
                img_id=img['id'] + 1000,  # the test set numbers its own way
                pred_instances=dict(
                    bboxes=torch.as_tensor(boxes, dtype=torch.float32),
                    scores=torch.as_tensor(scores, dtype=torch.float32),
                    labels=torch.zeros(len(boxes), dtype=torch.long))))
    return out


def _metric(**kw):
    m = METRICS.build(dict(type='PerReaderCocoMetric', **kw))
    m.dataset_meta = dict(classes=('cell', ))
    return m


def test_two_readers_on_real_source_images(demo_data, tmp_path):
    fixed = demo_data / 'source' / 'annotations_bbox.json'
    orig = demo_data / 'source' / 'annotations_bbox_kaggle_original.json'
    m = _metric(
        readers=dict(fixed=str(fixed), original=str(orig)),
        outfile_prefix=str(tmp_path / 'res'))
    m.process({}, _samples(json.load(open(fixed))))
    res = m.evaluate(len(json.load(open(fixed))['images']))
    # predictions equal to the fixed reader: perfect for it
    for k in ('AP50', 'AP75', 'AP', 'AR'):
        assert res[f'coco/fixed/{k}'] == pytest.approx(1.0, abs=1e-4)
    # the original release differs in a few boxes: high, not perfect
    assert 0.8 < res['coco/original/AP50'] < 1.0
    assert res['coco/original/AR'] < 1.0
    assert res['coco/mean/AP50'] == pytest.approx(
        (res['coco/fixed/AP50'] + res['coco/original/AP50']) / 2, abs=1e-4)
    rows = list(csv.reader(open(tmp_path / 'res.per_reader.csv')))
    assert rows[0] == ['reader', 'AP50', 'AP75', 'AP', 'AR']
    assert [r[0] for r in rows[1:]] == ['fixed', 'original', 'mean']
    dets = json.load(open(tmp_path / 'res.bbox.json'))
    assert len(dets) == sum(
        1 for _ in json.load(open(fixed))['annotations'])


def _dense_reader(tmp_path, n=150):
    rng = np.random.default_rng(1)
    anns = []
    for k in range(n):
        x, y = (k % 15) * 40 + 2, (k // 15) * 40 + 2
        w, h = rng.integers(15, 30, 2)
        anns.append(dict(id=k + 1, image_id=7, category_id=3,
                         bbox=[int(x), int(y), int(w), int(h)],
                         area=int(w * h), iscrowd=0))
    coco = dict(images=[dict(id=7, file_name='dense.png', width=640,
                             height=640)],
                annotations=anns, categories=[dict(id=3, name='nucleus')])
    path = tmp_path / 'dense.json'
    path.write_text(json.dumps(coco))
    return coco, path


def test_no_truncation_at_100_detections(tmp_path):
    coco, path = _dense_reader(tmp_path)
    samples = _samples(coco, score=lambda n, rng: rng.random(n))
    m = _metric(readers=dict(r=str(path)))
    m.process({}, samples)
    res = m.evaluate(1)
    assert res['coco/r/AP'] == pytest.approx(1.0, abs=1e-4)
    assert res['coco/r/AR'] == pytest.approx(1.0, abs=1e-4)
    # pycocotools' and CocoMetric's default would cut at 100: 100/150
    m100 = _metric(readers=dict(r=str(path)), max_dets=100)
    m100.process({}, samples)
    assert m100.evaluate(1)['coco/r/AP'] == pytest.approx(100 / 150,
                                                          abs=0.02)


def test_reader_missing_a_test_image_is_a_clear_error(tmp_path):
    coco, path = _dense_reader(tmp_path)
    samples = _samples(coco)
    samples[0]['img_path'] = '/x/other.png'
    m = _metric(readers=dict(bob=str(path)))
    m.process({}, samples)
    with pytest.raises(ValueError, match=r"reader 'bob'.*dense.json.*"
                       r"other.png"):
        m.evaluate(1)


def test_missing_reader_file_and_empty_predictions(tmp_path):
    coco, path = _dense_reader(tmp_path)
    m = _metric(readers=dict(a=str(tmp_path / 'nope.json')))
    m.process({}, _samples(coco))
    with pytest.raises(FileNotFoundError, match='nope.json'):
        m.evaluate(1)
    m = _metric(readers=dict(a=str(path)))
    m.process({}, _samples(coco, drop=1.0))
    res = m.evaluate(1)
    assert res['coco/a/AP50'] == 0.0 and res['coco/a/AR'] == 0.0


def test_partial_predictions_numbers(tmp_path):
    coco, path = _dense_reader(tmp_path)
    m = _metric(readers=dict(a=str(path)))
    m.process({}, _samples(coco, drop=0.5, seed=3))
    res = m.evaluate(1)
    # half of the cells found, all correct: recall ~0.5, AP50 ~0.5
    assert 0.4 < res['coco/a/AR'] < 0.6
    assert 0.4 < res['coco/a/AP50'] < 0.6
