# Copyright (c) mmsissi contributors. All rights reserved.
"""The detector of :func:`count_folder`: :class:`CellCounter` runs an
MMDetection model on images of any size (one pass of the config's test
pipeline, or tiles merged by :func:`merge_tile_detections`).

The test pipeline is the config's, with its image loader replaced by
``LoadImageFromNDArray`` and its annotation loader removed.
"""
import copy
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .merging import _finish, merge_tile_detections
from .tiling import (_find_resize, _first_dataset, _type_name,
                     auto_tile_factor, checkpoint_train_cfg, get_test_scale,
                     tile_windows)

__all__ = ['CountingWarning', 'CellCounter', 'init_counter']


class CountingWarning(UserWarning):
    """Issued for skipped files and settings worth a note."""


def _class_names(model) -> List[str]:
    """Class names matching the model's number of classes."""
    n = None
    try:
        n = int(model.roi_head.bbox_head.num_classes)
    except AttributeError:
        n = getattr(getattr(model, 'bbox_head', None), 'num_classes', None)
    candidates = [getattr(model, 'dataset_meta', None) or {}]
    cfg = getattr(model, 'cfg', None)
    if cfg is not None:
        try:
            ds = _first_dataset(cfg.test_dataloader.dataset)
            candidates.append(ds.get('metainfo') or {})
        except (AttributeError, KeyError):
            pass
    for meta in candidates:
        classes = meta.get('classes')
        if classes and (n is None or len(classes) == n):
            return [str(c) for c in classes]
    if n in (None, 1):
        return ['cell']
    return [f'class_{i}' for i in range(n)]


class CellCounter:
    """Detect cells in images of any size with an mmdet detector.

    Args:
        model (nn.Module): A detector from :func:`mmdet.apis.init_detector`
            (it carries its config as ``model.cfg``).
        tile_factor (float | str): Image pixels per network pixel in tiles
            (tile side ``T = F * min(S)``), or ``'auto'`` to derive it from
            the training images (:func:`auto_tile_factor`). Defaults to
            ``'auto'``.
        overlap (float): Minimal tile overlap, fraction of ``T``.
            Defaults to 0.2.
        tile (bool): Tile large images; False always runs one pass of the
            test pipeline (like ``tools/test.py``). Defaults to True.
        single_max (float): Images whose longer side is at most
            ``single_max * T`` take one pass. Defaults to 1.25.
        border_margin (float): Tolerance of the "touches an inner tile
            border" test, in network input pixels (``F`` times as many
            image pixels). Defaults to 2.0.
        merge_iou (float): IoU of two boxes of one cell across tiles.
            Defaults to 0.5.
        batch_size (int): Tiles per forward pass. Defaults to 4.
        train_cfg (Config, optional): The config the model was trained
            with (e.g. :func:`checkpoint_train_cfg`); ``'auto'`` tries its
            training images first, then those of ``model.cfg``.
    """

    def __init__(self,
                 model,
                 tile_factor: Union[float, str] = 'auto',
                 overlap: float = 0.2,
                 tile: bool = True,
                 single_max: float = 1.25,
                 border_margin: float = 2.0,
                 merge_iou: float = 0.5,
                 batch_size: int = 4,
                 train_cfg=None):
        from mmcv.transforms import Compose
        from mmdet.utils import get_test_pipeline_cfg
        from mmengine.registry import init_default_scope
        if not 0 <= overlap < 1:
            raise ValueError(f'overlap must be in [0, 1), got {overlap}')
        if batch_size < 1:
            raise ValueError(f'batch size must be >= 1, got {batch_size}')
        self.model = model
        self.cfg = model.cfg
        init_default_scope(self.cfg.get('default_scope', 'mmdet'))
        self.overlap = float(overlap)
        self.single_max = float(single_max)
        self.merge_iou = float(merge_iou)
        self.batch_size = int(batch_size)
        self.class_names = _class_names(model)

        pipe = []
        for t in copy.deepcopy(get_test_pipeline_cfg(self.cfg)):
            name = _type_name(t)
            if name.startswith('Load') and name.endswith('ImageFromFile'):
                t = dict(type='mmdet.LoadImageFromNDArray',
                         to_float32=t.get('to_float32', False))
            elif name.startswith('Load') and name.endswith('Annotations'):
                continue
            pipe.append(t)
        self.scale, self.keep_ratio = get_test_scale(self.cfg)
        self.single_pipeline = Compose(copy.deepcopy(pipe))

        self.tile = bool(tile) and self.scale is not None
        if tile and self.scale is None:
            warnings.warn(
                'the test pipeline has no Resize with a scale: every image '
                'is processed in one pass', CountingWarning)
        self.tile_factor_note = ''
        if tile_factor == 'auto':
            tile_factor, self.tile_factor_note = self._auto_factor(train_cfg)
        self.tile_factor = float(tile_factor)
        if not self.tile_factor > 0:
            raise ValueError(f'tile factor must be > 0, got {tile_factor}')
        self.tile_size = None
        self.tile_pipeline = None
        if self.tile:
            self.tile_size = max(
                1, int(round(self.tile_factor * min(self.scale))))
            i = _find_resize(pipe)
            resize = dict(pipe[i])
            resize.pop('scale')
            resize.update(scale_factor=1.0 / self.tile_factor,
                          keep_ratio=True)
            tile_pipe = copy.deepcopy(pipe)
            tile_pipe[i] = resize
            self.tile_pipeline = Compose(tile_pipe)
        self.border_margin = float(border_margin) * self.tile_factor

    def _auto_factor(self, train_cfg) -> Tuple[float, str]:
        """``'auto'``: the training config's images, then the model's."""
        reasons = []
        for cfg, where in ((train_cfg, 'training config saved in the '
                            'checkpoint'), (self.cfg, 'config')):
            if cfg is None:
                continue
            factor, note = auto_tile_factor(cfg)
            if factor is not None:
                return factor, f'{note}, from the {where}'
            reasons.append(note)
        reasons.append('using 1.0: pass --tile-factor')
        return 1.0, '; '.join(reasons)

    def describe(self) -> str:
        """One line on the resolution / tiling settings."""
        if self.scale is None:
            return 'one pass per image (no Resize scale in the test pipeline)'
        s = f'test scale {self.scale[0]}x{self.scale[1]}'
        if not self.tile:
            return s + '; one pass per image (tiling off)'
        note = f' ({self.tile_factor_note})' if self.tile_factor_note else ''
        return (f'{s}; tile factor {self.tile_factor:.3g}{note}; images '
                f'over {int(self.single_max * self.tile_size)} px are cut '
                f'into {self.tile_size} px tiles ({self.overlap:.0%} '
                f'overlap) fed at {1 / self.tile_factor:.3g}x')

    def windows(self, height: int, width: int) -> Optional[np.ndarray]:
        """Tiles of an image, or None for a single pass.

        Args:
            height (int): Image height.
            width (int): Image width.

        Returns:
            np.ndarray | None: (K, 4) windows (see :func:`tile_windows`).
        """
        if not self.tile or max(height, width) <= (self.single_max *
                                                   self.tile_size):
            return None
        return tile_windows(height, width, self.tile_size, self.overlap)

    def predict_windows(self, img: np.ndarray, windows: np.ndarray,
                        tiled: bool) -> List[Tuple[np.ndarray, np.ndarray,
                                                   np.ndarray]]:
        """Run the detector on crops of ``img``.

        Args:
            img (np.ndarray): (H, W, 3) ``uint8`` BGR image.
            windows (np.ndarray): (K, 4) crops ``x0, y0, x1, y1``.
            tiled (bool): Tiles (fed at ``1 / F``) or the whole image (the
                unchanged test pipeline).

        Returns:
            list[tuple]: Per window, ``(bboxes (N, 4), scores (N, ),
            labels (N, ))`` in the window's own coordinates.
        """
        import torch
        from mmengine.dataset import pseudo_collate
        pipeline = self.tile_pipeline if tiled else self.single_pipeline
        out = []
        for start in range(0, len(windows), self.batch_size):
            batch = []
            for x0, y0, x1, y1 in windows[start:start + self.batch_size]:
                crop = np.ascontiguousarray(img[y0:y1, x0:x1])
                batch.append(pipeline(dict(img=crop, img_id=0)))
            data = pseudo_collate(batch)
            with torch.inference_mode():
                results = self.model.test_step(data)
            for r in results:
                p = r.pred_instances
                out.append((p.bboxes.float().cpu().numpy(),
                            p.scores.float().cpu().numpy(),
                            p.labels.cpu().numpy()))
        return out

    def __call__(self, img: np.ndarray) -> Dict[str, Any]:
        """Detect cells in one image.

        Args:
            img (np.ndarray): (H, W, 3) ``uint8`` BGR image (see
                :func:`to_detector_image`).

        Returns:
            dict: ``bboxes`` (M, 4) float32 ``x1y1x2y2`` image pixels,
            ``scores`` (M, ), ``labels`` (M, ), by descending score, and
            ``windows`` (the tiles, or None for a single pass).
        """
        h, w = img.shape[:2]
        windows = self.windows(h, w)
        if windows is None:
            full = np.array([[0, 0, w, h]], np.int64)
            b, s, lab = self.predict_windows(img, full, tiled=False)[0]
            b = np.asarray(b, np.float32).reshape(-1, 4).copy()
            b[:, 0::2] = b[:, 0::2].clip(0, w)
            b[:, 1::2] = b[:, 1::2].clip(0, h)
            b, s, lab = _finish(b, s, lab)
        else:
            res = self.predict_windows(img, windows, tiled=True)
            b, s, lab = merge_tile_detections(
                windows, [r[0] for r in res], [r[1] for r in res],
                [r[2] for r in res], (h, w),
                border_margin=self.border_margin, merge_iou=self.merge_iou)
        return dict(bboxes=b, scores=s, labels=lab, windows=windows)


def init_counter(config,
                 checkpoint: str,
                 device: Optional[str] = None,
                 cpu_scale: bool = False,
                 cfg_options: Optional[dict] = None,
                 score_thr: Optional[float] = None,
                 **kwargs) -> CellCounter:
    """Build a :class:`CellCounter` from a config and a checkpoint.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str): Checkpoint file (trusted, see
            :mod:`mmsissi.utils.checkpoint`).
        device (str, optional): ``'cuda'``, ``'cuda:1'``, ``'cpu'``...
            Defaults to CUDA when available, else CPU.
        cpu_scale (bool): Apply :func:`mmsissi.utils.apply_cpu_scale` to
            the config first (for checkpoints of ``tools/train.py
            --cpu-scale``).
        cfg_options (dict, optional): Config overrides.
        score_thr (float, optional): When lower than the model's
            ``test_cfg.rcnn.score_thr``, the latter is lowered to it so
            that the counting threshold really applies.
        **kwargs: :class:`CellCounter` arguments; with ``tile_factor``
            ``'auto'`` the training config saved in the checkpoint is
            passed as ``train_cfg``.

    Returns:
        CellCounter: The counter (model in eval mode on ``device``).

    Raises:
        FileNotFoundError: When the config or the checkpoint is missing.
        ValueError: When the device is unavailable.
    """
    import torch
    from mmdet.apis import init_detector
    from mmengine.config import Config

    import mmsissi  # noqa: F401 (components, checkpoint loaders)
    from mmsissi.utils import apply_cpu_scale
    if isinstance(config, str):
        if not osp.isfile(config):
            raise FileNotFoundError(f'config not found: {config}')
        cfg = Config.fromfile(config)
    else:
        cfg = copy.deepcopy(config)
    if cpu_scale:
        cfg = apply_cpu_scale(cfg)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if str(device).startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device {device} requested but CUDA is not '
                         'available (use --device cpu)')
    if score_thr is not None:
        test_cfg = cfg.model.get('test_cfg') or {}
        # two-stage detectors: test_cfg.rcnn; one-stage: test_cfg itself
        for c in (test_cfg.get('rcnn'), test_cfg):
            if c is not None and c.get('score_thr', 0) > score_thr:
                c['score_thr'] = float(score_thr)
    if 'init_cfg' in cfg.model.get('backbone', {}):
        cfg.model.backbone.init_cfg = None  # weights come from checkpoint
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*palette.*')
        warnings.filterwarnings('ignore', message='.*dataset_meta.*')
        model = init_detector(cfg, checkpoint, device=device)
    if kwargs.get('tile_factor', 'auto') == 'auto' and \
            kwargs.get('tile', True):
        kwargs.setdefault('train_cfg', checkpoint_train_cfg(checkpoint))
    return CellCounter(model, **kwargs)
