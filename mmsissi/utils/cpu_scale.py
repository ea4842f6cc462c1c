# Copyright (c) mmsissi contributors. All rights reserved.
"""Shrink any mmsissi config to CPU demo scale: the project's one CPU-scale
mechanism.

``tools/train.py CONFIG --cpu-scale`` (and ``tools/test.py``,
``tools/count.py``, ``tools/demo.py``, ``benchmarks/table1.py``) apply
this, so every row of Table 1 runs on a laptop or in CI on the shipped demo
subset: ResNet-18 FPN instead of ResNet-50, a small input (every resize,
TTA views included, scaled by the same ratio), random init (no downloads),
2 target + 2 source images per batch, one pass over the demo target crops
per epoch, the demo data paths (also in the hooks' dataloaders). The
experiment's own parts (start criterion, TTA fusion, synthesis) are kept as
they are.
"""
import copy
import json
import math
import os.path as osp
from typing import Optional, Tuple

from mmengine.config import Config, ConfigDict

__all__ = ['apply_cpu_scale', 'DEMO_ROOT']

DEMO_ROOT = 'demo/data'
CPU_WARMUP_ITERS = 20
CPU_MAX_EPOCHS = 20


def _extra_loaders(cfg):
    """The hooks' dataloaders and the config's other ``*_dataloader``
    variables (e.g. ``adele_dataloader``, which children pass to hooks)."""
    out = [h['dataloader'] for h in cfg.get('custom_hooks', [])
           if 'dataloader' in h]
    for key, value in cfg.items():
        if key.endswith('_dataloader') and key not in (
                'train_dataloader', 'val_dataloader', 'test_dataloader'):
            out.append(value)
    return out


def _pipelines(cfg):
    dls = [cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader]
    dls += _extra_loaders(cfg)
    for dl in dls:
        ds = dl['dataset']
        for d in ds.get('datasets', [ds]):
            yield d['pipeline']
    if cfg.get('tta_pipeline'):
        yield cfg.tta_pipeline


def _resize(pipeline, ratio: float, seen: set):
    """Scale every Resize's ``scale`` by ``ratio`` (each dict once: the
    configs share dicts between pipelines)."""
    for t in pipeline:
        if isinstance(t, (list, tuple)):
            _resize(t, ratio, seen)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        if str(t['type']).endswith('Resize') and 'scale' in t:
            t['scale'] = tuple(int(round(v * ratio)) for v in t['scale'])
        _resize(t.get('transforms') or [], ratio, seen)


def _use_demo_data(cfg, demo_root, weak_ann):
    """Point every dataset of ``cfg`` at the demo subset; returns the
    initial target labels used."""
    t_root = osp.join(demo_root, 'target')
    s_root = osp.join(demo_root, 'source')
    weak_ann = weak_ann or osp.join(t_root, 'train_weak.json')
    target, source = cfg.train_dataloader.dataset.datasets
    source_prefix = copy.deepcopy(source.get('data_prefix'))
    target.update(data_root=None, ann_file=weak_ann,
                  data_prefix=dict(img=t_root + '/'))
    source.update(data_root=None,
                  ann_file=osp.join(s_root, 'annotations_bbox.json'),
                  data_prefix=dict(img=s_root + '/'))
    test_ann = osp.join(t_root, 'test_manual.json')
    for dl in (cfg.val_dataloader, cfg.test_dataloader):
        dl.dataset.update(data_root=None, ann_file=test_ann,
                          data_prefix=dict(img=t_root + '/'))
    for ev in (cfg.val_evaluator, cfg.test_evaluator):
        if ev.get('type') == 'PerReaderCocoMetric':
            ev.readers = dict(manual=test_ann)
    loaders = {id(dl): dl for dl in _extra_loaders(cfg)}  # shared: once
    for dl in loaders.values():
        if dl['dataset'].get('data_prefix') == source_prefix:
            # source "validation" = the demo source set
            dl['dataset'].update(
                data_root=None,
                ann_file=osp.join(s_root, 'annotations_bbox.json'),
                data_prefix=dict(img=s_root + '/'))
        else:  # ADELE / pseudo labels: the target crops, initial labels
            dl['dataset'].update(
                data_root=None, ann_file=weak_ann,
                data_prefix=dict(img=t_root + '/'))
    return weak_ann


def apply_cpu_scale(cfg: Config,
                    demo_root: Optional[str] = DEMO_ROOT,
                    scale: Tuple[int, int] = (256, 256),
                    weak_ann: Optional[str] = None,
                    batch_per_source: int = 2,
                    max_epochs: Optional[int] = None,
                    workers: int = 1) -> Config:
    """Return a copy of ``cfg`` at CPU demo scale.

    Args:
        cfg (Config): A config of ``configs/sissi``.
        demo_root (str, optional): The demo subset every dataset is pointed
            at. Defaults to ``demo/data``. None keeps the config's own data
            (e.g. a child config of ``tools/sissi.py``): only the model,
            the batches, the scale and the schedule shrink.
        scale (tuple[int, int]): Input scale. Defaults to (256, 256).
        weak_ann (str, optional): Initial target labels with ``demo_root``.
            Defaults to the shipped ``{demo_root}/target/train_weak.json``.
        batch_per_source (int): Images per source per batch. Defaults to 2.
        max_epochs (int, optional): Epochs (each one pass over the demo
            target crops). Defaults to None: :data:`CPU_MAX_EPOCHS`. A start
            criterion's cap (``max_start_epoch``) becomes at most half of
            them, so correction runs at CPU scale too.
        workers (int): Dataloader workers (persistent if > 0).

    Returns:
        Config: The shrunk config.
    """
    cfg = copy.deepcopy(cfg)
    model = cfg.model
    if model.get('backbone', {}).get('type') == 'ResNet':
        model.backbone.depth = 18
        model.backbone.init_cfg = None
        if 'neck' in model and 'in_channels' in model.neck:
            model.neck.in_channels = [64, 128, 256, 512]
    else:
        model.backbone.init_cfg = None
    tr = model.get('train_cfg', {})
    if 'rpn_proposal' in tr:
        tr.rpn_proposal.nms_pre = 1000
        tr.rpn_proposal.max_per_img = 300
    if 'rcnn' in tr and 'sampler' in tr.rcnn:
        tr.rcnn.sampler.num = 128
    te = model.get('test_cfg', {})
    if 'rpn' in te:  # 256x256 crops hold < 150 cells: fewer proposals
        te.rpn.nms_pre = 1000
        te.rpn.max_per_img = 500
    if 'rcnn' in te:
        te.rcnn.max_per_img = 300
    cfg.load_from = None

    batch = 2 * batch_per_source
    tl = cfg.train_dataloader
    tl.batch_size = batch
    tl.num_workers = workers
    tl.persistent_workers = workers > 0
    if 'batch_size' in tl.get('sampler', {}):
        tl.sampler.batch_size = batch
    if 'iters_per_epoch' in tl.get('sampler', {}):
        tl.sampler.iters_per_epoch = None  # an epoch: one pass over target
    for dl in (cfg.val_dataloader, cfg.test_dataloader):
        if dl:
            dl.num_workers = workers
            dl.persistent_workers = workers > 0
    if demo_root is not None:
        weak_ann = _use_demo_data(cfg, demo_root, weak_ann)
    else:  # the config's own data: its target training labels
        target = tl.dataset.datasets[0]
        weak_ann = osp.join(target.get('data_root') or '', target.ann_file)
    with open(weak_ann) as f:
        iters_per_epoch = math.ceil(
            len(json.load(f)['images']) / batch_per_source)
    for h in cfg.get('custom_hooks', []):
        if 'warmup_epochs' in h:  # ADELE: the CPU warm-up's epochs
            h['warmup_epochs'] = math.ceil(CPU_WARMUP_ITERS /
                                           iters_per_epoch)
    for dl in _extra_loaders(cfg):
        dl['num_workers'] = 0
        dl['persistent_workers'] = False
    base = cfg.get('img_scale')
    ratio = scale[0] / base[0] if base else 1.0
    seen = set()
    for pipe in _pipelines(cfg):
        if base:
            _resize(pipe, ratio, seen)
        else:  # no base scale to scale from: every resize to `scale`
            for t in pipe:
                if str(t['type']).endswith('Resize') and 'scale' in t:
                    t['scale'] = tuple(scale)
    cfg.img_scale = tuple(scale)
    max_epochs = CPU_MAX_EPOCHS if max_epochs is None else max_epochs
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = max_epochs
    for h in cfg.get('custom_hooks', []):
        if h.get('max_start_epoch') is not None:
            h['max_start_epoch'] = min(h['max_start_epoch'],
                                       max(1, max_epochs // 2))
    # random init needs a higher lr and a short warm-up to move in minutes
    cfg.optim_wrapper.optimizer.lr = 0.01
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=CPU_WARMUP_ITERS)
    ]
    cfg.default_hooks.logger.interval = 5
    cfg.log_processor = ConfigDict(type='LogProcessor', window_size=5,
                                   by_epoch=True)
    return cfg
