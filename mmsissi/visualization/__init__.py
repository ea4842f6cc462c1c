# Copyright (c) mmsissi contributors. All rights reserved.
from .adele_curve import write_adele_curve
from .figures import draw_boxes, write_evolution_figure, write_synth_figure

__all__ = [
    'draw_boxes', 'write_evolution_figure', 'write_synth_figure',
    'write_adele_curve'
]
