# Copyright (c) mmsissi contributors. All rights reserved.
"""MissingLabelCrossEntropyLoss: confident background samples get no
gradient, everything else is mmdet's CrossEntropyLoss."""
import pytest
import torch
from mmdet.models.losses import CrossEntropyLoss
from mmdet.registry import MODELS

import mmsissi  # noqa: F401  (registers the loss)
from mmsissi.models.losses import (MissingLabelCrossEntropyLoss,
                                   confident_background)


def _softmax_batch():
    # (cell logit, background logit); label 0 = cell, 1 = background
    score = torch.tensor([[3.0, -3.0],    # cell, confident: positive
                          [3.0, -3.0],    # background, scored as a cell
                          [-3.0, 3.0],    # background, scored background
                          [0.1, 0.0]],    # background, unsure (p 0.52)
                         requires_grad=True)
    label = torch.tensor([0, 1, 1, 1])
    return score, label


def test_softmax_ignores_only_confident_background():
    score, label = _softmax_batch()
    loss = MissingLabelCrossEntropyLoss(ignore_thr=0.6)
    value = loss(score, label, avg_factor=4.0)
    value.backward()
    grad = score.grad.abs().sum(dim=1)
    assert grad[1] == 0  # the unlabelled cell is not pushed down
    assert (grad[[0, 2, 3]] > 0).all()
    assert loss.last_ignored == 1
    # the same as the plain loss with that sample's weight 0, same avg
    plain = CrossEntropyLoss()(score.detach(), label,
                               torch.tensor([1., 0., 1., 1.]),
                               avg_factor=4.0)
    assert value.item() == pytest.approx(plain.item())


def test_a_positive_is_never_ignored_and_a_given_weight_is_kept():
    score, label = _softmax_batch()
    weight = torch.tensor([1., 1., 0., 1.])
    loss = MissingLabelCrossEntropyLoss(ignore_thr=0.5)
    value = loss(score, label, weight, avg_factor=4.0)
    # ignored: 1 (confident) and 3 (p 0.52 >= 0.5); 2 had weight 0 already
    plain = CrossEntropyLoss()(score.detach(), label,
                               torch.tensor([1., 0., 0., 0.]),
                               avg_factor=4.0)
    assert value.item() == pytest.approx(plain.item())
    assert plain.item() > 0
    # counted: the samples the loss took out, not those of weight 0 already
    assert loss.last_ignored == 2


def test_eval_mode_is_the_plain_loss_and_weights_must_match_labels():
    # a validation loss (ValLossStartHook, model in eval mode) stays the
    # plain one, comparable with the Supervised row's
    score, label = _softmax_batch()
    loss = MissingLabelCrossEntropyLoss(ignore_thr=0.6).eval()
    assert loss(score, label).item() == pytest.approx(
        CrossEntropyLoss()(score, label).item())
    assert loss.last_ignored == 0
    with pytest.raises(ValueError, match='shape of label'):
        loss.train()(score, label, torch.ones(4, 2))


def test_sigmoid_rpn_style():
    # RPN: one sigmoid logit per anchor, label 0 = cell, 1 = background
    score = torch.tensor([[4.0], [4.0], [-4.0]], requires_grad=True)
    label = torch.tensor([0, 1, 1])
    drop = confident_background(score, label, use_sigmoid=True, thr=0.9)
    assert drop.tolist() == [False, True, False]
    loss = MissingLabelCrossEntropyLoss(use_sigmoid=True, ignore_thr=0.9)
    loss(score, label, torch.ones(3), avg_factor=3.0).backward()
    assert score.grad[1].abs().item() == 0
    assert score.grad[0].abs().item() > 0 and score.grad[2].abs().item() > 0


def test_threshold_one_is_the_plain_loss():
    score, label = _softmax_batch()
    loss = MODELS.build(dict(type='MissingLabelCrossEntropyLoss',
                             ignore_thr=1.0, loss_weight=2.0))
    plain = CrossEntropyLoss(loss_weight=2.0)
    assert loss(score, label).item() == pytest.approx(
        plain(score, label).item())
    assert loss.use_sigmoid is False


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match='ignore_thr'):
        MissingLabelCrossEntropyLoss(ignore_thr=0.0)
    with pytest.raises(ValueError, match='use_mask'):
        MissingLabelCrossEntropyLoss(use_mask=True)


def test_in_faster_rcnn_heads():
    """Both heads of the project's Faster R-CNN take it: a loss step on a
    real (random-init) detector back-propagates, and the RPN head's loss
    is the one that ignores (at a threshold near 0, every background
    anchor)."""
    from mmengine.config import Config
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    cfg = Config.fromfile('configs/_base_/models/faster-rcnn_r50_fpn_cell.py')
    m = cfg.model
    m.backbone.update(depth=18, init_cfg=None)
    m.neck.in_channels = [64, 128, 256, 512]
    m.rpn_head.loss_cls = dict(type='MissingLabelCrossEntropyLoss',
                               use_sigmoid=True, ignore_thr=1e-6)
    m.roi_head.bbox_head.loss_cls = dict(type='MissingLabelCrossEntropyLoss',
                                         ignore_thr=0.5)
    torch.manual_seed(0)
    model = MODELS.build(m)
    sample = DetDataSample(metainfo=dict(img_shape=(64, 64),
                                         pad_shape=(64, 64),
                                         batch_input_shape=(64, 64)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[10., 10., 30., 30.]]), labels=torch.tensor([0]))
    img = torch.rand(1, 3, 64, 64)

    def step():
        torch.manual_seed(1)  # the same anchors and RoIs sampled each time
        return model.loss(img, [sample])

    losses = step()
    total = sum(sum(v) if isinstance(v, list) else v
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    # thr ~0: every sampled background anchor is "confident", only the
    # positives count: less RPN classification loss than the plain one
    rpn_loss = model.rpn_head.loss_cls
    ignored = rpn_loss.total_ignored  # over the FPN levels
    assert ignored > 0
    rpn_loss.ignore_thr = 2.0  # ignores nothing
    plain = step()
    assert rpn_loss.total_ignored == ignored
    assert sum(losses['loss_rpn_cls']).item() < \
        sum(plain['loss_rpn_cls']).item()


def test_nothing_is_ignored_before_begin_iter_nor_by_an_untrained_head():
    from mmengine.logging import MessageHub
    score, label = _softmax_batch()
    loss = MissingLabelCrossEntropyLoss(ignore_thr=0.6, begin_iter=100)
    hub = MessageHub.get_instance('test_missing_label_ce')
    try:
        hub.update_info('iter', 99)
        loss(score, label)
        assert loss.last_ignored == 0
        hub.update_info('iter', 100)
        loss(score, label)
        assert loss.last_ignored == 1
    finally:  # later tests must not see this hub's iteration
        MessageHub._instance_dict.pop('test_missing_label_ce', None)
    # zero logits (a fresh head) are p 0.5: below the default threshold
    fresh = MissingLabelCrossEntropyLoss()
    fresh(torch.zeros(4, 2), label)
    assert fresh.last_ignored == 0
