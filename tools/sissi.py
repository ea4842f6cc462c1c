# Copyright (c) mmsissi contributors. All rights reserved.
"""From your own images to cell counts: one command per step, or ``run``
for all of them.

  prepare  weak labels for the target images (P/R with --gt), source boxes
           (instance masks or a COCO file, split for the validation loss),
           and a child config in the work dir (``_base_`` = the row's
           config, every path set once: a plain config you can edit and
           rerun with tools/train.py)
  train    tools/train.py on that config (--resume, --launcher, --amp,
           --cpu-scale, --cfg-options passed through)
  count    tools/count.py with the trained checkpoint on a folder of images
  run      prepare + train (+ refit with --refit) (+ count with --count
           DIR, from the refit when there is one)
  refit    train a fresh detector on the labels the run corrected
           (configs/sissi/refit.py) in <work-dir>/refit; count with
           --work-dir <work-dir>/refit

Example:
  python tools/sissi.py run my_data/target --source-masks my_data/cellpose \\
      --work-dir work_dirs/mine --count my_data/new_images
"""
import argparse
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from mmsissi.apis.own_data import OwnDataError  # noqa: E402
from mmsissi.apis.own_data.prepare import (prepare_own_data,  # noqa: E402
                                           read_state, update_state)
from mmsissi.apis.own_data.refit import prepare_refit  # noqa: E402
from mmsissi.utils.cli import warnings_as_messages  # noqa: E402

#: the default row: the recommended one of the correction issue (#16)
DEFAULT_ROW = 'sissi_merge'


def _row_config(row):
    if osp.isfile(row):
        return row
    path = osp.join(REPO, 'configs', 'sissi', f'{row}.py')
    if not osp.isfile(path):
        raise OwnDataError(f'row {row!r}: neither a config file nor one of '
                           'configs/sissi/*.py')
    return path


def _reader(text):
    name, sep, path = text.partition('=')
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(
            f'reader "{text}": expected NAME=COCO_FILE')
    return name, path


def _add_prepare_args(p):
    p.add_argument('target', help='folder of your (unlabelled) target '
                   'images')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--source-masks', help='labelled source set as '
                     'instance masks: Cellpose *_img/*_masks pairs or '
                     'images/ + instances/')
    src.add_argument('--source-ann', help='or source boxes as a COCO file '
                     '(with --source-root)')
    p.add_argument('--source-root', help='folder the --source-ann '
                   'file_name entries are relative to')
    p.add_argument('--row', default=DEFAULT_ROW, help='configs/sissi/ROW.py '
                   f'or a config file (default: {DEFAULT_ROW}, the '
                   'recommended row)')
    p.add_argument('--gt', help='manual boxes (COCO) of some target images: '
                   'prints the weak labels\' precision / recall')
    p.add_argument('--test-images', help='test image folder (with --reader)')
    p.add_argument('--reader', type=_reader, action='append', default=[],
                   metavar='NAME=COCO_FILE', help='test boxes of one reader '
                   '(repeatable): evaluated per reader')
    p.add_argument('--weak-param', action='append', default=[],
                   metavar='SECTION.KEY=VALUE', help='weak-label parameter '
                   '(see tools/weak_labels.py --help)')
    p.add_argument('--source-val-fraction', type=float, default=0.2)
    p.add_argument('--seed', type=int, default=0, help='source split seed')


def _add_train_args(p):
    p.add_argument('--resume', nargs='?', const='auto', help='resume (from '
                   'the latest checkpoint of the work dir, or this one)')
    p.add_argument('--launcher', default='none',
                   choices=['none', 'pytorch', 'slurm', 'mpi'])
    p.add_argument('--amp', action='store_true')
    p.add_argument('--cpu-scale', action='store_true', help='ResNet-18, '
                   '256 px, random init (a CPU in minutes; see '
                   'mmsissi/utils/cpu_scale.py)')
    p.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE',
                   help='passed to tools/train.py as they are')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    sub = parser.add_subparsers(dest='step', required=True)
    steps = {s: sub.add_parser(s) for s in ('prepare', 'train', 'count',
                                            'run', 'refit')}
    for p in steps.values():
        p.add_argument('--work-dir', required=True)
    for s in ('prepare', 'run'):
        _add_prepare_args(steps[s])
    for s in ('train', 'run', 'refit'):
        _add_train_args(steps[s])
    steps['refit'].add_argument('--labels', help='label file to train on '
                                '(default: the last corrected labels)')
    steps['refit'].add_argument('--out-dir', help='the refit\'s work dir '
                                '(default: <work-dir>/refit)')
    steps['run'].add_argument(
        '--refit', action=argparse.BooleanOptionalAction, default=False,
        help='after training, train a fresh detector on the corrected '
        'labels in <work-dir>/refit (the refit step) and count with it')
    steps['run'].add_argument(
        '--refit-cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='for the refit only, after the --cfg-options that apply to it')
    steps['count'].add_argument('images', help='folder of images to count')
    steps['run'].add_argument('--count', metavar='DIR', help='count the '
                              'cells of this folder after training')
    for s in ('count', 'run'):
        steps[s].add_argument('--out', help='counts folder (default: '
                              '<work-dir>/counts)')
    return parser.parse_args(argv)


def _tool(args):
    print('$ python ' + ' '.join(args), flush=True)
    return subprocess.call([sys.executable, *args], cwd=REPO)


def prepare(args):
    from mmsissi.weak_labels import parse_param_overrides
    prepare_own_data(
        args.work_dir, _row_config(args.row), args.target,
        source_masks=args.source_masks, source_ann=args.source_ann,
        source_root=args.source_root, gt=args.gt,
        test_images=args.test_images, readers=dict(args.reader) or None,
        weak_params=parse_param_overrides(args.weak_param),
        val_fraction=args.source_val_fraction, seed=args.seed)
    return 0


def train(args):
    state = read_state(args.work_dir)
    cmd = ['tools/train.py', state['config'], '--work-dir',
           osp.abspath(args.work_dir), '--launcher', args.launcher]
    if args.resume:
        cmd += ['--resume'] + ([] if args.resume == 'auto' else
                               [args.resume])
    if args.amp:
        cmd.append('--amp')
    if args.cpu_scale:
        cmd += ['--cpu-scale', 'own']
    if args.cfg_options:
        cmd += ['--cfg-options', *args.cfg_options]
    update_state(args.work_dir, cpu_scale=bool(args.cpu_scale))
    return _tool(cmd)


def count(args, images):
    work = osp.abspath(args.work_dir)
    state = read_state(work)
    last = osp.join(work, 'last_checkpoint')
    if not osp.isfile(last):
        raise OwnDataError(f'{work}: no trained checkpoint (no '
                           'last_checkpoint); train first')
    ckpt = open(last).read().strip()
    cmd = ['tools/count.py', state['config'], ckpt, osp.abspath(images),
           '--out', osp.abspath(args.out or osp.join(work, 'counts'))]
    if state.get('cpu_scale'):  # the model trained at CPU scale
        cmd.append('--cpu-scale')
    return _tool(cmd)


def refit(args):
    """Write the refit's work dir, then train it (the train options as
    for ``train``)."""
    out = osp.abspath(args.out_dir or osp.join(args.work_dir, 'refit'))
    prepare_refit(args.work_dir, out, args.labels)
    args.work_dir = out
    return train(args)


def _refit_options(options, extra):
    """The ``--cfg-options`` of a ``run`` that apply to its refit: all
    but those of the correction hooks (the refit has none), then
    ``extra``."""
    kept = [o for o in options or [] if not o.startswith('custom_hooks')]
    dropped = sorted(set(options or []) - set(kept))
    if dropped:
        print('not passed to the refit (it has no correction hooks): ' +
              ' '.join(dropped), flush=True)
    return kept + list(extra) or None


def run(args):
    """prepare + train (+ refit) (+ count, with the refit if any)."""
    if args.launcher != 'none':
        raise OwnDataError(
            'run with a launcher would prepare on every process: '
            'run `tools/sissi.py prepare` once, then launch '
            '`tools/sissi.py train --launcher ...`')
    rc = prepare(args) or train(args)
    if rc == 0 and args.refit:
        args.out_dir, args.labels = None, None
        if args.resume != 'auto':  # a checkpoint of the first training
            args.resume = None
        args.cfg_options = _refit_options(args.cfg_options,
                                          args.refit_cfg_options)
        rc = refit(args)  # args.work_dir is the refit's from here on
    if rc == 0 and args.count:
        rc = count(args, args.count)
    return rc


def main(argv=None):
    args = parse_args(argv)
    try:
        with warnings_as_messages():
            if args.step == 'prepare':
                return prepare(args)
            if args.step == 'train':
                return train(args)
            if args.step == 'count':
                return count(args, args.images)
            if args.step == 'refit':
                return refit(args)
            return run(args)
    except OwnDataError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
