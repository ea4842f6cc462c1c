# Copyright (c) mmsissi contributors. All rights reserved.
"""A test hook recording the labels each training batch really carried."""
import json
import os.path as osp

from mmdet.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook


@HOOKS.register_module()
class LabelRecorderHook(Hook):
    """Writes ``{work_dir}/seen_rank{r}.json``: per epoch, per target image,
    the boxes (in original pixels) and the ``sissi_synth`` flag that reached
    the model."""

    priority = 'LOWEST'

    def __init__(self, marker='/target/'):
        self.marker = marker
        self.seen = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        ep = str(runner.epoch + 1)
        for ds in data_batch['data_samples']:
            if self.marker not in ds.img_path:
                continue
            sx, sy = ds.scale_factor
            b = ds.gt_instances.bboxes.tensor.clone()
            b[:, 0::2] /= sx
            b[:, 1::2] /= sy
            self.seen.setdefault(ep, {})[str(ds.img_id)] = dict(
                boxes=b.tolist(), synth=ds.metainfo.get('sissi_synth'))

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
