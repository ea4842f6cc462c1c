# Copyright (c) mmsissi contributors. All rights reserved.
"""Box helpers shared by weak labels, counting and the label store.

- :func:`box_iou`: pairwise IoU of ``x1, y1, x2, y2`` boxes;
- :func:`coco_boxes_by_image`: the boxes and scores of a COCO dict grouped
  by image, as ``x1, y1, x2, y2``.
"""
from typing import Callable, Dict, Hashable, List, Optional, Tuple

import numpy as np

__all__ = ['box_iou', 'coco_boxes_by_image']


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes.

    Args:
        a (np.ndarray): (N, 4) boxes.
        b (np.ndarray): (M, 4) boxes.

    Returns:
        np.ndarray: (N, M) float64 IoU.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def coco_boxes_by_image(
    coco: dict,
    image_key: Optional[Callable[[dict], Hashable]] = None,
    crowd: Optional[bool] = None
) -> Tuple[Dict[Hashable, List[List[float]]], Dict[Hashable, List[float]]]:
    """Group the boxes and scores of a COCO dict by image.

    Every entry of ``coco['images']`` gets a (possibly empty) group; the
    ``xywh`` box of each annotation becomes ``[x1, y1, x2, y2]`` in the
    group of its image, in annotation order (crowd boxes included), with
    its ``score`` (1.0 when it has none). No box is checked or clipped.

    Args:
        coco (dict): COCO dict with ``images`` and ``annotations`` lists.
        image_key (Callable[[dict], Hashable], optional): Key of an
            ``images`` entry (e.g. its file name); an annotation joins the
            group of the image whose ``id`` it names, and one naming no
            listed image is skipped. Defaults to None: groups are keyed by
            ``int(id)``, and an annotation naming no listed image starts a
            group of its own.
        crowd (bool, optional): None: every box (default); False: only
            boxes that are not ``iscrowd`` (labels); True: only ``iscrowd``
            boxes (ignore regions).

    Returns:
        tuple[dict, dict]: ``boxes`` (key -> list of ``[x1, y1, x2, y2]``)
        and ``scores`` (key -> list of floats).
    """
    if image_key is None:
        keys = {int(im['id']): int(im['id']) for im in coco['images']}
    else:
        keys = {im['id']: image_key(im) for im in coco['images']}
    boxes: Dict[Hashable, list] = {k: [] for k in keys.values()}
    scores: Dict[Hashable, list] = {k: [] for k in keys.values()}
    for ann in coco['annotations']:
        if image_key is None:
            key = int(ann['image_id'])
        elif ann['image_id'] in keys:
            key = keys[ann['image_id']]
        else:
            continue
        if crowd is not None and bool(ann.get('iscrowd', 0)) != crowd:
            continue
        x, y, w, h = ann['bbox'][:4]
        boxes.setdefault(key, []).append([x, y, x + w, y + h])
        scores.setdefault(key, []).append(ann.get('score', 1.0))
    return boxes, scores
