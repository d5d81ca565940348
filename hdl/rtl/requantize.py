"""Requantize: the fxp cast (round, then overflow) as combinational hardware."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from fxp import FixedFormat, Overflow, Quantization
from fxp.kernels import round_shift

from .common import as_format, fmt_shape

__all__ = ["requantize", "Requantize"]


def _signed_width(lo: int, hi: int) -> int:
    """Bits of the smallest signed integer holding every value in ``lo..hi``."""
    return max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length() if hi > 0 else 0) + 1


def _bit(x, i: int):
    """Bit ``i`` of ``x`` as a two's complement integer of infinite width (a Value or 0)."""
    if i < 0:
        return 0
    if i < len(x):
        return x[i]
    return x[-1] if x.shape().signed else 0


def _field(x, start: int, width: int, signed: bool):
    """Bits ``start .. start + width - 1`` of ``x`` as a ``width``-bit Value.

    ``x`` is read as a two's complement integer of infinite width: zeros below bit 0 (so a
    negative ``start`` shifts left), sign (or zero) extension above its top bit. Built from
    one slice and constants, so the expression stays shallow.
    """
    if start == 0 and width == len(x) and x.shape().signed == signed:
        return x
    parts = []
    if start < 0:
        parts.append(Const(0, min(-start, width)))
    lo, hi = max(start, 0), min(start + width, len(x))
    if lo < hi:
        parts.append(x[lo:hi])
    rest = width - sum(len(p) for p in parts)
    if rest > 0:
        parts.append(x[-1].replicate(rest) if x.shape().signed else Const(0, rest))
    v = parts[0] if len(parts) == 1 else Cat(*parts)
    return v.as_signed() if signed else v


def _round_bounds(src: FixedFormat, s: int, quantization: Quantization) -> tuple[int, int]:
    """Exact range of the rounded value: rounding is monotone, so it maps the ends."""
    ends = np.array([src.raw_min, src.raw_max], dtype=object)
    lo, hi = round_shift(ends, s, quantization) if s > 0 else ends << -s
    return int(lo), int(hi)


def _round_term(x, src: FixedFormat, s: int, quantization: Quantization):
    """The term ``fxp.kernels.round_shift`` adds to ``x`` before shifting right by ``s >= 1``:
    ``(sel, c0, c1)``, the constant ``c1`` when the bit ``sel`` is set, else ``c0`` (``sel``
    is 0 and ``c0 == c1`` when the term does not depend on ``x``)."""
    half = 1 << (s - 1)
    neg = x[-1] if src.signed else 0
    q = quantization
    if q is Quantization.TRN:
        sel, c0, c1 = 0, 0, 0
    elif q is Quantization.RND:
        sel, c0, c1 = 0, half, half
    elif q is Quantization.RND_MIN_INF:
        sel, c0, c1 = 0, half - 1, half - 1
    elif q is Quantization.RND_CONV:             # + (half - 1) + bit s of x
        sel, c0, c1 = _bit(x, s), half - 1, half
    elif q is Quantization.RND_ZERO:             # + (half - 1) + neg
        sel, c0, c1 = neg, half - 1, half
    elif q is Quantization.RND_INF:              # + half - neg
        sel, c0, c1 = neg, half, half - 1
    elif q is Quantization.TRN_ZERO:             # + neg * (2**s - 1)
        sel, c0, c1 = neg, 0, (1 << s) - 1
    else:  # pragma: no cover
        raise AssertionError(q)
    if isinstance(sel, int) or c0 == c1:         # the term does not depend on x
        c0 = c1 = c1 if sel else c0
        sel = 0
    return sel, c0, c1


def _round_sum(x, term):
    """``x`` plus the rounding term of :func:`_round_term`."""
    sel, c0, c1 = term
    if c0 == c1:
        return x + c0 if c0 else x               # TRN (and friends at s=1): no adder
    return x + Mux(sel, c1, c0)


def _compare(x, term, s: int, bound: int, below: bool):
    """``(x + term) >> s < bound`` (``below``) or ``>= bound`` without the sum: ``x`` compared
    with ``(bound << s) - term``, constants, so the range check runs beside the rounding adder
    instead of after it."""
    sel, c0, c1 = term

    def cmp(c):
        k = (bound << s) - c
        return x < k if below else x >= k
    return cmp(c0) if c0 == c1 else Mux(sel, cmp(c1), cmp(c0))


def requantize(value, src, dst):
    """The expression casting raw ``value`` from ``src`` to ``dst``, like ``FixedArray.cast``.

    Rounds the exact value to ``dst``'s fraction bits with ``dst``'s quantization mode, then
    brings it into ``dst``'s range with ``dst``'s overflow mode, bit for bit as
    :func:`fxp.kernels.cast_raw`. The logic is combinational and only as wide as needed:
    no adder for ``TRN``, and no range comparator when no value can leave the range (for
    ``WRAP`` never).

    Parameters
    ----------
    value : Value
        Raw integer of ``src``, of shape ``fmt_shape(src)``.
    src, dst : FixedFormat or str
        Source and destination formats; only ``dst``'s modes matter.

    Returns
    -------
    Value
        The raw integer of ``dst``, of shape ``fmt_shape(dst)``.
    """
    src = as_format(src, "requantize src")
    dst = as_format(dst, "requantize dst")
    x = Value.cast(value)
    x = _field(x, 0, src.bits, src.signed)
    w = dst.bits

    # 1. Round to dst's scale: q = (x + term) >> s, or x << -s; bit i of q is bit i + s of
    #    ``total``. As in fxp, a right shift past src.bits + 1 rounds like src.bits + 1:
    #    |x / 2**s| <= 1/4 from there on.
    s = src.frac_bits - dst.frac_bits
    term = (0, 0, 0)
    if s > 0:
        s = min(s, src.bits + 1)
        term = _round_term(x, src, s, dst.quantization)
        total = _round_sum(x, term)
    else:
        total = x
    qmin, qmax = _round_bounds(src, s, dst.quantization)
    if qmin == qmax:                             # everything rounds to 0
        q = Const(qmin, signed(_signed_width(qmin, qmax)))
        wrapped = Const(qmin, fmt_shape(dst))
    else:
        q = _field(total, s, _signed_width(qmin, qmax), True)
        wrapped = _field(total, s, w, dst.signed)  # WRAP: the low w bits of q

    # 2. Overflow: compare with constant bounds only where the range can be left.
    mode = dst.overflow
    lo, hi = dst.raw_min, dst.raw_max
    if mode is Overflow.SAT_SYM and dst.signed and w > 1:
        lo = -hi
    if s > 0 and term[1:] != (0, 0) and qmin != qmax:
        # a rounding adder: compare x itself with the bounds shifted back, in parallel
        under = _compare(x, term, s, lo, True) if qmin < lo else None
        over = _compare(x, term, s, hi + 1, False) if qmax > hi else None
    else:
        under = q < lo if qmin < lo else None
        over = q > hi if qmax > hi else None
    if mode is Overflow.WRAP or (under is None and over is None):
        return wrapped
    shape = fmt_shape(dst)
    if mode is Overflow.SAT or mode is Overflow.SAT_SYM:
        y = wrapped
        if under is not None:
            y = Mux(under, Const(lo, shape), y)
        if over is not None:
            y = Mux(over, Const(hi, shape), y)
        return y
    outside = under if over is None else over if under is None else under | over
    if mode is Overflow.SAT_ZERO:
        return Mux(outside, Const(0, shape), wrapped)
    # WRAP_SM (fxp.kernels._wrap_sm, ap_fixed overflow_adjust): when the wrapped sign bit
    # differs from the dropped bit just above it, invert the other bits and take that bit
    # as the sign.
    ro = _bit(total, s + w - 1)                  # wrapped sign bit, bit w - 1 of q
    ld = _bit(x, w + s)                          # bit w of the unrounded floor of x / 2**s
    ld = Const(ld, 1) if isinstance(ld, int) else ld
    flip = outside & (ld ^ ro)
    inverted = Cat(~_field(total, s, w - 1, False), ld) if w > 1 else ld
    return Mux(flip, inverted.as_signed(), wrapped)


class Requantize(wiring.Component):
    """Casts a raw fixed-point value from one format to another (combinational).

    ``y`` is ``a`` cast to ``dst`` exactly as ``fxp.from_raw(a, src).cast(dst).raw``:
    rounded with ``dst``'s quantization mode, then brought into range with ``dst``'s
    overflow mode.

    Parameters
    ----------
    src : FixedFormat or str
        Format of the input.
    dst : FixedFormat or str
        Format of the output, with the quantization and overflow modes of the cast.

    Attributes
    ----------
    a : Signal, In(fmt_shape(src))
        Raw input.
    y : Signal, Out(fmt_shape(dst))
        Raw output.
    """

    def __init__(self, *, src, dst):
        self._src = as_format(src, "Requantize src")
        self._dst = as_format(dst, "Requantize dst")
        super().__init__({"a": In(fmt_shape(self._src)), "y": Out(fmt_shape(self._dst))})

    @property
    def src(self) -> FixedFormat:
        """Format of the input."""
        return self._src

    @property
    def dst(self) -> FixedFormat:
        """Format of the output and modes of the cast."""
        return self._dst

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(requantize(self.a, self._src, self._dst))
        return m
