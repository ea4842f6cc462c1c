# Copyright (c) mmsissi contributors. All rights reserved.
import contextlib
import csv
import io
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import dump, get_local_path
from mmengine.logging import MMLogger, print_log

__all__ = ['PerReaderCocoMetric']

METRIC_NAMES = ('AP50', 'AP75', 'AP', 'AR')


@METRICS.register_module()
class PerReaderCocoMetric(CocoMetric):
    """COCO box AP/AR of one set of predictions against several readers.

    The test images of a cell-counting study are often annotated by
    several experts ("readers"), each in a COCO file of their own. This
    metric evaluates the same predictions against every reader and reports
    the paper's Table 1 columns for each: ``AP50``, ``AP75``, ``AP``
    (IoU 0.50:0.95) and ``AR``, as ``{reader}/{metric}``, plus their mean
    over readers as ``mean/{metric}``.

    Differences from :class:`mmdet.evaluation.CocoMetric`, on purpose:

    - **No truncation at 100 detections.** pycocotools computes ``AP``
      (``stats[0]``) at ``maxDets=100`` whatever ``proposal_nums`` say, so
      an image with 150 perfectly found cells scores 0.66. All four numbers
      here use ``max_dets`` (default 1000) detections per image.
    - **Images are matched by file name**, not by id: each reader's file
      may number images its own way. A test image missing from a reader's
      file raises a ``ValueError`` naming the reader's file (the reader did
      not read that image); images a reader annotated that are not in the
      test set are ignored with a warning.
    - Reader categories are mapped onto the classes by name (or
      ``category_map``), like :class:`mmsissi.datasets.CellCocoDataset`.

    Args:
        readers (dict | list[dict]): ``{name: ann_file}`` or a list of
            ``dict(name=..., ann_file=...)``.
        max_dets (int): Detections per image kept for AP and AR.
            Defaults to 1000.
        category_map (dict, optional): Maps reader category names to class
            names. Defaults to None.
        outfile_prefix (str, optional): If given, the per-reader table is
            written to ``{outfile_prefix}.per_reader.csv`` and the
            detections to ``{outfile_prefix}.bbox.json``. Defaults to None.
        prefix (str, optional): Metric name prefix. Defaults to None.
        **kwargs: Other arguments of :class:`CocoMetric` (``iou_thrs``,
            ``backend_args``, ``collect_device``).
    """

    default_prefix: Optional[str] = 'coco'

    def __init__(self,
                 readers: Union[Dict[str, str], Sequence[dict]],
                 max_dets: int = 1000,
                 category_map: Optional[Dict[str, str]] = None,
                 outfile_prefix: Optional[str] = None,
                 **kwargs) -> None:
        kwargs.pop('ann_file', None)
        kwargs.pop('metric', None)
        super().__init__(
            ann_file=None,
            metric='bbox',
            outfile_prefix=outfile_prefix,
            proposal_nums=(max_dets, ),
            **kwargs)
        if isinstance(readers, dict):
            readers = [dict(name=k, ann_file=v) for k, v in readers.items()]
        readers = [dict(r) for r in readers]
        if not readers:
            raise ValueError('PerReaderCocoMetric needs at least one reader')
        names = [r['name'] for r in readers]
        if len(set(names)) != len(names):
            raise ValueError(f'reader names must be unique, got {names}')
        self.readers = readers
        self.max_dets = int(max_dets)
        self.category_map = dict(category_map or {})

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each image's file name, size and predicted boxes."""
        for ds in data_samples:
            pred = ds['pred_instances']
            self.results.append(
                dict(
                    file=osp.basename(ds['img_path']),
                    img_id=ds['img_id'],
                    bboxes=pred['bboxes'].detach().cpu().numpy(),
                    scores=pred['scores'].detach().cpu().numpy(),
                    labels=pred['labels'].detach().cpu().numpy()))

    def _load_reader(self, reader: dict) -> COCO:
        ann_file = reader['ann_file']
        if not osp.isfile(ann_file) and '://' not in ann_file:
            raise FileNotFoundError(
                f"reader '{reader['name']}': annotation file {ann_file} "
                'does not exist')
        with get_local_path(ann_file, backend_args=self.backend_args) as p:
            with contextlib.redirect_stdout(io.StringIO()):
                return COCO(p)

    def _cat_ids(self, coco: COCO, reader: dict) -> List[int]:
        """Reader category id of each class index (label)."""
        classes = list(self.dataset_meta['classes'])
        ids: List[Optional[int]] = [None] * len(classes)
        for cat in coco.dataset.get('categories', []):
            name = self.category_map.get(cat['name'], cat['name'])
            if name in classes and ids[classes.index(name)] is None:
                ids[classes.index(name)] = cat['id']
        if len(classes) == 1 and ids[0] is None and len(
                coco.dataset.get('categories', [])) == 1:
            # one class, one category: the names may differ
            ids[0] = coco.dataset['categories'][0]['id']
        if any(i is None for i in ids):
            raise ValueError(
                f"reader '{reader['name']}' ({reader['ann_file']}): "
                f'categories {[c["name"] for c in coco.dataset["categories"]]}'
                f' do not cover the classes {tuple(classes)}; '
                'set category_map')
        return ids

    def _evaluate_reader(self, reader: dict, results: list) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        coco = self._load_reader(reader)
        cat_ids = self._cat_ids(coco, reader)
        by_name = {}
        for img in coco.dataset.get('images', []):
            by_name.setdefault(osp.basename(img['file_name']), img['id'])
        missing = [r['file'] for r in results if r['file'] not in by_name]
        if missing:
            raise ValueError(
                f"reader '{reader['name']}' ({reader['ann_file']}) has no "
                f'image entry for {len(missing)} test image(s), e.g. '
                f'{missing[:3]}: reader files must list every test image '
                '(match is by file name)')
        img_ids = [by_name[r['file']] for r in results]
        extra = set(by_name.values()) - set(img_ids)
        if extra:
            print_log(
                f"reader '{reader['name']}': {len(extra)} annotated image(s) "
                'are not in the test set and are ignored',
                logger=logger,
                level=30)
        dets = []
        for r, img_id in zip(results, img_ids):
            order = np.argsort(-r['scores'], kind='stable')[:self.max_dets]
            for i in order:
                x1, y1, x2, y2 = (float(v) for v in r['bboxes'][i])
                dets.append(
                    dict(
                        image_id=img_id,
                        bbox=[x1, y1, x2 - x1, y2 - y1],
                        score=float(r['scores'][i]),
                        category_id=cat_ids[int(r['labels'][i])]))
        out = OrderedDict((k, 0.0) for k in METRIC_NAMES)
        if not dets:
            logger.warning(f"reader '{reader['name']}': no detections at all")
            return out
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = coco.loadRes(dets)
            ev = COCOeval(coco, coco_dt, 'bbox')
            ev.params.imgIds = sorted(set(img_ids))
            ev.params.catIds = cat_ids
            ev.params.iouThrs = np.asarray(self.iou_thrs)
            ev.params.maxDets = [self.max_dets]
            ev.evaluate()
            ev.accumulate()
        precision = ev.eval['precision'][:, :, :, 0, 0]  # T, R, K
        recall = ev.eval['recall'][:, :, 0, 0]  # T, K
        thrs = ev.params.iouThrs

        def _mean(a):
            a = a[a > -1]
            return float(a.mean()) if a.size else 0.0

        out['AP'] = _mean(precision)
        out['AP50'] = _mean(precision[np.isclose(thrs, 0.5)])
        out['AP75'] = _mean(precision[np.isclose(thrs, 0.75)])
        out['AR'] = _mean(recall)
        return out

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Evaluate against every reader.

        Args:
            results (list): What :meth:`process` collected.

        Returns:
            dict[str, float]: ``{reader}/{AP50,AP75,AP,AR}`` and
            ``mean/{...}``.
        """
        logger = MMLogger.get_current_instance()
        table = OrderedDict()
        for reader in self.readers:
            table[reader['name']] = self._evaluate_reader(reader, results)
        table['mean'] = OrderedDict(
            (k, float(np.mean([t[k] for t in table.values()])))
            for k in METRIC_NAMES)
        n_dets = sum(len(r['scores']) for r in results)
        logger.info('\n' + self.format_table(table) +
                    f'\n({len(results)} images, {n_dets} detections, '
                    f'max {self.max_dets} per image)')
        if self.outfile_prefix is not None:
            self.write_outputs(table, results)
        return OrderedDict((f'{name}/{k}', round(v, 4))
                           for name, row in table.items()
                           for k, v in row.items())

    @staticmethod
    def format_table(table: Dict[str, Dict[str, float]]) -> str:
        """Format ``{reader: {metric: value}}`` like the paper's Table 1."""
        lines = ['reader'.ljust(16) + ''.join(k.rjust(8) for k in METRIC_NAMES)]
        for name, row in table.items():
            lines.append(
                str(name).ljust(16) +
                ''.join(f'{100 * row[k]:8.1f}' for k in METRIC_NAMES))
        return '\n'.join(lines)

    def write_outputs(self, table: dict, results: list) -> None:
        """Write the table as CSV and the detections as COCO json."""
        os.makedirs(osp.dirname(osp.abspath(self.outfile_prefix)),
                    exist_ok=True)
        csv_path = f'{self.outfile_prefix}.per_reader.csv'
        with open(csv_path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['reader', *METRIC_NAMES])
            for name, row in table.items():
                writer.writerow([name] + [f'{row[k]:.4f}'
                                          for k in METRIC_NAMES])
        dets = [
            dict(file_name=r['file'], image_id=int(r['img_id']),
                 bbox=[float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                 score=float(s), category_id=int(lab) + 1)
            for r in results
            for (x1, y1, x2, y2), s, lab in zip(r['bboxes'], r['scores'],
                                                 r['labels'])
        ]
        dump(dets, f'{self.outfile_prefix}.bbox.json')
        print_log(f'per-reader table written to {csv_path}',
                  logger='current')
