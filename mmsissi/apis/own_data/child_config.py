# Copyright (c) mmsissi contributors. All rights reserved.
"""The child config of ``tools/sissi.py``: ``_base_`` = a row's config,
the user's paths set once at the top, then the few statements (MMEngine's
Python syntax for modifying ``_base_`` variables) that point the row's
datasets and hooks' loaders at them. A plain config: read it, edit it,
rerun it with ``tools/train.py``."""
import os.path as osp
from typing import Dict, List, Optional

from mmengine.config import Config

from mmsissi.fileio import atomic_write_text

from .inputs import OwnDataError

__all__ = ['hook_roles', 'child_config_text', 'write_child_config']

_HEADER = '''\
# Written by `tools/sissi.py config` ({row}): the row's config on your data.
# A plain MMDetection config: edit it, and train it with
#   python tools/train.py {path} --work-dir {work_dir}
_base_ = {base!r}

# ---- your data: every path is set here, once -----------------------------
target_images = {target_images!r}
target_labels = {target_labels!r}  # initial (weak) labels
source_images = {source_images!r}
source_train_labels = {source_train!r}
source_val_labels = {source_val!r}  # validation loss (start criterion)
source_category_map = {category_map!r}
{test_block}
# ---- where the row reads them --------------------------------------------
train_dataloader = _base_.train_dataloader
train_dataloader.dataset.datasets[0].update(
    data_root=None, data_prefix=dict(img=target_images),
    ann_file=target_labels)
train_dataloader.dataset.datasets[1].update(
    data_root=None, data_prefix=dict(img=source_images),
    ann_file=source_train_labels)
# (assigned: update() would merge it into the row's map)
train_dataloader.dataset.datasets[1].category_map = source_category_map
'''

_TARGET_LOADER = '''\
{where}.dataset.update(  # {what}: target images
    data_root=None, data_prefix=dict(img=target_images),
    ann_file=target_labels)
'''
_SOURCE_LOADER = '''\
{where}.dataset.update(  # {what}: source validation
    data_root=None, data_prefix=dict(img=source_images),
    ann_file=source_val_labels)
{where}.dataset.category_map = source_category_map
'''
_TEST = '''\
test_images = {images!r}
test_readers = {readers!r}  # reader -> COCO boxes
'''
_TEST_LOADERS = '''\
val_dataloader = _base_.val_dataloader
val_dataloader.dataset.update(
    data_root=None, data_prefix=dict(img=test_images),
    ann_file=test_readers[{first!r}])
test_dataloader = _base_.test_dataloader
test_dataloader.dataset.update(
    data_root=None, data_prefix=dict(img=test_images),
    ann_file=test_readers[{first!r}])
val_evaluator = dict(readers=dict(test_readers, _delete_=True))
test_evaluator = dict(readers=dict(test_readers, _delete_=True))
'''
_NO_TEST = '''\
# no test annotations given: no evaluation during training
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
'''


def _key(ds: dict):
    return (ds.get('data_root'), ds.get('ann_file'))


def _loaders(cfg: Config):
    """``(variable, expression, what, loader)`` of the hooks' loaders and
    of the config's other ``*_dataloader`` variables (children of the row
    pass them to hooks)."""
    for key, value in cfg.items():
        if key.endswith('_dataloader') and key not in (
                'train_dataloader', 'val_dataloader', 'test_dataloader') \
                and isinstance(value, dict) and 'dataset' in value:
            yield key, key, key, value
    for i, hook in enumerate(cfg.get('custom_hooks', [])):
        if 'dataloader' in hook:
            yield ('custom_hooks', f'custom_hooks[{i}].dataloader',
                   hook['type'], hook['dataloader'])


def hook_roles(cfg: Config) -> List[tuple]:
    """``(variable, expression, what, 'target' | 'source')`` of every
    loader besides train/val/test (the hooks' and the ``*_dataloader``
    variables): which images it reads in the row's config.

    Raises:
        OwnDataError: When a loader reads neither the target training
            labels nor the source validation set.
    """
    target = _key(cfg.train_dataloader.dataset.datasets[0])
    source_val = _key(cfg.source_val_dataloader.dataset) \
        if cfg.get('source_val_dataloader') else None
    roles = []
    for var, expr, what, loader in _loaders(cfg):
        key = _key(loader['dataset'])
        if key == target:
            roles.append((var, expr, what, 'target'))
        elif key == source_val:
            roles.append((var, expr, what, 'source'))
        else:
            raise OwnDataError(
                f'{expr} ({what}) reads {key[1]}: neither the target '
                'training labels nor the source validation set; point it at '
                'your data in the written config by hand')
    return roles


def child_config_text(row_config: str, path: str, work_dir: str,
                      data: Dict, readers: Optional[Dict[str, str]] = None,
                      test_images: Optional[str] = None) -> str:
    """The child config's text (see the module docstring).

    Args:
        row_config (str): The row's config (the ``_base_``).
        path (str): Where the child config goes (for its header).
        work_dir (str): The work dir (for its header).
        data (dict): ``target_images``, ``target_labels``,
            ``source_images``, ``source_train``, ``source_val`` (paths) and
            ``category_map`` (source category -> ``'cell'``).
        readers (dict, optional): Test reader name -> COCO file.
        test_images (str, optional): The test images (with ``readers``).

    Returns:
        str: Python source of the config.
    """
    row_config = osp.abspath(row_config)
    cfg = Config.fromfile(row_config)
    folder = {k: osp.join(osp.abspath(data[k]), '')
              for k in ('target_images', 'source_images')}
    test_block = _TEST.format(images=osp.join(osp.abspath(test_images), ''),
                              readers=readers) if readers else ''
    text = _HEADER.format(
        row=osp.splitext(osp.basename(row_config))[0], path=path,
        work_dir=work_dir, base=row_config, test_block=test_block,
        target_labels=data['target_labels'],
        source_train=data['source_train'], source_val=data['source_val'],
        category_map=data['category_map'], **folder)
    done = set()
    for var, expr, what, role in hook_roles(cfg):
        if var not in done:
            text += f'{var} = _base_.{var}\n'
            done.add(var)
        tpl = _TARGET_LOADER if role == 'target' else _SOURCE_LOADER
        text += tpl.format(where=expr, what=what)
    if readers:
        text += _TEST_LOADERS.format(first=next(iter(readers)))
    else:
        text += _NO_TEST
    return text


def write_child_config(row_config: str, path: str, work_dir: str,
                       data: Dict, readers: Optional[Dict[str, str]] = None,
                       test_images: Optional[str] = None) -> Config:
    """Write the child config (atomically) and load it back, so a config
    that does not build is an error now, not at training time.

    Returns:
        Config: The loaded child config.
    """
    text = child_config_text(row_config, path, work_dir, data, readers,
                             test_images)
    atomic_write_text(text, path)
    return Config.fromfile(path)
