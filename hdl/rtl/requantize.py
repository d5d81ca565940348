"""Requantize: the fxp cast (round, then overflow) as combinational hardware."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from fxp import FixedFormat, Overflow, Quantization, from_raw, overflow_policy
from fxp.kernels import round_shift

from .common import as_format, fmt_shape

__all__ = ["requantize", "relu_requantize", "cast_relu_cast", "fuses", "round_bounds",
           "Requantize"]


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


def round_bounds(src: FixedFormat, s: int, quantization: Quantization) -> tuple[int, int]:
    """``(lo, hi)``: the exact range of ``src``'s raw values shifted right by ``s`` (left
    when negative) and rounded with ``quantization``; rounding is monotone, so it maps the
    ends."""
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


def _any(bits):
    """OR of ``bits`` (Values or 0/1 constants), folded: a Python int when constant."""
    if any(isinstance(b, int) and b for b in bits):
        return 1
    bits = [b for b in bits if not isinstance(b, int)]
    return 0 if not bits else bits[0] if len(bits) == 1 else Cat(*bits).any()


def _all(bits):
    """AND of ``bits`` (Values or 0/1 constants), folded like :func:`_any`."""
    if any(isinstance(b, int) and not b for b in bits):
        return 0
    bits = [b for b in bits if not isinstance(b, int)]
    return 1 if not bits else bits[0] if len(bits) == 1 else Cat(*bits).all()


def _not(a):
    return 1 - a if isinstance(a, int) else ~a


def _and(*terms):
    return _all(list(terms))


def _or(*terms):
    return _any(list(terms))


def _uge(bits, k: int):
    """``bits`` (LSB first, unsigned) ``>= k`` for a constant ``k``, as gates (no carry
    chain): the top bit decides unless it equals ``k``'s, then the rest does."""
    n = len(bits)
    if k <= 0:
        return 1
    if k >= 1 << n:
        return 0
    if k == 1:
        return _any(bits)
    top = 1 << (n - 1)
    if k & top:
        return _and(bits[-1], _uge(bits[:-1], k - top))
    return _or(bits[-1], _uge(bits[:-1], k))


def _carry(x, term, s: int):
    """The rounding carry ``r``: ``q = floor(x / 2**s) + r`` with ``r`` = the carry out of
    the low ``s`` bits of ``x`` plus the term (which is below ``2**s``); gates on those bits."""
    sel, c0, c1 = term
    low = [_bit(x, i) for i in range(s)]
    r0 = _uge(low, (1 << s) - c0)
    if c0 == c1:
        return r0
    r1 = _uge(low, (1 << s) - c1)
    if isinstance(r0, int) and isinstance(r1, int):
        return _or(_and(sel, r1), _and(_not(sel), r0))
    return Mux(sel, _value(r1), _value(r0))


def _range_flags(x, src: FixedFormat, s: int, r, lo: int, hi: int):
    """``(under, over)``: whether ``q = floor(x / 2**s) + r`` is below ``lo`` / above ``hi``.

    ``hi`` is ``2**k - 1`` and ``lo`` is ``-2**k``, ``1 - 2**k`` or 0 (the bounds of a
    format). ``t = floor(x / 2**s)`` is a bit field of ``x``, so each test is an AND/OR of
    its bits (all-zero / all-one above the destination) and the rounding carry ``r``: no
    comparator, nothing after the rounding adder. 0 where the test is constant false.
    """
    top = len(x) - 1 - s                         # bit of t holding x's top bit
    neg = x[-1] if src.signed else 0

    def t(i, j):                                 # bits i .. j - 1 of t (sign beyond the top)
        bits = [_bit(x, b + s) for b in range(i, min(j, top + 1))]
        return bits + [neg] if j > top + 1 and i > top else bits

    k = hi.bit_length()                          # hi == 2**k - 1
    inf = max(top + 2, k + 2)
    # q >= 2**k: t >= 2**k, or t == 2**k - 1 and the carry
    over = _and(_not(neg), _or(_any(t(k, inf)), _and(r, _all(t(0, k)))))
    if lo == 0:
        # q < 0: t < 0 unless t == -1 and the carry
        under = _and(neg, _not(_and(r, _all(t(0, inf)))))
    elif lo == -(hi + 1):
        # q < -2**k: t < -2**k (its bits from k up not all ones) unless t == -2**k - 1
        # and the carry
        b_ones, c_ones = _all(t(k, inf)), _all(t(k + 1, inf))
        under = _and(neg, _not(b_ones), _not(_and(r, c_ones, _all(t(0, k)))))
    else:
        # SAT_SYM, lo = -hi = 1 - 2**k: q <= -2**k: t < -2**k, or t == -2**k without carry
        assert lo == -hi, (lo, hi)
        under = _and(neg, _or(_not(_all(t(k, inf))), _and(_not(r), _not(_any(t(0, k))))))
    return under, over


def _is_zero(a):
    return isinstance(a, int) and not a


def _value(a):
    return Const(a, 1) if isinstance(a, int) else a


def requantize(value, src, dst):
    """The expression casting raw ``value`` from ``src`` to ``dst``, like ``FixedArray.cast``.

    Rounds the exact value to ``dst``'s fraction bits with ``dst``'s quantization mode, then
    brings it into ``dst``'s range with ``dst``'s overflow mode, bit for bit as
    :func:`fxp.kernels.cast_raw`. The logic is combinational and only as wide as needed:
    no adder for ``TRN``, and no range test when no value can leave the range (for ``WRAP``
    never); a range test is gates on ``value``'s bits beside the rounding adder.

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
    qmin, qmax = round_bounds(src, s, dst.quantization)
    if qmin == qmax:                  # everything rounds to 0, which every range holds
        return Const(qmin, fmt_shape(dst))
    wrapped = _field(total, s, w, dst.signed)    # WRAP: the low w bits of q

    # 2. Overflow: tested only where the range can be left.
    mode = dst.overflow
    lo, hi = dst.raw_min, dst.raw_max
    if mode is Overflow.SAT_SYM and dst.signed and w > 1:
        lo = -hi
    # bit tests on x beside the rounding adder (whose carry r is gates on x's low bits)
    r = _carry(x, term, s) if s > 0 else 0
    under, over = _range_flags(x, src, s, r, lo, hi)
    under = None if qmin >= lo or _is_zero(under) else _value(under)
    over = None if qmax <= hi or _is_zero(over) else _value(over)
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
    ld = _value(ld)
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


def relu_requantize(value, src, dst):
    """The expression ``cast(max(value, 0), dst)`` for raw ``value`` of ``src``: the cast of
    the non-negative bits, and 0 on the sign (the cast of 0 is 0), so no test below zero."""
    src = as_format(src, "relu_requantize src")
    dst = as_format(dst, "relu_requantize dst")
    x = _field(Value.cast(value), 0, src.bits, src.signed)
    if not src.signed:
        return requantize(x, src, dst)
    if src.bits == 1:                            # 0 or negative: always 0
        return Const(0, fmt_shape(dst))
    low = x.as_unsigned()[:-1]
    y = requantize(low, FixedFormat(src.bits - 1, src.int_bits - 1, False), dst)
    return Mux(x[-1], Const(0, fmt_shape(dst)), y)


_CLAMPS = (Overflow.SAT, Overflow.SAT_SYM)
FUSED_ROUNDING_BITS = 6
""":func:`cast_relu_cast` looks up the double rounding's carry in a table of the low
``2**(S + 1)`` patterns up to this many bits ``S`` shifted out."""


def _double_round(v: int, s1: int, q1, s2: int, q2) -> int:
    for s, q in ((s1, q1), (s2, q2)):
        if s > 0:
            v = int(round_shift(np.array([v], dtype=object), s, q)[0])
    return v


def fuses(src: FixedFormat, mid: FixedFormat, dst: FixedFormat) -> bool:
    """Whether :func:`cast_relu_cast` from ``src`` through ``mid`` to ``dst`` is one adder
    and one saturation (else it is the two casts in series)."""
    s1, s2 = src.frac_bits - mid.frac_bits, mid.frac_bits - dst.frac_bits
    return (mid.overflow in _CLAMPS and dst.overflow in _CLAMPS and s1 >= 0 and s2 >= 0
            and s1 + s2 <= FUSED_ROUNDING_BITS)


def cast_relu_cast(value, src, mid, dst):
    """The expression ``cast(max(cast(value, mid), 0), dst)``: a layer's output cast and a
    ReLU after it, from the layer's accumulator ``src`` in one step.

    With ``mid`` and ``dst`` saturating (SAT, SAT_SYM) and right shifts ``s1``, ``s2`` of
    ``S = s1 + s2 <=`` :data:`FUSED_ROUNDING_BITS` bits in all, both casts are monotone and
    keep 0, so for ``x >= 0`` the result is ``min(floor(x / 2**S) + R, K)`` with ``K =
    cast(mid.raw_max, dst)`` and ``R`` (0 or 1) a function of the low ``S + 1`` bits of
    ``x`` (both roundings' carries: rounding an exact value adds nothing), and 0 for
    ``x < 0``: one adder of the result's width, where the two casts in series take two
    adders and two saturations. Other casts are the two in series.
    """
    src = as_format(src, "cast_relu_cast src")
    mid = as_format(mid, "cast_relu_cast mid")
    dst = as_format(dst, "cast_relu_cast dst")
    if not fuses(src, mid, dst):
        return relu_requantize(requantize(value, src, mid), mid, dst)
    s1, s2 = src.frac_bits - mid.frac_bits, mid.frac_bits - dst.frac_bits
    x = _field(Value.cast(value), 0, src.bits, src.signed)
    shape = fmt_shape(dst)
    if src.signed:
        if src.bits == 1:
            return Const(0, shape)
        p = x.as_unsigned()[:-1]
    else:
        p = x
    S = s1 + s2
    k = _cast_const(mid.raw_max, mid, dst)
    table = 0
    for low in range(1 << (S + 1)):
        r = _double_round(low, s1, mid.quantization, s2, dst.quantization) - (low >> S)
        assert r in (0, 1), (low, r)
        table |= r << low
    zmax = _double_round((1 << len(p)) - 1, s1, mid.quantization, s2, dst.quantization)
    if table == 0:
        r = 0
    elif table == (1 << (1 << (S + 1))) - 1:
        r = 1
    else:
        index = Cat(*(_value(_bit(p, i)) for i in range(S + 1)))
        r = Const(table, 1 << (S + 1)).bit_select(index, 1)
    t = [p[i] for i in range(S, len(p))]        # floor(p / 2**S), its bits
    z = p[S:] + r if t else _value(r)
    y = _field(Value.cast(z), 0, dst.bits, dst.signed)
    if zmax > k:
        # z > k: floor(p / 2**S) > k, or == k and the carry
        eq = _all([b if k >> i & 1 else _not(b) for i, b in enumerate(t)]) \
            if k < 1 << len(t) else 0
        over = _or(_uge(t, k + 1), _and(r, eq))
        if not _is_zero(over):
            y = Mux(_value(over), Const(k, shape), y)
    return Mux(x[-1], Const(0, shape), y) if src.signed else y


def _cast_const(raw: int, src: FixedFormat, dst: FixedFormat) -> int:
    """The emulator's cast of one raw integer (a constant of the logic)."""
    with overflow_policy("ignore"):
        return int(from_raw(np.array([raw], dtype=object), src).cast(dst).raw[0])
