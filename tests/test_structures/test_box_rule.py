# Copyright (c) mmsissi contributors. All rights reserved.
"""The one box rule (clip to the image, >= 1 px) and every path applying
it: the label store (writing and serving), the datasets' annotation files,
the weak-label pipeline and the training pipeline (SanitizeBoxes)."""
import json

import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes

from mmsissi.datasets import CellCocoDataset, LabelStore
from mmsissi.datasets.transforms import SanitizeBoxes
from mmsissi.structures import sanitize_boxes

H, W = 100, 120
BAD = [
    [10, 10, 60, 50],      # good
    [30, 30, 30, 70],      # zero width
    [30, 30, 70, 30],      # zero height
    [80, 80, 40, 40],      # inverted
    [130, 10, 150, 40],    # right of the image
    [-40, -40, -5, -5],    # above-left of the image
    [119.5, 20, 150, 80],  # 0.5 px wide after clipping
    [90, 70, 160, 140],    # straddles the corner: clipped to [90,70,120,100]
    [np.nan, 0, 10, 10],   # non-finite
    [20, 20, 20.3, 90],    # 0.3 px wide
]
WANT = np.array([[10, 10, 60, 50], [90, 70, 120, 100]], np.float32)


def test_rule():
    kept, keep = sanitize_boxes(BAD, (H, W))
    np.testing.assert_array_equal(kept, WANT)
    assert keep.tolist() == [True] + [False] * 6 + [True] + [False] * 2
    # exactly 1 px is kept, just under is not; no image size: no clipping
    kept, keep = sanitize_boxes([[0, 0, 1, 1], [0, 0, 0.99, 5],
                                 [-5, -5, 500, 500]])
    assert keep.tolist() == [True, False, True]
    np.testing.assert_array_equal(kept[1], [-5, -5, 500, 500])
    assert sanitize_boxes(np.zeros((0, 4)), (H, W))[0].shape == (0, 4)
    # a larger minimum
    assert sanitize_boxes([[0, 0, 3, 3]], (H, W), min_size=4)[1].sum() == 0


def test_label_store_writes_and_serves_only_valid_boxes(tmp_path):
    store = LabelStore(str(tmp_path))
    images = [dict(id=1, file_name='a.png', height=H, width=W)]
    store.write(1, images, {1: np.array(BAD, np.float32)},
                {1: np.arange(len(BAD), dtype=np.float32)})
    coco = json.load(open(tmp_path / 'epoch_1.json'))
    assert [a['bbox'] for a in coco['annotations']] == [
        [10, 10, 50, 40], [90, 70, 30, 30]]
    # the scores follow their boxes
    assert [a['score'] for a in coco['annotations']] == [0.0, 7.0]
    assert json.load(open(tmp_path / 'index.json'))['dropped'] == 8
    assert store.refresh() and store.dropped == 8
    np.testing.assert_array_equal(store.boxes(1), WANT)

    # a hand-edited (or older) file with degenerate boxes is served clean
    anns = [dict(id=k + 1, image_id=1, category_id=1,
                 bbox=[x1, y1, x2 - x1, y2 - y1], score=0.5)
            for k, (x1, y1, x2, y2) in enumerate(BAD)]
    (tmp_path / 'epoch_1.json').write_text(json.dumps(
        dict(images=images, annotations=anns, categories=[])))
    (tmp_path / 'index.json').write_text(json.dumps(
        dict(version=2, epoch=1, file='epoch_1.json')))
    reader = LabelStore(str(tmp_path))
    assert reader.refresh()
    np.testing.assert_array_equal(reader.boxes(1), WANT)
    assert reader.dropped == 8


def test_dataset_drops_and_clips_weak_boxes(tmp_path, demo_data):
    src = json.load(open(demo_data / 'target' / 'train_manual.json'))
    img = src['images'][0]
    h, w = img['height'], img['width']
    bad = [[10, 10, 60, 50], [30, 30, 30, 70], [80, 80, 40, 40],
           [w - 0.5, 20, w + 50, 80], [w - 30, h - 30, w + 30, h + 30]]
    ann = dict(images=[img], categories=src['categories'], annotations=[
        dict(id=k + 1, image_id=img['id'], category_id=1,
             bbox=[x1, y1, x2 - x1, y2 - y1],
             area=abs((x2 - x1) * (y2 - y1)), iscrowd=0)
        for k, (x1, y1, x2, y2) in enumerate(bad)])
    path = tmp_path / 'weak.json'
    path.write_text(json.dumps(ann))
    ds = CellCocoDataset(
        ann_file=str(path), data_prefix=dict(img=str(demo_data / 'target')
                                             + '/'),
        filter_cfg=dict(filter_empty_gt=False), pipeline=[])
    got = [i['bbox'] for i in ds.get_data_info(0)['instances']]
    assert got == [[10, 10, 60, 50], [w - 30, h - 30, w, h]]
    assert ds.num_dropped_boxes == 3


@pytest.mark.parametrize('boxes_type', ['hbox', 'numpy'])
def test_sanitize_boxes_transform(boxes_type):
    gt = np.array(BAD, np.float32)
    results = dict(
        img_shape=(H, W),
        gt_bboxes=HorizontalBoxes(torch.as_tensor(gt))
        if boxes_type == 'hbox' else gt,
        gt_bboxes_labels=np.arange(len(BAD)),
        gt_ignore_flags=np.zeros(len(BAD), bool))
    out = SanitizeBoxes()(results)
    b = out['gt_bboxes']
    b = b.tensor.numpy() if boxes_type == 'hbox' else b
    np.testing.assert_array_equal(b, WANT)
    assert out['gt_bboxes_labels'].tolist() == [0, 7]
    assert out['gt_ignore_flags'].tolist() == [False, False]
    assert out['num_dropped_boxes'] == 8
    assert SanitizeBoxes()(dict(img_shape=(H, W)))['num_dropped_boxes'] == 0


def test_weak_labels_obey_the_rule(monkeypatch):
    """Boxes a detector returns outside the image or sub-pixel never reach
    the weak-label file."""
    from mmsissi.weak_labels import pipeline
    per_method = {'watershed': (np.array(BAD[:8], np.float32),
                                np.linspace(1, 0.2, 8).astype(np.float32))}
    monkeypatch.setattr(pipeline, '_run_methods', lambda img, p: per_method)
    boxes, scores, names = pipeline.detect_boxes(np.zeros((H, W)))
    assert len(boxes) == 2
    np.testing.assert_allclose(sorted(boxes.tolist()), WANT.tolist())
