# Copyright (c) mmsissi contributors. All rights reserved.
"""tools/demo.py and tools/prepare_data.py run end to end and write what
they say they write."""
import csv
import json
import os
import re
import subprocess
import sys

import cv2
import pytest

pytestmark = pytest.mark.slow  # real training / image processing runs


def _run(args):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    r = subprocess.run([sys.executable, *args], capture_output=True,
                       text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


def test_demo_shows_correction(tmp_path):
    """A 3-epoch demo: Supervised, then the recommended row branched from it
    with one round of correction; the printed tables are the files'."""
    work = tmp_path / 'demo'
    out = _run(['tools/demo.py', '--epochs', '3', '--iters-per-epoch', '3',
                '--work-dir', str(work)])
    results = {r['row']: r for r in csv.DictReader(open(
        work / 'results.csv'))}
    assert set(results) == {'supervised', 'sissi_merge'}
    labels = [r for r in csv.DictReader(open(work / 'labels.csv'))
              if r['row'] == 'sissi_merge']
    assert [r['epoch'] for r in labels] == ['0', '1', '2', '3']
    weak = re.search(r'^weak \(initial\)\s+(\d+)\s+([\d.]+)\s+([\d.]+)',
                     out, re.M)
    assert weak.groups() == (labels[0]['num_boxes'],
                             f'{float(labels[0]["precision"]):.2f}',
                             f'{float(labels[0]["recall"]):.2f}')
    fixed = re.search(r'^corrected \(epoch 3\)\s+(\d+)', out, re.M)
    assert fixed.group(1) == labels[-1]['num_boxes']
    sup = re.search(r'^Supervised only \(weak labels\)\s+(.*)$', out,
                    re.M).group(1).split()
    assert [float(v) for v in sup] == pytest.approx(
        [100 * float(results['supervised'][k])
         for k in ('AP50', 'AP75', 'AP', 'AR')], abs=0.051)
    assert re.search(r'correction (beat|lost to|made no clear difference '
                     r'to) training on the weak labels: AP50 [+-]', out)
    png = cv2.imread(str(work / 'labels_before_after.png'))
    assert png.shape == (512, 3 * 512, 3)


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
