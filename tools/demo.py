# Copyright (c) mmsissi contributors. All rights reserved.
"""CPU demo of label correction, end to end, on the shipped demo subset
(demo/data), in the benchmark's regime (``benchmarks/noisy_labels.py
--preset demo``: random-init ResNet-18 FPN, 192 px crops, 6 epochs of 16
iterations):

1. weak labels for the 12 target training crops by image processing
   (``tools/weak_labels.py``'s pipeline), scored against the manual boxes;
2. "Supervised only": trained on the weak labels (with the clean source
   images in every batch);
3. the recommended row (``configs/sissi/sissi_merge.py``), branched from
   the Supervised run where its start criterion fires: the weak labels are
   kept, cells the detector finds beyond them are added (or ignored when
   uncertain), every epoch;
4. both tested on the 4 held-out crops against the manual boxes.

It prints the labels' precision / recall before and after correction, the
test AP50 / AP75 / AP / AR of both rows and says plainly which won, and
writes ``labels_before_after.png`` (one crop: manual, weak, corrected).
Everything lands in ``work_dirs/demo``; a second run reuses what is done.
"""
import argparse
import csv
import json
import os.path as osp
import subprocess
import sys
import time

import cv2
import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
ROW = 'sissi_merge'

from mmsissi.fileio import read_raw_image, to_bgr_uint8  # noqa: E402
from mmsissi.weak_labels.boxes import coco_to_boxes  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description='mmsissi CPU demo')
    p.add_argument('--work-dir', default='work_dirs/demo')
    p.add_argument('--epochs', type=int, default=None,
                   help='training epochs (default: the demo preset\'s 6)')
    p.add_argument('--iters-per-epoch', type=int, default=None,
                   help='iterations per epoch (default: 16)')
    return p.parse_args()


def _benchmark(args):
    cmd = [sys.executable, 'benchmarks/noisy_labels.py', '--preset', 'demo',
           '--work-dir', args.work_dir]
    if args.epochs:
        cmd += ['--epochs', str(args.epochs)]
    if args.iters_per_epoch:
        cmd += ['--iters-per-epoch', str(args.iters_per_epoch)]
    print('$ ' + ' '.join(cmd[1:]), flush=True)
    r = subprocess.run(cmd, cwd=REPO)
    if r.returncode:
        sys.exit(f'demo failed in the benchmark run (exit {r.returncode})')


def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _panel(img, boxes, color, caption, ignore=()):
    out = img.copy()
    for boxes_, col in ((ignore, (160, 160, 160)), (boxes, color)):
        for x1, y1, x2, y2 in np.asarray(boxes_).reshape(-1, 4):
            cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), col,
                          2, cv2.LINE_AA)
    cv2.rectangle(out, (0, 0), (out.shape[1], 30), (0, 0, 0), -1)
    cv2.putText(out, caption, (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _boxes(coco, crowd):
    return coco_to_boxes(coco, crowd=crowd)


def plot_labels(work, out):
    """Manual / weak / corrected boxes of the training crop where the
    correction changed the most, side by side."""
    data = osp.join(work, 'data')
    manual = json.load(open(osp.join(data, 'train_clean.json')))
    weak = json.load(open(osp.join(data, 'train_noisy.json')))
    index = osp.join(work, 'seed_0', ROW, 'labels', 'index.json')
    fixed = json.load(open(osp.join(osp.dirname(index),
                                    json.load(open(index))['file'])))
    truth, before = _boxes(manual, None), _boxes(weak, None)
    after, ignore = _boxes(fixed, False), _boxes(fixed, True)
    name = max(truth, key=lambda k: len(after[k]) - len(before[k]))
    path = next(im['file_name'] for im in manual['images']
                if osp.basename(im['file_name']) == name)
    img = to_bgr_uint8(read_raw_image(
        osp.join(REPO, 'demo', 'data', 'target', path)))
    panels = [
        _panel(img, truth[name], (0, 200, 0), f'manual: {len(truth[name])}'),
        _panel(img, before[name], (0, 140, 255),
               f'weak labels: {len(before[name])}'),
        _panel(img, after[name], (255, 120, 0),
               f'corrected: {len(after[name])} (+{len(ignore[name])} '
               'ignored)', ignore[name])]
    cv2.imwrite(out, np.concatenate(panels, axis=1))
    return name


def report(work):
    results = {r['row']: r for r in _read_csv(osp.join(work, 'results.csv'))
               if r['seed'] == '0'}
    labels = [r for r in _read_csv(osp.join(work, 'labels.csv'))
              if r['row'] == ROW and r['seed'] == '0']
    first, last = labels[0], labels[-1]
    print('\nLabels of the 12 training crops vs the manual boxes:')
    print(f'{"":<22}{"boxes":>7}{"P":>7}{"R":>7}{"F1":>7}')
    for what, r in (('weak (initial)', first),
                    (f'corrected (epoch {last["epoch"]})', last)):
        print(f'{what:<22}{r["num_boxes"]:>7}{float(r["precision"]):>7.2f}'
              f'{float(r["recall"]):>7.2f}{float(r["f1"]):>7.2f}')
    print(f'(+ {last["num_ignore"]} uncertain boxes as ignore regions; '
          f'correction started after epoch {results[ROW]["start"]})')
    print('\nTest: the 4 held-out crops vs the manual boxes (%):')
    print(f'{"":<36}{"AP50":>7}{"AP75":>7}{"AP":>7}{"AR":>7}')
    names = dict(supervised='Supervised only (weak labels)',
                 **{ROW: f'{ROW} (recommended row)'})
    for row in ('supervised', ROW):
        r = results[row]
        print(f'{names[row]:<36}' + ''.join(
            f'{100 * float(r[k]):>7.1f}' for k in ('AP50', 'AP75', 'AP',
                                                   'AR')))
    d = {k: 100 * (float(results[ROW][k]) - float(
        results['supervised'][k])) for k in ('AP50', 'AR')}
    margin = 3.0  # points: one seed on 4 crops moves this much
    if min(d.values()) > margin:
        verdict = 'beat training on the weak labels'
    elif max(d.values()) < -margin:
        verdict = 'lost to training on the weak labels'
    else:
        verdict = 'made no clear difference to training on the weak labels'
    print(f'\nAt demo scale, correction {verdict}: AP50 {d["AP50"]:+.1f}, '
          f'AR {d["AR"]:+.1f} points (one seed on 4 test crops: within '
          f'{margin:.0f} points is noise; README "Benchmark results" '
          'measures the benchmark over seeds).')


def main():
    args = parse_args()
    t0 = time.time()
    work = osp.join(REPO, args.work_dir) if not osp.isabs(
        args.work_dir) else args.work_dir
    args.work_dir = work
    _benchmark(args)
    report(work)
    png = osp.join(work, 'labels_before_after.png')
    name = plot_labels(work, png)
    print(f'\nwrote {png} ({name}: manual / weak / corrected)')
    print(f'demo: {time.time() - t0:.0f} s')


if __name__ == '__main__':
    main()
