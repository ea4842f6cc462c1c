# Copyright (c) mmsissi contributors. All rights reserved.
"""``mmcv._ext`` backed by torchvision, for an mmcv built without ops.

mmcv 2.1.0 ships only as source; its compiled ops (``mmcv._ext``) must be
built against the machine's torch and CUDA. A machine with torchvision can
instead install mmcv without ops (``MMCV_WITH_OPS=0``, pure Python, seconds)
and this file as ``mmcv/_ext.py``: the ops the Faster R-CNN detectors of
mmsissi call run on torchvision's kernels (CPU and CUDA), with mmcv's
calling convention (outputs written in place):

- ``nms(boxes, scores, iou_threshold, offset=0)`` -> kept indices;
- ``roi_align_forward`` / ``roi_align_backward`` (``pool_mode`` avg,
  ``aligned`` True or False, any ``sampling_ratio``).

Every other op of ``mmcv._ext`` exists (mmcv checks names at import) and
raises ``NotImplementedError`` when called, naming itself. Equivalence
with mmcv's compiled ops is tested in
``tests/test_tools/test_gpu_check.py``.
"""
import torch

__all__ = ['nms', 'roi_align_forward', 'roi_align_backward']


def _tv():
    """``torch.ops.torchvision`` (imported when an op first runs, so that
    ``import mmcv.ops`` works before torchvision is needed)."""
    import torchvision  # noqa: F401 - registers torch.ops.torchvision
    return torch.ops.torchvision


def nms(boxes, scores, iou_threshold=0.5, offset=0):
    """Indices kept by NMS, by decreasing score (mmcv's ``offset=0``)."""
    if offset != 0:
        raise NotImplementedError('mmcv._ext (torchvision): nms offset 1')
    if boxes.numel() == 0:
        return boxes.new_zeros(0, dtype=torch.long)
    return _tv().nms(boxes, scores, float(iou_threshold))


def _check_avg(pool_mode):
    if pool_mode != 1:
        raise NotImplementedError(
            'mmcv._ext (torchvision): roi_align pool_mode max')


def roi_align_forward(input, rois, output, argmax_y, argmax_x,
                      aligned_height=7, aligned_width=7, spatial_scale=1.0,
                      sampling_ratio=0, pool_mode=1, aligned=True):
    """mmcv's ``roi_align_forward``: fills ``output`` in place."""
    _check_avg(pool_mode)
    output.copy_(_tv().roi_align(
        input, rois, float(spatial_scale), int(aligned_height),
        int(aligned_width), int(sampling_ratio), bool(aligned)))


def roi_align_backward(grad_output, rois, argmax_y, argmax_x, grad_input,
                       aligned_height=7, aligned_width=7, spatial_scale=1.0,
                       sampling_ratio=0, pool_mode=1, aligned=True):
    """mmcv's ``roi_align_backward``: fills ``grad_input`` in place."""
    _check_avg(pool_mode)
    n, c, h, w = grad_input.shape
    grad_input.copy_(_tv()._roi_align_backward(
        grad_output, rois, float(spatial_scale), int(aligned_height),
        int(aligned_width), n, c, h, w, int(sampling_ratio), bool(aligned)))


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)

    def missing(*args, **kwargs):
        raise NotImplementedError(
            f'mmcv._ext (torchvision): op {name!r} is not provided; build '
            "mmcv's ops (tools/gpu_check.sh --build-mmcv)")

    missing.__name__ = name
    return missing
