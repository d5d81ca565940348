"""Naive exact reference for fixed-point casts, written from the ap_fixed mode definitions.

One value at a time with fractions.Fraction and Python ints; no code shared with fxp.
"""

from __future__ import annotations

import math
from fractions import Fraction


def round_value(v: Fraction, quantization: str) -> int:
    """Round an exact rational to an integer under an ap_fixed quantization mode."""
    fl = math.floor(v)
    d = v - fl
    if quantization == "TRN":
        return fl
    if quantization == "TRN_ZERO":
        return fl if v >= 0 or d == 0 else fl + 1
    if d > Fraction(1, 2):
        return fl + 1
    if d < Fraction(1, 2):
        return fl
    # an exact tie between fl and fl + 1
    return {
        "RND": fl + 1,
        "RND_ZERO": fl + 1 if v < 0 else fl,
        "RND_MIN_INF": fl,
        "RND_INF": fl + 1 if v > 0 else fl,
        "RND_CONV": fl if fl % 2 == 0 else fl + 1,
    }[quantization]


def cast_value(v: Fraction, bits: int, int_bits: int, signed: bool, quantization: str,
               overflow: str) -> int:
    """Raw integer of ``v`` cast to a format (WRAP_SM is not modelled here)."""
    frac = bits - int_bits
    q = round_value(v * Fraction(2) ** frac, quantization)
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    if overflow == "SAT_SYM" and signed and bits > 1:
        lo = -hi
    if lo <= q <= hi:
        return q
    if overflow in ("SAT", "SAT_SYM"):
        return lo if q < lo else hi
    if overflow == "SAT_ZERO":
        return 0
    if overflow == "WRAP":
        r = q % (1 << bits)
        return r - (1 << bits) if signed and r >= (1 << (bits - 1)) else r
    raise ValueError(f"reference does not model {overflow}")


def value_of(raw: int, bits: int, int_bits: int) -> Fraction:
    """Exact value of a raw integer."""
    return Fraction(raw) * Fraction(2) ** (int_bits - bits)
