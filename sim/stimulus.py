"""Input vectors for a bench run: the artifact's test vectors, then the same random vectors as ``python -m hdl csim``."""

from __future__ import annotations

import os

import numpy as np

from fxp.nn import Model, load_vectors
from hdl.hls.csim import random_inputs

__all__ = ["stimulus"]


def stimulus(model: Model, artifact, count: int, seed: int) -> np.ndarray:
    """Every input of a run, in order: the artifact's ``vectors.npz`` inputs (when present),
    then ``count`` random vectors: all-minimum, all-maximum, the two alternating min/max
    vectors, and uniform vectors over the input format (:func:`hdl.hls.csim.random_inputs`,
    so a vector index names the same vector here and in the C simulation).

    Parameters
    ----------
    model : fxp.nn.Model
    artifact : path
        The artifact directory.
    count : int
        Number of random vectors (the first 4 are the extremes).
    seed : int

    Returns
    -------
    numpy.ndarray
        ``(n, n_inputs)`` raw inputs (int64, or Python ints past 63 bits).
    """
    parts = []
    if os.path.isfile(os.path.join(artifact, "vectors.npz")):
        parts.append(np.asarray(load_vectors(artifact)["inputs"]).reshape(-1, model.n_inputs))
    parts.append(random_inputs(model.input_format, model.n_inputs, count, seed))
    dtype = object if any(p.dtype == object for p in parts) else np.int64
    return np.concatenate([p.astype(dtype) for p in parts])
