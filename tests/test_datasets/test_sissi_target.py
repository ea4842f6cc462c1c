# Copyright (c) mmsissi contributors. All rights reserved.
"""SISSITargetDataset: its own (weak) labels until a label store is
attached and written, then the store's current labels, re-read when a new
version is written; ``sissi_synth`` follows the store."""
import json

import cv2
import numpy as np
import pytest
from mmdet.registry import DATASETS

from mmsissi.datasets import LabelStore, SISSITargetDataset

H, W = 40, 60


@pytest.fixture
def weak_set(tmp_path):
    """Two images, weak boxes on the first one only."""
    images = []
    for i, name in enumerate(('a.png', 'b.png'), start=1):
        cv2.imwrite(str(tmp_path / name), np.full((H, W), 100, np.uint8))
        images.append(dict(id=10 * i, file_name=name, height=H, width=W))
    coco = dict(images=images, categories=[dict(id=1, name='cell')],
                annotations=[dict(id=1, image_id=10, category_id=1,
                                  bbox=[2, 3, 10, 12], area=120,
                                  iscrowd=0)])
    ann = tmp_path / 'weak.json'
    ann.write_text(json.dumps(coco))
    return tmp_path, images


def _build(root, **kwargs):
    return DATASETS.build(
        dict(type='SISSITargetDataset', data_root=str(root),
             ann_file='weak.json', data_prefix=dict(img=''), pipeline=[],
             **kwargs))


def _boxes(ds, idx):
    return [i['bbox'] for i in ds.get_data_info(idx)['instances']]


def test_weak_labels_before_the_store(weak_set, tmp_path):
    root, _ = weak_set
    ds = _build(root)
    assert isinstance(ds, SISSITargetDataset) and ds.label_store is None
    assert _boxes(ds, 0) == [[2.0, 3.0, 12.0, 15.0]] and _boxes(ds, 1) == []
    assert ds.get_data_info(0)['sissi_synth'] is False
    # attached but nothing written yet: still the file's own labels
    store = ds.attach_label_store(str(tmp_path / 'labels'))
    assert isinstance(store, LabelStore) and ds.label_store is store
    assert _boxes(ds, 0) == [[2.0, 3.0, 12.0, 15.0]]
    assert ds.get_data_info(1)['sissi_synth'] is False


def test_serves_the_store_once_written(weak_set, tmp_path):
    root, images = weak_set
    ds = _build(root)
    store = ds.attach_label_store(str(tmp_path / 'labels'))
    store.write(3, images, {20: np.array([[5, 5, 20, 25], [50, 30, 70, 45]])},
                synthesize='strong')
    info = ds.get_data_info(1)
    # clipped to the image by the box rule; one class, nothing ignored
    assert [i['bbox'] for i in info['instances']] == [[5, 5, 20, 25],
                                                      [50, 30, 60, 40]]
    assert {(i['bbox_label'], i['ignore_flag'])
            for i in info['instances']} == {(0, 0)}
    assert info['sissi_synth'] == 'strong'
    assert _boxes(ds, 0) == []  # the store has no box for image 10
    # a new version is picked up by the next read
    store.write(4, images, {10: np.array([[1, 1, 9, 9]])}, synthesize=True)
    assert _boxes(ds, 0) == [[1, 1, 9, 9]] and _boxes(ds, 1) == []
    assert ds.get_data_info(0)['sissi_synth'] is True


def test_store_known_at_config_time(weak_set, tmp_path):
    root, images = weak_set
    LabelStore(str(tmp_path / 'labels')).write(
        1, images, {10: np.array([[0, 0, 30, 30]])})
    ds = _build(root, label_store=str(tmp_path / 'labels'))
    assert _boxes(ds, 0) == [[0, 0, 30, 30]]
    assert ds.get_data_info(0)['sissi_synth'] is False


def test_coco_images(weak_set, tmp_path):
    root, images = weak_set
    ds = _build(root)
    assert ds.coco_images() == images
    # unaffected by the store's labels
    store = ds.attach_label_store(str(tmp_path / 'labels'))
    store.write(1, images, {})
    assert ds.coco_images() == images
