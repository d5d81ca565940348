"""Accumulator widths that provably never overflow: the interval bound and the A2Q L1 bound."""

from __future__ import annotations

import numpy as np

from .array import FixedArray, check_operand
from .format import FixedFormat

__all__ = ["accumulator_format", "extreme_sums", "a2q_l1_bound"]


def extreme_sums(w: FixedArray, input_fmt, bias: FixedArray | None = None):
    """Exact smallest and largest ``sum_j w[..., j] * x[j] (+ bias)`` over any input.

    Each input ``x[j]`` ranges independently over ``input_fmt``, so each output's extremes
    are attained with every input at its minimum or maximum (the interval bound).

    Returns
    -------
    lo, hi : numpy.ndarray of object (Python ints)
        Per output (shape ``w.shape[:-1]``), as raw integers at ``2**-frac_bits``.
    frac_bits : int
        ``max(w.frac_bits + input.frac_bits, bias.frac_bits)``.
    """
    w = check_operand(w, "accumulator_format")
    fin = FixedFormat.parse(input_fmt)
    if w.ndim == 0:
        raise ValueError("accumulator_format needs weights with at least one dimension")
    prod_frac = w.fmt.frac_bits + fin.frac_bits
    if bias is not None:
        bias = check_operand(bias, "bias")
    frac = prod_frac if bias is None else max(prod_frac, bias.fmt.frac_bits)
    wr = np.asarray(w.raw, dtype=object)
    a, b = wr * fin.raw_min, wr * fin.raw_max
    lo = np.where(a < b, a, b).sum(axis=-1) if w.shape[-1] else np.zeros(w.shape[:-1], object)
    hi = np.where(a < b, b, a).sum(axis=-1) if w.shape[-1] else np.zeros(w.shape[:-1], object)
    lo = np.asarray(lo, dtype=object) * (1 << (frac - prod_frac))
    hi = np.asarray(hi, dtype=object) * (1 << (frac - prod_frac))
    if bias is not None:
        br = np.asarray(bias.raw, dtype=object) * (1 << (frac - bias.fmt.frac_bits))
        if br.shape != lo.shape:
            raise ValueError(f"Bias shape {bias.shape} does not match the {lo.shape} outputs "
                             f"of weights shaped {w.shape}")
        lo, hi = lo + br, hi + br
    return lo, hi, frac


def accumulator_format(w: FixedArray, input_fmt, bias: FixedArray | None = None
                       ) -> FixedFormat:
    """Smallest WRAP format that holds every output of ``w @ x (+ bias)`` for any input.

    Parameters
    ----------
    w : FixedArray
        Weights shaped ``(..., K)``: each output is a dot product over the last axis (a dense
        layer's ``(units, inputs)``).
    input_fmt : FixedFormat or str
        Format of every input ``x[j]``.
    bias : FixedArray, optional
        Added to each output (shape ``w.shape[:-1]``).

    Returns
    -------
    FixedFormat
        Fraction bits ``w.frac_bits + input.frac_bits`` (or the bias's, if more); the fewest
        bits whose range contains the exact minimum and maximum sums of every output;
        unsigned when no sum can be negative. One bit fewer overflows at some extreme input.
    """
    lo, hi, frac = extreme_sums(w, input_fmt, bias)
    lo_all = min([int(v) for v in np.ravel(lo)], default=0)
    hi_all = max([int(v) for v in np.ravel(hi)], default=0)
    return FixedFormat.holding(min(lo_all, 0) if lo_all < 0 else lo_all, hi_all, frac)


def a2q_l1_bound(acc_bits: int, input_fmt) -> float:
    """Largest L1 norm of integer weights for which a signed ``acc_bits`` accumulator cannot
    overflow, whatever the input (A2Q, Colbert et al. 2023, as in Brevitas).

    ``||q_w||_1 <= (2**(P-1) - 1) * 2**(1[input signed] - N)`` for N-bit inputs.

    Parameters
    ----------
    acc_bits : int
        Accumulator width P (signed), at least 2.
    input_fmt : FixedFormat or str
    """
    if isinstance(acc_bits, bool) or not isinstance(acc_bits, (int, np.integer)):
        raise TypeError(f"Accumulator bits must be an integer, not {acc_bits!r}")
    if acc_bits < 2:
        raise ValueError(f"Accumulator bits must be at least 2, not {acc_bits}")
    fin = FixedFormat.parse(input_fmt)
    return float((2 ** (int(acc_bits) - 1) - 1) * 2.0 ** (int(fin.signed) - fin.bits))
