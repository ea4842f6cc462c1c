# Copyright (c) mmsissi contributors. All rights reserved.
"""Benchmark :func:`mmsissi.models.wbf.weighted_boxes_fusion` against
``ensemble_boxes.weighted_boxes_fusion`` on SISSI-like TTA predictions.

The input mimics the 20 test-time-augmented views of one image with ~150
cells: every cell is detected in ~90 % of the views with jittered
coordinates and noisy scores, plus 5-15 false positives per view. Both
implementations run on the same input in the same process (warm-up first,
then the median of several repeats); outputs are checked for bit-exact
equality before the times and the speed-up are printed.

Example:
    .venv/bin/python benchmarks/bench_wbf.py
    .venv/bin/python benchmarks/bench_wbf.py --views 20 --cells 300
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmsissi.models import wbf, wbf_kernel  # noqa: E402


def make_views(n_views=20, n_cells=150, size=1024, seed=0):
    """Simulated per-view detections, normalised to ``[0, 1]``.

    Args:
        n_views (int): Number of TTA views. Defaults to 20.
        n_cells (int): Number of cells in the image. Defaults to 150.
        size (int): Image side in pixels. Defaults to 1024.
        seed (int): Random seed. Defaults to 0.

    Returns:
        tuple[list, list, list]: float32 boxes, float32 scores and int64
        labels, one array per view.
    """
    rng = np.random.default_rng(seed)
    ctr = rng.uniform(0, size, (n_cells, 2))
    wh = rng.uniform(15, 80, (n_cells, 2))
    gt = np.concatenate([ctr - wh / 2, ctr + wh / 2], axis=1)
    conf = rng.beta(5, 2, n_cells)
    boxes, scores, labels = [], [], []
    for _ in range(n_views):
        keep = rng.random(n_cells) < 0.9  # missed detections
        side = np.tile(gt[keep, 2:] - gt[keep, :2], 2)
        b = gt[keep] + rng.normal(0, 0.05, side.shape) * side
        s = np.clip(conf[keep] + rng.normal(0, 0.08, keep.sum()), 0.01, 1)
        n_fp = int(rng.integers(5, 15))  # false positives
        fc = rng.uniform(0, size, (n_fp, 2))
        fwh = rng.uniform(10, 60, (n_fp, 2))
        b = np.concatenate(
            [b, np.concatenate([fc - fwh / 2, fc + fwh / 2], 1)])
        s = np.concatenate([s, rng.uniform(0.01, 0.4, n_fp)])
        boxes.append(np.clip(b / size, 0, 1).astype(np.float32))
        scores.append(s.astype(np.float32))
        labels.append(np.zeros(len(b), np.int64))
    return boxes, scores, labels


def median_time(func, args, kwargs, repeats):
    """Median wall time (s) of ``repeats`` calls and the last output."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = func(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def assert_identical(expected, out, name):
    for field, e, o in zip(('boxes', 'scores', 'labels'), expected, out):
        assert e.shape == o.shape, f'{name} {field}: {o.shape} != {e.shape}'
        diff = float(np.abs(o - e).max()) if e.size else 0.0
        assert np.array_equal(e, o), f'{name} {field}: max abs diff {diff}'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--views', type=int, default=20)
    parser.add_argument('--cells', type=int, default=150)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--conf-type',
        default='avg',
        choices=['avg', 'max', 'box_and_model_avg', 'absent_model_aware_avg'])
    parser.add_argument('--iou-thr', type=float, default=0.55)
    parser.add_argument(
        '--repeats',
        type=int,
        default=5,
        help='repeats of the reference (ours: 10x as many)')
    parser.add_argument(
        '--no-numpy-fallback',
        action='store_true',
        help='skip timing the pure numpy fallback')
    return parser.parse_args()


def main():
    args = parse_args()
    from ensemble_boxes import weighted_boxes_fusion as reference

    boxes, scores, labels = make_views(args.views, args.cells, seed=args.seed)
    inputs = (boxes, scores, labels)
    kwargs = dict(iou_thr=args.iou_thr, conf_type=args.conf_type)
    n_boxes = sum(len(b) for b in boxes)

    # warm-up (numba compilation or cache load happens here)
    start = time.perf_counter()
    wbf.weighted_boxes_fusion(*inputs, **kwargs)
    first_call = time.perf_counter() - start
    reference(*inputs, **kwargs)
    backend = 'numba' if wbf_kernel._get_kernels() is not None else 'numpy'

    t_ref, expected = median_time(reference, inputs, kwargs, args.repeats)
    t_ours, out = median_time(wbf.weighted_boxes_fusion, inputs, kwargs,
                              10 * args.repeats)
    assert_identical(expected, out, backend)

    print(f'input: {args.views} views, {n_boxes} boxes '
          f'({args.cells} cells), conf_type={args.conf_type}, '
          f'iou_thr={args.iou_thr}; {len(out[0])} fused boxes')
    print('outputs identical to ensemble_boxes: yes (boxes, scores, labels, '
          'order; max abs diff 0)')
    print(f'first call (incl. numba compile/cache load): {first_call:.3f} s')
    print(f'ensemble_boxes : {t_ref * 1e3:9.2f} ms  (median of '
          f'{args.repeats})')
    print(f'mmsissi {backend:6s} : {t_ours * 1e3:9.2f} ms  (median of '
          f'{10 * args.repeats})  speed-up x{t_ref / t_ours:.1f}')

    if backend == 'numba' and not args.no_numpy_fallback:
        state = wbf_kernel._NUMBA_STATE['kernels']
        wbf_kernel._NUMBA_STATE['kernels'] = False
        try:
            t_np, out_np = median_time(wbf.weighted_boxes_fusion, inputs,
                                       kwargs, args.repeats)
        finally:
            wbf_kernel._NUMBA_STATE['kernels'] = state
        assert_identical(expected, out_np, 'numpy')
        print(f'mmsissi numpy  : {t_np * 1e3:9.2f} ms  (median of '
              f'{args.repeats})  speed-up x{t_ref / t_np:.1f}')


if __name__ == '__main__':
    main()
