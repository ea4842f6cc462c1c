# Copyright (c) mmsissi contributors. All rights reserved.
from typing import List, Optional

import numpy as np
import torch
from mmdet.registry import HOOKS, METRICS

from mmsissi.evaluation.functional import (adele_start_epoch,
                                           curve_derivative, curve_func,
                                           fit_curve)
from .start_criterion import StartCriterionHook
from .utils import (check_same_images, eval_mode, target_dataset,
                    unwrap_model)

__all__ = ['ADELEHook', 'curve_func', 'curve_derivative', 'fit_curve',
           'adele_start_epoch']


@HOOKS.register_module()
class ADELEHook(StartCriterionHook):
    """Start label correction at the end of early learning (ADELE).

    After each training epoch the model runs in **inference mode**
    (``predict``; never loss-mode heads, which would inject ground-truth
    boxes as proposals) over ``dataloader`` (the target training images in
    test mode with their **initial** weak labels as annotation file: the
    config's ``adele_dataloader``), and its AP50 against those labels is
    recorded. ``f(t) = a (1 -
    exp(-t^b / c))`` is fitted to that history (ADELE's weighting and
    bounds) and correction starts at the first completed epoch ``t`` where
    the fitted curve's derivative has changed by ``threshold`` relative to
    epoch 1: ``|f'(t) - f'(1)| / |f'(1)| >= threshold``.

    Too few points, a failed fit, or a flat curve are logged and simply do
    not start correction (``max_start_epoch`` caps the wait). The AP50
    history, the fit and the start epoch live in the MessageHub, so they
    are saved in checkpoints and restored by ``--resume``.
    :class:`SISSIFigureHook` draws them (the paper's Fig. 7) and writes the
    curve's CSV; this hook draws nothing.

    The measurement is a single-view pass (one of the 20 views the
    pseudo-label pass makes); after the start it is only repeated when
    ``measure_after_start`` is set, so correction epochs pay no extra pass.

    Args:
        dataloader (dict): Dataloader config over the target training
            images, test pipeline, annotation file = the initial weak labels
            (``adele_dataloader`` in the dataset base).
        threshold (float): Relative change of the derivative that ends
            early learning. Defaults to 0.9.
        min_points (int): Epochs of history needed before fitting.
            Defaults to 3.
        warmup_epochs (int): The first epochs, trained under the learning
            rate warm-up, are measured and plotted but left out of the fit
            (their AP50 bends the early curve). Defaults to 0.
        dataset_index (int): Target set index in the training datasets
            (checked to hold the same images as ``dataloader``).
        max_dets (int): Detections per image for AP50. Defaults to 1000.
        measure_after_start (bool): Keep measuring after the start (for the
            full Fig. 7 curve). Defaults to False.
        max_start_epoch (int, optional): Latest start. Defaults to None.
        min_start_epoch (int): Earliest start. Defaults to 1.
        record_only (bool): Only record when correction would start (see
            :class:`StartCriterionHook`). Defaults to False.
    """

    HISTORY_KEY = 'sissi/adele_ap50'
    FIT_KEY = 'sissi/adele_fit'

    def __init__(self,
                 dataloader: dict,
                 threshold: float = 0.9,
                 min_points: int = 3,
                 warmup_epochs: int = 0,
                 dataset_index: int = 0,
                 max_dets: int = 1000,
                 measure_after_start: bool = False,
                 max_start_epoch: Optional[int] = None,
                 min_start_epoch: int = 1,
                 record_only: bool = False) -> None:
        super().__init__(max_start_epoch, min_start_epoch, record_only)
        self.threshold = threshold
        self.min_points = max(3, int(min_points))
        if warmup_epochs < 0:
            raise ValueError(f'warmup_epochs must be >= 0, got '
                             f'{warmup_epochs}')
        self.warmup_epochs = int(warmup_epochs)
        self.dataloader_cfg = dataloader
        self.dataset_index = dataset_index
        self.max_dets = max_dets
        self.measure_after_start = measure_after_start
        self._loader = None

    # ---------------------------------------------------------- measuring
    def before_run(self, runner) -> None:
        """Build the measuring loader; check it holds the target images."""
        self._loader = runner.build_dataloader(self.dataloader_cfg)
        check_same_images(self._loader.dataset,
                          target_dataset(runner, self.dataset_index),
                          type(self).__name__)

    @torch.no_grad()
    def measure(self, runner) -> float:
        """AP50 of the model (inference mode) against the initial labels
        (the loader's annotation file)."""
        loader = self._loader
        metric = METRICS.build(
            dict(type='PerReaderCocoMetric',
                 readers=dict(weak=loader.dataset.ann_file),
                 max_dets=self.max_dets, prefix='adele'))
        metric.dataset_meta = loader.dataset.metainfo
        model = unwrap_model(runner)
        with eval_mode(model):
            for data in loader:
                metric.process(data, [
                    ds.to_dict() for ds in model.test_step(data)
                ])
        return float(metric.evaluate(len(loader.dataset))['adele/weak/AP50'])

    # ------------------------------------------------------------ deciding
    def history(self, runner) -> List[float]:
        return list(runner.message_hub.get_info(self.HISTORY_KEY) or [])

    def _record(self, runner, epoch: int) -> List[float]:
        ap50 = self.measure(runner)
        hist = self.history(runner)[:epoch - 1]
        hist += [float('nan')] * (epoch - 1 - len(hist))
        hist.append(ap50)
        runner.message_hub.update_info(self.HISTORY_KEY, hist)
        runner.logger.info(f'ADELEHook: epoch {epoch} AP50 vs initial weak '
                           f'labels = {ap50:.4f}')
        return hist

    def decide(self, runner, epoch: int) -> bool:
        """Measure, fit, and start if early learning has ended."""
        hist = self._record(runner, epoch)
        fire = False
        t = np.arange(1, len(hist) + 1, dtype=np.float64)
        ok = np.isfinite(hist) & (t > self.warmup_epochs)
        if ok.sum() < self.min_points:
            runner.logger.info(
                f'ADELEHook: {int(ok.sum())} AP50 point(s) after the '
                f'{self.warmup_epochs} warm-up epoch(s), {self.min_points} '
                'needed before fitting')
        else:
            try:
                params = fit_curve(t[ok], np.asarray(hist)[ok])
            except (RuntimeError, ValueError) as e:
                runner.logger.warning(f'ADELEHook: curve fit failed ({e}); '
                                      'correction not started')
            else:
                runner.message_hub.update_info(self.FIT_KEY, list(params))
                # predicted end of early learning, over the whole schedule
                horizon = max(int(runner.max_epochs), epoch)
                knee = adele_start_epoch(params, horizon, self.threshold)
                runner.logger.info(
                    'ADELEHook: fit a=%.4f b=%.4f c=%.4f, derivative '
                    'change reaches %.2f at epoch %s' %
                    (*params, self.threshold, knee))
                fire = knee is not None and epoch >= knee
        return fire

    def observe_after_start(self, runner, epoch: int) -> None:
        if self.measure_after_start:
            self._record(runner, epoch)
