"""Datasets named by specs, split reproducibly into train and test sets."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .fields import SpecError

__all__ = ["Dataset", "load_data"]


@dataclass
class Dataset:
    """Float inputs and integer labels, split into train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int


def _sklearn_digits():
    from sklearn.datasets import load_digits  # ships its data: no download
    d = load_digits()
    return d.data.astype(np.float64), d.target.astype(np.int64), 10


_LOADERS = {"sklearn_digits": _sklearn_digits}


def load_data(data: dict, shape: tuple | None = None) -> Dataset:
    """Load ``data: {dataset, test_fraction, seed}`` of a spec.

    The split is a seeded permutation: the same spec always gives the same sets.

    Parameters
    ----------
    data : dict
        The spec's ``data:`` section.
    shape : tuple of int, optional
        The spec's ``input.shape``: each sample is reshaped to it, row-major (digits' 64
        pixels become ``[8, 8, 1]``); a different number of values per sample is an error.

    Raises
    ------
    SpecError
        ``input.shape: ...`` when the samples do not hold ``prod(shape)`` values.
    """
    x, y, classes = _LOADERS[data["dataset"]]()
    if shape is not None:
        n = math.prod(shape)
        if x[0].size != n:
            raise SpecError(f"input.shape: {list(shape)} holds {n} values per sample, but "
                            f"{data['dataset']} has {x[0].size}")
        x = x.reshape(len(x), *shape)
    rng = np.random.default_rng(data.get("seed", 0))
    order = rng.permutation(len(x))
    n_test = int(round(len(x) * data.get("test_fraction", 0.2)))
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train], x[test], y[test], classes)
