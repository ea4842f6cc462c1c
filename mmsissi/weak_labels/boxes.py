# Copyright (c) mmsissi contributors. All rights reserved.
"""Box utilities of the weak labels: de-duplication, matching against
ground truth, precision / recall / F1, and COCO boxes by image."""
import json
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np

from mmsissi.structures import box_iou, coco_boxes_by_image

__all__ = [
    'dedupe_boxes', 'match_boxes', 'evaluate_boxes', 'coco_to_boxes',
    'load_coco_boxes', 'format_metrics'
]


def dedupe_boxes(boxes: np.ndarray,
                 scores: np.ndarray,
                 iou_thr: float = 0.5,
                 contain_thr: Optional[float] = None,
                 contain_min_iou: float = 0.0) -> np.ndarray:
    """Greedy NMS-like de-duplication.

    Boxes are visited by decreasing score; a box is dropped when it
    duplicates an already kept box, i.e. their IoU is >= ``iou_thr``, or
    (when ``contain_thr`` is given) the smaller box lies inside the larger
    one for at least ``contain_thr`` of its area while their IoU is still
    >= ``contain_min_iou`` (the same cell boxed tightly by one method and
    with its halo by another).

    Args:
        boxes (np.ndarray): (N, 4) xyxy boxes.
        scores (np.ndarray): (N,) scores (ties keep the earlier box).
        iou_thr (float): IoU at which two boxes are duplicates.
        contain_thr (float, optional): Intersection over the smaller area
            at which two boxes are duplicates. None or > 1 disables the
            test.
        contain_min_iou (float): Minimal IoU for the containment test.

    Returns:
        np.ndarray: Indices of the kept boxes, in decreasing score order.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float64), kind='stable')
    ious = box_iou(boxes, boxes)
    dup = ious >= iou_thr
    if contain_thr is not None and contain_thr <= 1 and len(boxes):
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        inter = ious * (area[:, None] + area[None, :]) / (1 + ious)
        smaller = np.maximum(np.minimum(area[:, None], area[None, :]), 1e-12)
        dup |= (inter / smaller >= contain_thr) & (ious >= contain_min_iou)
    suppressed = np.zeros(len(boxes), bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= dup[i]
    return np.asarray(keep, np.int64)


def match_boxes(pred: np.ndarray,
                gt: np.ndarray,
                iou_thr: float = 0.5) -> List[Tuple[int, int, float]]:
    """Greedy one-to-one matching by decreasing IoU.

    All (prediction, ground truth) pairs with IoU >= ``iou_thr`` are
    visited from the highest IoU down; a pair is matched when neither box
    is matched yet.

    Args:
        pred (np.ndarray): (N, 4) xyxy predictions.
        gt (np.ndarray): (M, 4) xyxy ground truth.
        iou_thr (float): Minimal IoU of a match.

    Returns:
        list[tuple[int, int, float]]: ``(pred_index, gt_index, iou)``.
    """
    ious = box_iou(pred, gt)
    if ious.size == 0:
        return []
    pi, gi = np.nonzero(ious >= iou_thr)
    vals = ious[pi, gi]
    order = np.lexsort((gi, pi, -vals))
    used_p, used_g, matches = set(), set(), []
    for k in order:
        i, j = int(pi[k]), int(gi[k])
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        matches.append((i, j, float(vals[k])))
    return matches


def _prf(tp: int, n_pred: int, n_gt: int) -> Dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gt if n_gt else 0.0
    f1 = (2 * precision * recall / (precision + recall)
          if precision + recall > 0 else 0.0)
    return dict(precision=precision, recall=recall, f1=f1)


def evaluate_boxes(pred_by_image: Dict[str, np.ndarray],
                   gt_by_image: Dict[str, np.ndarray],
                   iou_thr: float = 0.5) -> dict:
    """Precision / recall / F1 of predicted boxes against ground truth.

    Images are those of ``pred_by_image``; an image missing from
    ``gt_by_image`` has no ground-truth box (all its predictions are false
    positives). Matching is greedy one-to-one by IoU (:func:`match_boxes`).
    Precision (recall) is 0 when there is no prediction (ground truth).

    Args:
        pred_by_image (dict[str, np.ndarray]): image key -> (N, 4) xyxy
            boxes (extra columns, e.g. a score, are ignored).
        gt_by_image (dict[str, np.ndarray]): image key -> (M, 4) xyxy boxes.
        iou_thr (float): Minimal IoU of a true positive. Defaults to 0.5.

    Returns:
        dict: ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn``,
        ``num_pred``, ``num_gt``, ``num_images``, ``iou_thr`` and
        ``per_image`` (image key -> the same counts and rates).
    """
    per_image = {}
    tp_all = n_pred_all = n_gt_all = 0
    for key in pred_by_image:
        pred = np.asarray(pred_by_image[key], np.float64)
        pred = pred.reshape(-1, pred.shape[-1] if pred.ndim == 2 else 4)[:, :4]
        gt = np.asarray(gt_by_image.get(key, np.zeros((0, 4))),
                        np.float64).reshape(-1, 4)
        tp = len(match_boxes(pred, gt, iou_thr))
        per_image[key] = dict(
            tp=tp,
            fp=len(pred) - tp,
            fn=len(gt) - tp,
            num_pred=len(pred),
            num_gt=len(gt),
            **_prf(tp, len(pred), len(gt)))
        tp_all += tp
        n_pred_all += len(pred)
        n_gt_all += len(gt)
    return dict(
        **_prf(tp_all, n_pred_all, n_gt_all),
        tp=tp_all,
        fp=n_pred_all - tp_all,
        fn=n_gt_all - tp_all,
        num_pred=n_pred_all,
        num_gt=n_gt_all,
        num_images=len(per_image),
        iou_thr=iou_thr,
        per_image=per_image)


def coco_to_boxes(coco: dict,
                  key: str = 'basename',
                  crowd: Optional[bool] = None) -> Dict[str, np.ndarray]:
    """Group the boxes of a COCO dict by image.

    Args:
        coco (dict): COCO detection dict (``images`` / ``annotations``).
        key (str): ``'basename'`` (file name without folders, default) or
            ``'file_name'``.
        crowd (bool, optional): None: every box (default); False: only
            boxes that are not ``iscrowd``; True: only ``iscrowd`` ones.

    Returns:
        dict[str, np.ndarray]: image key -> (N, 4) float64 xyxy boxes
        (images without annotation map to an empty array; crowd boxes are
        kept; annotations of images not listed are skipped).
    """

    def name(im: dict) -> str:
        fn = str(im['file_name']).replace('\\', '/')
        return osp.basename(fn) if key == 'basename' else fn

    boxes, _ = coco_boxes_by_image(
        dict(images=coco.get('images', []),
             annotations=coco.get('annotations', [])), name, crowd=crowd)
    return {k: np.asarray(v, np.float64).reshape(-1, 4)
            for k, v in boxes.items()}


def load_coco_boxes(path: str, key: str = 'basename',
                    crowd: Optional[bool] = None) -> Dict[str, np.ndarray]:
    """Read a COCO json and group its boxes by image (see
    :func:`coco_to_boxes`).

    Args:
        path (str): COCO json file.
        key (str): ``'basename'`` or ``'file_name'``.
        crowd (bool, optional): See :func:`coco_to_boxes`.

    Returns:
        dict[str, np.ndarray]: image key -> (N, 4) xyxy boxes.

    Raises:
        FileNotFoundError: When the file does not exist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'ground-truth file not found: {path}')
    with open(path, encoding='utf-8') as f:
        return coco_to_boxes(json.load(f), key, crowd)


def format_metrics(metrics: dict,
                   title: str = 'all',
                   per_image: bool = False) -> str:
    """One-line (or per-image table) text of :func:`evaluate_boxes` output.

    Args:
        metrics (dict): Output of :func:`evaluate_boxes`.
        title (str): Row label. Defaults to ``'all'``.
        per_image (bool): Also list each image.

    Returns:
        str: Human-readable text.
    """

    def row(name, m):
        return (f'{name:<24s} P {m["precision"]:.3f}  R {m["recall"]:.3f}  '
                f'F1 {m["f1"]:.3f}  (TP {m["tp"]}, FP {m["fp"]}, '
                f'FN {m["fn"]}; pred {m["num_pred"]}, gt {m["num_gt"]})')

    lines = []
    if per_image:
        for name, m in metrics['per_image'].items():
            lines.append(row(name, m))
    lines.append(row(title, metrics))
    return '\n'.join(lines)
