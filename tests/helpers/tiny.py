# Copyright (c) mmsissi contributors. All rights reserved.
"""Tiny CPU-sized configs for real Runner runs in tests."""
from mmengine.config import Config

from mmsissi.utils import apply_cpu_scale

DEMO_CONFIG = 'configs/demo/supervised_r18_256_cpu.py'
SCALE = (128, 128)


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
    hooks = [dict(h) for h in hooks]
    for h in hooks:
        if h['type'] in ('PseudoLabelHook', 'ADELEHook'):
            h.setdefault('scale', SCALE)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + hooks
    return cfg
