# Copyright (c) mmsissi contributors. All rights reserved.
import gc
import os

import torch
import torch.distributed as dist
from mmengine.config import Config

__all__ = ['use_cpu_dist_backend', 'close_dist']


def use_cpu_dist_backend(cfg: Config) -> None:
    """Make a distributed launch work on a machine without CUDA.

    MMEngine 0.10 assumes GPUs for ``--launcher pytorch``: it calls
    ``torch.cuda.set_device`` before ``init_process_group`` and gives
    ``DistributedDataParallel`` a ``device_ids`` list. Without CUDA this
    function instead initialises the process group with gloo from
    torchrun's environment (the runner then skips its own init), and
    selects :class:`MMCPUDistributedDataParallel` as the model wrapper
    unless the config names one. Nothing changes when CUDA is available or
    the launcher is ``'none'``.

    Args:
        cfg (Config): The config, changed in place.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return
    env = cfg.setdefault('env_cfg', {})
    dist_cfg = env.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMCPUDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    if launcher == 'pytorch' and not dist.is_initialized():
        os.environ.setdefault('LOCAL_RANK', '0')
        dist.init_process_group(backend=dist_cfg['backend'])


def close_dist() -> None:
    """Shut the process group down cleanly at the end of a launch.

    Call it after dropping the last reference to the runner (``del runner``).
    The runner's DDP wrapper sits in reference cycles (loops and hooks point
    back to the runner), so it outlives ``del`` until a garbage collection, and
    its reducer keeps the gloo process group, and so its worker threads, alive
    into interpreter finalization. There a worker that releases a finished
    collective's work (tensors with Python references) must take the GIL, the
    finalizing interpreter ends the thread instead, and ``std::terminate``
    aborts the rank (``terminate called without an active exception``, SIGABRT;
    seen in a core dump at ``ProcessGroupGloo::runLoop`` ->
    ``~AsyncBarrierWork``) after training has already finished. This function
    collects those cycles first, meets all ranks at a barrier (no rank leaves
    while another is still writing), destroys the process group, and collects
    again, so gloo's destructor runs here, in the main thread, while the
    interpreter is fully alive. Does nothing when no process group was
    initialised.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()
    gc.collect()
