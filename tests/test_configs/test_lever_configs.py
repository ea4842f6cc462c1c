# Copyright (c) mmsissi contributors. All rights reserved.
"""The lever configs (configs/sissi/levers/, issue 16): thin children of a
Table 1 row that differ only in their hooks (and, for ignore regions, the
assigners), accepted as rows by the noisy-label benchmark, and each runs
for real at CPU scale."""
import json

import pytest
from mmengine.config import Config
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from benchmarks import noisy_labels as nl
from benchmarks.noisy.configs import from_scratch, row_config, row_criterion
from tests.helpers.noisy_bench import bench_argv
from tests.helpers.tiny import shrink_relabelling, tiny_cfg

#: lever -> (parent row, what its PseudoLabelHook sets, ignore regions)
LEVERS = {
    'baseline_merge': ('baseline', dict(update='merge'), False),
    'baseline_ema': ('baseline', dict(labeller='ema'), False),
    'baseline_band': ('baseline', dict(ignore_band=(0.2, 0.5)), True),
    'baseline_spread': ('baseline', dict(max_spread=0.15), True),
    'sissi_s_auto': ('sissi_s', dict(synthesize='auto'), False),
    'baseline_merge_band_ema': ('baseline', dict(
        update='merge', ignore_band=(0.2, 0.5), labeller='ema'), True),
    'baseline_norewind': ('baseline', dict(), False),
    'baseline_merge_band_norewind': ('baseline', dict(
        update='merge', ignore_band=(0.2, 0.5)), True),
    'sissi_merge_refine': ('sissi_merge', dict(
        update='merge', ignore_band=(0.2, 0.5), merge_cfg=dict(
            match_iou=0.4, add_score=0.2, refine=1.0)), True),
    'sissi_merge_refine_calib': ('sissi_merge', dict(
        update='merge', ignore_band=(0.2, 0.5), merge_cfg=dict(
            match_iou=0.4, add_score=0.2, refine=1.0, calibrate=True)),
        True),
    'sissi_merge_refine_calsize': ('sissi_merge', dict(
        update='merge', ignore_band=(0.2, 0.5), merge_cfg=dict(
            match_iou=0.4, add_score=0.2, refine=1.0, calibrate='size')),
        True),
}

#: levers whose start keeps the trained weights (no rewind)
NO_REWIND = ('baseline_norewind', 'baseline_merge_band_norewind',
             'sissi_merge_refine', 'sissi_merge_refine_calib',
             'sissi_merge_refine_calsize')


def _hook(cfg):
    return next(h for h in cfg.custom_hooks
                if h['type'] == 'PseudoLabelHook')


@pytest.mark.parametrize('name', list(LEVERS))
def test_lever_is_its_parent_but_for_the_hooks(name):
    parent, options, ignore = LEVERS[name]
    cfg = Config.fromfile(f'configs/sissi/levers/{name}.py')
    base = Config.fromfile(f'configs/sissi/{parent}.py')
    for key in ('train_dataloader', 'optim_wrapper', 'train_cfg',
                'tta_model', 'load_from'):
        assert cfg[key] == base[key], key
    assigners = [cfg.model.train_cfg[k].assigner.ignore_iof_thr
                 for k in ('rpn', 'rcnn')]
    assert assigners == ([0.5, 0.5] if ignore else [-1, -1])
    cfg.model.train_cfg = base.model.train_cfg
    assert cfg.model == base.model
    hook = _hook(cfg)
    for k, v in options.items():
        assert hook[k] == v, k
    if parent != 'sissi_merge':  # a Table 1 row: the paper's policy
        assert _hook(base).get('update', 'replace') == 'replace'
    HOOKS.build(dict(hook, dataloader={}))  # valid options
    assert row_criterion(cfg, name) == 'ValLossStartHook'
    start = next(h for h in cfg.custom_hooks
                 if h['type'] == 'ValLossStartHook')
    assert start.get('restore_best', True) == (name not in NO_REWIND)
    assert nl.row_restores_best(cfg) == (name not in NO_REWIND)
    base_start = dict(next(h for h in base.custom_hooks
                           if h['type'] == 'ValLossStartHook'))
    base_start.setdefault('restore_best', name not in NO_REWIND)
    assert dict(start, restore_best=start.get(
        'restore_best', True)) == base_start


def test_benchmark_takes_lever_rows(tmp_path, demo_data):
    args = nl.parse_args(bench_argv(demo_data, tmp_path / 'b') + [
        '--rows', 'supervised', 'baseline_merge', 'baseline'])
    assert nl.check_rows(args.rows) == ['supervised', 'baseline',
                                        'baseline_merge']
    paths = nl.prepare_data(args, str(tmp_path / 'data'))
    cfg = nl.build_config('baseline_merge', args, paths)
    hook = _hook(cfg)
    assert hook['update'] == 'merge'
    assert hook['dataloader']['dataset']['ann_file'] == paths['train_noisy']
    assert cfg.model.backbone.depth == 18
    with pytest.raises(SystemExit):
        nl.parse_args(bench_argv(demo_data, tmp_path / 'b') + [
            '--rows', 'supervised', 'no_such_lever'])


@pytest.mark.slow
@pytest.mark.parametrize('name', list(LEVERS))
def test_lever_runs_at_cpu_scale(name, tmp_path, demo_data):
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json',
                   epochs=2, config=f'configs/sissi/levers/{name}.py')
    for h in cfg.custom_hooks:
        if h['type'] == 'ValLossStartHook':
            h['max_start_epoch'] = 1  # force the start to test the loop
    shrink_relabelling(cfg, score_thr=0.05)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert 0.0 <= runner.test()['coco/manual/AP50'] <= 1.0
    index = json.load(open(tmp_path / 'labels' / 'index.json'))
    assert index['epoch'] == 2
    log = open(next(tmp_path.glob('*/*.log'))).read()
    assert 'PseudoLabelHook: epoch 2 labels' in log


def test_recommended_row_is_the_measured_lever():
    """configs/sissi/sissi_merge.py (the recommended row, the default of
    tools/sissi.py) states its hooks in full; it must stay the lever its
    numbers were measured with."""
    row = Config.fromfile('configs/sissi/sissi_merge.py')
    lever = Config.fromfile(
        'configs/sissi/levers/baseline_merge_band_norewind.py')
    assert row.custom_hooks == lever.custom_hooks
    row_d, lever_d = row.to_dict(), lever.to_dict()
    lever_d.pop('val_loss_start_norewind')
    assert row_d == lever_d


def test_supervised_lever_is_supervised_but_for_the_losses():
    cfg = Config.fromfile('configs/sissi/levers/supervised_missing_ce.py')
    base = Config.fromfile('configs/sissi/supervised.py')
    for key in ('train_dataloader', 'optim_wrapper', 'train_cfg',
                'custom_hooks', 'load_from'):
        assert cfg.get(key) == base.get(key), key
    rpn, roi = cfg.model.rpn_head, cfg.model.roi_head.bbox_head
    for head, sigmoid in ((rpn, True), (roi, False)):
        assert head.loss_cls == dict(
            type='MissingLabelCrossEntropyLoss', use_sigmoid=sigmoid,
            loss_weight=1.0, ignore_thr=0.7, begin_iter=100)
    rpn.loss_cls = base.model.rpn_head.loss_cls
    roi.loss_cls = base.model.roi_head.bbox_head.loss_cls
    assert cfg.model == base.model


def test_benchmark_trains_a_supervised_lever_from_scratch(tmp_path,
                                                          demo_data):
    args = nl.parse_args(bench_argv(demo_data, tmp_path / 'b') + [
        '--rows', 'supervised_missing_ce', 'baseline', 'supervised'])
    # a from-scratch row: before the correction rows, which still need
    # (and branch from) the plain supervised run
    assert nl.check_rows(args.rows) == ['supervised', 'baseline',
                                        'supervised_missing_ce']
    assert from_scratch('supervised_missing_ce')
    paths = nl.prepare_data(args, str(tmp_path / 'data'))
    cfg = nl.build_config('supervised_missing_ce', args, paths)
    sup = nl.build_config('supervised', args, paths)
    assert cfg.custom_hooks == sup.custom_hooks
    assert cfg.model.roi_head.bbox_head.loss_cls.type == \
        'MissingLabelCrossEntropyLoss'
    # it starts ignoring after the benchmark's warm-up, not the config's
    for head in (cfg.model.rpn_head, cfg.model.roi_head.bbox_head):
        assert head.loss_cls.begin_iter == args.warmup_iters != 100
    assert cfg.train_dataloader.dataset.datasets[0].ann_file == \
        paths['train_noisy']
    with pytest.raises(ValueError, match='no labels to refit'):
        row_config('refit_supervised_missing_ce')


@pytest.mark.slow
def test_supervised_lever_runs_at_cpu_scale(tmp_path, demo_data):
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json',
                   epochs=1,
                   config='configs/sissi/levers/supervised_missing_ce.py')
    for head in (cfg.model.rpn_head, cfg.model.roi_head.bbox_head):
        assert head.loss_cls.ignore_thr == 0.7
        assert head.loss_cls.begin_iter == 100
    # a CPU-scale epoch is a few iterations: ignore from the start, below
    # the fresh RPN's score 0.5, so that the real run takes the ignoring path
    cfg.model.rpn_head.loss_cls.update(begin_iter=0, ignore_thr=0.3)
    runner = Runner.from_cfg(cfg)
    runner.train()
    from mmsissi.models import MissingLabelCrossEntropyLoss
    rpn_loss = runner.model.rpn_head.loss_cls
    assert isinstance(rpn_loss, MissingLabelCrossEntropyLoss)
    assert isinstance(runner.model.roi_head.bbox_head.loss_cls,
                      MissingLabelCrossEntropyLoss)
    assert rpn_loss.total_ignored > 0
    assert 0.0 <= runner.test()['coco/manual/AP50'] <= 1.0
