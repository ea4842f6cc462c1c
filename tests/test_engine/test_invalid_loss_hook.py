# Copyright (c) mmsissi contributors. All rights reserved.
"""InvalidLossHook: a NaN or inf loss stops training with an error naming
the epoch, the iteration, the loss terms and the intact checkpoint; a
finite loss passes."""
from types import SimpleNamespace

import pytest
import torch
from mmdet.registry import HOOKS

from mmsissi.engine.hooks import InvalidLossHook


def _runner(tmp_path, epoch=2, it=9):
    return SimpleNamespace(epoch=epoch, iter=it, work_dir=str(tmp_path))


def _outputs(loss, **terms):
    return dict(loss=torch.tensor(loss),
                **{k: torch.tensor(v) for k, v in terms.items()})


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_invalid_loss_raises_naming_epoch_and_iteration(tmp_path, bad):
    hook = InvalidLossHook()
    with pytest.raises(FloatingPointError) as info:
        hook.after_train_iter(_runner(tmp_path), 0,
                              outputs=_outputs(bad, loss_cls=bad,
                                               loss_bbox=0.25))
    msg = str(info.value)
    assert f'loss is {bad}' in msg
    assert 'epoch 3, iteration 10' in msg  # 1-based, as logged
    assert 'loss_cls=' in msg and 'loss_bbox=0.25' in msg
    assert 'checkpoint (none yet)' in msg and '--resume' in msg


def test_names_the_last_checkpoint(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(
        str(tmp_path / 'epoch_2.pth') + '\n')
    with pytest.raises(FloatingPointError, match='epoch_2.pth'):
        InvalidLossHook().after_train_iter(_runner(tmp_path), 0,
                                           outputs=_outputs(float('nan')))


def test_finite_loss_passes(tmp_path):
    hook = HOOKS.build(dict(type='InvalidLossHook'))
    assert isinstance(hook, InvalidLossHook) and hook.interval == 1
    assert hook.after_train_iter(_runner(tmp_path), 0,
                                 outputs=_outputs(1.5, loss_cls=1.0)) is None
    assert hook.after_train_iter(_runner(tmp_path), 0, outputs=None) is None
    assert hook.after_train_iter(_runner(tmp_path), 0, outputs={}) is None


def test_interval(tmp_path):
    hook = InvalidLossHook(interval=5)
    nan = _outputs(float('nan'))
    hook.after_train_iter(_runner(tmp_path, it=7), 0, outputs=nan)  # 8th
    with pytest.raises(FloatingPointError, match='iteration 10'):
        hook.after_train_iter(_runner(tmp_path, it=9), 0, outputs=nan)
