# Copyright (c) mmsissi contributors. All rights reserved.
"""One training per work dir, for Runners built by any script."""
from mmdet.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmsissi.fileio.work_dir_lock import acquire_work_dir_lock

__all__ = ['WorkDirLockHook']


@HOOKS.register_module()
class WorkDirLockHook(Hook):
    """Refuse to train in a work dir another training uses.

    Takes :func:`mmsissi.fileio.acquire_work_dir_lock` on the main process
    before anything else of the run (``HIGHEST`` priority,
    ``before_run``) and drops it after the run; a crashed run's lock goes
    with its process. ``tools/train.py`` adds this hook to every config
    (and takes the lock before building the Runner); add it yourself to a
    script that builds a Runner directly::

        custom_hooks = [dict(type='WorkDirLockHook'), ...]
    """

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self.lock = None

    def before_run(self, runner) -> None:
        """Take the lock (rank 0).

        Raises:
            WorkDirLockedError: Another training holds the work dir.
        """
        if is_main_process():
            self.lock = acquire_work_dir_lock(runner.work_dir)

    def after_run(self, runner) -> None:
        """Drop the lock."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None
