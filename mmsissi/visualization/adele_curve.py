# Copyright (c) mmsissi contributors. All rights reserved.
"""The ADELE curve (the paper's Fig. 7): AP50 against the initial weak
labels per epoch, the fitted f(t) and the start of label correction."""
import csv
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np

from mmsissi.evaluation.functional import curve_func

__all__ = ['write_adele_curve']


def write_adele_curve(work_dir: str,
                      history: Sequence[float],
                      params: Optional[Sequence[float]] = None,
                      start: Optional[int] = None,
                      max_epochs: Optional[int] = None) -> None:
    """Write ``adele_curve.csv`` (epoch, ap50, fit) and ``adele_curve.png``.

    Args:
        work_dir (str): Output folder.
        history (Sequence[float]): AP50 per epoch (NaN: not measured).
        params (Sequence[float], optional): Fitted ``(a, b, c)``.
        start (int, optional): Epoch after which correction starts.
        max_epochs (int, optional): The schedule's length (the fit is drawn
            up to it).
    """
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'adele_curve.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['epoch', 'ap50', 'fit'])
        for k, v in enumerate(history, start=1):
            fit = f'{curve_func(k, *params):.5f}' if params else ''
            w.writerow([k, f'{v:.5f}', fit])
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(range(1, len(history) + 1), history, 'o', label='AP50 vs weak')
    if params:
        tt = np.linspace(1, max(len(history), max_epochs or 0), 200)
        ax.plot(tt, curve_func(tt, *params), '-', label='fit')
    if start is not None:
        ax.axvline(start, color='r', ls='--',
                   label=f'correction starts (epoch {start})')
    ax.set_xlabel('epoch')
    ax.set_ylabel('AP50 against initial weak labels')
    ax.legend(loc='lower right', fontsize=8)
    fig.tight_layout()
    fig.savefig(osp.join(work_dir, 'adele_curve.png'), dpi=100)
    plt.close(fig)
