# Copyright (c) mmsissi contributors. All rights reserved.
from .cpu_ddp import MMCPUDistributedDataParallel
from .losses import MissingLabelCrossEntropyLoss
from .wbf import fuse_views, weighted_boxes_fusion
from .wbf_tta import WBFTTAModel

__all__ = [
    'weighted_boxes_fusion', 'fuse_views', 'WBFTTAModel',
    'MMCPUDistributedDataParallel', 'MissingLabelCrossEntropyLoss'
]
