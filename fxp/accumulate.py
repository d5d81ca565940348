"""Exact accumulation: sum and matmul of exact products into a WRAP accumulator format.

The accumulator holds every product's fraction bits, so each product enters it exactly and
the result is the exact sum wrapped modulo ``2**acc.bits``: independent of summation order,
like an adder tree or a MAC loop in hardware. The accumulator overflows when the exact sum
lies outside its range; that is reported to the overflow policy, never silent.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .array import FixedArray, _as_format, _operand
from .format import FixedFormat, Overflow

__all__ = ["matmul", "sum"]

_F64_EXACT = 1 << 53
_I64_EXACT = 1 << 62


def _check_acc(acc, term: FixedFormat, what: str) -> FixedFormat:
    acc = _as_format(acc)
    if acc.overflow is not Overflow.WRAP:
        raise ValueError(f"Accumulator {acc} must use WRAP overflow (an accumulator is exact "
                         f"modulo 2**bits); cast the result to saturate")
    if acc.frac_bits < term.frac_bits:
        raise ValueError(f"Accumulator {acc} has {acc.frac_bits} fraction bits, fewer than "
                         f"the {term.frac_bits} of the {what} {term}")
    return acc


def _absmax(raw: np.ndarray) -> int:
    if raw.size == 0:
        return 0
    return max(abs(int(raw.min())), abs(int(raw.max())))


def _int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer matmul: float64 BLAS when a bound proves every partial sum < 2**53."""
    k = a.shape[-1]
    if a.dtype != object and b.dtype != object:
        pmax = _absmax(a) * _absmax(b)
        if k * pmax < _F64_EXACT:
            return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64)
        if k * pmax < _I64_EXACT:
            block = (_F64_EXACT - 1) // pmax
            if block >= 16 and b.ndim >= 2 and a.ndim >= 1:
                af, bf = a.astype(np.float64), b.astype(np.float64)
                out = None
                for s in range(0, k, block):
                    part = np.matmul(af[..., s:s + block], bf[..., s:s + block, :])
                    part = part.astype(np.int64)
                    out = part if out is None else out + part
                return out
            return np.matmul(a, b)
    return np.matmul(kernels.to_object(a), kernels.to_object(b))


def matmul(a: FixedArray, b: FixedArray, acc=None, *, bias: FixedArray | None = None,
           label: str | None = None) -> FixedArray:
    """Exact matrix product of fixed-point arrays (plus a bias) into an accumulator format.

    Follows :func:`numpy.matmul` shapes. Every product is exact (format ``a.fmt * b.fmt``)
    and the sum, bias included, is exact modulo ``2**acc.bits``: a dense layer's accumulator.

    Parameters
    ----------
    a, b : FixedArray
    acc : FixedFormat or str, optional
        A WRAP format with at least the products' (and the bias's) fraction bits. Default:
        the exact format of ``K`` products plus the bias, which cannot overflow.
    bias : FixedArray, optional
        Added to every output, broadcast against the result (e.g. shape ``(N,)``).
    label : str, optional
        Names the operation in overflow messages and logs.

    Returns
    -------
    FixedArray
        In format ``acc``.

    Raises
    ------
    ValueError
        If ``acc`` is not WRAP or has fewer fraction bits than the products.
    fxp.OverflowError
        If an exact sum lies outside ``acc`` under the ``"raise"`` policy.
    """
    a, b = _operand(a, "matmul"), _operand(b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul operands must have at least one dimension")
    k = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k != kb:
        raise ValueError(f"matmul shapes {a.shape} and {b.shape} do not align: {k} != {kb}")
    prod = a.fmt.mul(b.fmt)
    if bias is not None:
        bias = _operand(bias, "bias")
    if acc is None:
        acc = prod.sum(k)
        if bias is not None:
            acc = acc.add(bias.fmt)
    else:
        acc = _check_acc(acc, prod, "products")
        if bias is not None:
            _check_acc(acc, bias.fmt, "bias")
    s = _int_matmul(a.raw, b.raw)
    return _finish(s, prod, acc, k, label or f"matmul accumulator {acc}", bias)


def _finish(s: np.ndarray, term: FixedFormat, acc: FixedFormat, count: int, op: str,
            bias: FixedArray | None = None):
    s = np.asarray(s)
    shift = acc.frac_bits - term.frac_bits
    exact = term.sum(count)
    if bias is not None:
        exact = exact.add(bias.fmt)
        shift = acc.frac_bits - exact.frac_bits
    s = kernels.working(s, exact.bits + shift + 1)
    if bias is not None:
        braw = kernels.working(bias.raw, exact.bits + 1)
        if s.dtype != braw.dtype:
            s, braw = kernels.to_object(s), kernels.to_object(braw)
        s = (s << (exact.frac_bits - term.frac_bits)) + (braw << (exact.frac_bits -
                                                                  bias.fmt.frac_bits))
    if shift:
        s = s << shift
    q_bits = exact.bits + shift + (not exact.signed)
    raw = kernels.overflow(s, acc, op, q_bits=q_bits)
    return FixedArray._make(raw, acc)


def sum(x: FixedArray, axis=None, *, acc=None, label: str | None = None) -> FixedArray:  # noqa: A001
    """Exact sum of fixed-point values along ``axis`` into an accumulator format.

    Parameters
    ----------
    x : FixedArray
    axis : int or tuple of int, optional
        As in :func:`numpy.sum`; None sums everything.
    acc : FixedFormat or str, optional
        A WRAP format with at least ``x``'s fraction bits; default: the exact format of the
        summed count, which cannot overflow.
    label : str, optional
        Names the operation in overflow messages and logs.
    """
    x = _operand(x, "sum")
    count = x.size if axis is None else int(np.prod([x.shape[i] for i in np.atleast_1d(axis)]))
    acc = x.fmt.sum(count) if acc is None else _check_acc(acc, x.fmt, "summands")
    raw = x.raw
    if raw.dtype != object and (count * max(_absmax(raw), 1)) >= _I64_EXACT:
        raw = kernels.to_object(raw)
    s = np.sum(raw, axis=axis)
    return _finish(s, x.fmt, acc, count, label or f"sum accumulator {acc}")
