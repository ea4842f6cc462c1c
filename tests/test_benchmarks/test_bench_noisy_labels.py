# Copyright (c) mmsissi contributors. All rights reserved.
"""benchmarks/noisy_labels.py: the label-quality bookkeeping, the branch
checkpoints, the configs it builds, and a real end-to-end run of every
row on the demo data."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmsissi.utils import safe_torch_load
from benchmarks import noisy_labels as nl
from tests.helpers.noisy_bench import bench_argv
from tests.helpers.noisy_bench import coco as _coco
from tests.helpers.noisy_bench import write as _write


def test_labels_by_epoch_follows_the_store(tmp_path):
    (tmp_path / 'labels').mkdir()
    for k in (3, 5):
        (tmp_path / 'labels' / f'epoch_{k}.json').write_text('{}')
    files = nl.labels_by_epoch(str(tmp_path), 'initial.json', 6)
    store = str(tmp_path / 'labels')
    assert files == {0: 'initial.json', 1: 'initial.json',
                     2: 'initial.json', 3: f'{store}/epoch_3.json',
                     4: f'{store}/epoch_3.json', 5: f'{store}/epoch_5.json',
                     6: f'{store}/epoch_5.json'}


def test_label_quality_counts_against_truth(tmp_path):
    truth = _write(tmp_path / 't.json', _coco({
        'a.png': [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]],
        'b.png': [[5, 5, 15, 15]]}))
    # a: one hit, one miss, one false box (IoU < 0.5); b: no label at all
    noisy = _write(tmp_path / 'n.json', _coco({
        'a.png': [[0, 0, 10, 11], [40, 40, 45, 45], [55, 0, 60, 5]]}))
    q = nl.label_quality({0: noisy, 1: truth, 2: noisy}, truth)
    assert q[0] == q[2]
    assert q[0]['num_boxes'] == 3
    assert q[0]['precision'] == pytest.approx(1 / 3)
    assert q[0]['recall'] == pytest.approx(1 / 4)
    assert q[1]['precision'] == q[1]['recall'] == 1.0
    # placement: the hit (IoU 0.91) also counts at IoU 0.75, and it is
    # 10 % too tall: the size bias over the truth boxes' matches
    assert q[0]['precision75'] == pytest.approx(1 / 3)
    assert q[0]['recall75'] == pytest.approx(1 / 4)
    assert q[0]['log_w'] == pytest.approx(0.0, abs=1e-6)
    assert q[0]['log_h'] == pytest.approx(np.log(1.1), rel=1e-5)
    assert q[1]['log_w'] == q[1]['log_h'] == 0.0
    assert q[1]['precision75'] == 1.0


def test_branch_checkpoint_publishes_the_recorded_start(tmp_path):
    best = dict(epoch=2, loss=1.0)
    hub = dict(runtime_info={'sissi/val_loss_best': best})
    for k in (2, 4):
        torch.save(dict(state_dict=dict(w=torch.full((2, ), float(k))),
                        message_hub=json.loads(json.dumps(hub)),
                        meta=dict(epoch=k)), tmp_path / f'epoch_{k}.pth')
    torch.save(dict(w=torch.full((2, ), 2.0)), tmp_path / 'val_loss_best.pth')
    for crit in ('ValLossStartHook', 'ADELEHook'):
        (tmp_path / f'sissi_start_{crit}.json').write_text(json.dumps(
            dict(epoch=4, cause='criterion' if crit[0] == 'V' else 'cap')))
    out = str(tmp_path / 'b.pth')
    assert nl.make_branch_checkpoint(str(tmp_path), 'ValLossStartHook',
                                     out) == (4, 'criterion')
    ck = safe_torch_load(out)
    assert ck['meta']['epoch'] == 4  # resumes after epoch 4 ...
    assert ck['state_dict']['w'].tolist() == [2.0, 2.0]  # ... best weights
    info = ck['message_hub']['runtime_info']
    assert (info['sissi/start_epoch'], info['sissi/start_cause']) == (
        4, 'criterion')
    assert nl.make_branch_checkpoint(str(tmp_path), 'ADELEHook',
                                     out) == (4, 'cap')
    ck = safe_torch_load(out)
    assert ck['state_dict']['w'].tolist() == [4.0, 4.0]  # its own weights
    # a row whose ValLossStartHook does not restore keeps epoch 4's weights
    assert nl.make_branch_checkpoint(str(tmp_path), 'ValLossStartHook', out,
                                     restore_best=False) == (4, 'criterion')
    assert safe_torch_load(out)['state_dict']['w'].tolist() == [4.0, 4.0]
    cfg = dict(custom_hooks=[dict(type='ValLossStartHook')])
    assert nl.row_restores_best(cfg)
    cfg['custom_hooks'][0]['restore_best'] = False
    assert not nl.row_restores_best(cfg)
    with pytest.raises(RuntimeError, match='did not fire'):
        nl.make_branch_checkpoint(str(tmp_path / 'nowhere'), 'ADELEHook',
                                  out)


def _args(tmp_path, demo_data, *extra):
    return nl.parse_args(bench_argv(demo_data, tmp_path / 'bench') +
                         list(extra))


def test_configs_are_the_rows_own_with_the_benchmark_data(
        tmp_path, demo_data):
    args = _args(tmp_path, demo_data, '--epochs', '6')
    paths = nl.prepare_data(args, str(tmp_path / 'data'))
    parts = {k: json.load(open(v)) for k, v in paths.items()}
    sizes = [len(parts[k]['images']) for k in ('train_clean', 'val', 'test')]
    assert sizes == [6, 3, 3]
    assert parts['train_noisy']['images'] == parts['train_clean']['images']
    assert len(parts['train_noisy']['annotations']) < len(
        parts['train_clean']['annotations'])  # 50 % dropped, 10 % false
    sup = nl.build_config('supervised', args, paths)
    hooks = {h['type']: h for h in sup.custom_hooks}
    assert set(hooks) == {'ValLossStartHook', 'ADELEHook'}
    assert all(h['record_only'] for h in hooks.values())
    assert hooks['ADELEHook']['max_start_epoch'] == 4  # 6 // 2 + 1
    assert hooks['ADELEHook']['dataloader']['dataset']['ann_file'] == \
        paths['train_noisy']
    target = sup.train_dataloader.dataset.datasets[0]
    assert target['ann_file'] == paths['train_noisy']
    assert nl.build_config('clean', args, paths).train_dataloader.dataset\
        .datasets[0]['ann_file'] == paths['train_clean']
    a = nl.build_config('a_sissi_s', args, paths)
    hooks = {h['type']: h for h in a.custom_hooks}
    assert hooks['PseudoLabelHook']['synthesize'] == 'strong'
    assert not hooks['ADELEHook'].get('record_only', False)
    assert len(a.tta_pipeline[1]['transforms'][0]) == 5  # 5 scales x
    assert len(a.tta_pipeline[1]['transforms'][1]) == 4  # 4 flips
    assert a.test_evaluator['readers'] == dict(clean=paths['test'])
    assert a.model.backbone.depth == 18 and a.load_from is None
    base = nl.build_config('baseline', args, paths)
    assert [h['type'] for h in base.custom_hooks] == [
        'ValLossStartHook', 'PseudoLabelHook']
    assert base.custom_hooks[1]['synthesize'] is False


def test_bad_input_is_a_clear_error(tmp_path, demo_data):
    with pytest.raises(SystemExit, match='no such COCO file'):
        nl.prepare_data(nl.parse_args(['--target-ann', 'missing.json']),
                        str(tmp_path))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": []}')
    with pytest.raises(SystemExit, match=r'bad.json: not a COCO file'):
        nl.prepare_data(nl.parse_args(['--target-ann', str(bad)]),
                        str(tmp_path))
    with pytest.raises(SystemExit):
        _args(tmp_path, demo_data, '--drop', '1.5')


@pytest.mark.slow
def test_end_to_end_every_row(tmp_path, demo_data):
    """All rows for real (tools/train.py, tools/test.py): the supervised
    run records both criteria, the correction rows resume from it at their
    start and relabel from then on, and the CSVs / PNG are written."""
    cmd = [sys.executable, 'benchmarks/noisy_labels.py',
           '--rows', 'clean', 'supervised', 'refit_baseline', 'baseline',
           'a_sissi_s',
           *bench_argv(demo_data, tmp_path / 'bench', ('4', '2', '3')),
           '--crop', '128', '--epochs', '3', '--iters-per-epoch', '2',
           '--max-start-epoch', '2', '--patience', '1', '--warmup-epochs',
           '0', '--warmup-iters', '2']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    root = tmp_path / 'bench'
    res = {row['row']: row for row in csv.DictReader(open(
        root / 'results.csv'))}
    assert {row['seed'] for row in res.values()} == {'0'}
    top, root = root, root / 'seed_0'
    assert list(res) == ['clean', 'supervised', 'baseline', 'a_sissi_s',
                         'refit_baseline']
    assert res['baseline']['start'] == res['a_sissi_s']['start'] == '2'
    assert res['clean']['start'] == res['refit_baseline']['start'] == ''
    for row in res.values():
        for k in ('AP50', 'AP75', 'AP', 'AR'):
            assert 0 <= float(row[k]) <= 1
    labels = list(csv.DictReader(open(top / 'labels.csv')))
    by = {(r['row'], int(r['epoch'])): r for r in labels}
    assert len(labels) == 5 * 4  # epochs 0..3 per row
    assert float(by[('clean', 3)]['recall']) == 1.0
    noisy = by[('supervised', 0)]
    assert 0 < float(noisy['recall']) < 1  # cells were dropped
    for row in ('baseline', 'a_sissi_s'):  # corrupted labels until start
        for e in (0, 1, 2):
            assert by[(row, e)]['num_boxes'] == noisy['num_boxes']
        # epoch 3 trains on the pseudo labels written for it
        store = json.load(open(root / row / 'labels' / 'epoch_3.json'))
        assert int(by[(row, 3)]['num_boxes']) == len(store['annotations'])
        assert not (root / row / 'labels' / 'epoch_2.json').exists()
        log = open(root / row / 'train.log').read()
        assert 'Resuming' in log or 'resumed' in log.lower()
        assert 'PseudoLabelHook: epoch 3 labels' in log
    # the refit trains from scratch on the baseline's last labels
    refit = open(root / 'refit_baseline' / 'config.py').read()
    assert str(root / 'baseline' / 'labels' / 'epoch_3.json') in refit
    assert 'from scratch' in r.stdout.split('[seed_0/refit_baseline]')[1]
    for e in range(4):
        assert by[('refit_baseline', e)]['num_boxes'] == \
            by[('baseline', 3)]['num_boxes']
    assert "synthesize='strong'" in open(root / 'a_sissi_s' /
                                         'config.py').read()
    png = open(top / 'label_recall.png', 'rb').read(8)
    assert png.startswith(b'\x89PNG')
    assert 'Held-out clean test split' in r.stdout
