"""Datasets named by specs, split reproducibly into train and test sets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def load_data(data: dict) -> Dataset:
    """Load ``data: {dataset, test_fraction, seed}`` of a spec.

    The split is a seeded permutation: the same spec always gives the same sets.
    """
    x, y, classes = _LOADERS[data["dataset"]]()
    rng = np.random.default_rng(data.get("seed", 0))
    order = rng.permutation(len(x))
    n_test = int(round(len(x) * data.get("test_fraction", 0.2)))
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train], x[test], y[test], classes)
