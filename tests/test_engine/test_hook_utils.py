# Copyright (c) mmsissi contributors. All rights reserved.
"""The ADELE and pseudo-label passes load target images as training does
(the training pipeline's own loader, e.g. LoadCellImageFromFile for 16-bit
images), not a plain LoadImageFromFile."""
from types import SimpleNamespace

from mmcv.transforms import LoadImageFromFile
from mmengine.runner import Runner

from mmsissi.datasets.transforms import LoadCellImageFromFile
from mmsissi.engine.hooks.utils import build_target_loader, is_image_loader
from tests.helpers.tiny import tiny_cfg


def test_is_image_loader():
    assert is_image_loader(dict(type='LoadImageFromFile'))
    assert is_image_loader(dict(type='LoadCellImageFromFile'))
    assert is_image_loader(dict(type=LoadCellImageFromFile))
    assert not is_image_loader(dict(type='LoadAnnotations'))
    assert not is_image_loader(dict(type='Resize'))


def test_target_loader_uses_the_training_loader(tmp_path, demo_data):
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json')
    target = cfg.train_dataloader.dataset.datasets[0]
    target.pipeline[0] = dict(type='LoadCellImageFromFile',
                              percentiles=(1.0, 99.0))
    runner = SimpleNamespace(cfg=cfg,
                             build_dataloader=Runner.build_dataloader)
    loader = build_target_loader(
        runner, 0, [dict(type='PackDetInputs')])
    first = loader.dataset.pipeline.transforms[0]
    assert type(first) is LoadCellImageFromFile
    assert first.percentiles == (1.0, 99.0)
    assert len(loader.dataset) == 12
    # a plain loader stays plain
    target.pipeline[0] = dict(type='LoadImageFromFile')
    loader = build_target_loader(runner, 0, [dict(type='PackDetInputs')])
    assert type(loader.dataset.pipeline.transforms[0]) is LoadImageFromFile
