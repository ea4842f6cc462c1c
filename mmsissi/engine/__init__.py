# Copyright (c) mmsissi contributors. All rights reserved.
from .hooks import (ADELEHook, PseudoLabelHook, StartCriterionHook,
                    ValLossStartHook)

__all__ = [
    'ADELEHook', 'PseudoLabelHook', 'StartCriterionHook', 'ValLossStartHook'
]
