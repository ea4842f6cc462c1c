# Copyright (c) mmsissi contributors. All rights reserved.
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS

__all__ = ['RandomChannelShuffle']


@TRANSFORMS.register_module()
class RandomChannelShuffle(BaseTransform):
    """Randomly permute the colour channels of ``results['img']``.

    The counterpart of albumentations' ``ChannelShuffle`` used by SISSI,
    without the albumentations dependency. Grayscale (HxW or HxWx1) images
    are left unchanged.

    Required Keys: ``img``. Modified Keys: ``img``.

    Args:
        prob (float): Probability of shuffling. Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5) -> None:
        assert 0 <= prob <= 1, f'prob must be in [0, 1], got {prob}'
        self.prob = prob

    @cache_randomness
    def _random_order(self, channels: int):
        if np.random.rand() >= self.prob:
            return None
        return np.random.permutation(channels)

    def transform(self, results: dict) -> dict:
        """Shuffle the channels.

        Args:
            results (dict): Result dict with ``img``.

        Returns:
            dict: The result dict.
        """
        img = results['img']
        if img.ndim != 3 or img.shape[2] < 2:
            return results
        order = self._random_order(img.shape[2])
        if order is not None:
            results['img'] = np.ascontiguousarray(img[..., order])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
