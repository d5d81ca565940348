"""``relu``: ``out = cast(max(x, 0), output)``."""

from __future__ import annotations

import numpy as np

from ...array import FixedArray
from ...format import FixedFormat
from .base import Layer
from .elementwise import ElementwiseTrainer
from .registry import register

__all__ = ["ReLU", "relu"]


def relu(x: FixedArray, output: FixedFormat, label: str = "relu") -> FixedArray:
    """ReLU: ``cast(max(x, 0), output)``."""
    raw = np.maximum(x.raw, 0) if x.raw.dtype != object else \
        np.where(x.raw > 0, x.raw, 0).astype(object)
    return FixedArray.trusted(raw, x.fmt).cast(output, label=f"{label} output")


@register
class ReLU(Layer):
    """Rectified linear unit, cast to its output format."""

    type = "relu"
    REQUIRED = frozenset({"output"})
    FORMATS = ("output",)
    output_signed = False

    def apply(self, x, out_fmt, label):
        return relu(x, out_fmt, label)

    def forward(self, x, tensors, label):
        return relu(x, self.output.fmt, label)

    @staticmethod
    def float_function(v):
        return np.maximum(v, 0.0)

    @staticmethod
    def float_slope(v):
        return v > 0

    def trainer(self, shape, rng, input_scale, previous):
        return ElementwiseTrainer(self, shape)
