"""Atomic output: a directory or files appear whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

__all__ = ["atomic_directory", "atomic_files", "check_output_directory"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_directory(path) -> None:
    """Check that a directory can be created or replaced at ``path``, creating nothing.

    The messages name ``path`` as given (never a temporary name).

    Raises
    ------
    NotADirectoryError
        If ``path``, or the nearest of its parents that exists, is not a directory.
    PermissionError
        If that parent cannot be written (the new directory is made beside ``path``).
    """
    given = os.fspath(path)
    if os.path.lexists(given) and not os.path.isdir(given):
        raise NotADirectoryError(f"{given}: exists and is not a directory")
    parent = os.path.dirname(os.path.normpath(given)) or os.curdir
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent) or os.curdir
    if not os.path.isdir(parent):
        raise NotADirectoryError(f"{given}: {parent} exists and is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{given}: cannot create it in {parent} (permission denied)")


@contextmanager
def atomic_directory(path):
    """Yield a temporary sibling of ``path`` to fill; on success it replaces ``path`` whole.

    On any exception the temporary directory is removed and ``path`` is left as it was (an
    existing ``path`` is moved aside first and put back if the swap fails).

    Parameters
    ----------
    path : path-like
        The directory to (re)create.

    Raises
    ------
    NotADirectoryError, PermissionError
        Before anything is created, as :func:`check_output_directory`.
    """
    check_output_directory(path)
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

    Raises
    ------
    NotADirectoryError, PermissionError
        Before anything is created, as :func:`check_output_directory` for a new
        ``directory``, or when an existing one cannot be written.
    IsADirectoryError
        Before anything is created, if some ``directory/name`` is a directory.
    """
    names = list(names)
    given = os.fspath(directory)
    if not os.path.isdir(given):
        check_output_directory(given)
    elif not os.access(given, os.W_OK | os.X_OK):
        raise PermissionError(f"{given}: cannot write in it (permission denied)")
    for n in names:
        target = os.path.join(given, n)
        if os.path.isdir(target):
            raise IsADirectoryError(f"{target}: exists and is a directory")
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
