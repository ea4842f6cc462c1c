# Copyright (c) mmsissi contributors. All rights reserved.
"""A test hook recording the labels each training batch really carried."""
import hashlib
import json
import os.path as osp

from mmdet.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook


def _original(ds, instances):
    """The boxes of ``instances`` in original image pixels (a list)."""
    if instances is None or 'bboxes' not in instances:
        return []
    sx, sy = ds.scale_factor
    b = instances.bboxes
    b = (b.tensor if hasattr(b, 'tensor') else b).clone()
    b[:, 0::2] /= sx
    b[:, 1::2] /= sy
    return b.tolist()


@HOOKS.register_module()
class LabelRecorderHook(Hook):
    """Writes ``{work_dir}/seen_rank{r}.json``: per epoch, per target image,
    the boxes and ignore regions (in original pixels), the ``sissi_synth``
    flag and the md5 of
    the input image that reached the model; per epoch under ``'source'``,
    the md5 of every source image's input."""

    priority = 'LOWEST'

    def __init__(self, marker='/target/'):
        self.marker = marker
        self.seen = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        ep = str(runner.epoch + 1)
        for img, ds in zip(data_batch['inputs'], data_batch['data_samples']):
            md5 = hashlib.md5(img.cpu().numpy().tobytes()).hexdigest()
            if self.marker not in ds.img_path:
                self.seen.setdefault('source', {}).setdefault(
                    ep, {})[ds.img_path] = md5
                continue
            self.seen.setdefault(ep, {})[str(ds.img_id)] = dict(
                boxes=_original(ds, ds.gt_instances),
                ignore=_original(ds, ds.get('ignored_instances')),
                synth=ds.metainfo.get('sissi_synth'), md5=md5)

    def after_train_epoch(self, runner):
        path = osp.join(runner.work_dir, f'seen_rank{get_rank()}.json')
        with open(path, 'w') as f:
            json.dump(self.seen, f)


from mmsissi.engine.hooks import ADELEHook  # noqa: E402


@HOOKS.register_module()
class ScriptedADELEHook(ADELEHook):
    """ADELE with a scripted AP50 per epoch instead of a model pass, so
    resume tests are deterministic (the fit, decision, MessageHub state,
    checkpointing and plotting are the real ones)."""

    def __init__(self, values, **kwargs):
        super().__init__(**kwargs)
        self.values = list(values)

    def measure(self, runner):
        return float(self.values[runner.epoch])


import os.path as _osp  # noqa: E402

from mmsissi.datasets import LabelStore  # noqa: E402
from mmsissi.engine.hooks import PseudoLabelHook  # noqa: E402


@HOOKS.register_module()
class DivergentPseudoLabelHook(PseudoLabelHook):
    """Rank 1 reads its labels from another folder, as if the work dir were
    not shared between nodes: the ranks would train on different labels."""

    def _check_ranks_agree(self, runner, path):
        if get_rank() == 1:
            other = LabelStore(_osp.join(runner.work_dir, 'labels_rank1'))
            path = other.write(runner.epoch + 1, [
                dict(id=1, file_name='x.png', height=8, width=8)
            ], {1: [[1, 1, 4, 4]]})
            other.refresh()
            self.store = other
        super()._check_ranks_agree(runner, path)
