# Copyright (c) mmsissi contributors. All rights reserved.
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_reduce, barrier, is_main_process
from mmengine.hooks import EMAHook

from mmsissi.fileio import atomic_torch_save
from .start_criterion import StartCriterionHook
from .utils import eval_mode, unwrap_model

__all__ = ['ValLossStartHook', 'best_epoch']


def best_epoch(history, min_delta: float = 0.0):
    """Epoch (1-based) and value of the best loss of ``history``.

    A value counts as an improvement only when it is below the best so far
    by more than ``min_delta``; NaN/inf values (epochs not measured, or a
    diverged loss) never count.

    Returns:
        tuple[int | None, float]: ``(epoch, loss)``; ``(None, inf)`` when no
        value is finite.
    """
    best_k, best = None, np.inf
    for k, v in enumerate(np.asarray(history, np.float64), start=1):
        if np.isfinite(v) and v < best - min_delta:
            best_k, best = k, float(v)
    return best_k, best


@HOOKS.register_module()
class ValLossStartHook(StartCriterionHook):
    """Early stopping on the source validation loss, then label correction
    from the best weights (the paper's non-ADELE experiments; the Cellpose
    validation loss there).

    After each training epoch the detector's loss (its own ``loss`` mode:
    a loss on clean *source* labels, not a measurement on the target) is
    averaged over ``dataloader`` (source validation images with their
    boxes). Whenever it improves on the best so far by more than
    ``min_delta``, the model weights are saved to
    ``{work_dir}/val_loss_best.pth`` (atomically, rank 0). Once the loss has
    not improved for ``patience`` epochs (or ``max_start_epoch`` is
    reached), the **best weights are restored** into the model and
    correction starts from them: early stopping means the best model, not
    the model ``patience`` epochs later. The restore is logged, happens
    before this epoch's checkpoint is saved (so the checkpoint holds the
    restored weights), and works after ``--resume`` (the loss history and
    best epoch live in the MessageHub; the best weights in the work dir).
    Only the model weights are restored; the optimizer state goes on.

    Args:
        dataloader (dict): Dataloader config of the source validation set
            (its pipeline must load boxes: ``LoadAnnotations`` +
            ``PackDetInputs`` without random augmentation).
        patience (int): Epochs without improvement before starting.
            Defaults to 3.
        min_delta (float): Smallest decrease that counts as improvement.
            Defaults to 0.
        restore_best (bool): Restore the best weights at the start.
            Defaults to True.
        max_start_epoch (int, optional): Latest start. Defaults to None.
        min_start_epoch (int): Earliest start. Defaults to 1.
        record_only (bool): Only record when correction would start (see
            :class:`StartCriterionHook`). Defaults to False.
    """

    HISTORY_KEY = 'sissi/val_loss'
    BEST_KEY = 'sissi/val_loss_best'
    BEST_FILE = 'val_loss_best.pth'

    def __init__(self,
                 dataloader: dict,
                 patience: int = 3,
                 min_delta: float = 0.0,
                 restore_best: bool = True,
                 max_start_epoch: Optional[int] = None,
                 min_start_epoch: int = 1,
                 record_only: bool = False) -> None:
        super().__init__(max_start_epoch, min_start_epoch, record_only)
        if patience < 1:
            raise ValueError(f'patience must be >= 1, got {patience}')
        if min_delta < 0:
            raise ValueError(f'min_delta must be >= 0, got {min_delta}')
        self.dataloader_cfg = dataloader
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self._loader = None

    def before_run(self, runner) -> None:
        self._loader = runner.build_dataloader(self.dataloader_cfg)

    def best_path(self, runner) -> str:
        return osp.join(runner.work_dir, self.BEST_FILE)

    @torch.no_grad()
    def measure(self, runner) -> float:
        """Mean total loss over the validation loader (all ranks)."""
        model = unwrap_model(runner)
        total = torch.zeros(2, dtype=torch.float64)
        with eval_mode(model):
            for data in self._loader:
                data = model.data_preprocessor(data, True)
                losses = model._run_forward(data, mode='loss')
                loss, _ = model.parse_losses(losses)
                total += torch.tensor([float(loss), 1.0], dtype=torch.float64)
        all_reduce(total)
        return float(total[0] / max(total[1], 1))

    def decide(self, runner, epoch: int) -> bool:
        loss = self.measure(runner)
        hist = list(runner.message_hub.get_info(self.HISTORY_KEY) or [])
        hist = hist[:epoch - 1]
        hist += [float('nan')] * max(0, epoch - 1 - len(hist))
        hist.append(loss)
        runner.message_hub.update_info(self.HISTORY_KEY, hist)
        best_k, best = best_epoch(hist, self.min_delta)
        if best_k == epoch and self.restore_best:
            if is_main_process():
                atomic_torch_save(unwrap_model(runner).state_dict(),
                                  self.best_path(runner))
            runner.message_hub.update_info(
                self.BEST_KEY, dict(epoch=epoch, loss=loss))
        runner.logger.info(
            f'ValLossStartHook: epoch {epoch} source val loss {loss:.4f} '
            f'(best {best:.4f} at epoch {best_k})')
        return best_k is not None and epoch - best_k >= self.patience

    def on_start(self, runner, epoch: int, cause: str) -> None:
        """Restore the weights of the best validation loss."""
        if not self.restore_best:
            return
        best = runner.message_hub.get_info(self.BEST_KEY)
        if best is None:
            runner.logger.warning(
                'ValLossStartHook: no finite source validation loss so far; '
                'correction starts from the current weights')
            return
        if int(best['epoch']) == epoch:
            runner.logger.info(
                f'ValLossStartHook: the best source val loss is this epoch '
                f'({epoch}); correction starts from the current weights')
            return
        path = self.best_path(runner)
        barrier()  # rank 0 wrote it; every rank loads the same file
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'ValLossStartHook: {path} (the weights of the best source '
                f'validation loss, epoch {best["epoch"]}) is missing; it is '
                'written into the work dir of the run and needed when '
                'correction starts (resume in the same work dir)')
        state = torch.load(path, map_location='cpu', weights_only=True)
        unwrap_model(runner).load_state_dict(state)
        for hook in getattr(runner, 'hooks', ()):  # an EMA restarts there
            if isinstance(hook, EMAHook) and hasattr(hook, 'ema_model'):
                hook.ema_model.module.load_state_dict(state)
        runner.logger.info(
            f'ValLossStartHook: restored the weights of epoch '
            f'{best["epoch"]} (source val loss {best["loss"]:.4f}) from '
            f'{path}; correction starts from them after epoch {epoch}')
