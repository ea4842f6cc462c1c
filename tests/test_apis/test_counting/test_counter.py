# Copyright (c) mmsissi contributors. All rights reserved.
"""CellCounter and init_counter (mmsissi.apis.counting.counter): one pass
or tiles, the real (untrained) detector."""
import numpy as np
import pytest
import torch
from counting_helpers import BIG, CELLS, DEMO_CONFIG, FakeCounter

from mmsissi.apis import init_counter


def test_image_near_the_tile_size_takes_one_pass():
    counter = FakeCounter(np.array([[10, 10, 50, 50]], float),
                          tile_factor=4.0)
    det = counter(np.zeros((600, 640, 3), np.uint8))  # <= 1.25 * 512
    (windows, tiled), = counter.calls
    assert not tiled and windows.tolist() == [[0, 0, 640, 600]]
    assert det['windows'] is None and len(det['bboxes']) == 1
    counter = FakeCounter(CELLS, tile_factor=4.0, tile=False)
    counter(np.zeros(BIG + (3, ), np.uint8))
    assert not counter.calls[0][1]


@pytest.mark.slow  # runs a real (untrained) detector
def test_init_counter_cpu_scale(tiny_model):
    _, ckpt = tiny_model
    counter = init_counter(DEMO_CONFIG, ckpt, device='cpu', cpu_scale=True,
                           score_thr=0.01)
    assert counter.scale == (256, 256)
    assert counter.model.cfg.model.test_cfg.rcnn.score_thr == 0.01
    # demo crops (512 px) trained at 256 px: tiles of 512 px fed at 0.5x
    assert counter.tile_factor == pytest.approx(2.0)
    assert counter.tile_size == 512
    assert counter.class_names == ['cell']
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        init_counter(DEMO_CONFIG, ckpt + '.missing', device='cpu')


@pytest.mark.slow  # runs a real (untrained) detector
def test_single_pass_matches_the_test_pipeline(tiny_model, demo_data):
    """An image near the training size gets exactly what tools/test.py
    gives it: the config's own test pipeline, reading the file."""
    from mmcv.transforms import Compose
    from mmdet.utils import get_test_pipeline_cfg
    from mmengine.dataset import pseudo_collate

    from mmsissi.apis import read_detector_image
    cfg, ckpt = tiny_model
    counter = init_counter(cfg, ckpt, device='cpu', score_thr=0.0)
    pipe = Compose([
        t for t in get_test_pipeline_cfg(counter.cfg)
        if not t['type'].endswith('Annotations')
    ])
    path = str(sorted((demo_data / 'target' / 'test').glob('*.png'))[0])
    with torch.no_grad():
        ref = counter.model.test_step(
            pseudo_collate([pipe(dict(img_path=path, img_id=0))]))[0]
    ref = ref.pred_instances
    det = counter(read_detector_image(path))
    assert det['windows'] is None and len(det['bboxes']) == len(ref) > 0
    order = torch.argsort(ref.scores, descending=True, stable=True)
    np.testing.assert_allclose(det['bboxes'], ref.bboxes[order].numpy(),
                               atol=1e-4)
    np.testing.assert_allclose(det['scores'], ref.scores[order].numpy())
