# Copyright (c) mmsissi contributors. All rights reserved.
import json
import shutil

import pytest
from mmdet.registry import DATASETS


def _build(demo_data, ann, **kw):
    return DATASETS.build(
        dict(type='CellCocoDataset', data_root=str(demo_data / 'source'),
             ann_file=str(ann), data_prefix=dict(img=''),
             metainfo=dict(classes=('cell', )), pipeline=[], **kw))


def test_category_map_keeps_source_boxes(demo_data):
    ann = demo_data / 'source' / 'annotations_bbox.json'
    n_boxes = len(json.load(open(ann))['annotations'])
    ds = _build(demo_data, ann, category_map=dict(nucleus='cell'))
    assert len(ds) == 16
    got = sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds)))
    assert got == n_boxes
    assert {inst['bbox_label'] for i in range(len(ds))
            for inst in ds.get_data_info(i)['instances']} == {0}


def test_unmapped_category_is_a_clear_error(demo_data):
    ann = demo_data / 'source' / 'annotations_bbox.json'
    with pytest.raises(ValueError, match=r"annotations_bbox.json.*nucleus"):
        _build(demo_data, ann)
    ds = _build(demo_data, ann, ignore_unknown_categories=True)
    assert sum(len(ds.get_data_info(i)['instances'])
               for i in range(len(ds))) == 0
    with pytest.raises(ValueError, match='not among the classes'):
        _build(demo_data, ann, category_map=dict(nucleus='nuclei'))


def test_missing_image_file_named(demo_data, tmp_path):
    root = tmp_path / 'src'
    shutil.copytree(demo_data / 'source', root)
    coco = json.load(open(root / 'annotations_bbox.json'))
    gone = coco['images'][3]['file_name']
    (root / gone).unlink()
    with pytest.raises(FileNotFoundError, match=gone.split('/')[-1]):
        DATASETS.build(
            dict(type='CellCocoDataset', data_root=str(root),
                 ann_file='annotations_bbox.json', data_prefix=dict(img=''),
                 category_map=dict(nucleus='cell'), pipeline=[]))


def test_broken_annotation_file(tmp_path, demo_data):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": [')
    with pytest.raises(ValueError, match='bad.json'):
        _build(demo_data, bad)
