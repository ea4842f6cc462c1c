# Copyright (c) mmsissi contributors. All rights reserved.
"""Weak-label pipeline: method selection, union + de-duplication, COCO I/O
and box-level evaluation.

The detectors (:func:`~.watershed.detect_watershed`,
:func:`~.hough.detect_hough`, :func:`~.edges.detect_edges`) each turn a
float image into boxes and scores. :func:`detect_boxes` runs the selected
ones, takes the union of their boxes and removes duplicates greedily by
score (:func:`dedupe_boxes`: NMS at ``combine.nms_iou`` plus a containment
test).
:func:`run_weak_labels` does this for a folder and writes a COCO json
atomically; with ground truth it also reports precision / recall / F1 at
IoU 0.5 (:func:`evaluate_boxes`).

Parameters are a nested dict (see :func:`default_params`)::

    {'methods': ['watershed', 'hough'],
     'read': {'percentiles': [0.5, 99.5]},
     'combine': {'nms_iou': 0.5, 'contain_thr': 0.9,
                 'contain_min_iou': 0.2},
     'watershed': {...}, 'hough': {...}, 'edges': {...}}

overridable by a config file (:func:`load_params_file`, JSON / Python /
YAML through :class:`mmengine.config.Config`) and by ``SECTION.KEY=VALUE``
strings (:func:`parse_param_overrides`). A top-level ``scale`` sets the
``scale`` of every method at once.
"""
import ast
import copy
import json
import os
import os.path as osp
import sys
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from mmsissi.structures import sanitize_boxes
from mmsissi.utils.fileio import atomic_dump_json

from .edges import EDGES_DEFAULTS, detect_edges
from .hough import HOUGH_DEFAULTS, detect_hough
from .io import ImageReadError, list_images, read_image
from .watershed import WATERSHED_DEFAULTS, detect_watershed

__all__ = [
    'METHODS', 'DEFAULT_METHODS', 'WeakLabelWarning', 'default_params',
    'parse_methods', 'update_params', 'parse_param_overrides',
    'load_params_file', 'read_list_file', 'box_iou', 'dedupe_boxes',
    'detect_boxes', 'match_boxes', 'evaluate_boxes', 'coco_to_boxes',
    'load_coco_boxes', 'write_json_atomic', 'run_weak_labels',
    'format_metrics'
]

#: Available detectors: name -> ``detect_<name>(img, return_scores, **p)``.
METHODS: Dict[str, Callable] = {
    'watershed': detect_watershed,
    'hough': detect_hough,
    'edges': detect_edges,
}

_METHOD_DEFAULTS = {
    'watershed': WATERSHED_DEFAULTS,
    'hough': HOUGH_DEFAULTS,
    'edges': EDGES_DEFAULTS,
}

#: Methods run when none are given (best precision/recall trade-off on the
#: Usiigaci training images set01-set45).
DEFAULT_METHODS: Tuple[str, ...] = ('watershed', 'hough')

_OTHER_DEFAULTS = {
    'read': dict(percentiles=[0.5, 99.5]),
    # duplicates: IoU >= nms_iou, or the smaller box >= contain_thr inside
    # the larger with IoU >= contain_min_iou (contain_thr > 1 disables)
    'combine': dict(nms_iou=0.5, contain_thr=0.9, contain_min_iou=0.2),
}


class WeakLabelWarning(UserWarning):
    """Warning about an input that was skipped or ignored."""


def default_params() -> dict:
    """A fresh copy of all default parameters.

    Returns:
        dict: ``{'methods': [...], 'read': {...}, 'combine': {...},
        'watershed': {...}, 'hough': {...}, 'edges': {...}}``.
    """
    params = {'methods': list(DEFAULT_METHODS)}
    params.update(copy.deepcopy(_OTHER_DEFAULTS))
    for name, defaults in _METHOD_DEFAULTS.items():
        params[name] = dict(defaults)
    return params


def parse_methods(methods: Union[None, str, Sequence[str]]) -> List[str]:
    """Normalise a method selection.

    Args:
        methods (None | str | Sequence[str]): ``None`` (defaults), a comma
            separated string such as ``'watershed,hough'``, ``'all'``, or a
            sequence of names.

    Returns:
        list[str]: Unique method names in the given order.

    Raises:
        ValueError: For an unknown or empty selection.
    """
    if methods is None:
        return list(DEFAULT_METHODS)
    if isinstance(methods, str):
        methods = [m for m in methods.replace('+', ',').split(',')]
    names = []
    for m in methods:
        m = str(m).strip().lower()
        if not m:
            continue
        if m == 'all':
            names.extend(METHODS)
            continue
        if m not in METHODS:
            raise ValueError(f'unknown method {m!r}; choose from '
                             f"{', '.join(METHODS)} (or 'all')")
        names.append(m)
    names = list(dict.fromkeys(names))
    if not names:
        raise ValueError('no method selected')
    return names


def _coerce(value, default, key: str):
    """Convert a CLI string to the type of ``default``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if isinstance(default, bool):
        if text.lower() in ('1', 'true', 'yes', 'on'):
            return True
        if text.lower() in ('0', 'false', 'no', 'off'):
            return False
        raise ValueError(f'{key}: expected a boolean, got {value!r}')
    if isinstance(default, (int, float)):
        try:
            num = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            num = None
        if isinstance(num, bool) or not isinstance(num, (int, float)):
            raise ValueError(f'{key}: expected a number, got {value!r}')
        return num
    if isinstance(default, (list, tuple)):
        parts = [p for p in text.strip('[]()').split(',') if p.strip()]
        try:
            return [ast.literal_eval(p.strip()) for p in parts]
        except (ValueError, SyntaxError):
            raise ValueError(f'{key}: expected a comma separated list of '
                             f'numbers, got {value!r}')
    return text


def update_params(params: dict, overrides: Optional[dict]) -> dict:
    """Return ``params`` updated with (nested) ``overrides``.

    Unknown sections or keys raise, so typos do not pass silently. String
    values are converted to the type of the default. A top-level ``scale``
    is applied to every method; ``methods`` is normalised with
    :func:`parse_methods`.

    Args:
        params (dict): Full parameters (e.g. :func:`default_params`).
        overrides (dict, optional): ``{'watershed': {'min_area': 400},
            'methods': 'watershed,hough', 'scale': 0.5}``.

    Returns:
        dict: A new, updated parameter dict.

    Raises:
        KeyError: For an unknown section or key.
        ValueError: For a value that cannot be converted.
    """
    out = copy.deepcopy(params)
    for section, value in (overrides or {}).items():
        if section == 'methods':
            out['methods'] = parse_methods(value)
        elif section == 'scale':
            for name in _METHOD_DEFAULTS:
                out[name]['scale'] = _coerce(value, 1.0, 'scale')
        elif section in out and isinstance(out[section], dict):
            if not isinstance(value, dict):
                raise ValueError(
                    f'parameters of {section!r} must be a dict, got {value!r}')
            for key, val in value.items():
                if key not in out[section]:
                    raise KeyError(
                        f'unknown parameter {section}.{key}; known: '
                        f"{', '.join(sorted(out[section]))}")
                out[section][key] = _coerce(val, out[section][key],
                                            f'{section}.{key}')
        else:
            known = ', '.join(['methods', 'scale'] +
                              [k for k in out if k != 'methods'])
            raise KeyError(
                f'unknown parameter section {section!r}; known: {known}')
    return out


def parse_param_overrides(items: Optional[Sequence[str]]) -> dict:
    """Parse ``SECTION.KEY=VALUE`` strings into a nested override dict.

    ``scale=VALUE`` and ``methods=a,b`` are accepted without a section.

    Args:
        items (Sequence[str], optional): e.g. ``['watershed.min_area=400',
            'hough.min_radius=6', 'scale=0.5']``.

    Returns:
        dict: Nested overrides for :func:`update_params` (values still
        strings).

    Raises:
        ValueError: For a malformed item.
    """
    out: dict = {}
    for item in items or []:
        if '=' not in item:
            raise ValueError(
                f'--param expects SECTION.KEY=VALUE, got {item!r}')
        key, value = item.split('=', 1)
        key = key.strip()
        if key in ('scale', 'methods'):
            out[key] = value
            continue
        if '.' not in key:
            raise ValueError(f'--param expects SECTION.KEY=VALUE (e.g. '
                             f'watershed.min_area=400), got {item!r}')
        section, name = key.split('.', 1)
        out.setdefault(section.strip(), {})[name.strip()] = value
    return out


def load_params_file(path: str) -> dict:
    """Load parameter overrides from a JSON, Python or YAML file.

    The file holds the same nested structure as :func:`default_params`
    (any subset), e.g. a Python config
    ``watershed = dict(min_area=600)`` / ``methods = ['watershed']``.

    Args:
        path (str): Config file.

    Returns:
        dict: Overrides for :func:`update_params`.

    Raises:
        FileNotFoundError: When the file does not exist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    if path.lower().endswith('.json'):
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    from mmengine.config import Config
    return Config.fromfile(path).to_dict()


def read_list_file(path: str) -> List[str]:
    """Read image names, one per line (blank lines and ``#`` comments are
    ignored).

    Args:
        path (str): Text file.

    Returns:
        list[str]: The names.

    Raises:
        FileNotFoundError: When the file does not exist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'list file not found: {path}')
    names = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                names.append(line)
    return names


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


def _run_methods(img: np.ndarray, params: dict
                 ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Run each selected method: name -> (boxes, scores)."""
    out = {}
    for name in params['methods']:
        boxes, scores = METHODS[name](img, return_scores=True, **params[name])
        out[name] = (np.asarray(boxes, np.float32).reshape(-1, 4),
                     np.asarray(scores, np.float32).reshape(-1))
    return out


def _union(per_method: Dict[str, Tuple[np.ndarray, np.ndarray]],
           combine: dict, img_shape: Tuple[int, int]
           ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union + NMS of per-method results -> boxes, scores, method index.

    The boxes obey the project's box rule (:func:`mmsissi.structures.
    sanitize_boxes`: clipped to ``img_shape``, >= 1 px once rounded to the
    0.01 px the COCO file keeps)."""
    names = list(per_method)
    boxes = np.concatenate([per_method[n][0] for n in names]
                           or [np.zeros((0, 4), np.float32)])
    scores = np.concatenate([per_method[n][1] for n in names]
                            or [np.zeros(0, np.float32)])
    src = np.concatenate(
        [np.full(len(per_method[n][0]), i) for i, n in enumerate(names)]
        or [np.zeros(0, np.int64)]).astype(np.int64)
    keep = dedupe_boxes(boxes, scores, combine['nms_iou'],
                        combine['contain_thr'], combine['contain_min_iou'])
    boxes, scores, src = boxes[keep], scores[keep], src[keep]
    boxes, keep = sanitize_boxes(boxes.round(2), img_shape)
    return boxes, scores[keep], src[keep]


def detect_boxes(img: np.ndarray,
                 methods: Union[None, str, Sequence[str]] = None,
                 params: Optional[dict] = None
                 ) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """Run the selected methods on one image and merge their boxes.

    Args:
        img (np.ndarray): (H, W) float image in ``[0, 1]``.
        methods (None | str | Sequence[str]): Methods to run; defaults to
            ``params['methods']`` (itself :data:`DEFAULT_METHODS` by
            default).
        params (dict, optional): Full or partial parameters (merged into
            :func:`default_params`).

    Returns:
        tuple[np.ndarray, np.ndarray, list[str]]: (N, 4) float32 xyxy boxes,
        (N,) scores and the name of the method that produced each box.
    """
    p = update_params(default_params(), params)
    if methods is not None:
        p['methods'] = parse_methods(methods)
    per_method = _run_methods(img, p)
    boxes, scores, src = _union(per_method, p['combine'], img.shape[:2])
    names = list(per_method)
    return boxes, scores, [names[i] for i in src]


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
                  key: str = 'basename') -> Dict[str, np.ndarray]:
    """Group the boxes of a COCO dict by image.

    Args:
        coco (dict): COCO detection dict (``images`` / ``annotations``).
        key (str): ``'basename'`` (file name without folders, default) or
            ``'file_name'``.

    Returns:
        dict[str, np.ndarray]: image key -> (N, 4) float64 xyxy boxes
        (images without annotation map to an empty array; crowd boxes are
        kept).
    """
    names = {}
    for im in coco.get('images', []):
        fn = str(im['file_name']).replace('\\', '/')
        names[im['id']] = osp.basename(fn) if key == 'basename' else fn
    boxes: Dict[str, list] = {n: [] for n in names.values()}
    for ann in coco.get('annotations', []):
        if ann['image_id'] not in names:
            continue
        x, y, w, h = ann['bbox'][:4]
        boxes[names[ann['image_id']]].append([x, y, x + w, y + h])
    return {k: np.asarray(v, np.float64).reshape(-1, 4)
            for k, v in boxes.items()}


def load_coco_boxes(path: str, key: str = 'basename'
                    ) -> Dict[str, np.ndarray]:
    """Read a COCO json and group its boxes by image (see
    :func:`coco_to_boxes`).

    Args:
        path (str): COCO json file.
        key (str): ``'basename'`` or ``'file_name'``.

    Returns:
        dict[str, np.ndarray]: image key -> (N, 4) xyxy boxes.

    Raises:
        FileNotFoundError: When the file does not exist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'ground-truth file not found: {path}')
    with open(path, encoding='utf-8') as f:
        return coco_to_boxes(json.load(f), key)


def write_json_atomic(obj, path: str) -> None:
    """Write ``obj`` as JSON to ``path`` atomically
    (:func:`mmsissi.utils.fileio.atomic_dump_json`)."""
    atomic_dump_json(obj, path)


def _same_file(a: str, b: str) -> bool:
    if osp.exists(a) and osp.exists(b):
        return osp.samefile(a, b)
    return osp.realpath(a) == osp.realpath(b)


def _box_to_ann(box, score, method, ann_id, image_id) -> dict:
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=1,
        bbox=[round(x1, 2), round(y1, 2), round(w, 2), round(h, 2)],
        area=round(w * h, 2),
        iscrowd=0,
        score=round(float(score), 4),
        method=method)


def run_weak_labels(images_dir: str,
                    out: Optional[str] = None,
                    methods: Union[None, str, Sequence[str]] = None,
                    params: Optional[dict] = None,
                    pattern: Optional[str] = None,
                    names: Optional[Sequence[str]] = None,
                    root: Optional[str] = None,
                    gt: Optional[str] = None,
                    iou_thr: float = 0.5,
                    progress: bool = True) -> dict:
    """Label a folder of images and optionally evaluate against GT.

    Unreadable images are skipped with a :class:`WeakLabelWarning` naming
    the file and the problem; they are listed in the result.

    Args:
        images_dir (str): Folder of images.
        out (str, optional): COCO json to write (atomically). Must differ
            from ``gt``.
        methods (None | str | Sequence[str]): Methods; overrides
            ``params['methods']``.
        params (dict, optional): Parameter overrides (nested, see
            :func:`default_params`).
        pattern (str, optional): Glob on file names (default: all supported
            image extensions).
        names (Sequence[str], optional): Only these file names (e.g. the
            content of a ``--list`` file).
        root (str, optional): Folder the COCO ``file_name`` is relative to.
            Defaults to the parent of ``images_dir``.
        gt (str, optional): Ground-truth COCO json; images are matched by
            file base name.
        iou_thr (float): IoU of a true positive. Defaults to 0.5.
        progress (bool): Show an :class:`mmengine.utils.ProgressBar`.

    Returns:
        dict: ``coco`` (the written dict), ``out``, ``methods``, ``params``,
        ``num_images``, ``num_boxes``, ``skipped`` (list of
        ``(path, reason)``), ``missing`` (listed names not found),
        ``seconds_per_image``, and with ``gt``: ``metrics`` (see
        :func:`evaluate_boxes`), ``metrics_per_method`` and
        ``images_without_gt``.

    Raises:
        FileNotFoundError: When ``images_dir`` (or ``gt``) does not exist.
        ValueError: When no image is selected or readable, or ``out`` is
            the ``gt`` file.
    """
    p = update_params(default_params(), params)
    if methods is not None:
        p['methods'] = parse_methods(methods)
    if out is not None and gt is not None and _same_file(out, gt):
        raise ValueError(
            f'refusing to overwrite the ground-truth file {gt} with the '
            'weak labels: choose another --out')
    gt_boxes = load_coco_boxes(gt) if gt is not None else None
    images_dir = osp.abspath(images_dir)
    root = osp.abspath(root) if root else osp.dirname(images_dir)
    paths = list_images(images_dir, pattern, names)
    missing: List[str] = []
    if names is not None:
        found_rel = {osp.relpath(q, images_dir) for q in paths}
        found_base = {osp.basename(q) for q in paths}
        missing = [
            n for n in names
            if osp.normpath(n) not in found_rel
            and osp.basename(n) not in found_base
        ]
        if missing:
            shown = ', '.join(missing[:5]) + (' ...' if len(missing) > 5
                                              else '')
            warnings.warn(
                f'{len(missing)} listed image(s) not found in {images_dir}:'
                f' {shown}', WeakLabelWarning)
    if not paths:
        what = f'matching {pattern!r} ' if pattern else ''
        what += 'from the list ' if names is not None else ''
        raise ValueError(f'no images {what}found in {images_dir}')

    images, annotations, skipped = [], [], []
    pred_by_image: Dict[str, np.ndarray] = {}
    pred_by_method: Dict[str, Dict[str, np.ndarray]] = {
        m: {}
        for m in p['methods']
    }
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(paths), file=sys.stderr)
    t_start = time.perf_counter()
    for path in paths:
        try:
            img = read_image(path, tuple(p['read']['percentiles']))
        except ImageReadError as e:
            warnings.warn(f'skipping unreadable image {e.path}: {e.reason}',
                          WeakLabelWarning)
            skipped.append((path, e.reason))
            if bar is not None:
                bar.update()
            continue
        per_method = _run_methods(img, p)
        boxes, scores, src = _union(per_method, p['combine'], img.shape[:2])
        image_id = len(images) + 1
        file_name = osp.relpath(path, root).replace(os.sep, '/')
        images.append(
            dict(
                id=image_id,
                file_name=file_name,
                height=int(img.shape[0]),
                width=int(img.shape[1])))
        mnames = list(per_method)
        for box, score, k in zip(boxes, scores, src):
            annotations.append(
                _box_to_ann(box, score, mnames[k],
                            len(annotations) + 1, image_id))
        key = osp.basename(path)
        pred_by_image[key] = boxes
        for m, (b, _) in per_method.items():
            pred_by_method[m][key] = b
        if bar is not None:
            bar.update()
    elapsed = time.perf_counter() - t_start
    if bar is not None:
        sys.stderr.write('\n')
    if not images:
        raise ValueError(f'none of the {len(paths)} selected image(s) in '
                         f'{images_dir} could be read')

    from mmsissi.version import __version__
    coco = dict(
        info=dict(
            description='mmsissi weak labels (classic image processing)',
            version=__version__,
            methods=list(p['methods']),
            params={k: v
                    for k, v in p.items() if k != 'methods'}),
        images=images,
        annotations=annotations,
        categories=[dict(id=1, name='cell')])
    if out is not None:
        write_json_atomic(coco, out)

    result = dict(
        coco=coco,
        out=osp.abspath(out) if out is not None else None,
        methods=list(p['methods']),
        params=p,
        num_images=len(images),
        num_boxes=len(annotations),
        skipped=skipped,
        missing=missing,
        seconds_per_image=elapsed / max(len(paths), 1))
    if gt_boxes is not None:
        with_gt = [k for k in pred_by_image if k in gt_boxes]
        result['images_without_gt'] = [
            k for k in pred_by_image if k not in gt_boxes
        ]
        if result['images_without_gt']:
            warnings.warn(
                f"{len(result['images_without_gt'])} image(s) have no entry "
                f'in {gt} and are not evaluated', WeakLabelWarning)
        result['metrics'] = evaluate_boxes(
            {k: pred_by_image[k]
             for k in with_gt}, gt_boxes, iou_thr)
        result['metrics_per_method'] = {
            m: evaluate_boxes({k: d[k]
                               for k in with_gt}, gt_boxes, iou_thr)
            for m, d in pred_by_method.items()
        }
    return result


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
