"""numpy protocols for FixedArray: the functions with exact fixed-point results, a TypeError for the rest.

============================================  ================================================
``np.maximum``, ``np.minimum``                 exact, in the :meth:`FixedFormat.join` format
``np.where(cond, x, y)``                       exact, in the join format
``np.concatenate``, ``np.stack``               exact, in the join of every format
``np.abs``                                     exact: ``ufixed<W, I>`` for a signed ``fixed<W, I>``
``np.negative``                                ``-x`` (one more bit, signed)
``np.add``, ``np.subtract``, ``np.multiply``,  the exact operators ``+ - * @`` and comparisons
``np.matmul``, comparison ufuncs               (what ``ndarray + x`` calls)
any other ufunc or function, ``np.asarray``    TypeError naming ``x.to_float()`` and ``x.raw``
============================================  ================================================
"""

from __future__ import annotations

import operator

import numpy as np

from .array import FixedArray, check_operand, operand
from .format import FixedFormat

__all__ = ["array_ufunc", "array_function", "refuse_conversion", "install"]

_OPERATORS = {
    np.add: (operator.add, "+"), np.subtract: (operator.sub, "-"),
    np.multiply: (operator.mul, "*"), np.matmul: (operator.matmul, "@"),
    np.equal: (operator.eq, "=="), np.not_equal: (operator.ne, "!="),
    np.less: (operator.lt, "<"), np.less_equal: (operator.le, "<="),
    np.greater: (operator.gt, ">"), np.greater_equal: (operator.ge, ">="),
}


def _refusal(what: str) -> TypeError:
    return TypeError(f"{what} is not defined on FixedArrays (their values have no float or "
                     f"integer dtype); use x.to_float() for float64 values or x.raw for the "
                     f"raw integers")


def refuse_conversion():
    """The TypeError of ``np.asarray(x)`` / ``np.array(x)`` on a FixedArray."""
    raise _refusal("Converting to a numpy array (np.asarray, np.array)")


def _aligned(arrays) -> tuple[list[np.ndarray], FixedFormat]:
    """Raw integers of every FixedArray at the join of their formats."""
    fmt = arrays[0].fmt
    for a in arrays[1:]:
        fmt = fmt.join(a.fmt)
    raws = []
    for a in arrays:
        r = a.raw
        if not fmt.fits_int64 and r.dtype != object:
            r = r.astype(object)
        shift = fmt.frac_bits - a.fmt.frac_bits
        raws.append(r << shift if shift else r)
    return raws, fmt


def _wrap_raw(raw, fmt: FixedFormat) -> FixedArray:
    raw = np.asarray(raw)
    if fmt.fits_int64:
        raw = raw.astype(np.int64, copy=False)
    elif raw.dtype != object:
        raw = raw.astype(object)
    return FixedArray.trusted(raw, fmt)


def _fixed_args(args, what):
    for a in args:
        if not isinstance(a, FixedArray):
            raise TypeError(f"{what} needs FixedArrays, not {type(a).__name__}; convert it "
                            f"first with fxp.quantize or fxp.from_raw")
    return list(args)


def array_ufunc(ufunc, method, *inputs, **kwargs):
    """``FixedArray.__array_ufunc__``: see the module table."""
    name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if method != "__call__" or kwargs:
        raise _refusal(name + (" with keyword arguments" if method == "__call__" else ""))
    if ufunc in _OPERATORS:
        fn, symbol = _OPERATORS[ufunc]
        a, b = inputs
        a, b = (v if isinstance(v, FixedArray) else
                operand(v, symbol) if symbol in "+-*" else check_operand(v, symbol)
                for v in (a, b))
        return fn(a, b)
    if ufunc is np.negative:
        return -_fixed_args(inputs, name)[0]
    if ufunc is np.absolute:
        x = _fixed_args(inputs, name)[0]
        fmt = FixedFormat(x.fmt.bits, x.fmt.int_bits, False)
        raw = x.raw if fmt.fits_int64 else x.raw.astype(object)   # |-2**63| needs 64 bits
        return _wrap_raw(np.abs(raw), fmt)
    if ufunc is np.maximum or ufunc is np.minimum:
        raws, fmt = _aligned(_fixed_args(inputs, name))
        return _wrap_raw(ufunc(*raws), fmt)
    raise _refusal(name)


def array_function(func, types, args, kwargs):
    """``FixedArray.__array_function__``: see the module table."""
    if func is np.where:
        if len(args) + len(kwargs) != 3 or kwargs:
            raise _refusal("numpy.where with other than three positional arguments")
        cond, x, y = args
        if isinstance(cond, FixedArray):
            raise TypeError("numpy.where needs a boolean condition, not a FixedArray; compare "
                            "it first (x > y)")
        raws, fmt = _aligned(_fixed_args((x, y), "numpy.where"))
        return _wrap_raw(np.where(np.asarray(cond, dtype=bool), *raws), fmt)
    if func is np.concatenate or func is np.stack:
        seq, *rest = args
        seq = _fixed_args(tuple(seq), f"numpy.{func.__name__}")
        if set(kwargs) - {"axis"}:
            raise _refusal(f"numpy.{func.__name__} with {sorted(set(kwargs) - {'axis'})[0]}=")
        raws, fmt = _aligned(seq)
        if any(r.dtype == object for r in raws):
            raws = [r.astype(object) for r in raws]
        return _wrap_raw(func(raws, *rest, **kwargs), fmt)
    raise _refusal(f"numpy.{func.__name__}")


def _array(self, dtype=None, copy=None):
    refuse_conversion()


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    return array_ufunc(ufunc, method, *inputs, **kwargs)


def _array_function(self, func, types, args, kwargs):
    return array_function(func, types, args, kwargs)


def install(cls=FixedArray):
    """Give ``cls`` numpy's ``__array__``, ``__array_ufunc__`` and ``__array_function__``."""
    cls.__array__ = _array
    cls.__array_ufunc__ = _array_ufunc
    cls.__array_function__ = _array_function


install()
