# Copyright (c) mmsissi contributors. All rights reserved.
"""Controlled noisy-label benchmark: does label correction recover the
cells that the training labels miss?

The target set's labels are known (one clean COCO box file): it is split
(seeded) into train / validation / test images, the training labels are
corrupted with ``tools/make_noisy_labels.py``'s options (dropped cells,
jittered boxes, false boxes), and a clean *source* set of another domain is
mixed into every batch 1:1, as in SISSI. Rows:

- ``clean``: supervised on the *clean* target labels (the upper bound);
- ``supervised``: supervised on the corrupted labels, no correction. This
  run also *records* both start criteria (``record_only``): early stopping
  on the source validation loss and ADELE, with a checkpoint every epoch;
- ``baseline``: branched from ``supervised`` at the epoch its
  validation-loss criterion fires (best-loss weights restored, as the
  ``baseline`` config does), then self-training with TTA + WBF;
- ``a_sissi_s``: branched where ADELE fires, then pseudo labels + strong-
  blur synthesis (``configs/sissi/a_sissi_s.py``);
- ``plain_a`` and ``sissi_s`` branch the same way (optional);
- ``soft_teacher`` (optional): mmdet's ``SoftTeacher`` around the same
  detector, the peer a user of MMDetection would pick instead; its burn-in
  is the ``supervised`` run up to the validation-loss start (weights as
  trained), the weakly labelled target images are its labelled and its
  unlabelled set, the source is labelled; tested with the teacher
  (``benchmarks/noisy/soft_teacher.py`` says what is adapted and why).

Each correction row runs its Table 1 config (its hooks, TTA and fusion)
with only data, model size and schedule changed, resumed from a
checkpoint of the ``supervised`` run where its criterion fired (the rows
are identical until then). Reported:

- per epoch, the precision / recall / F1 (IoU 0.5) of the target labels
  trained on, against the clean truth (epoch 0: the corrupted labels) ->
  ``labels.csv`` and ``label_recall.png``;
- AP50 / AP75 / AP / AR (COCO) on the held-out clean test split, each
  row's start epoch and cause -> ``results.csv``.

Default: DSB 2018 fluorescent nuclei (256x256 images) as target, the
Usiigaci phase-contrast fibroblasts (manual masks, half resolution) as
source; random-init ResNet-18 FPN Faster R-CNN on native-resolution random
crops. Any COCO set works through the flags::

    python benchmarks/noisy_labels.py                       # all rows
    python benchmarks/noisy_labels.py --rows clean supervised \\
        --target-ann my.json --target-category-map cell=cell

Each training runs ``tools/train.py`` / ``tools/test.py`` in a process of
its own, one at a time; logs in ``<work-dir>/seed_<s>/<row>/``.

Measured before TightRandomAffine and the synthesis margins (mmdet's
RandomAffine, tight clone masks, synthesis on every image), with the
defaults (2 CPU cores, 115 min for all four rows; 80
train / 20 val / 40 test images; corrupted labels 1,450 boxes for 2,384
cells: P 0.84 / R 0.51 at IoU 0.5; ~1 s per iteration, 285-310 s per
20-view TTA pass over the 80 images). Test split, AP50 / AP75 / AP / AR:
clean 82.8 / 49.6 / 46.9 / 53.4; supervised 79.0 / 30.8 / 37.7 / 46.2;
baseline (start 7, cap) 44.7 / 4.6 / 12.2 / 25.9; A+SISSI(S) (start 7,
ADELE criterion) 4.6 / 0.1 / 1.0 / 6.5. The first round of pseudo labels
is better than the corrupted labels (P 0.90 / R 0.72), later rounds are
not: the detector at the start epoch (before the lr step) predicts boxes
~13 % too large (log-width +0.13 single-view; +0.05 after the step) and
each round of self-training compounds it (+0.19 / +0.27 by epoch 12).

With ``--rows supervised baseline --lr-step 6`` (the lr step before the
start at epoch 7; 3,328 s): supervised 77.8 / 27.7 / 36.1 / 44.6; baseline
(start 7, cap; best-loss weights of epoch 5) 63.0 / 8.1 / 19.4 / 31.3.
Label P / R by epoch 8-12: 0.91 / 0.74, 0.92 / 0.77, 0.92 / 0.77,
0.89 / 0.74, 0.82 / 0.69: better for longer, but the drift returns.

After the fixes (TightRandomAffine, synthesis margins), the full regime,
seed 0, 2 CPU cores (``--rows clean supervised baseline sissi_merge
refit_sissi_merge --seeds 0``): supervised 76.1 / 29.7 / 36.4 / 46.2;
baseline (start 7, cap) 76.1 / 10.3 / 28.1 / 37.2 (its boxes grow each
round); the recommended ``sissi_merge`` 79.1 / 36.7 / 40.2 / 46.9 (labels
P / R 0.84 / 0.51 -> 0.86 / 0.86); ``refit_sissi_merge`` (from scratch on
those labels) 80.6 / 39.0 / 41.3 / 48.5; clean 81.3 / 48.4 / 45.6 /
52.2. Seed 1 (``--rows supervised sissi_merge refit_sissi_merge --seeds
1``): supervised 76.6 / 33.7 / 37.5 / 46.3; ``sissi_merge`` (start 6,
criterion) 79.2 / 31.1 / 38.9 / 46.5 (labels -> 0.87 / 0.87);
``refit_sissi_merge`` 80.5 / 34.9 / 40.5 / 47.9. Seed 2 (same rows):
supervised 77.1 / 32.5 / 37.5 / 46.6; ``sissi_merge`` (start 6,
criterion) 74.8 / 35.4 / 37.3 / 46.1 (labels -> 0.85 / 0.87);
``refit_sissi_merge`` 74.0 / 36.8 / 37.4 / 45.5, not above supervised.
Over three seeds the refit recovers 31 % of the AP gap and 15 % of the AR
gap (against clean seed 0), ``sissi_merge`` 20 % / 1 %.
``docs/results/noisy_labels/README.md`` has every run (README
"Benchmark results" the summary).

Two benchmarks (``--preset``): ``dsb-synthetic`` (the default, described
above) and ``usiigaci-weak``, the paper's situation: the Usiigaci
phase-contrast fibroblasts trained on the weak labels of the project's
weak-label pipeline (truth: the manual masks), the DSB nuclei as clean
source (``benchmarks/noisy/presets.py``). ``--target-train-ann FILE``
trains on labels given in a file instead of corrupted ones. ``--seeds 0 1
2`` repeats every row per training seed (the split and the training labels
stay those of ``--seed``); the summary gives mean and min-max over seeds
and the gap recovered, (row - noisy) / (clean - noisy). ``--quick`` is the
quick regime (clean, supervised, baseline; 8 x 60 iterations). Re-running
a command skips the rows whose ``result.json`` is written and resumes an
interrupted row from its last checkpoint.

Measured with ``--preset usiigaci-weak --quick`` (seed 0, 3,700 s):
clean 32.4 / 1.9 / 8.9 / 20.2; supervised on the weak labels 23.3 / 1.0 /
5.9 / 14.2; baseline (start 5) 6.2 / 0.1 / 1.2 / 6.3, its first pseudo
labels worse than the weak ones (P / R 0.62 / 0.48 -> 0.43 / 0.26).

The code lives in ``benchmarks/noisy/`` (data, configs, branch, report,
presets, soft_teacher, cli); this file is the command line.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from benchmarks.noisy.branch import (label_quality, labels_by_epoch,  # noqa
                                     make_branch_checkpoint, read_record)
from benchmarks.noisy.cli import main, parse_args, run_row  # noqa: E402
from benchmarks.noisy.configs import (BRANCH, NAMES, ROWS,  # noqa: E402
                                      build_config, check_rows,
                                      row_restores_best)
from benchmarks.noisy.data import given_labels, prepare_data  # noqa: E402
from benchmarks.noisy.report import gap_recovered, summarize  # noqa: E402

__all__ = ['BRANCH', 'NAMES', 'ROWS', 'build_config', 'check_rows',
           'gap_recovered', 'given_labels', 'label_quality',
           'labels_by_epoch', 'main', 'make_branch_checkpoint', 'parse_args',
           'prepare_data', 'read_record', 'row_restores_best', 'run_row',
           'summarize']

if __name__ == '__main__':
    main()
