# Copyright (c) mmsissi contributors. All rights reserved.
"""The ``refit_<row>`` rows of the noisy-label benchmark: Supervised from
scratch on the last labels a correction row trained on."""
import json

import pytest

from benchmarks import noisy_labels as nl
from benchmarks.noisy.cli import _refit_labels, _relabel
from benchmarks.noisy.configs import (check_rows, correction_row, refit_base,
                                      row_name)
from tests.helpers.noisy_bench import bench_argv


def test_refit_rows_run_after_the_rows_they_refit_on():
    assert refit_base('refit_sissi_merge') == 'sissi_merge'
    assert refit_base('sissi_merge') is None and refit_base('refit_') is None
    assert check_rows(['refit_sissi_merge', 'sissi_merge', 'supervised',
                       'refit_baseline', 'baseline']) == [
        'supervised', 'baseline', 'sissi_merge', 'refit_sissi_merge',
        'refit_baseline']
    assert row_name('refit_baseline') == 'Refit: Baseline'


@pytest.mark.parametrize('row', ['refit_supervised', 'refit_clean',
                                 'refit_soft_teacher', 'refit_nothing'])
def test_a_refit_of_a_row_without_labels_is_refused(row):
    with pytest.raises(ValueError, match=row.split('_', 1)[1]):
        check_rows([row])
    with pytest.raises(SystemExit):
        nl.parse_args(['--rows', 'supervised', row])


def test_the_refit_trains_from_scratch_on_the_last_labels(tmp_path,
                                                          demo_data):
    args = nl.parse_args(bench_argv(demo_data, tmp_path / 'bench') +
                         ['--epochs', '6'])
    paths = nl.prepare_data(args, str(tmp_path / 'data'))
    seed_dir = tmp_path / 'bench' / 'seed_0'
    base = seed_dir / 'baseline'
    with pytest.raises(SystemExit, match='add "baseline" to --rows'):
        _refit_labels('refit_baseline', str(seed_dir), args, paths)
    (base / 'labels').mkdir(parents=True)
    (base / 'result.json').write_text('{}')
    # no pseudo labels were written: the refit is on the initial labels
    assert _refit_labels('refit_baseline', str(seed_dir), args,
                         paths) == paths['train_noisy']
    for k in (4, 5):
        (base / 'labels' / f'epoch_{k}.json').write_text(
            json.dumps(json.load(open(paths['train_noisy']))))
    last = _refit_labels('refit_baseline', str(seed_dir), args, paths)
    assert last == str(base / 'labels' / 'epoch_5.json')
    cfg = nl.build_config('refit_baseline', args,
                          dict(paths, train_noisy=last))
    assert cfg.custom_hooks == [] and cfg.load_from is None
    assert cfg.train_dataloader.dataset.datasets[0]['ann_file'] == last
    assert cfg.model.backbone.depth == 18
    for stage in ('rpn', 'rcnn'):  # the labels' ignore regions count
        assert cfg.model.train_cfg[stage].assigner.ignore_iof_thr == 0.5
    sup = nl.build_config('supervised', args, paths)
    assert sup.model.train_cfg.rcnn.assigner.ignore_iof_thr == -1
    assert cfg.param_scheduler == sup.param_scheduler


def test_a_refit_of_a_refit_runs_last_and_relabels(tmp_path, demo_data):
    """``refit_refit_<row>``: after ``refit_<row>``, on the labels of one
    relabelling pass (in its own work dir) with the refit's weights."""
    assert correction_row('refit_refit_sissi_merge') == 'sissi_merge'
    assert correction_row('baseline') == 'baseline'
    assert check_rows(['refit_refit_baseline', 'refit_baseline',
                       'supervised', 'baseline']) == [
        'supervised', 'baseline', 'refit_baseline', 'refit_refit_baseline']
    assert row_name('refit_refit_baseline') == 'Refit x2: Baseline'
    args = nl.parse_args(bench_argv(demo_data, tmp_path / 'bench'))
    paths = nl.prepare_data(args, str(tmp_path / 'data'))
    seed_dir = tmp_path / 'bench' / 'seed_0'
    with pytest.raises(SystemExit, match='add "refit_baseline" to --rows'):
        _refit_labels('refit_refit_baseline', str(seed_dir), args, paths)
    (seed_dir / 'refit_baseline').mkdir(parents=True)
    (seed_dir / 'refit_baseline' / 'result.json').write_text('{}')
    labels = _refit_labels('refit_refit_baseline', str(seed_dir), args,
                           paths)
    assert labels == str(seed_dir / 'refit_refit_baseline' / 'relabel' /
                         'labels' / 'epoch_1.json')
    cfg = nl.build_config('refit_refit_baseline', args,
                          dict(paths, train_noisy=labels))
    assert cfg.custom_hooks == []
    assert cfg.train_dataloader.dataset.datasets[0]['ann_file'] == labels
    # written labels are not made again (a resumed row)
    (seed_dir / 'refit_refit_baseline' / 'relabel' / 'labels').mkdir(
        parents=True)
    open(labels, 'w').write('{}')
    _relabel('refit_refit_baseline', 0, args, paths, str(seed_dir), labels)
    assert open(labels).read() == '{}'
