# Copyright (c) mmsissi contributors. All rights reserved.
import hashlib
import json
import os
import os.path as osp
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.dist import (all_gather_object, barrier, broadcast_object_list,
                           get_dist_info, is_main_process)
from mmengine.hooks import Hook
from mmengine.utils import ProgressBar

from mmsissi.datasets.cell_coco import CellCocoDataset
from mmsissi.datasets.label_store import LabelStore
from mmsissi.datasets.transforms import LoadCellImageFromFile, SeamlessSynth
from mmsissi.visualization import write_evolution_figure, write_synth_figure
from mmsissi.weak_labels.io import _read_raw
from mmsissi.models.wbf_tta import WBFTTAModel, sissi_tta_transforms
from .utils import (build_target_loader, get_start_epoch, target_dataset,
                    unwrap_model)

__all__ = ['PseudoLabelHook', 'AUTHORS_FUSION']

#: How the authors fused their pseudo labels: each view's boxes with score
#: > 0.01; WBF (IoU 0.5, boxes under 0.25 skipped, average score); fused
#: score >= 0.1; NMS at IoU 0.2; no cap on the count.
AUTHORS_FUSION = dict(
    view_score_thr=0.01,
    iou_thr=0.5,
    skip_box_thr=0.25,
    conf_type='avg',
    score_thr=0.1,
    nms_iou_thr=0.2,
    max_per_img=None)


@HOOKS.register_module()
class PseudoLabelHook(Hook):
    """Relabel the target images with the detector before each epoch once
    label correction has started (SISSI step 4).

    Before each training epoch at or after the start, the model runs in
    **inference mode** (``predict``, never loss-mode heads, which would
    inject ground truth) over every target training image with the paper's
    test-time augmentation (``scale_factors`` x ``flips``, 20 views by
    default; each view really is resized), maps the views back to the image
    and fuses them with Weighted Boxes Fusion (:class:`WBFTTAModel`). The
    fused boxes (``tta_cfg``) *replace* the image's labels: an image
    may gain more boxes than it had weak boxes, and an image without weak
    boxes can gain some.

    The labels are written as a COCO json per epoch into a
    :class:`LabelStore` in the work dir (atomic; the initial weak labels
    are never touched) that the :class:`SISSITargetDataset` reads in every
    worker. Under DDP the images are sharded across ranks, the predictions
    gathered, rank 0 writes, all ranks wait, so every rank trains on the
    same labels.

    The start: ``start_epoch`` if given, else the epoch a start criterion
    (ADELE, validation loss) published in the message hub under
    ``'sissi/start_epoch'``. Epochs count completed training epochs: with
    start ``k``, labels are made before the ``(k+1)``-th epoch (as logged)
    and every epoch after.

    Args:
        start_epoch (int, optional): Fixed start. Defaults to None.
        dataset_index (int): Index of the target set in the training
            ``ConcatDataset``. Defaults to 0.
        scale (tuple[int, int]): Base test scale (w, h) (the training
            scale). Defaults to (512, 512).
        scale_factors (Sequence[float]): TTA scales. Defaults to
            (0.8, 0.9, 1.0, 1.1, 1.2).
        flips (Sequence[str]): TTA flips. Defaults to
            ('none', 'horizontal', 'vertical', 'diagonal').
        views_per_batch (int): Views per forward pass. Defaults to 1.
        tta_cfg (dict, optional): How the views are fused
            (:class:`WBFTTAModel`'s ``tta_cfg``), merged over the authors'
            settings :data:`AUTHORS_FUSION`: each view's boxes with score
            > 0.01, WBF with ``iou_thr`` 0.5, ``skip_box_thr`` 0.25 and
            ``conf_type='avg'``, fused score >= 0.1, NMS at IoU 0.2, no cap
            on the count. Defaults to None (those settings).
        keep_previous_if_empty (bool): An image whose fused set comes out
            empty keeps its previous labels (counted in the log line)
            instead of being trained as pure background. Defaults to True.
        synthesize (bool | str | tuple): Make synthetic-like images
            (:class:`SeamlessSynth`) from the pseudo labels: False (Plain),
            or the blur: ``'weak'`` (SISSI(W)), ``'strong'`` (SISSI(S)),
            ``'reference'`` or a ``(kernel, sigma)`` pair. This is the one
            place a row's blur is configured (the pipeline's
            ``SeamlessSynth`` only marks where synthesis happens). Defaults
            to False.
        num_workers (int): Dataloader workers of the relabelling pass.
            Defaults to 0.
        store_dir (str): Store folder, relative to the work dir. Defaults
            to 'labels'.
        figure_images (int): The first N target images get figures in
            ``{work_dir}/figures`` after every relabelling: the evolution of
            their labels (weak, then each epoch; the paper's Fig. 8) and,
            when synthesizing, original vs synthetic-like pairs (Fig. 3).
            0 disables. Defaults to 3.
    """

    priority = 'NORMAL'

    def __init__(self,
                 start_epoch: Optional[int] = None,
                 dataset_index: int = 0,
                 scale: Tuple[int, int] = (512, 512),
                 scale_factors: Sequence[float] = (0.8, 0.9, 1.0, 1.1, 1.2),
                 flips: Sequence[str] = ('none', 'horizontal', 'vertical',
                                         'diagonal'),
                 views_per_batch: int = 1,
                 tta_cfg: Optional[dict] = None,
                 keep_previous_if_empty: bool = True,
                 synthesize=False,
                 num_workers: int = 0,
                 store_dir: str = 'labels',
                 figure_images: int = 3) -> None:
        self.start_epoch = start_epoch
        self.dataset_index = dataset_index
        self.scale = tuple(scale)
        self.scale_factors = tuple(scale_factors)
        self.flips = tuple(flips)
        self.views_per_batch = views_per_batch
        self.tta_cfg = dict(AUTHORS_FUSION, **(tta_cfg or {}))
        self.keep_previous_if_empty = keep_previous_if_empty
        if synthesize is True:
            raise ValueError(
                "PseudoLabelHook: synthesize=True names no blur; give the "
                "blur: 'weak', 'strong', 'reference' or (kernel, sigma)")
        if synthesize:
            SeamlessSynth.parse_blur(synthesize)  # fail early on a typo
        self.synthesize = synthesize
        self.num_workers = num_workers
        self.store_dir = store_dir
        self.figure_images = figure_images
        self.store: Optional[LabelStore] = None
        self.last_predictions: Optional[Dict[int, dict]] = None

    # ---------------------------------------------------------------- setup
    def _target(self, runner):
        return target_dataset(runner, self.dataset_index, requires_store=True)

    def before_run(self, runner) -> None:
        """Attach the label store before any dataloader worker starts."""
        self.store = self._target(runner).attach_label_store(
            osp.join(runner.work_dir, self.store_dir))

    def start(self, runner) -> Optional[int]:
        """The start epoch in force (fixed, or published by a criterion)."""
        if self.start_epoch is not None:
            return int(self.start_epoch)
        return get_start_epoch(runner)

    def active(self, runner) -> bool:
        start = self.start(runner)
        return start is not None and runner.epoch >= start

    @torch.no_grad()
    def predict_target(self, runner) -> Dict[int, dict]:
        """Fused TTA predictions of every target image, gathered on all
        ranks: ``{img_id: dict(bboxes, scores)}`` in image pixels."""
        loader = build_target_loader(
            runner, self.dataset_index,
            [sissi_tta_transforms(self.scale, self.scale_factors, self.flips)],
            num_workers=self.num_workers)
        model = unwrap_model(runner)
        tta = WBFTTAModel(
            module=model,
            tta_cfg=self.tta_cfg,
            views_per_batch=self.views_per_batch)
        was_training = model.training
        model.eval()
        rank, world = get_dist_info()
        local = {}
        bar = ProgressBar(len(loader)) if rank == 0 else None
        try:
            for data in loader:
                for ds in tta.test_step(data):
                    pred = ds.pred_instances
                    local[int(ds.img_id)] = dict(
                        bboxes=pred.bboxes.cpu().numpy().astype(np.float32),
                        scores=pred.scores.cpu().numpy().astype(np.float32))
                if bar is not None:
                    bar.update()
        finally:
            model.train(was_training)
        if bar is not None:
            print(flush=True)
        if world > 1:
            merged = {}
            for part in all_gather_object(local):
                merged.update(part)
            local = merged
        return local

    def before_train_epoch(self, runner) -> None:
        """Relabel the target set if correction is active."""
        if not self.active(runner):
            return
        t0 = time.time()
        target = self._target(runner)
        images = target.coco_images()
        previous = self._current_labels(target, images)
        before = sum(len(b) for b, _ in previous.values())
        preds = self.predict_target(runner)
        self.last_predictions = preds
        missing = [i['id'] for i in images if i['id'] not in preds]
        if missing:
            raise RuntimeError(
                f'PseudoLabelHook: no prediction for {len(missing)} target '
                f'image(s) (ids {missing[:5]}) after gathering')
        boxes = {k: v['bboxes'] for k, v in preds.items()}
        scores = {k: v['scores'] for k, v in preds.items()}
        kept = 0
        if self.keep_previous_if_empty:
            for k, (b, s) in previous.items():
                if len(boxes[k]) == 0 and len(b):
                    boxes[k], scores[k], kept = b, s, kept + 1
        path = [None]
        if is_main_process():
            path[0] = self.store.write(
                epoch=runner.epoch + 1,
                images=images,
                boxes=boxes,
                scores=scores,
                synthesize=self.synthesize)
        barrier()
        broadcast_object_list(path)
        self.store.refresh()
        self._check_ranks_agree(runner, path[0])
        n_after = sum(len(self.store.boxes(i['id'])) for i in images)
        all_scores = np.concatenate([s for s in scores.values()] +
                                    [np.zeros(0, np.float32)])
        runner.logger.info(
            f'PseudoLabelHook: epoch {runner.epoch + 1} labels: '
            f'{before} -> {n_after} boxes on {len(images)} target images '
            f'({self.store.dropped} degenerate dropped; {kept} image(s) '
            'with an empty fused set kept their previous labels), '
            f'mean score {all_scores.mean() if all_scores.size else 0:.3f}, '
            f'{time.time() - t0:.1f} s -> {path[0]}')
        runner.message_hub.update_info('sissi/num_pseudo_boxes', n_after)
        runner.message_hub.update_info('sissi/num_dropped_boxes',
                                       self.store.dropped)
        if is_main_process() and self.figure_images > 0:
            self._write_figures(runner, target, runner.epoch + 1)

    def _write_figures(self, runner, target, epoch: int) -> None:
        """Fig. 8 (label evolution) and Fig. 3 (synthetic pairs)."""
        n = min(self.figure_images, len(target))
        infos = [CellCocoDataset.get_data_info(target, i) for i in range(n)]
        images = [
            LoadCellImageFromFile.to_bgr8(_read_raw(i['img_path']))
            for i in infos
        ]
        history = {'weak': [np.array([x['bbox'] for x in i['instances']],
                                     np.float32).reshape(-1, 4)
                            for i in infos]}
        for name in sorted(os.listdir(self.store.root),
                           key=lambda f: (len(f), f)):
            if not (name.startswith('epoch_') and name.endswith('.json')):
                continue
            with open(osp.join(self.store.root, name)) as f:
                boxes, _ = LabelStore.coco_to_boxes(json.load(f))
            history[name[:-5].replace('_', ' ')] = [
                boxes.get(int(i['img_id']), np.zeros((0, 4), np.float32))
                for i in infos
            ]
        fig_dir = osp.join(runner.work_dir, 'figures')
        write_evolution_figure(
            osp.join(fig_dir, 'pseudo_label_evolution.png'), images, history)
        mode = self.store.synthesize
        if mode:
            synth = SeamlessSynth(blur=mode)
            latest = list(history.values())[-1]
            synthetic = [synth.synthesize(img, b) if len(b) else img
                         for img, b in zip(images, latest)]
            write_synth_figure(
                osp.join(fig_dir, f'synthetic_epoch_{epoch}.png'), images,
                synthetic, latest)

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
        """``{img_id: (boxes, scores)}`` the target trains on now: the
        store's, or the dataset's own (weak) labels before any pseudo
        labels (score 1)."""
        store = self.store
        store.refresh()
        if store.active:
            return {i['id']: (store.boxes(i['id']), store.scores(i['id']))
                    for i in images}
        out = {}
        for k in range(len(target)):
            info = CellCocoDataset.get_data_info(target, k)
            b = np.array([x['bbox'] for x in info['instances']],
                         np.float32).reshape(-1, 4)
            out[int(info['img_id'])] = (b, np.ones(len(b), np.float32))
        return out
