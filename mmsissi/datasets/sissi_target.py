# Copyright (c) mmsissi contributors. All rights reserved.
from typing import List, Optional

from mmdet.registry import DATASETS

from .cell_coco import CellCocoDataset
from .label_store import LabelStore

__all__ = ['SISSITargetDataset']


@DATASETS.register_module()
class SISSITargetDataset(CellCocoDataset):
    """The target set: its own annotation file holds the initial weak
    labels; once label correction has started, the current labels come
    from a :class:`LabelStore`.

    The store is attached by :class:`PseudoLabelHook` before the
    dataloader workers start (``attach_label_store``), so forked and
    persistent workers inherit it. Each :meth:`get_data_info` checks the
    store's index (one ``os.stat``) and reloads only when a new version was
    written, so workers, persistent workers and DDP ranks all train on the
    labels of the current file, with no inter-process messaging.

    Ignore regions of the store (``iscrowd`` boxes, see
    ``PseudoLabelHook(ignore_band=...)``) are served as instances with
    ``ignore_flag=1``, mmdet's ignore path (``gt_instances_ignore``).

    The data info gains ``sissi_synth`` (read by
    :class:`SeamlessSynth`): True once the store says synthetic-like images
    should be made.

    Args:
        label_store (str, optional): Store directory, if known at config
            time. Usually None, attached by the hook. Defaults to None.
        **kwargs: Passed to :class:`CellCocoDataset`.
    """

    def __init__(self, *args, label_store: Optional[str] = None,
                 **kwargs) -> None:
        self.label_store = LabelStore(label_store) if label_store else None
        super().__init__(*args, **kwargs)

    def attach_label_store(self, root: str) -> LabelStore:
        """Read current labels from the store at ``root`` from now on."""
        self.label_store = LabelStore(root)
        return self.label_store

    def get_data_info(self, idx: int) -> dict:
        """Data info with the store's current labels, if any."""
        info = super().get_data_info(idx)
        store = self.label_store
        if store is not None:
            store.refresh()
            if store.active:
                info['instances'] = [
                    dict(bbox=[float(v) for v in b], bbox_label=0,
                         ignore_flag=flag)
                    for flag, boxes in ((0, store.boxes(info['img_id'])),
                                        (1, store.ignore_boxes(
                                            info['img_id'])))
                    for b in boxes]
                info['sissi_synth'] = store.synthesize
        info.setdefault('sissi_synth', False)
        return info

    def coco_images(self) -> List[dict]:
        """COCO ``images`` entries of all images, for writing labels."""
        self.full_init()
        out = []
        for i in range(len(self)):
            info = super().get_data_info(i)
            out.append(dict(id=int(info['img_id']),
                            file_name=info['file_name'],
                            height=int(info['height']),
                            width=int(info['width'])))
        return out
