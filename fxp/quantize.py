"""Quantizing real numbers: a cast from each float's exact binary value, fast on float64."""

from __future__ import annotations

import numpy as np

from . import blockcast, kernels
from . import overflow as _ovf
from .array import FixedArray
from .format import FixedFormat

__all__ = ["quantize"]

# Formats whose rounding thresholds (half-integers next to the raw range) are exact in a
# double and whose scale 2**frac_bits is a normal double take the blocked float64 path;
# others go through exact integers.
_FAST_MAX_RAW = 1 << 51
_FAST_MAX_SCALE = 1000


def quantize(x, fmt, *, label: str | None = None) -> FixedArray:
    """Quantize real numbers to ``fmt``: a cast from each value's exact binary value.

    Bit-identical to assigning the double to ``fmt``'s ap_fixed type (round with its
    quantization, then apply its overflow mode).

    Parameters
    ----------
    x : array_like
        Floats (any float dtype: float16/32 are exact in float64), integers or bools.
    fmt : FixedFormat or str
    label : str, optional
        Names the operation in overflow messages and logs (default ``"quantize to <fmt>"``).

    Returns
    -------
    FixedArray

    Raises
    ------
    ValueError
        On NaN (naming how many and the first index), or on +-inf under a WRAP mode
        (+-inf saturates under the SAT* modes).
    fxp.OverflowError
        On WRAP overflow under the ``"raise"`` policy.
    """
    fmt = FixedFormat.parse(fmt)
    op = label or f"quantize to {fmt}"
    a = np.asarray(x)
    if a.ndim == 0:   # numpy's in-place rounding needs arrays
        return quantize(a.reshape(1), fmt, label=label)[0]
    if a.dtype.kind in "biu" or (a.dtype == object and _all_int(a)):
        src = _int_format(a)
        raw = a.astype(np.int64) if a.dtype.kind == "b" else a
        if src.fits_int64 and raw.dtype == np.uint64:
            raw = raw.astype(np.int64)
        elif not src.fits_int64:
            raw = kernels.to_object(raw)
        return FixedArray.trusted(kernels.cast_raw(raw, src, fmt, op), fmt)
    if a.dtype.kind not in "f":
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"Cannot quantize an array of {a.dtype}; expected real "
                            f"numbers") from None
    if a.dtype != np.float64:
        a = a.astype(np.float64)
    if max(-fmt.raw_min, fmt.raw_max) <= _FAST_MAX_RAW and abs(fmt.frac_bits) <= _FAST_MAX_SCALE:
        raw = blockcast.quantize_float64(a, fmt, op)
        if raw is not None:
            return FixedArray.trusted(raw, fmt)
    return FixedArray.trusted(_quantize_exact(a, fmt, op), fmt)


def _all_int(a):
    return all(isinstance(v, int) and not isinstance(v, bool) for v in a.reshape(-1))


def _int_format(a) -> FixedFormat:
    if a.dtype == object:
        if a.size == 0:
            return FixedFormat(64, 64)
        lo, hi = min(int(v) for v in a.reshape(-1)), max(int(v) for v in a.reshape(-1))
        return FixedFormat.holding(lo, hi, 0, signed=True)
    if a.dtype.kind == "b":
        return FixedFormat(2, 2, True)
    bits = a.dtype.itemsize * 8
    return FixedFormat(bits, bits, a.dtype.kind == "i")


def _check_nan(a, op):
    if np.isnan(a).any():
        blockcast.check_nan(a, op)


def _quantize_exact(a: np.ndarray, fmt: FixedFormat, op: str) -> np.ndarray:
    """Exact path on integers: x = M * 2**E with |M| < 2**53, then a per-element cast."""
    _check_nan(a, op)
    blockcast.check_inf(a, fmt, op)
    inf = np.isinf(a)
    finite = np.where(inf, 0.0, a)
    m, e = np.frexp(finite)
    mant = np.ldexp(m, 53).astype(np.int64)          # exact: |mant| < 2**53
    t = e.astype(np.int64) - 53 + fmt.frac_bits      # value at fmt scale = mant * 2**t
    tmax = int(t.max()) if t.size else 0
    work = mant if tmax <= kernels.INT64_SAFE_BITS - 54 else kernels.to_object(mant)
    left = t >= 0
    shift_l = np.where(left, t, 0)
    shift_r = np.minimum(np.where(left, 0, -t), 55)  # 55 > 54 bits of mant: same rounding
    if work.dtype == object:
        shift_l = kernels.to_object(shift_l)
    q = np.where(left, work << shift_l,
                 kernels.round_shift(work, np.maximum(shift_r, 1), fmt.quantization))
    floor = (lambda: np.where(left, work << shift_l, work >> kernels.to_object(shift_r)
                              if work.dtype == object else work >> shift_r))
    if inf.any():
        big = (1 << (fmt.bits + 1))
        q = kernels.to_object(q)
        q[inf & (a > 0)] = big
        q[inf & (a < 0)] = -big
    return kernels.overflow(q, fmt, op, floor=floor)
