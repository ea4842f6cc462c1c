# Copyright (c) mmsissi contributors. All rights reserved.
"""Instance masks -> COCO boxes (the source side of SISSI).

Two folder layouts are understood:

- ``cellpose``: ``NAME_img.png`` next to ``NAME_masks.png`` (Cellpose's
  training-data naming);
- ``instances``: ``images/NAME.ext`` and ``instances/NAME.png`` label maps
  (0 = background, 1..N = cells), the layout of the shared datasets.
"""
import glob
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from mmsissi.fileio import atomic_dump_json

__all__ = [
    'instance_map_to_boxes', 'find_mask_pairs', 'masks_to_coco',
    'atomic_dump_json'
]

IMG_EXTS = ('.png', '.tif', '.tiff', '.jpg', '.jpeg', '.bmp')


def instance_map_to_boxes(label_map: np.ndarray,
                          min_area: int = 1) -> List[Tuple[int, list, int]]:
    """Tight boxes of every instance of a label map.

    Args:
        label_map (np.ndarray): HxW integer map, 0 is background.
        min_area (int): Instances with fewer pixels are skipped.

    Returns:
        list[tuple]: ``(instance_id, [x, y, w, h], area)`` per instance,
        in increasing id order; ``w``/``h`` count pixels (a one-pixel
        instance has ``w = h = 1``).
    """
    if label_map.ndim == 3:
        label_map = label_map[..., 0]
    if not np.issubdtype(label_map.dtype, np.integer):
        raise ValueError(f'label map must be integer, got {label_map.dtype}')
    ids, inverse, counts = np.unique(
        label_map.ravel(), return_inverse=True, return_counts=True)
    ys, xs = np.indices(label_map.shape)
    out = []
    nz = ids != 0
    if not nz.any():
        return out
    # per-instance min/max via ufunc.at on the inverse index
    n = len(ids)
    x0 = np.full(n, np.iinfo(np.int64).max)
    y0 = x0.copy()
    x1 = np.full(n, -1)
    y1 = x1.copy()
    inv = inverse.ravel()
    np.minimum.at(x0, inv, xs.ravel())
    np.minimum.at(y0, inv, ys.ravel())
    np.maximum.at(x1, inv, xs.ravel())
    np.maximum.at(y1, inv, ys.ravel())
    for k in np.flatnonzero(nz):
        if counts[k] < min_area:
            continue
        out.append((int(ids[k]), [
            int(x0[k]), int(y0[k]),
            int(x1[k] - x0[k] + 1),
            int(y1[k] - y0[k] + 1)
        ], int(counts[k])))
    return out


def find_mask_pairs(root: str,
                    layout: str = 'auto') -> Tuple[str, List[Tuple[str, str]]]:
    """Find (image, mask) file pairs under ``root``.

    Args:
        root (str): Dataset folder.
        layout (str): ``'cellpose'``, ``'instances'`` or ``'auto'``.

    Returns:
        tuple: The layout found and a sorted list of (image, mask) paths.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(f'{root}: no such folder')
    if layout == 'auto':
        if osp.isdir(osp.join(root, 'images')) and osp.isdir(
                osp.join(root, 'instances')):
            layout = 'instances'
        elif glob.glob(osp.join(root, '*_masks.*')):
            layout = 'cellpose'
        else:
            raise ValueError(
                f'{root}: neither images/ + instances/ folders nor '
                'Cellpose *_img.png / *_masks.png files found')
    pairs = []
    if layout == 'instances':
        for img in sorted(os.listdir(osp.join(root, 'images'))):
            stem, ext = osp.splitext(img)
            if ext.lower() not in IMG_EXTS:
                continue
            cands = glob.glob(osp.join(root, 'instances', stem + '.*'))
            if not cands:
                raise FileNotFoundError(
                    f'{osp.join(root, "images", img)}: no label map '
                    f'instances/{stem}.* for this image')
            pairs.append((osp.join(root, 'images', img), sorted(cands)[0]))
    elif layout == 'cellpose':
        for mask in sorted(glob.glob(osp.join(root, '*_masks.*'))):
            stem = osp.basename(mask).rsplit('_masks', 1)[0]
            cands = [
                p for p in glob.glob(osp.join(root, stem + '_img.*'))
                if osp.splitext(p)[1].lower() in IMG_EXTS
            ]
            if not cands:
                raise FileNotFoundError(
                    f'{mask}: no image {stem}_img.* for this mask')
            pairs.append((sorted(cands)[0], mask))
    else:
        raise ValueError(f'unknown layout {layout!r}')
    if not pairs:
        raise ValueError(f'{root}: no image/mask pairs found '
                         f'(layout {layout})')
    return layout, pairs


def masks_to_coco(root: str,
                  out: Optional[str] = None,
                  layout: str = 'auto',
                  category: str = 'cell',
                  min_area: int = 1) -> Dict:
    """Convert an instance-mask folder to a COCO box annotation file.

    ``file_name`` entries are relative to ``root``.

    Args:
        root (str): Dataset folder (see module docstring for layouts).
        out (str, optional): Where to write the json (atomically).
        layout (str): ``'cellpose'``, ``'instances'`` or ``'auto'``.
        category (str): The one category name. Defaults to ``'cell'``.
        min_area (int): Instances with fewer pixels are skipped.

    Returns:
        dict: The COCO dictionary.
    """
    _, pairs = find_mask_pairs(root, layout)
    images, anns = [], []
    for img_id, (img_path, mask_path) in enumerate(pairs, start=1):
        label = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
        if label is None:
            raise ValueError(f'{mask_path}: cannot read the label map')
        h, w = label.shape[:2]
        images.append(
            dict(
                id=img_id,
                file_name=osp.relpath(img_path, root),
                height=int(h),
                width=int(w)))
        for inst, bbox, area in instance_map_to_boxes(label, min_area):
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=img_id,
                    category_id=1,
                    bbox=bbox,
                    area=area,
                    iscrowd=0,
                    instance_label=inst))
    coco = dict(
        images=images,
        annotations=anns,
        categories=[dict(id=1, name=category)],
        info=dict(description=f'boxes from instance masks in {root}'))
    if out is not None:
        atomic_dump_json(coco, out)
    return coco
