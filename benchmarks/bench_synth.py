# Copyright (c) mmsissi contributors. All rights reserved.
"""Benchmark of the SISSI synthetic-like images (``SeamlessSynth``).

Times the fast clone (:func:`seamless_synth_fast`, what the transform uses)
against the reference, one ``cv2.seamlessClone(MIXED_CLONE)`` of the union
of all box masks (:func:`seamless_synth_reference`), side by side on the same
640x480 image with 100 cells and the same blurred background, and prints
both times, the speed-up and the PSNR of ours against the reference.

The image is a real usiigaci NIH/3T3 phase-contrast image (the top
1024x768 of ``images/<stem>.png`` resized by 0.625 to 640x480) with its GT
boxes, randomly subsampled, or completed with shifted copies, to exactly
``--cells`` boxes; a synthetic cell image is used when the data is absent.

Usage::

    python benchmarks/bench_synth.py [--repeats 15] [--threads N]
    python benchmarks/bench_synth.py --figure docs/figures/seamless_synth.png

``--figure`` also writes a figure: original / weak / strong synthetic image
of a real usiigaci image, where a third of the GT cells are dropped from the
labels (dashed red) to show that unlabelled cells fade while labelled ones
(green) are kept.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmsissi.datasets.transforms.seamless_clone import (  # noqa: E402
    gaussian_blur, seamless_synth_fast, seamless_synth_reference)
from mmsissi.datasets.transforms.seamless_synth import (  # noqa: E402
    BLUR_PRESETS, SeamlessSynth)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def shared_data() -> str:
    return os.environ.get('MMSISSI_SHARED_DATA') or osp.normpath(
        osp.join(REPO, '..', 'shared', 'data'))


def load_usiigaci(root: str, stem: str):
    """BGR image (as mmdet's LoadImageFromFile gives it) and xyxy GT boxes."""
    with open(osp.join(root, 'annotations_bbox.json')) as f:
        ann = json.load(f)
    name = f'images/{stem}.png'
    image_id = next(i['id'] for i in ann['images'] if i['file_name'] == name)
    boxes = np.array([a['bbox'] for a in ann['annotations']
                      if a['image_id'] == image_id], np.float64)
    boxes[:, 2:] += boxes[:, :2]
    img = cv2.imread(osp.join(root, name), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(osp.join(root, name))
    return img, boxes


def synthetic_cells(h=480, w=640, n=100, seed=0):
    """Fallback: phase-contrast-like cells on a textured background."""
    rng = np.random.default_rng(seed)
    img = 120.0 + cv2.GaussianBlur(
        rng.normal(0, 8, (h, w)).astype(np.float32), (0, 0), 1.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    boxes = []
    for _ in range(int(n * 1.5)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ay, ax = rng.uniform(8, 25), rng.uniform(8, 25)
        d = np.sqrt(((yy - cy) / ay)**2 + ((xx - cx) / ax)**2)
        img += -40 * np.exp(-d**4) + 50 * np.exp(-((d - 1.1) / 0.12)**2)
        boxes.append([cx - 1.3 * ax, cy - 1.3 * ay, cx + 1.3 * ax,
                      cy + 1.3 * ay])
    img = np.clip(img, 0, 255).astype(np.uint8)
    boxes = np.clip(np.array(boxes), 0, [w, h, w, h])
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), boxes[:n]


def bench_image(n_cells=100, stem='set20', seed=0):
    """640x480 image with exactly ``n_cells`` boxes, and where it is from."""
    root = osp.join(shared_data(), 'usiigaci_nih3t3_phc')
    if not osp.isfile(osp.join(root, 'annotations_bbox.json')):
        img, boxes = synthetic_cells(n=n_cells, seed=seed)
        return img, boxes, 'synthetic cells (usiigaci data not found)'
    img, boxes = load_usiigaci(root, stem)
    scale = 640 / 1024
    img = cv2.resize(img[:768, :1024], (640, 480),
                     interpolation=cv2.INTER_AREA)
    boxes = np.clip(boxes * scale, 0, [640, 480, 640, 480])
    boxes = boxes[(boxes[:, 2] - boxes[:, 0] >= 4)
                  & (boxes[:, 3] - boxes[:, 1] >= 4)]
    n_gt = len(boxes)
    rng = np.random.default_rng(seed)
    if len(boxes) > n_cells:
        boxes = boxes[rng.choice(len(boxes), n_cells, replace=False)]
    extra = []
    while len(boxes) + len(extra) < n_cells:  # shifted copies of GT boxes
        box = boxes[rng.integers(len(boxes))].copy()
        box += np.repeat(rng.uniform(-30, 30, 2)[None], 2, 0).ravel()
        extra.append(np.clip(box, 0, [640, 480, 640, 480]))
    if extra:
        boxes = np.vstack([boxes, extra])
    src = (f'usiigaci {stem}.png, top 1024x768 resized to 640x480, '
           f'{n_gt} GT boxes -> {len(boxes)}')
    return img, boxes, src


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64))**2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0**2 / mse)


def time_side_by_side(funcs, repeats, warmup=2):
    """Run the functions interleaved (same load for all); seconds each."""
    for _ in range(warmup):
        for f in funcs.values():
            f()
    times = {k: [] for k in funcs}
    for _ in range(repeats):
        for k, f in funcs.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return times


def run_benchmark(args):
    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    img, boxes, src = bench_image(args.cells, args.stem)
    cover = np.zeros(img.shape[:2], bool)
    for x1, y1, x2, y2 in np.round(boxes).astype(int):
        cover[y1:y2, x1:x2] = True
    print(f'image: {img.shape[1]}x{img.shape[0]}x{img.shape[2]} '
          f'{img.dtype}, {len(boxes)} boxes covering '
          f'{100 * cover.mean():.0f}% ({src})')
    print(f'cv2 {cv2.__version__}, cv2 threads {cv2.getNumThreads()}, '
          f'{args.repeats} repeats after 2 warm-ups, interleaved')
    cases = [('grey (BGR, equal channels)', img)]
    if args.colour:
        colour = img.copy()
        colour[..., 1] = np.clip(img[..., 1] * 0.8 + 25, 0, 255)
        colour[..., 2] = 255 - img[..., 2]
        cases.append(('colour (3 different channels)', colour))
    for name, image in cases:
        for blur in ('weak', 'strong'):
            k, s = BLUR_PRESETS[blur]
            blurred = gaussian_blur(image, k, s)
            ref = seamless_synth_reference(image, boxes, blurred)
            ours = seamless_synth_fast(image, boxes, blurred)
            full = SeamlessSynth(blur=blur, always=True)
            times = time_side_by_side(
                {
                    'reference': lambda: seamless_synth_reference(
                        image, boxes, blurred),
                    'ours': lambda: seamless_synth_fast(
                        image, boxes, blurred),
                    'transform': lambda: full(
                        dict(img=image, gt_bboxes=boxes)),
                }, args.repeats)
            med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            low = {k: min(v) * 1e3 for k, v in times.items()}
            print(f'\n[{name}, blur={blur} {(k, s)}]')
            print('  reference one seamlessClone: median '
                  f'{med["reference"]:7.1f} ms  (min {low["reference"]:6.1f})')
            print('  ours (seamless_synth_fast):  median '
                  f'{med["ours"]:7.1f} ms  (min {low["ours"]:6.1f})')
            print(f'  speed-up: {med["reference"] / med["ours"]:.1f}x '
                  f'(median), {low["reference"] / low["ours"]:.1f}x (min)')
            print(f'  PSNR ours vs reference: {psnr(ours, ref):.1f} dB '
                  f'(max abs diff {np.abs(ours.astype(int) - ref).max()})')
            print(f'  whole transform (blur + ours): median '
                  f'{med["transform"]:.1f} ms')


def make_figure(path, stem='set01', crop=(330, 560, 420, 300)):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    root = osp.join(shared_data(), 'usiigaci_nih3t3_phc')
    img, boxes = load_usiigaci(root, stem)
    rng = np.random.default_rng(0)
    unlabelled = np.zeros(len(boxes), bool)
    unlabelled[rng.choice(len(boxes), len(boxes) // 3, replace=False)] = True
    labels = boxes[~unlabelled]
    images = [('original', img)]
    for blur in ('weak', 'strong'):
        k, s = BLUR_PRESETS[blur]
        out = SeamlessSynth(blur=blur, always=True)(
            dict(img=img, gt_bboxes=labels))['img']
        images.append((f'{blur} synthetic (kernel {k}, sigma '
                       f'{s if s else 0.3 * ((k - 1) / 2 - 1) + 0.8:g})', out))

    x0, y0, cw, ch = crop
    fig, axes = plt.subplots(2, 3, figsize=(13.5, 7.6),
                             gridspec_kw=dict(height_ratios=[1, 0.72]))
    for col, (title, im) in enumerate(images):
        for row in range(2):
            ax = axes[row, col]
            if row == 0:
                view, off = cv2.resize(im, (512, 511),
                                       interpolation=cv2.INTER_AREA), 0.5
                sx, sy = 512 / im.shape[1], 511 / im.shape[0]
                ox = oy = 0
            else:
                view, off = im[y0:y0 + ch, x0:x0 + cw], 0
                sx = sy = 1.0
                ox, oy = x0, y0
            ax.imshow(view[..., ::-1], interpolation='lanczos')
            for box, unl in zip(boxes, unlabelled):
                bx1, by1 = (box[0] - ox) * sx, (box[1] - oy) * sy
                ax.add_patch(Rectangle(
                    (bx1 - off, by1 - off), (box[2] - box[0]) * sx,
                    (box[3] - box[1]) * sy, fill=False, lw=0.9,
                    ec='red' if unl else 'lime',
                    ls='--' if unl else '-'))
            ax.set_xlim(-0.5, view.shape[1] - 0.5)
            ax.set_ylim(view.shape[0] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=10)
                if col == 0:
                    ax.add_patch(Rectangle((x0 * sx, y0 * sy), cw * sx,
                                           ch * sy, fill=False, ec='yellow',
                                           lw=1.2))
    fig.suptitle(
        f'SeamlessSynth on usiigaci {stem}.png: green = labels cloned back, '
        'dashed red = cells left unlabelled (they fade). Bottom: yellow '
        'crop at full resolution.', fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    try:  # palette PNG: a fraction of the size for grey images + boxes
        from PIL import Image
        with Image.open(path) as im:
            im = im.convert('RGB').quantize(colors=256, dither=0)
        im.save(path, optimize=True)
    except ImportError:
        pass
    print(f'figure written to {path} ({osp.getsize(path) / 1024:.0f} KB)')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cells', type=int, default=100)
    parser.add_argument('--stem', default='set20',
                        help='usiigaci image for the timing (default: set20, '
                        'the one with the most cells)')
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--threads', type=int, default=None,
                        help='cv2.setNumThreads for both methods')
    parser.add_argument('--colour', action='store_true',
                        help='also time a 3-channel colour version')
    parser.add_argument('--figure', default=None,
                        help='also write the figure to this path')
    parser.add_argument('--no-bench', action='store_true',
                        help='only write the figure')
    args = parser.parse_args()
    if not args.no_bench:
        run_benchmark(args)
    if args.figure:
        make_figure(args.figure)


if __name__ == '__main__':
    main()
