"""FixedArray: exact + - * and comparisons at any width, shapes, indexing and conversions."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxp
from fxp import FixedFormat

from .reference import value_of

formats = st.builds(FixedFormat, st.integers(1, 140), st.integers(-60, 160), st.booleans())


@st.composite
def operands(draw):
    fa, fb = draw(formats), draw(formats)
    n = draw(st.integers(1, 8))
    ra = draw(st.lists(st.integers(fa.raw_min, fa.raw_max), min_size=n, max_size=n))
    rb = draw(st.lists(st.integers(fb.raw_min, fb.raw_max), min_size=n, max_size=n))
    return fxp.from_raw(ra, fa), fxp.from_raw(rb, fb)


def _values(x):
    return [value_of(int(r), x.fmt.bits, x.fmt.int_bits) for r in x.raw.reshape(-1)]


@settings(max_examples=300, deadline=None)
@given(operands())
def test_add_sub_mul_neg_are_exact(ab):
    a, b = ab
    va, vb = _values(a), _values(b)
    for op, fmt, exact in (("+", a.fmt.add(b.fmt), [x + y for x, y in zip(va, vb)]),
                           ("-", a.fmt.sub(b.fmt), [x - y for x, y in zip(va, vb)]),
                           ("*", a.fmt.mul(b.fmt), [x * y for x, y in zip(va, vb)])):
        r = {"+": a + b, "-": a - b, "*": a * b}[op]
        assert r.fmt == fmt
        assert _values(r) == exact
        assert r.raw.dtype == (np.int64 if fmt.fits_int64 else object)
        lo, hi = fmt.raw_min, fmt.raw_max
        assert all(lo <= int(v) <= hi for v in r.raw)
    n = -a
    assert n.fmt == a.fmt.neg() and _values(n) == [-v for v in va]


@settings(max_examples=200, deadline=None)
@given(operands())
def test_comparisons_are_exact(ab):
    a, b = ab
    va, vb = _values(a), _values(b)
    assert (a == b).tolist() == [x == y for x, y in zip(va, vb)]
    assert (a < b).tolist() == [x < y for x, y in zip(va, vb)]
    assert (a >= b).tolist() == [x >= y for x, y in zip(va, vb)]
    assert (a != b).tolist() == [x != y for x, y in zip(va, vb)]


def test_broadcasting_and_shapes():
    a = fxp.from_raw(np.arange(6).reshape(2, 3), "fixed<8,4>")
    b = fxp.from_raw([1, 2, 3], "ufixed<4,2>")
    c = a * b
    assert c.shape == (2, 3) and c.raw.tolist() == [[0, 2, 6], [3, 8, 15]]
    assert a.reshape(3, 2).shape == (3, 2) and a.T.shape == (3, 2)
    assert a.T.raw.tolist() == [[0, 3], [1, 4], [2, 5]]
    assert a[1].shape == (3,) and a[1, 2].shape == () and int(a[1, 2].raw) == 5
    assert float(a[1, 2]) == 5 / 16
    assert [int(r.raw) for r in b] == [1, 2, 3] and len(b) == 3
    assert a.ndim == 2 and a.size == 6


def test_setitem_requires_same_format():
    a = fxp.zeros((3,), "fixed<8,4>")
    a[1] = fxp.from_raw(7, "fixed<8,4>")
    assert a.raw.tolist() == [0, 7, 0]
    with pytest.raises(TypeError, match=r"Can only assign a FixedArray of format fixed<8,4>, "
                                        r"not fixed<8,3>; cast it first"):
        a[0] = fxp.from_raw(1, "fixed<8,3>")


def test_operands_must_be_fixed_arrays():
    a = fxp.zeros((2,), "fixed<8,4>")
    with pytest.raises(TypeError) as info:
        a + 1.5
    assert str(info.value) == ("Operand of + must be a FixedArray, not float; convert it first "
                               "with fxp.quantize or fxp.from_raw")
    with pytest.raises(TypeError, match="Operand of \\* must be a FixedArray, not ndarray"):
        np.ones(2) * a
    with pytest.raises(TypeError, match="truth value of a FixedArray is ambiguous"):
        bool(a)


def test_zeros_and_conversions():
    z = fxp.zeros((2, 2), "fixed<100,40>")
    assert z.raw.dtype == object and z.raw.tolist() == [[0, 0], [0, 0]]
    x = fxp.from_raw([3, -(2 ** 99)], "fixed<100,40>")
    assert x.to_fractions().tolist() == [Fraction(3, 2 ** 60), Fraction(-(2 ** 39))]
    assert x.to_float().tolist() == [3 * 2.0 ** -60, -(2.0 ** 39)]
    assert "fmt='fixed<100,40>'" in repr(x)
    q = fxp.quantize([0.1, -3.7], "fixed<16,6,RND_CONV,SAT>")
    assert q.raw.tolist() == [102, -3789]
    assert q.to_float().tolist() == [102 / 1024, -3789 / 1024]


def test_trusted_wraps_raw_integers_without_a_check_or_a_copy():
    f = FixedFormat.parse("fixed<8,4>")
    raw = np.array([[-128, 5], [127, 0]], dtype=np.int64)
    x = fxp.FixedArray.trusted(raw, f)
    assert x.raw is raw and x.fmt is f and x.shape == (2, 2)
    assert np.array_equal(x.to_float(), raw / 16)
    assert np.array_equal(x.raw, fxp.from_raw(raw, f).raw)
    wide = FixedFormat(80, 10)
    big = np.array([(1 << 79) - 1, -(1 << 79)], dtype=object)
    assert fxp.FixedArray.trusted(big, wide).to_fractions()[0] == Fraction((1 << 79) - 1, 1 << 70)


def test_check_operand_returns_fixed_arrays_and_names_the_operation():
    from fxp.array import check_operand
    x = fxp.zeros(3, "fixed<4,2>")
    assert check_operand(x, "+") is x
    with pytest.raises(TypeError) as info:
        check_operand([1, 2], "bias")
    assert str(info.value) == ("Operand of bias must be a FixedArray, not list; convert it first "
                               "with fxp.quantize or fxp.from_raw")
