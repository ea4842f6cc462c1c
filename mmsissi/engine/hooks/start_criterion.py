# Copyright (c) mmsissi contributors. All rights reserved.
from typing import Optional

from mmengine.hooks import Hook

from .utils import get_start_epoch, publish_start_epoch

__all__ = ['StartCriterionHook']


class StartCriterionHook(Hook):
    """Base of the criteria deciding when label correction starts.

    A criterion looks at the run after every training epoch and, once it
    decides, publishes the start epoch (the number of completed epochs) in
    the runner's MessageHub under ``'sissi/start_epoch'``, which
    :class:`PseudoLabelHook` reads. The MessageHub is checkpointed, so a
    resumed run keeps the decision. Once started, correction stays on.

    Subclasses implement :meth:`decide` (return True to start now).

    Args:
        max_start_epoch (int, optional): Start at this epoch at the latest,
            whatever the criterion says. Defaults to None.
        min_start_epoch (int): Never start before this many epochs.
            Defaults to 1.
    """

    priority = 'LOW'  # after the checkpoint-independent NORMAL hooks

    def __init__(self, max_start_epoch: Optional[int] = None,
                 min_start_epoch: int = 1) -> None:
        self.max_start_epoch = max_start_epoch
        self.min_start_epoch = min_start_epoch

    def started(self, runner) -> bool:
        return get_start_epoch(runner) is not None

    def decide(self, runner, epoch: int) -> bool:  # pragma: no cover
        """Whether to start after ``epoch`` completed epochs."""
        raise NotImplementedError

    def after_train_epoch(self, runner) -> None:
        """Evaluate the criterion; publish the start epoch when it fires."""
        epoch = runner.epoch + 1  # completed epochs
        if self.started(runner):
            self.observe_after_start(runner, epoch)
            return
        fire = self.decide(runner, epoch)
        why = 'criterion met'
        if not fire and self.max_start_epoch is not None and \
                epoch >= self.max_start_epoch:
            fire, why = True, f'max_start_epoch={self.max_start_epoch}'
        if fire and epoch < self.min_start_epoch:
            runner.logger.info(
                f'{type(self).__name__}: criterion met after epoch {epoch} '
                f'but min_start_epoch={self.min_start_epoch}; waiting')
            return
        if fire:
            publish_start_epoch(runner, epoch)
            runner.logger.info(
                f'{type(self).__name__}: label correction starts after '
                f'epoch {epoch} ({why})')

    def observe_after_start(self, runner, epoch: int) -> None:
        """Called after each epoch once started (nothing by default)."""
