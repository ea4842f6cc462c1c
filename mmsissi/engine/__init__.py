# Copyright (c) mmsissi contributors. All rights reserved.
from .hooks import (ADELEHook, EpochSeedHook, InvalidLossHook, PseudoLabelHook,
                    StartCriterionHook, ValLossStartHook)

__all__ = [
    'ADELEHook', 'EpochSeedHook', 'InvalidLossHook', 'PseudoLabelHook',
    'StartCriterionHook', 'ValLossStartHook'
]
