# Copyright (c) mmsissi contributors. All rights reserved.
"""Degenerate boxes in the label store (zero width, zero height, inverted,
outside the image, non-finite) never reach the detector: a real short run
trains on them without a NaN loss, and exactly the sanitized boxes arrive."""
import json

import numpy as np
import pytest
from mmengine.runner import Runner

import tests.helpers.recorder  # noqa: F401  registers LabelRecorderHook
from mmsissi.structures import sanitize_boxes
from tests.helpers.tiny import SCALE, tiny_cfg

pytestmark = pytest.mark.slow


def _bad_boxes(w, h):
    """Per image: one good box and one of each kind of degenerate box."""
    return [
        [10, 10, 60, 50],                # good
        [30, 30, 30, 70],                # zero width
        [30, 30, 70, 30],                # zero height
        [80, 80, 40, 40],                # inverted (positive "area")
        [w + 5, h + 5, w + 60, h + 60],  # entirely outside
        [-40, -40, -5, -5],              # entirely outside (negative)
        [w - 0.4, 20, w + 50, 80],       # 0.4 px wide after clipping
        [w - 40, h - 40, w + 40, h + 40],  # straddles the corner: clipped
        [20, 20, 20.3, 90],              # 0.3 px wide
    ]


def _write_raw_store(store_dir, demo_data):
    """Write a label store by hand (as a user editing its files would, or
    an older version of the code): the writer's own rule is bypassed."""
    weak = json.load(open(demo_data / 'target' / 'train_manual.json'))
    anns = []
    for img in weak['images']:
        for x1, y1, x2, y2 in _bad_boxes(img['width'], img['height']):
            anns.append(dict(id=len(anns) + 1, image_id=img['id'],
                             category_id=1, bbox=[x1, y1, x2 - x1, y2 - y1],
                             area=abs((x2 - x1) * (y2 - y1)), iscrowd=0,
                             score=0.9))
    store_dir.mkdir()
    json.dump(dict(images=weak['images'], annotations=anns,
                   categories=[dict(id=1, name='cell')]),
              open(store_dir / 'epoch_1.json', 'w'))
    json.dump(dict(version=1, epoch=1, file='epoch_1.json',
                   synthesize='weak'), open(store_dir / 'index.json', 'w'))
    return weak['images']


def test_degenerate_store_boxes_train_without_nan(tmp_path, demo_data):
    images = _write_raw_store(tmp_path / 'labels', demo_data)
    cfg = tiny_cfg(
        tmp_path, demo_data / 'target' / 'train_manual.json', epochs=2,
        deterministic_pipeline=True,
        hooks=[
            # never relabels; attaches the store, so it serves the labels
            dict(type='PseudoLabelHook', start_epoch=1000),
            dict(type='LabelRecorderHook'),
        ])
    # no pipeline filter: the store itself must serve only valid boxes
    for d in cfg.train_dataloader.dataset.datasets:
        d.pipeline = [t for t in d.pipeline if t['type'] != 'SanitizeBoxes']
    Runner.from_cfg(cfg).train()  # InvalidLossHook raises on a NaN loss
    seen = json.load(open(tmp_path / 'seen_rank0.json'))
    by_id = {str(i['id']): i for i in images}
    for ep in ('1', '2'):
        assert len(seen[ep]) == len(images)
        for img_id, rec in seen[ep].items():
            img = by_id[img_id]
            want, keep = sanitize_boxes(
                _bad_boxes(img['width'], img['height']),
                (img['height'], img['width']))
            assert keep.sum() == 2  # the good box and the clipped corner
            got = np.asarray(rec['boxes']).reshape(-1, 4)
            # boxes went through Resize to SCALE and back: sub-pixel error
            np.testing.assert_allclose(
                got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])],
                atol=img['width'] / SCALE[0])
    assert (tmp_path / 'epoch_2.pth').is_file()
