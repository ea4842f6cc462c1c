# Copyright (c) mmsissi contributors. All rights reserved.
from typing import Tuple

import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmdet.registry import TRANSFORMS

from mmsissi.fileio import read_raw_image, to_bgr_uint8

__all__ = ['LoadCellImageFromFile']


@TRANSFORMS.register_module()
class LoadCellImageFromFile(LoadImageFromFile):
    """Load a microscopy image of any common kind as uint8 BGR.

    ``LoadImageFromFile`` decodes with ``cv2.IMREAD_COLOR``, which turns a
    12/16-bit image into an almost black 8-bit one (it keeps the high
    byte) and fails on TIFFs OpenCV cannot decode. This loader reads 8- and
    16-bit (and float) images, grayscale, RGB and RGBA, PNG/TIFF/JPEG
    (:mod:`tifffile` fallback), and returns HxWx3 uint8 BGR:

    - 8-bit images are kept as they are (grayscale replicated to three
      channels, alpha dropped);
    - other bit depths are contrast-stretched to 8 bits between the
      ``percentiles`` of the image (0.1-99.9 %, the way the shared target
      images were made from their 16-bit originals), as grayscale.

    A missing, empty, corrupt or truncated file raises
    :class:`mmsissi.fileio.ImageReadError` naming the file.

    Args:
        percentiles (tuple[float, float]): Stretch for non-8-bit images.
            Defaults to (0.1, 99.9).
        to_float32 (bool): Convert to float32. Defaults to False.
    """

    def __init__(self,
                 percentiles: Tuple[float, float] = (0.1, 99.9),
                 to_float32: bool = False,
                 **kwargs) -> None:
        super().__init__(to_float32=to_float32, **kwargs)
        self.percentiles = tuple(percentiles)

    def transform(self, results: dict) -> dict:
        """Load ``results['img_path']``.

        Args:
            results (dict): Needs ``img_path``.

        Returns:
            dict: With ``img``, ``img_shape`` and ``ori_shape``.
        """
        img = to_bgr_uint8(read_raw_image(results['img_path']),
                           self.percentiles)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(percentiles={self.percentiles}, '
                f'to_float32={self.to_float32})')
