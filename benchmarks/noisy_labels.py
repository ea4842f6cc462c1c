# Copyright (c) mmsissi contributors. All rights reserved.
"""Controlled noisy-label benchmark: does label correction recover the
cells that the training labels miss?

The target set's labels are known (one clean COCO box file): it is split
(seeded) into train / validation / test images, the training labels are
corrupted with ``tools/make_noisy_labels.py``'s options (dropped cells,
jittered boxes, false boxes), and a clean *source* set of another domain is
mixed into every batch 1:1, as in SISSI. Rows:

- ``clean``: supervised on the *clean* target labels (the upper bound);
- ``supervised``: supervised on the corrupted labels, no correction. This
  run also *records* both start criteria (``record_only``): early stopping
  on the source validation loss and ADELE, with a checkpoint every epoch;
- ``baseline``: branched from ``supervised`` at the epoch its
  validation-loss criterion fires (best-loss weights restored, as the
  ``baseline`` config does), then self-training with TTA + WBF;
- ``a_sissi_s``: branched where ADELE fires, then pseudo labels + strong-
  blur synthesis (``configs/sissi/a_sissi_s.py``);
- ``plain_a`` and ``sissi_s`` branch the same way (optional).

Each correction row runs its Table 1 config (its hooks, TTA and fusion)
with only data, model size and schedule changed, resumed from a
checkpoint of the ``supervised`` run where its criterion fired (the rows
are identical until then). Reported:

- per epoch, the precision / recall / F1 (IoU 0.5) of the target labels
  trained on, against the clean truth (epoch 0: the corrupted labels) ->
  ``labels.csv`` and ``label_recall.png``;
- AP50 / AP75 / AP / AR (COCO) on the held-out clean test split, each
  row's start epoch and cause -> ``results.csv``.

Default: DSB 2018 fluorescent nuclei (256x256 images) as target, the
Usiigaci phase-contrast fibroblasts (manual masks, half resolution) as
source; random-init ResNet-18 FPN Faster R-CNN on native-resolution random
crops. Any COCO set works through the flags::

    python benchmarks/noisy_labels.py                       # all rows
    python benchmarks/noisy_labels.py --rows clean supervised \\
        --target-ann my.json --target-category-map cell=cell

Each training runs ``tools/train.py`` / ``tools/test.py`` in a process of
its own, one at a time; logs in ``<work-dir>/<row>/``.

Measured with the defaults (2 CPU cores, 115 min for all four rows; 80
train / 20 val / 40 test images; corrupted labels 1,450 boxes for 2,384
cells: P 0.84 / R 0.51 at IoU 0.5; ~1 s per iteration, 285-310 s per
20-view TTA pass over the 80 images). Test split, AP50 / AP75 / AP / AR:
clean 82.8 / 49.6 / 46.9 / 53.4; supervised 79.0 / 30.8 / 37.7 / 46.2;
baseline (start 7, cap) 44.7 / 4.6 / 12.2 / 25.9; A+SISSI(S) (start 7,
ADELE criterion) 4.6 / 0.1 / 1.0 / 6.5. The first round of pseudo labels
is better than the corrupted labels (P 0.90 / R 0.72), later rounds are
not: the detector at the start epoch (before the lr step) predicts boxes
~13 % too large (log-width +0.13 single-view; +0.05 after the step) and
each round of self-training compounds it (+0.19 / +0.27 by epoch 12).

With ``--rows supervised baseline --lr-step 6`` (the lr step before the
start at epoch 7; 3,328 s): supervised 77.8 / 27.7 / 36.1 / 44.6; baseline
(start 7, cap; best-loss weights of epoch 5) 63.0 / 8.1 / 19.4 / 31.3.
Label P / R by epoch 8-12: 0.91 / 0.74, 0.92 / 0.77, 0.92 / 0.77,
0.89 / 0.74, 0.82 / 0.69: better for longer, but the drift returns.
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.table1 import run as _run  # noqa: E402
from mmsissi.datasets.noisy_labels import corrupt_coco, split_coco  # noqa
from mmsissi.fileio import atomic_dump_json  # noqa: E402
from mmsissi.weak_labels.boxes import evaluate_boxes, load_coco_boxes  # noqa

DATA = osp.join(osp.dirname(REPO), 'shared', 'data')
ROWS = ['clean', 'supervised', 'baseline', 'a_sissi_s', 'plain_a',
        'sissi_s']
NAMES = dict(clean='Supervised (clean labels)',
             supervised='Supervised (corrupted)', baseline='Baseline',
             a_sissi_s='A+SISSI(S)', plain_a='Plain A', sissi_s='SISSI(S)')
#: row -> (its Table 1 config, the criterion it branches at)
BRANCH = dict(baseline=('baseline', 'ValLossStartHook'),
              sissi_s=('sissi_s', 'ValLossStartHook'),
              plain_a=('plain_a', 'ADELEHook'),
              a_sissi_s=('a_sissi_s', 'ADELEHook'))
START_KEY, CAUSE_KEY = 'sissi/start_epoch', 'sissi/start_cause'


# ------------------------------------------------------------------ data
def _category_map(text):
    out = {}
    for item in text.split(','):
        if '=' not in item:
            raise argparse.ArgumentTypeError(
                f'category map "{text}": expected NAME=CLASS[,NAME=CLASS]')
        k, v = item.split('=', 1)
        out[k.strip()] = v.strip()
    return out


def _load(path):
    if not osp.isfile(path):
        sys.exit(f'error: {path}: no such COCO file')
    try:
        with open(path) as f:
            coco = json.load(f)
    except ValueError as e:
        sys.exit(f'error: {path}: not a JSON file ({e})')
    missing = {'images', 'annotations', 'categories'} - set(coco)
    if missing:
        sys.exit(f'error: {path}: not a COCO file (no {sorted(missing)})')
    return coco


def prepare_data(args, out_dir):
    """Split the target, corrupt its training labels, split the source.

    Returns:
        dict: name -> COCO file: ``train_clean``, ``train_noisy``, ``val``,
        ``test`` (target) and ``source_train``, ``source_val``.
    """
    os.makedirs(out_dir, exist_ok=True)
    target = _load(args.target_ann)
    parts = split_coco(target, args.split, seed=args.seed,
                       max_side=args.max_side)
    noisy, counts = corrupt_coco(parts['train'], drop=args.drop,
                                 jitter=args.jitter, spurious=args.spurious,
                                 seed=args.seed)
    source = _load(args.source_ann)
    src = split_coco(source, [args.source_val, -1], ('val', 'train'),
                     seed=args.seed)
    files = dict(train_clean=parts['train'], train_noisy=noisy,
                 val=parts['val'], test=parts['test'],
                 source_train=src['train'], source_val=src['val'])
    paths = {k: osp.join(out_dir, f'{k}.json') for k in files}
    for k, v in files.items():
        atomic_dump_json(v, paths[k])
    print(f'target: {len(parts["train"]["images"])} train / '
          f'{len(parts["val"]["images"])} val / '
          f'{len(parts["test"]["images"])} test images; training labels '
          f'{counts["clean"]} clean -> {counts["total"]} corrupted '
          f'({counts["dropped"]} dropped, {counts["spurious"]} spurious); '
          f'source: {len(src["train"]["images"])} train / '
          f'{len(src["val"]["images"])} val images', flush=True)
    return paths


# ---------------------------------------------------------------- config
def _dataset(ann, prefix, cat_map, pipeline, **kw):
    return dict(type='CellCocoDataset', data_root='', ann_file=ann,
                data_prefix=dict(img=prefix), metainfo=dict(classes=(
                    'cell', )), category_map=cat_map, pipeline=pipeline,
                **kw)


def _pipelines(args):
    load = dict(type='LoadCellImageFromFile')
    crop = (args.crop, args.crop)
    aug = [
        dict(type='RandomCrop', crop_size=crop, allow_negative_crop=True),
        dict(type='RandomChannelShuffle', prob=0.5),
        dict(type='RandomGaussianBlur', kernel_range=(3, 5), prob=0.3),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomFlip', prob=0.5, direction='vertical'),
        dict(type='RandomApply', prob=0.5, transforms=[dict(
            type='RandomAffine', max_rotate_degree=15.0,
            max_translate_ratio=0.0625, scaling_ratio_range=(0.9, 1.1),
            max_shear_degree=0.0, border_val=(0, 0, 0))]),
        dict(type='SanitizeBoxes'),
        dict(type='PackDetInputs'),
    ]
    target_train = [load, dict(type='LoadAnnotations', with_bbox=True),
                    dict(type='SeamlessSynth'), *aug]
    source_train = [load, dict(type='LoadAnnotations', with_bbox=True),
                    dict(type='Resize', scale_factor=args.source_scale,
                         keep_ratio=True), *aug]
    meta = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')
    test = [load, dict(type='Resize', scale_factor=1.0, keep_ratio=True),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs', meta_keys=meta)]
    source_val = [load, dict(type='LoadAnnotations', with_bbox=True),
                  dict(type='Resize', scale_factor=args.source_scale,
                       keep_ratio=True), dict(type='PackDetInputs')]
    tta = [load, dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=s, keep_ratio=True)
         for s in (0.8, 0.9, 1.0, 1.1, 1.2)],
        [dict(type='RandomFlip', prob=0.),
         dict(type='RandomFlip', prob=1., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='vertical'),
         dict(type='RandomFlip', prob=1., direction='diagonal')],
        [dict(type='PackDetInputs',
              meta_keys=meta + ('flip', 'flip_direction'))]])]
    return target_train, source_train, test, source_val, tta


def _loader(dataset, batch_size=1, shuffle=False):
    return dict(batch_size=batch_size, num_workers=0,
                persistent_workers=False, drop_last=False,
                sampler=dict(type='DefaultSampler', shuffle=shuffle),
                dataset=dataset)


def _shrink_model(m, args):
    """Random-init ResNet-18 FPN, anchors from 16 px, fewer proposals."""
    m.backbone.update(depth=18, init_cfg=None, norm_eval=False)
    m.neck.in_channels = [64, 128, 256, 512]
    m.rpn_head.anchor_generator.scales = [args.anchor_scale]
    m.train_cfg.rpn_proposal.update(nms_pre=1000, max_per_img=300)
    m.train_cfg.rcnn.sampler.num = 128
    m.test_cfg.rpn.update(nms_pre=1000, max_per_img=300)
    m.test_cfg.rcnn.max_per_img = 300
    # RoIAlign with 2x2 samples per bin instead of adaptive: on CPU the
    # adaptive one took 57 % of the inference time (0.18 s of 0.32 s/view)
    m.roi_head.bbox_roi_extractor.roi_layer.sampling_ratio = 2


def _set_hooks(cfg, row, args, loaders):
    """The supervised run records both criteria; the correction rows keep
    their config's hooks, with this benchmark's loaders, patience and
    cap."""
    if row in ('clean', 'supervised'):
        cfg.custom_hooks = [] if row == 'clean' else [
            dict(type='ValLossStartHook', record_only=True),
            dict(type='ADELEHook', threshold=0.9, record_only=True)]
    for hook in cfg.custom_hooks:
        if hook['type'] in loaders:
            hook['dataloader'] = loaders[hook['type']]
        if hook['type'] == 'ValLossStartHook':
            hook.update(patience=args.patience,
                        max_start_epoch=args.max_start_epoch)
        if hook['type'] == 'ADELEHook':
            hook.update(warmup_epochs=args.warmup_epochs,
                        max_start_epoch=args.max_start_epoch)


def build_config(row, args, paths):
    """The row's Table 1 config with this benchmark's data, model size and
    schedule (its hooks, TTA fusion and synthesis unchanged)."""
    from mmengine.config import Config
    name = 'supervised' if row in ('clean', 'supervised') else BRANCH[row][0]
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sissi', f'{name}.py'))
    t_img, s_img = args.target_img_prefix, args.source_img_prefix
    t_map, s_map = args.target_category_map, args.source_category_map
    target_train, source_train, test, source_val, tta = _pipelines(args)
    _shrink_model(cfg.model, args)
    cfg.load_from = None
    # data
    train_ann = paths['train_clean' if row == 'clean' else 'train_noisy']
    batch = 2 * args.batch_per_source
    tl = cfg.train_dataloader
    tl.update(batch_size=batch, num_workers=args.workers,
              persistent_workers=args.workers > 0)
    tl.sampler.update(batch_size=batch, iters_per_epoch=args.iters_per_epoch)
    tl.dataset.datasets = [
        dict(_dataset(train_ann, t_img, t_map, target_train,
                      filter_cfg=dict(filter_empty_gt=False)),
             type='SISSITargetDataset'),
        _dataset(paths['source_train'], s_img, s_map, source_train,
                 filter_cfg=dict(filter_empty_gt=True))]
    for split, key in (('val', 'val_dataloader'),
                       ('test', 'test_dataloader')):
        cfg[key] = _loader(_dataset(paths[split], t_img, t_map, test,
                                    test_mode=True))
        cfg[key.replace('dataloader', 'evaluator')] = dict(
            type='PerReaderCocoMetric', readers=dict(clean=paths[split]),
            max_dets=1000)
    cfg.tta_pipeline = tta
    cfg.tta_model.views_per_batch = args.views_per_batch
    infer = _dataset(paths['train_noisy'], t_img, t_map, None,
                     test_mode=True)
    _set_hooks(cfg, row, args, loaders=dict(
        ValLossStartHook=_loader(_dataset(
            paths['source_val'], s_img, s_map, source_val), 2),
        ADELEHook=_loader(dict(infer, pipeline=test)),
        PseudoLabelHook=_loader(dict(infer, pipeline=tta))))
    # schedule
    cfg.train_cfg.update(max_epochs=args.epochs, val_interval=args.epochs)
    cfg.optim_wrapper.optimizer.lr = args.lr
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=args.warmup_iters),
        dict(type='MultiStepLR', by_epoch=True, milestones=[args.lr_step],
             gamma=0.1)]
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=-1)
    cfg.default_hooks.logger.interval = 20
    cfg.randomness = dict(seed=args.seed)
    return cfg


# ------------------------------------------------------------- branching
def read_record(work, criterion):
    """``(epoch, cause)`` where ``criterion`` fired in the recording run
    (its ``sissi_start_{criterion}.json``), or None."""
    path = osp.join(work, f'sissi_start_{criterion}.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        rec = json.load(f)
    return int(rec['epoch']), str(rec['cause'])


def make_branch_checkpoint(work, criterion, out):
    """A checkpoint to resume a correction row from: the recording run's
    checkpoint of the epoch ``criterion`` fired at, with the start epoch
    and cause published in its MessageHub state, exactly as the row's own
    run holds them after the criterion fired; for ``ValLossStartHook`` the
    weights are the best-validation-loss ones (its ``on_start``).

    Returns:
        tuple[int, str]: the start epoch and its cause.
    """
    import torch
    rec = read_record(work, criterion)
    if rec is None:
        raise RuntimeError(
            f'{criterion} did not fire in {work} (no '
            f'sissi_start_{criterion}.json); raise --max-start-epoch or '
            '--epochs')
    epoch, cause = rec
    ckpt = torch.load(osp.join(work, f'epoch_{epoch}.pth'),
                      map_location='cpu', weights_only=False)
    hub = ckpt['message_hub']['runtime_info']
    if criterion == 'ValLossStartHook':
        best = hub.get('sissi/val_loss_best')
        if best is not None and int(best['epoch']) != epoch:
            ckpt['state_dict'] = torch.load(
                osp.join(work, 'val_loss_best.pth'), map_location='cpu',
                weights_only=True)
    hub[START_KEY], hub[CAUSE_KEY] = epoch, cause
    torch.save(ckpt, out)
    return epoch, cause


# ------------------------------------------------------------ evaluation
def labels_by_epoch(work, initial, epochs):
    """The target labels trained on in each epoch: ``{0: initial file,
    k: the label-store file in force in epoch k}`` (pseudo labels written
    for epoch k, else the last earlier ones, else the initial file)."""
    files, current = {0: initial}, initial
    for k in range(1, epochs + 1):
        path = osp.join(work, 'labels', f'epoch_{k}.json')
        if osp.isfile(path):
            current = path
        files[k] = current
    return files


def label_quality(files, truth):
    """Precision / recall / F1 (IoU 0.5) of each epoch's label file
    against the clean truth, on the truth's images."""
    gt = load_coco_boxes(truth)
    out, cache = {}, {}
    for epoch, path in files.items():
        if path not in cache:
            pred = load_coco_boxes(path)
            pred = {k: pred.get(k, np.zeros((0, 4))) for k in gt}
            cache[path] = evaluate_boxes(pred, gt)
        m = cache[path]
        out[epoch] = dict(num_boxes=m['num_pred'], precision=m['precision'],
                          recall=m['recall'], f1=m['f1'])
    return out


def plot(label_rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for row, series in label_rows.items():
        ep = sorted(series)
        for ax, key in zip(axes, ('recall', 'precision')):
            ax.plot(ep, [series[e][key] for e in ep], marker='.',
                    label=NAMES[row])
    for ax, key in zip(axes, ('recall', 'precision')):
        ax.set_xlabel('epoch (0: the corrupted labels)')
        ax.set_ylabel(f'label {key} vs clean truth (IoU 0.5)')
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------ runs
def run_row(row, args, paths, root):
    work = osp.join(root, row)
    os.makedirs(work, exist_ok=True)
    cfg = build_config(row, args, paths)
    start = (None, '-')
    if row in BRANCH:
        rec_work = osp.join(root, 'supervised')
        branch = osp.join(work, 'branch_from.pth')
        start = make_branch_checkpoint(rec_work, BRANCH[row][1], branch)
        cfg.resume, cfg.load_from = True, branch
    cfg_path = osp.join(work, 'config.py')
    cfg.dump(cfg_path)
    t0 = time.time()
    print(f'[{row}] training (start: {start[0]} ({start[1]})) -> '
          f'{work}/train.log', flush=True)
    _run(['tools/train.py', cfg_path, '--work-dir', work],
         osp.join(work, 'train.log'))
    ckpt = osp.join(work, f'epoch_{args.epochs}.pth')
    print(f'[{row}] testing on the clean test split', flush=True)
    _run(['tools/test.py', cfg_path, ckpt, '--work-dir', work],
         osp.join(work, 'test.log'))
    with open(osp.join(work, 'test.per_reader.csv')) as f:
        table = {r[0]: r[1:] for r in list(csv.reader(f))[1:]}
    ap = [float(v) for v in table['clean'][:4]]
    if row == 'supervised':  # the recorded starts, for the branches
        for crit in ('ValLossStartHook', 'ADELEHook'):
            print(f'[supervised] {crit} fires after epoch '
                  f'{read_record(work, crit)}', flush=True)
    seconds = time.time() - t0
    print(f'[{row}] AP50 {100 * ap[0]:.1f} AP75 {100 * ap[1]:.1f} '
          f'AP {100 * ap[2]:.1f} AR {100 * ap[3]:.1f} ({seconds:.0f} s)',
          flush=True)
    initial = paths['train_clean' if row == 'clean' else 'train_noisy']
    quality = label_quality(labels_by_epoch(work, initial, args.epochs),
                            paths['train_clean'])
    return dict(ap=ap, start=start, seconds=seconds, labels=quality)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--rows', nargs='+', default=ROWS[:4], choices=ROWS)
    dsb = osp.join(DATA, 'dsb2018_stage1_train_fluo')
    usi = osp.join(DATA, 'usiigaci_nih3t3_phc')
    p.add_argument('--target-ann', default=osp.join(dsb,
                                                    'annotations_bbox.json'))
    p.add_argument('--target-img-prefix', default=None,
                   help='folder the file_names are relative to '
                   '(default: the annotation file\'s folder)')
    p.add_argument('--target-category-map', type=_category_map,
                   default=dict(nucleus='cell'))
    p.add_argument('--source-ann', default=osp.join(usi,
                                                    'annotations_bbox.json'))
    p.add_argument('--source-img-prefix', default=None)
    p.add_argument('--source-category-map', type=_category_map,
                   default=dict(cell='cell'))
    p.add_argument('--source-scale', type=float, default=0.5,
                   help='resize factor of the source images')
    p.add_argument('--source-val', type=int, default=5,
                   help='source images for the validation loss')
    p.add_argument('--split', type=int, nargs=3, default=[80, 20, 40],
                   metavar=('TRAIN', 'VAL', 'TEST'),
                   help='target images per split (-1 for TEST: the rest)')
    p.add_argument('--max-side', type=int, default=256,
                   help='use only target images with sides <= this')
    p.add_argument('--drop', type=float, default=0.5)
    p.add_argument('--jitter', type=float, default=0.15)
    p.add_argument('--spurious', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=0)
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
    p.add_argument('--work-dir', default='work_dirs/noisy_labels')
    args = p.parse_args(argv)
    for side in ('target', 'source'):
        key = f'{side}_img_prefix'
        if getattr(args, key) is None:
            setattr(args, key, osp.dirname(getattr(args, f'{side}_ann')))
    if args.lr_step is None:
        args.lr_step = max(1, round(0.8 * args.epochs))
    if args.max_start_epoch is None:
        args.max_start_epoch = args.epochs // 2 + 1
    for name in ('drop', 'jitter', 'spurious'):
        if not 0 <= getattr(args, name) <= 1:
            p.error(f'--{name} must be in [0, 1]')
    if any(r in BRANCH for r in args.rows) and 'supervised' not in args.rows \
            and not osp.isdir(osp.join(args.work_dir, 'supervised')):
        p.error('correction rows branch from the supervised run: add '
                '"supervised" to --rows (or run it first)')
    return args


def main(argv=None):
    args = parse_args(argv)
    root = osp.abspath(args.work_dir)
    t0 = time.time()
    paths = prepare_data(args, osp.join(root, 'data'))
    order = [r for r in ROWS if r in args.rows]  # supervised before branches
    results = {r: run_row(r, args, paths, root) for r in order}
    with open(osp.join(root, 'labels.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['row', 'epoch', 'num_boxes', 'precision', 'recall',
                    'f1'])
        for row, res in results.items():
            for e, m in sorted(res['labels'].items()):
                w.writerow([row, e, m['num_boxes'], f'{m["precision"]:.4f}',
                            f'{m["recall"]:.4f}', f'{m["f1"]:.4f}'])
    with open(osp.join(root, 'results.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['row', 'AP50', 'AP75', 'AP', 'AR', 'start', 'cause',
                    'final_label_precision', 'final_label_recall',
                    'seconds'])
        for row, res in results.items():
            last = res['labels'][args.epochs]
            w.writerow([row, *[f'{v:.4f}' for v in res['ap']],
                        res['start'][0], res['start'][1],
                        f'{last["precision"]:.4f}', f'{last["recall"]:.4f}',
                        f'{res["seconds"]:.0f}'])
    plot({r: res['labels'] for r, res in results.items()},
         osp.join(root, 'label_recall.png'))
    print('\nTarget training labels vs clean truth (IoU 0.5): P / R')
    print(f'{"epoch":<7}' + ''.join(f'{r:>16}' for r in results))
    for e in range(args.epochs + 1):
        print(f'{e:<7}' + ''.join(
            f'{res["labels"][e]["precision"]:>9.2f} / '
            f'{res["labels"][e]["recall"]:.2f}' for res in results.values()))
    print('\nHeld-out clean test split (%)')
    print(f'{"row":<28}{"AP50":>7}{"AP75":>7}{"AP":>7}{"AR":>7}'
          f'{"start":>7}  cause')
    for row, res in results.items():
        print(f'{NAMES[row]:<28}' + ''.join(
            f'{100 * v:7.1f}' for v in res['ap']) +
            f'{str(res["start"][0]):>7}  {res["start"][1]}')
    print(f'\nwall time {time.time() - t0:.0f} s; written to '
          f'{root}/results.csv, labels.csv, label_recall.png')


if __name__ == '__main__':
    main()
