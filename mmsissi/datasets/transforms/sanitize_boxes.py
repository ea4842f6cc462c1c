# Copyright (c) mmsissi contributors. All rights reserved.
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

from mmsissi.structures import MIN_BOX_SIZE, sanitize_boxes

__all__ = ['SanitizeBoxes']


@TRANSFORMS.register_module()
class SanitizeBoxes(BaseTransform):
    """Apply the project's box rule (:func:`mmsissi.structures.
    sanitize_boxes`) to the ground truth at this point of the pipeline.

    Put it last before ``PackDetInputs``: whatever synthesis, flips and
    affine warps left behind is clipped to ``img_shape``, and boxes under
    ``min_size`` pixels (or inverted, or non-finite) are dropped together
    with their labels, ignore flags and masks. Unlike mmdet's
    ``FilterAnnotations`` it clips first, and an image left without boxes
    is kept (it trains as background, as a target image without labels
    does).

    Required Keys: ``img_shape``, ``gt_bboxes`` (optional).
    Modified Keys: ``gt_bboxes``, ``gt_bboxes_labels``, ``gt_ignore_flags``,
    ``gt_masks``. Added Keys: ``num_dropped_boxes``.

    Args:
        min_size (float): Smallest width and height in pixels of the
            current image. Defaults to :data:`MIN_BOX_SIZE` (1).
    """

    KEYS = ('gt_bboxes_labels', 'gt_ignore_flags', 'gt_masks')

    def __init__(self, min_size: float = MIN_BOX_SIZE) -> None:
        self.min_size = float(min_size)

    def transform(self, results: dict) -> dict:
        """Clip and filter ``gt_bboxes``.

        Args:
            results (dict): Result dict.

        Returns:
            dict: The result dict.
        """
        gt = results.get('gt_bboxes')
        if gt is None:
            results['num_dropped_boxes'] = 0
            return results
        tensor = gt.tensor if hasattr(gt, 'tensor') else gt
        arr = tensor.numpy() if hasattr(tensor, 'numpy') else np.asarray(
            tensor)
        kept, keep = sanitize_boxes(arr, results['img_shape'][:2],
                                    self.min_size)
        if hasattr(gt, 'tensor'):
            new = gt[keep]
            new.tensor[:] = new.tensor.new_tensor(kept)
        else:
            new = kept.astype(np.asarray(arr).dtype)
        results['gt_bboxes'] = new
        for key in self.KEYS:
            if results.get(key) is not None:
                results[key] = results[key][keep]
        results['num_dropped_boxes'] = int((~keep).sum())
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(min_size={self.min_size})'
