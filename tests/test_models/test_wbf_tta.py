# Copyright (c) mmsissi contributors. All rights reserved.
"""TTA views really change the network input and map back exactly."""
import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmdet.structures import DetDataSample
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from mmengine.config import Config

from mmsissi.models import WBFTTAModel
from tests.helpers.tiny import tta_views

BOXES = np.array([[20, 30, 60, 50], [100, 40, 130, 110], [150, 150, 190, 170],
                  [10, 160, 30, 190]], np.float32)  # xyxy, on a 240x200 image


class SquareDetector(BaseModel):
    """'Detects' bright rectangles in what it is given, and reports them in
    original-image pixels through ``scale_factor``, as mmdet's ``predict``
    with ``rescale=True`` does. Records every input shape it saw."""

    def __init__(self):
        super().__init__()
        self.seen = []
        self.calls = 0

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def test_step(self, data):
        self.calls += 1
        out = []
        for img, ds in zip(data['inputs'], data['data_samples']):
            self.seen.append(tuple(img.shape[-2:]))
            mask = (img[0].numpy() > 128).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            b = stats[1:, :4].astype(np.float32)
            b[:, 2:] += b[:, :2]
            sx, sy = ds.metainfo['scale_factor']
            b /= np.array([sx, sy, sx, sy], np.float32)
            res = DetDataSample(metainfo=ds.metainfo)
            res.pred_instances = InstanceData(
                bboxes=torch.from_numpy(b),
                scores=torch.full((len(b), ), 0.9),
                labels=torch.zeros(len(b), dtype=torch.long))
            out.append(res)
        return out


@pytest.fixture
def image_file(tmp_path):
    img = np.full((200, 240, 3), 40, np.uint8)
    for x1, y1, x2, y2 in BOXES.astype(int):
        img[y1:y2, x1:x2] = 220
    path = tmp_path / 'squares.png'
    cv2.imwrite(str(path), img)
    return str(path)


#: the 20-view TTA pipeline as the configs declare it
TTA = Config.fromfile(
    'configs/_base_/datasets/target_source_cells.py').tta_pipeline
FACTORS = (0.8, 0.9, 1.0, 1.1, 1.2)
FLIPS = ('none', 'horizontal', 'vertical', 'diagonal')


def _batch(path, scale_factors=FACTORS, flips=FLIPS):
    pipe = Compose(tta_views(TTA, scale_factors, flips, scale=(240, 200)))
    return pseudo_collate([pipe(dict(img_path=path, img_id=5))])


def test_twenty_views_really_resized(image_file):
    data = _batch(image_file)
    assert len(data['inputs']) == 20
    # the config's views are these: its scales are FACTORS x (512, 512)
    tta = next(t for t in TTA if t['type'] == 'TestTimeAug')
    assert [t['scale'] for t in tta['transforms'][0]] == [
        (round(512 * f), round(512 * f)) for f in FACTORS]
    assert len(tta['transforms'][1]) == len(FLIPS)
    det = SquareDetector()
    WBFTTAModel(module=det).test_step(data)
    shapes = sorted(set(det.seen))
    # five different input sizes, one per scale factor (not resized back)
    assert shapes == [(160, 192), (180, 216), (200, 240), (220, 264),
                      (240, 288)]
    assert det.calls == 20


@pytest.mark.parametrize('factor', [0.8, 0.9, 1.0, 1.1, 1.2])
@pytest.mark.parametrize('flip', ['none', 'horizontal', 'vertical',
                                  'diagonal'])
def test_each_view_maps_back(image_file, factor, flip):
    data = _batch(image_file, scale_factors=(factor, ), flips=(flip, ))
    tta = WBFTTAModel(module=SquareDetector())
    (res, ) = tta.test_step(data)
    got = res.pred_instances.bboxes.numpy()
    got = got[np.lexsort((got[:, 1], got[:, 0]))]
    want = BOXES[np.lexsort((BOXES[:, 1], BOXES[:, 0]))]
    # exact up to the resize's pixel rounding
    np.testing.assert_allclose(got, want, atol=1.0 / factor + 0.01)


def test_fusion_of_all_views_and_batching(image_file):
    data = _batch(image_file)
    one = WBFTTAModel(module=SquareDetector()).test_step(data)[0]
    det = SquareDetector()
    many = WBFTTAModel(module=det, views_per_batch=8).test_step(data)[0]
    assert det.calls == 3  # 20 views in batches of 8
    for res in (one, many):
        p = res.pred_instances
        assert len(p.bboxes) == 4
        # every view agrees: avg-score 0.9, rescaled by 20/20 views
        np.testing.assert_allclose(p.scores.numpy(), 0.9, atol=1e-5)
        got = p.bboxes.numpy()
        got = got[np.lexsort((got[:, 1], got[:, 0]))]
        want = BOXES[np.lexsort((BOXES[:, 1], BOXES[:, 0]))]
        np.testing.assert_allclose(got, want, atol=0.6)
    np.testing.assert_allclose(one.pred_instances.bboxes.numpy(),
                               many.pred_instances.bboxes.numpy(), atol=1e-4)


def test_score_threshold_and_no_detections(image_file):
    data = _batch(image_file, scale_factors=(1.0, ))
    res = WBFTTAModel(module=SquareDetector(),
                      tta_cfg=dict(score_thr=0.95)).test_step(data)[0]
    assert len(res.pred_instances.bboxes) == 0
    assert res.pred_instances.bboxes.shape == (0, 4)


def test_view_spread_measures_the_views_agreement():
    from mmsissi.models.wbf_tta import view_spread
    fused = np.array([[0, 0, 10, 10], [50, 50, 70, 60], [100, 100, 110, 110]],
                     np.float32)
    views = [np.array([[0, 0, 10, 10], [49, 50, 71, 60]], np.float32),
             np.array([[0, 0, 10, 10], [51, 50, 69, 60],
                       [100, 100, 110, 110]], np.float32)]
    s = view_spread(fused, views, 0.5)
    assert s[0] == 0  # every view drew the same box
    # x1, x2 scatter by +-1 px on a 20 px wide box; y agrees
    assert s[1] == pytest.approx((1 / 20 + 1 / 20) / 4)
    assert np.isinf(s[2])  # one view only
    assert view_spread(fused[:0], views, 0.5).shape == (0, )
    assert np.isinf(view_spread(fused, [np.zeros((0, 4))], 0.5)).all()


def test_view_spread_counts_views_not_boxes():
    from mmsissi.models.wbf_tta import view_spread
    fused = np.array([[0, 0, 10, 10]], np.float32)
    one_view_twice = [np.array([[0, 0, 10, 10], [0, 0, 11, 10]]),
                      np.zeros((0, 4))]
    assert np.isinf(view_spread(fused, one_view_twice, 0.5)[0])
