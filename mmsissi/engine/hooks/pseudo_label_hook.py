# Copyright (c) mmsissi contributors. All rights reserved.
import hashlib
import logging
import os.path as osp
import time
from typing import Dict, Optional

import numpy as np
import torch
from mmdet.registry import HOOKS, MODELS
from mmengine.dist import (all_gather_object, barrier, broadcast_object_list,
                           get_dist_info, is_main_process)
from mmengine.hooks import EMAHook, Hook
from mmengine.logging import print_log

from mmsissi.datasets.label_store import LabelStore, LabelWriteError
from mmsissi.datasets.transforms import SeamlessSynth
from .label_update import (UPDATE_POLICIES, check_merge_cfg, merge_all,
                           split_new)
from .utils import (check_ignore_used, check_same_images, get_start_epoch,
                    predict_images, target_dataset, unwrap_model,
                    weak_labels)

__all__ = ['PseudoLabelHook']


@HOOKS.register_module()
class PseudoLabelHook(Hook):
    """Relabel the target images with the detector before each epoch once
    label correction has started (SISSI step 4).

    Before each training epoch at or after the start, the model runs in
    **inference mode** (``test_step``, never loss-mode heads, which would
    inject ground truth) over every target training image through
    ``dataloader`` (the target images with the TTA pipeline: the config's
    ``pseudo_label_dataloader``, 20 views by default, each really resized)
    wrapped in the TTA model (the config's ``tta_model``, a
    :class:`WBFTTAModel`: views mapped back and fused with Weighted Boxes
    Fusion, thresholded and NMS'd as the authors did). This is the ensemble
    ``tools/test.py --tta`` evaluates. The fused boxes *replace* the image's
    labels: an image may gain more boxes than it had weak boxes, and an
    image without weak boxes can gain some; an image whose fused set is
    empty keeps its previous labels (``keep_previous_if_empty``).

    The labels are written as a COCO json per epoch into a
    :class:`LabelStore` in the work dir (atomic; the initial weak labels
    are never touched) that the :class:`SISSITargetDataset` reads in every
    worker. Under DDP the images are sharded across ranks, the predictions
    gathered, rank 0 writes, all ranks wait, so every rank trains on the
    same labels. Figures of the labels are drawn by
    :class:`SISSIFigureHook`, not here.

    The start: ``start_epoch`` if given, else the epoch a start criterion
    (ADELE, validation loss) published in the message hub under
    ``'sissi/start_epoch'``. Epochs count completed training epochs: with
    start ``k``, labels are made before the ``(k+1)``-th epoch (as logged)
    and every epoch after.

    Args:
        dataloader (dict): Dataloader config over the target training images
            with the TTA pipeline (``pseudo_label_dataloader`` in the
            dataset base). Its images must be the training target set's.
        tta_model (dict, optional): TTA wrapper config; defaults to the
            config's ``tta_model``.
        start_epoch (int, optional): Fixed start. Defaults to None.
        dataset_index (int): Index of the target set in the training
            ``ConcatDataset``. Defaults to 0.
        keep_previous_if_empty (bool): An image left without labels (its
            fused set empty, or nothing of it above ``ignore_band`` or
            steady enough for ``max_spread``) keeps its previous labels and
            ignore regions (counted in the log line; 'replace' only)
            instead of being trained as pure background. Defaults to True.
        synthesize (bool | str | tuple): Make synthetic-like images
            (:class:`SeamlessSynth`) from the pseudo labels: False (Plain),
            or the blur: ``'weak'`` (SISSI(W)), ``'strong'`` (SISSI(S)),
            ``'auto'`` (the strong blur scaled to each image's cells),
            ``'reference'`` or a ``(kernel, sigma)`` pair. This is the one
            place a row's blur is configured (the pipeline's
            ``SeamlessSynth`` only marks where synthesis happens). Defaults
            to False.
        store_dir (str): Store folder, relative to the work dir. Defaults
            to 'labels'.
        update (str): How the fused boxes update the labels: ``'replace'``
            (the paper: they are the new labels; default) or ``'merge'``
            (the initial labels are kept every round and confident fused
            boxes that match none of them are added; see
            :mod:`.label_update`).
        merge_cfg (dict, optional): Options of ``'merge'``: ``match_iou``
            (0.4), ``add_score`` (0.5), ``refine`` (0.0),
            ``drop_unsupported`` (False), ``calibrate`` (False; True or
            ``'median'``: remove the fused boxes' median size bias
            relative to the initial boxes they match before refining and
            adding; ``'size'``: that bias per bin of the fused box's
            size).
        labeller (str): Which weights make the pseudo labels: ``'auto'``
            (default): the exponential moving average of mmengine's
            ``EMAHook`` when the config has one that averages the BatchNorm
            buffers too (``update_buffers=True``), else the detector being
            trained (with a warning if an EMA without them is there:
            mmengine's default copies the trained model's buffers into the
            averaged weights, a mismatch); ``'ema'`` (requires such an
            ``EMAHook``, else an error) or ``'model'``. With ``EMAHook``,
            checkpoints and validation hold the averaged weights too
            (mmengine's convention), so ``tools/test.py`` tests the EMA.
        ignore_band (tuple[float, float], optional): ``(low, high)``: of
            the boxes the update makes labels of (every fused box for
            ``'replace'``; the added ones for ``'merge'``, those at or
            above ``add_score``), those scoring below ``high`` become
            ignore regions instead (``iscrowd``: neither cell nor
            background, mmdet's ``gt_instances_ignore`` path) and those
            below ``low`` are dropped. Needs assigners that use ignore
            regions (``ignore_iof_thr > 0`` in the model's ``train_cfg``;
            checked). Synthesis clones them back like labels. Defaults to
            None (off).
        max_spread (float, optional): New boxes on which the TTA views
            disagree (:func:`~mmsissi.models.wbf_tta.view_spread` above
            this: the views' edges scatter by more than this fraction of
            the box) become ignore regions: they say a cell is there, not
            where its edges are. Needs the ignore path like
            ``ignore_band``. Defaults to None (off).
    """

    priority = 'NORMAL'

    def __init__(self,
                 dataloader: dict,
                 tta_model: Optional[dict] = None,
                 start_epoch: Optional[int] = None,
                 dataset_index: int = 0,
                 keep_previous_if_empty: bool = True,
                 synthesize=False,
                 store_dir: str = 'labels',
                 update: str = 'replace',
                 merge_cfg: Optional[dict] = None,
                 labeller: str = 'auto',
                 ignore_band: Optional[tuple] = None,
                 max_spread: Optional[float] = None) -> None:
        if max_spread is not None and not float(max_spread) >= 0:
            raise ValueError('PseudoLabelHook: max_spread must be >= 0, got '
                             f'{max_spread!r}')
        self.max_spread = None if max_spread is None else float(max_spread)
        if ignore_band is not None:
            lo, hi = (float(v) for v in ignore_band)
            if not 0 <= lo <= hi <= 1:
                raise ValueError('PseudoLabelHook: ignore_band must be '
                                 f'(low, high) with 0 <= low <= high <= 1, '
                                 f'got {ignore_band!r}')
            ignore_band = (lo, hi)
        self.ignore_band = ignore_band
        if labeller not in ('auto', 'ema', 'model'):
            raise ValueError("PseudoLabelHook: labeller must be 'auto', "
                             f"'ema' or 'model', got {labeller!r}")
        self.labeller = labeller
        if update not in UPDATE_POLICIES:
            raise ValueError(f'PseudoLabelHook: update must be one of '
                             f'{UPDATE_POLICIES}, got {update!r}')
        self.update = update
        self.merge_cfg = check_merge_cfg(merge_cfg)
        if update == 'merge' and ignore_band is not None and \
                self.merge_cfg['add_score'] >= ignore_band[1]:
            raise ValueError(
                f'PseudoLabelHook: ignore_band {ignore_band} has no effect '
                "with update='merge': only added boxes (score >= merge_cfg."
                f"add_score {self.merge_cfg['add_score']}) reach the band; "
                'set add_score to the band\'s low end')
        if synthesize is True:
            raise ValueError(
                "PseudoLabelHook: synthesize=True names no blur; give the "
                "blur: 'weak', 'strong', 'reference', 'auto' or (kernel, "
                "sigma)")
        if synthesize:
            SeamlessSynth.parse_blur(synthesize)  # fail early on a typo
        self.dataloader_cfg = dataloader
        self.tta_model_cfg = tta_model
        self.start_epoch = start_epoch
        self.dataset_index = dataset_index
        self.keep_previous_if_empty = keep_previous_if_empty
        self.synthesize = synthesize
        self.store_dir = store_dir
        self.store: Optional[LabelStore] = None
        self._loader = None

    # ---------------------------------------------------------------- setup
    def _target(self, runner):
        return target_dataset(runner, self.dataset_index, requires_store=True)

    def before_run(self, runner) -> None:
        """Attach the label store before any dataloader worker starts;
        build the relabelling loader and check it covers the target set."""
        target = self._target(runner)
        self.store = target.attach_label_store(
            osp.join(runner.work_dir, self.store_dir))
        self._loader = runner.build_dataloader(self.dataloader_cfg)
        check_same_images(self._loader.dataset, target, type(self).__name__)
        self._ema_hook(runner)  # a missing or bufferless EMA fails now
        if self.ignore_band is not None or self.max_spread is not None:
            check_ignore_used(runner.cfg.get('model', {}))

    def _ema_hook(self, runner):
        """The ``EMAHook`` whose average labels, or None (see
        ``labeller``)."""
        if self.labeller == 'model':
            return None
        hooks = [h for h in runner.hooks if isinstance(h, EMAHook)]
        if not hooks:
            if self.labeller == 'ema':
                raise ValueError("PseudoLabelHook(labeller='ema') needs an "
                                 'EMAHook in custom_hooks')
            return None
        if not hooks[0].ema_cfg.get('update_buffers', False):
            if self.labeller == 'ema':
                raise ValueError(
                    'PseudoLabelHook: the EMAHook that would make the pseudo'
                    ' labels does not average the BatchNorm buffers: set '
                    "EMAHook(update_buffers=True), or labeller='model'")
            if not getattr(self, '_warned', False):
                self._warned = True
                print_log('PseudoLabelHook: the EMAHook does not average the '
                          'BatchNorm buffers (update_buffers=False): the '
                          'trained model makes the pseudo labels',
                          'current', logging.WARNING)
            return None
        return hooks[0]

    def labelling_model(self, runner):
        """The detector that makes the pseudo labels: the EMA's averaged
        copy (see ``labeller``) or the trained model, unwrapped."""
        ema = self._ema_hook(runner)
        return unwrap_model(runner) if ema is None else ema.ema_model.module

    def start(self, runner) -> Optional[int]:
        """The start epoch in force (fixed, or published by a criterion)."""
        if self.start_epoch is not None:
            return int(self.start_epoch)
        return get_start_epoch(runner)

    def active(self, runner) -> bool:
        start = self.start(runner)
        return start is not None and runner.epoch >= start

    def build_tta_model(self, runner, module=None):
        """The TTA ensemble around ``module`` (default: the labelling
        model, see ``labeller``)."""
        cfg = self.tta_model_cfg or runner.cfg.get('tta_model')
        if cfg is None:
            raise ValueError(
                'PseudoLabelHook: no TTA model; set `tta_model` in the '
                'config (see configs/_base_/datasets/target_source_cells.py)'
                ' or pass tta_model=')
        if self.max_spread is not None:  # the views' agreement is needed
            cfg = dict(cfg, tta_cfg=dict(cfg.get('tta_cfg') or {},
                                         with_spread=True))
        if module is None:
            module = self.labelling_model(runner)
        return MODELS.build(dict(cfg, module=module))

    @torch.no_grad()
    def predict_target(self, runner) -> Dict[int, dict]:
        """Fused TTA predictions of every target image, gathered on all
        ranks: ``{img_id: dict(bboxes, scores)}`` in image pixels."""
        model = self.labelling_model(runner)
        tta = self.build_tta_model(runner, model)

        def record(pred):
            out = dict(
                bboxes=pred.bboxes.cpu().numpy().astype(np.float32),
                scores=pred.scores.cpu().numpy().astype(np.float32))
            if 'spreads' in pred:
                out['spreads'] = pred.spreads.cpu().numpy()
            return out

        return predict_images(model, tta.test_step, self._loader, record,
                              progress=True)

    def before_train_epoch(self, runner) -> None:
        """Relabel the target set if correction is active."""
        if not self.active(runner):
            return
        t0 = time.time()
        target = self._target(runner)
        images = target.coco_images()
        previous = self._current_labels(target, images)
        before = sum(len(p[0]) for p in previous.values())
        preds = self.predict_target(runner)
        missing = [i['id'] for i in images if i['id'] not in preds]
        if missing:
            raise RuntimeError(
                f'PseudoLabelHook: no prediction for {len(missing)} target '
                f'image(s) (ids {missing[:5]}) after gathering')
        boxes, scores, fixed, new, what = self._new_labels(target, preds)
        ignore, ignore_scores, what = self._split_new(boxes, scores, preds,
                                                      fixed, new, what)
        what = self._keep_previous(previous, boxes, scores, ignore,
                                   ignore_scores, what)
        path = [None, None]  # the label file, or the error of the write
        if is_main_process():
            try:
                path[0] = self.store.write(
                    epoch=runner.epoch + 1,
                    images=images,
                    boxes=boxes,
                    scores=scores,
                    synthesize=self.synthesize,
                    ignore=ignore,
                    ignore_scores=ignore_scores)
            except LabelWriteError as err:
                path[1] = str(err)
        barrier()
        broadcast_object_list(path)
        if path[1] is not None:  # every rank stops, none waits
            raise LabelWriteError(f'PseudoLabelHook: {path[1]}')
        self.store.refresh()
        self._check_ranks_agree(runner, path[0])
        n_after = sum(len(self.store.boxes(i['id'])) for i in images)
        all_scores = np.concatenate([s for s in scores.values()] +
                                    [np.zeros(0, np.float32)])
        runner.logger.info(
            f'PseudoLabelHook: epoch {runner.epoch + 1} labels: '
            f'{before} -> {n_after} boxes on {len(images)} target images '
            f'({self.store.dropped} degenerate dropped; {what}), '
            f'mean score {all_scores.mean() if all_scores.size else 0:.3f}, '
            f'{time.time() - t0:.1f} s -> {path[0]}')
        runner.message_hub.update_info('sissi/num_pseudo_boxes', n_after)
        runner.message_hub.update_info('sissi/num_dropped_boxes',
                                       self.store.dropped)

    def _new_labels(self, target, preds):
        """The labels of the next epoch by the update policy: ``(boxes,
        scores, fixed, new, text)``; ``fixed``: per image, how many leading
        boxes are not new (initial labels); ``new``: the indices of the new
        ones among the fused boxes; ``text`` for the log line."""
        boxes = {k: v['bboxes'] for k, v in preds.items()}
        scores = {k: v['scores'] for k, v in preds.items()}
        if self.update == 'merge':
            return merge_all(weak_labels(target), boxes, scores,
                             self.merge_cfg)
        new = {k: np.arange(len(b)) for k, b in boxes.items()}
        return boxes, scores, {}, new, 'replace'

    def _keep_previous(self, previous, boxes, scores, ignore, ignore_scores,
                       what):
        """``keep_previous_if_empty`` for 'replace': an image left with no
        label (no fused box, or none above the band / steady enough) keeps
        its previous labels and ignore regions (in place)."""
        if self.update == 'merge' or not self.keep_previous_if_empty:
            return what
        kept = 0
        for k, (b, s, ib, iscore) in previous.items():
            if len(boxes[k]) == 0 and len(b):
                boxes[k], scores[k], kept = b, s, kept + 1
                if ignore is not None:
                    ignore[k], ignore_scores[k] = ib, iscore
        return (f'{what}; {kept} image(s) left without labels kept their '
                'previous labels')

    def _split_new(self, boxes, scores, preds, fixed, new, what):
        """``ignore_band`` and ``max_spread`` applied to the new boxes (in
        place); the ignore regions and scores (None when both are off)."""
        if self.ignore_band is None and self.max_spread is None:
            return None, None, what
        spreads = None if self.max_spread is None else {
            k: preds[k]['spreads'][new[k]] for k in boxes}
        ignore, ignore_scores, text = split_new(
            boxes, scores, fixed, self.ignore_band, spreads, self.max_spread)
        return ignore, ignore_scores, f'{what}; {text}'

    def _check_ranks_agree(self, runner, path: str) -> None:
        """Every rank must train on the same label file and version."""
        if get_dist_info()[1] == 1:
            return
        with open(path, 'rb') as f:
            digest = hashlib.md5(f.read()).hexdigest()
        mine = (self.store.version, digest, self.start(runner))
        views = all_gather_object(mine)
        if any(v != views[0] for v in views):
            raise RuntimeError(
                'PseudoLabelHook: ranks disagree on the pseudo labels of '
                f'epoch {runner.epoch + 1} (version, md5, start) per rank: '
                f'{views}. Check that all ranks share the work dir '
                f'{runner.work_dir} (same filesystem) and the same config.')

    def _current_labels(self, target, images) -> Dict[int, tuple]:
        """``{img_id: (boxes, scores, ignore boxes, ignore scores)}`` the
        target trains on now: the store's, or the dataset's own (weak)
        labels before any pseudo labels (score 1, no ignore region)."""
        store = self.store
        store.refresh()
        if store.active:
            return {i['id']: (store.boxes(i['id']), store.scores(i['id']),
                              store.ignore_boxes(i['id']),
                              store.ignore_scores(i['id']))
                    for i in images}
        none = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        return {k: (b, np.ones(len(b), np.float32), *none)
                for k, b in weak_labels(target).items()}
