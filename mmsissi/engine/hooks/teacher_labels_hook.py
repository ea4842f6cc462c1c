# Copyright (c) mmsissi contributors. All rights reserved.
"""Record a teacher's pseudo boxes on the target images every epoch."""
import json
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmdet.registry import HOOKS
from mmsissi.fileio import atomic_dump_json
from .utils import predict_images, unwrap_model

__all__ = ['TeacherLabelsHook']


@HOOKS.register_module()
class TeacherLabelsHook(Hook):
    """Write the boxes a semi-supervised teacher would train on, as label
    files, so a method that keeps no label file (mmdet's ``SoftTeacher``)
    gets the same per-epoch label precision / recall as the SISSI rows.

    Before each training epoch ``k`` (from ``start_epoch`` on) the model
    predicts on ``dataloader`` (the target training images, test
    pipeline) with ``model.predict``, which a ``SemiBaseDetector`` with
    ``semi_test_cfg.predict_on='teacher'`` runs with the teacher; boxes of
    score >= ``score_thr`` (the teacher's ``cls_pseudo_thr``) are written
    to ``<work_dir>/<out_dir>/epoch_<k>.json`` in the COCO format of the
    dataloader's annotation file (its images and categories; boxes in
    image pixels, ``iscrowd`` 0, with ``score``). Nothing is trained on
    these files: they record what the teacher labels on un-augmented
    images at the start of the epoch.

    Args:
        dataloader (dict): Dataloader config over the target training
            images with a test pipeline.
        score_thr (float): Lowest score of a recorded box. Defaults to 0.9
            (mmdet's ``cls_pseudo_thr``).
        start_epoch (int): First epoch (1-based) to record. Defaults to 1.
        out_dir (str): Folder under the work dir. Defaults to ``'labels'``.
    """

    priority = 'LOW'

    def __init__(self,
                 dataloader: dict,
                 score_thr: float = 0.9,
                 start_epoch: int = 1,
                 out_dir: str = 'labels') -> None:
        if not 0 <= score_thr <= 1:
            raise ValueError(f'score_thr must be in [0, 1], got {score_thr}')
        self.dataloader_cfg = dataloader
        self.score_thr = float(score_thr)
        self.start_epoch = int(start_epoch)
        self.out_dir = out_dir
        self._loader = None

    def before_train_epoch(self, runner: Runner) -> None:
        epoch = runner.epoch + 1
        if epoch < self.start_epoch:
            return
        if self._loader is None:
            self._loader = Runner.build_dataloader(
                self.dataloader_cfg, seed=runner.seed)
        preds = self.predict(runner)
        if get_dist_info()[0] == 0:
            path = osp.join(runner.work_dir, self.out_dir,
                            f'epoch_{epoch}.json')
            atomic_dump_json(self._coco(preds), path)
            n = sum(len(p['bboxes']) for p in preds.values())
            runner.logger.info(f'TeacherLabelsHook: {n} boxes of score >= '
                               f'{self.score_thr} on {len(preds)} images '
                               f'-> {path}')

    def predict(self, runner: Runner) -> Dict[int, dict]:
        """``{img_id: dict(bboxes, scores)}`` above ``score_thr``,
        gathered on all ranks."""
        model = unwrap_model(runner)

        def record(pred):
            keep = pred.scores >= self.score_thr
            return dict(bboxes=pred.bboxes[keep].cpu().numpy(),
                        scores=pred.scores[keep].cpu().numpy())

        return predict_images(model, model.test_step, self._loader, record)

    def _coco(self, preds: Dict[int, dict]) -> dict:
        """The predictions as a COCO dict on the annotation file's images
        and category (the one the dataset maps to its first class)."""
        ds = self._loader.dataset
        with open(ds.ann_file, encoding='utf-8') as f:
            src = json.load(f)
        cat_id = self._category_id(src['categories'],
                                   getattr(ds, 'category_map', None))
        anns = []
        for img in src['images']:
            p = preds.get(int(img['id']))
            if p is None:
                continue
            for (x1, y1, x2, y2), s in zip(p['bboxes'].tolist(),
                                           p['scores'].tolist()):
                anns.append(dict(id=len(anns) + 1, image_id=img['id'],
                                 category_id=cat_id,
                                 bbox=[x1, y1, x2 - x1, y2 - y1],
                                 area=(x2 - x1) * (y2 - y1), iscrowd=0,
                                 score=s))
        return dict(images=src['images'], annotations=anns,
                    categories=src['categories'])

    @staticmethod
    def _category_id(categories, category_map: Optional[dict]) -> int:
        names = [c['name'] for c in categories]
        if category_map:
            names_in = [n for n in names if n in category_map]
            if names_in:
                names = names_in
        if not names:
            raise ValueError('TeacherLabelsHook: the annotation file has no '
                             'category')
        return next(c['id'] for c in categories if c['name'] == names[0])

