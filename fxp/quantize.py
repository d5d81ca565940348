"""Quantizing real numbers: a cast from each float's exact binary value, fast on float64."""

from __future__ import annotations

import numpy as np

from . import kernels
from . import overflow as _ovf
from .array import FixedArray
from .format import FixedFormat, Overflow, Quantization

__all__ = ["quantize"]

# Formats whose raw range is exact in a double and whose scale 2**frac_bits is a normal
# double take the float64 fast path; others go through exact integers.
_FAST_MAX_BITS = 53
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
    if fmt.bits <= _FAST_MAX_BITS and abs(fmt.frac_bits) <= _FAST_MAX_SCALE:
        raw = _quantize_fast(a, fmt, op)
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
    nan = np.isnan(a)
    n = int(np.count_nonzero(nan))
    if n:
        first = _ovf.first_index(nan)
        raise ValueError(f"{op}: {n} NaN value{'s' if n > 1 else ''} cannot be quantized; "
                         f"first at index {first}")


def _check_inf(a, fmt, op):
    inf = np.isinf(a)
    n = int(np.count_nonzero(inf))
    if n and not fmt.overflow.saturates:
        first = _ovf.first_index(inf)
        raise ValueError(f"{op}: {n} infinite value{'s' if n > 1 else ''} cannot be "
                         f"wrapped into {fmt} (overflow {fmt.overflow}); first at index "
                         f"{first}; use a SAT* overflow mode to saturate")


def _round_float(v: np.ndarray, q: Quantization) -> np.ndarray:
    """Round float64 values (already scaled, owned by us) in place, exactly."""
    if q is Quantization.TRN:
        return np.floor(v, out=v)
    if q is Quantization.TRN_ZERO:
        return np.trunc(v, out=v)
    if q is Quantization.RND_CONV:
        return np.rint(v, out=v)
    r = np.rint(v)
    with np.errstate(invalid="ignore"):  # inf - inf: inf stays inf below
        d = v - r  # exact: |d| <= 0.5 and r is 0 or within a factor 2 of v (Sterbenz)
    if q is Quantization.RND:
        r += d == 0.5
    elif q is Quantization.RND_MIN_INF:
        r -= d == -0.5
    elif q is Quantization.RND_ZERO:
        r += (d == 0.5) & (v < 0)
        r -= (d == -0.5) & (v > 0)
    elif q is Quantization.RND_INF:
        r += (d == 0.5) & (v > 0)
        r -= (d == -0.5) & (v < 0)
    return r


def _quantize_fast(a: np.ndarray, fmt: FixedFormat, op: str):
    """Float64 path; returns None when a value needs the exact integer path."""
    scale = np.ldexp(1.0, fmt.frac_bits)
    with np.errstate(over="ignore"):  # a finite value scaled to inf is out of range anyway
        v = a * scale if fmt.frac_bits else a.copy()
    v = _round_float(v, fmt.quantization)
    if fmt.frac_bits < 0 and fmt.quantization is Quantization.TRN:
        # a negative value scaled below the smallest subnormal became -0.0: its floor is -1
        v[(v == 0) & (a < 0)] = -1.0
    if v.size == 0:
        return v.astype(np.int64)
    vmin, vmax = v.min(), v.max()
    if np.isnan(vmin) or np.isnan(vmax):
        _check_nan(a, op)
    lo, hi = fmt.raw_min, fmt.raw_max
    mode = fmt.overflow
    if mode is Overflow.SAT_SYM and fmt.signed and fmt.bits > 1:
        lo = -hi
    if lo <= vmin and vmax <= hi:
        if _ovf.logging_active():
            _ovf.report(op, "saturation" if fmt.overflow.saturates else "overflow", None,
                        None, v.size, fmt, fmt.frac_bits)
        return v.astype(np.int64)
    if not np.all(np.isfinite((vmin, vmax))):
        _check_inf(a, fmt, op)
    if mode.saturates:
        if _ovf.logging_active():
            mask = (v < lo) | (v > hi)
            _ovf.report(op, "saturation", mask, _int_values(v, mask), v.size, fmt,
                        fmt.frac_bits)
        if mode is Overflow.SAT_ZERO:
            v[(v < lo) | (v > hi)] = 0.0
        else:
            np.clip(v, lo, hi, out=v)
        return v.astype(np.int64)
    if max(-vmin, vmax) >= 2.0 ** 62:
        return None
    q = v.astype(np.int64)
    floor = None
    if mode is Overflow.WRAP_SM:
        floor = (lambda: np.floor(a * scale).astype(np.int64))
    return kernels.overflow(q, fmt, op, floor=floor)


def _int_values(v, mask):
    """Exact integer values of float64 ``v`` where ``mask`` (object ints; others 0)."""
    out = np.zeros(v.shape, dtype=object)
    out[mask] = [int(x) if np.isfinite(x) else (1 << 1100 if x > 0 else -(1 << 1100))
                 for x in v[mask]]
    return out


def _quantize_exact(a: np.ndarray, fmt: FixedFormat, op: str) -> np.ndarray:
    """Exact path on integers: x = M * 2**E with |M| < 2**53, then a per-element cast."""
    _check_nan(a, op)
    _check_inf(a, fmt, op)
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
