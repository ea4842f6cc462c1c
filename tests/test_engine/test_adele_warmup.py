# Copyright (c) mmsissi contributors. All rights reserved.
"""ADELE leaves the warm-up epochs out of its fit, and logs the start with
its cause."""
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.logging import MessageHub, MMLogger

from mmsissi.engine.hooks import ADELEHook, SISSIFigureHook
from mmsissi.engine.hooks.adele_hook import curve_func

TRUE = (0.8, 0.7, 4.0)


class Scripted(ADELEHook):

    def __init__(self, values, **kwargs):
        super().__init__(dataloader=None, **kwargs)
        self.values = list(values)

    def measure(self, runner):
        return float(self.values[runner.epoch])


def _run(tmp_path, values, name, **kwargs):
    hook = Scripted(values, **kwargs)
    tag = f'adele-{name}-{tmp_path.name}'
    runner = SimpleNamespace(
        work_dir=str(tmp_path), epoch=0, max_epochs=40,
        message_hub=MessageHub.get_instance(tag),
        logger=MMLogger.get_instance(tag))
    figures = SISSIFigureHook()
    for e in range(len(values)):
        runner.epoch = e
        hook.after_train_epoch(runner)
        figures.after_train_epoch(runner)
    return runner


def _values(n):
    v = curve_func(np.arange(1, n + 1, dtype=float), *TRUE)
    v[:2] = [0.0, 0.01]  # the warm-up bends the first two points
    return [float(x) for x in v]


def test_warmup_epochs_out_of_the_fit(tmp_path):
    vals = _values(12)
    fit = _run(tmp_path, vals, 'w2', warmup_epochs=2).message_hub.get_info(
        'sissi/adele_fit')
    np.testing.assert_allclose(fit, TRUE, rtol=1e-3)
    bent = _run(tmp_path, vals, 'w0').message_hub.get_info('sissi/adele_fit')
    assert not np.allclose(bent, TRUE, rtol=1e-2)
    # still measured and plotted: the figure hook's CSV holds every point
    # and the fit of the last epoch
    rows = open(tmp_path / 'adele_curve.csv').read().splitlines()
    assert rows[0] == 'epoch,ap50,fit' and len(rows) == 1 + 12
    for k, row in enumerate(rows[1:], start=1):
        ep, ap50, fit = row.split(',')
        assert int(ep) == k and float(ap50) == pytest.approx(vals[k - 1],
                                                             abs=1e-5)
        assert float(fit) == pytest.approx(curve_func(k, *bent), abs=1e-5)
    assert (tmp_path / 'adele_curve.png').stat().st_size > 1000


def test_too_few_points_after_warmup(tmp_path):
    runner = _run(tmp_path, _values(4), 'few', warmup_epochs=2,
                  max_start_epoch=4)
    assert runner.message_hub.get_info('sissi/adele_fit') is None
    assert runner.message_hub.get_info('sissi/start_epoch') == 4
    assert runner.message_hub.get_info('sissi/start_cause') == 'cap'


def test_bad_warmup():
    with pytest.raises(ValueError, match='warmup_epochs'):
        ADELEHook(dataloader=None, warmup_epochs=-1)
