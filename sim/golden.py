"""The golden model of a bench run: the artifact's fxp.nn.Model computing expected raw outputs in-process."""

from __future__ import annotations

import numpy as np

import fxp
from fxp.nn import Model

__all__ = ["expected_outputs"]


def expected_outputs(model: Model, inputs) -> tuple[np.ndarray, fxp.OverflowLog]:
    """Bit-exact raw outputs of ``model`` for raw ``inputs``, one row per vector.

    Overflow inside the model (a WRAP output format wrapping) is what the hardware must do too,
    so it is logged, not raised.

    Parameters
    ----------
    model : fxp.nn.Model
    inputs : array_like of int, shape (n, n_inputs)

    Returns
    -------
    outputs : numpy.ndarray
        ``(n, n_outputs)`` raw integers (an argmax model gives one column of class indices).
    log : fxp.OverflowLog
        Overflows and saturations seen while computing them.
    """
    with fxp.overflow_policy("log") as log:
        y = model.predict_raw(np.asarray(inputs).reshape(-1, *model.input_shape))
    return np.asarray(y).reshape(len(y), -1), log
