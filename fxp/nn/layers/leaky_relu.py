"""``leaky_relu``: ``out = cast(x if x >= 0 else x * alpha, output)``, ``alpha = 2**-k``.

``alpha`` is a power of two between ``2**-32`` and ``0.5``, so ``x * alpha`` is an exact
shift: the product keeps every bit in the exact format ``<W + k, I>`` of an input
``<W, I>`` (``k`` more fraction bits), where the non-negative values are ``x`` itself. Then one
cast with the output's quantization and overflow modes.
"""

from __future__ import annotations

import math

import numpy as np

from ...array import FixedArray
from ...format import FixedFormat
from ..fields import SpecError
from .base import Layer
from .elementwise import ElementwiseTrainer
from .registry import register

__all__ = ["LeakyReLU", "leaky_relu", "alpha_shift", "MAX_SHIFT"]

MAX_SHIFT = 32


def alpha_shift(alpha) -> int:
    """``k`` for ``alpha = 2**-k`` (a number or a decimal string); ValueError otherwise."""
    a = alpha
    if isinstance(a, str):
        try:
            a = float(a)
        except ValueError:
            a = None
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) or \
            a <= 0 or math.frexp(a)[0] != 0.5 or not 2.0 ** -MAX_SHIFT <= a <= 0.5:
        raise ValueError(f"expected a power of two from 2**-{MAX_SHIFT} to 0.5 such as 0.125, "
                         f"not {alpha!r}")
    return 1 - math.frexp(a)[1]


def exact_format(in_fmt: FixedFormat, k: int) -> FixedFormat:
    """The format holding ``x`` and ``x * 2**-k`` exactly for every ``x`` of ``in_fmt``."""
    return FixedFormat(in_fmt.bits + k, in_fmt.int_bits, in_fmt.signed)


def leaky_relu(x: FixedArray, k: int, output: FixedFormat, label: str = "leaky_relu"
               ) -> FixedArray:
    """``cast(x if x >= 0 else x * 2**-k, output)``, the product exact."""
    wide = x.cast(exact_format(x.fmt, k))      # exact: k more fraction bits
    if not x.fmt.signed:
        return wide.cast(output, label=f"{label} output")
    raw = np.where(x.raw >= 0, wide.raw, x.raw)     # a negative x's raw is x * 2**-k's
    if raw.dtype != wide.raw.dtype:
        raw = raw.astype(wide.raw.dtype)
    return FixedArray.trusted(raw, wide.fmt).cast(output, label=f"{label} output")


@register
class LeakyReLU(Layer):
    """Leaky ReLU with a power-of-two slope (see the module docstring)."""

    type = "leaky_relu"
    REQUIRED = frozenset({"alpha", "output"})
    FORMATS = ("output",)
    output_signed = True

    alpha = 0.01
    shift = 0

    def parse_fields(self, body):
        try:
            self.shift = alpha_shift(body["alpha"])
        except ValueError as e:
            raise SpecError(f"{self.label} field 'alpha': {e}") from None
        self.alpha = 2.0 ** -self.shift

    def dump_fields(self):
        return {"alpha": self.alpha}

    def apply(self, x, out_fmt, label):
        return leaky_relu(x, self.shift, out_fmt, label)

    def forward(self, x, tensors, label):
        return leaky_relu(x, self.shift, self.output.fmt, label)

    def float_function(self, v):
        return np.where(v >= 0, v, v * self.alpha)

    def float_slope(self, v):
        return np.where(v >= 0, 1.0, self.alpha)

    def trainer(self, shape, rng, input_scale, previous):
        return ElementwiseTrainer(self, shape)
