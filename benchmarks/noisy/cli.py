# Copyright (c) mmsissi contributors. All rights reserved.
"""The command line of ``benchmarks/noisy_labels.py`` and the resumable
run: rows x seeds, each in ``<work-dir>/seed_<s>/<row>``.

A row whose ``result.json`` is written is skipped on a re-run; a row that
was interrupted resumes from its last checkpoint (``tools/train.py``'s
resume). A work dir that holds a row of other settings is refused."""
import argparse
import csv
import hashlib
import os
import os.path as osp
import sys
import time

from benchmarks.table1 import run as run_tool
from mmsissi.fileio import atomic_dump_json, atomic_write_text

from .branch import (earlier_run_seconds, label_quality, labels_by_epoch,
                     make_branch_checkpoint, read_record, val_metrics)
from .configs import (CRITERIA, ROWS, SOFT_TEACHER_ROWS, SUPERVISED_ROWS,
                      build_config, check_rows, correction_row, from_scratch,
                      refit_base, refit_rounds, row_criterion, row_key,
                      row_restores_best, supervised_lever)
from .data import category_map, prepare_data
from .presets import PRESETS, QUICK
from .report import plot, print_summary, summarize, write_csvs

__all__ = ['parse_args', 'run_row', 'all_results', 'main']


def _train(row, work, cfg, args, seed_dir):
    """Train the row unless its last epoch is there; resume an
    interrupted run; branch a correction row from the supervised run."""
    start, branches = (None, '-'), not from_scratch(row)
    crit = row_criterion(cfg, row) if branches else None
    if branches:
        start = read_record(osp.join(seed_dir, 'supervised'), crit)
    last = osp.join(work, 'last_checkpoint')
    named = open(last).read().strip() if osp.isfile(last) else ''
    # mmengine names a checkpoint in last_checkpoint once it is saved: a
    # file there that it does not name may be a truncated one
    if osp.basename(named) == f'epoch_{args.epochs}.pth' and \
            osp.isfile(named):
        return start, 'trained'
    if named and osp.isfile(named):
        cfg.resume, cfg.load_from = True, named
        how = f'resuming {osp.basename(cfg.load_from)}'
    elif branches:
        branch = osp.join(work, 'branch_from.pth')
        start = make_branch_checkpoint(
            osp.join(seed_dir, 'supervised'), crit, branch,
            row_restores_best(cfg, row),
            teacher_student=cfg.get('soft_teacher_lr_factor', 1.0)
            if row in SOFT_TEACHER_ROWS else None)
        cfg.resume, cfg.load_from = True, branch
        how = f'branched at epoch {start[0]} ({start[1]})'
    else:
        how = 'from scratch'
    cfg_path = osp.join(work, 'config.py')
    cfg.dump(cfg_path)
    print(f'[{osp.basename(seed_dir)}/{row_key(row)}] training, {how} -> '
          f'{work}/train.log', flush=True)
    run_tool(['tools/train.py', cfg_path, '--work-dir', work],
             osp.join(work, 'train.log'), mode='a')
    return start, how


def _check_settings(work, key):
    """Refuse a work dir that holds this row of other settings."""
    path = osp.join(work, 'settings.key')
    if osp.isfile(path) and open(path).read() != key:
        sys.exit(f'error: {work} holds a run of other settings (its config '
                 'differs); give another --work-dir or remove that folder')
    atomic_write_text(key, path)


def _refit_labels(row, seed_dir, args, paths):
    """The label file a refit row trains on: the last labels its
    correction row trained on (that row's run of the same seed); for a
    refit of a refit, the labels of its relabelling pass (made in
    :func:`_relabel`, in the row's work dir)."""
    name = refit_base(row)
    base = osp.join(seed_dir, name)
    if not osp.isfile(osp.join(base, 'result.json')):
        sys.exit(f'error: {row} trains on the labels of {name}, and {base} '
                 f'has no finished run: add "{name}" to --rows')
    if refit_rounds(row) > 1:
        return osp.join(seed_dir, row_key(row), 'relabel', 'labels',
                        'epoch_1.json')
    return labels_by_epoch(base, paths['train_noisy'], args.epochs)[
        args.epochs]


def _relabel(row, seed, args, paths, seed_dir, labels):
    """Write ``labels`` for a refit of a refit row unless written (any
    other row: nothing to do): one pass of the correction row's
    ``PseudoLabelHook`` (its update policy, against the initial labels of
    ``paths``) with the final weights of the refit it follows
    (``tools/relabel.py``)."""
    if refit_rounds(row) < 2 or osp.isfile(labels):
        return
    rel = osp.dirname(osp.dirname(labels))
    os.makedirs(rel, exist_ok=True)
    cfg = build_config(correction_row(row), args, paths, seed=seed)
    cfg_path = osp.join(rel, 'config.py')
    cfg.dump(cfg_path)
    ckpt = osp.join(seed_dir, refit_base(row), f'epoch_{args.epochs}.pth')
    print(f'[{osp.basename(seed_dir)}/{row_key(row)}] relabelling with '
          f'{ckpt} -> {rel}/relabel.log', flush=True)
    run_tool(['tools/relabel.py', cfg_path, ckpt, '--work-dir', rel],
             osp.join(rel, 'relabel.log'))


def run_row(row, seed, args, paths, root):
    """Train (or resume) and test one row with one training seed.

    Returns:
        dict: The row's result (see :mod:`.report`), also written to
        ``<root>/seed_<seed>/<row>/result.json``.
    """
    seed_dir = osp.join(root, f'seed_{seed}')
    work = osp.join(seed_dir, row_key(row))
    initial_paths = paths
    if refit_base(row) is not None:
        paths = dict(paths, train_noisy=_refit_labels(row, seed_dir, args,
                                                      paths))
    os.makedirs(work, exist_ok=True)
    cfg = build_config(row, args, paths, seed=seed)
    _check_settings(work, hashlib.sha1(cfg.dump().encode()).hexdigest())
    done = osp.join(work, 'result.json')
    if osp.isfile(done):
        print(f'[seed_{seed}/{row_key(row)}] done before: {done}',
              flush=True)
        return load_result(done)
    t0 = time.time()
    _relabel(row, seed, args, initial_paths, seed_dir, paths['train_noisy'])
    start, how = _train(row, work, cfg, args, seed_dir)
    print(f'[seed_{seed}/{row_key(row)}] testing on the clean test split',
          flush=True)
    run_tool(['tools/test.py', osp.join(work, 'config.py'),
              osp.join(work, f'epoch_{args.epochs}.pth'), '--work-dir',
              work], osp.join(work, 'test.log'))
    with open(osp.join(work, 'test.per_reader.csv')) as f:
        table = {r[0]: r[1:] for r in list(csv.reader(f))[1:]}
    ap = [float(v) for v in table['clean'][:4]]
    if row == 'supervised':
        for crit in CRITERIA:
            print(f'[seed_{seed}/supervised] {crit} fires after epoch '
                  f'{read_record(work, crit)}', flush=True)
    initial = paths['train_clean' if row == 'clean' else 'train_noisy']
    result = dict(row=row_key(row), seed=seed, ap=ap, val=val_metrics(work),
                  start=start[0],
                  cause=start[1],
                  seconds=time.time() - t0 + earlier_run_seconds(work, t0),
                  resumed=how.startswith('resuming') or how == 'trained',
                  labels=label_quality(labels_by_epoch(work, initial,
                                                       args.epochs),
                                       paths['train_clean']))
    print(f'[seed_{seed}/{row_key(row)}] AP50 {100 * ap[0]:.1f} AP75 '
          f'{100 * ap[1]:.1f} AP {100 * ap[2]:.1f} AR {100 * ap[3]:.1f} '
          f'({result["seconds"]:.0f} s)', flush=True)
    atomic_dump_json(result, done)
    return result


def all_results(root):
    """Every row and seed whose ``result.json`` is in the work dir (this
    command's and earlier ones', all of the same settings: a row of other
    settings is refused), so the tables and the gap recovered always use
    the clean and supervised rows of each seed."""
    import glob
    return [load_result(p) for p in sorted(glob.glob(
        osp.join(root, 'seed_*', '*', 'result.json')))]


def load_result(path):
    """A written ``result.json`` (epochs back to ints)."""
    import json
    with open(path) as f:
        r = json.load(f)
    r['labels'] = {int(k): v for k, v in r['labels'].items()}
    if r.get('val') is None:  # written before results held it
        r['val'] = val_metrics(osp.dirname(path))
    return r


def _parser(preset):
    p = argparse.ArgumentParser(
        description='Controlled noisy-label benchmark (see '
        'benchmarks/noisy_labels.py)')
    p.add_argument('--preset', choices=sorted(PRESETS),
                   default='dsb-synthetic',
                   help='the benchmark: data, resolution and split')
    p.add_argument('--quick', action='store_true',
                   help='quick regime: rows clean supervised baseline, '
                   '8 epochs x 60 iterations (about 60 min on 2 idle cores)')
    p.add_argument('--rows', nargs='+', default=ROWS[:4],
                   help=f'rows: {", ".join(ROWS)}, or any correction config '
                   '(configs/sissi[/levers]/NAME.py or a path) whose start '
                   'criterion branches from the supervised run, '
                   'supervised_<lever>: configs/sissi/levers/'
                   'supervised_<lever>.py trained from scratch like '
                   'supervised (a lever of the training itself), or '
                   'refit_<row>: configs/sissi/refit.py from scratch on the '
                   'last labels of that row, refit_refit_<row>: the same on '
                   'the labels <row>\'s config makes with refit_<row>\'s '
                   'weights (tools/relabel.py)')
    p.add_argument('--seeds', type=int, nargs='+', default=None,
                   help='training seeds, each row runs once per seed '
                   '(default: --seed)')
    p.add_argument('--target-ann', help='clean COCO file of the target')
    p.add_argument('--target-train-ann', default=None,
                   help='COCO file of the training labels to use instead '
                   'of corrupting the clean ones (exactly the training '
                   'split\'s images, matched by file name)')
    p.add_argument('--weak-labels', action='store_true',
                   help='make the training labels with the weak-label '
                   'pipeline on the training images')
    p.add_argument('--weak-label-param', action='append', default=[],
                   metavar='SECTION.KEY=VALUE',
                   help='weak-label parameter (as tools/weak_labels.py)')
    p.add_argument('--target-img-prefix', default=None,
                   help='folder the file_names are relative to '
                   '(default: the annotation file\'s folder)')
    p.add_argument('--target-category-map', type=category_map)
    p.add_argument('--target-scale', type=float,
                   help='resize factor of the target images')
    p.add_argument('--source-ann')
    p.add_argument('--source-img-prefix', default=None)
    p.add_argument('--source-category-map', type=category_map)
    p.add_argument('--source-scale', type=float,
                   help='resize factor of the source images')
    p.add_argument('--source-max-side', type=int,
                   help='use only source images with sides <= this')
    p.add_argument('--source-val', type=int, default=5,
                   help='source images for the validation loss')
    p.add_argument('--split', type=int, nargs=3,
                   metavar=('TRAIN', 'VAL', 'TEST'),
                   help='target images per split (-1 for TEST: the rest)')
    p.add_argument('--max-side', type=int,
                   help='use only target images with sides <= this')
    p.add_argument('--drop', type=float, default=0.5)
    p.add_argument('--jitter', type=float, default=0.15)
    p.add_argument('--spurious', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=0,
                   help='data seed: the split and the corruption (the '
                   'same for every training seed)')
    p.add_argument('--crop', type=int, default=192)
    p.add_argument('--anchor-scale', type=int, default=4,
                   help='anchor size / stride (4: 16 px on P2)')
    p.add_argument('--batch-per-source', type=int, default=2)
    p.add_argument('--epochs', type=int, default=12)
    p.add_argument('--iters-per-epoch', type=int, default=100)
    p.add_argument('--lr', type=float, default=0.02)
    p.add_argument('--lr-step', type=int, default=None,
                   help='epoch of the x0.1 step (default: 80 %% of epochs)')
    p.add_argument('--warmup-iters', type=int, default=50)
    p.add_argument('--warmup-epochs', type=int, default=1,
                   help='epochs ADELE leaves out of its fit')
    p.add_argument('--patience', type=int, default=3)
    p.add_argument('--max-start-epoch', type=int, default=None,
                   help='latest start (default: epochs // 2 + 1)')
    p.add_argument('--views-per-batch', type=int, default=4)
    p.add_argument('--workers', type=int, default=1)
    p.add_argument('--work-dir', default=None,
                   help='default: work_dirs/noisy_labels[_quick]/<preset>')
    p.set_defaults(**PRESETS[preset])
    return p


def parse_args(argv=None):
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument('--preset', choices=sorted(PRESETS),
                     default='dsb-synthetic')
    pre.add_argument('--quick', action='store_true')
    pre.add_argument('--weak-labels', action='store_true')
    known, _ = pre.parse_known_args(argv)
    p = _parser(known.preset)
    if known.quick:
        p.set_defaults(**QUICK)
    args = p.parse_args(argv)
    try:
        check_rows(args.rows)
    except ValueError as e:
        p.error(str(e))
    return _finish(p, args, weak_asked=known.weak_labels)


def _finish(p, args, weak_asked=False):
    from mmsissi.weak_labels import parse_param_overrides
    for side in ('target', 'source'):
        key = f'{side}_img_prefix'
        if getattr(args, key) is None:
            setattr(args, key, osp.dirname(getattr(args, f'{side}_ann')))
    if args.seeds is None:
        args.seeds = [args.seed]
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f'--seeds repeats a seed: {args.seeds}')
    if args.lr_step is None:
        args.lr_step = max(1, round(0.8 * args.epochs))
    if args.max_start_epoch is None:
        args.max_start_epoch = args.epochs // 2 + 1
    for name in ('drop', 'jitter', 'spurious'):
        if not 0 <= getattr(args, name) <= 1:
            p.error(f'--{name} must be in [0, 1]')
    if args.target_train_ann and weak_asked:
        p.error('give --target-train-ann or --weak-labels, not both')
    if args.target_train_ann:
        args.weak_labels = False  # a given file wins over the preset's
    try:
        args.weak_label_params = parse_param_overrides(
            args.weak_label_param)
    except ValueError as e:
        p.error(str(e))
    if args.work_dir is None:
        args.work_dir = osp.join(
            'work_dirs', 'noisy_labels_quick' if args.quick else
            'noisy_labels', args.preset)
    return args


def main(argv=None):
    args = parse_args(argv)
    root = osp.abspath(args.work_dir)
    t0 = time.time()
    paths = prepare_data(args, osp.join(root, 'data'))
    order = check_rows(args.rows)  # supervised before branches
    for seed in args.seeds:
        sup = osp.join(root, f'seed_{seed}', 'supervised')
        if any(r not in SUPERVISED_ROWS and not supervised_lever(r)
               for r in order) and \
                'supervised' not in order \
                and not osp.isfile(osp.join(sup, 'result.json')):
            sys.exit(f'error: the correction rows branch from the '
                     f'supervised run, and {sup} has none: add "supervised" '
                     'to --rows')
    csvs = osp.join(root, 'results.csv'), osp.join(root, 'labels.csv')
    for s in args.seeds:
        for r in order:
            run_row(r, s, args, paths, root)
            # after every row: an interrupted run keeps its finished rows
            results = all_results(root)
            write_csvs(results, *csvs)
    summary = summarize(results)
    plot(summary, osp.join(root, 'label_recall.png'))
    print_summary(summary)
    print(f'\nwall time {time.time() - t0:.0f} s; written to '
          f'{root}/results.csv, labels.csv, label_recall.png')
    return summary
