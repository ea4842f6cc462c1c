# Copyright (c) mmsissi contributors. All rights reserved.
"""WBFTTAModel's fusion steps as the authors ran them: per-view score
threshold, WBF, fused score threshold, NMS after fusion, optional cap."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmsissi.models import WBFTTAModel, weighted_boxes_fusion

META = dict(ori_shape=(100, 100), img_shape=(100, 100), flip=False,
            flip_direction=None, scale_factor=(1.0, 1.0))


def _view(boxes, scores):
    ds = DetDataSample(metainfo=META)
    ds.pred_instances = InstanceData(
        bboxes=torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        scores=torch.as_tensor(scores, dtype=torch.float32),
        labels=torch.zeros(len(scores), dtype=torch.long))
    return ds


class _Model(torch.nn.Module):
    def test_step(self, data):  # never called: views are given
        raise NotImplementedError


def _merge(views, **cfg):
    """Merge fresh copies (merging writes into the first view)."""
    tta = WBFTTAModel(module=_Model(), tta_cfg=cfg)
    views = [_view(v.pred_instances.bboxes, v.pred_instances.scores)
             for v in views]
    pred = tta._merge_single_sample(views).pred_instances
    return pred.bboxes.numpy(), pred.scores.numpy()


A = [10, 10, 30, 30]
B = [14, 10, 34, 30]   # IoU with A = 16*20 / (24*20) = 0.667 (fused by WBF)
C = [20, 10, 40, 30]   # IoU with A = 10/30 = 0.33: apart at 0.5, NMS at 0.2
D = [60, 60, 80, 80]


def test_view_score_threshold():
    views = [_view([A, D], [0.9, 0.005]), _view([A, D], [0.9, 0.02])]
    b, _ = _merge(views, view_score_thr=None)
    assert len(b) == 2
    b, s = _merge(views, view_score_thr=0.01)
    assert len(b) == 2  # D survives in one view at 0.02 > 0.01
    # 'avg' divides the one-view D by the number of views
    assert s[1] == pytest.approx(0.01, abs=1e-6)
    b, _ = _merge(views, view_score_thr=0.05)
    assert len(b) == 1


def test_nms_after_fusion_and_skip():
    views = [_view([A, C], [0.9, 0.8]), _view([A, C], [0.9, 0.8])]
    b, s = _merge(views)  # no NMS: A and C stay apart (IoU 0.33 < 0.5)
    assert len(b) == 2
    b, s = _merge(views, nms_iou_thr=0.2)
    np.testing.assert_allclose(b, [A], atol=1e-4)
    assert s.tolist() == pytest.approx([0.9])
    b, _ = _merge(views, nms_iou_thr=0.5)
    assert len(b) == 2
    # skip_box_thr drops view boxes before fusion
    b, _ = _merge(views, skip_box_thr=0.85)
    np.testing.assert_allclose(b, [A], atol=1e-4)


def test_wbf_then_score_threshold_then_cap():
    views = [_view([A, B, D], [0.9, 0.2, 0.3]),
             _view([A, D], [0.7, 0.1])]
    # the fused boxes are exactly weighted_boxes_fusion's, in pixels
    wb, ws, _ = weighted_boxes_fusion(
        [np.array([A, B, D]) / 100, np.array([A, D]) / 100],
        [[0.9, 0.2, 0.3], [0.7, 0.1]], [[0, 0, 0], [0, 0]], iou_thr=0.5)
    b, s = _merge(views, max_per_img=None)
    order = np.argsort(-ws, kind='stable')
    np.testing.assert_allclose(b, wb[order] * 100, atol=1e-3)
    np.testing.assert_allclose(s, ws[order], atol=1e-6)
    b2, s2 = _merge(views, score_thr=0.3)
    assert (s2 >= 0.3).all() and len(b2) == (ws >= 0.3).sum()
    b3, _ = _merge(views, max_per_img=1)
    assert len(b3) == 1


def test_unknown_key_is_an_error():
    with pytest.raises(ValueError, match='nms_iou'):
        WBFTTAModel(module=_Model(), tta_cfg=dict(nms_iou=0.2))
