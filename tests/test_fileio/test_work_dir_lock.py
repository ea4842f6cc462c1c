# Copyright (c) mmsissi contributors. All rights reserved.
"""One training per work dir (issue 19): a second one refuses to start
with a clear error; a crashed (killed) holder leaves no lock behind."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mmengine.runner import Runner

from mmsissi.engine.hooks import WorkDirLockHook
from mmsissi.fileio import (WorkDirLock, WorkDirLockedError,
                            acquire_work_dir_lock)
from tests.helpers.tiny import tiny_cfg

_HOLD = ('import sys, time; sys.path.insert(0, "."); '
         'from mmsissi.fileio import WorkDirLock; '
         'lock = WorkDirLock(sys.argv[1]).acquire(); '
         'print("held", flush=True); '
         'time.sleep(600)')


def _holder(work):
    p = subprocess.Popen([sys.executable, '-c', _HOLD, str(work)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'held'
    return p


def test_second_lock_is_refused_until_the_first_is_released(tmp_path):
    first = WorkDirLock(tmp_path).acquire()
    with pytest.raises(WorkDirLockedError) as err:
        WorkDirLock(tmp_path).acquire()
    assert str(tmp_path) in str(err.value)
    assert f'"pid": {os.getpid()}' in str(err.value)
    first.release()
    with WorkDirLock(tmp_path) as again:
        assert again.held
    # the same process asking twice (tools/train.py, then the hook) is fine
    a = acquire_work_dir_lock(tmp_path)
    assert acquire_work_dir_lock(tmp_path) is a
    a.release()


def test_a_killed_holder_leaves_no_lock(tmp_path):
    p = _holder(tmp_path)
    try:
        with pytest.raises(WorkDirLockedError, match=f'"pid": {p.pid}'):
            WorkDirLock(tmp_path).acquire()
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert json.load(open(tmp_path / '.mmsissi.lock'))['pid'] == p.pid
    with WorkDirLock(tmp_path) as lock:  # the file stays, the lock does not
        assert lock.held


def test_tools_train_refuses_a_work_dir_in_use(tmp_path, demo_data):
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json',
                   epochs=1)
    cfg.dump(str(tmp_path / 'cfg.py'))
    p = _holder(tmp_path)
    try:
        t0 = time.time()
        r = subprocess.run([sys.executable, 'tools/train.py',
                            str(tmp_path / 'cfg.py'), '--work-dir',
                            str(tmp_path)], capture_output=True, text=True,
                           timeout=300)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert r.returncode != 0
    assert 'WorkDirLockedError' in r.stderr and f'"pid": {p.pid}' in r.stderr
    assert time.time() - t0 < 120
    # refused before the Runner wrote anything into the work dir
    assert sorted(os.listdir(tmp_path)) == ['.mmsissi.lock', 'cfg.py']


def test_hook_holds_the_lock_during_the_run_and_drops_it(tmp_path,
                                                         demo_data):
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json',
                   epochs=1, hooks=[dict(type='WorkDirLockHook')])
    cfg.train_cfg.max_epochs = 1
    runner = Runner.from_cfg(cfg)
    hook = next(h for h in runner.hooks if isinstance(h, WorkDirLockHook))
    assert runner.hooks[0] is hook  # HIGHEST: before any other hook
    hook.before_run(runner)
    with pytest.raises(WorkDirLockedError):
        WorkDirLock(tmp_path).acquire()
    hook.after_run(runner)
    with WorkDirLock(tmp_path):
        pass
