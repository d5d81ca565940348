"""Datasets read from files (``.npz``, ``.csv``), checked value by value, with their sha256."""

from __future__ import annotations

import csv
import hashlib
import os
import zipfile

import numpy as np

from .fields import SpecError

__all__ = ["file_sha256", "arrays_sha256", "read_npz", "read_csv", "check_finite"]

_NPZ_SPLIT = ("x_train", "y_train", "x_test", "y_test")


def file_sha256(path) -> str:
    """The sha256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def arrays_sha256(*arrays) -> str:
    """A sha256 over arrays' dtypes, shapes and bytes (C order): in-memory data's identity."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def check_finite(x: np.ndarray, what: str) -> None:
    """Raise ``SpecError`` naming the first sample that holds NaN or inf."""
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        raise SpecError(f"{what} holds NaN or inf (first in sample {int(np.argmax(bad))})")


def _numeric(a, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise SpecError(f"{what}: expected numbers, not {a.dtype} values")
    return a


def read_npz(path, where: str):
    """Read ``x``, ``y`` or ``x_train``, ``y_train``, ``x_test``, ``y_test`` from an npz.

    Returns
    -------
    tuple
        ``(x, y)`` or ``(x_train, y_train, x_test, y_test)`` as numpy arrays.
    """
    name = os.path.basename(path)
    if not zipfile.is_zipfile(path):
        raise SpecError(f"{where}: {name} is not an .npz archive")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise SpecError(f"{where}: {name}: cannot read: {str(e).splitlines()[0]}") from None
    if set(_NPZ_SPLIT) <= set(arrays):
        keys = _NPZ_SPLIT
    elif {"x", "y"} <= set(arrays):
        keys = ("x", "y")
    else:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise SpecError(f"{where}: {name} must hold arrays x, y or x_train, y_train, x_test, "
                        f"y_test; it holds {found}")
    out = []
    for k in keys:
        a = _numeric(arrays[k], f"{where}: {name} array {k!r}")
        if a.ndim == 0:
            raise SpecError(f"{where}: {name} array {k!r} must have one row per sample, not "
                            f"a scalar")
        out.append(a)
    for i in range(0, len(out), 2):
        if len(out[i]) != len(out[i + 1]):
            raise SpecError(f"{where}: {name}: {keys[i]} has {len(out[i])} samples but "
                            f"{keys[i + 1]} has {len(out[i + 1])}")
    return tuple(out)


def read_csv(path, label, where: str):
    """Read a CSV with a header row and numeric columns; ``label`` names the target column(s).

    Returns
    -------
    x : ndarray, shape (samples, features)
        Every column but the labels, in file order.
    y : ndarray, shape (samples,) or (samples, len(label))
    """
    name = os.path.basename(path)
    labels = [label] if isinstance(label, str) else list(label)
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise SpecError(f"{where}: {name} is not a text CSV file") from None
    except csv.Error as e:
        raise SpecError(f"{where}: {name}: invalid CSV: {e}") from None
    if not rows or not [c for c in rows[0] if c.strip()]:
        raise SpecError(f"{where}: {name} is empty; expected a header row naming the columns")
    header = [c.strip() for c in rows[0]]
    for lab in labels:
        if lab not in header:
            raise SpecError(f"{where}: {name} has no column {lab!r} (data.label); its columns "
                            f"are {', '.join(header)}")
    body = [(n + 1, r) for n, r in enumerate(rows[1:], start=1) if r and any(c.strip() for c in r)]
    if not body:
        raise SpecError(f"{where}: {name} has a header but no data rows")
    values = np.empty((len(body), len(header)), dtype=np.float64)
    for i, (line, r) in enumerate(body):
        if len(r) != len(header):
            raise SpecError(f"{where}: {name} line {line} has {len(r)} columns, the header "
                            f"has {len(header)}")
        for j, c in enumerate(r):
            try:
                values[i, j] = float(c)
            except ValueError:
                raise SpecError(f"{where}: {name} line {line} column {header[j]!r}: {c!r} is "
                                f"not a number") from None
    lab_idx = [header.index(lab) for lab in labels]
    feat_idx = [j for j in range(len(header)) if j not in lab_idx]
    if not feat_idx:
        raise SpecError(f"{where}: {name} has no feature columns besides the labels")
    y = values[:, lab_idx]
    return values[:, feat_idx], (y[:, 0] if isinstance(label, str) else y)
