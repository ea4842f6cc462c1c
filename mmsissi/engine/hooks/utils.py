# Copyright (c) mmsissi contributors. All rights reserved.
"""Helpers shared by the SISSI hooks (not registered components)."""
import copy
from typing import List

from mmcv.transforms import LoadImageFromFile
from mmdet.registry import DATASETS, TRANSFORMS
from mmengine.model import is_model_wrapper

__all__ = [
    'START_KEY', 'CAUSE_KEY', 'target_dataset', 'build_target_loader',
    'unwrap_model', 'get_start_epoch', 'publish_start_epoch',
    'is_image_loader'
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


def is_image_loader(transform: dict) -> bool:
    """Whether a transform config loads the image: mmcv's
    ``LoadImageFromFile`` or any subclass (e.g. ``LoadCellImageFromFile``,
    which converts 16-bit images as training sees them)."""
    t = transform['type']
    cls = t if isinstance(t, type) else TRANSFORMS.get(t)
    return cls is not None and issubclass(cls, LoadImageFromFile)


def unwrap_model(runner):
    model = runner.model
    return model.module if is_model_wrapper(model) else model


def build_target_loader(runner, index: int, pipeline_tail: List[dict],
                        num_workers: int = 0, ann_file: str = None):
    """An inference dataloader over the target training images.

    It reuses the target dataset's config (paths, prefixes, category map)
    with the training pipeline's own image loader (so images are read and
    converted exactly as training reads them) + ``pipeline_tail``, in test
    mode, sharded across ranks by a non-shuffling ``DefaultSampler``.

    Args:
        runner (Runner): The runner.
        index (int): Index of the target set in the training datasets.
        pipeline_tail (list[dict]): Transforms after loading the image.
        num_workers (int): Dataloader workers.
        ann_file (str, optional): Annotation file instead of the config's.
    """
    cfg = copy.deepcopy(runner.cfg.train_dataloader.dataset)
    cfg = cfg.datasets[index] if 'datasets' in cfg else cfg
    load = next((t for t in cfg['pipeline'] if is_image_loader(t)),
                dict(type='LoadImageFromFile'))
    cfg.update(type='CellCocoDataset', test_mode=True,
               pipeline=[load] + list(pipeline_tail))
    cfg.pop('label_store', None)
    if ann_file is not None:
        cfg['ann_file'] = ann_file
    dataset = DATASETS.build(cfg)
    return runner.build_dataloader(
        dict(batch_size=1,
             num_workers=num_workers,
             persistent_workers=False,
             sampler=dict(type='DefaultSampler', shuffle=False),
             dataset=dataset))
