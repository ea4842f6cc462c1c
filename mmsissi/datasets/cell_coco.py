# Copyright (c) mmsissi contributors. All rights reserved.
import os.path as osp
from typing import Dict, List, Optional

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from mmsissi.structures import sanitize_boxes

__all__ = ['CellCocoDataset']


@DATASETS.register_module()
class CellCocoDataset(CocoDataset):
    """COCO-style cell dataset with explicit category mapping and checks.

    Two things a plain :class:`CocoDataset` does silently that hurt when
    mixing datasets of different origin:

    - an annotation category whose name is not in ``metainfo['classes']`` is
      dropped without a word (e.g. the source set's ``nucleus`` boxes
      vanish when the classes are ``('cell', )``). Here every category must
      either be a class or be mapped to one with ``category_map``
      (``dict(nucleus='cell')``); anything else raises a ``ValueError``
      naming the annotation file and the category, unless
      ``ignore_unknown_categories=True``.
    - an image listed in the annotation file but missing on disk fails
      only when a worker reaches it. With ``check_files=True`` a missing
      image raises a ``FileNotFoundError`` at start-up, naming the file and
      the annotation file.

    Every box also passes the project's box rule
    (:func:`mmsissi.structures.sanitize_boxes`): clipped to the image and
    dropped when under 1 px wide or high, so a weak-label file from any tool
    cannot bring a degenerate box into training. How many were dropped is
    logged once per file (``num_dropped_boxes``).

    Args:
        category_map (dict, optional): Maps category names of the
            annotation file to class names. Defaults to None.
        ignore_unknown_categories (bool): Drop annotations of categories
            that are neither classes nor mapped, instead of raising.
            Defaults to False.
        check_files (bool): Check that every image file exists when the
            dataset is built. Defaults to True.
        **kwargs: Passed to :class:`mmdet.datasets.CocoDataset`.
    """

    METAINFO = {'classes': ('cell', ), 'palette': [(220, 20, 60)]}

    def __init__(self,
                 *args,
                 category_map: Optional[Dict[str, str]] = None,
                 ignore_unknown_categories: bool = False,
                 check_files: bool = True,
                 **kwargs) -> None:
        self.category_map = dict(category_map or {})
        self.ignore_unknown_categories = ignore_unknown_categories
        self.check_files = check_files
        super().__init__(*args, **kwargs)

    def _resolve_categories(self) -> None:
        """Set ``cat_ids`` / ``cat2label`` from names and ``category_map``."""
        classes = list(self.metainfo['classes'])
        self.cat_ids, self.cat2label, unknown = [], {}, []
        for cat in self.coco.dataset.get('categories', []):
            name = self.category_map.get(cat['name'], cat['name'])
            if name in classes:
                self.cat_ids.append(cat['id'])
                self.cat2label[cat['id']] = classes.index(name)
            else:
                unknown.append(cat['name'])
        bad_targets = set(self.category_map.values()) - set(classes)
        if bad_targets:
            raise ValueError(
                f'{self.ann_file}: category_map maps to {sorted(bad_targets)}'
                f', which are not among the classes {tuple(classes)}')
        if unknown and not self.ignore_unknown_categories:
            raise ValueError(
                f'{self.ann_file}: categories {unknown} are not among the '
                f'classes {tuple(classes)}. Map them with '
                f"category_map=dict({unknown[0]}='{classes[0]}') or set "
                'ignore_unknown_categories=True to drop them.')

    def load_data_list(self) -> List[dict]:
        """Load annotations from ``self.ann_file``.

        Returns:
            list[dict]: One data info per image.
        """
        with get_local_path(
                self.ann_file, backend_args=self.backend_args) as local_path:
            try:
                self.coco = self.COCOAPI(local_path)
            except Exception as e:  # noqa: BLE001 - re-raised with the file
                raise ValueError(f'{self.ann_file}: not a readable COCO '
                                 f'annotation file ({e})') from e
        self._resolve_categories()
        self.cat_img_map = {
            cat_id: list(self.coco.cat_img_map.get(cat_id, []))
            for cat_id in self.cat_ids
        }
        self.num_dropped_boxes = 0
        data_list, total_ann_ids, missing = [], [], []
        for img_id in self.coco.get_img_ids():
            raw_img_info = self.coco.load_imgs([img_id])[0]
            raw_img_info['img_id'] = img_id
            ann_ids = self.coco.get_ann_ids(img_ids=[img_id])
            total_ann_ids.extend(ann_ids)
            info = self.parse_data_info({
                'raw_ann_info': self.coco.load_anns(ann_ids),
                'raw_img_info': raw_img_info
            })
            if self.check_files and not osp.isfile(info['img_path']):
                missing.append(info['img_path'])
            data_list.append(info)
        if len(set(total_ann_ids)) != len(total_ann_ids):
            raise ValueError(
                f'{self.ann_file}: annotation ids are not unique')
        if not data_list:
            raise ValueError(
                f'{self.ann_file}: the annotation file lists no images '
                '(an empty target or source set cannot be trained on)')
        if missing:
            shown = ', '.join(missing[:5])
            more = f' and {len(missing) - 5} more' if len(missing) > 5 else ''
            raise FileNotFoundError(
                f'{self.ann_file}: {len(missing)} image file(s) referenced by '
                f'the annotations do not exist: {shown}{more}')
        if self.num_dropped_boxes:
            print_log(
                f'{self.ann_file}: {self.num_dropped_boxes} degenerate '
                'box(es) dropped (under 1 px wide or high after clipping '
                'to the image)', logger='current', level=30)
        del self.coco
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """Parse one image; also keeps its COCO ``file_name``."""
        info = super().parse_data_info(raw_data_info)
        info['file_name'] = raw_data_info['raw_img_info']['file_name']
        raw = raw_data_info['raw_ann_info']
        n_raw = sum(1 for a in raw if a.get('category_id') in self.cat_ids
                    and not a.get('ignore', False))
        instances = info['instances']
        if instances:
            boxes, keep = sanitize_boxes(
                [i['bbox'] for i in instances],
                (info['height'], info['width']))
            instances = [dict(i, bbox=[float(v) for v in b]) for i, b in
                         zip((i for i, k in zip(instances, keep) if k),
                             boxes)]
        # mmdet's own parser already drops some (w or h < 1, no overlap)
        self.num_dropped_boxes += n_raw - len(instances)
        info['instances'] = instances
        return info
