# Copyright (c) mmsissi contributors. All rights reserved.
"""Helpers shared by the SISSI hooks (not registered components)."""
from contextlib import contextmanager
from typing import Callable, Dict, Iterable

import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.model import is_model_wrapper
from mmengine.utils import ProgressBar

__all__ = [
    'START_KEY', 'CAUSE_KEY', 'target_dataset', 'unwrap_model',
    'get_start_epoch', 'publish_start_epoch', 'check_same_images',
    'weak_labels', 'eval_mode', 'predict_images'
]

#: MessageHub key under which a start criterion publishes the start epoch
#: (number of completed epochs after which label correction is on).
START_KEY = 'sissi/start_epoch'
#: MessageHub key of the start's cause: ``'criterion'`` or ``'cap'``.
CAUSE_KEY = 'sissi/start_cause'


def get_start_epoch(runner):
    """The published start epoch, or None."""
    value = runner.message_hub.get_info(START_KEY)
    return None if value is None else int(value)


def publish_start_epoch(runner, epoch: int) -> None:
    """Publish the start epoch (checkpointed with the message hub)."""
    runner.message_hub.update_info(START_KEY, int(epoch))


def target_dataset(runner, index: int = 0, requires_store: bool = False):
    """The target set of the training ``ConcatDataset``."""
    ds = runner.train_dataloader.dataset
    datasets = getattr(ds, 'datasets', [ds])
    if index >= len(datasets):
        raise IndexError(f'training dataset has {len(datasets)} sources, '
                         f'no target at index {index}')
    target = datasets[index]
    if requires_store and not hasattr(target, 'attach_label_store'):
        raise TypeError(
            f'training dataset {index} is a {type(target).__name__}; the '
            'target set must be a SISSITargetDataset to receive pseudo '
            'labels')
    return target


def unwrap_model(runner):
    model = runner.model
    return model.module if is_model_wrapper(model) else model


def _image_loader(dataset):
    """The image-loading transform of a dataset's pipeline, or None."""
    for t in getattr(dataset.pipeline, 'transforms', []):
        if isinstance(t, LoadImageFromFile):
            return t
    return None


def check_same_images(dataset, target, who: str) -> None:
    """Check that a hook's inference dataset covers the training target set
    and loads images as training does.

    Args:
        dataset: The hook's dataset (built from its dataloader config).
        target: The training target dataset.
        who (str): Hook name for the error message.

    Raises:
        ValueError: If the image files differ, or the image loaders differ
            (e.g. plain ``LoadImageFromFile`` would read 16-bit images
            differently from training's ``LoadCellImageFromFile``).
    """
    def files(ds):
        ds.full_init()
        return {ds.get_data_info(i)['img_path'] for i in range(len(ds))}

    mine, theirs = files(dataset), files(target)
    if mine != theirs:
        only = sorted(theirs - mine)[:3] or sorted(mine - theirs)[:3]
        raise ValueError(
            f'{who}: its dataloader ({getattr(dataset, "ann_file", "?")}, '
            f'{len(mine)} images) and the training target set '
            f'({getattr(target, "ann_file", "?")}, {len(theirs)} images) '
            f'hold different images (e.g. {only}); point both at the same '
            'target images')
    a, b = _image_loader(dataset), _image_loader(target)
    if a is not None and b is not None and repr(a) != repr(b):
        raise ValueError(
            f'{who}: its dataloader loads images with {a!r} but training '
            f'uses {b!r}; use the same loader so both see the same pixels')


def weak_labels(target, indices=None) -> Dict[int, np.ndarray]:
    """The target dataset's own labels (its annotation file, after the box
    rule; ``iscrowd`` ignore regions left out), bypassing the label store:
    ``{img_id: (N, 4) xyxy}``.

    Args:
        target: The target dataset.
        indices (Iterable[int], optional): Dataset indices to read; None
            reads all.
    """
    from mmsissi.datasets import CellCocoDataset
    out = {}
    for k in range(len(target)) if indices is None else indices:
        info = CellCocoDataset.get_data_info(target, k)
        out[int(info['img_id'])] = np.array(
            [x['bbox'] for x in info['instances']
             if not x.get('ignore_flag', 0)], np.float32).reshape(-1, 4)
    return out


def check_ignore_used(model_cfg) -> None:
    """Raise unless ignore regions reach the losses: every assigner in the
    model's ``train_cfg`` that has an ``ignore_iof_thr`` must set it > 0
    (mmdet's Faster R-CNN sets -1: ignore regions would be background),
    and there must be one.

    Args:
        model_cfg (dict): The config's ``model``.

    Raises:
        ValueError: Naming the keys to set.
    """
    found = []

    def walk(x, path):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == 'ignore_iof_thr':
                    found.append((path, v))
                else:
                    walk(v, f'{path}.{k}')
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(v, f'{path}[{i}]')

    walk(model_cfg.get('train_cfg') or {}, 'model.train_cfg')
    bad = [p for p, v in found if v is None or float(v) <= 0]
    if not found or bad:
        raise ValueError(
            'ignore regions need assigners that use them: set '
            + (', '.join(f'{p}.ignore_iof_thr' for p in bad) if bad else
               'an assigner with ignore_iof_thr') + ' > 0 (e.g. 0.5)')


@contextmanager
def eval_mode(model):
    """Run the block with ``model`` in eval mode, then put back the mode it
    had (also when the block raises)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def predict_images(model, step: Callable, loader: Iterable,
                   record: Callable, progress: bool = False) -> Dict[int, dict]:
    """Predict every image of a dataloader in eval mode and gather the
    results of all ranks: ``{img_id: record(pred_instances)}``.

    Args:
        model (nn.Module): The model set to eval for the pass (its training
            mode is restored afterwards, also on error).
        step (Callable): ``step(data) -> list[DetDataSample]``, e.g. the
            model's or a TTA wrapper's ``test_step``.
        loader (Iterable): The dataloader.
        record (Callable): Turns a sample's ``pred_instances`` into the
            dict kept for its image (numpy arrays).
        progress (bool): Show a progress bar on rank 0 (needs ``len``).
    """
    rank, world = get_dist_info()
    bar = ProgressBar(len(loader)) if progress and rank == 0 else None
    local = {}
    with eval_mode(model):
        for data in loader:
            for ds in step(data):
                local[int(ds.img_id)] = record(ds.pred_instances)
            if bar is not None:
                bar.update()
    if bar is not None:
        print(flush=True)
    if world > 1:
        merged = {}
        for part in all_gather_object(local):
            merged.update(part)
        local = merged
    return local
