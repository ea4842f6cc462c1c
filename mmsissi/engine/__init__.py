# Copyright (c) mmsissi contributors. All rights reserved.
from .hooks import (ADELEHook, InvalidLossHook, PseudoLabelHook,
                    StartCriterionHook, ValLossStartHook)

__all__ = [
    'ADELEHook', 'InvalidLossHook', 'PseudoLabelHook', 'StartCriterionHook',
    'ValLossStartHook'
]
