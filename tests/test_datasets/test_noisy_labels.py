# Copyright (c) mmsissi contributors. All rights reserved.
"""Reproducible label corruption for noisy-label benchmarks."""
import json
import subprocess
import sys

import numpy as np
import pytest

from mmsissi.datasets.noisy_labels import corrupt_coco
from mmsissi.structures import box_iou


@pytest.fixture(scope='module')
def clean(demo_data):
    return json.load(open(demo_data / 'target' / 'train_manual.json'))


def _xyxy(anns):
    b = np.array([a['bbox'] for a in anns], np.float64).reshape(-1, 4)
    b[:, 2:] += b[:, :2]
    return b


def test_identity_without_noise(clean):
    out, n = corrupt_coco(clean, 0, 0, 0, seed=3)
    assert n['dropped'] == n['spurious'] == 0 and n['kept'] == n['clean']
    assert [a['bbox'] for a in out['annotations']] == [
        [float(v) for v in a['bbox']] for a in clean['annotations']]
    assert out['images'] == clean['images']


def test_rates_and_reproducibility(clean):
    a, n = corrupt_coco(clean, 0.5, 0.15, 0.1, seed=0)
    b, _ = corrupt_coco(clean, 0.5, 0.15, 0.1, seed=0)
    c, _ = corrupt_coco(clean, 0.5, 0.15, 0.1, seed=1)
    assert a == b and a != c
    assert n['clean'] == 288
    assert 0.4 < n['dropped'] / n['clean'] < 0.6
    assert n['spurious'] == sum(
        round(0.1 * k) for k in
        np.bincount([x['image_id'] for x in clean['annotations']])[1:])
    assert n['total'] == n['kept'] + n['spurious'] == len(a['annotations'])
    # kept boxes stay near a clean box (jitter 0.15: IoU > 0.4), spurious
    # ones are rarely on one; all inside the image, >= 1 px
    gt = _xyxy(clean['annotations'])
    kept = [x for x in a['annotations'] if x['noise'] == 'kept']
    best = box_iou(_xyxy(kept), gt).max(axis=1)
    assert best.min() > 0.4
    for x in a['annotations']:
        assert x['bbox'][2] >= 1 and x['bbox'][3] >= 1
        assert x['bbox'][0] >= 0 and x['bbox'][0] + x['bbox'][2] <= 512.01
    assert a['info']['noise'] == dict(drop=0.5, jitter=0.15, spurious=0.1,
                                      seed=0)


@pytest.mark.parametrize('bad', [dict(drop=1.5), dict(jitter=-0.1),
                                 dict(spurious=float('nan'))])
def test_rates_outside_0_1(clean, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        corrupt_coco(clean, **dict(dict(drop=0.5, jitter=0.1,
                                        spurious=0.1), **bad))


def test_cli(tmp_path, demo_data):
    src = demo_data / 'target' / 'train_manual.json'
    out = tmp_path / 'noisy.json'
    r = subprocess.run([sys.executable, 'tools/make_noisy_labels.py',
                        str(src), '--out', str(out), '--drop', '0.5',
                        '--seed', '0'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert '288 clean boxes' in r.stdout and 'spurious' in r.stdout
    assert len(json.load(open(out))['annotations']) > 0
    r = subprocess.run([sys.executable, 'tools/make_noisy_labels.py',
                        str(src), '--out', str(out), '--drop', '2'],
                       capture_output=True, text=True)
    assert r.returncode == 2 and '--drop must be in [0, 1]' in r.stderr
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": [')
    r = subprocess.run([sys.executable, 'tools/make_noisy_labels.py',
                        str(bad), '--out', str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and str(bad) in r.stderr
