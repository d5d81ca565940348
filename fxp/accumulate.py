"""Exact accumulation: sum and matmul of exact products into a WRAP accumulator format.

The accumulator holds every product's fraction bits, so each product enters it exactly and
the result is the exact sum wrapped modulo ``2**acc.bits``: independent of summation order,
like an adder tree or a MAC loop in hardware. The accumulator overflows when the exact sum
lies outside its range; that is reported to the overflow policy, never silent.
"""

from __future__ import annotations

from . import kernels
from .array import FixedArray, check_operand

__all__ = ["matmul", "sum"]


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
    a, b = check_operand(a, "matmul"), check_operand(b, "matmul")
    if bias is not None:
        bias = check_operand(bias, "bias")
    raw, acc = kernels.matmul_raw(a.raw, a.fmt, b.raw, b.fmt, acc,
                                  bias=None if bias is None else bias.raw,
                                  bias_fmt=None if bias is None else bias.fmt, label=label)
    return FixedArray.trusted(raw, acc)


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
    x = check_operand(x, "sum")
    raw, acc = kernels.sum_raw(x.raw, x.fmt, axis, acc=acc, label=label)
    return FixedArray.trusted(raw, acc)
