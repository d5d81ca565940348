"""numpy interoperability of FixedArray: exact results for the few defined functions, TypeError otherwise."""

from fractions import Fraction

import numpy as np
import pytest

import fxp
from fxp import FixedFormat

from .reference import value_of

REFUSAL = ("is not defined on FixedArrays (their values have no float or integer dtype); use "
           "x.to_float() for float64 values or x.raw for the raw integers")


def _values(x):
    return [value_of(int(r), x.fmt.bits, x.fmt.int_bits) for r in np.ravel(x.raw)]


def _holds(fmt, values):
    lo, hi = value_of(fmt.raw_min, fmt.bits, fmt.int_bits), value_of(fmt.raw_max, fmt.bits,
                                                                     fmt.int_bits)
    return all(lo <= v <= hi and (v * 2 ** fmt.frac_bits).denominator == 1 for v in values)


X = fxp.from_raw([-128, 5, 127, 0], "fixed<8,4>")
Y = fxp.from_raw([3, 255, 100, 0], "ufixed<8,2>")
W = fxp.from_raw([-(2 ** 99), 2 ** 99 - 1, 7, 0], "fixed<100,60>")


@pytest.mark.parametrize("n", [1, 3, -2, 0, 2 ** 70, np.int64(-5), np.uint8(200)])
def test_python_and_numpy_integers_are_exact_operands(n):
    for x in (X, W):
        v = _values(x)
        assert _values(x + n) == [a + int(n) for a in v]
        assert _values(n + x) == [int(n) + a for a in v]
        assert _values(x - n) == [a - int(n) for a in v]
        assert _values(n - x) == [int(n) - a for a in v]
        assert _values(x * n) == [a * int(n) for a in v]
        assert _values(n * x) == [int(n) * a for a in v]


def test_float_scalars_are_a_type_error_naming_quantize():
    for op in (lambda: X + 1.5, lambda: 0.5 * X, lambda: X - np.float64(2.0),
               lambda: X * True):
        with pytest.raises(TypeError, match=r"convert it first with fxp.quantize or "
                                            r"fxp.from_raw"):
            op()
    with pytest.raises(TypeError) as info:
        X * 1.5
    assert str(info.value) == ("Operand of * must be a FixedArray, not float; convert it first "
                               "with fxp.quantize or fxp.from_raw")


@pytest.mark.parametrize("fn", [np.maximum, np.minimum])
def test_maximum_minimum_are_exact_in_the_join_format(fn):
    for a, b in ((X, Y), (Y, X), (X, W), (W, X)):
        r = fn(a, b)
        assert isinstance(r, fxp.FixedArray)
        assert r.fmt == a.fmt.join(b.fmt)
        pick = max if fn is np.maximum else min
        assert _values(r) == [pick(p, q) for p, q in zip(_values(a), _values(b))]


def test_join_is_the_smallest_format_holding_both():
    for a, b in (("fixed<8,3>", "ufixed<6,4>"), ("ufixed<4,4>", "ufixed<4,2>"),
                 ("fixed<8,3>", "fixed<8,3>"), ("fixed<5,-2>", "ufixed<3,7>")):
        a, b = FixedFormat.parse(a), FixedFormat.parse(b)
        j = a.join(b)
        ends = [value_of(r, f.bits, f.int_bits) for f in (a, b) for r in (f.raw_min, f.raw_max)]
        assert _holds(j, ends)
        assert not _holds(j.replace(bits=j.bits - 1, int_bits=j.int_bits - 1), ends)


def test_abs_and_negative_are_exact():
    for x in (X, Y, W):
        a = np.abs(x)
        assert isinstance(a, fxp.FixedArray) and not a.fmt.signed
        assert a.fmt == FixedFormat(x.fmt.bits, x.fmt.int_bits, False)   # ufixed<W,I>
        assert a.fmt.frac_bits == x.fmt.frac_bits
        assert _values(a) == [abs(v) for v in _values(x)]
        n = np.negative(x)
        assert n.fmt == x.fmt.neg() and _values(n) == [-v for v in _values(x)]
    edge = fxp.from_raw([-(2 ** 63)], "fixed<64,64>")
    assert np.abs(edge).raw.tolist() == [2 ** 63]


def test_where_concatenate_stack_are_exact():
    cond = np.array([True, False, False, True])
    r = np.where(cond, X, W)
    assert r.fmt == X.fmt.join(W.fmt)
    assert _values(r) == [p if c else q for c, p, q in zip(cond, _values(X), _values(W))]
    c = np.concatenate([X, Y, W])
    assert c.fmt == X.fmt.join(Y.fmt).join(W.fmt)
    assert _values(c) == _values(X) + _values(Y) + _values(W)
    m = np.concatenate([X.reshape(2, 2), Y.reshape(2, 2)], axis=1)
    assert m.shape == (2, 4) and _values(m) == [Fraction(v) for v in
                                                 np.concatenate([X.to_float().reshape(2, 2),
                                                                 Y.to_float().reshape(2, 2)],
                                                                axis=1).ravel()]
    s = np.stack([X, Y], axis=1)
    assert s.shape == (4, 2) and s.fmt == X.fmt.join(Y.fmt)
    assert _values(s) == [v for pair in zip(_values(X), _values(Y)) for v in pair]
    with pytest.raises(TypeError, match="numpy.concatenate needs FixedArrays, not ndarray"):
        np.concatenate([X, np.zeros(2)])


def test_arithmetic_ufuncs_are_the_exact_operators():
    assert _values(np.add(X, Y)) == _values(X + Y) == [p + q for p, q in zip(_values(X),
                                                                             _values(Y))]
    assert _values(np.subtract(X, W)) == [p - q for p, q in zip(_values(X), _values(W))]
    assert np.subtract(X, W).fmt == X.fmt.sub(W.fmt)
    assert _values(np.multiply(3, X)) == _values(3 * X) == [3 * v for v in _values(X)]
    m = np.matmul(X.reshape(2, 2), Y.reshape(2, 2))
    assert m.fmt == (X.reshape(2, 2) @ Y.reshape(2, 2)).fmt
    vx, vy = _values(X), _values(Y)
    assert _values(m) == [vx[2 * i] * vy[j] + vx[2 * i + 1] * vy[2 + j]
                          for i in range(2) for j in range(2)]
    for ufunc, pick in ((np.less, lambda p, q: p < q), (np.less_equal, lambda p, q: p <= q),
                        (np.greater, lambda p, q: p > q), (np.greater_equal, lambda p, q: p >= q),
                        (np.equal, lambda p, q: p == q), (np.not_equal, lambda p, q: p != q)):
        got = ufunc(X, W)
        assert got.dtype == bool and got.tolist() == [pick(p, q) for p, q in
                                                      zip(_values(X), _values(W))]
    with pytest.raises(TypeError, match=r"Operand of \* must be a FixedArray, not ndarray"):
        np.ones(4) * X
    with pytest.raises(TypeError, match=r"Operand of \+ must be a FixedArray, not float"):
        np.add(X, 0.5)


@pytest.mark.parametrize("call, name", [
    (lambda: np.asarray(X), "Converting to a numpy array (np.asarray, np.array)"),
    (lambda: np.array([X, X]), "Converting to a numpy array (np.asarray, np.array)"),
    (lambda: np.sin(X), "numpy.sin"),
    (lambda: np.exp(W), "numpy.exp"),
    (lambda: np.floor_divide(X, X), "numpy.floor_divide"),
    (lambda: np.add.reduce(X), "numpy.add.reduce"),
    (lambda: np.maximum(X, Y, dtype=float), "numpy.maximum with keyword arguments"),
    (lambda: np.sum(X), "numpy.sum"),
    (lambda: np.mean(X), "numpy.mean"),
    (lambda: np.clip(X, X, X), "numpy.clip"),
])
def test_every_other_ufunc_and_asarray_is_a_type_error(call, name):
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == f"{name} {REFUSAL}"
