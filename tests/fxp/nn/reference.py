"""Naive per-element references for the fxp.nn layers, written from the definitions in the
layer modules' docstrings (fxp/nn/layers/).

Exact Python ints and Fractions only (no numpy, no code shared with fxp). A format is a
:class:`Fmt` tuple; casts reuse the independent Fraction reference of ``tests/fxp``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

from ..reference import cast_value, round_value


class Fmt(NamedTuple):
    bits: int
    int_bits: int
    signed: bool = True
    quantization: str = "TRN"
    overflow: str = "WRAP"

    @property
    def frac(self) -> int:
        return self.bits - self.int_bits

    @property
    def raw_min(self) -> int:
        return -(2 ** (self.bits - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2 ** self.bits - 1

    def raws(self):
        return range(self.raw_min, self.raw_max + 1)


def of(fmt) -> Fmt:
    """A Fmt from anything with the FixedFormat attribute names (plain data, no behaviour)."""
    return Fmt(fmt.bits, fmt.int_bits, fmt.signed, str(fmt.quantization), str(fmt.overflow))


def value(raw: int, f: Fmt) -> Fraction:
    return Fraction(raw) * Fraction(2) ** -f.frac


def cast(v: Fraction, f: Fmt) -> int:
    """Raw integer of the exact value ``v`` cast to ``f`` (round, then overflow)."""
    return cast_value(v, f.bits, f.int_bits, f.signed, f.quantization, f.overflow)


def out_of_range(v: Fraction, f: Fmt) -> bool:
    """True when the rounded value leaves f's range (a wrap or a SAT* clip happens)."""
    q = round_value(v * Fraction(2) ** f.frac, f.quantization)
    lo, hi = f.raw_min, f.raw_max
    if f.overflow == "SAT_SYM" and f.signed and f.bits > 1:
        lo = -hi
    return not lo <= q <= hi


def wrap(s: int, f: Fmt) -> int:
    """``s`` modulo ``2**bits``, as two's complement when signed."""
    m = 2 ** f.bits
    r = s % m
    if f.signed and r >= m // 2:
        r -= m
    return r


# -- dense -------------------------------------------------------------------------------
def dense(x, w, b, fin: Fmt, fw: Fmt, fb: Fmt, facc: Fmt, fout: Fmt):
    """Raw outputs of a dense layer for raw inputs ``x[n][j]``, weights ``w[i][j]``, bias.

    Returns ``(out, acc, acc_overflows, out_clipped)``: raw outputs and accumulators per
    ``[n][i]``, how many accumulators wrapped, how many output casts left the range.
    """
    F = facc.frac
    assert F >= fw.frac + fin.frac and F >= fb.frac
    out, accs, n_wrap, n_clip = [], [], 0, 0
    for xrow in x:
        orow, arow = [], []
        for i, wrow in enumerate(w):
            s = 0
            for j, xj in enumerate(xrow):
                s += wrow[j] * xj
            s = s * 2 ** (F - fw.frac - fin.frac) + b[i] * 2 ** (F - fb.frac)
            a = wrap(s, facc)
            n_wrap += a != s
            v = value(a, facc)
            n_clip += out_of_range(v, fout)
            arow.append(a)
            orow.append(cast(v, fout))
        out.append(orow)
        accs.append(arow)
    return out, accs, n_wrap, n_clip


# -- relu --------------------------------------------------------------------------------
def relu(raw: int, fin: Fmt, fout: Fmt) -> int:
    return cast(max(value(raw, fin), Fraction(0)), fout)


# -- lookup tables -----------------------------------------------------------------------
def sigmoid(c: float) -> float:
    """``1 / (1 + exp(-c))`` in doubles (exp past the double range is inf)."""
    try:
        e = math.exp(-c)
    except OverflowError:
        e = math.inf
    return 1.0 / (1.0 + e)


FUNCTIONS = {"sigmoid": sigmoid, "tanh": math.tanh}


def bucket(raw: int, fin: Fmt, table_bits: int) -> int:
    """The bucket of ``raw`` when fin's range is cut into 2**table_bits equal runs of raws."""
    size = 2 ** (fin.bits - table_bits)
    return (raw - fin.raw_min) // size


def bucket_raws(k: int, fin: Fmt, table_bits: int) -> range:
    size = 2 ** (fin.bits - table_bits)
    first = fin.raw_min + k * size
    return range(first, first + size)


def centre(k: int, fin: Fmt, table_bits: int) -> Fraction:
    """Exact centre of bucket ``k``: the mean of its first and last input values."""
    r = bucket_raws(k, fin, table_bits)
    return (value(r[0], fin) + value(r[-1], fin)) / 2


def table(kind: str, fin: Fmt, fout: Fmt, table_bits: int) -> list[int]:
    """Raw entries: f at each bucket centre (as a double), then cast exactly to fout."""
    f = FUNCTIONS[kind]
    out = []
    for k in range(2 ** table_bits):
        c = centre(k, fin, table_bits)
        cf = float(c)
        assert Fraction(cf) == c  # small formats: the centre is an exact double
        out.append(cast(Fraction(f(cf)), fout))
    return out


# -- argmax ------------------------------------------------------------------------------
def argmax(row) -> int:
    """Index of the first maximum."""
    best = 0
    for i in range(1, len(row)):
        if row[i] > row[best]:
            best = i
    return best


def argmax_bits(features: int) -> int:
    """Fewest bits (at least one) holding every index 0 .. features - 1."""
    b = 1
    while 2 ** b < features:
        b += 1
    return b
