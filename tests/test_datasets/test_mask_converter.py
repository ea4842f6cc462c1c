# Copyright (c) mmsissi contributors. All rights reserved.
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmsissi.datasets.mask_converter import (instance_map_to_boxes,
                                             masks_to_coco)


def _label_map():
    lab = np.zeros((64, 80), np.uint16)
    lab[5:15, 10:30] = 1  # x 10..29, y 5..14
    lab[40:64, 0:7] = 2  # touches the border
    lab[30, 50] = 300  # one pixel, large id
    return lab, {1: [10, 5, 20, 10], 2: [0, 40, 7, 24], 300: [50, 30, 1, 1]}


def test_instance_map_to_boxes():
    lab, want = _label_map()
    got = {i: b for i, b, _ in instance_map_to_boxes(lab)}
    assert got == want
    areas = {i: a for i, _, a in instance_map_to_boxes(lab)}
    assert areas == {1: 200, 2: 168, 300: 1}
    assert [i for i, _, _ in instance_map_to_boxes(lab, min_area=2)] == [1, 2]
    assert instance_map_to_boxes(np.zeros((4, 4), np.uint8)) == []


@pytest.mark.parametrize('layout', ['instances', 'cellpose'])
def test_round_trip_both_layouts(tmp_path, layout):
    lab, want = _label_map()
    img = np.random.default_rng(0).integers(0, 255, lab.shape, np.uint8)
    if layout == 'instances':
        (tmp_path / 'images').mkdir()
        (tmp_path / 'instances').mkdir()
        cv2.imwrite(str(tmp_path / 'images' / 'a.png'), img)
        cv2.imwrite(str(tmp_path / 'instances' / 'a.png'), lab)
    else:
        cv2.imwrite(str(tmp_path / 'a_img.png'), img)
        cv2.imwrite(str(tmp_path / 'a_masks.png'), lab)
    out = tmp_path / 'out.json'
    r = subprocess.run([
        sys.executable, 'tools/dataset_converters/masks2coco.py',
        str(tmp_path), '--out', str(out)
    ], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    coco = json.loads(out.read_text())
    assert coco['categories'] == [dict(id=1, name='cell')]
    assert {a['instance_label']: a['bbox']
            for a in coco['annotations']} == want
    fn = coco['images'][0]['file_name']
    assert cv2.imread(str(tmp_path / fn), 0).shape == lab.shape


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        masks_to_coco(str(tmp_path / 'nowhere'))
    with pytest.raises(ValueError, match='no image/mask|neither'):
        masks_to_coco(str(tmp_path))
    (tmp_path / 'b_masks.png').write_bytes(b'')
    with pytest.raises(FileNotFoundError, match='b_masks.png'):
        masks_to_coco(str(tmp_path))
    r = subprocess.run([
        sys.executable, 'tools/dataset_converters/masks2coco.py',
        str(tmp_path / 'x'), '--out', str(tmp_path / 'o.json')
    ], capture_output=True, text=True)
    assert r.returncode != 0 and 'x: no such folder' in r.stderr


def test_matches_shared_ground_truth(shared_data):
    root = shared_data / 'usiigaci_nih3t3_phc'
    coco = masks_to_coco(str(root))
    ref = json.load(open(root / 'annotations_bbox.json'))
    key = lambda d: sorted((i['file_name'], tuple(a['bbox']))  # noqa: E731
                           for i in d['images'] for a in d['annotations']
                           if a['image_id'] == i['id'])
    assert key(coco) == key(ref)
