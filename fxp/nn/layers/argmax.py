"""``argmax``: the index of the first maximum (ties go to the lowest index); the last layer.

The index has the unsigned integer format ``ufixed<B,B>`` with
``B = max(1, ceil(log2(features)))``.
"""

from __future__ import annotations

import math

import numpy as np

from ...array import FixedArray
from ...format import FixedFormat
from ..fields import SpecError
from .base import Layer, Trainer
from .registry import register

__all__ = ["Argmax", "argmax", "argmax_format"]


def argmax_format(features: int) -> FixedFormat:
    """Format of an argmax output over ``features`` values."""
    b = max(1, math.ceil(math.log2(features))) if features > 1 else 1
    return FixedFormat(b, b, False)


def argmax(x: FixedArray) -> FixedArray:
    """Index of the first maximum along the last axis."""
    raw = x.raw
    if raw.dtype == object:
        idx = np.array([max(range(len(r)), key=lambda i, r=r: (r[i], -i)) for r in
                        raw.reshape(-1, raw.shape[-1])], dtype=np.int64).reshape(raw.shape[:-1])
    else:
        idx = np.argmax(raw, axis=-1).astype(np.int64)  # numpy returns the first maximum
    return FixedArray.trusted(idx, argmax_format(raw.shape[-1]))


@register
class Argmax(Layer):
    """The class index of the largest value (training sees the values before it)."""

    type = "argmax"
    returns_index = True

    def check_position(self, layers):
        if self.index != len(layers) - 1:
            raise SpecError(f"{self.label}: argmax must be the last layer")

    def output_shape(self, shape):
        self.check_vector_input(shape)
        return ()

    def output_format(self, shape, in_fmt, tensors):
        return argmax_format(shape[-1])

    def forward(self, x, tensors, label):
        return argmax(x)

    def trainer(self, shape, rng, input_scale, previous):
        return Trainer(self, shape)
