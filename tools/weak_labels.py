# Copyright (c) mmsissi contributors. All rights reserved.
"""Generate weak box labels (COCO json) for a folder of microscopy images.

Thin wrapper around :func:`mmsissi.weak_labels.run_weak_labels`; see
``--help`` for the methods and parameters.
"""
import argparse
import fnmatch
import os.path as osp
import sys
import textwrap

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmsissi.fileio import list_images  # noqa: E402
from mmsissi.utils.cli import warnings_as_messages  # noqa: E402
from mmsissi.weak_labels import (DEFAULT_METHODS, METHODS,  # noqa: E402
                                 default_params, format_metrics,
                                 load_params_file, parse_param_overrides,
                                 read_list_file, run_weak_labels,
                                 update_params)


def _param_lines() -> str:
    """``section.key=default`` of every parameter, wrapped."""
    lines = []
    for section, values in default_params().items():
        if section == 'methods':
            continue
        items = ' '.join(f'{section}.{k}={v}'.replace(' ', '')
                         for k, v in values.items())
        lines += textwrap.wrap(
            items, 79, initial_indent='  ', subsequent_indent='    ')
    return '\n'.join(lines)


EPILOG = f"""\
methods (combine with commas; boxes are united, then duplicates removed by
score: IoU >= combine.nms_iou, or the smaller box >= combine.contain_thr
inside the larger while IoU >= combine.contain_min_iou):
  watershed  texture foreground + h-maxima darkness markers + watershed
  hough      Circle Hough Transform verified by a bright ring (round cells)
  edges      Canny + closing + hole filling + distance-transform split
  default: {','.join(DEFAULT_METHODS)}

parameters (--param SECTION.KEY=VALUE, repeatable; or --config FILE with the
same nested structure in JSON / Python / YAML, e.g. a .py file with
`watershed = dict(min_area=600)` and `methods = ['watershed']`). Lengths are
pixels, areas pixels^2, intensities refer to the image stretched to [0, 1]
between its 0.5 and 99.5 percentiles. `--param scale=S` multiplies every
length of every method (areas by S^2): use S < 1 for smaller cells. The
defaults (below) were tuned on 1022x1024 phase-contrast images of NIH/3T3
fibroblasts (cells about 40-150 px across). --show-params prints them all.
{_param_lines()}

example (weak labels of the Usiigaci training split set01-set45, scored
against the manual boxes; file_name in the output reads images/setNN.png):
  python tools/weak_labels.py ../shared/data/usiigaci_nih3t3_phc/images \\
      --pattern 'set[0-3][0-9].png' --pattern 'set4[0-5].png' \\
      --out work_dirs/weak_labels/usiigaci_train_weak.json \\
      --gt ../shared/data/usiigaci_nih3t3_phc/annotations_bbox.json
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Weak cell boxes from classic image processing '
        '(Hough / watershed / edges) as a COCO json.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('images_dir', help='folder of images')
    parser.add_argument('--out', help='output COCO json (written atomically)')
    parser.add_argument(
        '--methods',
        help=f"comma separated subset of {','.join(METHODS)} or 'all' "
        f"(default: {','.join(DEFAULT_METHODS)})")
    parser.add_argument(
        '--gt', help='ground-truth COCO json: print precision/recall/F1 '
        '(images matched by file base name)')
    parser.add_argument(
        '--iou-thr', type=float, default=0.5, help='IoU of a true positive')
    parser.add_argument(
        '--per-image', action='store_true', help='with --gt: one line per '
        'image')
    parser.add_argument(
        '--pattern',
        action='append',
        help='glob on file names, e.g. "set0*.png" (repeatable; default: '
        'all .png/.tif/.tiff/.jpg/.jpeg/.bmp)')
    parser.add_argument(
        '--list', dest='list_file', help='text file of image names, one per '
        'line, to label only those')
    parser.add_argument(
        '--root', help='folder the COCO file_name is relative to (default: '
        'parent of IMAGES_DIR)')
    parser.add_argument(
        '--config', help='parameter file (.json, .py or .yaml)')
    parser.add_argument(
        '--param',
        action='append',
        default=[],
        metavar='SECTION.KEY=VALUE',
        help='override one parameter, e.g. watershed.min_area=400 '
        '(repeatable, applied after --config)')
    parser.add_argument(
        '--show-params', action='store_true', help='print the parameters')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if args.out is None and args.gt is None and not args.show_params:
        parser.error('give --out (and/or --gt to only evaluate)')
    return args


def main(argv=None):
    args = parse_args(argv)
    with warnings_as_messages():
        return _run(args)


def _run(args):
    try:
        params = default_params()
        if args.config:
            params = update_params(params, load_params_file(args.config))
        params = update_params(params, parse_param_overrides(args.param))
        if args.methods:
            params = update_params(params, {'methods': args.methods})
        if args.show_params:
            for section, values in params.items():
                print(f'{section}: {values}')
            if args.out is None and args.gt is None:
                return 0
        names = read_list_file(args.list_file) if args.list_file else None
        pattern = None
        if args.pattern:
            if len(args.pattern) == 1:
                pattern = args.pattern[0]
            else:
                # several globs: resolve them here into an explicit list
                every = list_images(args.images_dir, None, names)
                keep = [
                    p for p in every if any(
                        fnmatch.fnmatch(osp.basename(p), g)
                        for g in args.pattern)
                ]
                if not keep:
                    raise ValueError(
                        f'no images matching {args.pattern} found in '
                        f'{args.images_dir}')
                names = [osp.basename(p) for p in keep]
        result = run_weak_labels(
            args.images_dir,
            out=args.out,
            params=params,
            pattern=pattern,
            names=names,
            root=args.root,
            gt=args.gt,
            iou_thr=args.iou_thr,
            progress=not args.no_progress)
    except (OSError, ValueError, KeyError, TypeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f'error: {msg}', file=sys.stderr)
        return 2

    print(f"methods: {','.join(result['methods'])}")
    print(f"labelled {result['num_images']} image(s), "
          f"{result['num_boxes']} box(es), "
          f"{result['seconds_per_image']:.2f} s/image")
    if result['skipped']:
        print(f"skipped {len(result['skipped'])} unreadable file(s):")
        for path, reason in result['skipped']:
            print(f'  {path}: {reason}')
    if result['missing']:
        print(f"{len(result['missing'])} listed name(s) not found: "
              f"{', '.join(result['missing'])}")
    if result['out']:
        print(f"wrote {result['out']}")
    if 'metrics' in result:
        m = result['metrics']
        print(f"evaluation at IoU {m['iou_thr']} on {m['num_images']} "
              f'image(s) with ground truth:')
        if len(result['metrics_per_method']) > 1:
            for name, mm in result['metrics_per_method'].items():
                print(format_metrics(mm, title=f'  {name} alone'))
        print(
            format_metrics(
                m, title='  ' + '+'.join(result['methods']),
                per_image=args.per_image))
    return 0


if __name__ == '__main__':
    sys.exit(main())
