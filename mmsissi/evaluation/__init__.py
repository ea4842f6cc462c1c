# Copyright (c) mmsissi contributors. All rights reserved.
from .metrics import PerReaderCocoMetric

__all__ = ['PerReaderCocoMetric']
