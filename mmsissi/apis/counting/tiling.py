# Copyright (c) mmsissi contributors. All rights reserved.
"""Resolution and tiling of the images :class:`CellCounter` counts.

The detector was trained on images resized (keeping the ratio) so that
they fit the test pipeline's ``Resize`` ``scale`` ``S`` (e.g. 512): a
training image whose longer side is ``L`` was seen at ``S / L`` of its
native resolution. The *tile factor* ``F`` says how many image pixels
make one network pixel: a tile covers ``T = F * min(S)`` image pixels
and is resized by ``1 / F`` (the test pipeline's ``Resize`` with
``scale_factor=1/F`` instead of ``scale``).

* ``tile_factor='auto'`` (default) takes ``F`` from the training data:
  the median ``L / S`` of the images of the first training dataset
  (the target images, read from its COCO annotation file) of the
  training config saved in the checkpoint (MMEngine stores it in
  ``meta['cfg']``, with the run's ``--cfg-options``), else of the
  given config. New images from the same microscope are then fed at
  exactly the resolution the model learnt: e.g. 1022x1024 Usiigaci
  images at scale 512 give ``F = 2``, ``T = 1024``; the 512x512 demo
  crops at the CPU scale 256 give ``F = 2``, ``T = 512``. When no
  annotation file can be read, ``F = 1`` (with a note).
* ``tile_factor=1.0``: tiles of ``min(S)`` pixels at native resolution
  (the network's input size), for images whose pixel size is unknown.

Images whose longer side is at most ``single_max * T`` (1.25 T) go
through **one pass of the unchanged test pipeline** (its ``Resize`` to
``S``, small images are upscaled), exactly like ``tools/test.py``.
Larger images are cut into ``T x T`` tiles overlapping by at least
``overlap * T`` (default 20%; the tile starts are spread evenly from
the first to the last pixel, so every tile has the full size), and
detected tile by tile (``batch_size`` tiles per forward pass).
"""
import json
import math
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np

__all__ = [
    'tile_windows', 'get_test_scale', 'auto_tile_factor',
    'checkpoint_train_cfg'
]


def _axis_starts(length: int, tile: int, overlap: float) -> List[int]:
    """Tile start offsets along one axis (evenly spread, full tiles)."""
    if length <= tile:
        return [0]
    stride = tile * (1.0 - overlap)
    n = int(math.ceil((length - tile) / stride - 1e-9)) + 1
    return [int(round(v)) for v in np.linspace(0, length - tile, n)]


def tile_windows(height: int, width: int, tile: int,
                 overlap: float = 0.2) -> np.ndarray:
    """Overlapping tiles covering an image.

    Each axis longer than ``tile`` is covered by ``n`` tiles of ``tile``
    pixels, the fewest whose neighbours overlap by at least ``overlap *
    tile``; their starts are spread evenly from 0 to ``length - tile``. A
    shorter axis is covered by one tile of its own length.

    Args:
        height (int): Image height.
        width (int): Image width.
        tile (int): Tile side in pixels.
        overlap (float): Minimal overlap as a fraction of ``tile``, in
            ``[0, 1)``. Defaults to 0.2.

    Returns:
        np.ndarray: (K, 4) int64 windows ``x0, y0, x1, y1`` (exclusive
        ends), row by row.
    """
    if tile < 1:
        raise ValueError(f'tile must be >= 1 pixel, got {tile}')
    if not 0 <= overlap < 1:
        raise ValueError(f'overlap must be in [0, 1), got {overlap}')
    xs = _axis_starts(int(width), int(tile), overlap)
    ys = _axis_starts(int(height), int(tile), overlap)
    tw, th = min(tile, width), min(tile, height)
    return np.array([[x, y, x + tw, y + th] for y in ys for x in xs],
                    dtype=np.int64).reshape(-1, 4)


def _type_name(t: dict) -> str:
    return str(t.get('type', '')).split('.')[-1]


def _find_resize(pipeline) -> Optional[int]:
    for i, t in enumerate(pipeline):
        if _type_name(t) == 'Resize' and t.get('scale') is not None:
            return i
    return None


def get_test_scale(cfg) -> Tuple[Optional[Tuple[int, int]], bool]:
    """The ``scale`` of the config's test pipeline ``Resize``.

    Args:
        cfg (Config): The model config.

    Returns:
        tuple: ``((w, h) or None, keep_ratio)``.
    """
    from mmdet.utils import get_test_pipeline_cfg
    pipe = get_test_pipeline_cfg(cfg)
    i = _find_resize(pipe)
    if i is None:
        return None, True
    scale = pipe[i]['scale']
    if isinstance(scale, (int, float)):
        scale = (int(scale), int(scale))
    keep_ratio = bool(pipe[i].get('keep_ratio', False))
    return (int(scale[0]), int(scale[1])), keep_ratio


def _first_dataset(ds):
    while True:
        if 'datasets' in ds:
            ds = ds['datasets'][0]
        elif 'dataset' in ds:
            ds = ds['dataset']
        else:
            return ds


def auto_tile_factor(cfg) -> Tuple[Optional[float], str]:
    """Tile factor from the sizes of a config's training target images.

    The first dataset of ``cfg.train_dataloader`` (the target images in
    the SISSI configs) is read from its COCO annotation file (``width`` /
    ``height`` of its images); the factor is the median over the images of
    ``1 / r`` where ``r`` is the rescale ratio of the config's test
    ``Resize`` (``min(max(S) / max(h, w), min(S) / min(h, w))`` with
    ``keep_ratio``).

    Args:
        cfg (Config): A model config, ideally the one the model was trained
            with (see :func:`checkpoint_train_cfg`).

    Returns:
        tuple[float | None, str]: The factor (None when it cannot be
        derived) and a sentence saying where it comes from, or why not.
    """
    scale, keep_ratio = get_test_scale(cfg)
    if scale is None:
        return None, 'the test pipeline has no Resize scale'
    try:
        ds = _first_dataset(cfg.train_dataloader.dataset)
        ann = ds['ann_file']
        root = ds.get('data_root')
        if root and not osp.isabs(ann):
            ann = osp.join(root, ann)
        with open(ann) as f:
            images = json.load(f)['images']
        sizes = np.array([(int(i['height']), int(i['width']))
                          for i in images], np.float64).reshape(-1, 2)
    except Exception as e:  # noqa: BLE001 - any missing piece -> fallback
        reason = e.args[0] if isinstance(e, KeyError) and e.args else e
        return None, f'cannot read the training image sizes ({reason})'
    if not len(sizes) or (sizes <= 0).any():
        return None, f'no image sizes in {ann}'
    smax, smin = max(scale), min(scale)
    long_, short = sizes.max(1), sizes.min(1)
    if keep_ratio:
        ratio = np.minimum(smax / long_, smin / short)
    else:
        ratio = np.sqrt(scale[0] / sizes[:, 1] * scale[1] / sizes[:, 0])
    factor = float(np.median(1.0 / ratio))
    return factor, (f'median training image {int(np.median(long_))} px '
                    f'(longer side) / scale {smax} in {ann}')


def checkpoint_train_cfg(checkpoint: str):
    """The training config MMEngine saved in a checkpoint, if any.

    ``Runner`` checkpoints hold ``meta['cfg']``, the full config of the run
    (``--cfg-options`` and ``--cpu-scale`` included).

    Args:
        checkpoint (str): Checkpoint file (loaded without running code).

    Returns:
        Config | None: The config, or None when absent or unreadable.
    """
    from mmengine.config import Config

    from mmsissi.utils import UnsafeCheckpointError, safe_torch_load
    try:
        try:  # memory-mapped: only the meta data is really read
            ckpt = safe_torch_load(checkpoint, map_location='cpu', mmap=True)
        except RuntimeError:  # legacy (non-zip) format
            ckpt = safe_torch_load(checkpoint, map_location='cpu')
        text = (ckpt.get('meta') or {}).get('cfg')
        if not isinstance(text, str) or not text.strip():
            return None
        return Config.fromstring(text, '.py')
    except UnsafeCheckpointError:
        raise
    except Exception:  # noqa: BLE001 - no usable config -> None
        return None
