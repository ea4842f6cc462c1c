# Copyright (c) mmsissi contributors. All rights reserved.
"""Real MMEngine Runner runs of the baseline pipeline at tiny sizes through
the user-facing tools: train -> checkpoint -> resume -> test with
per-reader metrics, and a real 2-process (gloo) distributed training run."""
import csv
import json
import os
import re
import socket
import subprocess
import sys

import pytest

from tests.helpers.tiny import tiny_cfg

pytestmark = pytest.mark.slow  # real training runs through the tools


def _run(args, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    r = subprocess.run([sys.executable, *args], capture_output=True,
                       text=True, env=env, timeout=900, **kw)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


def _dump(cfg, path):
    cfg.dump(str(path))
    return str(path)


def _epoch_line(epoch, it, total):
    return re.compile(rf'Epoch\(train\)\s+\[{epoch}\]\[{it}/{total}\]')


@pytest.fixture(scope='module')
def trained(tmp_path_factory, demo_data):
    """One epoch of the demo config (6 iterations, 2 target + 2 source)."""
    work = tmp_path_factory.mktemp('e2e')
    ann = demo_data / 'target' / 'train_manual.json'
    cfg1 = _dump(tiny_cfg(work, ann, epochs=1), work / 'cfg1.py')
    out = _run(['tools/train.py', cfg1, '--work-dir', str(work)])
    return work, ann, out


def test_train_logs_losses_and_saves(trained):
    work, _, out = trained
    assert (work / 'epoch_1.pth').is_file()
    assert _epoch_line(1, 6, 6).search(out)
    assert 'loss_rpn_cls' in out and 'loss_bbox' in out
    # the epoch-end validation ran the per-reader metric
    assert 'coco/manual/AP50' in out


def test_resume_continues_from_checkpoint(trained):
    work, ann, _ = trained
    cfg2 = _dump(tiny_cfg(work, ann, epochs=2), work / 'cfg2.py')
    out = _run(['tools/train.py', cfg2, '--work-dir', str(work), '--resume'])
    assert 'resumed epoch: 1' in out
    assert _epoch_line(2, 6, 6).search(out)
    assert not _epoch_line(1, 1, 6).search(out)
    assert (work / 'epoch_2.pth').is_file()


def test_test_tool_per_reader_table(trained, tmp_path):
    work, _, _ = trained
    out = _run(['tools/test.py', str(work / 'cfg1.py'),
                str(work / 'epoch_1.pth'), '--work-dir', str(tmp_path)])
    assert re.search(r'reader\s+AP50\s+AP75\s+AP\s+AR', out)
    rows = list(csv.reader(open(tmp_path / 'test.per_reader.csv')))
    assert rows[0] == ['reader', 'AP50', 'AP75', 'AP', 'AR']
    assert [r[0] for r in rows[1:]] == ['manual', 'mean']
    vals = [float(v) for v in rows[1][1:]]
    assert all(0.0 <= v <= 1.0 for v in vals)
    dets = json.load(open(tmp_path / 'test.bbox.json'))
    assert {d['file_name'] for d in dets} <= {
        f'set4{k}_{j}.png' for k in (6, 8) for j in (0, 1)}


def _max_pairwise_iou(boxes):
    import numpy as np
    b = np.asarray(boxes, np.float64).reshape(-1, 4)  # xywh
    if len(b) < 2:
        return 0.0
    x1, y1 = b[:, 0], b[:, 1]
    x2, y2 = x1 + b[:, 2], y1 + b[:, 3]
    iw = np.clip(np.minimum(x2[:, None], x2) - np.maximum(x1[:, None], x1),
                 0, None)
    ih = np.clip(np.minimum(y2[:, None], y2) - np.maximum(y1[:, None], y1),
                 0, None)
    inter = iw * ih
    area = b[:, 2] * b[:, 3]
    iou = inter / (area[:, None] + area - inter)
    np.fill_diagonal(iou, 0)
    return float(iou.max())


def test_test_tool_tta_is_the_pseudo_label_ensemble(trained, tmp_path):
    """`tools/test.py --tta` evaluates the config's tta_model/tta_pipeline:
    the 20-view WBF ensemble with the authors' fusion (fused score >= 0.1,
    NMS at IoU 0.2 after fusion), not mmdet's flip + NMS fallback."""
    work, _, _ = trained
    out = _run(['tools/test.py', str(work / 'cfg1.py'),
                str(work / 'epoch_1.pth'), '--tta', '--work-dir',
                str(tmp_path)])
    assert 'Cannot find ``tta_model``' not in out
    assert "type='WBFTTAModel'" in out or 'WBFTTAModel' in out
    rows = list(csv.reader(open(tmp_path / 'test.per_reader.csv')))
    assert [r[0] for r in rows[1:]] == ['manual', 'mean']
    dets = json.load(open(tmp_path / 'test.bbox.json'))
    assert dets and min(d['score'] for d in dets) >= 0.1 - 1e-6
    by_image = {}
    for d in dets:
        by_image.setdefault(d['file_name'], []).append(d['bbox'])
    assert max(_max_pairwise_iou(b) for b in by_image.values()) <= 0.2 + 1e-3


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_distributed_two_process_gloo(demo_data, tmp_path):
    ann = demo_data / 'target' / 'train_manual.json'
    cfg = _dump(tiny_cfg(tmp_path, ann, epochs=1), tmp_path / 'cfg.py')
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(_free_port()),
               OMP_NUM_THREADS='1')
    r = subprocess.run(
        ['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir',
         str(tmp_path)], capture_output=True, text=True, env=env,
        timeout=900)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    # 12 target images over 2 ranks, 2 per batch per rank: 3 iterations
    assert _epoch_line(1, 3, 3).search(log)
    assert "'backend': 'gloo'" in log or 'backend=gloo' in log or \
        "backend='gloo'" in log
    assert 'Distributed launcher: pytorch' in log or 'launcher: pytorch' in log
    assert (tmp_path / 'epoch_1.pth').is_file()
