"""Quantizer parameters (scale, zero point, bit width, signedness, narrow range, rounding) as
fxp formats.

A quantizer with scale ``2**-f``, zero point 0, ``b`` bits and signedness ``s`` is exactly a
cast to ``fixed<b, b - f>`` (``ufixed`` when unsigned) with

============================  ==========================================================
QONNX ``rounding_mode``       fxp quantization
============================  ==========================================================
``ROUND``, ``HALF_EVEN``      ``RND_CONV`` (to nearest, ties to even; also QuantizeLinear)
``HALF_UP``                   ``RND_INF`` (ties away from zero)
``HALF_DOWN``                 ``RND_ZERO`` (ties toward zero)
``FLOOR``                     ``TRN``
``DOWN``                      ``TRN_ZERO``
``CEIL``, ``UP``              rejected (no ap_fixed mode rounds toward plus infinity)
============================  ==========================================================

and overflow ``SAT`` (clip to the full range) or ``SAT_SYM`` for a signed narrow range
(``-(2**(b-1) - 1) .. 2**(b-1) - 1``). An unsigned narrow range (``0 .. 2**b - 2``), a scale
that is not a power of two and a nonzero zero point have no exact fixed-point form and are
rejected. Pure numpy: nothing here imports onnx.
"""

from __future__ import annotations

import math

import numpy as np

from ...format import FixedFormat
from .errors import OnnxImportError

__all__ = ["ROUNDING", "pow2_frac", "split_scale", "dyadic_multiplier", "check_zero_point",
           "quant_format", "range_format", "round_values"]

ROUNDING = {"ROUND": "RND_CONV", "HALF_EVEN": "RND_CONV", "HALF_UP": "RND_INF",
            "HALF_DOWN": "RND_ZERO", "FLOOR": "TRN", "DOWN": "TRN_ZERO"}

MAX_FRAC = 64


def pow2_frac(scale, where: str) -> np.ndarray:
    """``f`` with ``scale == 2**-f`` for every element of ``scale`` (int array of its shape).

    Raises
    ------
    OnnxImportError
        When an element is not a power of two.
    """
    s = np.asarray(scale, dtype=np.float64)
    flat = s.ravel()
    out = np.zeros(flat.shape, dtype=np.int64)
    for i, v in enumerate(flat):
        m, e = math.frexp(float(v)) if np.isfinite(v) and v > 0 else (0.0, 0)
        if m != 0.5 or not -MAX_FRAC <= 1 - e <= MAX_FRAC:
            raise OnnxImportError(f"{where}: scale {float(v)!r} is not a power of two; "
                                  f"expected scales 2**-f (fixed-point quantizers, e.g. "
                                  f"Brevitas' *FixedPoint ones)")
        out[i] = 1 - e
    return out.reshape(s.shape)


def split_scale(scale, where: str, dyadic: bool) -> tuple:
    """``(frac, mant)`` with ``scale == mant * 2**-frac`` per element: ``mant`` is 1 for a
    power of two; any other scale is an error, or with ``dyadic`` a mantissa in ``(1, 2)``
    that the importer approximates by a dyadic number where it must multiply by it."""
    if not dyadic:
        f = pow2_frac(scale, where)
        return f, np.ones(f.shape)
    s = np.asarray(scale, dtype=np.float64)
    if not np.all(np.isfinite(s) & (s > 0)):
        raise OnnxImportError(f"{where}: scale {s.ravel().tolist()}; expected positive "
                              f"finite scales")
    m, e = np.frexp(s)
    return (1 - e).astype(np.int64), m * 2.0


def dyadic_multiplier(ratio, bits: int) -> tuple:
    """``(b, c)``: integers ``b`` (per element of ``ratio``, at most ``bits`` bits) and one
    shift ``c`` with ``b / 2**c`` the nearest dyadic numbers to ``ratio`` (HAWQ-V3)."""
    r = np.asarray(ratio, dtype=np.float64)
    c = int(bits - 1 - math.floor(math.log2(float(r.max()))))
    return np.rint(r * 2.0 ** c).astype(np.int64), c


def check_zero_point(zero_point, where: str) -> None:
    """A zero point must be 0 (absent counts as 0)."""
    if zero_point is None:
        return
    z = np.asarray(zero_point)
    if np.any(z != 0):
        bad = z.ravel()[np.flatnonzero(z)[0]]
        bad = float(bad) if z.dtype.kind == "f" else int(bad)
        raise OnnxImportError(f"{where}: zero point {bad!r} is not 0; expected symmetric "
                              f"quantizers (zero point 0)")


def _mode(rounding: str, where: str) -> str:
    if rounding not in ROUNDING:
        raise OnnxImportError(f"{where}: rounding_mode {rounding!r} has no fixed-point "
                              f"equivalent; expected one of {', '.join(ROUNDING)}")
    return ROUNDING[rounding]


def quant_format(frac: int, bits: int, signed: bool, narrow: bool, rounding: str,
                 where: str) -> FixedFormat:
    """The format of a quantizer with scale ``2**-frac`` (see the module docstring)."""
    if bits != int(bits) or bits < 1 or (signed and bits < 2):
        raise OnnxImportError(f"{where}: bit width {bits!r}; expected an integer >= 2 "
                              f"(signed) or >= 1 (unsigned)")
    if narrow and not signed:
        raise OnnxImportError(f"{where}: an unsigned narrow range (0 .. 2**b - 2) has no "
                              f"fixed-point equivalent; expected narrow=0 for unsigned "
                              f"quantizers")
    bits = int(bits)
    return FixedFormat(bits, bits - int(frac), bool(signed), _mode(rounding, where),
                       "SAT_SYM" if narrow else "SAT")


def range_format(lo: int, hi: int, frac: int, where: str) -> FixedFormat:
    """The format of a QuantizeLinear/Clip/DequantizeLinear chain clipping to ``lo..hi``
    at scale ``2**-frac`` (ties to even)."""
    lo, hi = int(lo), int(hi)
    for bits in range(1, 65):
        if lo == 0 and hi == (1 << bits) - 1:
            return quant_format(frac, bits, False, False, "ROUND", where)
        if hi == (1 << (bits - 1)) - 1 and lo in (-(1 << (bits - 1)), -hi) and bits >= 2:
            return quant_format(frac, bits, True, lo == -hi, "ROUND", where)
    raise OnnxImportError(f"{where}: integer range {lo} .. {hi} is not a b-bit range; "
                          f"expected 0 .. 2**b - 1, -2**(b-1) .. 2**(b-1) - 1 or "
                          f"-(2**(b-1) - 1) .. 2**(b-1) - 1")


def round_values(y: np.ndarray, rounding: str, where: str) -> np.ndarray:
    """``y`` (exact float64 multiples of a power of two) rounded as the quantizer does."""
    mode = _mode(rounding, where)
    if mode == "RND_CONV":
        return np.round(y)
    if mode == "TRN":
        return np.floor(y)
    if mode == "TRN_ZERO":
        return np.fix(y)
    if mode == "RND_INF":
        return np.sign(y) * np.floor(np.abs(y) + 0.5)
    return np.sign(y) * np.ceil(np.abs(y) - 0.5)      # RND_ZERO
