# Copyright (c) mmsissi contributors. All rights reserved.
from .adele import adele_start_epoch, curve_derivative, curve_func, fit_curve

__all__ = ['curve_func', 'curve_derivative', 'fit_curve', 'adele_start_epoch']
