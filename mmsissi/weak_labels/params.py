# Copyright (c) mmsissi contributors. All rights reserved.
"""Weak-label parameters: method selection, defaults and overrides.

Parameters are a nested dict (see :func:`default_params`)::

    {'methods': ['watershed', 'hough'],
     'read': {'percentiles': [0.5, 99.5]},
     'combine': {'nms_iou': 0.5, 'contain_thr': 0.9,
                 'contain_min_iou': 0.2},
     'watershed': {...}, 'hough': {...}, 'edges': {...}}

overridable by a config file (:func:`load_params_file`, JSON / Python /
YAML through :class:`mmengine.config.Config`) and by ``SECTION.KEY=VALUE``
strings (:func:`parse_param_overrides`). A top-level ``scale`` sets the
``scale`` of every method at once.
"""
import ast
import copy
import json
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from .edges import EDGES_DEFAULTS, detect_edges
from .hough import HOUGH_DEFAULTS, detect_hough
from .watershed import WATERSHED_DEFAULTS, detect_watershed

__all__ = [
    'METHODS', 'DEFAULT_METHODS', 'default_params', 'parse_methods',
    'update_params', 'parse_param_overrides', 'load_params_file',
    'read_list_file'
]

#: Available detectors: name -> ``detect_<name>(img, return_scores, **p)``.
METHODS: Dict[str, Callable] = {
    'watershed': detect_watershed,
    'hough': detect_hough,
    'edges': detect_edges,
}

_METHOD_DEFAULTS = {
    'watershed': WATERSHED_DEFAULTS,
    'hough': HOUGH_DEFAULTS,
    'edges': EDGES_DEFAULTS,
}

#: Methods run when none are given (best precision/recall trade-off on the
#: Usiigaci training images set01-set45).
DEFAULT_METHODS: Tuple[str, ...] = ('watershed', 'hough')

_OTHER_DEFAULTS = {
    'read': dict(percentiles=[0.5, 99.5]),
    # duplicates: IoU >= nms_iou, or the smaller box >= contain_thr inside
    # the larger with IoU >= contain_min_iou (contain_thr > 1 disables)
    'combine': dict(nms_iou=0.5, contain_thr=0.9, contain_min_iou=0.2),
}


def default_params() -> dict:
    """A fresh copy of all default parameters.

    Returns:
        dict: ``{'methods': [...], 'read': {...}, 'combine': {...},
        'watershed': {...}, 'hough': {...}, 'edges': {...}}``.
    """
    params = {'methods': list(DEFAULT_METHODS)}
    params.update(copy.deepcopy(_OTHER_DEFAULTS))
    for name, defaults in _METHOD_DEFAULTS.items():
        params[name] = dict(defaults)
    return params


def parse_methods(methods: Union[None, str, Sequence[str]]) -> List[str]:
    """Normalise a method selection.

    Args:
        methods (None | str | Sequence[str]): ``None`` (defaults), a comma
            separated string such as ``'watershed,hough'``, ``'all'``, or a
            sequence of names.

    Returns:
        list[str]: Unique method names in the given order.

    Raises:
        ValueError: For an unknown or empty selection.
    """
    if methods is None:
        return list(DEFAULT_METHODS)
    if isinstance(methods, str):
        methods = [m for m in methods.replace('+', ',').split(',')]
    names = []
    for m in methods:
        m = str(m).strip().lower()
        if not m:
            continue
        if m == 'all':
            names.extend(METHODS)
            continue
        if m not in METHODS:
            raise ValueError(f'unknown method {m!r}; choose from '
                             f"{', '.join(METHODS)} (or 'all')")
        names.append(m)
    names = list(dict.fromkeys(names))
    if not names:
        raise ValueError('no method selected')
    return names


def _coerce(value, default, key: str):
    """Convert a CLI string to the type of ``default``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if isinstance(default, bool):
        if text.lower() in ('1', 'true', 'yes', 'on'):
            return True
        if text.lower() in ('0', 'false', 'no', 'off'):
            return False
        raise ValueError(f'{key}: expected a boolean, got {value!r}')
    if isinstance(default, (int, float)):
        try:
            num = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            num = None
        if isinstance(num, bool) or not isinstance(num, (int, float)):
            raise ValueError(f'{key}: expected a number, got {value!r}')
        return num
    if isinstance(default, (list, tuple)):
        parts = [p for p in text.strip('[]()').split(',') if p.strip()]
        try:
            return [ast.literal_eval(p.strip()) for p in parts]
        except (ValueError, SyntaxError):
            raise ValueError(f'{key}: expected a comma separated list of '
                             f'numbers, got {value!r}')
    return text


def update_params(params: dict, overrides: Optional[dict]) -> dict:
    """Return ``params`` updated with (nested) ``overrides``.

    Unknown sections or keys raise, so typos do not pass silently. String
    values are converted to the type of the default. A top-level ``scale``
    is applied to every method; ``methods`` is normalised with
    :func:`parse_methods`.

    Args:
        params (dict): Full parameters (e.g. :func:`default_params`).
        overrides (dict, optional): ``{'watershed': {'min_area': 400},
            'methods': 'watershed,hough', 'scale': 0.5}``.

    Returns:
        dict: A new, updated parameter dict.

    Raises:
        KeyError: For an unknown section or key.
        ValueError: For a value that cannot be converted.
    """
    out = copy.deepcopy(params)
    for section, value in (overrides or {}).items():
        if section == 'methods':
            out['methods'] = parse_methods(value)
        elif section == 'scale':
            for name in _METHOD_DEFAULTS:
                out[name]['scale'] = _coerce(value, 1.0, 'scale')
        elif section in out and isinstance(out[section], dict):
            if not isinstance(value, dict):
                raise ValueError(
                    f'parameters of {section!r} must be a dict, got {value!r}')
            for key, val in value.items():
                if key not in out[section]:
                    raise KeyError(
                        f'unknown parameter {section}.{key}; known: '
                        f"{', '.join(sorted(out[section]))}")
                out[section][key] = _coerce(val, out[section][key],
                                            f'{section}.{key}')
        else:
            known = ', '.join(['methods', 'scale'] +
                              [k for k in out if k != 'methods'])
            raise KeyError(
                f'unknown parameter section {section!r}; known: {known}')
    return out


def parse_param_overrides(items: Optional[Sequence[str]]) -> dict:
    """Parse ``SECTION.KEY=VALUE`` strings into a nested override dict.

    ``scale=VALUE`` and ``methods=a,b`` are accepted without a section.

    Args:
        items (Sequence[str], optional): e.g. ``['watershed.min_area=400',
            'hough.min_radius=6', 'scale=0.5']``.

    Returns:
        dict: Nested overrides for :func:`update_params` (values still
        strings).

    Raises:
        ValueError: For a malformed item.
    """
    out: dict = {}
    for item in items or []:
        if '=' not in item:
            raise ValueError(
                f'--param expects SECTION.KEY=VALUE, got {item!r}')
        key, value = item.split('=', 1)
        key = key.strip()
        if key in ('scale', 'methods'):
            out[key] = value
            continue
        if '.' not in key:
            raise ValueError(f'--param expects SECTION.KEY=VALUE (e.g. '
                             f'watershed.min_area=400), got {item!r}')
        section, name = key.split('.', 1)
        out.setdefault(section.strip(), {})[name.strip()] = value
    return out


def load_params_file(path: str) -> dict:
    """Load parameter overrides from a JSON, Python or YAML file.

    The file holds the same nested structure as :func:`default_params`
    (any subset), e.g. a Python config
    ``watershed = dict(min_area=600)`` / ``methods = ['watershed']``.

    Args:
        path (str): Config file.

    Returns:
        dict: Overrides for :func:`update_params`.

    Raises:
        FileNotFoundError: When the file does not exist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    if path.lower().endswith('.json'):
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    from mmengine.config import Config
    return Config.fromfile(path).to_dict()


def read_list_file(path: str) -> List[str]:
    """Read image names, one per line (blank lines and ``#`` comments are
    ignored).

    Args:
        path (str): Text file.

    Returns:
        list[str]: The names.

    Raises:
        FileNotFoundError: When the file does not exist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'list file not found: {path}')
    names = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                names.append(line)
    return names
