# Copyright (c) mmsissi contributors. All rights reserved.
"""Each row's Table 1 config with the benchmark's data, model size and
schedule (the row's hooks, TTA fusion and synthesis unchanged)."""
import os.path as osp

from .soft_teacher import VARIANTS

__all__ = ['ROWS', 'NAMES', 'BRANCH', 'CRITERIA', 'SUPERVISED_ROWS',
           'SOFT_TEACHER_ROWS', 'REFIT', 'build_config', 'from_scratch',
           'refit_base', 'refit_rounds', 'correction_row', 'row_config',
           'row_criterion', 'row_key', 'row_name', 'row_restores_best',
           'check_rows', 'SUPERVISED_LEVER', 'supervised_lever']

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ROWS = ['clean', 'supervised', 'baseline', 'a_sissi_s', 'plain_a',
        'sissi_s', 'soft_teacher']
NAMES = dict(clean='Supervised (clean labels)',
             supervised='Supervised (noisy labels)', baseline='Baseline',
             a_sissi_s='A+SISSI(S)', plain_a='Plain A', sissi_s='SISSI(S)',
             soft_teacher='Soft Teacher (mmdet)',
             soft_teacher_w1='Soft Teacher, unsup w 1',
             soft_teacher_lr01='Soft Teacher, lr x 0.1',
             soft_teacher_w1_bn='Soft Teacher, w 1, BN kept',
             soft_teacher_ne='Soft Teacher, BN frozen',
             soft_teacher_w1_ne='Soft Teacher, w 1, BN frozen',
             soft_teacher_w1_ne_t03='Soft Teacher, w 1, BN frozen, thr 0.3',
             soft_teacher_w0_ne='Soft Teacher control: unsup w 0, BN frozen')
#: row -> (its Table 1 config, the criterion it branches at)
BRANCH = dict(baseline=('baseline', 'ValLossStartHook'),
              sissi_s=('sissi_s', 'ValLossStartHook'),
              plain_a=('plain_a', 'ADELEHook'),
              a_sissi_s=('a_sissi_s', 'ADELEHook'))
CRITERIA = ('ValLossStartHook', 'ADELEHook')
#: the rows trained from scratch; every other row branches from supervised
SUPERVISED_ROWS = ('clean', 'supervised')
#: mmdet's Soft Teacher (see :mod:`.soft_teacher`): burn-in = the supervised
#: run up to the validation-loss start, weights as trained (no rewind)
SOFT_TEACHER_CRITERION = 'ValLossStartHook'
#: the Soft Teacher rows (the row and its variants, :mod:`.soft_teacher`)
SOFT_TEACHER_ROWS = tuple(VARIANTS)
#: where a correction row that is not a Table 1 row is looked for
ROW_DIRS = ('configs/sissi', 'configs/sissi/levers')
#: ``refit_<row>``: ``configs/sissi/refit.py`` (Supervised with the ignore
#: regions honoured) trained from scratch (same seed) on the last labels
#: that the correction row ``<row>`` trained on; ``refit_refit_<row>``: the
#: same on the labels that ``<row>``'s config makes in one relabelling pass
#: with the weights of ``refit_<row>`` (``tools/relabel.py``), and so on
REFIT = 'refit_'
#: ``supervised_<lever>``: a lever of the training itself (e.g. its loss),
#: ``configs/sissi/levers/supervised_<lever>.py``: trained from scratch on
#: the noisy labels with the Supervised row's hooks, no correction
SUPERVISED_LEVER = 'supervised_'


def refit_base(row):
    """The correction row whose labels the row ``refit_<row>`` trains on,
    or None for a row that is not a refit."""
    if not row.startswith(REFIT) or row == REFIT:
        return None
    return row[len(REFIT):]


def correction_row(row):
    """The correction row at the root of a (repeated) refit row: the row
    itself for any other."""
    while refit_base(row) is not None:
        row = refit_base(row)
    return row


def refit_rounds(row):
    """How many refits a row is: 0 for a row that is not a refit, 1 for
    ``refit_<row>``, 2 for ``refit_refit_<row>``, ..."""
    return (len(row) - len(correction_row(row))) // len(REFIT)


def supervised_lever(row):
    """Whether the row (a name, or a config path) is a
    ``supervised_<lever>`` row."""
    return row_key(row).startswith(SUPERVISED_LEVER)


def from_scratch(row):
    """Whether a row trains from scratch (no branch from supervised)."""
    return (row in SUPERVISED_ROWS or supervised_lever(row)
            or refit_base(row) is not None)


def row_config(row):
    """The config file of a row: the Table 1 config of the fixed rows,
    else ``configs/sissi[/levers]/<row>.py`` or a path to any config
    whose hooks start correction with a criterion (e.g. a lever)."""
    base = refit_base(row)
    if base is not None:
        if refit_base(base) is None and (
                from_scratch(base) or base in SOFT_TEACHER_ROWS):
            raise ValueError(f'row {row!r}: {base!r} makes no labels to '
                             'refit on (give a correction row)')
        row_config(base)
        return osp.join(REPO, 'configs', 'sissi', 'refit.py')
    if row in SUPERVISED_ROWS or row in SOFT_TEACHER_ROWS:
        return osp.join(REPO, 'configs', 'sissi', 'supervised.py')
    if row in BRANCH:
        return osp.join(REPO, 'configs', 'sissi', f'{BRANCH[row][0]}.py')
    if row.endswith('.py') and osp.isfile(row):
        return osp.abspath(row)
    for d in ROW_DIRS:
        path = osp.join(REPO, d, f'{row}.py')
        if osp.isfile(path):
            return path
    raise ValueError(f'row {row!r}: not one of {ROWS}, and no config '
                     f'{" or ".join(f"{d}/{row}.py" for d in ROW_DIRS)}')


def row_criterion(cfg, row):
    """The start criterion a correction row's config uses (its branch
    point in the supervised run)."""
    if row in SOFT_TEACHER_ROWS:
        return SOFT_TEACHER_CRITERION
    found = [h['type'] for h in cfg.get('custom_hooks', [])
             if h['type'] in CRITERIA]
    if len(found) != 1:
        raise ValueError(f'row {row!r}: its config must have one start '
                         f'criterion of {CRITERIA} in custom_hooks, found '
                         f'{found}')
    return found[0]


def row_restores_best(cfg, row=None):
    """Whether the row's ``ValLossStartHook`` (if any) restores the best
    weights at the start (its ``restore_best``, default True; never for
    Soft Teacher, whose burn-in ends with the weights as trained)."""
    if row in SOFT_TEACHER_ROWS:
        return False
    return all(h.get('restore_best', True)
               for h in cfg.get('custom_hooks', [])
               if h['type'] == 'ValLossStartHook')


def row_key(row):
    """A row's key in results and its work-dir name: the row, or the
    config file's name for a path."""
    return osp.splitext(osp.basename(row))[0] if row.endswith('.py') else row


def row_name(row):
    """The printed name of a row."""
    if refit_base(row) is not None:
        rounds, base = refit_rounds(row), row_name(correction_row(row))
        return (f'Refit: {base}' if rounds == 1
                else f'Refit x{rounds}: {base}')
    return NAMES.get(row, row_key(row))


def check_rows(rows):
    """The rows in run order (the fixed rows in :data:`ROWS` order, then
    the others as given, refits last, in rounds: after the rows they
    refit on); a clear ValueError for an unknown one."""
    for r in rows:
        row_config(r)
    others = [r for r in rows if r not in ROWS]
    return [r for r in ROWS if r in rows] + sorted(
        others, key=refit_rounds)


def _dataset(ann, prefix, cat_map, pipeline, **kw):
    return dict(type='CellCocoDataset', data_root='', ann_file=ann,
                data_prefix=dict(img=prefix), metainfo=dict(classes=(
                    'cell', )), category_map=cat_map, pipeline=pipeline,
                **kw)


def _resize(scale):
    return [dict(type='Resize', scale_factor=scale, keep_ratio=True)
            ] if scale != 1 else []


def _augment(crop):
    return [
        dict(type='RandomCrop', crop_size=(crop, crop),
             allow_negative_crop=True),
        dict(type='RandomChannelShuffle', prob=0.5),
        dict(type='RandomGaussianBlur', kernel_range=(3, 5), prob=0.3),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomFlip', prob=0.5, direction='vertical'),
        # boxes of rotated cells stay tight (the inscribed ellipse's)
        dict(type='RandomApply', prob=0.5, transforms=[dict(
            type='TightRandomAffine', max_rotate_degree=15.0,
            max_translate_ratio=0.0625, scaling_ratio_range=(0.9, 1.1),
            max_shear_degree=0.0, border_val=(0, 0, 0))]),
        dict(type='SanitizeBoxes'),
        dict(type='PackDetInputs'),
    ]


def _pipelines(args):
    """Target train, source train, target test, source val, target TTA.
    Target images are resized by ``args.target_scale`` (synthesis runs
    before, on the image the labels refer to), source images by
    ``args.source_scale``; the TTA scales are relative to the target's."""
    load, ts = dict(type='LoadCellImageFromFile'), args.target_scale
    anns = dict(type='LoadAnnotations', with_bbox=True)
    synth = dict(type='SeamlessSynth', prob=0.5, pad_px=3, pad_ratio=0.15)
    target_train = [load, anns, synth, *_resize(ts),
                    *_augment(args.crop)]
    source_train = [load, anns, *_resize(args.source_scale),
                    *_augment(args.crop)]
    meta = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')
    test = [load, dict(type='Resize', scale_factor=ts, keep_ratio=True),
            anns, dict(type='PackDetInputs', meta_keys=meta)]
    source_val = [load, anns, *_resize(args.source_scale),
                  dict(type='PackDetInputs')]
    tta = [load, dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=round(s * ts, 6), keep_ratio=True)
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


def _follow_warmup(model, warmup_iters):
    """Losses that start after the warm-up (``begin_iter``, e.g.
    ``MissingLabelCrossEntropyLoss``) start after this benchmark's."""
    for head in (model.rpn_head, model.roi_head.bbox_head):
        if 'begin_iter' in head.get('loss_cls', {}):
            head.loss_cls.begin_iter = warmup_iters


def _set_hooks(cfg, row, args, loaders):
    """The supervised run records both criteria; the correction rows keep
    their config's hooks, with this benchmark's loaders, patience and
    cap."""
    if refit_base(row) is not None:
        cfg.custom_hooks = []
    elif row in SUPERVISED_ROWS or supervised_lever(row):
        cfg.custom_hooks = [] if row == 'clean' else [
            dict(type='ValLossStartHook', record_only=True),
            dict(type='ADELEHook', threshold=0.9, record_only=True)]
    for hook in cfg.get('custom_hooks', []):
        if hook['type'] in loaders:
            hook['dataloader'] = loaders[hook['type']]
        if hook['type'] == 'ValLossStartHook':
            hook.update(patience=args.patience,
                        max_start_epoch=args.max_start_epoch)
        if hook['type'] == 'ADELEHook':
            hook.update(warmup_epochs=args.warmup_epochs,
                        max_start_epoch=args.max_start_epoch)


def _set_data(cfg, row, args, paths):
    t_img, s_img = args.target_img_prefix, args.source_img_prefix
    t_map, s_map = args.target_category_map, args.source_category_map
    target_train, source_train, test, source_val, tta = _pipelines(args)
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
    if row in SOFT_TEACHER_ROWS:
        from .soft_teacher import soft_teacher_config
        soft_teacher_config(cfg, args, _loader(dict(infer, pipeline=test)),
                            row)


def build_config(row, args, paths, seed=None):
    """The row's Table 1 config with this benchmark's data, model size and
    schedule (its hooks, TTA fusion and synthesis unchanged).

    Args:
        row (str): One of :data:`ROWS`.
        args (argparse.Namespace): The benchmark's options.
        paths (dict): The data files of :func:`~.data.prepare_data`.
        seed (int, optional): Training seed (weights, sampling,
            augmentation). Defaults to ``args.seeds[0]``.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(row_config(row))
    _shrink_model(cfg.model, args)
    _follow_warmup(cfg.model, args.warmup_iters)  # before Soft Teacher wraps it
    cfg.load_from = None
    _set_data(cfg, row, args, paths)
    cfg.train_cfg.update(max_epochs=args.epochs, val_interval=args.epochs)
    cfg.optim_wrapper.optimizer.lr = args.lr
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=args.warmup_iters),
        dict(type='MultiStepLR', by_epoch=True, milestones=[args.lr_step],
             gamma=0.1)]
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=-1)
    cfg.default_hooks.logger.interval = 20
    cfg.randomness = dict(seed=args.seeds[0] if seed is None else seed)
    return cfg
