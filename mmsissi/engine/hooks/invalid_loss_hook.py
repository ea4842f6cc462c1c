# Copyright (c) mmsissi contributors. All rights reserved.
import math
import os.path as osp
from typing import Optional

from mmdet.engine.hooks import CheckInvalidLossHook
from mmdet.registry import HOOKS

__all__ = ['InvalidLossHook']


@HOOKS.register_module()
class InvalidLossHook(CheckInvalidLossHook):
    """Stop training with a clear error when the loss becomes NaN or inf.

    mmdet's :class:`CheckInvalidLossHook` asserts with an empty message
    every 50 iterations. This one checks every ``interval`` iterations
    (default: each) and raises ``FloatingPointError`` naming the epoch,
    iteration, the loss terms and the last checkpoint, which is intact:
    training can be resumed from it (``--resume``) after lowering the
    learning rate or fixing the data. Nothing already written is touched.

    Args:
        interval (int): Checking interval in iterations. Defaults to 1.
    """

    def __init__(self, interval: int = 1) -> None:
        super().__init__(interval=interval)

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        loss = float(outputs['loss'])
        if math.isfinite(loss):
            return
        terms = ', '.join(f'{k}={float(v):.4g}' for k, v in outputs.items()
                          if k.startswith('loss'))
        last = osp.join(runner.work_dir, 'last_checkpoint')
        ckpt = open(last).read().strip() if osp.exists(last) else 'none yet'
        raise FloatingPointError(
            f'loss is {loss} at epoch {runner.epoch + 1}, iteration '
            f'{runner.iter + 1} ({terms}). The last checkpoint ({ckpt}) is '
            'intact: lower the learning rate or check the labels, then '
            'resume with --resume.')
