# Copyright (c) mmsissi contributors. All rights reserved.
"""``tools/sissi.py prepare``: from a user's folders to a work dir that
trains. Every input is checked before anything is written; the weak labels
made once are kept (a re-run reuses them, never overwrites them)."""
import json
import os
import os.path as osp
from typing import Dict, Optional

from mmsissi.fileio import atomic_dump_json

from .child_config import write_child_config
from .inputs import (OwnDataError, check_image_folder, check_reader,
                     read_coco, source_boxes)

__all__ = ['CONFIG_NAME', 'WEAK_NAME', 'STATE_NAME', 'prepare_own_data',
           'read_state', 'update_state']

#: the files ``prepare`` writes into the work dir (the config in a folder
#: of its own: the Runner dumps the config it runs as
#: ``<work_dir>/<config name>``, which must not replace it)
CONFIG_NAME = osp.join('config', 'sissi_config.py')
WEAK_NAME = 'target_train_weak.json'
STATE_NAME = 'sissi.json'


def _weak_labels(target: str, out: str, gt: Optional[str],
                 params: Optional[dict]) -> dict:
    """Make the weak labels once (``out`` exists: reused as they are);
    with ``gt``, their precision / recall on the images it labels."""
    from mmsissi.weak_labels import run_weak_labels
    from mmsissi.weak_labels.boxes import (coco_to_boxes, evaluate_boxes,
                                           format_metrics)
    if osp.isfile(out):
        coco = read_coco(out, 'weak labels')
        print(f'weak labels: {out} exists, reused as they are (remove it '
              'to make them again)', flush=True)
    else:
        print(f'weak labels of {target} ...', flush=True)
        coco = run_weak_labels(target, out=out, params=params, root=target,
                               progress=True)['coco']
    if gt is None:
        return {}
    truth = coco_to_boxes(read_coco(gt, '--gt'))
    pred = coco_to_boxes(coco)
    both = sorted(set(pred) & set(truth))
    if not both:
        raise OwnDataError(f'--gt {gt} labels none of the target images '
                           f'(matched by file name) in {target}')
    m = evaluate_boxes({k: pred[k] for k in both}, truth)
    print(format_metrics(m, title=f'weak labels vs --gt ({len(both)} '
                         'images)'), flush=True)
    return {k: m[k] for k in ('precision', 'recall', 'f1')}


def _check_readers(readers: Optional[Dict[str, str]],
                   test_images: Optional[str]) -> Dict[str, tuple]:
    """Reader name -> (file, COCO dict with ``file_name`` relative to the
    test folder, whether that differs from the file's)."""
    if not readers:
        if test_images:
            raise OwnDataError(f'test images {test_images} given without '
                               'a reader (--reader NAME=FILE)')
        return {}
    if not test_images:
        raise OwnDataError('readers given without --test-images')
    check_image_folder(test_images, 'test')
    out = {}
    for name, path in readers.items():
        coco = check_reader(name, path, test_images)
        out[name] = (path, coco,
                     coco['images'] != read_coco(path, name)['images'])
    return out


def _write_readers(checked: Dict[str, tuple], test_images: str,
                   work_dir: str) -> Optional[Dict[str, str]]:
    """The reader files to evaluate with; one matched by base names gets
    a copy in ``<work_dir>/readers/`` (the user's file is not changed)."""
    out = {}
    for name, (path, coco, renamed) in checked.items():
        out[name] = osp.abspath(path)
        if renamed:
            out[name] = osp.abspath(
                osp.join(work_dir, 'readers', f'{name}.json'))
            os.makedirs(osp.dirname(out[name]), exist_ok=True)
            atomic_dump_json(coco, out[name])
            print(f'reader {name}: {path} -> {out[name]} (file_name '
                  f'relative to {test_images})', flush=True)
    return out or None


def prepare_own_data(work_dir: str,
                     row_config: str,
                     target: str,
                     source_masks: Optional[str] = None,
                     source_ann: Optional[str] = None,
                     source_root: Optional[str] = None,
                     gt: Optional[str] = None,
                     test_images: Optional[str] = None,
                     readers: Optional[Dict[str, str]] = None,
                     weak_params: Optional[dict] = None,
                     val_fraction: float = 0.2,
                     seed: int = 0) -> dict:
    """Check the inputs, make the weak labels and the source boxes, write
    the child config.

    Args:
        work_dir (str): The work dir (created).
        row_config (str): The row's config file (the child's ``_base_``).
        target (str): Folder of the unlabelled target images.
        source_masks (str, optional): Source instance masks (Cellpose
            ``*_img``/``*_masks`` or ``images/`` + ``instances/``).
        source_ann (str, optional): Or source boxes as a COCO file ...
        source_root (str, optional): ... with ``file_name`` relative to it.
        gt (str, optional): Manual boxes of (some) target images: the weak
            labels' precision / recall is printed.
        test_images (str, optional): Test image folder ...
        readers (dict, optional): ... and reader name -> COCO boxes.
        weak_params (dict, optional): Weak-label parameter overrides.
        val_fraction (float): Source share for the validation loss.
        seed (int): Source split seed.

    Returns:
        dict: The state written to ``<work_dir>/sissi.json``.
    """
    if not osp.isfile(row_config):
        raise OwnDataError(f'row config {row_config}: no such file')
    check_image_folder(target, 'target')
    checked = _check_readers(readers, test_images)
    if gt is not None:
        read_coco(gt, '--gt')  # before the source boxes are written
    os.makedirs(work_dir, exist_ok=True)
    src = source_boxes(work_dir, source_masks, source_ann, source_root,
                       val_fraction, seed)
    readers = _write_readers(checked, test_images, work_dir)
    weak = osp.abspath(osp.join(work_dir, WEAK_NAME))
    weak_metrics = _weak_labels(osp.abspath(target), weak, gt, weak_params)
    data = dict(target_images=target, target_labels=weak,
                source_images=src['images'], source_train=src['train'],
                source_val=src['val'],
                category_map={c: 'cell' for c in src['categories']})
    path = osp.abspath(osp.join(work_dir, CONFIG_NAME))
    os.makedirs(osp.dirname(path), exist_ok=True)
    write_child_config(row_config, path, osp.abspath(work_dir), data,
                       readers, test_images)
    state = dict(config=path, row=osp.abspath(row_config),
                 weak_labels=weak, weak_label_metrics=weak_metrics,
                 source=src, readers=readers, data=data,
                 test_images=test_images and osp.abspath(test_images))
    atomic_dump_json(state, osp.join(work_dir, STATE_NAME))
    print(f'config: {path} (row {osp.basename(row_config)}); source '
          f'{src["train"]} / {src["val"]}', flush=True)
    return state


def read_state(work_dir: str) -> dict:
    """The state ``prepare`` left in ``work_dir``."""
    path = osp.join(work_dir, STATE_NAME)
    if not osp.isfile(path):
        raise OwnDataError(f'{work_dir}: no {STATE_NAME}; run '
                           '`tools/sissi.py prepare` (or `run`) first')
    with open(path) as f:
        return json.load(f)


def update_state(work_dir: str, **items) -> dict:
    """Add ``items`` to the work dir's state (written atomically)."""
    state = read_state(work_dir)
    state.update(items)
    atomic_dump_json(state, osp.join(work_dir, STATE_NAME))
    return state
