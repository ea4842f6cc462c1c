# Copyright (c) mmsissi contributors. All rights reserved.
"""One training per work dir.

Two trainings in one work dir would interleave their label stores and
checkpoints. :func:`acquire_work_dir_lock` takes an exclusive
``flock`` on ``<work_dir>/.mmsissi.lock``: the operating system drops it
when the holding process ends, however it ends (a crash, ``SIGKILL``), so
a dead run never leaves the work dir locked; the file itself stays and
only records who held it last. ``tools/train.py`` takes the lock before it
builds the Runner; :class:`mmsissi.engine.hooks.WorkDirLockHook` takes it
for scripts that build a Runner themselves.
"""
import json
import os
import os.path as osp
import socket
import time

try:
    import fcntl
except ImportError:  # not POSIX: no lock (documented)
    fcntl = None

__all__ = ['WorkDirLockedError', 'WorkDirLock', 'acquire_work_dir_lock',
           'LOCK_NAME']

LOCK_NAME = '.mmsissi.lock'
_HELD = {}  # work dir -> the lock this process holds on it


class WorkDirLockedError(RuntimeError):
    """The work dir is in use by another training."""


class WorkDirLock:
    """An exclusive lock on a work dir (see the module docstring).

    Args:
        work_dir (str): The work dir (created if missing).
    """

    def __init__(self, work_dir: str) -> None:
        self.work_dir = osp.abspath(work_dir)
        self.path = osp.join(self.work_dir, LOCK_NAME)
        self._file = None

    def acquire(self) -> 'WorkDirLock':
        """Take the lock.

        Raises:
            WorkDirLockedError: Another live process holds it (the message
                names it and the lock file).
        """
        os.makedirs(self.work_dir, exist_ok=True)
        f = open(self.path, 'a+', encoding='utf-8')
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or 'unknown'
                f.close()
                raise WorkDirLockedError(
                    f'work dir {self.work_dir} is in use by another training '
                    f'({holder}; lock {self.path}). Give another --work-dir '
                    'or wait until that run ends; the lock goes away by '
                    'itself when its process ends, even if it crashed.'
                ) from None
        f.seek(0)
        f.truncate()
        f.write(json.dumps(dict(pid=os.getpid(), host=socket.gethostname(),
                                since=time.strftime('%Y-%m-%d %H:%M:%S'))))
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        """Drop the lock (the file stays)."""
        if self._file is not None:
            if fcntl is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def acquire_work_dir_lock(work_dir: str) -> WorkDirLock:
    """The lock on ``work_dir``, taken once per process: a second call in
    the process that holds it returns the same lock (``tools/train.py``
    and :class:`~mmsissi.engine.hooks.WorkDirLockHook` both ask)."""
    key = osp.abspath(work_dir)
    held = _HELD.get(key)
    if held is not None and held.held:
        return held
    _HELD[key] = WorkDirLock(key).acquire()
    return _HELD[key]
