# Copyright (c) mmsissi contributors. All rights reserved.
"""A hook recording the time after each training iteration (CUDA
synchronised), for ``tools/gpu_check.py``'s ``train`` step."""
import time

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook

__all__ = ['GPUCheckTimerHook', 'TIMES']

#: ``time.perf_counter()`` after each iteration of this process's run
TIMES = []


@HOOKS.register_module()
class GPUCheckTimerHook(Hook):
    """Append the time after each training iteration to :data:`TIMES`."""

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        TIMES.append(time.perf_counter())
