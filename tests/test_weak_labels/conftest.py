# Copyright (c) mmsissi contributors. All rights reserved.
"""Fixtures of the weak-label tests (helpers in ``weak_label_helpers``)."""
import json

import cv2
import pytest
from weak_label_helpers import make_cells_image


@pytest.fixture(scope='session')
def cells_image():
    """(uint8 image, xyxy boxes, is_ring mask) of :func:`make_cells_image`."""
    return make_cells_image()


@pytest.fixture
def image_folder(tmp_path):
    """A folder ``tmp/data/images`` with three synthetic PNGs and a COCO GT
    json ``tmp/data/gt.json`` (file names ``images/cellsN.png``)."""
    data = tmp_path / 'data'
    images = data / 'images'
    images.mkdir(parents=True)
    coco = dict(images=[], annotations=[], categories=[dict(id=1,
                                                            name='cell')])
    for i in range(3):
        img, boxes, _ = make_cells_image(seed=i)
        name = f'cells{i}.png'
        cv2.imwrite(str(images / name), img)
        coco['images'].append(
            dict(
                id=i + 1,
                file_name=f'images/{name}',
                height=img.shape[0],
                width=img.shape[1]))
        for b in boxes:
            coco['annotations'].append(
                dict(
                    id=len(coco['annotations']) + 1,
                    image_id=i + 1,
                    category_id=1,
                    bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    area=(b[2] - b[0]) * (b[3] - b[1]),
                    iscrowd=0))
    (data / 'gt.json').write_text(json.dumps(coco))
    return data
