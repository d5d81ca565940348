"""Training data: the datasets a spec names, data files and in-memory arrays, split reproducibly.

A spec's ``data:`` section is one of

- ``{dataset: sklearn_digits | sklearn_iris | sklearn_wine | sklearn_breast_cancer |
  sklearn_diabetes}``: shipped inside scikit-learn (no download); ``synthetic_waveforms``:
  seeded 1-D signals ``(32, 1)`` of three classes (sine, square, sawtooth) for ``conv1d``;
- ``{path: FILE.npz}``: arrays ``x``, ``y`` (split here) or ``x_train``, ``y_train``,
  ``x_test``, ``y_test`` (used as given);
- ``{path: FILE.csv, label: COLUMN}``: a header row, numeric columns; ``label`` names the
  target column (a list of names for several regression targets); the others are the
  features, in file order;
- ``{source: arrays, sha256: ...}``: written by :func:`fxp.nn.train` for in-memory data.

plus ``test_fraction`` (default 0.2) and ``seed`` (default 0) for the split, and ``sha256`` (a
file's or the arrays' digest; artifacts always record it). Paths are relative to the spec file
(an artifact's ``model.yaml`` records them relative to the artifact). The split is a seeded
permutation: the same data and seed always give the same sets.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .datafiles import arrays_sha256, check_finite, file_sha256, read_csv, read_npz
from .fields import SpecError

__all__ = ["Dataset", "DataUnavailable", "load_data", "as_dataset", "DATASETS",
           "rebase_section", "arrays_sha256"]


class DataUnavailable(SpecError):
    """The data a model was trained on is not on this machine (a missing file, or arrays
    given in memory); an artifact still works from its vectors."""


@dataclass
class Dataset:
    """Float inputs and their targets, split into train and test.

    Attributes
    ----------
    x_train, y_train, x_test, y_test : numpy.ndarray
        Inputs ``(samples, *shape)``; targets are class indices ``(samples,)`` or, for
        regression, floats ``(samples,)`` or ``(samples, targets)``.
    classes : int or None
        The number of classes (labels ``0..classes-1``); None when the targets are not class
        indices (regression).
    source : dict
        The ``data:`` section that reproduces these sets (with its sha256).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int | None = None
    source: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """How messages name the data: the dataset, the file, or ``the given arrays``."""
        s = self.source
        if "dataset" in s:
            return s["dataset"]
        if "path" in s:
            return os.path.basename(s["path"])
        return "the given arrays"

    def section(self) -> dict:
        """The spec's ``data:`` section for these sets (recorded in artifacts)."""
        return dict(self.source)

    def reshaped(self, shape) -> Dataset:
        """The same sets with every sample reshaped row-major to ``shape``.

        Raises
        ------
        SpecError
            ``input.shape: ...`` when a sample does not hold ``prod(shape)`` values.
        """
        n = math.prod(shape)
        per = self.x_train[0].size if len(self.x_train) else self.x_test[0].size
        if per != n:
            raise SpecError(f"input.shape: {list(shape)} holds {n} values per sample, but "
                            f"{self.name} has {per}")
        return Dataset(self.x_train.reshape(len(self.x_train), *shape), self.y_train,
                       self.x_test.reshape(len(self.x_test), *shape), self.y_test,
                       self.classes, self.source)


def _sklearn(loader, regression=False):
    def load():
        import sklearn.datasets as skd   # ships its data: no download
        d = getattr(skd, loader)()
        y = d.target.astype(np.float64 if regression else np.int64)
        return d.data.astype(np.float64), y, None if regression else int(y.max()) + 1
    return load


def _synthetic_waveforms(n: int = 1200, length: int = 32, seed: int = 1234):
    """Seeded 1-D signals of three classes: 0 sine, 1 square, 2 sawtooth (``(n, length, 1)``).

    Each has a random period of 6 to 16 samples, a random phase, an amplitude of 0.5 to 1.0
    and Gaussian noise of sigma 0.1; the classes alternate. The same every time (its own
    seed): a 1-D dataset for ``conv1d`` that needs no download.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = np.arange(length)[None, :]
    period = rng.uniform(6, 16, (n, 1))
    phase = rng.uniform(0, 1, (n, 1))
    cyc = (t / period + phase) % 1.0
    wave = np.where(y[:, None] == 0, np.sin(2 * np.pi * cyc),
                    np.where(y[:, None] == 1, np.where(cyc < 0.5, 1.0, -1.0),
                             2 * cyc - 1))
    x = wave * rng.uniform(0.5, 1.0, (n, 1)) + rng.normal(0, 0.1, (n, length))
    return x[:, :, None], y.astype(np.int64), 3


DATASETS = {
    "sklearn_digits": _sklearn("load_digits"),
    "sklearn_iris": _sklearn("load_iris"),
    "sklearn_wine": _sklearn("load_wine"),
    "sklearn_breast_cancer": _sklearn("load_breast_cancer"),
    "sklearn_diabetes": _sklearn("load_diabetes", regression=True),
    "synthetic_waveforms": _synthetic_waveforms,
}


def _classes_of(ys) -> int | None:
    """``max + 1`` when every target is a non-negative integer in a 1-D array, else None."""
    ys = [np.asarray(y) for y in ys]
    if any(y.ndim != 1 for y in ys):
        return None
    allv = np.concatenate(ys) if ys else np.zeros(0)
    if allv.size == 0 or not np.all(np.isfinite(allv)) or np.any(allv < 0) \
            or np.any(allv != np.round(allv)):
        return None
    return int(allv.max()) + 1


def _targets(y: np.ndarray) -> np.ndarray:
    """Class indices as int64 when the targets are integral, floats otherwise."""
    y = np.asarray(y)
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    y = y.astype(np.float64)
    if y.ndim == 1 and np.all(np.isfinite(y)) and np.all(y == np.round(y)) and np.all(y >= 0):
        return y.astype(np.int64)
    return y


def _split(x, y, test_fraction, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    if len(train) == 0 or len(test) == 0:
        raise SpecError(f"data.test_fraction: {test_fraction} of {len(x)} samples leaves an "
                        f"empty {'training' if len(train) == 0 else 'test'} set")
    return x[train], y[train], x[test], y[test]


_INFER = object()


def _assemble(parts, source: dict, what: str, classes=_INFER) -> Dataset:
    """A Dataset from ``(x, y)`` (split with the section's fraction and seed) or four arrays,
    checked: finite values, matching lengths. ``classes``: known (None: regression targets)
    or inferred (integral targets are class indices)."""
    parts = [np.asarray(p) for p in parts]
    for x in parts[::2]:
        if x.dtype.kind not in "biuf" or x.ndim == 0:
            raise SpecError(f"{what}: inputs must be numbers, one row per sample")
        check_finite(x.astype(np.float64), f"{what}: the inputs")
    for y in parts[1::2]:
        if y.dtype.kind not in "biuf" or y.ndim == 0:
            raise SpecError(f"{what}: targets must be numbers, one per sample")
        check_finite(y.astype(np.float64).reshape(len(y), -1), f"{what}: the targets")
    parts = [p.astype(np.float64) if i % 2 == 0 else
             _targets(p) if classes is _INFER else p for i, p in enumerate(parts)]
    for i in range(0, len(parts), 2):
        x, y = parts[i], parts[i + 1]
        if x.ndim == 1:
            parts[i] = x = x.reshape(-1, 1)
        if len(x) != len(y):
            raise SpecError(f"{what}: {len(x)} input samples but {len(y)} targets")
    if len(parts) == 2:
        parts = _split(*parts, source.get("test_fraction", 0.2), source.get("seed", 0))
    else:
        source = {k: v for k, v in source.items() if k not in ("test_fraction", "seed")}
    x_tr, y_tr, x_te, y_te = parts
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise SpecError(f"{what}: training samples are shaped {x_tr.shape[1:]} but test "
                        f"samples {x_te.shape[1:]}")
    if classes is _INFER:
        classes = _classes_of([y_tr, y_te]) if y_tr.dtype.kind == y_te.dtype.kind == "i" \
            else None
    return Dataset(x_tr, y_tr, x_te, y_te, classes, source)


def _resolve(path, base_dir) -> str:
    return os.path.normpath(os.path.join(base_dir or os.getcwd(), os.path.expanduser(path)))


def load_data(data: dict, shape: tuple | None = None, *, base_dir=None) -> Dataset:
    """Load a spec's ``data:`` section.

    Parameters
    ----------
    data : dict
        The spec's ``data:`` section (see the module docstring).
    shape : tuple of int, optional
        The spec's ``input.shape``: each sample is reshaped to it, row-major (digits' 64
        pixels become ``[8, 8, 1]``).
    base_dir : path, optional
        The directory a relative ``path`` is relative to (the spec's); default: the current one.

    Raises
    ------
    SpecError
        One line naming the field or the file and what is wrong (``input.shape: ...`` when the
        samples do not hold ``prod(shape)`` values; a changed file's sha256).
    DataUnavailable
        The file is missing, or the section records in-memory arrays.
    """
    split = {k: data[k] for k in ("test_fraction", "seed") if k in data}
    if "dataset" in data:
        x, y, classes = DATASETS[data["dataset"]]()
        ds = _assemble((x, y), {"dataset": data["dataset"], **split}, "data.dataset",
                       classes)
    elif "path" in data:
        path = _resolve(data["path"], base_dir)
        name = os.path.basename(path)
        if not os.path.exists(path):
            raise DataUnavailable(f"data.path: {data['path']}: no such file")
        if os.path.isdir(path):
            raise SpecError(f"data.path: {data['path']} is a directory, not a data file")
        digest = file_sha256(path)
        if "sha256" in data and data["sha256"] != digest:
            raise SpecError(f"data.path: {name} has changed since it was recorded (sha256 "
                            f"{digest[:12]}..., recorded {data['sha256'][:12]}...): restore "
                            f"it or train again")
        if path.lower().endswith(".csv"):
            parts = read_csv(path, data["label"], "data.path")
        else:
            parts = read_npz(path, "data.path")
        source = {"path": data["path"], **({"label": data["label"]} if "label" in data else {}),
                  "sha256": digest, **split}
        ds = _assemble(parts, source, f"data.path: {name}")
    else:
        raise DataUnavailable("data.source: this model was trained on arrays given in memory "
                              "(fxp.nn.train(spec, data=...)); pass them again")
    return ds if shape is None else ds.reshaped(shape)


def as_dataset(data, *, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Data given in memory as a :class:`Dataset`.

    Parameters
    ----------
    data : Dataset, (x, y) or (x_train, y_train, x_test, y_test)
        Arrays with one sample per row; ``(x, y)`` is split by ``test_fraction`` and ``seed``
        as a spec's data would be.
    test_fraction, seed
        The split of ``(x, y)``.

    Returns
    -------
    Dataset
        Whose :meth:`~Dataset.section` is ``{source: arrays, sha256: ...}`` (plus the split).
    """
    if isinstance(data, Dataset):
        return data
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 4):
        raise TypeError(f"data: expected a Dataset, (x, y) or (x_train, y_train, x_test, "
                        f"y_test), not {type(data).__name__}"
                        f"{' of ' + str(len(data)) if isinstance(data, (tuple, list)) else ''}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: expected a number between 0 and 1, not "
                         f"{test_fraction!r}")
    arrays = [np.asarray(a) for a in data]
    source = {"source": "arrays", "sha256": arrays_sha256(*arrays)}
    if len(arrays) == 2:
        source.update(test_fraction=float(test_fraction), seed=int(seed))
    return _assemble(arrays, source, "data")


def rebase_section(data: dict, from_dir, to_dir) -> dict:
    """``data`` with a relative ``path`` (relative to ``from_dir``) made relative to
    ``to_dir``: what an artifact written in ``to_dir`` records (absolute when the two share
    nothing but the root)."""
    if "path" not in data or os.path.isabs(os.path.expanduser(data["path"])):
        return dict(data)
    target, to_dir = _resolve(data["path"], from_dir), os.path.abspath(to_dir)
    if os.path.commonpath([target, to_dir]) == os.sep:
        return {**data, "path": target}
    return {**data, "path": os.path.relpath(target, to_dir)}
