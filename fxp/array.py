"""FixedArray: raw integers plus a FixedFormat, with full-precision operators and one cast."""

from __future__ import annotations

import numbers
from fractions import Fraction

import numpy as np

from . import kernels, limbs
from .format import FixedFormat, raw_to_float

__all__ = ["FixedArray", "from_raw", "zeros", "check_operand", "operand"]


class FixedArray:
    """An n-dimensional array of fixed-point numbers of one :class:`FixedFormat`.

    Build one with :func:`fxp.quantize` (from floats), :func:`fxp.from_raw` (from raw
    integers) or :func:`fxp.zeros`. The value of an element is ``raw * 2**-frac_bits``.

    ``+``, ``-`` and ``*`` are exact: they return the full-precision ap_fixed result format
    (see :meth:`FixedFormat.add`, :meth:`FixedFormat.sub`, :meth:`FixedFormat.mul`) with
    numpy broadcasting. ``@`` is :func:`fxp.matmul` with an exact accumulator. Rounding and
    overflow happen only in :meth:`cast`. Comparisons are exact and return bool arrays.
    A Python or numpy integer operand of ``+ - *`` is exact (a float is a TypeError);
    :mod:`fxp.interop` lists the numpy functions with exact FixedArray results (every other
    one, and ``np.asarray``, is a TypeError pointing at :meth:`to_float` and :attr:`raw`).

    Attributes
    ----------
    raw : numpy.ndarray
        int64 when every value of the format fits, else an object array of Python ints.
    fmt : FixedFormat
    """

    __slots__ = ("_data", "_fmt")

    # numpy's __array__, __array_ufunc__ and __array_function__ are installed by fxp.interop:
    # exact results or a TypeError, never an object array of 0-d FixedArrays.

    def __init__(self, raw, fmt):
        fmt = FixedFormat.parse(fmt)
        self._data = _checked_raw(raw, fmt)
        self._fmt = fmt

    @classmethod
    def trusted(cls, raw: np.ndarray, fmt: FixedFormat) -> FixedArray:
        """Wrap raw integers already known to be valid for ``fmt``, without any check.

        For kernels that produce raw integers by construction (a cast, an accumulator);
        use :func:`fxp.from_raw` for anything else. The array is used as is, not copied.

        Parameters
        ----------
        raw : numpy.ndarray
            Integers in ``[fmt.raw_min, fmt.raw_max]``, in ``fmt``'s storage dtype: int64
            when ``fmt.fits_int64``, else an object array of Python ints.
        fmt : FixedFormat
            A parsed format (not a string).

        Notes
        -----
        A wide result may come as :class:`fxp.limbs.Words` (int64 words, e.g. from a limb
        matmul): its Python ints are built the first time :attr:`raw` is read, and a cast to
        an int64 format reads the words directly.
        """
        obj = cls.__new__(cls)
        obj._data = raw
        obj._fmt = fmt
        return obj


    # -- basic properties -----------------------------------------------------------------
    @property
    def raw(self) -> np.ndarray:
        """The raw integers (do not modify in place)."""
        return self._raw

    @property
    def _raw(self) -> np.ndarray:
        data = self._data
        if not isinstance(data, np.ndarray):   # fxp.limbs.Words: the Python ints, once
            data = self._data = data.to_object()
        return data

    @property
    def fmt(self) -> FixedFormat:
        """The format of every element."""
        return self._fmt

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return len(self._data.shape)

    @property
    def size(self) -> int:
        return self._data.size

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def to_float(self) -> np.ndarray:
        """Values as float64 (exact when they fit a double's 53-bit mantissa)."""
        f = self._fmt.frac_bits
        if self._raw.dtype != object:
            return np.ldexp(self._raw.astype(np.float64), -f)
        out = np.empty(self.shape, dtype=np.float64)
        out.reshape(-1)[:] = [raw_to_float(int(r), f) for r in self._raw.reshape(-1)]
        return out

    def to_fractions(self) -> np.ndarray:
        """Exact values as an object array of :class:`fractions.Fraction`."""
        scale = Fraction(2) ** -self._fmt.frac_bits
        out = np.empty(self.shape, dtype=object)
        out.reshape(-1)[:] = [Fraction(int(r)) * scale for r in self._raw.reshape(-1)]
        return out

    def __float__(self):
        if self.size != 1:
            raise TypeError(f"Only a one-element FixedArray converts to float, not shape "
                            f"{self.shape}")
        return float(self.to_float().reshape(-1)[0])

    def __repr__(self):
        vals = np.array2string(self.to_float(), separator=", ", threshold=20)
        return f"FixedArray({vals}, fmt={str(self._fmt)!r})"

    # -- cast -----------------------------------------------------------------------------
    def cast(self, fmt, *, label: str | None = None) -> FixedArray:
        """Round to ``fmt``'s fraction bits with its quantization, then apply its overflow mode.

        Bit-identical to assigning an ap_fixed value to ``fmt``'s ap_fixed type. A WRAP
        overflow is reported to the overflow policy; SAT* clipping is counted in active logs.

        Parameters
        ----------
        fmt : FixedFormat or str
        label : str, optional
            Names the operation in overflow messages and logs (default ``"cast to <fmt>"``).
        """
        fmt = FixedFormat.parse(fmt)
        raw = kernels.cast_raw(self._data, self._fmt, fmt, label or f"cast to {fmt}")
        return FixedArray.trusted(raw, fmt)

    # -- shape manipulation ---------------------------------------------------------------
    def __getitem__(self, index) -> FixedArray:
        r = self._raw[index]
        if not isinstance(r, np.ndarray):
            r = np.array(r, dtype=self._raw.dtype)
        return FixedArray.trusted(r, self._fmt)

    def __setitem__(self, index, value):
        if not isinstance(value, FixedArray) or value.fmt != self._fmt:
            got = value.fmt if isinstance(value, FixedArray) else type(value).__name__
            raise TypeError(f"Can only assign a FixedArray of format {self._fmt}, not {got}; "
                            f"cast it first")
        self._raw[index] = value.raw

    def reshape(self, *shape) -> FixedArray:
        """Same data, new shape (like :meth:`numpy.ndarray.reshape`)."""
        return FixedArray.trusted(self._raw.reshape(*shape), self._fmt)

    def transpose(self, *axes) -> FixedArray:
        return FixedArray.trusted(self._raw.transpose(*axes), self._fmt)

    @property
    def T(self) -> FixedArray:
        return FixedArray.trusted(self._raw.T, self._fmt)

    def ravel(self) -> FixedArray:
        return FixedArray.trusted(self._raw.ravel(), self._fmt)

    def copy(self) -> FixedArray:
        return FixedArray.trusted(self._raw.copy(), self._fmt)

    # -- arithmetic -----------------------------------------------------------------------
    def __neg__(self) -> FixedArray:
        fmt = self._fmt.neg()
        work = kernels.working(self._raw, fmt.bits)
        return FixedArray.trusted(kernels.to_storage(-work, fmt), fmt)

    def __pos__(self):
        return self

    def _binary(self, other, fmt, op):
        other = operand(other, op)
        f = fmt.frac_bits
        a = kernels.working(self._raw, fmt.bits + 1)
        b = kernels.working(other._raw, fmt.bits + 1)
        if a.dtype != b.dtype:
            a, b = kernels.to_object(a), kernels.to_object(b)
        a = a << (f - self._fmt.frac_bits) if f != self._fmt.frac_bits else a
        b = b << (f - other._fmt.frac_bits) if f != other._fmt.frac_bits else b
        return a, b

    def _wide_sum(self, other, fmt, subtract):
        """``self +- other`` as int64 words (:func:`fxp.limbs.wide_add`) when the result does
        not fit an int64 but both operands are int64 or words; else None."""
        if fmt.fits_int64 or not (_limb_ready(self) and _limb_ready(other)):
            return None
        f = fmt.frac_bits
        sa, sb = f - self._fmt.frac_bits, f - other._fmt.frac_bits
        return FixedArray.trusted(limbs.wide_add(self._data, sa, self._fmt.bits + sa,
                                                 other._data, sb, other._fmt.bits + sb,
                                                 fmt.bits + 1, subtract), fmt)

    def __add__(self, other) -> FixedArray:
        other = operand(other, "+")
        fmt = self._fmt.add(other.fmt)
        wide = self._wide_sum(other, fmt, False)
        if wide is not None:
            return wide
        a, b = self._binary(other, fmt, "+")
        return FixedArray.trusted(kernels.to_storage(a + b, fmt), fmt)

    def __sub__(self, other) -> FixedArray:
        other = operand(other, "-")
        fmt = self._fmt.sub(other.fmt)
        wide = self._wide_sum(other, fmt, True)
        if wide is not None:
            return wide
        a, b = self._binary(other, fmt, "-")
        return FixedArray.trusted(kernels.to_storage(a - b, fmt), fmt)

    def __mul__(self, other) -> FixedArray:
        other = operand(other, "*")
        fmt = self._fmt.mul(other.fmt)
        if not fmt.fits_int64 and _limb_ready(self) and _limb_ready(other):
            # exact products as int64 words (Python ints only when .raw is read)
            return FixedArray.trusted(limbs.wide_mul(self._data, self._fmt.bits, other._data,
                                                     other._fmt.bits), fmt)
        a = kernels.working(self._raw, fmt.bits + 1)
        b = kernels.working(other._raw, fmt.bits + 1)
        if a.dtype != b.dtype:
            a, b = kernels.to_object(a), kernels.to_object(b)
        return FixedArray.trusted(kernels.to_storage(a * b, fmt), fmt)

    def __radd__(self, other):
        return operand(other, "+") + self

    def __rsub__(self, other):
        return operand(other, "-") - self

    def __rmul__(self, other):
        return operand(other, "*") * self

    def __matmul__(self, other) -> FixedArray:
        other = check_operand(other, "@")
        return FixedArray.trusted(*kernels.matmul_raw(self._raw, self._fmt, other._raw,
                                                      other._fmt))

    def __rmatmul__(self, other):
        return check_operand(other, "@") @ self

    def sum(self, axis=None, *, acc=None, label: str | None = None) -> FixedArray:
        """Exact sum into an accumulator format; see :func:`fxp.sum`."""
        return FixedArray.trusted(*kernels.sum_raw(self._raw, self._fmt, axis, acc=acc,
                                                   label=label))

    # -- comparisons (exact) --------------------------------------------------------------
    def _aligned(self, other, op):
        other = check_operand(other, op)
        f = max(self._fmt.frac_bits, other._fmt.frac_bits)
        bits = max(self._fmt.bits + f - self._fmt.frac_bits,
                   other._fmt.bits + f - other._fmt.frac_bits)
        a = kernels.working(self._raw, bits)
        b = kernels.working(other._raw, bits)
        if a.dtype != b.dtype:
            a, b = kernels.to_object(a), kernels.to_object(b)
        a = a << (f - self._fmt.frac_bits)
        b = b << (f - other._fmt.frac_bits)
        return a, b

    def __eq__(self, other):
        if not isinstance(other, FixedArray):
            return NotImplemented
        a, b = self._aligned(other, "==")
        return np.asarray(a == b, dtype=bool)

    def __ne__(self, other):
        if not isinstance(other, FixedArray):
            return NotImplemented
        a, b = self._aligned(other, "!=")
        return np.asarray(a != b, dtype=bool)

    def __lt__(self, other):
        a, b = self._aligned(other, "<")
        return np.asarray(a < b, dtype=bool)

    def __le__(self, other):
        a, b = self._aligned(other, "<=")
        return np.asarray(a <= b, dtype=bool)

    def __gt__(self, other):
        a, b = self._aligned(other, ">")
        return np.asarray(a > b, dtype=bool)

    def __ge__(self, other):
        a, b = self._aligned(other, ">=")
        return np.asarray(a >= b, dtype=bool)

    __hash__ = None

    def __bool__(self):
        raise TypeError("The truth value of a FixedArray is ambiguous; compare raw values")


def _limb_ready(x: FixedArray) -> bool:
    """Whether ``x``'s raws are int64 words already or int64."""
    data = x._data
    return isinstance(data, limbs.Words) or data.dtype == np.int64


def check_operand(value, op: str) -> FixedArray:
    """``value`` if it is a FixedArray, else a TypeError naming the operation ``op``.

    Operands are never converted here: a float or an integer has no format (the operators
    ``+ - *`` alone take integers, exactly).

    Parameters
    ----------
    value : object
    op : str
        The operation, for the message (``"+"``, ``"matmul"``, ``"bias"``).
    """
    if isinstance(value, FixedArray):
        return value
    raise TypeError(f"Operand of {op} must be a FixedArray, not {type(value).__name__}; "
                    f"convert it first with fxp.quantize or fxp.from_raw")


def operand(value, op: str) -> FixedArray:
    """An operand of ``+ - *``: a FixedArray, or a Python/numpy integer taken exactly.

    An integer ``n`` becomes a 0-d FixedArray of the smallest format holding it (no
    fraction bits); anything else goes through :func:`check_operand`.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        n = int(value)
        fmt = FixedFormat.holding(n, n, 0, signed=n < 0)
        return FixedArray.trusted(np.array(n, dtype=np.int64 if fmt.fits_int64 else object),
                                  fmt)
    return check_operand(value, op)


def _checked_raw(raw, fmt: FixedFormat) -> np.ndarray:
    """Validate raw integers against ``fmt`` and store them in its dtype."""
    if isinstance(raw, np.ndarray):
        arr = raw
    else:
        arr = np.asarray(raw)
        if arr.dtype.kind in "Of" or (arr.dtype.kind in "iu" and not fmt.fits_int64):
            obj = np.asarray(raw, dtype=object)
            if arr.dtype.kind != "f" or all(isinstance(v, numbers.Integral)
                                             for v in obj.reshape(-1)):
                arr = obj  # Python ints past int64 come in as floats otherwise
    kind = arr.dtype.kind
    if kind == "b":
        arr = arr.astype(np.int64)
    elif kind == "O":
        flat = arr.reshape(-1)
        for i, v in enumerate(flat):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
                idx = tuple(int(j) for j in np.unravel_index(i, arr.shape))
                raise TypeError(f"Raw values must be integers; found {v!r} at index {idx}")
        arr = kernels.to_object(np.array([int(v) for v in flat], dtype=object).reshape(arr.shape)
                                if arr.size else arr)
    elif kind not in "iu":
        raise TypeError(f"Raw values must be integers, not an array of {arr.dtype}; use "
                        f"fxp.quantize for real values")
    if arr.size:
        lo, hi = fmt.raw_min, fmt.raw_max
        amin, amax = int(arr.min()), int(arr.max())
        if amin < lo or amax > hi:
            bad = (arr < lo) | (arr > hi)
            i = tuple(int(j) for j in np.unravel_index(int(np.argmax(bad.reshape(-1))),
                                                      arr.shape))
            raise ValueError(f"Raw value {int(arr[i])} at index {i} is outside the raw range "
                             f"[{lo}, {hi}] of {fmt}")
    if kind == "u" and arr.dtype.itemsize == 8 and fmt.fits_int64 is False:
        arr = kernels.to_object(arr)
    if fmt.fits_int64:
        return arr.astype(np.int64) if arr.dtype != np.int64 else arr.copy()
    return kernels.to_object(arr) if arr.dtype != object else arr.copy()


def from_raw(raw, fmt) -> FixedArray:
    """A FixedArray from raw integers (``raw = value * 2**frac_bits``).

    Parameters
    ----------
    raw : array_like of int
        Must lie in ``[fmt.raw_min, fmt.raw_max]``; out-of-range values raise ValueError.
    fmt : FixedFormat or str
    """
    return FixedArray(raw, fmt)


def zeros(shape, fmt) -> FixedArray:
    """A FixedArray of zeros of ``fmt``."""
    fmt = FixedFormat.parse(fmt)
    dtype = np.int64 if fmt.fits_int64 else object
    raw = np.zeros(shape, dtype=np.int64).astype(dtype)
    if dtype is object:
        raw[...] = 0
    return FixedArray.trusted(raw, fmt)
