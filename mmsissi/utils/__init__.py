# Copyright (c) mmsissi contributors. All rights reserved.
from .checkpoint import register_trusted_checkpoint_loaders, trusted_torch_load
from .cpu_scale import apply_cpu_scale
from .runtime import close_dist, use_cpu_dist_backend

__all__ = [
    'register_trusted_checkpoint_loaders', 'trusted_torch_load',
    'use_cpu_dist_backend', 'close_dist', 'apply_cpu_scale'
]
