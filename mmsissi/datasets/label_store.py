# Copyright (c) mmsissi contributors. All rights reserved.
"""The one place that holds the current target labels, as files.

Layout of a store directory (``{work_dir}/labels`` by default)::

    index.json          {"version": 3, "epoch": 5, "file": "epoch_5.json",
                         "synthesize": true}
    epoch_3.json        COCO json of the pseudo labels used in epoch 3
    epoch_4.json        ...

The initial weak labels are never copied or rewritten: until the first
pseudo labels are written the store is empty and datasets use their own
annotation file. Every file is written atomically (temp file in the same
folder + ``os.replace``) and the index last, so a reader (a dataloader
worker, another rank, a resumed run) sees either the previous complete
version or the new complete version, never a partial one. Workers detect a
new version with one ``os.stat`` of ``index.json`` per sample and reload only
then.

Every box obeys the project's box rule (:func:`mmsissi.structures.
sanitize_boxes`: clipped to the image, at least 1 px wide and high) both
when it is written and when it is served, so a hand-edited or older label
file cannot bring a degenerate box into training. The index records how
many boxes the writer dropped (``dropped``); :attr:`LabelStore.dropped`
adds those dropped when serving.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

from mmsissi.structures import coco_boxes_by_image, sanitize_boxes
from mmsissi.fileio import atomic_dump_json

__all__ = ['LabelStore', 'LabelWriteError']


class LabelWriteError(RuntimeError):
    """Labels could not be written (a full disk, no permission...); the
    previous labels are untouched and still current."""


class LabelStore:
    """Versioned, file-based store of the current target labels.

    Args:
        root (str): Store directory.
    """

    INDEX = 'index.json'

    def __init__(self, root: str) -> None:
        self.root = osp.abspath(root)
        self._stamp = None
        self._index: Optional[dict] = None
        self._labels: Optional[Dict[int, np.ndarray]] = None
        self._scores: Optional[Dict[int, np.ndarray]] = None
        self._ignore: Dict[int, np.ndarray] = {}
        self._ignore_scores: Dict[int, np.ndarray] = {}
        self._dropped_on_load = 0

    # ------------------------------------------------------------- reading
    @property
    def index_path(self) -> str:
        return osp.join(self.root, self.INDEX)

    def _index_stamp(self):
        try:
            st = os.stat(self.index_path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def read_index(self) -> Optional[dict]:
        """The current index, or None when nothing was written yet."""
        stamp = self._index_stamp()
        if stamp is None:
            return None
        with open(self.index_path) as f:
            return json.load(f)

    def refresh(self) -> bool:
        """Reload the labels if the index changed since the last call.

        Returns:
            bool: Whether a new version was loaded.
        """
        stamp = self._index_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        if stamp is None:
            self._index = self._labels = self._scores = None
            self._ignore, self._ignore_scores = {}, {}
            return True
        index = self.read_index()
        path = osp.join(self.root, index['file'])
        try:
            with open(path) as f:
                coco = json.load(f)
        except (OSError, ValueError) as e:
            raise RuntimeError(
                f'{path}: label file named by {self.index_path} is '
                f'unreadable ({e})') from e
        self._index = index
        self._labels, self._scores, self._dropped_on_load = \
            self.coco_to_boxes(coco, with_dropped=True)
        self._ignore, self._ignore_scores = self.coco_to_boxes(coco,
                                                               crowd=True)
        return True

    @property
    def version(self) -> int:
        return 0 if self._index is None else int(self._index['version'])

    @property
    def synthesize(self):
        """False, True, or a blur setting (``'weak'``, ``'strong'``,
        ``[kernel, sigma]``) for :class:`SeamlessSynth`."""
        if not self._index:
            return False
        return self._index.get('synthesize', False) or False

    @property
    def dropped(self) -> int:
        """Degenerate boxes of the current version removed by the box rule
        (when written, recorded in the index, plus when served)."""
        if not self._index:
            return 0
        return int(self._index.get('dropped', 0)) + self._dropped_on_load

    @property
    def active(self) -> bool:
        """Whether pseudo labels exist (after :meth:`refresh`)."""
        return self._labels is not None

    def boxes(self, img_id: int) -> Optional[np.ndarray]:
        """Current (N, 4) xyxy boxes of an image, or None before any
        pseudo labels (then the dataset's own labels apply)."""
        if self._labels is None:
            return None
        return self._labels.get(int(img_id), np.zeros((0, 4), np.float32))

    def ignore_boxes(self, img_id: int) -> np.ndarray:
        """(N, 4) xyxy ignore regions (``iscrowd`` boxes: neither cell
        nor background) of an image in the current labels."""
        return self._ignore.get(int(img_id), np.zeros((0, 4), np.float32))

    def ignore_scores(self, img_id: int) -> np.ndarray:
        """Scores of :meth:`ignore_boxes`."""
        return self._ignore_scores.get(int(img_id), np.zeros(0, np.float32))

    def scores(self, img_id: int) -> Optional[np.ndarray]:
        """Scores of :meth:`boxes` (1 where a file gives none), or None
        before any pseudo labels."""
        if self._scores is None:
            return None
        return self._scores.get(int(img_id), np.zeros(0, np.float32))

    @staticmethod
    def coco_to_boxes(coco: dict, with_dropped: bool = False,
                      crowd: bool = False):
        """Per-image xyxy boxes and scores of a COCO dict, after the box
        rule (clipped to the image size its ``images`` entry gives).

        Args:
            coco (dict): COCO dict with ``images`` and ``annotations``.
            with_dropped (bool): Also return how many boxes the rule
                dropped. Defaults to False.
            crowd (bool): False: the labels (annotations that are not
                ``iscrowd``; default); True: the ignore regions.

        Returns:
            tuple: ``(boxes, scores)`` dicts by image id, and the number
            dropped if ``with_dropped``.
        """
        shapes = {int(i['id']): (i.get('height'), i.get('width'))
                  for i in coco['images']}
        boxes, scores = coco_boxes_by_image(coco, crowd=crowd)
        out_b, out_s, dropped = {}, {}, 0
        for k, v in boxes.items():
            shape = shapes.get(k)
            if shape is None or None in shape:
                shape = None
            out_b[k], keep = sanitize_boxes(v, shape)
            out_s[k] = np.asarray(scores[k], np.float32)[keep]
            dropped += int((~keep).sum())
        if with_dropped:
            return out_b, out_s, dropped
        return out_b, out_s

    # ------------------------------------------------------------- writing
    @staticmethod
    def _annotations(anns: list, img: dict, boxes, scores, crowd: int) -> int:
        """Append the COCO annotations of one image's boxes (rounded to
        0.01 px, after the box rule); return how many the rule dropped."""
        b = np.asarray(boxes.get(img['id'], np.zeros((0, 4))),
                       np.float64).reshape(-1, 4).round(2)
        s = None if scores is None else np.asarray(
            scores.get(img['id'], np.ones(len(b))), np.float64)
        b, keep = sanitize_boxes(b, (img['height'], img['width']))
        b = b.astype(np.float64).round(2)
        s = None if s is None else s[keep]
        for k, (x1, y1, x2, y2) in enumerate(b):
            ann = dict(
                id=len(anns) + 1,
                image_id=int(img['id']),
                category_id=1,
                bbox=[round(float(x1), 2), round(float(y1), 2),
                      round(float(x2 - x1), 2), round(float(y2 - y1), 2)],
                area=round(float((x2 - x1) * (y2 - y1)), 2),
                iscrowd=crowd)
            if s is not None:
                ann['score'] = round(float(s[k]), 4)
            anns.append(ann)
        return int((~keep).sum())

    def write(self,
              epoch: int,
              images: List[dict],
              boxes: Dict[int, np.ndarray],
              scores: Optional[Dict[int, np.ndarray]] = None,
              synthesize=False,
              categories: Optional[List[dict]] = None,
              ignore: Optional[Dict[int, np.ndarray]] = None,
              ignore_scores: Optional[Dict[int, np.ndarray]] = None) -> str:
        """Write the labels of ``epoch`` and make them current (atomic).

        Boxes are rounded to 0.01 px, then the box rule drops degenerate
        ones (clipped to the image, width and height >= 1 px); how many is
        recorded in the index (``dropped``, see :attr:`dropped`).

        Args:
            epoch (int): Epoch the labels are used for.
            images (list[dict]): COCO ``images`` entries (id, file_name,
                height, width) of all target images.
            boxes (dict[int, np.ndarray]): (N, 4) xyxy boxes per image id.
            scores (dict[int, np.ndarray], optional): Box scores.
            synthesize (bool | str | tuple): Whether the training pipeline
                should make synthetic-like images from these labels, or the
                blur setting to make them with (``'weak'``, ``'strong'``,
                ``(kernel, sigma)``).
            categories (list[dict], optional): COCO categories.
            ignore (dict[int, np.ndarray], optional): (N, 4) xyxy ignore
                regions per image id, written as ``iscrowd`` annotations
                (mmdet's ignore path), after the labels.
            ignore_scores (dict[int, np.ndarray], optional): Their scores.

        Returns:
            str: Path of the label file.

        Raises:
            LabelWriteError: On any ``OSError`` while writing (a full disk):
                the index and every earlier label file are untouched, so
                the previous labels stay current and readable.
        """
        try:
            return self._write(epoch, images, boxes, scores, synthesize,
                               categories, ignore, ignore_scores)
        except OSError as err:
            old = self.read_index()
            kept = (f'the labels of epoch {old["epoch"]} ({old["file"]}) '
                    'are still current' if old else
                    'no labels were current (the initial annotations are '
                    'used)')
            raise LabelWriteError(
                f'could not write the labels of epoch {int(epoch)} into '
                f'{self.root}: {err}; {kept} and nothing was overwritten. '
                'Free disk space and resume the run (--resume).') from err

    def _write(self, epoch, images, boxes, scores, synthesize, categories,
               ignore, ignore_scores) -> str:
        os.makedirs(self.root, exist_ok=True)
        anns, dropped = [], 0
        for img in images:
            dropped += self._annotations(anns, img, boxes, scores, 0)
            if ignore is not None:
                dropped += self._annotations(anns, img, ignore,
                                             ignore_scores, 1)
        name = f'epoch_{int(epoch)}.json'
        atomic_dump_json(
            dict(images=images, annotations=anns,
                 categories=categories or [dict(id=1, name='cell')]),
            osp.join(self.root, name))
        old = self.read_index()
        atomic_dump_json(
            dict(version=(old['version'] + 1) if old else 1, epoch=int(epoch),
                 file=name, dropped=dropped,
                 synthesize=list(synthesize) if isinstance(
                     synthesize, tuple) else synthesize), self.index_path)
        return osp.join(self.root, name)
