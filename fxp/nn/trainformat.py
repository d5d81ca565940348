"""Formats while training: concrete, calibrated (``auto``) or a learned binary point.

``auto`` takes the range of the data seen; ``int_bits: learn`` trains the fraction bits.
"""

from __future__ import annotations

import math

import numpy as np

from ..format import FixedFormat
from ..quantize import quantize
from .fields import FormatSpec

__all__ = ["TrainedFormat", "fit_int_bits", "DEFAULT_BITS"]

# Widths of an `auto` format per role.
DEFAULT_BITS = {"weight": 8, "bias": 16, "output": 16}
_LN2 = math.log(2.0)


def fit_int_bits(bits: int, signed: bool, max_abs: float) -> int:
    """Fewest integer bits for which a ``bits``-wide format holds ``[-max_abs, max_abs]``."""
    if not max_abs > 0 or not math.isfinite(max_abs):
        return int(signed)
    ib = math.ceil(math.log2(max_abs)) + int(signed) - bits
    while True:
        f = FixedFormat(bits, ib, signed)
        if f.max >= max_abs and (not signed or f.min <= -max_abs):
            break
        ib += 1
    while True:
        f = FixedFormat(bits, ib - 1, signed)
        if f.max >= max_abs and (not signed or f.min <= -max_abs):
            ib -= 1
        else:
            return ib


class TrainedFormat:
    """One format of a layer while training: concrete, auto (calibrated) or learned."""

    def __init__(self, fs: FormatSpec, kind: str, signed: bool, where: str):
        self.fs, self.kind, self.where = fs, kind, where
        self.signed = fs.signed if not fs.auto and not fs.concrete else signed
        self.range = 0.0
        self.next_range = 0.0
        self.f = None       # learned fraction bits, as a 0-d float array (an optimizer param)
        self.frozen = None  # the resolved format, once the network is resolved

    @property
    def learn(self) -> bool:
        return self.fs.learn

    def _base(self):
        if self.fs.auto:
            return DEFAULT_BITS[self.kind], self.signed, "RND_CONV", "SAT"
        return self.fs.bits, self.fs.signed, self.fs.quantization, self.fs.overflow

    def fmt(self) -> FixedFormat:
        if self.frozen is not None:
            return self.frozen
        if self.fs.concrete:
            return self.fs.fmt
        bits, signed, q, o = self._base()
        if self.f is not None:
            ib = bits - int(round(float(self.f)))
        else:
            ib = fit_int_bits(bits, signed, self.range)
        return FixedFormat(bits, ib, signed, q, o)

    def calibrate(self, values: np.ndarray):
        """Set the range from values about to be quantized (a learned field starts here)."""
        if self.fs.concrete or self.frozen is not None:
            return
        self.range = float(np.max(np.abs(values))) if values.size else 0.0
        if self.learn and self.f is None:
            bits, signed, _, _ = self._base()
            self.f = np.array(float(bits - fit_int_bits(bits, signed, self.range)))

    def observe(self, values: np.ndarray):
        if values.size:
            self.next_range = max(self.next_range, float(np.max(np.abs(values))))

    def end_epoch(self):
        if self.next_range > 0:
            self.range = self.next_range
        self.next_range = 0.0

    def lsq_grad(self, v: np.ndarray, g: np.ndarray):
        """Accumulate dLoss/df for a learned binary point (quantizer input v, output grad g)."""
        if self.f is None:
            return 0.0
        fmt = self.fmt()
        s = fmt.lsb
        q = quantize(v, fmt.replace(overflow="SAT")).raw.astype(np.float64)
        dq_ds = np.where((v / s >= fmt.raw_min) & (v / s <= fmt.raw_max), q - v / s, q)
        return float(np.sum(g * dq_ds)) * (-s * _LN2)
