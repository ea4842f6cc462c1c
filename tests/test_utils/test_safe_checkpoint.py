# Copyright (c) mmsissi contributors. All rights reserved.
"""Checkpoints load with ``weights_only=True`` and an allowlist (issue 19):
a pickle that would run code is refused and runs nothing; MMEngine's own
checkpoints and the OpenMMLab model-zoo format still load."""
import builtins
import os
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import CheckpointLoader, load_checkpoint

import mmsissi  # noqa: F401 - registers the safe loaders
from mmsissi.utils import UnsafeCheckpointError, safe_torch_load
from mmsissi.utils.checkpoint import TRUST_ENV, safe_getattr


class _CreatesFile:
    """Unpickling this calls ``open(path, 'w')``: it creates the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return builtins.open, (self.path, 'w')


class _ReachesPrivate:
    """Unpickles through ``getattr`` to a private attribute."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '_statistics_methods')


def _tiny_model():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3),
                               torch.nn.BatchNorm2d(4))


def _mmengine_like(model):
    """A checkpoint as MMEngine 0.10's ``Runner.save_checkpoint`` writes it."""
    hub = MessageHub('safe-ckpt-test')
    for v in (1.0, 0.5, 0.25):
        hub.update_scalar('train/loss', v)
    hub.update_info('sissi/val_loss_best', dict(epoch=3, loss=np.float64(0.4)))
    hub.update_info('counts', np.arange(3, dtype=np.int64))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model(torch.rand(1, 3, 8, 8)).sum().backward()
    opt.step()
    return dict(
        meta=dict(epoch=3, iter=60, seed=np.int64(7), cfg='model = dict()',
                  mmengine_version='0.10.7', time='20261201_000000',
                  dataset_meta=dict(classes=('cell', ))),
        state_dict=OrderedDict(model.state_dict()),
        message_hub=hub.state_dict(), optimizer=opt.state_dict(),
        param_schedulers=[dict(base_lrs=[0.01], last_epoch=3)])


def _model_zoo_like(model):
    """An OpenMMLab model-zoo checkpoint (mmcv 1.x / mmdet 2.x era)."""
    return dict(
        meta=dict(mmdet_version='2.25.0', mmcv_version='1.5.0',
                  CLASSES=('person', 'bicycle'), env_info='sys.platform: '
                  'linux', config='model = dict()', epoch=12, iter=87960,
                  time='Thu Jan 30 2020', hook_msgs=dict(last_ckpt='x.pth')),
        state_dict=OrderedDict(model.state_dict()),
        optimizer=dict(state={}, param_groups=[dict(lr=0.02, params=[0])]))


def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / 'created_by_pickle'
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, meta=dict(x=_CreatesFile(marker))), path)
    for load in (lambda: CheckpointLoader.load_checkpoint(str(path)),
                 lambda: load_checkpoint(_tiny_model(), str(path)),
                 lambda: safe_torch_load(str(path), weights_only=False)):
        with pytest.raises(UnsafeCheckpointError) as err:
            load()
        assert str(path) in str(err.value)
        assert 'open' in str(err.value) and TRUST_ENV in str(err.value)
        assert not marker.exists()
    # the escape hatch is exactly what the docs say: a trusted file may
    # run code
    os.environ[TRUST_ENV] = '1'
    try:
        CheckpointLoader.load_checkpoint(str(path))
    finally:
        os.environ.pop(TRUST_ENV)
    assert marker.exists()


def test_getattr_is_restricted_to_public_attributes_of_history_buffer(
        tmp_path):
    assert safe_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in ((HistoryBuffer, '__init__'), (os, 'system'),
                      (HistoryBuffer, '_statistics_methods'),
                      (np.ndarray, 'tofile'), (HistoryBuffer(), 'mean')):
        with pytest.raises(UnsafeCheckpointError):
            safe_getattr(obj, name)
    path = tmp_path / 'private.pth'
    torch.save(dict(meta=dict(x=_ReachesPrivate())), path)
    with pytest.raises(UnsafeCheckpointError, match='_statistics_methods'):
        CheckpointLoader.load_checkpoint(str(path))


def test_loaders_force_weights_only_and_leave_torch_load_alone(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save(dict(x=_CreatesFile(tmp_path / 'm')), path)
    os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'  # a user's env
    try:
        with pytest.raises(UnsafeCheckpointError):
            CheckpointLoader.load_checkpoint(str(path))
    finally:
        os.environ.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
    assert not (tmp_path / 'm').exists()
    # other torch.load calls keep torch's own behaviour
    torch.load(path, weights_only=False)
    assert (tmp_path / 'm').exists()
    assert 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' not in os.environ
    for scheme in ('', 'https://', 'open-mmlab://', 'torchvision://'):
        assert CheckpointLoader._schemes[scheme].__mmsissi_safe__


@pytest.mark.parametrize('zipfile', [True, False], ids=['zip', 'legacy'])
@pytest.mark.parametrize('kind', ['mmengine', 'model_zoo'])
def test_mmengine_and_model_zoo_checkpoints_load(tmp_path, kind, zipfile):
    model = _tiny_model()
    ckpt = (_mmengine_like if kind == 'mmengine' else _model_zoo_like)(model)
    path = tmp_path / f'{kind}.pth'
    torch.save(ckpt, path, _use_new_zipfile_serialization=zipfile)
    back = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert back['meta'] == ckpt['meta']
    for k, v in ckpt['state_dict'].items():
        assert torch.equal(back['state_dict'][k], v), k
    if kind == 'mmengine':
        hub = MessageHub('safe-ckpt-back')
        hub.load_state_dict(back['message_hub'])
        assert hub.get_scalar('train/loss').mean() == pytest.approx(7 / 12)
        assert hub.get_info('counts').tolist() == [0, 1, 2]
        assert back['optimizer']['state'][0]['momentum_buffer'].shape == \
            model[0].weight.shape
    other = _tiny_model()
    load_checkpoint(other, str(path), map_location='cpu')
    assert torch.equal(other[1].running_mean, model[1].running_mean)
