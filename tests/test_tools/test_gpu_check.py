# Copyright (c) mmsissi contributors. All rights reserved.
"""The GPU check (issue 18) cannot rot between GPU runs: its CPU dry run
runs every step; its install path installs the carried wheels and mmcv
without compiled ops; its reference outputs are those of mmcv's compiled
CPU ops; the torchvision-backed ``mmcv._ext`` keeps mmcv's contract."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, '.')
from tools.gpu import steps  # noqa: E402

HAS_TORCHVISION = importlib.util.find_spec('torchvision') is not None


def _shim():
    spec = importlib.util.spec_from_file_location(
        'mmcv_ext_torchvision', 'tools/gpu/mmcv_ext_torchvision.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_reference_is_what_mmcv_compiled_cpu_ops_give():
    assert steps.mmcv_ops_backend() == 'compiled'
    ref = json.load(open(steps.REFERENCE))
    got = steps.run_ops('cpu')
    assert got['nms'] == ref['ops']['nms'] and 0 < len(got['nms']) < 300
    np.testing.assert_allclose(got['roi_align'], ref['ops']['roi_align'],
                               atol=1e-5)
    np.testing.assert_allclose(got['roi_align_grad'],
                               ref['ops']['roi_align_grad'], atol=1e-5)
    det = steps.detect('r18', 128, 'cpu')
    want = np.array(ref['detections']['r18_128']).reshape(-1, 5)
    assert len(det) == len(want) == 100
    assert steps.match(det, want)['matched'] == 1.0
    assert steps.match(det, want)['max_score_diff'] < 1e-3
    # the seeded checkpoint is the same on every call (a fixed checkpoint)
    a, _ = steps.seeded_model('r18', 'cpu')
    b, _ = steps.seeded_model('r18', 'cpu')
    assert all((a.state_dict()[k] == v).all()
               for k, v in b.state_dict().items())


def test_match_counts_moved_boxes_as_unmatched():
    a = np.array([[0, 0, 10, 10, 0.9], [20, 20, 30, 30, 0.8]], np.float32)
    b = a.copy()
    b[1, :4] += 5  # IoU 0.14
    b[0, 4] = 0.7
    m = steps.match(a, b)
    assert m['matched'] == 0.5 and m['max_score_diff'] == pytest.approx(0.2)


def test_torchvision_ext_keeps_mmcv_contract():
    shim = _shim()
    assert callable(shim.nms) and callable(shim.some_op_mmcv_checks_for)
    with pytest.raises(NotImplementedError, match='deform_conv_forward'):
        shim.deform_conv_forward(1, 2)
    import torch
    with pytest.raises(NotImplementedError, match='offset'):
        shim.nms(torch.zeros(1, 4), torch.zeros(1), 0.5, offset=1)
    with pytest.raises(NotImplementedError, match='max'):
        shim.roi_align_forward(None, None, None, None, None, pool_mode=0)


@pytest.mark.skipif(not HAS_TORCHVISION, reason='no CPU torchvision here; '
                    "the GPU run's ops step checks it against the "
                    'compiled-mmcv reference')
def test_torchvision_ext_equals_mmcv_compiled_ops():
    import torch
    from mmcv.utils import ext_loader
    shim, ext = _shim(), ext_loader.load_ext('_ext', ['nms'])
    boxes, scores, feat, rois, grad = (torch.from_numpy(a)
                                       for a in steps.op_inputs())
    assert torch.equal(shim.nms(boxes, scores, 0.5),
                       ext.nms(boxes, scores, iou_threshold=0.5, offset=0))


def _json(out):
    return json.load(open(os.path.join(out, 'gpu_check.json')))


@pytest.mark.slow
def test_dry_run_runs_every_step(tmp_path):
    out = tmp_path / 'out'
    r = subprocess.run(['bash', 'tools/gpu_check.sh', str(out), '--dry-run'],
                       capture_output=True, text=True, timeout=1500,
                       env=dict(os.environ, PYTHON=sys.executable))
    assert r.returncode == 0, r.stderr[-2000:]
    rep = _json(out)
    assert rep['dry_run'] and rep['device'] == 'cpu'
    s = rep['steps']
    assert list(s) == ['env', 'ops', 'agree', 'train', 'tta', 'bench']
    assert {k: v['status'] for k, v in s.items()} == dict.fromkeys(s, 'ok')
    assert s['ops']['nms_equal']
    assert s['ops']['roi_align_max_abs_diff'] < 1e-5
    assert s['agree']['device_vs_reference']['matched'] == 1.0
    assert s['train']['iters_timed'] == 2 and \
        s['train']['iters_per_second'] > 0
    assert set(s['tta']['seconds_per_image']) == {
        'bare 20 inferences', 'pass (views_per_batch=1)',
        'pass (views_per_batch=4)', 'pass (views_per_batch=20)'}
    assert 0 < s['tta']['merge_share_of_bare'] < 1
    assert s['bench']['results_csv'][1].startswith('clean,0,')
    assert rep['elapsed_s'] < rep['budget_s']
    log = open(out / 'gpu_check.log').read()
    assert '[gpu_check] step bench' in log and 'done in' in log


@pytest.mark.slow
def test_steps_over_the_budget_are_skipped(tmp_path):
    out = tmp_path / 'out'
    r = subprocess.run([sys.executable, 'tools/gpu_check.py', '--out',
                        str(out), '--dry-run', '--budget', '70', '--steps',
                        'env', 'agree', 'train'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    s = _json(out)['steps']
    assert s['env']['status'] == 'ok'
    assert s['agree']['status'] == 'skipped'  # 90 s > the ~68 s left
    assert s['train']['status'] == 'skipped'
    assert 'left' in s['train']['reason']


@pytest.mark.slow
def test_install_path_from_downloaded_wheels(tmp_path):
    """The device's install (wheels for this Python here): the pure-Python
    stack and mmcv without compiled ops import, with the torchvision ops."""
    wheels, site = tmp_path / 'wheels', tmp_path / 'site'
    ver = '%d.%d' % sys.version_info[:2]
    r = subprocess.run(['bash', 'tools/gpu/download_wheels.sh', str(wheels),
                        ver], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHON=sys.executable))
    assert r.returncode == 0, r.stderr[-2000:]
    listed = open(wheels / 'LIST.txt').read().split()
    assert 'mmdet==3.3.0' in listed and 'mmcv==2.1.0' in listed
    out = tmp_path / 'out'
    r = subprocess.run(
        ['bash', 'tools/gpu_check.sh', str(out), '--device', 'cpu',
         '--steps', 'env'], capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHON=sys.executable,
                 GPU_CHECK_WHEELS=str(wheels), GPU_CHECK_SITE=str(site)))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep = _json(out)
    assert rep['install']['mmcv_ops'] == 'torchvision'
    env = rep['steps']['env']
    assert (env['mmcv_ops'], env['mmdet'], env['mmcv']) == (
        'torchvision', '3.3.0', '2.1.0')
    assert (site / 'mmcv' / '_ext.py').is_file()
    assert not list((site / 'mmcv').glob('_ext*.so'))
