# Copyright (c) mmsissi contributors. All rights reserved.
"""tools/demo.py and tools/prepare_data.py run end to end and write what
they say they write."""
import csv
import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # real training / image processing runs


def _run(args):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    r = subprocess.run([sys.executable, *args], capture_output=True,
                       text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


def test_demo_one_epoch(tmp_path):
    work = tmp_path / 'demo'
    out = _run(['tools/demo.py', '--epochs', '1', '--work-dir', str(work)])
    weak = json.load(open(work / 'weak_labels_train.json'))
    assert len(weak['images']) == 12 and len(weak['annotations']) > 0
    assert (work / 'epoch_1.pth').is_file()
    rows = list(csv.reader(open(work / 'test.per_reader.csv')))
    assert [r[0] for r in rows[1:]] == ['manual', 'mean']
    # the printed table is the CSV's, in percent
    printed = re.search(r'^manual\s+(.*)$', out, re.M).group(1).split()
    assert [float(v) for v in printed] == pytest.approx(
        [100 * float(v) for v in rows[1][1:]], abs=0.051)
    dets = json.load(open(work / 'test.bbox.json'))
    assert {d['file_name'] for d in dets} <= {
        f'set4{k}_{j}.png' for k in (6, 8) for j in (0, 1)}
    assert re.search(r'Times: weak labels \d+ s, train \d+ s, test \d+ s',
                     out)


def test_prepare_data(tmp_path, shared_data):
    out = tmp_path / 'data'
    log = _run(['tools/prepare_data.py', '--shared', str(shared_data),
                '--out', str(out)])
    assert 'target: 45 train / 5 test images' in log
    assert 'source: 487 train / 54 val images' in log
    for name in ('usiigaci_nih3t3_phc', 'dsb2018_stage1_train_fluo'):
        assert (out / name).is_symlink()
    sissi = out / 'sissi'
    train = json.load(open(sissi / 'target_train_manual.json'))
    test = json.load(open(sissi / 'target_test_manual.json'))
    assert len(train['images']) == 45 and len(test['images']) == 5
    test_names = {i['file_name'] for i in test['images']}
    assert test_names == {f'images/set{k}.png' for k in range(46, 51)}
    assert not test_names & {i['file_name'] for i in train['images']}
    src_tr = json.load(open(sissi / 'source_train.json'))
    src_val = json.load(open(sissi / 'source_val.json'))
    assert not ({i['file_name'] for i in src_tr['images']}
                & {i['file_name'] for i in src_val['images']})
    weak = json.load(open(sissi / 'target_train_weak.json'))
    assert {i['file_name'] for i in weak['images']} == {
        i['file_name'] for i in train['images']}
    assert len(weak['annotations']) > 1000
    # the same seed gives the same split
    log2 = _run(['tools/prepare_data.py', '--shared', str(shared_data),
                 '--out', str(tmp_path / 'again')])
    assert json.load(open(tmp_path / 'again' / 'sissi' /
                          'source_val.json')) == src_val
    assert 'precision' in log2.lower() or 'P ' in log2
