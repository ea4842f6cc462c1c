# Copyright (c) mmsissi contributors. All rights reserved.
from .pseudo_label_hook import PseudoLabelHook

__all__ = ['PseudoLabelHook']
