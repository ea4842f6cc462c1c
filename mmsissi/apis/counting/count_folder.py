# Copyright (c) mmsissi contributors. All rights reserved.
"""Count the cells of every image of a folder (:func:`count_folder`;
``tools/count.py`` is the command line front end).

Image input
    Every file is decoded by :func:`mmsissi.fileio.read_raw_image`
    (8/16-bit, grayscale / RGB / RGBA, PNG / TIFF / JPEG, clear errors)
    and converted to the ``uint8`` 3-channel BGR array the detector's
    loader (``LoadImageFromFile`` / ``LoadCellImageFromFile``) gives it in
    training and testing (:func:`to_detector_image`): 8-bit images are
    used as they are (gray replicated to 3 channels, alpha dropped); any
    other depth (16-bit, float) is turned to grayscale and
    contrast-stretched between its 0.1 and 99.9 percentiles to 8 bits,
    like the shared 8-bit target images were made from their 16-bit
    originals.

Outputs
    ``counts.csv`` (one row per counted image), ``detections.json`` (COCO,
    the counted boxes with their score) and overlay PNGs, see
    :func:`count_folder`.
"""
import csv
import io as _io
import os
import os.path as osp
import sys
import warnings
from fnmatch import fnmatch
from typing import Any, Dict, List, Optional, Sequence, Union

import cv2
import numpy as np

from mmsissi.fileio import (IMAGE_EXTENSIONS, ImageReadError,
                            atomic_dump_json, atomic_write_text,
                            list_images, read_raw_image, to_bgr_uint8)

from .counter import CellCounter, CountingWarning

__all__ = [
    'STRETCH_PERCENTILES', 'to_detector_image', 'read_detector_image',
    'draw_overlay', 'select_images', 'count_folder'
]

#: Percentiles of the 16-bit -> 8-bit contrast stretch (those of the shared
#: 8-bit target images).
STRETCH_PERCENTILES = (0.1, 99.9)

#: Decoded image -> the detector's uint8 BGR input (shared with training's
#: ``LoadCellImageFromFile``).
to_detector_image = to_bgr_uint8


def read_detector_image(path: str) -> np.ndarray:
    """Read an image file as the detector's ``uint8`` BGR input.

    Args:
        path (str): PNG / TIFF / JPEG / BMP file, 8/16-bit, gray, RGB or
            RGBA.

    Returns:
        np.ndarray: (H, W, 3) ``uint8`` BGR array.

    Raises:
        ImageReadError: When the file is missing, empty or undecodable.
    """
    raw = read_raw_image(path)
    try:
        return to_detector_image(raw)
    except ValueError as e:
        raise ImageReadError(path, str(e))


def draw_overlay(img: np.ndarray, bboxes: np.ndarray,
                 text: str) -> np.ndarray:
    """Boxes and a caption drawn on a copy of an image.

    Args:
        img (np.ndarray): (H, W, 3) ``uint8`` BGR image.
        bboxes (np.ndarray): (N, 4) ``x1y1x2y2`` boxes.
        text (str): Caption, written in the top-left corner on a black
            band.

    Returns:
        np.ndarray: The annotated (H, W, 3) ``uint8`` image.
    """
    out = img.copy()
    h, w = out.shape[:2]
    size = max(h, w)
    thick = max(1, int(round(size / 600)))
    for x1, y1, x2, y2 in np.asarray(bboxes).reshape(-1, 4):
        cv2.rectangle(out, (int(round(x1)), int(round(y1))),
                      (int(round(x2)) - 1, int(round(y2)) - 1), (0, 255, 0),
                      thick, cv2.LINE_AA)
    font = cv2.FONT_HERSHEY_SIMPLEX
    fscale = max(0.4, size / 900)
    fthick = max(1, int(round(fscale * 2)))
    (tw, th), base = cv2.getTextSize(text, font, fscale, fthick)
    pad = max(2, int(round(th * 0.3)))
    cv2.rectangle(out, (0, 0), (tw + 2 * pad, th + base + 2 * pad),
                  (0, 0, 0), -1)
    cv2.putText(out, text, (pad, pad + th), font, fscale, (0, 255, 255),
                fthick, cv2.LINE_AA)
    return out


def select_images(images_dir: str,
                  pattern: Union[None, str, Sequence[str]] = None
                  ) -> List[str]:
    """The image files of a folder that :func:`count_folder` processes.

    Args:
        images_dir (str): Folder (not recursive).
        pattern (None | str | Sequence[str]): Glob(s) on file names.
            Defaults to all of
            :data:`mmsissi.fileio.IMAGE_EXTENSIONS`.

    Returns:
        list[str]: Sorted absolute paths.

    Raises:
        FileNotFoundError: When ``images_dir`` does not exist.
        ValueError: When no file is selected.
    """
    if not osp.isdir(images_dir):
        raise FileNotFoundError(f'image folder not found: {images_dir}')
    images_dir = osp.abspath(images_dir)
    if pattern is None or isinstance(pattern, str):
        paths = list_images(images_dir, pattern)
    else:
        paths = [
            p for p in list_images(images_dir, '*')
            if any(fnmatch(osp.basename(p), g) for g in pattern)
        ]
    if not paths:
        if pattern is None:
            what = ('no images (' + ', '.join(IMAGE_EXTENSIONS) +
                    ') found in')
        else:
            pats = [pattern] if isinstance(pattern, str) else list(pattern)
            what = f'no files matching {", ".join(pats)} found in'
        raise ValueError(f'{what} {images_dir}')
    return paths


def _overlay_name(rel: str, used: set) -> str:
    stem, ext = osp.splitext(osp.basename(rel))
    name = stem
    if name in used:
        name = f'{stem}_{ext.lstrip(".").lower()}'
    k = 2
    base = name
    while name in used:
        name = f'{base}_{k}'
        k += 1
    used.add(name)
    return name + '.png'


def count_folder(counter: CellCounter,
                 images_dir: str,
                 out_dir: str,
                 pattern: Union[None, str, Sequence[str]] = None,
                 score_thr: float = 0.5,
                 overlays: bool = True,
                 progress: bool = True) -> Dict[str, Any]:
    """Count the cells of every image of a folder and write the results.

    Writes into ``out_dir``: ``counts.csv`` (``image, count, mean_score,
    width, height``; one row per counted image, ``mean_score`` empty when
    nothing is counted), ``detections.json`` (COCO: ``file_name``
    relative to ``images_dir``, boxes ``xywh`` with ``score``; only the
    counted boxes) and, unless ``overlays=False``,
    ``overlays/<stem>.png``. The CSV and the json are written atomically.
    Unreadable files are skipped with a :class:`CountingWarning` naming
    the file and the problem.

    Args:
        counter (CellCounter): The detector.
        images_dir (str): Folder of images (not recursive).
        out_dir (str): Output folder (created).
        pattern (None | str | Sequence[str]): Glob(s) on file names.
            Defaults to all of
            :data:`mmsissi.fileio.IMAGE_EXTENSIONS`.
        score_thr (float): Boxes scoring at least this are counted.
            Defaults to 0.5.
        overlays (bool): Write overlay PNGs. Defaults to True.
        progress (bool): Show an :class:`mmengine.utils.ProgressBar` on
            stderr. Defaults to True.

    Returns:
        dict: ``rows`` (the CSV rows as dicts), ``num_images``,
        ``num_cells``, ``skipped`` (list of ``(relative path, reason)``),
        ``num_tiled``, ``csv``, ``json``, ``overlays`` (folder or None).

    Raises:
        FileNotFoundError: When ``images_dir`` does not exist.
        ValueError: When it holds no selected image, or none is readable.
    """
    paths = select_images(images_dir, pattern)
    images_dir = osp.abspath(images_dir)
    ov_dir = osp.join(out_dir, 'overlays') if overlays else None
    if ov_dir:
        os.makedirs(ov_dir, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    tally = _count_images(counter, paths, images_dir, score_thr, ov_dir,
                          progress)
    if not tally.images:
        raise ValueError(f'none of the {len(paths)} selected file(s) in '
                         f'{images_dir} could be read')

    csv_path = osp.join(out_dir, 'counts.csv')
    atomic_write_text(tally.csv_text(), csv_path)
    json_path = osp.join(out_dir, 'detections.json')
    atomic_dump_json(tally.coco(images_dir, counter), json_path)
    return dict(
        rows=tally.rows,
        num_images=len(tally.images),
        num_cells=int(sum(r['count'] for r in tally.rows)),
        skipped=tally.skipped,
        num_tiled=tally.num_tiled,
        csv=osp.abspath(csv_path),
        json=osp.abspath(json_path),
        overlays=osp.abspath(ov_dir) if ov_dir else None)


def _count_images(counter: CellCounter, paths: List[str], images_dir: str,
                  score_thr: float, ov_dir: Optional[str],
                  progress: bool) -> '_Tally':
    """Count the cells of each image of ``paths`` (see
    :func:`count_folder`); unreadable files are skipped with a
    :class:`CountingWarning`. Overlays go to ``ov_dir`` unless None."""
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(paths), file=sys.stderr)
    tally = _Tally(score_thr)
    for path in paths:
        rel = osp.relpath(path, images_dir).replace(os.sep, '/')
        try:
            img = read_detector_image(path)
        except ImageReadError as e:
            if bar is not None:
                sys.stderr.write('\n')
            warnings.warn(f'skipping {rel}: {e.reason}', CountingWarning)
            tally.skipped.append((rel, e.reason))
        else:
            boxes = tally.add(rel, img, counter(img))
            if ov_dir:
                name = _overlay_name(rel, tally.overlay_names)
                text = f'{len(boxes)} cell{"" if len(boxes) == 1 else "s"}'
                cv2.imwrite(osp.join(ov_dir, name),
                            draw_overlay(img, boxes, text))
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stderr.write('\n')
    return tally


class _Tally:
    """The counts of :func:`count_folder`, image by image.

    Args:
        score_thr (float): Boxes scoring at least this are counted.
    """

    CSV_FIELDS = ['image', 'count', 'mean_score', 'width', 'height']

    def __init__(self, score_thr: float) -> None:
        self.score_thr = score_thr
        self.rows: List[dict] = []
        self.images: List[dict] = []
        self.annotations: List[dict] = []
        self.skipped: List[tuple] = []
        self.overlay_names: set = set()
        self.num_tiled = 0

    def add(self, rel: str, img: np.ndarray, det: Dict[str, Any]
            ) -> np.ndarray:
        """Count the detections ``det`` of the image ``rel``.

        Args:
            rel (str): Image path relative to the folder.
            img (np.ndarray): The (H, W, 3) image.
            det (dict): Output of :class:`CellCounter`.

        Returns:
            np.ndarray: The counted (N, 4) boxes.
        """
        self.num_tiled += det['windows'] is not None
        keep = det['scores'] >= self.score_thr
        boxes, scores = det['bboxes'][keep], det['scores'][keep]
        labels = det['labels'][keep]
        h, w = img.shape[:2]
        image_id = len(self.images) + 1
        self.images.append(dict(id=image_id, file_name=rel, width=int(w),
                                height=int(h)))
        for b, s, lab in zip(boxes, scores, labels):
            x1, y1, x2, y2 = (float(v) for v in b)
            self.annotations.append(
                dict(id=len(self.annotations) + 1, image_id=image_id,
                     category_id=int(lab) + 1,
                     bbox=[round(x1, 2), round(y1, 2), round(x2 - x1, 2),
                           round(y2 - y1, 2)],
                     area=round((x2 - x1) * (y2 - y1), 2),
                     score=round(float(s), 4), iscrowd=0))
        count = int(len(boxes))
        self.rows.append(dict(
            image=rel, count=count,
            mean_score=(f'{float(scores.mean()):.4f}' if count else ''),
            width=int(w), height=int(h)))
        return boxes

    def csv_text(self) -> str:
        """``counts.csv``: one row per counted image."""
        buf = _io.StringIO()
        writer = csv.DictWriter(
            buf, fieldnames=self.CSV_FIELDS, lineterminator='\n')
        writer.writeheader()
        writer.writerows(self.rows)
        return buf.getvalue()

    def coco(self, images_dir: str, counter: CellCounter) -> dict:
        """``detections.json``: the counted boxes as a COCO dict."""
        from mmsissi.version import __version__
        return dict(
            info=dict(
                description='mmsissi cell counts (tools/count.py)',
                version=__version__,
                images_dir=images_dir,
                score_thr=float(self.score_thr),
                tiling=counter.describe()),
            images=self.images,
            annotations=self.annotations,
            categories=[dict(id=i + 1, name=n)
                        for i, n in enumerate(counter.class_names)])
