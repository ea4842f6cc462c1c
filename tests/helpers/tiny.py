# Copyright (c) mmsissi contributors. All rights reserved.
"""Tiny CPU-sized configs for real Runner runs in tests."""
import copy

from mmengine.config import Config

from mmsissi.utils import apply_cpu_scale

DEMO_CONFIG = 'configs/sissi/supervised.py'
SCALE = (128, 128)
FLIPS = dict(none=dict(type='RandomFlip', prob=0.))


def tta_views(pipeline, scale_factors, flips, scale=SCALE):
    """A copy of a TTA pipeline (e.g. the config's ``tta_pipeline``) with
    only the given views: scale factors of ``scale``, flip names."""
    pipeline = copy.deepcopy(pipeline)
    tta = next(t for t in pipeline if t['type'] == 'TestTimeAug')
    tta['transforms'][0] = [
        dict(type='Resize', scale=tuple(round(v * s) for v in scale),
             keep_ratio=True) for s in scale_factors
    ]
    tta['transforms'][1] = [
        FLIPS.get(f, dict(type='RandomFlip', prob=1., direction=f))
        for f in flips
    ]
    return pipeline


def _complete_hook(cfg, h):
    """Give a test's ADELE / pseudo-label hook the config's loaders; its
    ``views=(scale_factors, flips)`` and ``tta_cfg`` become the loader's
    TTA pipeline and the TTA model's fusion settings."""
    views = h.pop('views', None)
    tta_cfg = h.pop('tta_cfg', None)
    if 'ADELE' in h['type']:
        h.setdefault('dataloader', copy.deepcopy(cfg.adele_dataloader))
    elif 'PseudoLabelHook' in h['type']:
        dl = h.setdefault('dataloader',
                          copy.deepcopy(cfg.pseudo_label_dataloader))
        if views is not None:
            dl['dataset']['pipeline'] = tta_views(
                dl['dataset']['pipeline'], *views)
        if tta_cfg is not None:
            model = copy.deepcopy(cfg.tta_model)
            model['tta_cfg'].update(tta_cfg)
            h['tta_model'] = model
    return h


def tiny_cfg(work_dir, weak_ann, epochs=1, config=DEMO_CONFIG, workers=0,
             deterministic_pipeline=False, hooks=()):
    """A config shrunk by :func:`apply_cpu_scale` to seconds per epoch.

    Args:
        work_dir (str): Work dir.
        weak_ann (str): Initial target labels (COCO json).
        epochs (int): Epochs.
        config (str): Config to shrink.
        workers (int): Train dataloader workers (persistent if > 0).
        deterministic_pipeline (bool): Train without random augmentation
            and pack ``sissi_synth``, so tests can compare the labels that
            reach the model with the label files.
        hooks (Sequence[dict]): Extra custom hooks.
    """
    cfg = apply_cpu_scale(Config.fromfile(config), scale=SCALE,
                          weak_ann=str(weak_ann), max_epochs=epochs,
                          workers=0)
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    # two-stage (Faster R-CNN) keys only: one-stage detectors have none
    tr = cfg.model.get('train_cfg') or {}
    if 'rpn_proposal' in tr:
        tr.rpn_proposal.max_per_img = 100
    if 'sampler' in tr.get('rcnn', {}):
        tr.rcnn.sampler.num = 64
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1,
                                        max_keep_ckpts=3)
    tl = cfg.train_dataloader
    tl.num_workers = workers
    tl.persistent_workers = workers > 0
    for dl in (cfg.val_dataloader, cfg.test_dataloader):
        dl.num_workers = 0
        dl.persistent_workers = False
    if deterministic_pipeline:
        pipe = [
            dict(type='LoadCellImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='SeamlessSynth'),
            dict(type='Resize', scale=SCALE, keep_ratio=True),
            dict(type='SanitizeBoxes'),
            dict(type='PackDetInputs',
                 meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                            'scale_factor', 'flip', 'flip_direction',
                            'sissi_synth')),
        ]
        for d in tl.dataset.datasets:
            d.pipeline = pipe
    hooks = [_complete_hook(cfg, dict(h)) for h in hooks]
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + hooks
    return cfg


def shrink_relabelling(cfg, views=((1.0, ), ('none', 'vertical')),
                       **tta_cfg):
    """Fewer TTA views (and other fusion settings) for every pseudo-label
    hook a config already has, so its relabelling pass takes seconds."""
    for h in cfg.custom_hooks:
        if 'PseudoLabelHook' in h['type']:
            h['views'], h['tta_cfg'] = views, tta_cfg
            _complete_hook(cfg, h)
    return cfg
