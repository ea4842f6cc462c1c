# Copyright (c) mmsissi contributors. All rights reserved.
from typing import Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS

__all__ = ['RandomGaussianBlur']


@TRANSFORMS.register_module()
class RandomGaussianBlur(BaseTransform):
    """Blur ``results['img']`` with a random odd Gaussian kernel.

    The counterpart of albumentations' ``GaussianBlur(blur_limit=(3, 7))``
    used by SISSI as an augmentation (not to be confused with the strong
    blur of :class:`SeamlessSynth`). Boxes are unchanged.

    Required Keys: ``img``. Modified Keys: ``img``.

    Args:
        kernel_range (tuple[int, int]): Smallest and largest kernel size;
            even sizes are rounded up to odd. Defaults to (3, 7).
        prob (float): Probability of blurring. Defaults to 0.5.
    """

    def __init__(self,
                 kernel_range: Tuple[int, int] = (3, 7),
                 prob: float = 0.5) -> None:
        assert 0 <= prob <= 1, f'prob must be in [0, 1], got {prob}'
        lo, hi = kernel_range
        assert 1 <= lo <= hi, f'invalid kernel_range {kernel_range}'
        self.kernel_range = (int(lo), int(hi))
        self.prob = prob

    @cache_randomness
    def _random_kernel(self):
        if np.random.rand() >= self.prob:
            return None
        k = np.random.randint(self.kernel_range[0], self.kernel_range[1] + 1)
        return k if k % 2 else k + 1

    def transform(self, results: dict) -> dict:
        """Blur the image.

        Args:
            results (dict): Result dict with ``img``.

        Returns:
            dict: The result dict.
        """
        k = self._random_kernel()
        if k is not None and k > 1:
            results['img'] = cv2.GaussianBlur(results['img'], (k, k), 0)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(kernel_range={self.kernel_range},'
                f' prob={self.prob})')
