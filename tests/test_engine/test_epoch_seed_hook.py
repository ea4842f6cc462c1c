# Copyright (c) mmsissi contributors. All rights reserved.
"""EpochSeedHook: every epoch's random draws are a function of seed + epoch,
whatever was drawn before (as after ``--resume``)."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmdet.registry import HOOKS

from mmsissi.engine.hooks.epoch_seed_hook import EpochSeedHook


def _draws():
    """One draw from each generator an epoch uses."""
    return (random.random(), tuple(np.random.rand(4)),
            tuple(torch.rand(4).tolist()), torch.randint(0, 10**9,
                                                         (1, )).item())


def _epoch_draws(hook, seed, epoch, warm_up=0):
    """Draws after ``before_train_epoch``; ``warm_up`` draws made before it
    stand for earlier epochs (or their absence after a resume)."""
    for _ in range(warm_up):
        _draws()
    hook.before_train_epoch(SimpleNamespace(seed=seed, epoch=epoch))
    return _draws()


def test_same_seed_and_epoch_same_draws():
    hook = EpochSeedHook()
    a = _epoch_draws(hook, seed=7, epoch=3)
    b = _epoch_draws(hook, seed=7, epoch=3, warm_up=25)
    c = _epoch_draws(EpochSeedHook(), seed=7, epoch=3, warm_up=3)
    assert a == b == c


def test_different_epoch_different_draws():
    hook = EpochSeedHook()
    draws = [_epoch_draws(hook, seed=7, epoch=e) for e in range(6)]
    for i in range(6):
        for j in range(i + 1, 6):
            for gen in range(4):  # python, numpy, torch (float and int)
                assert draws[i][gen] != draws[j][gen], (i, j, gen)


def test_different_seed_different_draws():
    hook = EpochSeedHook()
    assert _epoch_draws(hook, 7, 3) != _epoch_draws(hook, 8, 3)


def test_seed_argument_overrides_the_runner_seed():
    a = _epoch_draws(EpochSeedHook(seed=100), seed=7, epoch=2)
    b = _epoch_draws(EpochSeedHook(seed=100), seed=999, epoch=2)
    c = _epoch_draws(EpochSeedHook(), seed=100, epoch=2)
    assert a == b == c
    assert a != _epoch_draws(EpochSeedHook(), seed=7, epoch=2)


def test_resume_reproduces_the_uninterrupted_epoch():
    """Epochs 0..4 in one go vs epochs 0..2, other draws, then 3..4."""
    hook = EpochSeedHook()

    def epoch(e, extra=0):
        hook.before_train_epoch(SimpleNamespace(seed=5, epoch=e))
        for _ in range(extra):
            _draws()
        return [_draws() for _ in range(3)]

    straight = [epoch(e) for e in range(5)]
    resumed = [epoch(e, extra=e) for e in range(3)]
    torch.manual_seed(12345)  # a fresh process seeds differently
    np.random.seed(54321)
    resumed += [epoch(e) for e in range(3, 5)]
    assert straight[3:] == resumed[3:]
    assert straight[1] != resumed[1]  # extra draws inside epoch 1 differ


def test_build_and_priority():
    hook = HOOKS.build(dict(type='EpochSeedHook', seed=3))
    assert isinstance(hook, EpochSeedHook) and hook.seed == 3
    assert hook.priority == 'VERY_HIGH'  # before any hook that draws


@pytest.fixture(autouse=True)
def _restore_rng():
    """Leave the global generators as found."""
    state = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    yield
    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.set_rng_state(state[2])
