# Copyright (c) mmsissi contributors. All rights reserved.
"""close_dist frees what keeps the gloo process group alive.

A rank aborted at exit (SIGABRT, ``terminate called without an active
exception``) when gloo was torn down during interpreter finalization: the
runner's DDP wrapper lives in reference cycles, so after ``del runner`` it
(and the process group its reducer holds) survived ``destroy_process_group``
until module teardown."""
import gc
import os
import weakref

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mmsissi.utils import close_dist


class _Runner:
    """Stands in for mmengine's Runner: a loop that points back to it."""

    def __init__(self, model):
        self.model = model
        self.loop = dict(runner=self)


def _native_threads():
    return len(os.listdir('/proc/self/task'))


def test_close_dist_frees_the_ddp_wrapper_and_the_group(tmp_path):
    """The crash seen (core dump, gdb): gloo's worker thread (runLoop)
    destroyed the barrier's AsyncWork during interpreter finalization and
    aborted taking the GIL. After close_dist no gloo thread is left."""
    threads = _native_threads()
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
        world_size=1)
    gc.disable()  # only close_dist's own collections may free the cycle
    try:
        runner = _Runner(DistributedDataParallel(nn.Linear(2, 1)))
        runner.model(torch.ones(1, 2)).sum().backward()  # reducer used
        wrapper = weakref.ref(runner.model)
        del runner
        assert wrapper() is not None  # held by the cycle, as in a real run
        close_dist()
        assert wrapper() is None
        assert not dist.is_initialized()
        assert _native_threads() == threads  # gloo's workers joined
    finally:
        gc.enable()
        if dist.is_initialized():
            dist.destroy_process_group()


def test_close_dist_without_a_group_does_nothing():
    assert not dist.is_initialized()
    close_dist()
    assert not dist.is_initialized()
