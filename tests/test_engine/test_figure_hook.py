# Copyright (c) mmsissi contributors. All rights reserved.
"""SISSIFigureHook draws from files and MessageHub keys only: nothing
without labels, one evolution figure per new label version, synthetic
pairs only when the store says so, the ADELE curve from the hub."""
from types import SimpleNamespace

import numpy as np
from mmengine.logging import MessageHub

from mmsissi.datasets import CellCocoDataset, LabelStore
from mmsissi.engine.hooks import SISSIFigureHook


def _runner(tmp_path, demo_data):
    target = CellCocoDataset(
        ann_file=str(demo_data / 'target' / 'train_manual.json'),
        data_prefix=dict(img=str(demo_data / 'target') + '/'),
        filter_cfg=dict(filter_empty_gt=False), pipeline=[])
    return SimpleNamespace(
        work_dir=str(tmp_path), max_epochs=5, epoch=0,
        train_dataloader=SimpleNamespace(
            dataset=SimpleNamespace(datasets=[target])),
        message_hub=MessageHub.get_instance(f'fig-{tmp_path.name}'))


def test_figures_follow_the_files(tmp_path, demo_data):
    runner = _runner(tmp_path, demo_data)
    hook = SISSIFigureHook(num_images=2)
    hook.before_train_epoch(runner)
    hook.after_train_epoch(runner)
    assert not (tmp_path / 'figures').exists()  # nothing to draw yet
    assert not (tmp_path / 'adele_curve.png').exists()

    target = runner.train_dataloader.dataset.datasets[0]
    images = [dict(id=int(target.get_data_info(i)['img_id']),
                   file_name='x', height=512, width=512)
              for i in range(len(target))]
    store = LabelStore(str(tmp_path / 'labels'))
    store.write(2, images, {images[0]['id']: np.array([[10, 10, 90, 90]])})
    hook.before_train_epoch(runner)
    evo = tmp_path / 'figures' / 'pseudo_label_evolution.png'
    assert evo.is_file()
    assert not list((tmp_path / 'figures').glob('synthetic_*'))
    stamp = evo.stat().st_mtime_ns
    hook.before_train_epoch(runner)  # same version: not redrawn
    assert evo.stat().st_mtime_ns == stamp
    store.write(3, images, {images[0]['id']: np.array([[10, 10, 90, 90]])},
                synthesize='strong')
    hook.before_train_epoch(runner)
    assert (tmp_path / 'figures' / 'synthetic_epoch_3.png').is_file()

    runner.message_hub.update_info('sissi/adele_ap50', [0.1, 0.2, 0.25])
    runner.message_hub.update_info('sissi/adele_fit', [0.3, 1.0, 2.0])
    hook.after_train_epoch(runner)
    rows = open(tmp_path / 'adele_curve.csv').read().splitlines()
    assert rows[1:] == ['1,0.10000,0.11804', '2,0.20000,0.18964',
                        '3,0.25000,0.23306']


def test_synthetic_figure_uses_the_pipeline_clone_settings():
    """Fig. 3 shows what the detector trains on: the blur of the label
    store with the margins of the target pipeline's SeamlessSynth."""
    from mmengine.dataset import Compose

    from mmsissi.datasets.transforms import SeamlessSynth
    from mmsissi.engine.hooks.figure_hook import _configured_synth
    pipe = Compose([dict(type='LoadAnnotations', with_bbox=True),
                    dict(type='SeamlessSynth', prob=0.5, pad_px=3,
                         pad_ratio=0.15, margin=32)])
    got = _configured_synth(SimpleNamespace(pipeline=pipe), 'strong')
    assert (got.ksize, got.sigma) == SeamlessSynth.parse_blur('strong')
    assert (got.pad_px, got.pad_ratio, got.margin, got.prob) == (
        3, 0.15, 32, 1.0)  # every figure image is synthetic
    bare = _configured_synth(SimpleNamespace(pipeline=Compose([])), 'weak')
    assert (bare.pad_px, bare.pad_ratio) == (0, 0)
