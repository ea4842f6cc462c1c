# Copyright (c) mmsissi contributors. All rights reserved.
"""CPU demo of the "Supervised only" row of Table 1, end to end, on the
shipped demo subset (demo/data):

1. weak labels for the target training crops by image processing
   (``tools/weak_labels.py``), with precision/recall against the manual
   annotation printed for reference;
2. Faster R-CNN (ResNet-18 FPN, 256x256, random init) trained on balanced
   batches of weak-labelled target crops and clean source images
   (``tools/train.py configs/sissi/supervised.py --cpu-scale``, 12 epochs);
3. evaluation on the target test crops, per reader
   (``tools/test.py``), printing the AP50 / AP75 / AP / AR table.

Everything lands in ``work_dirs/demo`` (logs, checkpoint, weak labels,
per-reader CSV, detections as COCO json).
"""
import argparse
import csv
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/sissi/supervised.py'
EPOCHS = 12


def run(step, args):
    print(f'\n=== {step} ===\n$ python {" ".join(args)}', flush=True)
    t0 = time.time()
    r = subprocess.run([sys.executable, *args], cwd=REPO)
    if r.returncode != 0:
        sys.exit(f'demo failed at step "{step}" (exit {r.returncode})')
    dt = time.time() - t0
    print(f'=== {step}: {dt:.0f} s ===', flush=True)
    return dt


def main():
    parser = argparse.ArgumentParser(description='mmsissi CPU demo')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--epochs', type=int, default=EPOCHS,
                        help='training epochs (one pass over the 12 target '
                        'crops each)')
    args = parser.parse_args()
    work = args.work_dir
    os.makedirs(osp.join(REPO, work), exist_ok=True)
    weak = osp.join(work, 'weak_labels_train.json')
    times = {}
    times['weak labels'] = run('1/3 weak labels (image processing)', [
        'tools/weak_labels.py', 'demo/data/target/train', '--root',
        'demo/data/target', '--out', weak, '--gt',
        'demo/data/target/train_manual.json'
    ])
    epochs = args.epochs
    opts = [f'train_dataloader.dataset.datasets.0.ann_file={weak}',
            f'train_cfg.max_epochs={epochs}',
            f'train_cfg.val_interval={epochs}',
            f'default_hooks.checkpoint.interval={epochs}',
            'default_hooks.checkpoint.max_keep_ckpts=1']
    times['train'] = run('2/3 train (balanced target + source batches)', [
        'tools/train.py', CONFIG, '--cpu-scale', '--work-dir', work,
        '--cfg-options', *opts
    ])
    last = osp.join(REPO, work, 'last_checkpoint')
    ckpt = open(last).read().strip()
    times['test'] = run('3/3 test, per reader', [
        'tools/test.py', CONFIG, ckpt, '--cpu-scale', '--work-dir', work
    ])
    table = osp.join(REPO, work, 'test.per_reader.csv')
    print('\nPer-reader evaluation on the target test crops (%):')
    with open(table) as f:
        rows = list(csv.reader(f))
    print(''.join(c.ljust(10) for c in rows[0]))
    for row in rows[1:]:
        print(row[0].ljust(10) +
              ''.join(f'{100 * float(v):<10.1f}' for v in row[1:]))
    print('\nTimes: ' + ', '.join(f'{k} {v:.0f} s' for k, v in times.items()))
    print(f'Outputs in {work}/: weak labels, checkpoint, logs, '
          'test.per_reader.csv, test.bbox.json')
    print('The demo uses a random-init ResNet-18 at 256x256 for minutes on '
          'a CPU: expect low AP. Full-size configs are in configs/sissi/.')


if __name__ == '__main__':
    main()
