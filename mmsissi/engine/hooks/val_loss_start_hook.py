# Copyright (c) mmsissi contributors. All rights reserved.
from typing import Optional

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_reduce

from .start_criterion import StartCriterionHook
from .utils import unwrap_model

__all__ = ['ValLossStartHook']


@HOOKS.register_module()
class ValLossStartHook(StartCriterionHook):
    """Start label correction at the best validation loss on the source set
    (the paper's non-ADELE experiments; Cellpose validation loss there).

    After each training epoch the detector's loss (its own ``loss`` mode:
    this is a loss on clean *source* labels, not a measurement on the
    target) is averaged over ``dataloader`` (source validation images with
    their boxes). The best value and its epoch are tracked; correction
    starts once the loss has not improved for ``patience`` epochs, i.e.
    after epoch ``best + patience``, **with the current weights** (the run
    does not roll back to the best checkpoint: the detector keeps training
    on the target, and the pseudo labels of the next epoch come from the
    current model; CheckpointHook's ``save_best`` can keep the best weights
    if wanted). History and decision live in the MessageHub, so
    ``--resume`` keeps them.

    Args:
        dataloader (dict): Dataloader config of the source validation set
            (its pipeline must load boxes: ``LoadAnnotations`` +
            ``PackDetInputs`` without random augmentation).
        patience (int): Epochs without improvement before starting.
            Defaults to 3.
        min_delta (float): Smallest decrease that counts as improvement.
            Defaults to 0.
        max_start_epoch (int, optional): Latest start. Defaults to None.
        min_start_epoch (int): Earliest start. Defaults to 1.
    """

    HISTORY_KEY = 'sissi/val_loss'

    def __init__(self,
                 dataloader: dict,
                 patience: int = 3,
                 min_delta: float = 0.0,
                 max_start_epoch: Optional[int] = None,
                 min_start_epoch: int = 1) -> None:
        super().__init__(max_start_epoch, min_start_epoch)
        if patience < 1:
            raise ValueError(f'patience must be >= 1, got {patience}')
        self.dataloader_cfg = dataloader
        self.patience = patience
        self.min_delta = min_delta
        self._loader = None

    def before_run(self, runner) -> None:
        self._loader = runner.build_dataloader(self.dataloader_cfg)

    @torch.no_grad()
    def measure(self, runner) -> float:
        """Mean total loss over the validation loader (all ranks)."""
        model = unwrap_model(runner)
        was_training = model.training
        model.eval()
        total = torch.zeros(2, dtype=torch.float64)
        try:
            for data in self._loader:
                data = model.data_preprocessor(data, True)
                losses = model._run_forward(data, mode='loss')
                loss, _ = model.parse_losses(losses)
                total += torch.tensor([float(loss), 1.0], dtype=torch.float64)
        finally:
            model.train(was_training)
        all_reduce(total)
        return float(total[0] / max(total[1], 1))

    def decide(self, runner, epoch: int) -> bool:
        loss = self.measure(runner)
        hist = list(runner.message_hub.get_info(self.HISTORY_KEY) or [])
        hist = hist[:epoch - 1] + [float('nan')] * max(0, epoch - 1 -
                                                         len(hist))
        hist.append(loss)
        runner.message_hub.update_info(self.HISTORY_KEY, hist)
        vals = np.asarray(hist, np.float64)
        best_epoch, best = None, np.inf
        for k, v in enumerate(vals, start=1):
            if np.isfinite(v) and v < best - self.min_delta:
                best_epoch, best = k, v
        runner.logger.info(
            f'ValLossStartHook: epoch {epoch} source val loss {loss:.4f} '
            f'(best {best:.4f} at epoch {best_epoch})')
        return best_epoch is not None and epoch - best_epoch >= self.patience
