# Copyright (c) mmsissi contributors. All rights reserved.
"""Shared box helpers (mmsissi.structures.box_ops): the one IoU and the one
grouping of COCO boxes by image, as the label store and the weak-label
evaluation use them."""
import numpy as np
import pytest

from mmsissi.datasets import LabelStore
from mmsissi.structures import box_iou, coco_boxes_by_image
from mmsissi.weak_labels import coco_to_boxes

COCO = dict(
    images=[dict(id=1, file_name='a/x.png', height=50, width=60),
            dict(id=2, file_name='b/y.png', height=50, width=60),
            dict(id=3, file_name='c/z.png', height=50, width=60)],
    annotations=[
        dict(id=1, image_id=2, bbox=[1, 2, 10, 20], score=0.5),
        dict(id=2, image_id=1, bbox=[0, 0, 5, 5]),
        dict(id=3, image_id=2, bbox=[50, 40, 20, 20], score=0.9),
        dict(id=4, image_id=7, bbox=[3, 3, 4, 4], score=0.7),  # no image
    ])


def test_box_iou():
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15]])
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 10]])
    iou = box_iou(a, b)
    assert iou.shape == (2, 3) and iou.dtype == np.float64
    np.testing.assert_allclose(iou, [[1, 0, 0.5], [25 / 175, 0, 0]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)
    assert box_iou([0, 0, 0, 0], [0, 0, 0, 0]).tolist() == [[0.0]]
    # one box against many, as tile merging uses it
    assert box_iou(a[1], b)[0].tolist() == pytest.approx([25 / 175, 0, 0])


def test_grouped_by_id_keeps_every_annotation():
    boxes, scores = coco_boxes_by_image(COCO)
    assert list(boxes) == [1, 2, 3, 7]
    assert boxes[2] == [[1, 2, 11, 22], [50, 40, 70, 60]]
    assert scores[2] == [0.5, 0.9] and scores[1] == [1.0]
    assert boxes[3] == [] and boxes[7] == [[3, 3, 7, 7]]


def test_grouped_by_key_skips_unknown_images():
    boxes, _ = coco_boxes_by_image(COCO, lambda im: im['file_name'][-5:])
    assert list(boxes) == ['x.png', 'y.png', 'z.png']
    assert boxes['y.png'] == [[1, 2, 11, 22], [50, 40, 70, 60]]


def test_callers():
    """The label store applies the box rule and keeps scores by id; the
    weak-label evaluation keys float64 arrays by file name."""
    boxes, scores, dropped = LabelStore.coco_to_boxes(COCO,
                                                      with_dropped=True)
    np.testing.assert_allclose(boxes[2], [[1, 2, 11, 22], [50, 40, 60, 50]])
    assert boxes[2].dtype == np.float32 and scores[2].dtype == np.float32
    np.testing.assert_allclose(scores[2], [0.5, 0.9])
    assert dropped == 0 and len(boxes[7]) == 1 and len(boxes[3]) == 0
    by_name = coco_to_boxes(COCO)
    assert list(by_name) == ['x.png', 'y.png', 'z.png']
    assert by_name['y.png'].dtype == np.float64
    assert by_name['y.png'].tolist() == [[1, 2, 11, 22], [50, 40, 70, 60]]
    assert coco_to_boxes(COCO, key='file_name')['c/z.png'].shape == (0, 4)
    assert coco_to_boxes({}) == {}
