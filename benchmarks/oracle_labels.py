# Copyright (c) mmsissi contributors. All rights reserved.
"""Oracle-corrected label files: which label error costs the detector most?

    python benchmarks/oracle_labels.py TRUTH.json LABELS.json OUT.json \\
        [--remove-false] [--add-missed] [--fix-placement]

Writes ``LABELS.json`` with one kind of its errors corrected from the
truth (a diagnosis for benchmarks, never a method: it reads the truth),
to train with ``benchmarks/noisy_labels.py --target-train-ann OUT.json``:

- ``--remove-false``: label boxes that match no true box (one-to-one,
  IoU >= ``--iou``) are removed: precision 1, recall as before;
- ``--add-missed``: true boxes that no label box matches are added:
  recall 1, the false boxes kept;
- ``--fix-placement``: a matched label box is replaced by its true box:
  the same cells, placed exactly.

Ignore regions (``iscrowd``) are kept as they are. Images are matched by
file base name; a label image missing from the truth is an error naming
both files. The output is written atomically; ``LABELS.json`` is never
overwritten.
"""
import argparse
import copy
import json
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from benchmarks.noisy.data import _base  # noqa: E402
from mmsissi.fileio.atomic import atomic_dump_json  # noqa: E402
from mmsissi.weak_labels.boxes import coco_to_boxes, match_boxes  # noqa

__all__ = ['oracle_labels', 'main']


def _xyxy(bbox):
    x, y, w, h = bbox
    return [x, y, x + w, y + h]


def _check(truth, labels, truth_path, labels_path):
    known = set(truth)
    missing = sorted(k for k in labels if k not in known)
    if missing:
        raise ValueError(f'{labels_path}: image(s) {missing[:5]} not in '
                         f'{truth_path}')


def oracle_labels(truth, labels, remove_false=False, add_missed=False,
                  fix_placement=False, iou=0.5, paths=('truth', 'labels')):
    """A copy of the COCO dict ``labels`` with the chosen errors corrected
    from the COCO dict ``truth`` (see the module docstring).

    Returns:
        tuple[dict, dict]: The new COCO dict and counts ``removed``,
        ``added``, ``placed``.
    """
    gt = coco_to_boxes(truth, crowd=False)
    _check(gt, coco_to_boxes(labels), *paths)
    out = copy.deepcopy(labels)
    name = {im['id']: _base(im) for im in out['images']}
    by_image = {}
    for ann in out['annotations']:
        if not ann.get('iscrowd'):
            by_image.setdefault(ann['image_id'], []).append(ann)
    counts = dict(removed=0, added=0, placed=0)
    drop, next_id = set(), max([a['id'] for a in out['annotations']] + [0])
    cat = out['categories'][0]['id']
    for image_id, key in name.items():
        anns = by_image.get(image_id, [])
        pred = np.asarray([_xyxy(a['bbox']) for a in anns],
                          np.float64).reshape(-1, 4)
        true = gt[key]
        matches = match_boxes(pred, true, iou)
        hit = {i: j for i, j, _ in matches}
        for i, ann in enumerate(anns):
            if i not in hit and remove_false:
                drop.add(id(ann))
                counts['removed'] += 1
            elif i in hit and fix_placement:
                x1, y1, x2, y2 = (float(v) for v in true[hit[i]])
                ann['bbox'] = [x1, y1, x2 - x1, y2 - y1]
                ann['area'] = (x2 - x1) * (y2 - y1)
                counts['placed'] += 1
        if add_missed:
            found = set(hit.values())
            for j in range(len(true)):
                if j in found:
                    continue
                x1, y1, x2, y2 = (float(v) for v in true[j])
                next_id += 1
                out['annotations'].append(dict(
                    id=next_id, image_id=image_id, category_id=cat,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=(x2 - x1) * (y2 - y1), iscrowd=0))
                counts['added'] += 1
    out['annotations'] = [a for a in out['annotations']
                          if id(a) not in drop]
    return out, counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('truth')
    p.add_argument('labels')
    p.add_argument('out')
    p.add_argument('--remove-false', action='store_true')
    p.add_argument('--add-missed', action='store_true')
    p.add_argument('--fix-placement', action='store_true')
    p.add_argument('--iou', type=float, default=0.5)
    args = p.parse_args(argv)
    if osp.abspath(args.out) == osp.abspath(args.labels):
        p.error('OUT must not be LABELS: the given labels are never '
                'overwritten')
    with open(args.truth) as f:
        truth = json.load(f)
    with open(args.labels) as f:
        labels = json.load(f)
    out, counts = oracle_labels(truth, labels, args.remove_false,
                                args.add_missed, args.fix_placement,
                                args.iou, (args.truth, args.labels))
    atomic_dump_json(out, args.out)
    print(f'{args.out}: {len(out["annotations"])} boxes ({counts})')


if __name__ == '__main__':
    main()
