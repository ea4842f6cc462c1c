# Copyright (c) mmsissi contributors. All rights reserved.
"""A full disk (any ``OSError``) while writing labels (issue 19): a clear
error naming the store, the previous labels untouched and still current,
no temporary file left; in a real run the training stops with it."""
import errno
import json
import os

import numpy as np
import pytest
from mmengine.runner import Runner

import mmsissi.datasets.label_store as label_store
from mmsissi.datasets import LabelStore, LabelWriteError
from mmsissi.fileio import atomic_write
from tests.helpers.tiny import tiny_cfg

IMAGES = [dict(id=i, file_name=f'{i}.png', height=64, width=64)
          for i in range(1, 4)]
V1 = {i: np.array([[1, 1, 9, 9]]) for i in range(1, 4)}
V2 = {i: np.array([[5, 5, 50, 50]]) for i in range(1, 4)}


def _disk_full_on(name, monkeypatch):
    """``atomic_dump_json`` into a file called ``name`` writes part of it,
    then fails as a full disk does (ENOSPC), through the real atomic
    write and its clean-up."""
    real = label_store.atomic_dump_json

    def dump(obj, path):
        if os.path.basename(path) != name:
            return real(obj, path)

        def write(f):
            f.write(json.dumps(obj)[:50])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        atomic_write(path, write)

    monkeypatch.setattr(label_store, 'atomic_dump_json', dump)


@pytest.mark.parametrize('failing', ['epoch_2.json', 'index.json'])
def test_disk_full_keeps_the_previous_labels(tmp_path, monkeypatch,
                                             failing):
    store = LabelStore(str(tmp_path))
    store.write(1, IMAGES, V1)
    before = {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}
    _disk_full_on(failing, monkeypatch)
    with pytest.raises(LabelWriteError) as err:
        store.write(2, IMAGES, V2)
    msg = str(err.value)
    assert str(tmp_path) in msg and 'No space left on device' in msg
    assert 'epoch 2' in msg and 'epoch 1 (epoch_1.json) are still current' \
        in msg
    for p, data in before.items():  # nothing overwritten
        assert (tmp_path / p).read_bytes() == data
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]
    fresh = LabelStore(str(tmp_path))
    fresh.refresh()
    assert fresh.version == 1 and fresh.read_index()['epoch'] == 1
    for i in V1:
        np.testing.assert_allclose(fresh.boxes(i), V1[i])


def test_disk_full_on_the_first_write_says_no_labels_were_current(
        tmp_path, monkeypatch):
    _disk_full_on('epoch_1.json', monkeypatch)
    with pytest.raises(LabelWriteError, match='initial annotations'):
        LabelStore(str(tmp_path)).write(1, IMAGES, V1)
    assert LabelStore(str(tmp_path)).read_index() is None


@pytest.mark.slow
def test_a_real_run_stops_and_keeps_the_last_labels(tmp_path, monkeypatch,
                                                    demo_data):
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json',
                   epochs=3, hooks=[dict(
                       type='PseudoLabelHook', start_epoch=1,
                       views=((1.0, ), ('none', 'horizontal')))])
    _disk_full_on('epoch_3.json', monkeypatch)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(LabelWriteError) as err:
        runner.train()
    assert 'PseudoLabelHook' in str(err.value)
    assert 'epoch 2 (epoch_2.json) are still current' in str(err.value)
    labels = tmp_path / 'labels'
    assert sorted(os.listdir(labels)) == ['epoch_2.json', 'index.json']
    assert json.load(open(labels / 'index.json'))['epoch'] == 2
    assert len(json.load(open(labels / 'epoch_2.json'))['images']) == 12
    assert not (tmp_path / 'epoch_3.pth').exists()
