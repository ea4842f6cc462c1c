# Copyright (c) mmsissi contributors. All rights reserved.
"""Reproducible label corruption for noisy-label benchmarks."""
import json
import subprocess
import sys

import numpy as np
import pytest

from mmsissi.datasets.noisy_labels import corrupt_coco, split_coco
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


def _sized(n, sides):
    ims = [dict(id=i + 1, file_name=f'images/{i}.png', height=h, width=w)
           for i, (h, w) in enumerate(sides[:n])]
    anns = [dict(id=10 * im['id'] + j, image_id=im['id'], category_id=1,
                 bbox=[j, j, 5, 5]) for im in ims for j in range(im['id'])]
    return dict(images=ims, annotations=anns,
                categories=[dict(id=1, name='cell')])


def test_split_is_seeded_disjoint_and_keeps_annotations():
    coco = _sized(30, [(256, 256)] * 20 + [(512, 640)] * 10)
    a = split_coco(coco, [8, 4, -1], seed=1, max_side=256)
    b = split_coco(coco, [8, 4, -1], seed=1, max_side=256)
    c = split_coco(coco, [8, 4, -1], seed=2, max_side=256)
    ids = {k: [im['id'] for im in v['images']] for k, v in a.items()}
    assert ids == {k: [im['id'] for im in v['images']]
                   for k, v in b.items()}
    assert ids != {k: [im['id'] for im in v['images']]
                   for k, v in c.items()}
    assert [len(v) for v in ids.values()] == [8, 4, 8]  # the 20 small ones
    assert len(set(sum(ids.values(), []))) == 20
    assert max(sum(ids.values(), [])) <= 20  # no 512x640 image
    for part in a.values():  # each image's annotations, and only those
        own = {im['id'] for im in part['images']}
        assert {x['image_id'] for x in part['annotations']} <= own
        assert len(part['annotations']) == sum(own)
        assert part['categories'] == coco['categories']


def test_split_too_small_is_a_clear_error():
    coco = _sized(10, [(256, 256)] * 10)
    with pytest.raises(ValueError, match='cannot split 10 images'):
        split_coco(coco, [8, 4, 4])
    with pytest.raises(ValueError, match='2 sizes for 3 names'):
        split_coco(coco, [8, 2])
