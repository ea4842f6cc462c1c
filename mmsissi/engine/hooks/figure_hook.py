# Copyright (c) mmsissi contributors. All rights reserved.
import json
import os
import os.path as osp
from typing import Optional

import numpy as np
from mmdet.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmsissi.datasets.label_store import LabelStore
from mmsissi.datasets.transforms import LoadCellImageFromFile, SeamlessSynth
from mmsissi.visualization import (write_adele_curve, write_evolution_figure,
                                   write_synth_figure)
from .utils import START_KEY, target_dataset, weak_labels

__all__ = ['SISSIFigureHook']


@HOOKS.register_module()
class SISSIFigureHook(Hook):
    """Draw SISSI's training figures from what the algorithm hooks leave:
    MessageHub keys and label-store files (rank 0 only; the algorithm hooks
    draw nothing).

    - ``{work_dir}/adele_curve.png`` and ``.csv`` (the paper's Fig. 7),
      after every epoch in which ADELE recorded AP50 (``sissi/adele_ap50``,
      ``sissi/adele_fit``, ``sissi/start_epoch``);
    - ``{work_dir}/figures/pseudo_label_evolution.png`` (Fig. 8): the first
      ``num_images`` target images with their weak labels, then each
      epoch's labels from the store, whenever a new version appears;
    - ``{work_dir}/figures/synthetic_epoch_N.png`` (Fig. 3): original vs
      synthetic-like images with the blur the store names, when synthesis
      is on.

    It runs last (priority ``LOWEST``), after the hooks that write what it
    draws, and is rebuilt from files, so it survives ``--resume``. Rows
    without label correction get no figures.

    Args:
        num_images (int): Target images in the label figures (0: none).
            Defaults to 3.
        dataset_index (int): Index of the target set in the training
            ``ConcatDataset``. Defaults to 0.
        store_dir (str): Label store folder, relative to the work dir.
            Defaults to 'labels'.
    """

    priority = 'LOWEST'

    def __init__(self, num_images: int = 3, dataset_index: int = 0,
                 store_dir: str = 'labels') -> None:
        self.num_images = num_images
        self.dataset_index = dataset_index
        self.store_dir = store_dir
        self._drawn: Optional[int] = None
        self._store: Optional[LabelStore] = None

    def after_train_epoch(self, runner) -> None:
        """Fig. 7, once ADELE has measured (its start line included)."""
        hub = runner.message_hub
        hist = hub.get_info('sissi/adele_ap50')
        if hist and is_main_process():
            write_adele_curve(runner.work_dir, hist,
                              hub.get_info('sissi/adele_fit'),
                              hub.get_info(START_KEY), runner.max_epochs)

    def before_train_epoch(self, runner) -> None:
        """Figs. 8 and 3 when a new label version has been written."""
        if self.num_images <= 0 or not is_main_process():
            return
        root = osp.join(runner.work_dir, self.store_dir)
        if self._store is None:
            self._store = LabelStore(root)
        store = self._store
        store.refresh()  # reloads only when a new version was written
        if not store.active or store.version == self._drawn:
            return
        self._drawn = store.version
        target = target_dataset(runner, self.dataset_index)
        n = min(self.num_images, len(target))
        weak = weak_labels(target, range(n))
        load = LoadCellImageFromFile()
        ids, images = [], []
        for i in range(n):
            info = target.get_data_info(i)
            ids.append(int(info['img_id']))
            images.append(load(dict(img_path=info['img_path']))['img'])
        history = {'weak': [weak[k] for k in ids]}
        for name in sorted(os.listdir(root), key=lambda f: (len(f), f)):
            if name.startswith('epoch_') and name.endswith('.json'):
                with open(osp.join(root, name)) as f:
                    boxes, _ = LabelStore.coco_to_boxes(json.load(f))
                history[name[:-5].replace('_', ' ')] = [
                    boxes.get(k, np.zeros((0, 4), np.float32)) for k in ids
                ]
        fig_dir = osp.join(runner.work_dir, 'figures')
        write_evolution_figure(
            osp.join(fig_dir, 'pseudo_label_evolution.png'), images, history)
        if store.synthesize:
            synth = _configured_synth(target, store.synthesize)
            latest = [store.boxes(k) for k in ids]
            cloned = [np.concatenate([b, store.ignore_boxes(k)])
                      for b, k in zip(latest, ids)]  # as training clones
            synthetic = [synth.synthesize(img, b) if len(b) else img
                         for img, b in zip(images, cloned)]
            epoch = store.read_index()['epoch']
            write_synth_figure(
                osp.join(fig_dir, f'synthetic_epoch_{epoch}.png'), images,
                synthetic, latest)


def _configured_synth(target, blur) -> SeamlessSynth:
    """A ``SeamlessSynth`` with ``blur`` and the clone settings (margins,
    method) of the target pipeline's own, so the figure shows what the
    detector is trained on (the defaults when the pipeline has none)."""
    transforms = getattr(getattr(target, 'pipeline', None), 'transforms', [])
    own = next((t for t in transforms if isinstance(t, SeamlessSynth)), None)
    if own is None:
        return SeamlessSynth(blur=blur)
    return SeamlessSynth(blur=blur, min_box_size=own.min_box_size,
                         margin=own.margin, method=own.method,
                         pad_px=own.pad_px, pad_ratio=own.pad_ratio)
