# Copyright (c) mmsissi contributors. All rights reserved.
"""Checkpoint loading that works with mmengine 0.10.x on torch >= 2.6.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``. MMEngine
checkpoints hold more than tensors (the message hub's ``HistoryBuffer``,
numpy scalars in ``meta``), so ``load_from``, ``--resume`` and
``tools/test.py`` fail with ``UnpicklingError: Unsupported global``.
Allow-listing those classes would need ``builtins.getattr``, which defeats
the safety check, so mmsissi re-registers MMEngine's local and HTTP(S)
checkpoint loaders to load with ``weights_only=False``.

This means **mmsissi trusts the checkpoints it is given** (your own training
outputs and the OpenMMLab model zoo), exactly as torch < 2.6 did. Do not load
checkpoints from untrusted sources. Other ``torch.load`` calls in the process
are not affected.
"""
import functools
import os
from contextlib import contextmanager

from mmengine.runner.checkpoint import (CheckpointLoader, load_from_http,
                                        load_from_local)

__all__ = ['trusted_torch_load', 'register_trusted_checkpoint_loaders']

_ENV = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'


@contextmanager
def trusted_torch_load():
    """Context in which ``torch.load`` defaults to ``weights_only=False``."""
    old = os.environ.get(_ENV)
    os.environ[_ENV] = '1'
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = old


def _trusted(loader):

    @functools.wraps(loader)
    def wrapper(*args, **kwargs):
        with trusted_torch_load():
            return loader(*args, **kwargs)

    wrapper.__mmsissi_trusted__ = True
    return wrapper


def register_trusted_checkpoint_loaders() -> None:
    """Re-register MMEngine's local and HTTP(S) checkpoint loaders.

    Idempotent: calling it twice does not wrap twice.
    """
    if getattr(CheckpointLoader._schemes.get(''), '__mmsissi_trusted__',
               False):
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=_trusted(load_from_local), force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=_trusted(load_from_http),
        force=True)
