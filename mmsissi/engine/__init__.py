# Copyright (c) mmsissi contributors. All rights reserved.
from .hooks import PseudoLabelHook

__all__ = ['PseudoLabelHook']
