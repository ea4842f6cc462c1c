# Copyright (c) mmsissi contributors. All rights reserved.
from .per_reader_coco_metric import PerReaderCocoMetric

__all__ = ['PerReaderCocoMetric']
