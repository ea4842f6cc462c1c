# Copyright (c) mmsissi contributors. All rights reserved.
"""PseudoLabelHook(labeller=...): with mmengine's EMAHook in the config the
averaged weights (BatchNorm buffers included) make the pseudo labels."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.hooks import EMAHook
from mmengine.runner import Runner

from mmsissi.engine.hooks import PseudoLabelHook
from tests.helpers.tiny import tiny_cfg


def _runner(*hooks):
    model = torch.nn.Linear(2, 2)
    for h in hooks:
        if isinstance(h, EMAHook):
            h.before_run(SimpleNamespace(model=model))
    return SimpleNamespace(hooks=list(hooks), model=model)


def test_which_weights_label():
    ema = EMAHook(update_buffers=True)
    runner = _runner(ema)
    auto = PseudoLabelHook(dataloader={})
    assert auto.labelling_model(runner) is ema.ema_model.module
    assert auto.labelling_model(runner) is not runner.model
    model = PseudoLabelHook(dataloader={}, labeller='model')
    assert model.labelling_model(runner) is runner.model
    # no EMA: 'auto' labels with the model, 'ema' is an error
    bare = _runner()
    assert auto.labelling_model(bare) is bare.model
    with pytest.raises(ValueError, match='needs an EMAHook'):
        PseudoLabelHook(dataloader={}, labeller='ema').labelling_model(bare)
    # an EMA that copies the trained BatchNorm buffers: 'auto' labels with
    # the model, 'ema' refuses
    bufferless = _runner(EMAHook())
    assert auto.labelling_model(bufferless) is bufferless.model
    with pytest.raises(ValueError, match='update_buffers=True'):
        PseudoLabelHook(dataloader={}, labeller='ema').labelling_model(
            bufferless)
    with pytest.raises(ValueError, match='labeller must be'):
        PseudoLabelHook(dataloader={}, labeller='teacher')


def _boxes(coco):
    out = {i['id']: [] for i in coco['images']}
    for a in coco['annotations']:
        x, y, w, h = a['bbox']
        out[a['image_id']].append([x, y, x + w, y + h])
    return {k: np.array(v, np.float64).reshape(-1, 4) for k, v in out.items()}


def _same(a, b, atol=0.02):
    if a.shape != b.shape:
        return False
    key = lambda x: np.lexsort(x.T[::-1])  # noqa: E731
    return np.allclose(a[key(a)], b[key(b)], atol=atol)


@pytest.mark.slow
def test_ema_makes_the_pseudo_labels_in_a_real_run(tmp_path, demo_data):
    """A frozen EMA (momentum ~0: the weights after the first iteration)
    labels epoch 3; after training, the hook's own pass with the EMA gives
    the same labels again, and the trained model gives others."""
    initial = demo_data / 'target' / 'train_manual.json'
    cfg = tiny_cfg(tmp_path, initial, epochs=3, hooks=[
        dict(type='EMAHook', momentum=1e-9, update_buffers=True),
        dict(type='PseudoLabelHook', start_epoch=2,
             views=((1.0, ), ('none', 'vertical')),
             tta_cfg=dict(score_thr=0.0, skip_box_thr=0.0, nms_iou_thr=None,
                          max_per_img=50))])
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, PseudoLabelHook))
    written = _boxes(json.load(open(tmp_path / 'labels' / 'epoch_3.json')))
    store_images = {i['id']: i for i in json.load(open(
        tmp_path / 'labels' / 'epoch_3.json'))['images']}

    def pass_with(labeller):
        hook.labeller = labeller
        preds = hook.predict_target(runner)
        return {k: np.round(v['bboxes'].astype(np.float64), 2)
                for k, v in preds.items() if k in store_images}
    again = pass_with('auto')
    assert sum(len(v) for v in written.values()) > 0
    same = [_same(written[k], v) for k, v in again.items() if len(v)]
    assert np.mean(same) > 0.9  # clipping may drop a box here and there
    trained = pass_with('model')
    assert not all(_same(trained[k], again[k]) for k in again)
