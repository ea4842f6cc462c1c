# Copyright (c) mmsissi contributors. All rights reserved.
"""ADELE: curve fitting finds known knees, survives flat/noisy curves,
measures in inference mode, and its start epoch survives --resume."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

import tests.helpers.recorder  # noqa: F401
from mmsissi.engine.hooks.adele_hook import (adele_start_epoch,
                                             curve_derivative, curve_func,
                                             fit_curve)
from mmsissi.utils import safe_torch_load
from tests.helpers.tiny import tiny_cfg

PARAMS = [(0.8, 1.0, 3.0), (0.6, 0.7, 2.0), (0.9, 1.0, 6.0), (0.5, 0.5, 1.5)]

# Known curves and the first epoch at which f' has fallen by 90% from epoch
# 1, computed without ``curve_derivative``: for b == 1, f'(t) / f'(1) =
# exp(-(t - 1) / c), so the knee is ceil(1 + c ln 10); for b != 1, by
# central finite differences of ``curve_func`` (see ``_knee_fd``).
KNOWN_KNEES = {
    (0.8, 1.0, 1.0): 4,  # 1 + ln 10 = 3.30
    (0.8, 1.0, 3.0): 8,  # 1 + 3 ln 10 = 7.91
    (0.9, 1.0, 6.0): 15,  # 1 + 6 ln 10 = 14.8
    (0.6, 0.7, 2.0): 9,
    (0.5, 0.5, 1.5): 9,
    (0.7, 0.9, 3.0): 10,
    (0.7, 0.5, 3.0): 15,
    (0.9, 0.8, 5.0): 18,
}


def _fd_derivative(t, a, b, c, h=1e-5):
    """Central finite difference of ``curve_func`` (independent of
    ``curve_derivative``)."""
    t = np.asarray(t, np.float64)
    return (curve_func(t + h, a, b, c) - curve_func(t - h, a, b, c)) / (2 * h)


def _rel_change(params, t):
    d1 = abs(_fd_derivative(1.0, *params))
    return abs(abs(_fd_derivative(t, *params)) - d1) / d1


def _knee_fd(params, horizon, threshold=0.9):
    """First epoch in 1..horizon where the finite-difference derivative has
    changed by ``threshold`` relative to epoch 1 (None if never)."""
    t = np.arange(1, horizon + 1, dtype=np.float64)
    hits = np.flatnonzero(_rel_change(params, t) >= threshold)
    return int(t[hits[0]]) if hits.size else None


def _sequential_start(values, threshold=0.9, horizon=40, min_points=3):
    """Epoch at which the hook's rule fires when fed values one by one."""
    for epoch in range(min_points, len(values) + 1):
        t = np.arange(1, epoch + 1, dtype=float)
        params = fit_curve(t, values[:epoch])
        knee = adele_start_epoch(params, horizon, threshold)
        if knee is not None and epoch >= knee:
            return epoch
    return None


@pytest.mark.parametrize('b', [0.2, 0.5, 0.7, 0.9, 1.0, 1.3, 2.0])
def test_derivative_matches_finite_differences(b):
    t = np.concatenate([np.linspace(0.5, 3, 11), np.arange(4, 41)])
    for a in (0.1, 0.6, 1.0):
        for c in (0.5, 1.5, 3.0, 8.0, 30.0):
            np.testing.assert_allclose(
                curve_derivative(t, a, b, c), _fd_derivative(t, a, b, c),
                rtol=1e-4, atol=1e-9, err_msg=f'a={a} b={b} c={c}')
    # scalar epochs, as the hook calls it for epoch 1
    assert curve_derivative(1.0, 0.6, b, 2.0) == pytest.approx(
        float(_fd_derivative(1.0, 0.6, b, 2.0)), rel=1e-4)


def test_derivative_matches_finite_differences_random():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = rng.uniform(0.05, 1.0), rng.uniform(0.1, 1.0)
        c, t = rng.uniform(0.3, 20.0), rng.uniform(0.5, 50.0)
        assert curve_derivative(t, a, b, c) == pytest.approx(
            float(_fd_derivative(t, a, b, c)), rel=1e-4, abs=1e-9), \
            (a, b, c, t)


@pytest.mark.parametrize('params,knee', list(KNOWN_KNEES.items()))
def test_knee_of_known_curves(params, knee):
    a, b, c = params
    if b == 1.0:
        assert knee == int(np.ceil(1 + c * np.log(10)))
    assert _knee_fd(params, 40) == knee
    assert adele_start_epoch(params, 40) == knee
    assert adele_start_epoch(params, knee) == knee
    assert adele_start_epoch(params, knee - 1) is None  # not yet flat
    # a stricter threshold comes no earlier, a looser one no later
    assert adele_start_epoch(params, 40, threshold=0.95) == _knee_fd(
        params, 40, 0.95) >= knee
    assert adele_start_epoch(params, 40, threshold=0.5) == _knee_fd(
        params, 40, 0.5) <= knee


@pytest.mark.parametrize('params', PARAMS)
def test_fit_recovers_known_knee(params):
    t = np.arange(1, 41, dtype=float)
    y = curve_func(t, *params)
    knee = KNOWN_KNEES[params]
    # the knee is where the relative change first passes 0.9
    assert _rel_change(params, knee) >= 0.9
    assert knee == 1 or _rel_change(params, knee - 1) < 0.9
    assert adele_start_epoch(params, 40) == knee
    fitted = fit_curve(t, y)
    np.testing.assert_allclose(curve_func(t, *fitted), y, atol=1e-3)
    assert abs(adele_start_epoch(fitted, 40) - knee) <= 1
    # fed epoch by epoch, as in training, it fires within one epoch
    start = _sequential_start(y)
    assert start is not None and abs(start - max(knee, 3)) <= 1


def test_noisy_curve_near_knee():
    rng = np.random.default_rng(0)
    params = (0.7, 0.9, 3.0)
    t = np.arange(1, 31, dtype=float)
    y = curve_func(t, *params) + rng.normal(0, 0.01, len(t))
    knee = KNOWN_KNEES[params]
    start = _sequential_start(y, horizon=30)
    assert start is not None and abs(start - knee) <= 2


@pytest.mark.parametrize('values', [
    np.zeros(10),  # flat at zero (untrained detector)
    np.full(10, 0.3),  # flat
    np.array([0.1, 0.5, 0.05, 0.6, 0.0, 0.7, 0.02, 0.4]),  # noise
    np.array([0.0, 0.0, 0.9]),  # jump
])
def test_flat_or_noisy_curves_do_not_crash(values):
    t = np.arange(1, len(values) + 1, dtype=float)
    try:
        params = fit_curve(t, values)
    except RuntimeError:
        return  # a failed fit is a logged decision in the hook
    adele_start_epoch(params, 40)  # returns an epoch or None, never raises


@pytest.mark.slow  # builds a Runner and a detector
def test_measure_uses_inference_mode(tmp_path, demo_data):
    """An untrained detector scores ~0 AP50: loss-mode RoI heads would have
    injected the ground truth as proposals and scored high."""
    ann = demo_data / 'target' / 'train_manual.json'
    cfg = tiny_cfg(tmp_path, ann, epochs=1,
                   hooks=[dict(type='ADELEHook')])
    runner = Runner.from_cfg(cfg)
    runner.call_hook('before_run')
    hook = next(h for h in runner.hooks if type(h).__name__ == 'ADELEHook')
    torch.manual_seed(0)
    runner.model.train()
    ap50 = hook.measure(runner)
    assert runner.model.training  # restored
    assert 0.0 <= ap50 < 0.05


def _values(n):
    return [float(v) for v in curve_func(np.arange(1, n + 1), 0.8, 1.0, 1.0)]


def _hooks(n):
    return [
        dict(type='ScriptedADELEHook', values=_values(n)),
        dict(type='PseudoLabelHook', tta_cfg=dict(score_thr=0.0),
             views=((1.0, ), ('none', 'horizontal'))),
    ]


def _cfg_file(work, ann, n):
    cfg = tiny_cfg(work, ann, epochs=n, hooks=_hooks(n))
    cfg.custom_imports = dict(imports=['mmsissi', 'tests.helpers.recorder'],
                              allow_failed_imports=False)
    path = work / 'cfg.py'
    cfg.dump(str(path))
    return str(path)


def _start_from_log(text):
    import re
    m = re.findall(r'label correction starts after epoch (\d+)', text)
    return [int(x) for x in m]


@pytest.mark.slow  # real training runs, killed and resumed
def test_start_epoch_survives_resume(tmp_path, demo_data):
    ann = demo_data / 'target' / 'train_manual.json'
    n = 5
    knee = adele_start_epoch((0.8, 1.0, 1.0), n)
    assert 3 <= knee <= 4  # fires inside the run, after the kill below
    env = dict(os.environ, PYTHONPATH=os.getcwd(), PYTHONUNBUFFERED='1')

    # uninterrupted
    a = tmp_path / 'a'
    a.mkdir()
    r = subprocess.run([sys.executable, 'tools/train.py', _cfg_file(a, ann, n)],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _start_from_log(r.stdout + r.stderr) == [knee]

    # killed after epoch 2 (SIGKILL, no clean-up), then resumed
    b = tmp_path / 'b'
    b.mkdir()
    cfg_b = _cfg_file(b, ann, n)
    log = open(b / 'first.log', 'w')
    p = subprocess.Popen([sys.executable, 'tools/train.py', cfg_b],
                         stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 600
    last = b / 'last_checkpoint'
    while time.time() < deadline and not (
            last.exists() and last.read_text().strip().endswith(
                'epoch_2.pth')):
        assert p.poll() is None, open(b / 'first.log').read()[-3000:]
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (b / 'epoch_3.pth').exists()
    r = subprocess.run([sys.executable, 'tools/train.py', cfg_b, '--resume'],
                       capture_output=True, text=True, env=env, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert 'resumed epoch: 2' in out, [
        ln for ln in out.splitlines() if 'resum' in ln.lower()]
    assert _start_from_log(out) == [knee]

    def state(work):
        ck = safe_torch_load(work / f'epoch_{n}.pth', map_location='cpu')
        return ck['message_hub']['runtime_info']

    sa, sb = state(a), state(b)
    assert sa['sissi/start_epoch'] == sb['sissi/start_epoch'] == knee
    np.testing.assert_allclose(sa['sissi/adele_ap50'], sb['sissi/adele_ap50'])
    np.testing.assert_allclose(sa['sissi/adele_fit'], sb['sissi/adele_fit'])
    # the resumed run reproduces the uninterrupted run's pseudo labels
    # (EpochSeedHook makes every epoch a function of weights, seed, epoch)
    for e in range(knee + 1, n + 1):
        la = json.load(open(a / 'labels' / f'epoch_{e}.json'))
        lb = json.load(open(b / 'labels' / f'epoch_{e}.json'))
        assert len(la['annotations']) == len(lb['annotations']) > 0
        np.testing.assert_allclose(
            [x['bbox'] + [x['score']] for x in la['annotations']],
            [x['bbox'] + [x['score']] for x in lb['annotations']], atol=0.02)
    for work in (a, b):
        idx = json.load(open(work / 'labels' / 'index.json'))
        assert idx['epoch'] == n  # relabelled every epoch after the start
        assert sorted(os.listdir(work / 'labels')) == sorted(
            [f'epoch_{e}.json' for e in range(knee + 1, n + 1)] +
            ['index.json'])
        assert (work / 'adele_curve.png').stat().st_size > 1000
        rows = open(work / 'adele_curve.csv').read().splitlines()
        assert rows[0] == 'epoch,ap50,fit' and len(rows) == knee + 1
