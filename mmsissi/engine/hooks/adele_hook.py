# Copyright (c) mmsissi contributors. All rights reserved.
import csv
import os.path as osp
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet.registry import HOOKS, METRICS
from mmengine.dist import is_main_process
from scipy.optimize import OptimizeWarning, curve_fit

from .start_criterion import StartCriterionHook
from .utils import build_target_loader, get_start_epoch, unwrap_model

__all__ = ['ADELEHook', 'curve_func', 'curve_derivative', 'fit_curve',
           'adele_start_epoch']


def curve_func(t, a, b, c):
    """ADELE's early-learning curve ``f(t) = a (1 - exp(-t^b / c))``."""
    return a * (1 - np.exp(-np.power(t, b) / c))


def curve_derivative(t, a, b, c):
    """``f'(t)``."""
    t = np.asarray(t, np.float64) + 1e-6
    return a * b / c * np.exp(-np.power(t, b) / c) * np.power(t, b - 1)


def fit_curve(epochs: Sequence[float], values: Sequence[float]
              ) -> Tuple[float, float, float]:
    """Fit ``f`` to ``values`` at ``epochs`` as ADELE does: bounds
    ``a, b`` in [0, 1], ``c > 0``, late points weighted more (sigma falls
    geometrically from 1 to 0.1).

    Raises:
        RuntimeError: If the fit does not converge.
    """
    x = np.asarray(epochs, np.float64)
    y = np.asarray(values, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', OptimizeWarning)
        popt, _ = curve_fit(
            curve_func, x, y, p0=(1.0, 1.0, 1.0), method='trf',
            sigma=np.geomspace(1, 0.1, len(y)), absolute_sigma=True,
            bounds=([0, 0, 1e-8], [1, 1, np.inf]), maxfev=20000)
    return tuple(float(v) for v in popt)


def adele_start_epoch(params: Tuple[float, float, float], max_epoch: int,
                      threshold: float = 0.9) -> Optional[int]:
    """First epoch ``t`` in 1..max_epoch where the relative change of the
    derivative ``|f'(t) - f'(1)| / |f'(1)|`` reaches ``threshold``.

    Returns:
        int | None: The epoch, or None if the curve never flattens that
        much within ``max_epoch`` (or is flat from the start).
    """
    t = np.arange(1, max_epoch + 1, dtype=np.float64)
    d1 = abs(curve_derivative(1.0, *params))
    if not np.isfinite(d1) or d1 < 1e-12:
        return None
    r = np.abs(np.abs(curve_derivative(t, *params)) - d1) / d1
    hits = np.flatnonzero(r >= threshold)
    return int(t[hits[0]]) if hits.size else None


@HOOKS.register_module()
class ADELEHook(StartCriterionHook):
    """Start label correction at the end of early learning (ADELE).

    After each training epoch the model runs in **inference mode**
    (``predict``; never loss-mode heads, which would inject ground-truth
    boxes as proposals) over the target training images, and its AP50
    against the **initial** weak labels is recorded. ``f(t) = a (1 -
    exp(-t^b / c))`` is fitted to that history (ADELE's weighting and
    bounds) and correction starts at the first completed epoch ``t`` where
    the fitted curve's derivative has changed by ``threshold`` relative to
    epoch 1: ``|f'(t) - f'(1)| / |f'(1)| >= threshold``.

    Too few points, a failed fit, or a flat curve are logged and simply do
    not start correction (``max_start_epoch`` caps the wait). The AP50
    history, the fit and the start epoch live in the MessageHub, so they
    are saved in checkpoints and restored by ``--resume``. A plot (the
    paper's Fig. 7) and a CSV of the curve are written to the work dir.

    The measurement is a single-view pass (one of the 20 views the
    pseudo-label pass makes); after the start it is only repeated when
    ``measure_after_start`` is set, so correction epochs pay no extra pass.

    Args:
        threshold (float): Relative change of the derivative that ends
            early learning. Defaults to 0.9.
        min_points (int): Epochs of history needed before fitting.
            Defaults to 3.
        warmup_epochs (int): The first epochs, trained under the learning
            rate warm-up, are measured and plotted but left out of the fit
            (their AP50 bends the early curve). Defaults to 0.
        scale (tuple[int, int]): Inference scale. Defaults to (512, 512).
        dataset_index (int): Target set index in the training datasets.
        weak_ann_file (str, optional): The initial weak labels; defaults to
            the target dataset's own annotation file.
        max_dets (int): Detections per image for AP50. Defaults to 1000.
        measure_after_start (bool): Keep measuring after the start (for the
            full Fig. 7 curve). Defaults to False.
        num_workers (int): Dataloader workers of the pass. Defaults to 0.
        max_start_epoch (int, optional): Latest start. Defaults to None.
        min_start_epoch (int): Earliest start. Defaults to 1.
    """

    HISTORY_KEY = 'sissi/adele_ap50'
    FIT_KEY = 'sissi/adele_fit'

    def __init__(self,
                 threshold: float = 0.9,
                 min_points: int = 3,
                 warmup_epochs: int = 0,
                 scale: Tuple[int, int] = (512, 512),
                 dataset_index: int = 0,
                 weak_ann_file: Optional[str] = None,
                 max_dets: int = 1000,
                 measure_after_start: bool = False,
                 num_workers: int = 0,
                 max_start_epoch: Optional[int] = None,
                 min_start_epoch: int = 1) -> None:
        super().__init__(max_start_epoch, min_start_epoch)
        self.threshold = threshold
        self.min_points = max(3, int(min_points))
        if warmup_epochs < 0:
            raise ValueError(f'warmup_epochs must be >= 0, got '
                             f'{warmup_epochs}')
        self.warmup_epochs = int(warmup_epochs)
        self.scale = tuple(scale)
        self.dataset_index = dataset_index
        self.weak_ann_file = weak_ann_file
        self.max_dets = max_dets
        self.measure_after_start = measure_after_start
        self.num_workers = num_workers

    # ---------------------------------------------------------- measuring
    def _weak_ann(self, runner) -> str:
        if self.weak_ann_file:
            return self.weak_ann_file
        cfg = runner.cfg.train_dataloader.dataset
        cfg = cfg.datasets[self.dataset_index] if 'datasets' in cfg else cfg
        ann = cfg['ann_file']
        root = cfg.get('data_root')
        return ann if (root is None or osp.isabs(ann)) else osp.join(
            root, ann)

    @torch.no_grad()
    def measure(self, runner) -> float:
        """AP50 of the model (inference mode) against the initial labels."""
        ann = self._weak_ann(runner)
        loader = build_target_loader(
            runner, self.dataset_index, [
                dict(type='Resize', scale=self.scale, keep_ratio=True),
                dict(type='PackDetInputs',
                     meta_keys=('img_id', 'img_path', 'ori_shape',
                                'img_shape', 'scale_factor'))
            ],
            num_workers=self.num_workers,
            ann_file=ann)
        metric = METRICS.build(
            dict(type='PerReaderCocoMetric', readers=dict(weak=ann),
                 max_dets=self.max_dets, prefix='adele'))
        metric.dataset_meta = loader.dataset.metainfo
        model = unwrap_model(runner)
        was_training = model.training
        model.eval()
        try:
            for data in loader:
                metric.process(data, [
                    ds.to_dict() for ds in model.test_step(data)
                ])
        finally:
            model.train(was_training)
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
        self._write_outputs(runner, starting=epoch if fire else None)
        return fire

    def after_train_epoch(self, runner) -> None:
        """Decide as the base class does; once started (by the criterion or
        by ``max_start_epoch``), keep the plot's start line current."""
        super().after_train_epoch(runner)
        if self.started(runner):
            self._write_outputs(runner)

    def observe_after_start(self, runner, epoch: int) -> None:
        if self.measure_after_start:
            self._record(runner, epoch)

    # -------------------------------------------------------------- output
    def _write_outputs(self, runner, starting: Optional[int] = None):
        if not is_main_process():
            return
        hist = self.history(runner)
        params = runner.message_hub.get_info(self.FIT_KEY)
        start = starting if starting is not None else get_start_epoch(runner)
        with open(osp.join(runner.work_dir, 'adele_curve.csv'), 'w',
                  newline='') as f:
            w = csv.writer(f)
            w.writerow(['epoch', 'ap50', 'fit'])
            for k, v in enumerate(hist, start=1):
                fit = curve_func(k, *params) if params else ''
                w.writerow([k, f'{v:.5f}', f'{fit:.5f}' if params else fit])
        try:
            import matplotlib
            matplotlib.use('Agg')
            import matplotlib.pyplot as plt
        except ImportError:  # pragma: no cover
            return
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(range(1, len(hist) + 1), hist, 'o', label='AP50 vs weak')
        if params:
            tt = np.linspace(1, max(len(hist), runner.max_epochs), 200)
            ax.plot(tt, curve_func(tt, *params), '-', label='fit')
        if start is not None:
            ax.axvline(start, color='r', ls='--',
                       label=f'correction starts (epoch {start})')
        ax.set_xlabel('epoch')
        ax.set_ylabel('AP50 against initial weak labels')
        ax.legend(loc='lower right', fontsize=8)
        fig.tight_layout()
        fig.savefig(osp.join(runner.work_dir, 'adele_curve.png'), dpi=100)
        plt.close(fig)
