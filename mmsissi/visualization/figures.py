# Copyright (c) mmsissi contributors. All rights reserved.
"""Figures written during training, as the paper shows them: pseudo-label
evolution of a few fixed target images (Fig. 8) and original vs
synthetic-like pairs (Fig. 3). The ADELE curve (Fig. 7) is written by
:class:`ADELEHook`."""
import os
import os.path as osp
from typing import Dict, List, Sequence

import cv2
import numpy as np

__all__ = ['draw_boxes', 'write_evolution_figure', 'write_synth_figure']


def draw_boxes(img: np.ndarray, boxes: np.ndarray,
               color=(0, 220, 0), thickness: int = 2) -> np.ndarray:
    """Draw xyxy boxes on a copy of a BGR image."""
    out = img.copy()
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), color,
                      thickness)
    return out


def _label(img, text):
    out = img.copy()
    cv2.putText(out, text, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(out, text, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                (255, 255, 255), 2, cv2.LINE_AA)
    return out


def _tile(rows: List[List[np.ndarray]], size: int = 320) -> np.ndarray:
    lines = []
    for row in rows:
        cells = [cv2.resize(c, (size, int(size * c.shape[0] / c.shape[1])))
                 for c in row]
        h = max(c.shape[0] for c in cells)
        cells = [np.pad(c, ((0, h - c.shape[0]), (0, 4), (0, 0)),
                        constant_values=255) for c in cells]
        lines.append(np.pad(np.hstack(cells), ((0, 4), (0, 0), (0, 0)),
                            constant_values=255))
    w = max(ln.shape[1] for ln in lines)
    return np.vstack([
        np.pad(ln, ((0, 0), (0, w - ln.shape[1]), (0, 0)),
               constant_values=255) for ln in lines
    ])


def write_evolution_figure(path: str, images: Sequence[np.ndarray],
                           history: Dict[str, Sequence[np.ndarray]],
                           max_columns: int = 6) -> None:
    """Rows: images; columns: label versions (initial weak labels, then
    the pseudo labels of successive epochs; the last ``max_columns``).

    Args:
        path (str): Output PNG.
        images (Sequence[np.ndarray]): BGR images.
        history (dict[str, Sequence[np.ndarray]]): Column title -> boxes per
            image, in order.
        max_columns (int): Most columns (the first and the latest kept).
    """
    titles = list(history)
    if len(titles) > max_columns:
        titles = titles[:1] + titles[-(max_columns - 1):]
    rows = []
    for k, img in enumerate(images):
        rows.append([
            _label(draw_boxes(img, history[t][k]),
                   f'{t}: {len(history[t][k])}') for t in titles
        ])
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    cv2.imwrite(path, _tile(rows))


def write_synth_figure(path: str, images: Sequence[np.ndarray],
                       synthetic: Sequence[np.ndarray],
                       boxes: Sequence[np.ndarray]) -> None:
    """Rows of (original with labels, synthetic-like image) pairs."""
    rows = [[
        _label(draw_boxes(img, b), 'original + labels'),
        _label(syn, 'synthetic-like')
    ] for img, syn, b in zip(images, synthetic, boxes)]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    cv2.imwrite(path, _tile(rows))
