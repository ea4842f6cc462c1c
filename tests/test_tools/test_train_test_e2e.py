# Copyright (c) mmsissi contributors. All rights reserved.
"""Real MMEngine Runner runs of the baseline pipeline at tiny sizes:
train -> checkpoint -> resume -> test with per-reader metrics, and a real
2-process (gloo) distributed training run."""
import csv
import json
import os
import subprocess
import sys

import pytest

CONFIG = 'configs/demo/baseline_r18_256_cpu.py'


def _tiny_options(work_dir, ann, epochs=1):
    """--cfg-options shrinking the demo config to a few fast iterations."""
    return [
        f'train_dataloader.dataset.datasets.0.ann_file={ann}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=3',
        'default_hooks.logger.interval=1',
        'model.train_cfg.rpn_proposal.max_per_img=100',
        'model.train_cfg.rcnn.sampler.num=64',
    ]


def _run(args, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='2')
    r = subprocess.run([sys.executable, *args], capture_output=True,
                       text=True, env=env, timeout=900, **kw)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


@pytest.fixture(scope='module')
def trained(tmp_path_factory, demo_data):
    """One epoch of the demo config (6 iterations, 2 target + 2 source)."""
    work = tmp_path_factory.mktemp('e2e')
    ann = str(demo_data / 'target' / 'train_manual.json')
    out = _run(['tools/train.py', CONFIG, '--work-dir', str(work),
                '--cfg-options', *_tiny_options(work, ann, epochs=1)])
    return work, ann, out


def test_train_logs_losses_and_saves(trained):
    work, _, out = trained
    assert (work / 'epoch_1.pth').is_file()
    assert 'Epoch(train)  [1][6/6]' in out
    assert 'loss_rpn_cls' in out and 'loss_bbox' in out
    # the epoch-end validation ran the per-reader metric
    assert 'coco/manual/AP50' in out


def test_resume_continues_from_checkpoint(trained):
    work, ann, _ = trained
    out = _run(['tools/train.py', CONFIG, '--work-dir', str(work),
                '--resume', '--cfg-options', *_tiny_options(work, ann, 2)])
    assert 'resumed epoch: 1' in out or 'Load checkpoint' in out
    assert 'Epoch(train)  [2][6/6]' in out
    assert 'Epoch(train)  [1][' not in out
    assert (work / 'epoch_2.pth').is_file()


def test_test_tool_per_reader_table(trained, tmp_path):
    work, _, _ = trained
    out = _run(['tools/test.py', CONFIG, str(work / 'epoch_1.pth'),
                '--work-dir', str(tmp_path), '--cfg-options',
                'test_dataloader.num_workers=0',
                'test_dataloader.persistent_workers=False'])
    assert 'reader' in out and 'manual' in out
    rows = list(csv.reader(open(tmp_path / 'test.per_reader.csv')))
    assert rows[0] == ['reader', 'AP50', 'AP75', 'AP', 'AR']
    assert rows[1][0] == 'manual'
    vals = [float(v) for v in rows[1][1:]]
    assert all(0.0 <= v <= 1.0 for v in vals)
    dets = json.load(open(tmp_path / 'test.bbox.json'))
    assert {d['file_name'] for d in dets} <= {
        f'set4{k}_{j}.png' for k in (6, 8) for j in (0, 1)}


def test_distributed_two_process_gloo(demo_data, tmp_path):
    ann = str(demo_data / 'target' / 'train_manual.json')
    env = dict(os.environ, PYTHON=sys.executable, PORT='29533',
               OMP_NUM_THREADS='1')
    r = subprocess.run(
        ['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir',
         str(tmp_path), '--cfg-options',
         *_tiny_options(tmp_path, ann, epochs=1)],
        capture_output=True, text=True, env=env, timeout=900)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    # 12 target images over 2 ranks, 2 per batch per rank: 3 iterations
    assert 'Epoch(train)  [1][3/3]' in log
    assert 'backend: gloo' in log or "'backend': 'gloo'" in log
    assert (tmp_path / 'epoch_1.pth').is_file()
