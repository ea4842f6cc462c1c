# Copyright (c) mmsissi contributors. All rights reserved.
from .checkpoint import (UnsafeCheckpointError,
                         register_safe_checkpoint_loaders, safe_torch_load)
from .cpu_scale import DEMO_ROOT, apply_cpu_scale
from .runtime import close_dist, use_cpu_dist_backend

__all__ = [
    'register_safe_checkpoint_loaders', 'safe_torch_load',
    'UnsafeCheckpointError',
    'use_cpu_dist_backend', 'close_dist', 'apply_cpu_scale', 'DEMO_ROOT'
]
