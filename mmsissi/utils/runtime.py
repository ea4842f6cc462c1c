# Copyright (c) mmsissi contributors. All rights reserved.
import torch
from mmengine.config import Config

__all__ = ['use_cpu_dist_backend']


def use_cpu_dist_backend(cfg: Config) -> None:
    """Switch ``env_cfg.dist_cfg.backend`` to gloo when CUDA is absent.

    NCCL needs GPUs; on a CPU-only machine (CI, laptops) a distributed run
    would fail at init. The config's choice is kept whenever CUDA exists.

    Args:
        cfg (Config): The config, changed in place.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    env = cfg.setdefault('env_cfg', {})
    dist_cfg = env.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
