# Copyright (c) mmsissi contributors. All rights reserved.
"""Faults: a process killed while writing pseudo labels leaves the previous
labels intact; ranks that would train on different labels are stopped."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest

from mmsissi.datasets import LabelStore
from mmsissi.engine.hooks import PseudoLabelHook

WRITER = textwrap.dedent('''
    import json, sys, time
    import numpy as np
    from mmsissi.datasets import LabelStore
    store = LabelStore(sys.argv[1])
    images = [dict(id=i, file_name=f'{i}.png', height=100, width=100)
              for i in range(1, 201)]
    store.write(1, images, {i: np.array([[1, 1, 9, 9]]) for i in range(1, 201)})
    real_dump = json.dump
    def slow_dump(obj, f, **kw):  # write half, then hang: killed here
        text = json.dumps(obj)
        f.write(text[:len(text) // 2])
        f.flush()
        print('WRITING', flush=True)
        time.sleep(60)
    json.dump = slow_dump
    store.write(2, images, {i: np.array([[5, 5, 50, 50]] * 3)
                            for i in range(1, 201)})
''')


def test_killed_while_writing_labels(tmp_path):
    script = tmp_path / 'writer.py'
    script.write_text(WRITER)
    store_dir = tmp_path / 'labels'
    p = subprocess.Popen([sys.executable, str(script), str(store_dir)],
                         stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONPATH=os.getcwd()))
    deadline = time.time() + 120
    line = ''
    while 'WRITING' not in line and time.time() < deadline:
        line = p.stdout.readline()
        assert line or p.poll() is None
    p.send_signal(signal.SIGKILL)  # mid-write, no clean-up
    p.wait()
    # a half-written temp file may remain; the store is untouched
    index = json.load(open(store_dir / 'index.json'))
    assert index['version'] == 1 and index['file'] == 'epoch_1.json'
    assert not (store_dir / 'epoch_2.json').exists()
    reader = LabelStore(str(store_dir))
    reader.refresh()
    np.testing.assert_allclose(reader.boxes(7), [[1, 1, 9, 9]])
    # the run goes on: the next write succeeds and becomes current
    images = [dict(id=7, file_name='7.png', height=100, width=100)]
    LabelStore(str(store_dir)).write(2, images, {7: np.array([[2, 2, 8, 8]])})
    assert reader.refresh() and reader.version == 2
    np.testing.assert_allclose(reader.boxes(7), [[2, 2, 8, 8]])


def test_ranks_disagreeing_on_labels_are_stopped(tmp_path):
    store = LabelStore(str(tmp_path))
    path = store.write(3, [dict(id=1, file_name='a.png', height=9, width=9)],
                       {1: np.array([[1, 1, 4, 4]])})
    hook = PseudoLabelHook(dataloader=None, start_epoch=2)
    hook.store = store
    store.refresh()
    runner = SimpleNamespace(epoch=2, work_dir=str(tmp_path),
                             message_hub=mock.MagicMock())
    mod = 'mmsissi.engine.hooks.pseudo_label_hook'
    other = (1, 'd41d8cd98f00b204e9800998ecf8427e', 2)  # rank 1: stale file
    with mock.patch(f'{mod}.get_dist_info', return_value=(0, 2)), \
            mock.patch(f'{mod}.all_gather_object',
                       side_effect=lambda x: [x, other]):
        with pytest.raises(RuntimeError, match='ranks disagree'):
            hook._check_ranks_agree(runner, path)
    with mock.patch(f'{mod}.get_dist_info', return_value=(0, 2)), \
            mock.patch(f'{mod}.all_gather_object',
                       side_effect=lambda x: [x, x]):
        hook._check_ranks_agree(runner, path)  # agreeing ranks pass


@pytest.mark.slow
def test_real_ddp_divergence_is_caught(tmp_path, demo_data):
    """A real 2-process gloo run where rank 1 would train on other labels
    stops with a clear error instead of silently diverging."""
    import socket
    from tests.helpers.tiny import tiny_cfg
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json',
                   epochs=2, hooks=[
                       dict(type='DivergentPseudoLabelHook', start_epoch=1,
                            tta_cfg=dict(score_thr=0.05),
                            views=((1.0, ), ('none', )))
                   ])
    cfg.custom_imports = dict(imports=['mmsissi', 'tests.helpers.recorder'],
                              allow_failed_imports=False)
    cfg.dump(str(tmp_path / 'cfg.py'))
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(port),
               OMP_NUM_THREADS='1', PYTHONPATH=os.getcwd())
    r = subprocess.run(['bash', 'tools/dist_train.sh',
                        str(tmp_path / 'cfg.py'), '2', '--work-dir',
                        str(tmp_path)], capture_output=True, text=True,
                       env=env, timeout=900)
    log = r.stdout + r.stderr
    assert r.returncode != 0
    assert 'ranks disagree on the pseudo labels of epoch 2' in log
    assert not (tmp_path / 'epoch_2.pth').exists()  # stopped before training
