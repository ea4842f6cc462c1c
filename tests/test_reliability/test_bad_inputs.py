# Copyright (c) mmsissi contributors. All rights reserved.
"""Bad input gets a clear error naming the file, or a documented fallback,
and nothing already written is lost. Real files and real Runner runs."""
import json
import shutil

import cv2
import numpy as np
import pytest
import tifffile
from mmdet.registry import DATASETS, TRANSFORMS
from mmengine.runner import Runner

from mmsissi.fileio import ImageReadError
from tests.helpers.tiny import tiny_cfg


def _load(path):
    t = TRANSFORMS.build(dict(type='LoadCellImageFromFile'))
    return t(dict(img_path=str(path)))['img']


def test_loader_16bit_tiff_gray_rgba(tmp_path, demo_data):
    src = cv2.imread(str(demo_data / 'target/train/set01_0.png'), 0)
    # 12-bit data in a 16-bit TIFF: cv2's IMREAD_COLOR would make it black
    tifffile.imwrite(tmp_path / 'a.tif', (src.astype(np.uint16) * 16))
    img16 = _load(tmp_path / 'a.tif')
    assert img16.dtype == np.uint8 and img16.shape == src.shape + (3, )
    # contrast kept; cv2's IMREAD_COLOR keeps the high byte: nearly black
    crushed = cv2.imread(str(tmp_path / 'a.tif'), cv2.IMREAD_COLOR)
    assert img16.std() > 0.8 * src.std() > 5 * crushed.std()
    assert np.corrcoef(img16[..., 0].ravel(), src.ravel())[0, 1] > 0.99
    rgba = np.dstack([src, src, src, np.full_like(src, 255)])
    cv2.imwrite(str(tmp_path / 'b.png'), rgba)
    assert np.array_equal(_load(tmp_path / 'b.png'), np.dstack([src] * 3))
    cv2.imwrite(str(tmp_path / 'c.jpg'), src)
    assert _load(tmp_path / 'c.jpg').shape == src.shape + (3, )


def test_corrupt_image_error_names_file(tmp_path, demo_data):
    good = (demo_data / 'target/train/set01_0.png').read_bytes()
    (tmp_path / 'trunc.png').write_bytes(good[:len(good) // 3])
    (tmp_path / 'empty.png').write_bytes(b'')
    for name in ('trunc.png', 'empty.png', 'missing.png'):
        with pytest.raises(ImageReadError, match=name):
            _load(tmp_path / name)


def _weak_with_bad_boxes(demo_data, tmp_path):
    coco = json.load(open(demo_data / 'target' / 'train_weak.json'))
    ids = [i['id'] for i in coco['images']]
    # image 0: no weak box at all
    coco['annotations'] = [a for a in coco['annotations']
                           if a['image_id'] != ids[0]]
    rng = np.random.default_rng(0)
    nid = max(a['id'] for a in coco['annotations']) + 1
    extra = []
    # image 1: 1,000 boxes
    for k in range(1000):
        x, y = rng.integers(0, 480, 2)
        extra.append(dict(bbox=[int(x), int(y), 12, 12], image_id=ids[1]))
    # image 2: out of bounds, inverted, zero-area, outside, huge
    for b in ([-20, -20, 60, 60], [500, 500, 40, 40], [100, 100, -30, -30],
              [50, 50, 0, 10], [900, 900, 20, 20], [0, 0, 5000, 5000]):
        extra.append(dict(bbox=b, image_id=ids[2]))
    for e in extra:
        e.update(id=nid, category_id=1, iscrowd=0,
                 area=float(abs(e['bbox'][2] * e['bbox'][3])))
        nid += 1
    coco['annotations'] += extra
    path = tmp_path / 'weak_bad.json'
    path.write_text(json.dumps(coco))
    return path


@pytest.mark.slow
def test_odd_weak_boxes_train_and_relabel(tmp_path, demo_data):
    """Zero boxes, 1,000 boxes, out-of-bounds / inverted / zero-area boxes:
    training and a pseudo-label pass with synthesis run through."""
    weak = _weak_with_bad_boxes(demo_data, tmp_path)
    cfg = tiny_cfg(tmp_path / 'w', weak, epochs=2, hooks=[
        dict(type='PseudoLabelHook', start_epoch=1,
             tta_cfg=dict(score_thr=0.0),
             views=((1.0, ), ('none', )), synthesize='strong')
    ])
    Runner.from_cfg(cfg).train()
    assert (tmp_path / 'w' / 'epoch_2.pth').is_file()
    assert json.load(open(weak))  # the weak file is untouched and valid


@pytest.mark.slow
def test_empty_target_set_names_file(tmp_path, demo_data):
    coco = json.load(open(demo_data / 'target' / 'train_weak.json'))
    coco.update(images=[], annotations=[])
    empty = tmp_path / 'empty_target.json'
    empty.write_text(json.dumps(coco))
    cfg = tiny_cfg(tmp_path / 'e', empty, epochs=1)
    with pytest.raises(ValueError, match='empty_target.json'):
        Runner.from_cfg(cfg).train()


@pytest.mark.slow
def test_nan_loss_stops_with_clear_error(tmp_path, demo_data):
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json',
                   epochs=2)
    cfg.optim_wrapper.optimizer.lr = 1e12  # diverges within iterations
    cfg.optim_wrapper.pop('clip_grad', None)
    cfg.param_scheduler = []
    with pytest.raises(FloatingPointError, match=r'loss is (nan|inf)'):
        Runner.from_cfg(cfg).train()


def test_category_mismatch_between_target_and_source(tmp_path, demo_data):
    root = tmp_path / 'src'
    shutil.copytree(demo_data / 'source', root)
    with pytest.raises(ValueError, match=r'annotations_bbox.json.*nucleus'):
        DATASETS.build(
            dict(type='CellCocoDataset', data_root=str(root),
                 ann_file='annotations_bbox.json', data_prefix=dict(img=''),
                 pipeline=[]))
