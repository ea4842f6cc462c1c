# Copyright (c) mmsissi contributors. All rights reserved.
import sys
import warnings
from contextlib import contextmanager

__all__ = ['warnings_as_messages']


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f'WARNING: {message}', file=sys.stderr)


@contextmanager
def warnings_as_messages():
    """Print warnings as one ``WARNING: ...`` line on stderr (no source
    location), as command-line tools report skipped files."""
    old = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        yield
    finally:
        warnings.showwarning = old
