# Copyright (c) mmsissi contributors. All rights reserved.
"""ADELE's early-learning curve: the model, its derivative, the fit and the
knee (the end of early learning), as pure functions (used by
:class:`ADELEHook` and the figures)."""
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

__all__ = ['curve_func', 'curve_derivative', 'fit_curve', 'adele_start_epoch']


def curve_func(t, a, b, c):
    """ADELE's early-learning curve ``f(t) = a (1 - exp(-t^b / c))``."""
    return a * (1 - np.exp(-np.power(t, b) / c))


def curve_derivative(t, a, b, c):
    """``f'(t)``."""
    t = np.asarray(t, np.float64) + 1e-6
    return a * b / c * np.exp(-np.power(t, b) / c) * np.power(t, b - 1)


def fit_curve(epochs: Sequence[float], values: Sequence[float]
              ) -> Tuple[float, float, float]:
    """Fit ``f`` to ``values`` at ``epochs`` as ADELE does: bounds
    ``a, b`` in [0, 1], ``c > 0``, late points weighted more (sigma falls
    geometrically from 1 to 0.1).

    Raises:
        RuntimeError: If the fit does not converge.
    """
    x = np.asarray(epochs, np.float64)
    y = np.asarray(values, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', OptimizeWarning)
        popt, _ = curve_fit(
            curve_func, x, y, p0=(1.0, 1.0, 1.0), method='trf',
            sigma=np.geomspace(1, 0.1, len(y)), absolute_sigma=True,
            bounds=([0, 0, 1e-8], [1, 1, np.inf]), maxfev=20000)
    return tuple(float(v) for v in popt)


def adele_start_epoch(params: Tuple[float, float, float], max_epoch: int,
                      threshold: float = 0.9) -> Optional[int]:
    """First epoch ``t`` in 1..max_epoch where the relative change of the
    derivative ``|f'(t) - f'(1)| / |f'(1)|`` reaches ``threshold``.

    Returns:
        int | None: The epoch, or None if the curve never flattens that
        much within ``max_epoch`` (or is flat from the start).
    """
    t = np.arange(1, max_epoch + 1, dtype=np.float64)
    d1 = abs(curve_derivative(1.0, *params))
    if not np.isfinite(d1) or d1 < 1e-12:
        return None
    r = np.abs(np.abs(curve_derivative(t, *params)) - d1) / d1
    hits = np.flatnonzero(r >= threshold)
    return int(t[hits[0]]) if hits.size else None
