# Copyright (c) mmsissi contributors. All rights reserved.
"""What a set of candidate boxes could correct in the initial labels.

    python benchmarks/label_support.py TRUTH.json INITIAL.json CANDS.json \\
        [--min-score 0 0.5] [--by-size 35 47 60 80]

``CANDS.json`` is any COCO file with optional per-box ``score``: a label
store's ``epoch_<k>.json`` of a ``'replace'`` row (its fused boxes, ignore
regions included), or the weak-label pipeline's output with looser
parameters. A diagnosis for benchmarks (it reads the truth). Per minimum
score it prints:

- the initial boxes a candidate supports (IoU >= ``--match-iou``, 0.4 as
  ``merge_cfg``) and those none supports, each split into true and false
  (IoU >= 0.5 with a true box): what ``merge_cfg.drop_unsupported`` would
  drop, and the labels' precision / recall after dropping;
- the candidates that match no initial box (what ``update='merge'`` may
  add), how many are true, and how many of the cells the initial labels
  miss they find (IoU >= 0.5; and 0.3).

``--by-size`` adds the missed cells and those a candidate of any score
finds, per bin of the true box's size sqrt(w h) in px. Images are matched
by file base name; truth images missing from a file count as empty.
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmsissi.structures.box_ops import (box_iou,  # noqa: E402
                                        coco_boxes_by_image)
from mmsissi.weak_labels.boxes import coco_to_boxes  # noqa: E402

__all__ = ['scored_boxes', 'load_scored', 'support_counts',
           'missed_by_size', 'main']

_EMPTY = np.zeros((0, 4))


def load_scored(path):
    """:func:`scored_boxes` of a COCO file."""
    return scored_boxes(json.load(open(path)))


def scored_boxes(coco):
    """``{image base name: (boxes (N, 4) xyxy, scores (N,))}`` of a COCO
    dict (ignore regions included); a box without ``score`` scores 1."""
    def name(im):
        return osp.basename(str(im['file_name']).replace('\\', '/'))

    boxes, scores = coco_boxes_by_image(coco, name)
    return {k: (np.asarray(b, np.float64).reshape(-1, 4),
                np.asarray(scores[k], np.float64)) for k, b in boxes.items()}


def support_counts(gt, initial, cands, min_score=0.0, match_iou=0.4):
    """Counts summed over the truth's images (see the module docstring).

    Args:
        gt (dict): Image key -> (G, 4) true boxes.
        initial (dict): Image key -> (N, 4) initial labels.
        cands (dict): Image key -> ``(boxes, scores)``.
        min_score (float): Candidates scoring below are left out.
        match_iou (float): IoU of a candidate supporting an initial box.

    Returns:
        dict: ``supported_true``, ``supported_false``, ``unsupported_true``,
        ``unsupported_false``, ``new``, ``new_true``, ``missed``,
        ``found`` (missed cells a new candidate matches at IoU 0.5),
        ``found_03`` (at 0.3), and ``precision_after_drop`` /
        ``recall_after_drop``.
    """
    c = dict.fromkeys(('supported_true', 'supported_false',
                       'unsupported_true', 'unsupported_false', 'new',
                       'new_true', 'missed', 'found', 'found_03'), 0)
    n_gt = 0
    for k, g in gt.items():
        w = initial.get(k, _EMPTY)
        f, s = cands.get(k, (_EMPTY, np.zeros(0)))
        f = f[s >= min_score]
        iou_wg = box_iou(w, g)
        true = (iou_wg >= 0.5).any(1)
        sup = (box_iou(w, f) >= match_iou).any(1)
        for name, m in (('supported_true', sup & true),
                        ('supported_false', sup & ~true),
                        ('unsupported_true', ~sup & true),
                        ('unsupported_false', ~sup & ~true)):
            c[name] += int(m.sum())
        missed = ~(iou_wg >= 0.5).any(0)
        new = f[~(box_iou(f, w) >= match_iou).any(1)]
        iou_ng = box_iou(new, g)
        c['new'] += len(new)
        c['new_true'] += int((iou_ng >= 0.5).any(1).sum())
        c['missed'] += int(missed.sum())
        c['found'] += int(((iou_ng >= 0.5).any(0) & missed).sum())
        c['found_03'] += int(((iou_ng >= 0.3).any(0) & missed).sum())
        n_gt += len(g)
    kept = c['supported_true'] + c['supported_false']
    c['precision_after_drop'] = c['supported_true'] / kept if kept else 0.0
    c['recall_after_drop'] = c['supported_true'] / n_gt if n_gt else 0.0
    return c


def missed_by_size(gt, initial, cands, edges):
    """Rows ``(lo, hi, cells, missed, found)`` per bin of the true size:
    the true boxes, those no initial box matches (IoU >= 0.5), and those
    of them a candidate of any score matches (IoU >= 0.5)."""
    bounds = [0.0] + sorted(float(e) for e in edges) + [float('inf')]
    rows = np.zeros((len(bounds) - 1, 3), int)
    for k, g in gt.items():
        size = np.sqrt((g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]))
        b = np.digitize(size, bounds) - 1
        missed = ~(box_iou(initial.get(k, _EMPTY), g) >= 0.5).any(0)
        found = (box_iou(cands.get(k, (_EMPTY, None))[0], g) >= 0.5).any(0)
        for i in range(len(rows)):
            m = b == i
            rows[i] += [m.sum(), (m & missed).sum(),
                        (m & missed & found).sum()]
    return [(lo, hi, *map(int, r))
            for lo, hi, r in zip(bounds[:-1], bounds[1:], rows)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('truth')
    p.add_argument('initial')
    p.add_argument('candidates')
    p.add_argument('--min-score', type=float, nargs='+', default=[0.0])
    p.add_argument('--match-iou', type=float, default=0.4)
    p.add_argument('--by-size', type=float, nargs='+', metavar='PX')
    args = p.parse_args(argv)
    gt = coco_to_boxes(json.load(open(args.truth)), crowd=False)
    initial = coco_to_boxes(json.load(open(args.initial)), crowd=False)
    cands = load_scored(args.candidates)
    keys = ('supported_true', 'supported_false', 'unsupported_true',
            'unsupported_false', 'precision_after_drop', 'recall_after_drop',
            'new', 'new_true', 'missed', 'found', 'found_03')
    print('min_score,' + ','.join(keys))
    for thr in args.min_score:
        c = support_counts(gt, initial, cands, thr, args.match_iou)
        print(f'{thr:g},' + ','.join(
            f'{c[k]:.4f}' if isinstance(c[k], float) else str(c[k])
            for k in keys))
    if args.by_size:
        print('size_from,size_to,cells,missed,found')
        for row in missed_by_size(gt, initial, cands, args.by_size):
            print(','.join(f'{v:g}' for v in row))


if __name__ == '__main__':
    main()
