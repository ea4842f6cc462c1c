# Copyright (c) mmsissi contributors. All rights reserved.
"""The two benchmarks (``--preset``) and the quick regime (``--quick``).

- ``dsb-synthetic`` (default): target DSB 2018 nuclei (the 256x256
  images), training labels corrupted at random (drop 0.5, jitter 0.15,
  spurious 0.1); source the Usiigaci fibroblasts (manual masks) at half
  resolution.
- ``usiigaci-weak``: the paper's situation. Target the Usiigaci
  phase-contrast fibroblasts, trained on the weak labels that the
  project's weak-label pipeline (``tools/weak_labels.py``, its default
  watershed + Hough parameters) makes on the training images; truth the
  manual masks. Images at 3/8 resolution (1022x1024 -> 383x384: cells
  ~15-55 px, in the range of the 16 px anchors); split 30 / 8 / 12.
  Source the DSB nuclei (256x256 images, clean), at native resolution.

- ``demo``: the shipped demo subset (``demo/data``), for ``make demo``:
  the 12 Usiigaci training crops with weak labels (target), the 4 held-out
  test crops (test, and validation: the demo tunes nothing), the 16 DSB
  source images; 3/8 resolution like ``usiigaci-weak``, and a short
  schedule (6 epochs of 16 iterations) with the Supervised and the
  recommended row.

Values given on the command line win over the preset's.
"""
import os.path as osp

__all__ = ['DATA', 'PRESETS', 'QUICK']

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA = osp.join(osp.dirname(REPO), 'shared', 'data')
_DSB = osp.join(DATA, 'dsb2018_stage1_train_fluo', 'annotations_bbox.json')
_USI = osp.join(DATA, 'usiigaci_nih3t3_phc', 'annotations_bbox.json')

_DEMO = osp.join(REPO, 'demo', 'data')
_DEMO_T = osp.join(_DEMO, 'target')

PRESETS = {
    'dsb-synthetic': dict(
        target_ann=_DSB, target_category_map=dict(nucleus='cell'),
        target_scale=1.0, split=[80, 20, 40], max_side=256,
        weak_labels=False, source_ann=_USI,
        source_category_map=dict(cell='cell'), source_scale=0.5,
        source_max_side=None),
    'usiigaci-weak': dict(
        target_ann=_USI, target_category_map=dict(cell='cell'),
        target_scale=0.375, split=[30, 8, 12], max_side=None,
        weak_labels=True, source_ann=_DSB,
        source_category_map=dict(nucleus='cell'), source_scale=1.0,
        source_max_side=256),
    'demo': dict(
        target_ann=osp.join(_DEMO_T, 'train_manual.json'),
        split_files=dict(
            train=osp.join(_DEMO_T, 'train_manual.json'),
            val=osp.join(_DEMO_T, 'test_manual.json'),
            test=osp.join(_DEMO_T, 'test_manual.json')),
        target_category_map=dict(cell='cell'), target_scale=0.375,
        split=[12, 4, 4], max_side=None, weak_labels=True,
        source_ann=osp.join(_DEMO, 'source', 'annotations_bbox.json'),
        source_category_map=dict(nucleus='cell'), source_scale=1.0,
        source_max_side=256, source_val=3, rows=['supervised', 'sissi_merge'],
        epochs=6, iters_per_epoch=16),
}

#: The quick regime: the full one's shape (warm-up, start at the cap
#: before the lr step, relabelling after it) in 8 epochs of 60 iterations
#: instead of 12 of 100, three rows, one seed.
QUICK = dict(rows=['clean', 'supervised', 'baseline'], epochs=8,
             iters_per_epoch=60)
