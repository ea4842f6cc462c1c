# Copyright (c) mmsissi contributors. All rights reserved.
"""Weak-label pipeline: run the selected detectors, unite and de-duplicate
their boxes, label a folder into a COCO json.

The detectors (:func:`~.watershed.detect_watershed`,
:func:`~.hough.detect_hough`, :func:`~.edges.detect_edges`) each turn a
float image into boxes and scores. :func:`detect_boxes` runs the selected
ones (parameters: :mod:`.params`), takes the union of their boxes and
removes duplicates greedily by score (:func:`~.boxes.dedupe_boxes`: NMS at
``combine.nms_iou`` plus a containment test).
:func:`run_weak_labels` does this for a folder and writes a COCO json
atomically; with ground truth it also reports precision / recall / F1 at
IoU 0.5 (:func:`~.boxes.evaluate_boxes`).
"""
import os
import os.path as osp
import sys
import time
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from mmsissi.fileio import (ImageReadError, atomic_dump_json, list_images,
                            read_image)
from mmsissi.structures import sanitize_boxes

from .boxes import dedupe_boxes, evaluate_boxes, load_coco_boxes
from .params import METHODS, default_params, parse_methods, update_params

__all__ = [
    'WeakLabelWarning', 'detect_boxes', 'write_json_atomic',
    'run_weak_labels'
]


class WeakLabelWarning(UserWarning):
    """Warning about an input that was skipped or ignored."""


def _merged_params(params: Optional[dict],
                   methods: Union[None, str, Sequence[str]]) -> dict:
    """The defaults updated with ``params``, then ``methods``."""
    p = update_params(default_params(), params)
    if methods is not None:
        p['methods'] = parse_methods(methods)
    return p


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
            ``params['methods']`` (itself :data:`~.params.DEFAULT_METHODS` by
            default).
        params (dict, optional): Full or partial parameters (merged into
            :func:`~.params.default_params`).

    Returns:
        tuple[np.ndarray, np.ndarray, list[str]]: (N, 4) float32 xyxy boxes,
        (N,) scores and the name of the method that produced each box.
    """
    p = _merged_params(params, methods)
    per_method = _run_methods(img, p)
    boxes, scores, src = _union(per_method, p['combine'], img.shape[:2])
    names = list(per_method)
    return boxes, scores, [names[i] for i in src]


def write_json_atomic(obj, path: str) -> None:
    """Write ``obj`` as JSON to ``path`` atomically
    (:func:`mmsissi.fileio.atomic_dump_json`)."""
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
            :func:`~.params.default_params`).
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
        :func:`~.boxes.evaluate_boxes`), ``metrics_per_method`` and
        ``images_without_gt``.

    Raises:
        FileNotFoundError: When ``images_dir`` (or ``gt``) does not exist.
        ValueError: When no image is selected or readable, or ``out`` is
            the ``gt`` file.
    """
    p = _merged_params(params, methods)
    if out is not None and gt is not None and _same_file(out, gt):
        raise ValueError(
            f'refusing to overwrite the ground-truth file {gt} with the '
            'weak labels: choose another --out')
    gt_boxes = load_coco_boxes(gt) if gt is not None else None
    images_dir = osp.abspath(images_dir)
    root = osp.abspath(root) if root else osp.dirname(images_dir)
    paths, missing = _select_images(images_dir, pattern, names)
    done = _label_images(paths, root, p, progress)
    if not done['images']:
        raise ValueError(f'none of the {len(paths)} selected image(s) in '
                         f'{images_dir} could be read')
    coco = _weak_labels_coco(p, done['images'], done['annotations'])
    if out is not None:
        write_json_atomic(coco, out)

    result = dict(
        coco=coco,
        out=osp.abspath(out) if out is not None else None,
        methods=list(p['methods']),
        params=p,
        num_images=len(done['images']),
        num_boxes=len(done['annotations']),
        skipped=done['skipped'],
        missing=missing,
        seconds_per_image=done['seconds'] / max(len(paths), 1))
    if gt_boxes is not None:
        result.update(
            _evaluate(done['boxes'], done['boxes_per_method'], gt_boxes, gt,
                      iou_thr))
    return result


def _select_images(images_dir: str, pattern: Optional[str],
                   names: Optional[Sequence[str]]
                   ) -> Tuple[List[str], List[str]]:
    """The selected image paths, and the listed names not found (with a
    :class:`WeakLabelWarning`).

    Raises:
        ValueError: When no image is selected.
    """
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
    return paths, missing


def _label_images(paths: List[str], root: str, p: dict,
                  progress: bool) -> dict:
    """Weak-label every readable image of ``paths``.

    Unreadable ones are skipped with a :class:`WeakLabelWarning`.

    Returns:
        dict: COCO ``images`` and ``annotations``, ``boxes`` (image base
        name -> kept boxes), ``boxes_per_method`` (method -> the same for
        the method's own boxes), ``skipped`` (list of ``(path, reason)``)
        and ``seconds`` spent.
    """
    done = dict(images=[], annotations=[], boxes={},
                boxes_per_method={m: {} for m in p['methods']}, skipped=[])
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
            done['skipped'].append((path, e.reason))
        else:
            _label_image(done, img, path, root, p)
        if bar is not None:
            bar.update()
    done['seconds'] = time.perf_counter() - t_start
    if bar is not None:
        sys.stderr.write('\n')
    return done


def _label_image(done: dict, img: np.ndarray, path: str, root: str,
                 p: dict) -> None:
    """Add the weak labels of one image to ``done`` (see
    :func:`_label_images`)."""
    per_method = _run_methods(img, p)
    boxes, scores, src = _union(per_method, p['combine'], img.shape[:2])
    images, annotations = done['images'], done['annotations']
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
    done['boxes'][key] = boxes
    for m, (b, _) in per_method.items():
        done['boxes_per_method'][m][key] = b


def _weak_labels_coco(p: dict, images: List[dict],
                      annotations: List[dict]) -> dict:
    """The COCO dict of the weak labels (parameters in ``info``)."""
    from mmsissi.version import __version__
    return dict(
        info=dict(
            description='mmsissi weak labels (classic image processing)',
            version=__version__,
            methods=list(p['methods']),
            params={k: v
                    for k, v in p.items() if k != 'methods'}),
        images=images,
        annotations=annotations,
        categories=[dict(id=1, name='cell')])


def _evaluate(boxes: Dict[str, np.ndarray],
              boxes_per_method: Dict[str, Dict[str, np.ndarray]],
              gt_boxes: Dict[str, np.ndarray], gt: str,
              iou_thr: float) -> dict:
    """``images_without_gt``, ``metrics`` and ``metrics_per_method`` of
    :func:`run_weak_labels` (images matched by base name)."""
    with_gt = [k for k in boxes if k in gt_boxes]
    without_gt = [k for k in boxes if k not in gt_boxes]
    if without_gt:
        warnings.warn(
            f'{len(without_gt)} image(s) have no entry '
            f'in {gt} and are not evaluated', WeakLabelWarning)
    return dict(
        images_without_gt=without_gt,
        metrics=evaluate_boxes({k: boxes[k]
                                for k in with_gt}, gt_boxes, iou_thr),
        metrics_per_method={
            m: evaluate_boxes({k: d[k]
                               for k in with_gt}, gt_boxes, iou_thr)
            for m, d in boxes_per_method.items()
        })
