# Copyright (c) mmsissi contributors. All rights reserved.
from .cell_coco import CellCocoDataset
from .label_store import LabelStore, LabelWriteError
from .samplers import BalancedMultiSourceSampler
from .sissi_target import SISSITargetDataset
from .transforms import (LoadCellImageFromFile, RandomChannelShuffle,
                         RandomGaussianBlur, SanitizeBoxes, SeamlessSynth,
                         TightRandomAffine)

__all__ = [
    'CellCocoDataset', 'SISSITargetDataset', 'LabelStore', 'LabelWriteError',
    'BalancedMultiSourceSampler', 'LoadCellImageFromFile',
    'RandomChannelShuffle',
    'RandomGaussianBlur', 'SanitizeBoxes', 'SeamlessSynth',
    'TightRandomAffine'
]
