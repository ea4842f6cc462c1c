# Copyright (c) mmsissi contributors. All rights reserved.
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmsissi.fileio import atomic_dump_json
from .utils import CAUSE_KEY, get_start_epoch, publish_start_epoch

__all__ = ['StartCriterionHook']


class StartCriterionHook(Hook):
    """Base of the criteria deciding when label correction starts.

    A criterion looks at the run after every training epoch and, once it
    decides, publishes the start epoch (the number of completed epochs) in
    the runner's MessageHub under ``'sissi/start_epoch'``, which
    :class:`PseudoLabelHook` reads, and its cause under
    ``'sissi/start_cause'``: ``'criterion'`` when the criterion itself
    fired, ``'cap'`` when ``max_start_epoch`` forced it. Both are logged and
    written to ``{work_dir}/sissi_start.json`` (read by
    ``benchmarks/table1.py``). The MessageHub is checkpointed, so a resumed
    run keeps the decision. Once started, correction stays on.

    Subclasses implement :meth:`decide` (return True to start now) and may
    override :meth:`on_start` (e.g. restore the best weights).

    With ``record_only=True`` the criterion only *records* when it would
    start: it decides as usual, but publishes nothing and does not call
    :meth:`on_start`, so training goes on unchanged. The decision is logged
    and written to ``{work_dir}/sissi_start_{ClassName}.json`` and kept in
    the MessageHub under ``'sissi/recorded_start/{ClassName}'``. Several
    criteria can so be recorded in one supervised run and correction rows
    branched from the checkpoint where each fires
    (``benchmarks/noisy_labels.py``).

    Args:
        max_start_epoch (int, optional): Start at this epoch at the latest,
            whatever the criterion says. Defaults to None.
        min_start_epoch (int): Never start before this many epochs.
            Defaults to 1.
        record_only (bool): Record the start instead of publishing it.
            Defaults to False.
    """

    priority = 'LOW'  # after the NORMAL hooks, before CheckpointHook

    START_FILE = 'sissi_start.json'

    def __init__(self, max_start_epoch: Optional[int] = None,
                 min_start_epoch: int = 1,
                 record_only: bool = False) -> None:
        self.max_start_epoch = max_start_epoch
        self.min_start_epoch = min_start_epoch
        self.record_only = bool(record_only)

    @property
    def record_key(self) -> str:
        return f'sissi/recorded_start/{type(self).__name__}'

    def started(self, runner) -> bool:
        if self.record_only:
            return runner.message_hub.get_info(self.record_key) is not None
        return get_start_epoch(runner) is not None

    def decide(self, runner, epoch: int) -> bool:  # pragma: no cover
        """Whether to start after ``epoch`` completed epochs."""
        raise NotImplementedError

    def on_start(self, runner, epoch: int, cause: str) -> None:
        """Called once when correction starts, before the start is
        published and before this epoch's checkpoint is saved."""

    def after_train_epoch(self, runner) -> None:
        """Evaluate the criterion; publish the start epoch when it fires."""
        epoch = runner.epoch + 1  # completed epochs
        if self.started(runner):
            self.observe_after_start(runner, epoch)
            return
        fire = self.decide(runner, epoch)
        cause = 'criterion'
        if not fire and self.max_start_epoch is not None and \
                epoch >= self.max_start_epoch:
            fire, cause = True, 'cap'
        if fire and epoch < self.min_start_epoch:
            runner.logger.info(
                f'{type(self).__name__}: criterion met after epoch {epoch} '
                f'but min_start_epoch={self.min_start_epoch}; waiting')
            return
        if not fire:
            return
        why = ('criterion met' if cause == 'criterion' else
               f'cap: max_start_epoch={self.max_start_epoch}')
        record = dict(epoch=epoch, cause=cause,
                      criterion=type(self).__name__,
                      max_start_epoch=self.max_start_epoch)
        if self.record_only:
            runner.message_hub.update_info(self.record_key, record)
            runner.logger.info(
                f'{type(self).__name__} (record only): label correction '
                f'would start after epoch {epoch} ({why}); training goes on '
                'unchanged')
            name = f'sissi_start_{type(self).__name__}.json'
        else:
            self.on_start(runner, epoch, cause)
            publish_start_epoch(runner, epoch)
            runner.message_hub.update_info(CAUSE_KEY, cause)
            runner.logger.info(
                f'{type(self).__name__}: label correction starts after '
                f'epoch {epoch} ({why})')
            name = self.START_FILE
        if is_main_process():
            atomic_dump_json(record, osp.join(runner.work_dir, name))

    def observe_after_start(self, runner, epoch: int) -> None:
        """Called after each epoch once started (nothing by default)."""
