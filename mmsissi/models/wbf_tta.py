# Copyright (c) mmsissi contributors. All rights reserved.
from typing import List

import numpy as np
import torch
from mmcv.ops import batched_nms
from mmdet.models.test_time_augs import DetTTAModel
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmsissi.structures import box_iou
from .wbf import fuse_views

__all__ = ['WBFTTAModel', 'view_spread']


@MODELS.register_module()
class WBFTTAModel(DetTTAModel):
    """Test-time augmentation merged by Weighted Boxes Fusion.

    :class:`mmdet.models.DetTTAModel` maps every view back to the original
    image (undoing the flip; the resize is undone by the detector's
    ``rescale``) and merges with NMS. This subclass keeps that mapping and
    fuses with WBF instead (score-weighted coordinates, eq. 1 of the SISSI
    paper), then applies a final score threshold and, optionally, NMS. It
    works with any mmdet detector whose ``predict`` returns
    ``pred_instances`` boxes.

    The steps, per image: each view's boxes with score <= ``view_score_thr``
    are dropped; the views are mapped back and fused with WBF
    (``iou_thr``, ``skip_box_thr``, ``conf_type``, ``weights``); fused boxes
    with score < ``score_thr`` are dropped; then NMS at ``nms_iou_thr`` (if
    set); then the ``max_per_img`` best are kept (None: no cap).

    Views are run through the network ``views_per_batch`` at a time, all
    views of all images of the batch pooled (views of different sizes are
    padded by the data preprocessor, which does not move the boxes): on a
    GPU larger batches pay; on a CPU 1 is as fast.

    Args:
        tta_cfg (dict): ``view_score_thr`` (None: keep all), ``iou_thr``
            (0.5), ``skip_box_thr`` (0.0), ``conf_type`` ('avg'),
            ``weights`` (None: all views equal), ``score_thr`` (0.0,
            applied after fusion), ``nms_iou_thr`` (None: no NMS after
            fusion), ``max_per_img`` (1000; None: no cap), ``with_spread``
            (False; True adds ``pred_instances.spreads``, see
            :func:`view_spread`).
        views_per_batch (int): Views per forward pass. Defaults to 1.
        **kwargs: ``module`` (the detector) and other
            :class:`BaseTTAModel` arguments.
    """

    def __init__(self, tta_cfg: dict = None, views_per_batch: int = 1,
                 **kwargs) -> None:
        cfg = dict(view_score_thr=None, iou_thr=0.5, skip_box_thr=0.0,
                   conf_type='avg', weights=None, score_thr=0.0,
                   nms_iou_thr=None, max_per_img=1000, with_spread=False)
        unknown = set(tta_cfg or {}) - set(cfg)
        if unknown:
            raise ValueError(f'WBFTTAModel: unknown tta_cfg keys '
                             f'{sorted(unknown)}; expected {sorted(cfg)}')
        cfg.update(tta_cfg or {})
        super().__init__(tta_cfg=cfg, **kwargs)
        self.views_per_batch = max(1, int(views_per_batch))

    def test_step(self, data) -> List[DetDataSample]:
        """Predict all views, batched, then merge per image.

        Args:
            data (dict): A TTA batch: ``inputs`` and ``data_samples`` are
                lists over views of lists over images.

        Returns:
            list[DetDataSample]: One merged prediction per image.
        """
        inputs, samples = data['inputs'], data['data_samples']
        n_views, n_imgs = len(inputs), len(inputs[0])
        flat = [(v, i) for i in range(n_imgs) for v in range(n_views)]
        preds = {}
        for k in range(0, len(flat), self.views_per_batch):
            chunk = flat[k:k + self.views_per_batch]
            out = self.module.test_step(
                dict(inputs=[inputs[v][i] for v, i in chunk],
                     data_samples=[samples[v][i] for v, i in chunk]))
            preds.update(zip(chunk, out))
        return self.merge_preds([[preds[(v, i)] for v in range(n_views)]
                                 for i in range(n_imgs)])

    def _merge_single_sample(
            self, data_samples: List[DetDataSample]) -> DetDataSample:
        """Map each view back to the original image and fuse with WBF."""
        cfg = self.tta_cfg
        boxes, scores, labels = [], [], []
        for ds in data_samples:
            pred = ds.pred_instances
            if cfg['view_score_thr'] is not None:
                pred = pred[pred.scores > cfg['view_score_thr']]
            boxes.append(
                self.merge_aug_bboxes([pred.bboxes], None, [ds.metainfo]))
            scores.append(pred.scores)
            labels.append(pred.labels)
        ori_h, ori_w = data_samples[0].metainfo['ori_shape'][:2]
        fb, fs, fl = fuse_views(
            [b.detach().cpu().numpy() for b in boxes],
            [s.detach().cpu().numpy() for s in scores],
            [lab.detach().cpu().numpy() for lab in labels],
            img_shape=(ori_h, ori_w),
            iou_thr=cfg['iou_thr'],
            skip_box_thr=cfg['skip_box_thr'],
            conf_type=cfg['conf_type'],
            weights=cfg['weights'])
        keep = fs >= cfg['score_thr']
        fb, fs, fl = fb[keep], fs[keep], fl[keep]
        if cfg['nms_iou_thr'] is not None and len(fb):
            _, keep = batched_nms(
                torch.as_tensor(fb, dtype=torch.float32),
                torch.as_tensor(fs, dtype=torch.float32),
                torch.as_tensor(fl, dtype=torch.long),
                dict(type='nms', iou_threshold=cfg['nms_iou_thr']))
            keep = keep.numpy()
            fb, fs, fl = fb[keep], fs[keep], fl[keep]
        order = fs.argsort()[::-1][:cfg['max_per_img']].copy()
        device = boxes[0].device
        results = InstanceData()
        results.bboxes = torch.as_tensor(
            fb[order], dtype=torch.float32, device=device).reshape(-1, 4)
        results.scores = torch.as_tensor(
            fs[order], dtype=torch.float32, device=device)
        results.labels = torch.as_tensor(
            fl[order], dtype=torch.long, device=device)
        if cfg['with_spread']:  # the boxes WBF fused, clipped as it does
            lim = np.array([ori_w, ori_h, ori_w, ori_h], np.float64)
            views = [np.clip(b.detach().cpu().numpy().reshape(-1, 4), 0, lim)[
                sc.detach().cpu().numpy() >= cfg['skip_box_thr']]
                for b, sc in zip(boxes, scores)]
            results.spreads = torch.as_tensor(
                view_spread(fb[order], views, cfg['iou_thr']),
                dtype=torch.float32, device=device)
        merged = data_samples[0]
        merged.pred_instances = results
        return merged


def view_spread(fused: np.ndarray, views: List[np.ndarray],
                iou_thr: float) -> np.ndarray:
    """How much the views disagree on each fused box.

    Each view box joins the fused box it overlaps most, if at IoU >=
    ``iou_thr``; the spread of a fused box is the mean over its four
    coordinates of the standard deviation of its members' coordinate,
    divided by the fused box's width (x) or height (y). A box found by
    fewer than two distinct views has spread ``inf`` (nothing to agree
    on). 0: every view drew the same box; 0.1: the views' edges scatter by
    a tenth of the box size. Give the boxes the fusion used (its
    ``skip_box_thr``, clipped to the image).

    Args:
        fused (np.ndarray): (M, 4) xyxy fused boxes.
        views (list[np.ndarray]): Per view, (N_v, 4) xyxy boxes in the same
            frame.
        iou_thr (float): Membership IoU (the fusion's).

    Returns:
        np.ndarray: (M, ) float32 spreads.
    """
    out = np.full(len(fused), np.inf, np.float32)
    pool = np.concatenate([np.zeros((0, 4))] + list(views)).astype(
        np.float64)
    view = np.concatenate([np.zeros(0, np.int64)] + [
        np.full(len(v), i) for i, v in enumerate(views)])
    if not len(fused) or not len(pool):
        return out
    iou = box_iou(pool, fused.astype(np.float64))
    best, ok = iou.argmax(1), iou.max(1) >= iou_thr
    size = np.maximum(np.stack([fused[:, 2] - fused[:, 0],
                                fused[:, 3] - fused[:, 1]], 1), 1e-6)
    for j in range(len(fused)):
        member = ok & (best == j)
        members = pool[member]
        if len(np.unique(view[member])) >= 2:
            std = members.std(0) / np.tile(size[j], 2)
            out[j] = float(std.mean())
    return out
