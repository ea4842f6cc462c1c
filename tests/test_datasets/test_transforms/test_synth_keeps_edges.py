# Copyright (c) mmsissi contributors. All rights reserved.
"""Synthesis as configured keeps the labelled cells' edges and mixes real
and synthetic target images.

The measure is the issue's: the contrast of a cell (mean inside its mask
minus the mean of a ring 3-8 px outside its box) kept in the synthetic
image, summed over cells, relative to the original image. With tight
boxes the mixed clone (which erodes its mask by 3 px) loses the edges."""
import glob

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmdet.registry import TRANSFORMS
from transform_helpers import _shared_data

from benchmarks import noisy_labels as nl
from mmsissi.datasets.transforms import SeamlessSynth
from tests.helpers.noisy_bench import bench_argv

DSB = _shared_data() / 'dsb2018_stage1_train_fluo'


def _configured():
    cfg = Config.fromfile('configs/sissi/a_sissi_s.py')
    pipe = cfg.train_dataloader.dataset.datasets[0].pipeline
    return next(t for t in pipe if t['type'] == 'SeamlessSynth')


def _nuclei(n=40, size=256, seed=0):
    """Fluorescence-like image: bright blobs of ~14-26 px on a dark noisy
    background, and their instance label map."""
    rng = np.random.default_rng(seed)
    img = rng.normal(20, 4, (size, size))
    lab = np.zeros((size, size), np.int32)
    yy, xx = np.mgrid[:size, :size]
    k = 0
    while k < n:
        cx, cy = rng.uniform(15, size - 15, 2)
        ax, ay = rng.uniform(7, 13, 2)
        m = ((xx - cx) / ax)**2 + ((yy - cy) / ay)**2 <= 1
        if (lab[m] > 0).any():
            continue
        k += 1
        lab[m] = k
        img[m] += rng.uniform(60, 120)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0)
    return np.clip(img, 0, 255).astype(np.uint8), lab


def _boxes(lab, ids):
    out = []
    for k in ids:
        ys, xs = np.nonzero(lab == k)
        out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return np.array(out, np.float64).reshape(-1, 4)


def _contrast(img, lab, ids):
    img, every, total = img.astype(np.float64), lab > 0, 0.0
    for k, (x1, y1, x2, y2) in zip(ids, _boxes(lab, ids).astype(int)):
        ring = np.zeros_like(every)
        ring[max(y1 - 8, 0):y2 + 8, max(x1 - 8, 0):x2 + 8] = True
        ring[max(y1 - 3, 0):y2 + 3, max(x1 - 3, 0):x2 + 3] = False
        ring &= ~every
        if ring.sum() >= 5:
            total += img[lab == k].mean() - img[ring].mean()
    return total


def _kept(t, images):
    """Contrast kept by the labelled (even) and unlabelled (odd) cells."""
    lab_kept = unl_kept = lab0 = unl0 = 0.0
    for img, lab in images:
        ids = [k for k in range(1, lab.max() + 1) if (lab == k).any()]
        labelled, other = ids[::2], ids[1::2]
        bgr = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        syn = t.synthesize(bgr, _boxes(lab, labelled), 'strong')[..., 0]
        lab_kept += _contrast(syn, lab, labelled)
        lab0 += _contrast(img, lab, labelled)
        unl_kept += _contrast(syn, lab, other)
        unl0 += _contrast(img, lab, other)
    return lab_kept / lab0, unl_kept / unl0


def _dsb_images(n=12):
    out = []
    for p in sorted(glob.glob(str(DSB / 'instances' / '*.png'))):
        lab = cv2.imread(p, cv2.IMREAD_UNCHANGED).astype(np.int32)
        if max(lab.shape) <= 256:
            img = cv2.imread(p.replace('instances', 'images'),
                             cv2.IMREAD_GRAYSCALE)
            out.append((img, lab))
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize('source', ['synthetic', 'dsb'])
def test_configured_synthesis_keeps_the_labelled_edges(source):
    if source == 'dsb' and not (DSB / 'instances').is_dir():
        pytest.skip(f'shared data not found at {DSB}')
    images = [_nuclei(seed=s) for s in range(3)] if source == 'synthetic' \
        else _dsb_images()
    tight_l, tight_u = _kept(SeamlessSynth(), images)  # the authors' masks
    t = TRANSFORMS.build(_configured())
    lab, unl = _kept(t, images)
    # tight masks lose the edges (measured: 0.16 on 12 DSB images, 0.16
    # on the synthetic ones) ...
    assert tight_l < 0.5
    # ... the configured margin brings them back (0.83; 1.00), and the
    # unlabelled cells still fade (0.10 -> 0.14; 0.11 -> 0.15)
    assert lab > 0.75
    assert unl < 0.3 and unl < tight_u + 0.1


def test_configured_synthesis_mixes_real_and_synthetic_images():
    t = TRANSFORMS.build(_configured())
    img, lab = _nuclei(n=10)
    bgr = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    boxes = _boxes(lab, range(1, 11)).astype(np.float32)
    np.random.seed(0)
    synth = [t(dict(img=bgr, gt_bboxes=boxes, sissi_synth='strong'))['img']
             is not bgr for _ in range(200)]
    assert 0.35 < np.mean(synth) < 0.65  # prob 0.5 per image


def test_benchmark_synthesizes_like_the_configs(tmp_path, demo_data):
    args = nl.parse_args(bench_argv(demo_data, tmp_path / 'b'))
    paths = nl.prepare_data(args, str(tmp_path / 'data'))
    cfg = nl.build_config('a_sissi_s', args, paths)
    pipe = cfg.train_dataloader.dataset.datasets[0]['pipeline']
    ours = next(t for t in pipe if t['type'] == 'SeamlessSynth')
    assert ours == _configured()


def test_clone_boxes_grow_by_the_margin():
    t = SeamlessSynth(pad_px=3, pad_ratio=0.15)
    got = t.clone_boxes(np.array([[10., 20., 30., 60.], [0, 0, 1, 1]]))
    np.testing.assert_allclose(got[0], [4, 11, 36, 69])  # 3+3, 3+6
    np.testing.assert_allclose(got[1], [0, 0, 1, 1])  # too small: as is
    np.testing.assert_allclose(SeamlessSynth().clone_boxes(got), got)
    with pytest.raises(ValueError, match='pad'):
        SeamlessSynth(pad_px=-1)
