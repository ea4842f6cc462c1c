# Copyright (c) mmsissi contributors. All rights reserved.
"""mmsissi: SISSI label correction for MMDetection 3.x.

Importing the package registers its components into mmdet's registries
(use ``custom_imports=dict(imports=['mmsissi'])`` in configs) and makes
MMEngine's checkpoint loaders load with ``weights_only=True`` and an
allowlist of the types MMEngine checkpoints hold (see
:mod:`mmsissi.utils.checkpoint`).
"""
from .utils import register_safe_checkpoint_loaders
from .version import __version__

register_safe_checkpoint_loaders()

from . import (datasets, engine, evaluation, models,  # noqa: E402,F401
               structures, visualization)

__all__ = [
    '__version__', 'datasets', 'engine', 'evaluation', 'models',
    'structures', 'visualization'
]
