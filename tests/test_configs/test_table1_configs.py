# Copyright (c) mmsissi contributors. All rights reserved.
"""Every Table 1 config builds as a thin child of the baseline and runs a
real short training + test at CPU scale, with its correction switched on."""
import json

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from tests.helpers.tiny import shrink_relabelling, tiny_cfg

#: the authors' fusion of the pseudo-label views (SISSI code)
AUTHORS_FUSION = dict(
    view_score_thr=0.01, iou_thr=0.5, skip_box_thr=0.25, conf_type='avg',
    score_thr=0.1, nms_iou_thr=0.2, max_per_img=None)

ROWS = {
    'supervised': (None, None),
    'baseline': ('ValLossStartHook', False),
    'sissi_w': ('ValLossStartHook', 'weak'),
    'sissi_s': ('ValLossStartHook', 'strong'),
    'plain_a': ('ADELEHook', False),
    'a_sissi_w': ('ADELEHook', 'weak'),
    'a_sissi_s': ('ADELEHook', 'strong'),
}


@pytest.mark.parametrize('name', list(ROWS))
def test_config_says_the_experiment(name):
    cfg = Config.fromfile(f'configs/sissi/{name}.py')
    base = Config.fromfile('configs/sissi/supervised.py')
    # the same detector, data and schedule in every row
    for key in ('model', 'train_dataloader', 'optim_wrapper', 'train_cfg',
                'test_evaluator', 'load_from'):
        assert cfg[key] == base[key], key
    assert cfg.model.roi_head.bbox_head.num_classes == 1
    assert cfg.model.backbone.frozen_stages == -1  # no frozen layer (4.1)
    # the authors' schedule: ~8,000 iterations, relabelled every 56
    assert cfg.train_dataloader.sampler.iters_per_epoch == 56
    assert cfg.train_cfg.max_epochs == 8000 // 56 + 1
    # synthesis at native resolution: before the resize, no blur of its own
    pipe = [t['type'] for t in
            cfg.train_dataloader.dataset.datasets[0].pipeline]
    assert pipe.index('SeamlessSynth') < pipe.index('Resize')
    synth_t = cfg.train_dataloader.dataset.datasets[0].pipeline[
        pipe.index('SeamlessSynth')]
    assert synth_t.get('blur') is None
    assert pipe[-2:] == ['SanitizeBoxes', 'PackDetInputs']
    assert cfg.model.test_cfg.rcnn.max_per_img >= 300
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == (
        'SGD', 0.001, 0.9, 0.0002)
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.train_dataloader.sampler.source_ratio == [1, 1]
    criterion, synth = ROWS[name]
    hooks = {h['type']: h for h in cfg.get('custom_hooks', [])}
    if criterion is None:
        assert not hooks
    else:
        assert set(hooks) == {criterion, 'PseudoLabelHook'}
        assert hooks['PseudoLabelHook']['synthesize'] is synth or \
            hooks['PseudoLabelHook']['synthesize'] == synth
        assert hooks['PseudoLabelHook'].get('start_epoch') is None
        # the fusion the authors ran, stated once in the config
        assert cfg.tta_model.tta_cfg == AUTHORS_FUSION
        assert hooks[criterion]['max_start_epoch'] == 100
        if criterion == 'ADELEHook':
            assert hooks[criterion]['warmup_epochs'] == 2  # 100 its / 56


@pytest.mark.slow
@pytest.mark.parametrize('name', list(ROWS))
def test_config_runs_at_cpu_scale(name, tmp_path, demo_data):
    criterion, synth = ROWS[name]
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json',
                   epochs=2, config=f'configs/sissi/{name}.py')
    for h in cfg.get('custom_hooks', []):
        if h['type'] == criterion:
            h['max_start_epoch'] = 1  # force the start to test the loop
    shrink_relabelling(cfg, score_thr=0.05)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert 0.0 <= metrics['coco/manual/AP50'] <= 1.0
    assert (tmp_path / 'epoch_2.pth').is_file()
    if criterion is None:
        assert not (tmp_path / 'labels').exists()
        return
    assert runner.message_hub.get_info('sissi/start_epoch') == 1
    start = json.load(open(tmp_path / 'sissi_start.json'))
    assert start['epoch'] == 1 and start['criterion'] == criterion
    # a 1-epoch history cannot meet either criterion: the cap forced it
    assert start['cause'] == 'cap'
    assert runner.message_hub.get_info('sissi/start_cause') == 'cap'
    index = json.load(open(tmp_path / 'labels' / 'index.json'))
    assert index['epoch'] == 2 and index['synthesize'] == synth
    if criterion == 'ADELEHook':
        assert len(runner.message_hub.get_info('sissi/adele_ap50')) == 1
        assert (tmp_path / 'adele_curve.png').is_file()
    else:
        assert len(runner.message_hub.get_info('sissi/val_loss')) == 1


def test_demo_scale_datasets_build():
    """The CPU/demo scale of a row (the one CPU-scale mechanism) finds all
    its files, the hooks' loaders included."""
    from mmdet.registry import DATASETS

    from mmsissi.utils import apply_cpu_scale
    cfg = apply_cpu_scale(Config.fromfile('configs/sissi/a_sissi_s.py'))
    sizes = [len(DATASETS.build(d))
             for d in cfg.train_dataloader.dataset.datasets]
    assert sizes == [12, 16]
    for dl in (cfg.val_dataloader, cfg.test_dataloader):
        assert len(DATASETS.build(dl.dataset)) == 4
    for h in cfg.custom_hooks:
        assert len(DATASETS.build(h['dataloader']['dataset'])) == 12


def test_tta_and_loaders_in_the_config():
    """The 20-view TTA is declared once (mmdet's tta_model/tta_pipeline)
    and the hooks get their loaders from the config, loading images as
    training does."""
    cfg = Config.fromfile('configs/sissi/a_sissi_s.py')
    tta = next(t for t in cfg.tta_pipeline if t['type'] == 'TestTimeAug')
    scales = [t['scale'] for t in tta['transforms'][0]]
    assert scales == [(410, 410), (461, 461), (512, 512), (563, 563),
                      (614, 614)]
    assert len(tta['transforms'][1]) == 4
    assert cfg.tta_model.type == 'WBFTTAModel'
    assert cfg.tta_model.tta_cfg == AUTHORS_FUSION
    adele, plh = cfg.custom_hooks
    assert plh['dataloader']['dataset']['pipeline'] == cfg.tta_pipeline
    assert 'tta_model' not in plh  # the config's tta_model
    train_load = cfg.train_dataloader.dataset.datasets[0].pipeline[0]
    for h in (adele, plh):
        ds = h['dataloader']['dataset']
        assert ds['pipeline'][0]['type'] == train_load['type']
        assert ds['ann_file'] == cfg.train_dataloader.dataset.datasets[
            0].ann_file
        assert ds['test_mode'] is True
