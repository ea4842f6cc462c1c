# Copyright (c) mmsissi contributors. All rights reserved.
"""Atomic file writes: a reader (another process, a resumed run) sees the
old complete file or the new complete file, never a partial one."""
import json
import os
import os.path as osp
import tempfile
from typing import Callable, IO

__all__ = [
    'atomic_write', 'atomic_dump_json', 'atomic_write_text',
    'atomic_torch_save'
]


def atomic_write(path: str, write: Callable[[IO], None],
                 binary: bool = False) -> None:
    """Write a text file atomically: ``write(f)`` fills a temporary file in
    the destination folder, which then replaces ``path`` (``os.replace``).
    On any failure the temporary file is removed and ``path`` is untouched.

    Args:
        path (str): Destination (parent folders are created).
        write (Callable): Writes the content into the open file.
        binary (bool): Open the file in binary mode. Defaults to False.
    """
    path = osp.abspath(path)
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix='.' + osp.basename(path) + '.', suffix='.tmp')
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; use the umask
    try:
        kw = {} if binary else dict(encoding='utf-8', newline='')
        with os.fdopen(fd, 'wb' if binary else 'w', **kw) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_dump_json(obj, path: str) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write(path, lambda f: json.dump(obj, f))


def atomic_write_text(text: str, path: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(text))


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save(obj)`` to ``path`` atomically."""
    import torch
    atomic_write(path, lambda f: torch.save(obj, f), binary=True)
