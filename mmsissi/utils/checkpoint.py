# Copyright (c) mmsissi contributors. All rights reserved.
"""Checkpoints that load without running code.

MMEngine 0.10.x checkpoints hold more than tensors: the message hub's
``HistoryBuffer`` (whose statistics methods are pickled as
``getattr(HistoryBuffer, 'mean')``), numpy arrays and scalars in ``meta``.
``torch.load(weights_only=True)`` refuses those globals, and loading with
``weights_only=False`` lets a crafted pickle call anything.

mmsissi re-registers MMEngine's checkpoint loaders (every scheme:
local files, ``http(s)://``, ``open-mmlab://``, ``torchvision://``, ...)
so that they load with ``weights_only=True`` and an allowlist of exactly
the types these checkpoints hold (:data:`CHECKPOINT_GLOBALS`); the
``getattr`` they need is a restricted one that only returns public
attributes of allow-listed classes. A checkpoint holding anything else is
refused with :class:`UnsafeCheckpointError`, naming the file and the
global. Only mmsissi's loaders are affected: other ``torch.load`` calls in
the process keep torch's own defaults.

If you trust a checkpoint that needs more (a pickled custom class), set
``MMSISSI_TRUST_CHECKPOINTS=1`` to load with ``weights_only=False``, as
torch < 2.6 did: that file can then run code.
"""
import functools
import os
import pickle
from contextlib import contextmanager

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = ['CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'safe_getattr',
           'safe_torch_load', 'safe_checkpoint_globals',
           'register_safe_checkpoint_loaders']

#: Set to 1 to load checkpoints with ``weights_only=False`` (trusted files).
TRUST_ENV = 'MMSISSI_TRUST_CHECKPOINTS'
_FORCE = 'TORCH_FORCE_WEIGHTS_ONLY_LOAD'
_FORCE_NO = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'

#: Classes whose public attributes the restricted ``getattr`` returns.
GETATTR_CLASSES = (HistoryBuffer, )


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a global outside mmsissi's allowlist."""


def safe_getattr(obj, name):
    """``getattr`` restricted to public attributes of
    :data:`GETATTR_CLASSES` (how ``HistoryBuffer`` pickles its statistics
    methods); anything else is refused."""
    if not (isinstance(obj, type) and obj in GETATTR_CLASSES
            and isinstance(name, str) and not name.startswith('_')):
        raise UnsafeCheckpointError(
            f'getattr({getattr(obj, "__name__", type(obj).__name__)}, '
            f'{name!r}) is not allowed')
    return getattr(obj, name)


def _numpy_globals():
    core = np._core if hasattr(np, '_core') else np.core
    found = [np.ndarray, np.dtype]
    for mod in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        found += [(core.multiarray._reconstruct, f'{mod}._reconstruct'),
                  (core.multiarray.scalar, f'{mod}.scalar')]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:  # numpy >= 1.25 pickles dtypes by class
        found += [getattr(dtypes, n) for n in dir(dtypes)
                  if n.endswith('DType')]
    return found


#: What MMEngine / MMDetection / OpenMMLab model-zoo checkpoints hold
#: besides tensors, containers and builtins.
CHECKPOINT_GLOBALS = [HistoryBuffer, (safe_getattr, 'builtins.getattr')
                      ] + _numpy_globals()


@contextmanager
def safe_checkpoint_globals():
    """Context in which ``torch.load`` loads with ``weights_only=True``
    (forced, whatever the call site passes) and :data:`CHECKPOINT_GLOBALS`
    allowed; with ``MMSISSI_TRUST_CHECKPOINTS=1``, ``weights_only=False``."""
    trust = os.environ.get(TRUST_ENV, '0').lower() in ('1', 'true', 'yes')
    old = {k: os.environ.pop(k, None) for k in (_FORCE, _FORCE_NO)}
    os.environ[_FORCE_NO if trust else _FORCE] = '1'
    try:
        with torch.serialization.safe_globals(CHECKPOINT_GLOBALS):
            yield
    finally:
        for k, v in old.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v


def _refused(filename, err):
    return UnsafeCheckpointError(
        f'refused to load checkpoint {filename}: it holds something that '
        f'is not plain weights and could run code ({err}). mmsissi loads '
        'checkpoints with weights_only=True and an allowlist '
        '(mmsissi.utils.checkpoint.CHECKPOINT_GLOBALS). If you trust this '
        f'file, set {TRUST_ENV}=1 to load it anyway.')


def safe_torch_load(filename, **kwargs):
    """``torch.load`` of a checkpoint file under
    :func:`safe_checkpoint_globals`.

    Raises:
        UnsafeCheckpointError: The file holds a global outside the
            allowlist (the message names the file).
    """
    kwargs.pop('weights_only', None)
    return _safe(torch.load)(filename, **kwargs)


def _safe(loader):

    @functools.wraps(loader)
    def wrapper(filename, *args, **kwargs):
        with safe_checkpoint_globals():
            try:
                return loader(filename, *args, **kwargs)
            except pickle.UnpicklingError as err:
                raise _refused(filename, err) from None

    wrapper.__mmsissi_safe__ = True
    return wrapper


def register_safe_checkpoint_loaders() -> None:
    """Re-register every MMEngine checkpoint loader to load under
    :func:`safe_checkpoint_globals`. Idempotent."""
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if not getattr(loader, '__mmsissi_safe__', False):
            CheckpointLoader.register_scheme(
                prefixes=prefix, loader=_safe(loader), force=True)
