# Copyright (c) mmsissi contributors. All rights reserved.
"""The hooks' loaders come from the config; at start-up each must hold the
training target images and load them as training does (16-bit images
through LoadCellImageFromFile, not a plain LoadImageFromFile)."""
import pytest
import torch
from mmdet.registry import DATASETS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmsissi.engine.hooks.utils import (check_same_images, predict_images,
                                        weak_labels)
from tests.helpers.tiny import tiny_cfg


def _datasets(tmp_path, demo_data):
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_manual.json',
                   config='configs/sissi/a_sissi_s.py')
    target = DATASETS.build(cfg.train_dataloader.dataset.datasets[0])
    return cfg, target


def test_config_loaders_match_the_target(tmp_path, demo_data):
    cfg, target = _datasets(tmp_path, demo_data)
    for h in cfg.custom_hooks:
        check_same_images(DATASETS.build(h['dataloader']['dataset']),
                          target, h['type'])


def test_other_images_are_an_error(tmp_path, demo_data):
    cfg, target = _datasets(tmp_path, demo_data)
    ds = cfg.custom_hooks[0]['dataloader']['dataset']
    ds['ann_file'] = str(demo_data / 'target' / 'test_manual.json')
    with pytest.raises(ValueError, match='hold different images'):
        check_same_images(DATASETS.build(ds), target, 'ADELEHook')


def test_another_image_loader_is_an_error(tmp_path, demo_data):
    cfg, target = _datasets(tmp_path, demo_data)
    ds = cfg.custom_hooks[1]['dataloader']['dataset']
    ds['pipeline'][0] = dict(type='LoadImageFromFile')
    with pytest.raises(ValueError, match='loads images with'):
        check_same_images(DATASETS.build(ds), target, 'PseudoLabelHook')


def test_weak_labels_bypass_the_store(tmp_path, demo_data):
    _, target = _datasets(tmp_path, demo_data)
    boxes = weak_labels(target)
    assert len(boxes) == 12 and sum(len(b) for b in boxes.values()) == 288


def _sample(img_id, score):
    ds = DetDataSample(metainfo=dict(img_id=img_id))
    ds.pred_instances = InstanceData(bboxes=torch.zeros(1, 4),
                                     scores=torch.tensor([score]))
    return ds


def test_predict_images_records_each_image_in_eval_mode():
    model = torch.nn.Linear(1, 1)
    modes = []

    def step(batch):
        modes.append(model.training)
        return [_sample(i, i / 10) for i in batch]

    out = predict_images(model, step, [[1, 2], [3]],
                         lambda p: float(p.scores[0]))
    assert out == pytest.approx({1: 0.1, 2: 0.2, 3: 0.3})
    assert modes == [False, False] and model.training


def test_predict_images_restores_the_mode_on_error():
    model = torch.nn.Linear(1, 1).eval()

    def step(batch):
        model.train()  # a step that leaves the model in the wrong mode
        raise RuntimeError('boom')

    with pytest.raises(RuntimeError, match='boom'):
        predict_images(model, step, [[1]], lambda p: p)
    assert not model.training
