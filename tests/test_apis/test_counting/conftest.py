# Copyright (c) mmsissi contributors. All rights reserved.
"""Fixtures of the counting tests (helpers in ``counting_helpers``)."""
import cv2
import numpy as np
import pytest
import tifffile
import torch
from counting_helpers import big_image, demo_crop, tiny_cfg


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    """(config file, checkpoint) of an untrained ResNet-18 Faster R-CNN."""
    from mmdet.registry import MODELS
    work = tmp_path_factory.mktemp('count_model')
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = work / 'tiny.pth'
    torch.save(
        dict(state_dict=model.state_dict(),
             meta=dict(dataset_meta=dict(classes=('cell', )))), ckpt)
    cfg_path = work / 'tiny_cfg.py'
    cfg.dump(str(cfg_path))
    return str(cfg_path), str(ckpt)


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory, demo_data):
    """Mixed formats, one large image, one corrupt file, one non-image."""
    d = tmp_path_factory.mktemp('count_images')
    crop = demo_crop(demo_data, 0)
    cv2.imwrite(str(d / 'a_gray8.png'), crop)
    # 16-bit TIFF: the crop on a narrow 16-bit range
    tifffile.imwrite(str(d / 'b_16bit.tif'),
                     (crop.astype(np.uint16) * 16 + 3000))
    rgba = cv2.cvtColor(demo_crop(demo_data, 1), cv2.COLOR_GRAY2BGRA)
    rgba[..., 3] = 200
    cv2.imwrite(str(d / 'c_rgba.png'), rgba)
    cv2.imwrite(str(d / 'd_gray.jpg'), demo_crop(demo_data, 2))
    cv2.imwrite(str(d / 'e_large.png'), big_image(demo_data))
    (d / 'f_broken.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'garbage' * 20)
    (d / 'notes.txt').write_text('not an image')
    return d
