# Copyright (c) mmsissi contributors. All rights reserved.
from .balanced_sampler import BalancedMultiSourceSampler

__all__ = ['BalancedMultiSourceSampler']
