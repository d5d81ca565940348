"""Exact rounding of float64 values to integers under every quantization mode, a few passes each."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .format import Quantization

__all__ = ["round_to_int64", "round_float", "round_fraction", "EXACT_BELOW"]

# Values of magnitude below this are rounded exactly by every formula below (and convert to
# int64 exactly); larger ones need the exact integer path.
EXACT_BELOW = 2.0 ** 62
_BIG = 2.0 ** 52          # from here on every double is an integer
_C = math.nextafter(0.5, 0.0)   # 0.5 - 2**-54
_T = 2.0 ** -54           # fl(-0.5 + _C): the one sum that floor(v + _C) gets wrong
_SIGN = np.int64(-(1 << 63))
_C_BITS = np.float64(_C).view(np.int64)
_MAGIC = 1.5 * 2.0 ** 52        # r + _MAGIC holds an integer r (|r| < 2**51) in its low bits
_MAGIC_BITS = int(np.float64(_MAGIC).view(np.int64))


def round_to_int64(v: np.ndarray, q: Quantization, *, large: bool = True,
                   out: np.ndarray | None = None, offset: int = 0, small: bool = False,
                   scratch: np.ndarray | None = None) -> np.ndarray:
    """Round float64 ``v`` (owned by the caller: it is overwritten) to int64, exactly.

    Parameters
    ----------
    v : numpy.ndarray of float64
        Finite values with ``|v| < 2**62`` (no NaN, no inf).
    q : Quantization
    large : bool, default True
        False promises ``|v| < 2**52``, which allows a cheaper formula for RND_ZERO.
    out : numpy.ndarray of int64, optional
        Where to write the result (same shape as ``v``, not overlapping it).
    offset : int, default 0
        Added to every result. Nonzero promises ``|v| < 2**51`` and ``|offset| < 2**51``:
        the conversion is then ``fl(r + 1.5 * 2**52)``'s bits minus those of ``1.5 * 2**52``
        (exact for integers ``r`` below ``2**51``), which adds the offset for free and rounds
        half to even by itself (RND_CONV).
    small : bool, default False
        True promises ``|v| < 2**51``: RND_ZERO and RND_CONV (every RND* mode with an offset)
        then round half to even by that addition, and the ties the mode breaks otherwise are
        fixed (found by two reductions).
    scratch : numpy.ndarray of float64, optional
        Scratch of ``v``'s size for ``small`` (allocated when missing).

    Returns
    -------
    numpy.ndarray of int64
        ``q``-rounded values, bit-identical to rounding each exact value.

    Notes
    -----
    ``floor(fl(v + c))`` with ``c = 0.5 - 2**-54`` equals ``floor(v + 0.5)`` (ties up) for
    every double except ``v = -0.5`` (whose sum is exactly ``-2**-54``), including the large
    values where ``fl(v + 0.5)`` itself rounds; the mirror holds for ``ceil(v - c)``.
    ``floor(|v| + c)`` is therefore exact everywhere (ties away), and ``ceil(|v| - 0.5)``
    (ties toward zero) is exact below ``2**52``.
    """
    if out is None:
        out = np.empty(v.shape, dtype=np.int64)
    # The float -> int64 conversion truncates toward zero: rounding in place on v and one
    # conversion is cheaper than numpy's casting ufunc output.
    magic = offset != 0
    # (without an offset, RND, RND_MIN_INF and RND_INF are as fast with their own formulas)
    if magic and q is not Quantization.TRN and q is not Quantization.TRN_ZERO or \
            small and (q is Quantization.RND_ZERO or q is Quantization.RND_CONV):
        _round_magic(v, q, out, offset, scratch)
        return out
    with np.errstate(invalid="ignore"):
        if q is Quantization.TRN:
            np.floor(v, out=v)
        elif q is Quantization.TRN_ZERO:
            if magic:
                np.trunc(v, out=v)
        elif q is Quantization.RND_CONV:
            np.rint(v, out=v)
        elif q is Quantization.RND:
            np.add(v, _C, out=v)
            bad = v == -_T
            np.floor(v, out=v)
            if bad.any():
                v[bad] = 0.0
        elif q is Quantization.RND_MIN_INF:
            np.subtract(v, _C, out=v)
            bad = v == _T
            np.ceil(v, out=v)
            if bad.any():
                v[bad] = 0.0
        elif q is Quantization.RND_INF:
            # trunc(v + copysign(c, v)), the sign copied with integer operations (fast)
            ti = out      # scratch in the output's memory
            np.bitwise_and(v.view(np.int64), _SIGN, out=ti)
            np.bitwise_or(ti, _C_BITS, out=ti)
            np.add(v, ti.view(np.float64), out=v)
        elif q is Quantization.RND_ZERO:
            # copysign(ceil(|v| - 0.5), v)
            vi = v.view(np.int64)
            sign = out    # scratch in the output's memory
            np.bitwise_and(vi, _SIGN, out=sign)
            np.bitwise_and(vi, ~_SIGN, out=vi)
            if large:
                np.subtract(v, _C, out=v)
                bad = v == _T           # |v| = 0.5: ceil(2**-54) = 1, but the tie goes to 0
                np.ceil(v, out=v)
                if bad.any():
                    v[bad] = 0.0
            else:
                np.subtract(v, 0.5, out=v)
                np.ceil(v, out=v)
            np.bitwise_or(vi, sign, out=vi)
        else:
            raise AssertionError(q)
        if magic:
            np.add(v, _MAGIC, out=out.view(np.float64))
            np.subtract(out, _MAGIC_BITS - offset, out=out)
        else:
            np.copyto(out, v, casting="unsafe")
    return out


def _round_magic(v, q, out, offset, scratch):
    """``round_to_int64`` of ``|v| < 2**51`` by ``fl(v + 1.5 * 2**52)``, ties fixed per mode.

    The addition rounds half to even; ``d = v - rne(v)`` is exact (Sterbenz) and is +-0.5
    exactly at the ties, which ``d.max()`` / ``d.min()`` reveal in a cheap reduction each.
    """
    tf = out.view(np.float64)
    np.add(v, _MAGIC, out=tf)
    if q is not Quantization.RND_CONV:
        e = np.empty_like(v) if scratch is None else scratch
        np.subtract(tf, _MAGIC, out=e)     # rne(v), exact
        np.subtract(v, e, out=v)           # d: 0.5 where a tie went down, -0.5 where up
        if q is not Quantization.RND_MIN_INF and v.max() == 0.5:
            _fix_ties(tf, e, v, 0.5, q)
        if q is not Quantization.RND and v.min() == -0.5:
            _fix_ties(tf, e, v, -0.5, q)
    np.subtract(out, _MAGIC_BITS - offset, out=out)


def _fix_ties(tf, e, d, side, q):
    """Move the ties ``d == side`` that ``q`` breaks the other way by one (in ``tf``)."""
    tie = d == side
    if q is Quantization.RND_ZERO:      # down (side 0.5) was wrong for negative values
        np.logical_and(tie, e < 0 if side > 0 else e > 0, out=tie)
    elif q is Quantization.RND_INF:     # ... for values >= 0 (0.5 -> 1, -0.5 -> -1)
        np.logical_and(tie, e >= 0 if side > 0 else e <= 0, out=tie)
    step = 1.0 if side > 0 else -1.0
    if np.count_nonzero(tie) * 16 <= tie.size:
        tf[np.flatnonzero(tie)] += step
    else:
        np.add(tf, tie * step, out=tf)


def round_float(x: float, q: Quantization) -> int:
    """One finite float rounded to an integer under ``q``, exactly (for a block's ends).

    ``x`` is compared with ``floor(x) + 0.5``, which is exact below ``2**52`` (from there on
    ``x`` is an integer); ``x - floor(x)`` itself may round for negative ``x``.
    """
    fl = math.floor(x)
    if x == fl or q is Quantization.TRN:
        return fl
    if q is Quantization.TRN_ZERO:
        return fl + (x < 0)
    mid = fl + 0.5
    if x != mid:
        return fl + (x > mid)
    return _break_tie(fl, x < 0, q)


def round_fraction(x: Fraction, q: Quantization) -> int:
    """Round one exact rational to an integer under ``q`` (for log statistics and messages)."""
    fl = math.floor(x)
    d = x - fl
    if q is Quantization.TRN:
        return fl
    if q is Quantization.TRN_ZERO:
        return fl + 1 if x < 0 and d else fl
    half = Fraction(1, 2)
    if d != half:
        return fl + (d > half)
    return _break_tie(fl, x < 0, q)


def _break_tie(fl: int, negative: bool, q: Quantization) -> int:
    """``fl + 1/2`` (a tie; ``negative``: its sign) rounded under a RND* mode ``q``."""
    if q is Quantization.RND:
        return fl + 1
    if q is Quantization.RND_MIN_INF:
        return fl
    if q is Quantization.RND_ZERO:
        return fl + negative
    if q is Quantization.RND_INF:
        return fl + (not negative)
    return fl + (fl % 2)   # RND_CONV: ties to even
