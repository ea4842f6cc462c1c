# Copyright (c) mmsissi contributors. All rights reserved.
from .cell_coco import CellCocoDataset
from .label_store import LabelStore
from .samplers import BalancedMultiSourceSampler
from .sissi_target import SISSITargetDataset
from .transforms import (RandomChannelShuffle, RandomGaussianBlur,
                         SeamlessSynth)

__all__ = [
    'CellCocoDataset', 'SISSITargetDataset', 'LabelStore',
    'BalancedMultiSourceSampler', 'RandomChannelShuffle',
    'RandomGaussianBlur', 'SeamlessSynth'
]
