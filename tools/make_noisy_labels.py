# Copyright (c) mmsissi contributors. All rights reserved.
"""Corrupt a clean COCO box file reproducibly (missing cells, shifted or
rescaled boxes, false boxes), for noisy-label benchmarks with known truth.

Example:
    python tools/make_noisy_labels.py ANN.json --out OUT.json \\
        --drop 0.5 --jitter 0.15 --spurious 0.1 --seed 0
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmsissi.datasets.noisy_labels import corrupt_coco  # noqa: E402
from mmsissi.fileio import atomic_dump_json  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('ann', help='clean COCO box file')
    p.add_argument('--out', required=True, help='corrupted COCO file')
    p.add_argument('--drop', type=float, default=0.5,
                   help='fraction of boxes removed (missing cells)')
    p.add_argument('--jitter', type=float, default=0.15,
                   help='relative shift / scale noise of kept boxes')
    p.add_argument('--spurious', type=float, default=0.1,
                   help='false boxes per clean box')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    try:
        with open(args.ann) as f:
            coco = json.load(f)
        if not isinstance(coco, dict) or not {'images', 'annotations'} <= \
                set(coco):
            raise ValueError('not a COCO file (needs images and '
                             'annotations)')
        noisy, n = corrupt_coco(coco, args.drop, args.jitter, args.spurious,
                                args.seed)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f'error: {args.ann}: {e}', file=sys.stderr)
        return 2
    atomic_dump_json(noisy, args.out)
    print(f'{args.ann}: {n["images"]} images, {n["clean"]} clean boxes -> '
          f'{n["dropped"]} dropped, {n["kept"]} kept (jittered '
          f'+-{args.jitter:g}), {n["spurious"]} spurious -> {n["total"]} '
          f'boxes in {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
