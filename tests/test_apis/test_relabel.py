# Copyright (c) mmsissi contributors. All rights reserved.
"""``mmsissi.apis.relabel`` / ``tools/relabel.py``: one pass of a
correction config's PseudoLabelHook with a checkpoint's weights, the
labels it would train the next epoch on (the iterated refit)."""
import hashlib
import json

import numpy as np
import pytest
from mmengine.runner import Runner

from mmsissi.apis.relabel import RelabelError, relabel
from tests.helpers.tiny import shrink_relabelling, tiny_cfg

WEAK = ('target', 'train_weak.json')


def _boxes(path):
    coco = json.load(open(path))
    out = {}
    for a in coco['annotations']:
        out.setdefault(a['image_id'], []).append(
            (a['bbox'], a.get('score', 1.0), a.get('iscrowd', 0)))
    return {k: sorted(v) for k, v in out.items()}


def _merge_cfg(work, demo_data, epochs):
    cfg = tiny_cfg(work, demo_data.joinpath(*WEAK), epochs=epochs,
                   config='configs/sissi/levers/sissi_merge_refine.py')
    for h in cfg.custom_hooks:
        if h['type'] == 'ValLossStartHook':
            h['max_start_epoch'] = 1  # correction starts after epoch 1
    return shrink_relabelling(cfg, score_thr=0.05)


def test_relabel_refuses_a_config_without_a_pseudo_label_hook(
        tmp_path, demo_data):
    cfg = tiny_cfg(tmp_path / 'sup', demo_data.joinpath(*WEAK))
    ckpt = tmp_path / 'w.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(RelabelError, match='exactly one PseudoLabelHook'):
        relabel(cfg, str(ckpt), str(tmp_path / 'out'))
    with pytest.raises(RelabelError, match='no such checkpoint'):
        relabel(cfg, str(tmp_path / 'missing.pth'), str(tmp_path / 'out'))


@pytest.mark.slow
def test_relabel_makes_the_labels_the_hook_makes_in_training(tmp_path,
                                                             demo_data):
    """Trained two epochs, the hook relabels before epoch 2 with the
    weights of epoch 1; relabelling with epoch_1.pth must give the same
    file, merged into the same initial labels, which stay untouched."""
    weak = demo_data.joinpath(*WEAK)
    digest = hashlib.md5(weak.read_bytes()).hexdigest()
    runner = Runner.from_cfg(_merge_cfg(tmp_path / 'train', demo_data, 2))
    runner.train()
    trained = tmp_path / 'train' / 'labels' / 'epoch_2.json'
    assert trained.is_file()
    out = relabel(_merge_cfg(tmp_path / 'train', demo_data, 2),
                  str(tmp_path / 'train' / 'epoch_1.pth'),
                  str(tmp_path / 'relabel'))
    assert out == str(tmp_path / 'relabel' / 'labels' / 'epoch_1.json')
    got, want = _boxes(out), _boxes(trained)
    assert got.keys() == want.keys() and got
    # the weights matter: the hook's labels are not the initial ones
    # (boxes refined or added), so unloaded weights would not match them
    def rounded(boxes):
        return {k: sorted(tuple(np.round(b)) for b, _, _ in v)
                for k, v in boxes.items()}
    assert rounded(want) != rounded(_boxes(weak))
    for k in want:
        assert len(got[k]) == len(want[k])
        np.testing.assert_allclose([b for b, _, _ in got[k]],
                                   [b for b, _, _ in want[k]], atol=1e-3)
    assert hashlib.md5(weak.read_bytes()).hexdigest() == digest
    # merge kept every initial box (refined or as is): not fewer labels
    n_weak = len(json.load(open(weak))['annotations'])
    labels = [a for a in json.load(open(out))['annotations']
              if not a.get('iscrowd', 0)]
    assert len(labels) >= n_weak
