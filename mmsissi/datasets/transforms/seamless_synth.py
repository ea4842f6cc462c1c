# Copyright (c) mmsissi contributors. All rights reserved.
"""Synthetic-like images for SISSI: blur, then Poisson-clone the labels back.

Once pseudo labels exist, SISSI trains on *synthetic-like* images: the image
is Gaussian-blurred and the labelled cells (the current boxes) are cloned
back onto the blurred copy with Poisson image editing using mixed gradients
(OpenCV's ``cv2.seamlessClone(..., cv2.MIXED_CLONE)``). Unlabelled cells melt
into the blurred background and stop being punished as background.

The clone itself (the original one-``cv2.seamlessClone`` reference and the
faster DST solve used by default) is in :mod:`.seamless_clone`.
"""
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS

from .seamless_clone import (_boxes_to_numpy, _channels, _equal_channels,
                             boxes_to_mask, gaussian_blur,
                             seamless_synth_fast, seamless_synth_reference)

__all__ = ['SeamlessSynth', 'auto_blur']

#: ``(kernel size, sigma)`` of the named blur settings. ``sigma=0`` lets
#: OpenCV derive it from the kernel (``0.3 * ((k - 1) / 2 - 1) + 0.8``,
#: i.e. 3.5 for 21). The paper's strong setting reads "(12, 32)", which is
#: no valid (odd) kernel size; we read it as sigma 12 with a 32-px kernel
#: radius, i.e. a 65x65 kernel (+-2.7 sigma, a proper Gaussian).
#: ``'reference'`` is the only blur in the authors' code: 71x71, sigma 30.
BLUR_PRESETS = {'weak': (21, 0.0), 'strong': (65, 12.0),
                'reference': (71, 30.0)}

#: The blur of standalone use (``always=True``, nothing names a blur).
DEFAULT_BLUR = 'weak'

#: ``'auto'``: the strong blur scaled to the cells of each image. The
#: paper's strong sigma 12 was set for 1024x1024 phase-contrast fibroblasts
#: whose median box side (sqrt(w h)) is 64 px (Usiigaci manual masks), so
#: sigma = 12 / 64 of the image's median labelled box side, kernel +-2.7
#: sigma as in 'strong' (DSB nuclei, median 21 px: sigma 3.9, 23x23).
AUTO_SIGMA_PER_SIDE = 12.0 / 64.0
#: What :meth:`SeamlessSynth.parse_blur` returns for ``'auto'``.
AUTO = (-1, -1.0)


def auto_blur(bboxes) -> Tuple[int, float]:
    """``(kernel, sigma)`` of ``'auto'`` for an image's boxes."""
    b = _boxes_to_numpy(bboxes)
    side = np.sqrt(np.clip(b[:, 2] - b[:, 0], 0, None) *
                   np.clip(b[:, 3] - b[:, 1], 0, None))
    side = side[side > 0]
    sigma = AUTO_SIGMA_PER_SIDE * float(np.median(side)) if len(side) else 1.0
    sigma = max(sigma, 0.5)
    return 2 * int(round(2.7 * sigma)) + 1, round(sigma, 3)


@TRANSFORMS.register_module()
class SeamlessSynth(BaseTransform):
    """Replace the image by a SISSI synthetic-like image.

    The image is Gaussian-blurred and the labelled cells (``gt_bboxes``)
    are cloned back with mixed-gradient Poisson editing, so that cells
    without a label fade into the blurred background. Boxes are unchanged.

    The transform is a no-op (``results['img']`` stays the very same array)
    unless synthesis is switched on, by ``always=True`` or by a truthy
    ``results['sissi_synth']`` (set in the data info by
    :class:`SISSITargetDataset` once SISSI's label correction has started,
    to the blur the row's ``PseudoLabelHook(synthesize=...)`` names, e.g.
    ``'strong'``); it is also a no-op when there is no usable box or when
    the random draw fails ``prob``.

    **One place for the blur.** In a training pipeline leave ``blur``
    unset: the blur is the one the row's ``PseudoLabelHook`` names. A
    ``blur`` given here as well must agree with it, or the transform raises
    (a row never trains with another blur than its config says).

    Put it **before** ``Resize``: synthesis happens at the image's native
    resolution, as in the authors' code, so the blur's size in pixels means
    the same whatever the training scale.

    Required keys: ``img``, ``gt_bboxes`` (``HorizontalBoxes`` or an
    ``(N, 4)`` xyxy array). Optional key: ``sissi_synth``. Modified key:
    ``img`` (same shape and dtype; HxWx3 BGR, HxW or HxWx1 grey, any dtype).

    Args:
        blur (str | tuple, optional): ``'weak'`` (21x21 kernel, sigma
            derived by OpenCV = 3.5), ``'strong'`` (65x65 kernel, sigma 12:
            the paper's "(12, 32)" read as sigma 12 with a 32-px radius),
            ``'reference'`` (71x71, sigma 30, the authors' code),
            ``'auto'`` (the strong blur scaled to the median labelled box
            of each image, see :data:`AUTO_SIGMA_PER_SIDE`), or
            ``(kernel, sigma)`` (odd kernel; ``sigma=0`` derives it from the
            kernel, ``kernel=0`` derives the kernel from sigma). Defaults to
            None: the blur ``results['sissi_synth']`` names, or ``'weak'``
            when nothing names one (standalone use).
        prob (float): Probability of applying when switched on.
            Defaults to 1.0.
        always (bool): Apply regardless of ``results['sissi_synth']``.
            Defaults to False.
        min_box_size (float): Boxes whose clipped width or height is below
            this (px) are skipped. Defaults to 2.
        pad_px (float): The clone mask is the union of the boxes, each
            grown on every side by ``pad_px + pad_ratio * side`` pixels (the
            labels themselves are unchanged). The mixed-gradient clone
            erodes its mask by 3 px and takes source gradients only inside
            it, so with tight boxes (0, 0: the authors' code) the outer
            3 px of each cell, where its edge is, are not cloned back:
            measured on DSB nuclei with the strong blur, a labelled cell
            keeps 0.14 of its contrast. Defaults to 0.
        pad_ratio (float): See ``pad_px``. Defaults to 0.
        margin (int): ``'fast'`` method only: pixels kept around each group
            of cells solved on its own window. Defaults to 48.
        method (str): ``'fast'`` (:func:`seamless_synth_fast`) or
            ``'opencv'`` (:func:`seamless_synth_reference`, one
            ``cv2.seamlessClone`` of the whole mask, several times slower;
            uint8 grey or 3-channel only, other images use ``'fast'``).
            Defaults to ``'fast'``.
    """

    def __init__(self,
                 blur: Union[str, Sequence[float], None] = None,
                 prob: float = 1.0,
                 always: bool = False,
                 min_box_size: float = 2,
                 margin: int = 48,
                 method: str = 'fast',
                 pad_px: float = 0.0,
                 pad_ratio: float = 0.0) -> None:
        self.ksize, self.sigma = self.parse_blur(
            DEFAULT_BLUR if blur is None else blur)
        self.blur = blur
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if method not in ('fast', 'opencv'):
            raise ValueError(
                f"method must be 'fast' or 'opencv', got {method!r}")
        if margin < 0:
            raise ValueError(f'margin must be >= 0, got {margin}')
        if not (pad_px >= 0 and pad_ratio >= 0):
            raise ValueError('pad_px and pad_ratio must be >= 0, got '
                             f'{pad_px}, {pad_ratio}')
        self.pad_px, self.pad_ratio = float(pad_px), float(pad_ratio)
        self.prob = float(prob)
        self.always = bool(always)
        self.min_box_size = min_box_size
        self.margin = int(margin)
        self.method = method

    @staticmethod
    def parse_blur(blur) -> Tuple[int, float]:
        """``(kernel, sigma)`` of a preset name or pair; ValueError if
        invalid."""
        if isinstance(blur, str):
            if blur == 'auto':
                return AUTO
            if blur not in BLUR_PRESETS:
                raise ValueError(f'unknown blur {blur!r}, expected one of '
                                 f"{sorted(BLUR_PRESETS) + ['auto']} or "
                                 '(kernel, sigma)')
            return BLUR_PRESETS[blur]
        try:
            ksize, sigma = blur
        except (TypeError, ValueError):
            raise ValueError('blur must be a preset name or a (kernel, '
                             f'sigma) pair, got {blur!r}') from None
        ksize, sigma = int(ksize), float(sigma)
        if sigma < 0 or ksize < 0 or (ksize > 0 and ksize % 2 == 0) or (
                ksize == 0 and sigma == 0):
            raise ValueError('blur kernel must be odd (or 0 with sigma > 0) '
                             f'and sigma >= 0, got {blur!r}')
        return ksize, sigma

    @cache_randomness
    def _random_apply(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def synthesize(self, img: np.ndarray, bboxes,
                   blur: Union[str, Sequence[float], None] = None
                   ) -> np.ndarray:
        """Return the synthetic image of ``img`` for ``bboxes``.

        Args:
            img (np.ndarray): The image.
            bboxes: (N, 4) xyxy boxes.
            blur (str | tuple, optional): Blur for this call instead of the
                configured one.
        """
        ksize, sigma = (self.ksize, self.sigma) if blur is None else \
            self.parse_blur(blur)
        chans = _channels(img)
        if chans.shape[2] > 1 and _equal_channels(chans):
            # grey image loaded as BGR: blur and clone one channel only
            grey = self._synthesize(np.ascontiguousarray(chans[..., 0]),
                                    bboxes, ksize, sigma)
            if grey.dtype in (np.uint8, np.uint16, np.int16, np.float32,
                              np.float64):
                out = cv2.merge([grey] * chans.shape[2])
            else:
                out = np.repeat(grey[..., None], chans.shape[2], axis=2)
            return out.reshape(img.shape)
        return self._synthesize(img, bboxes, ksize, sigma)

    def clone_boxes(self, bboxes) -> np.ndarray:
        """The boxes whose union is the clone mask: ``bboxes`` grown by
        ``pad_px + pad_ratio * side`` on every side (boxes too small for
        ``min_box_size`` stay as they are, so they are still skipped)."""
        b = _boxes_to_numpy(bboxes).copy()
        if not (self.pad_px or self.pad_ratio) or not len(b):
            return b
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        ok = (w >= self.min_box_size) & (h >= self.min_box_size)
        px = np.where(ok, self.pad_px + self.pad_ratio * w, 0)
        py = np.where(ok, self.pad_px + self.pad_ratio * h, 0)
        return b + np.stack([-px, -py, px, py], 1)

    def _synthesize(self, img: np.ndarray, bboxes, ksize: int,
                    sigma: float) -> np.ndarray:
        if (ksize, sigma) == AUTO:
            ksize, sigma = auto_blur(bboxes)
        blurred = gaussian_blur(img, ksize, sigma)
        bboxes = self.clone_boxes(bboxes)
        if (self.method == 'opencv' and img.dtype == np.uint8
                and _channels(img).shape[2] in (1, 3)):
            return seamless_synth_reference(img, bboxes, blurred,
                                            self.min_box_size)
        return seamless_synth_fast(img, bboxes, blurred, self.min_box_size,
                                   self.margin)

    def transform(self, results: dict) -> dict:
        """Apply the transform (see the class docstring)."""
        switch = results.get('sissi_synth', False)
        if not (self.always or switch):
            return results
        # the label store names the blur of the experiment (the row's hook)
        blur = switch if isinstance(switch, (str, list, tuple)) else None
        if blur is not None and self.blur is not None and \
                self.parse_blur(blur) != (self.ksize, self.sigma):
            raise ValueError(
                f'SeamlessSynth: the pipeline says blur={self.blur!r} but the '
                f'label store (PseudoLabelHook(synthesize=...)) says '
                f'{blur!r}; configure the blur in one place (leave the '
                'pipeline transform without blur)')
        img = results.get('img')
        if img is None:
            return results
        bboxes = _boxes_to_numpy(results.get('gt_bboxes'))
        if len(bboxes) == 0:
            return results
        if not self._random_apply():
            return results
        if not boxes_to_mask(bboxes, img.shape[:2], self.min_box_size).any():
            return results
        results['img'] = self.synthesize(img, bboxes, blur)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(blur={self.blur!r}, '
                f'prob={self.prob}, always={self.always}, '
                f'min_box_size={self.min_box_size}, margin={self.margin}, '
                f"method='{self.method}', pad_px={self.pad_px}, "
                f'pad_ratio={self.pad_ratio})')
