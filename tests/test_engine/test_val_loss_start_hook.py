# Copyright (c) mmsissi contributors. All rights reserved.
"""ValLossStartHook: patience, min_delta, NaN losses, the restored best
weights, resume, and a real short run in which the criterion (not the cap)
starts correction from the best weights."""
import json
import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger

from mmsissi.engine.hooks import ValLossStartHook
from mmsissi.utils import safe_torch_load
from mmsissi.engine.hooks.val_loss_start_hook import best_epoch


class Scripted(ValLossStartHook):
    """The real hook with a scripted loss per epoch instead of a pass."""

    def __init__(self, losses, **kwargs):
        super().__init__(dataloader=None, **kwargs)
        self.losses = list(losses)

    def measure(self, runner):
        return float(self.losses[runner.epoch])


def _runner(tmp_path, name):
    model = torch.nn.Linear(2, 1)
    return SimpleNamespace(
        model=model, work_dir=str(tmp_path), epoch=0,
        message_hub=MessageHub.get_instance(f'vl-{name}-{tmp_path.name}'),
        logger=MMLogger.get_instance(f'vl-{name}-{tmp_path.name}'))


def _train(hook, runner, epochs, start_at=0):
    """Run epochs ``start_at+1..epochs``: the weights of epoch k are all k
    (set by "training"), then the hook's after_train_epoch."""
    for e in range(start_at, epochs):
        runner.epoch = e
        with torch.no_grad():
            for p in runner.model.parameters():
                p.fill_(e + 1)
        hook.after_train_epoch(runner)
        if runner.message_hub.get_info('sissi/start_epoch') is not None:
            return e + 1
    return None


def _weights(runner):
    return {float(v) for p in runner.model.parameters()
            for v in p.detach().flatten()}


def test_best_epoch():
    assert best_epoch([3, 2, 2.5, 1.9]) == (4, 1.9)
    assert best_epoch([3, 2, 1.95], min_delta=0.1) == (2, 2.0)
    assert best_epoch([math.nan, 2, math.inf, 1]) == (4, 1.0)
    assert best_epoch([math.nan, math.nan]) == (None, math.inf)
    assert best_epoch([]) == (None, math.inf)


@pytest.mark.parametrize('patience', [1, 2, 3])
def test_patience_and_restore(tmp_path, patience):
    # best at epoch 3, then no improvement
    losses = [5, 4, 3, 3.5, 3.2, 3.1, 3.05, 3.3]
    hook = Scripted(losses, patience=patience)
    runner = _runner(tmp_path, f'p{patience}')
    started = _train(hook, runner, len(losses))
    assert started == 3 + patience
    assert runner.message_hub.get_info('sissi/start_cause') == 'criterion'
    # the weights of the best epoch (all 3) are back, not those of the
    # start epoch (all 3 + patience)
    assert _weights(runner) == {3.0}
    best = runner.message_hub.get_info('sissi/val_loss_best')
    assert best == dict(epoch=3, loss=3.0)
    start = json.load(open(tmp_path / 'sissi_start.json'))
    assert start == dict(epoch=3 + patience, cause='criterion',
                         criterion='Scripted', max_start_epoch=None)


def test_min_delta(tmp_path):
    # each step improves by 0.05 only: with min_delta 0.1 epoch 1 stays best
    losses = [3.0, 2.95, 2.9, 2.85, 2.8]
    hook = Scripted(losses, patience=2, min_delta=0.1)
    runner = _runner(tmp_path, 'md')
    assert _train(hook, runner, len(losses)) == 3
    assert _weights(runner) == {1.0}
    # without min_delta every epoch improves: never starts
    hook = Scripted(losses, patience=2)
    runner = _runner(tmp_path, 'md0')
    assert _train(hook, runner, len(losses)) is None
    assert _weights(runner) == {5.0}


def test_nan_losses_never_best(tmp_path):
    losses = [math.nan, 4.0, math.nan, math.inf, math.nan]
    hook = Scripted(losses, patience=3)
    runner = _runner(tmp_path, 'nan')
    assert _train(hook, runner, len(losses)) == 5
    assert _weights(runner) == {2.0}
    hist = runner.message_hub.get_info('sissi/val_loss')
    assert len(hist) == 5 and hist[1] == 4.0 and math.isnan(hist[0])
    # all NaN: no best, the cap starts from the current weights
    hook = Scripted([math.nan] * 4, patience=1, max_start_epoch=3)
    runner = _runner(tmp_path, 'allnan')
    assert _train(hook, runner, 4) == 3
    assert runner.message_hub.get_info('sissi/start_cause') == 'cap'
    assert _weights(runner) == {3.0}


def test_cap_restores_best_too(tmp_path):
    losses = [3, 2, 2.5, 2.4, 2.3]
    hook = Scripted(losses, patience=10, max_start_epoch=4)
    runner = _runner(tmp_path, 'cap')
    assert _train(hook, runner, len(losses)) == 4
    assert runner.message_hub.get_info('sissi/start_cause') == 'cap'
    assert _weights(runner) == {2.0}


def test_resume_keeps_history_and_best(tmp_path):
    """A resumed run (new hook and model, the MessageHub state restored as
    from a checkpoint, the same work dir) starts at the same epoch from the
    same best weights."""
    losses = [5, 3, 4, 4, 4, 4]
    hook = Scripted(losses, patience=3)
    runner = _runner(tmp_path, 'a')
    assert _train(hook, runner, 3) is None  # "killed" after epoch 3
    state = runner.message_hub.state_dict()
    resumed = _runner(tmp_path, 'b')
    resumed.message_hub.load_state_dict(state)
    started = _train(Scripted(losses, patience=3), resumed, len(losses),
                     start_at=3)
    assert started == 5 and _weights(resumed) == {2.0}
    # the best weights must be in the work dir: a clear error otherwise
    (tmp_path / 'val_loss_best.pth').unlink()
    again = _runner(tmp_path, 'c')
    again.message_hub.load_state_dict(state)
    with pytest.raises(FileNotFoundError, match='val_loss_best.pth'):
        _train(Scripted(losses, patience=3), again, len(losses), start_at=3)


def test_bad_arguments():
    with pytest.raises(ValueError, match='patience'):
        ValLossStartHook(dataloader=None, patience=0)
    with pytest.raises(ValueError, match='min_delta'):
        ValLossStartHook(dataloader=None, min_delta=-1)


@pytest.mark.slow
def test_real_run_criterion_starts_from_best_weights(tmp_path, demo_data):
    """A real Runner: with patience 1 and a min_delta no decrease can beat,
    epoch 1 stays the best, so the criterion itself fires after epoch 2
    (whatever the trajectory); the weights of epoch 1 are restored before
    epoch 2's checkpoint, and epoch 3 relabels from them."""
    from mmengine.runner import Runner

    from tests.helpers.tiny import shrink_relabelling, tiny_cfg
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json',
                   epochs=3, config='configs/sissi/baseline.py')
    for h in cfg.custom_hooks:
        if h['type'] == 'ValLossStartHook':
            h.update(patience=1, min_delta=1e9, max_start_epoch=None)
    shrink_relabelling(cfg, views=((1.0, ), ('none', )))
    Runner.from_cfg(cfg).train()
    start = json.load(open(tmp_path / 'sissi_start.json'))
    assert start == dict(epoch=2, cause='criterion',
                         criterion='ValLossStartHook', max_start_epoch=None)
    ck = {e: safe_torch_load(tmp_path / f'epoch_{e}.pth',
                             map_location='cpu')['state_dict']
          for e in (1, 2, 3)}
    assert ck[2].keys() == ck[1].keys()
    assert all(torch.equal(ck[1][k], ck[2][k]) for k in ck[1])
    assert not all(torch.equal(ck[2][k], ck[3][k]) for k in ck[2])
    log = open(next(tmp_path.rglob('*.log'))).read()
    assert 'restored the weights of epoch 1' in log
    assert 'label correction starts after epoch 2 (criterion met)' in log
    assert json.load(open(tmp_path / 'labels' / 'index.json'))['epoch'] == 3


def test_record_only_records_but_changes_nothing(tmp_path):
    """record_only: the same decision is recorded (file + MessageHub), but
    nothing is published, the weights are not restored, and the criterion
    stops deciding once recorded."""
    losses = [5, 4, 3, 3.5, 3.2, 3.1, 3.05, 3.3]
    hook = Scripted(losses, patience=2, record_only=True)
    runner = _runner(tmp_path, 'record')
    assert _train(hook, runner, len(losses)) is None  # never published
    assert runner.message_hub.get_info('sissi/start_epoch') is None
    assert runner.message_hub.get_info('sissi/start_cause') is None
    assert _weights(runner) == {8.0}  # the last epoch's, not restored
    rec = dict(epoch=5, cause='criterion', criterion='Scripted',
               max_start_epoch=None)
    assert json.load(open(tmp_path / 'sissi_start_Scripted.json')) == rec
    assert not (tmp_path / 'sissi_start.json').exists()
    assert runner.message_hub.get_info(
        'sissi/recorded_start/Scripted') == rec
    # measured up to the firing epoch only; best weights of epoch 3 saved
    assert len(runner.message_hub.get_info('sissi/val_loss')) == 5
    best = torch.load(tmp_path / 'val_loss_best.pth', weights_only=True)
    assert {float(v) for t in best.values() for v in t.flatten()} == {3.0}


def test_record_only_cap(tmp_path):
    hook = Scripted([5, 4, 3, 2, 1], patience=3, max_start_epoch=2,
                    record_only=True)
    runner = _runner(tmp_path, 'record-cap')
    _train(hook, runner, 5)
    rec = json.load(open(tmp_path / 'sissi_start_Scripted.json'))
    assert (rec['epoch'], rec['cause']) == (2, 'cap')
    assert runner.message_hub.get_info('sissi/start_epoch') is None


def test_restore_restarts_an_ema_from_the_best_weights(tmp_path):
    """With an EMAHook (e.g. the EMA labeller) the average restarts from
    the restored best weights, not from where it drifted."""
    from mmengine.hooks import EMAHook
    runner = _runner(tmp_path, 'ema')
    ema = EMAHook(update_buffers=True)
    ema.before_run(runner)
    runner.hooks = [ema]
    with torch.no_grad():  # an average far from every epoch's weights
        for p in ema.ema_model.module.parameters():
            p.fill_(7.0)
    hook = Scripted([5, 4, 3, 3.5, 3.2], patience=1)
    assert _train(hook, runner, 5) == 4
    got = {float(v) for p in ema.ema_model.module.parameters()
           for v in p.detach().flatten()}
    assert got == {3.0} == _weights(runner)
