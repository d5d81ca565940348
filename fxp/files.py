"""Atomic output: a directory or files appear whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

__all__ = ["atomic_directory", "atomic_files"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_directory(path):
    """Yield a temporary sibling of ``path`` to fill; on success it replaces ``path`` whole.

    On any exception the temporary directory is removed and ``path`` is left as it was (an
    existing ``path`` is moved aside first and put back if the swap fails).

    Parameters
    ----------
    path : path-like
        The directory to (re)create.
    """
    path = os.path.abspath(path)
    parent, base = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{base}.", dir=parent)
    try:
        yield tmp
        mode = 0o777 & ~_umask()          # mkdtemp makes it private; output is not
        for root, dirs, _ in os.walk(tmp):
            for d in (root, *(os.path.join(root, x) for x in dirs)):
                os.chmod(d, mode)
        if os.path.isdir(path):
            old = tempfile.mkdtemp(prefix=f".{base}.old.", dir=parent)
            os.rename(path, os.path.join(old, base))
            try:
                os.rename(tmp, path)
            except BaseException:
                os.rename(os.path.join(old, base), path)   # put the old one back
                raise
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_files(directory, names):
    """Yield a temporary folder inside ``directory`` to write the files ``names`` into; on
    success each replaces ``directory/name`` (``os.replace``), on any exception none does.

    Parameters
    ----------
    directory : path-like
    names : iterable of str
        File names: every one must have been written when the block ends.
    """
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp.", dir=directory)
    try:
        yield tmp
        mode = 0o666 & ~_umask()
        for n in names:
            os.chmod(os.path.join(tmp, n), mode)
        for n in names:
            os.replace(os.path.join(tmp, n), os.path.join(directory, n))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
