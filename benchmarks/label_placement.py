# Copyright (c) mmsissi contributors. All rights reserved.
"""How good label files are against a truth file: count and placement.

    python benchmarks/label_placement.py TRUTH.json LABELS.json [...]

Prints per file (a COCO label file, e.g. a label store's epoch_<k>.json,
or a detector's ``test.bbox.json`` list with ``--min-score``) precision /
recall at IoU 0.5 and 0.75 and the median size bias (log label / true
width and height over the truth boxes' matches at IoU >= 0.5), the
``labels.csv`` columns of ``benchmarks/noisy_labels.py``. Ignore regions
(``iscrowd``) are left out.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from benchmarks.noisy.branch import _quality  # noqa: E402
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('truth')
    p.add_argument('labels', nargs='+')
    p.add_argument('--min-score', type=float, default=0.5,
                   help='for a results list: detections kept (default 0.5)')
    args = p.parse_args(argv)
    gt = load_coco_boxes(args.truth)
    print('file,num_boxes,precision,recall,precision75,recall75,log_w,log_h')
    for path in args.labels:
        m = _quality(*_load(path, args.truth, args.min_score), gt)
        print(','.join([path, str(m['num_boxes'])] + [
            f'{m[k]:.4f}' for k in ('precision', 'recall', 'precision75',
                                    'recall75', 'log_w', 'log_h')]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
