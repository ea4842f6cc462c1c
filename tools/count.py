# Copyright (c) mmsissi contributors. All rights reserved.
"""Count cells in every image of a folder with a trained detector.

Thin wrapper around :func:`mmsissi.apis.count_folder`; see ``--help`` for
how images are read, tiled and merged.

Example:
    python tools/count.py configs/sissi/baseline.py \\
        work_dirs/baseline/epoch_143.pth IMAGES_DIR --out counts/
"""
import argparse
import os.path as osp
import pickle
import sys
import warnings

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402

import mmsissi  # noqa: F401,E402 (registers components, checkpoint loaders)
from mmsissi.utils.cli import warnings_as_messages  # noqa: E402
from mmsissi.apis import (count_folder, init_counter,  # noqa: E402
                          select_images)

EPILOG = """\
images: PNG/TIFF/JPEG (also BMP), 8- or 16-bit, grayscale, RGB or RGBA, any
size. 8-bit images reach the detector as they are (gray -> 3 channels, alpha
dropped), like in training; other depths become grayscale stretched to 8
bits between their 0.1 and 99.9 percentiles (how the 8-bit target images were
made from 16-bit originals). Unreadable files are reported by name and
skipped.

resolution and tiling: the detector was trained on images resized to fit the
test pipeline's Resize scale S (e.g. 512x512), so a training image of L px
was seen at S/L of its native resolution. The tile factor F is the number of
image pixels per network pixel: tiles are T = F*min(S) px and are resized by
1/F. --tile-factor auto (default) takes F = median L/S of the training target
images (first training dataset of the config saved in the checkpoint, else of
CONFIG; e.g. 1024-px Usiigaci images at S=512: F=2, T=1024), so new images
from the same microscope are seen at the training resolution;
--tile-factor 1 feeds tiles of S px at native resolution. Images whose longer
side is at most 1.25*T take one pass of the unchanged test pipeline (exactly
like tools/test.py); larger ones are cut into T x T tiles overlapping by at
least --overlap*T. Boxes touching an inner tile border are dropped when
another tile holds them whole; boxes seen whole by two tiles are merged by
NMS (IoU >= 0.5, across tiles only); parts of cells larger than the overlap
are stitched into one box. Keep --overlap*T larger than the cells.

outputs (in --out): counts.csv (image, count, mean_score, width, height),
detections.json (COCO, file_name relative to IMAGES_DIR, the counted boxes
with their score; written atomically), overlays/<stem>.png (boxes and count).
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Count cells in a folder of images with a trained '
        'detector (tiles large images, writes CSV, COCO json, overlays).',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file (loaded with weights_only=True and an allowlist)')
    parser.add_argument('images_dir', help='folder of images (not recursive)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--pattern',
        action='append',
        help='glob on file names, e.g. "set*.tif" (repeatable; default: '
        'all .png/.tif/.tiff/.jpg/.jpeg/.bmp)')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.5,
        help='count boxes scoring at least this (default: 0.5)')
    parser.add_argument(
        '--tile-factor',
        default='auto',
        help="image pixels per network pixel in tiles, or 'auto' (default): "
        'the median size of the training target images over the test scale '
        '(see below)')
    parser.add_argument(
        '--overlap',
        type=float,
        default=0.2,
        help='minimal tile overlap, fraction of the tile (default: 0.2)')
    parser.add_argument(
        '--no-tile',
        action='store_true',
        help='never tile: one pass of the test pipeline per image, like '
        'tools/test.py')
    parser.add_argument(
        '--batch-size', type=int, default=4,
        help='tiles per forward pass (default: 4)')
    parser.add_argument(
        '--device',
        help='cuda, cuda:N or cpu (default: cuda if available, else cpu)')
    parser.add_argument(
        '--cpu-scale',
        action='store_true',
        help='the config at CPU demo scale, as for a checkpoint of '
        '`tools/train.py CONFIG --cpu-scale` (see mmsissi/utils/cpu_scale.py)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy (see tools/test.py)')
    parser.add_argument(
        '--no-overlays', action='store_true', help='do not write overlays')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if args.tile_factor != 'auto':
        try:
            args.tile_factor = float(args.tile_factor)
        except ValueError:
            parser.error("--tile-factor must be a number or 'auto', got "
                         f'{args.tile_factor!r}')
        if not args.tile_factor > 0:
            parser.error('--tile-factor must be > 0')
    if not 0 <= args.overlap < 1:
        parser.error('--overlap must be in [0, 1)')
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    with warnings_as_messages():
        return _run(args)


def _run(args):
    try:
        select_images(args.images_dir, args.pattern)  # fail fast
        with warnings.catch_warnings():
            # mmengine/mmdet chatter while building the model
            warnings.simplefilter('ignore')
            counter = init_counter(
                args.config,
                args.checkpoint,
                device=args.device,
                cpu_scale=args.cpu_scale,
                cfg_options=args.cfg_options,
                score_thr=args.score_thr,
                tile_factor=args.tile_factor,
                overlap=args.overlap,
                tile=not args.no_tile,
                batch_size=args.batch_size)
        device = next(counter.model.parameters()).device
        print(f'model: {args.config} + {args.checkpoint} on {device}')
        print(counter.describe())
        result = count_folder(
            counter,
            args.images_dir,
            args.out,
            pattern=args.pattern,
            score_thr=args.score_thr,
            overlays=not args.no_overlays,
            progress=not args.no_progress)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError,
            pickle.UnpicklingError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f'error: {msg}', file=sys.stderr)
        return 2
    n = result['num_images']
    print(f"counted {n} image(s) ({result['num_tiled']} tiled): "
          f"{result['num_cells']} cell(s) at score >= {args.score_thr:g}, "
          f"{result['num_cells'] / n:.1f} per image")
    if result['skipped']:
        print(f"skipped {len(result['skipped'])} unreadable file(s):")
        for rel, reason in result['skipped']:
            print(f'  {rel}: {reason}')
    wrote = [result['csv'], result['json']]
    if result['overlays']:
        wrote.append(f"{result['overlays']}/ ({n} PNG)")
    print('wrote ' + ', '.join(wrote))
    return 0


if __name__ == '__main__':
    sys.exit(main())
