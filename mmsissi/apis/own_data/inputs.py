# Copyright (c) mmsissi contributors. All rights reserved.
"""The inputs of ``tools/sissi.py`` (a user's own data), checked before any
training: the target image folder, the source set (instance masks or a
COCO box file) and the test readers.

Every problem is an :class:`OwnDataError` naming the file or folder and
what is wrong with it.
"""
import json
import os.path as osp
from typing import Dict, List, Optional

import cv2

from mmsissi.datasets.mask_converter import masks_to_coco
from mmsissi.datasets.noisy_labels import split_coco
from mmsissi.fileio import atomic_dump_json, list_images

__all__ = ['OwnDataError', 'check_image_folder', 'read_coco',
           'check_reader', 'source_boxes']


class OwnDataError(ValueError):
    """A user input that cannot be trained on (the message names it)."""


def check_image_folder(folder: str, what: str) -> List[str]:
    """The images of a folder, each readable.

    Args:
        folder (str): The folder.
        what (str): What it is, for the messages (e.g. ``'target'``).

    Returns:
        list[str]: Sorted absolute image paths.

    Raises:
        OwnDataError: When the folder is missing, holds no image, or an
            image cannot be read (its file is named).
    """
    try:
        paths = list_images(folder)
    except FileNotFoundError:
        raise OwnDataError(f'{what} image folder {folder}: no such folder')
    if not paths:
        raise OwnDataError(
            f'{what} image folder {folder}: no images (.png, .tif, .jpg, '
            '.bmp) in it')
    for p in paths:
        # the header is enough to know that OpenCV can decode it
        if cv2.imread(p, cv2.IMREAD_UNCHANGED) is None:
            raise OwnDataError(f'{what} image {p}: cannot be read as an '
                               'image (corrupt or not an image)')
    return paths


def read_coco(path: str, what: str) -> dict:
    """Read a COCO box file; an unreadable or non-COCO file is an error
    naming it."""
    try:
        with open(path) as f:
            coco = json.load(f)
    except OSError as e:
        raise OwnDataError(f'{what} {path}: cannot be read ({e.strerror})')
    except ValueError as e:
        raise OwnDataError(f'{what} {path}: not a JSON file ({e})')
    missing = {'images', 'annotations', 'categories'} - set(coco) \
        if isinstance(coco, dict) else {'images'}
    if missing:
        raise OwnDataError(
            f'{what} {path}: not a COCO file (no {sorted(missing)})')
    return coco


def _missing_images(coco: dict, folder: str) -> List[str]:
    return [im['file_name'] for im in coco['images']
            if not osp.isfile(osp.join(folder, im['file_name']))]


def check_reader(name: str, path: str, images_dir: str) -> dict:
    """A test reader's COCO file whose images are all in ``images_dir``:
    by ``file_name`` relative to it, or else by base name (the returned
    dict then has ``file_name`` relative to ``images_dir``; the file itself
    is not changed).

    Raises:
        OwnDataError: When the file is no COCO file, has no images, or names
            images that are not in ``images_dir`` (both are named).
    """
    coco = read_coco(path, f'reader {name!r}')
    if not coco['images']:
        raise OwnDataError(f'reader {name!r} {path}: no images in it')
    if not _missing_images(coco, images_dir):
        return coco
    here = {osp.basename(p): osp.relpath(p, images_dir)
            for p in list_images(images_dir)}
    missing = [im['file_name'] for im in coco['images']
               if osp.basename(im['file_name'].replace('\\', '/'))
               not in here]
    if missing:
        raise OwnDataError(
            f'reader {name!r} {path} names {len(missing)} image(s) that are '
            f'not in the test folder {images_dir}: '
            f'{", ".join(missing[:5])}')
    coco = dict(coco, images=[
        dict(im, file_name=here[osp.basename(
            im['file_name'].replace('\\', '/'))]) for im in coco['images']])
    return coco


def _split_source(coco: dict, val_fraction: float, seed: int):
    n = len(coco['images'])
    n_val = max(1, int(round(n * val_fraction)))
    if n - n_val < 1:
        raise OwnDataError(
            f'the source set has {n} image(s): at least 2 are needed (one '
            'for training, one for the validation loss)')
    return split_coco(coco, [n_val, -1], ('val', 'train'), seed=seed)


def source_boxes(out_dir: str,
                 masks_dir: Optional[str] = None,
                 ann: Optional[str] = None,
                 images_dir: Optional[str] = None,
                 val_fraction: float = 0.2,
                 seed: int = 0) -> Dict[str, str]:
    """The source set's boxes, split into training and validation-loss
    images (seeded), written to ``out_dir``.

    Args:
        out_dir (str): Where ``source_train.json`` / ``source_val.json``
            go.
        masks_dir (str, optional): Instance masks: Cellpose ``*_img`` /
            ``*_masks`` pairs or ``images/`` + ``instances/``.
        ann (str, optional): Or a COCO box file (``file_name`` relative to
            ``images_dir``).
        images_dir (str, optional): The images of ``ann``.
        val_fraction (float): Share of the images for the validation loss
            (at least one). Defaults to 0.2.
        seed (int): Split seed. Defaults to 0.

    Returns:
        dict: ``train`` / ``val`` -> file, ``images`` -> the folder the
        ``file_name`` entries are relative to, ``categories`` -> names.
    """
    if (masks_dir is None) == (ann is None):
        raise OwnDataError('give the source as instance masks (a folder) '
                           'or as a COCO box file with its image folder')
    if masks_dir is not None:
        try:
            coco = masks_to_coco(masks_dir, None, category='cell')
        except (FileNotFoundError, ValueError) as e:
            raise OwnDataError(f'source {e}')
        images_dir = masks_dir
    else:
        if images_dir is None:
            raise OwnDataError(f'source {ann}: give the folder of its images')
        coco = read_coco(ann, 'source annotation')
        missing = _missing_images(coco, images_dir)
        if missing:
            raise OwnDataError(
                f'source annotation {ann} names {len(missing)} image(s) not '
                f'under {images_dir} (file_name is relative to it): '
                f'{", ".join(missing[:5])}')
    if not coco['annotations']:
        src = masks_dir or ann
        raise OwnDataError(f'source {src}: no cell (no instance in any mask'
                           ', or no box) to learn from')
    parts = _split_source(coco, val_fraction, seed)
    out = dict(images=osp.abspath(images_dir),
               categories=sorted({c['name'] for c in coco['categories']}))
    for part in ('train', 'val'):
        out[part] = osp.abspath(osp.join(out_dir, f'source_{part}.json'))
        atomic_dump_json(parts[part], out[part])
    return out
