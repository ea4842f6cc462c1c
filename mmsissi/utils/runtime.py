# Copyright (c) mmsissi contributors. All rights reserved.
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

    Without it, each torchrun rank tears gloo down in the interpreter's exit
    handlers, where a still-joinable communication thread is destroyed and
    ``std::terminate`` aborts the rank (``terminate called without an active
    exception``, SIGABRT) after training has already finished. All ranks meet
    at a barrier first, so no rank leaves while another is still writing.
    Does nothing when no process group was initialised.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
