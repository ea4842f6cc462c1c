# Copyright (c) mmsissi contributors. All rights reserved.
"""How good label files are against a truth file: count and placement.

    python benchmarks/label_placement.py TRUTH.json LABELS.json [...]

Prints per file (a COCO label file, e.g. a label store's epoch_<k>.json,
or a detector's ``test.bbox.json`` list with ``--min-score``) precision /
recall at IoU 0.5 and 0.75 and the median size bias (log label / true
width and height over the truth boxes' matches at IoU >= 0.5), the
``labels.csv`` columns of ``benchmarks/noisy_labels.py``. Ignore regions
(``iscrowd``) are left out. ``--by-size 10 14 18 24 32`` adds the size
bias per bin of the true boxes' size (sqrt(w h), px): a detector that
regresses sizes to the mean shows small cells too large, large ones too
small, which one median hides.
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from benchmarks.noisy.branch import _quality  # noqa: E402
from mmsissi.engine.hooks.label_update import size_pairs  # noqa: E402
from mmsissi.weak_labels.boxes import (coco_to_boxes,  # noqa: E402
                                       load_coco_boxes)


def _load(path, truth, min_score):
    """``(labels, ignore)`` by image key of a COCO file, or of a results
    list (a ``test.bbox.json``: its detections of score >= ``min_score``
    on the truth file's images)."""
    data = json.load(open(path))
    if isinstance(data, dict):
        return (load_coco_boxes(path, crowd=False),
                load_coco_boxes(path, crowd=True))
    dets = [d for d in data if d.get('score', 1.0) >= min_score]
    return coco_to_boxes(dict(images=json.load(open(truth))['images'],
                              annotations=dets), crowd=False), {}


def size_table(pred, gt, edges):
    """Rows ``(lo, hi, pairs, log_w, log_h)``: the median log label / true
    width and height over the truth boxes' best matches (IoU >= 0.5)
    whose true size sqrt(w h) is in ``[lo, hi)``; bins from ``edges``
    with 0 and infinity added."""
    log_wh, ratio = size_pairs(gt, pred, match_iou=0.5)
    size = np.exp(log_wh.mean(1))
    bounds = [0.0] + sorted(float(e) for e in edges) + [float('inf')]
    rows = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        m = (size >= lo) & (size < hi)
        med = np.median(ratio[m], 0) if m.any() else (np.nan, np.nan)
        rows.append((lo, hi, int(m.sum()), float(med[0]), float(med[1])))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('truth')
    p.add_argument('labels', nargs='+')
    p.add_argument('--min-score', type=float, default=0.5,
                   help='for a results list: detections kept (default 0.5)')
    p.add_argument('--by-size', type=float, nargs='+', metavar='PX',
                   help='bin edges of the true size (px): size bias per bin')
    args = p.parse_args(argv)
    gt = load_coco_boxes(args.truth)
    print('file,num_boxes,precision,recall,precision75,recall75,log_w,log_h')
    for path in args.labels:
        m = _quality(*_load(path, args.truth, args.min_score), gt)
        print(','.join([path, str(m['num_boxes'])] + [
            f'{m[k]:.4f}' for k in ('precision', 'recall', 'precision75',
                                    'recall75', 'log_w', 'log_h')]))
    if args.by_size:
        print('file,size_from,size_to,pairs,log_w,log_h')
        for path in args.labels:
            for row in size_table(_load(path, args.truth, args.min_score)[0],
                                  gt, args.by_size):
                print(f'{path},{row[0]:g},{row[1]:g},{row[2]},'
                      f'{row[3]:.4f},{row[4]:.4f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
