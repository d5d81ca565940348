"""Casts and quantization against the exact Fraction reference: exhaustive small, wide random."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxp
from fxp import FixedFormat, kernels

from .reference import cast_value, value_of

QUANT = [q.value for q in fxp.Quantization]
MODELLED_OVF = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM"]  # WRAP_SM: the g++ oracle checks it


def _all_raws(f: FixedFormat):
    return np.arange(f.raw_min, f.raw_max + 1, dtype=np.int64)


def _expected(raws, src, dst):
    return [cast_value(value_of(int(r), src.bits, src.int_bits), dst.bits, dst.int_bits,
                       dst.signed, dst.quantization.value, dst.overflow.value) for r in raws]


SMALL = [FixedFormat(b, i, s) for b in (1, 2, 3, 4) for i in (-2, 0, 1, 3, 6) for s in (True, False)]


@pytest.mark.parametrize("q", QUANT)
def test_exhaustive_small_casts(q):
    """Every value of every small format into every small format, in each mode."""
    mismatches = []
    with fxp.overflow_policy("ignore"):
        for src, d in itertools.product(SMALL, SMALL):
            raws = _all_raws(src)
            x = fxp.from_raw(raws, src)
            for o in MODELLED_OVF:
                dst = d.replace(quantization=q, overflow=o)
                got = x.cast(dst).raw.tolist()
                want = _expected(raws, src, dst)
                if got != want:
                    mismatches.append((str(src), str(dst), raws.tolist(), want, got))
    assert not mismatches, mismatches[:5]


raw_formats = st.builds(FixedFormat, st.integers(1, 160), st.integers(-80, 200), st.booleans())


@st.composite
def cast_case(draw):
    src = draw(raw_formats)
    dst = draw(raw_formats)
    dst = dst.replace(quantization=draw(st.sampled_from(QUANT)),
                      overflow=draw(st.sampled_from(MODELLED_OVF)))
    raws = draw(st.lists(st.integers(src.raw_min, src.raw_max), min_size=1, max_size=12))
    return src, dst, raws


@settings(max_examples=400, deadline=None)
@given(cast_case())
def test_wide_casts_match_fraction_reference(case):
    src, dst, raws = case
    with fxp.overflow_policy("ignore"):
        got = fxp.from_raw(raws, src).cast(dst)
    assert got.fmt == dst
    assert got.raw.dtype == (np.int64 if dst.fits_int64 else object)
    assert [int(r) for r in got.raw] == _expected(raws, src, dst)


@settings(max_examples=200, deadline=None)
@given(cast_case())
def test_int64_and_object_paths_agree(case):
    src, dst, raws = case
    with fxp.overflow_policy("ignore"):
        fast = fxp.from_raw(raws, src).cast(dst).raw.tolist()
        saved = kernels.INT64_SAFE_BITS
        kernels.INT64_SAFE_BITS = 0  # force Python-int kernels everywhere
        try:
            slow = fxp.from_raw(raws, src).cast(dst).raw.tolist()
        finally:
            kernels.INT64_SAFE_BITS = saved
    assert fast == slow


float_formats = st.builds(FixedFormat, st.integers(1, 120), st.integers(-40, 140), st.booleans(),
                          st.sampled_from(QUANT), st.sampled_from(MODELLED_OVF))
finite = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True)


@st.composite
def float_case(draw):
    f = draw(float_formats)
    lsb = Fraction(2) ** -f.frac_bits
    near = st.integers(-(1 << (f.bits + 1)), 1 << (f.bits + 1)).map(
        lambda k: float(k * lsb / 2))           # exact ties and near-range values
    scaled = finite.map(lambda v: v * 2.0 ** -f.frac_bits if abs(f.frac_bits) < 900 else v)
    values = draw(st.lists(st.one_of(finite, near, scaled.filter(np.isfinite)),
                           min_size=1, max_size=16))
    return f, values


@settings(max_examples=500, deadline=None)
@given(float_case())
def test_quantize_matches_exact_binary_value(case):
    f, values = case
    with fxp.overflow_policy("ignore"):
        got = fxp.quantize(np.array(values, dtype=np.float64), f)
    want = [cast_value(Fraction(v), f.bits, f.int_bits, f.signed, f.quantization.value,
                       f.overflow.value) for v in values]
    assert [int(r) for r in got.raw] == want


@pytest.mark.parametrize("q", QUANT)
def test_quantize_ties_exhaustive(q):
    """Every half-lsb point of fixed<6,3> and ufixed<5,2> under each mode (fast float path)."""
    for f in (FixedFormat(6, 3, True, q, "SAT"), FixedFormat(5, 2, False, q, "SAT_SYM"),
              FixedFormat(6, 3, True, q, "WRAP")):
        k = np.arange(-300, 301)
        values = k * f.lsb / 2
        with fxp.overflow_policy("ignore"):
            got = fxp.quantize(values, f).raw.tolist()
        want = [cast_value(Fraction(v), f.bits, f.int_bits, f.signed, q, f.overflow.value)
                for v in values]
        assert got == want


def test_quantize_integer_and_float32_inputs():
    f = FixedFormat.parse("fixed<12,8,RND,SAT>")
    assert fxp.quantize(np.array([3, -200, 127], dtype=np.int16), f).raw.tolist() == \
        [3 * 16, -128 * 16, 127 * 16]
    assert fxp.quantize(np.array([0.1], dtype=np.float32), f).raw.tolist() == \
        [round(float(np.float32(0.1)) * 16)]
    assert fxp.quantize([True, False], f).raw.tolist() == [16, 0]
    big = fxp.quantize(np.array([2 ** 70 + 1], dtype=object), FixedFormat(80, 80))
    assert big.raw.tolist() == [2 ** 70 + 1]


def test_nan_is_an_error_naming_count_and_first_index():
    x = np.array([[0.0, 1.0], [np.nan, np.nan]])
    with pytest.raises(ValueError) as info:
        fxp.quantize(x, "fixed<8,4>")
    assert str(info.value) == \
        "quantize to fixed<8,4>: 2 NaN values cannot be quantized; first at index (1, 0)"
    with pytest.raises(ValueError, match=r"1 NaN value cannot be quantized; first at index \(0,\)"):
        fxp.quantize([np.nan], "fixed<100,50>")


def test_inf_saturates_under_sat_and_fails_under_wrap():
    x = np.array([1.0, np.inf, -np.inf])
    assert fxp.quantize(x, "fixed<8,4,TRN,SAT>").raw.tolist() == [16, 127, -128]
    assert fxp.quantize(x, "fixed<8,4,TRN,SAT_SYM>").raw.tolist() == [16, 127, -127]
    assert fxp.quantize(x, "fixed<8,4,TRN,SAT_ZERO>").raw.tolist() == [16, 0, 0]
    assert fxp.quantize(x, "fixed<90,4,TRN,SAT>").raw.tolist() == [2 ** 86, 2 ** 89 - 1, -2 ** 89]
    for fmt in ("fixed<8,4>", "fixed<8,4,RND,WRAP_SM>", "fixed<90,4>"):
        with pytest.raises(ValueError) as info:
            fxp.quantize(x, fmt)
        assert str(info.value).endswith("2 infinite values cannot be wrapped into "
                                        f"{FixedFormat.parse(fmt)} (overflow "
                                        f"{FixedFormat.parse(fmt).overflow}); first at index "
                                        "(1,); use a SAT* overflow mode to saturate")


def test_quantize_rejects_non_numbers():
    with pytest.raises(TypeError, match="Cannot quantize an array of <U1; expected real numbers"):
        fxp.quantize(np.array(["a"]), "fixed<8,4>")


def test_from_raw_validates_range_and_type():
    f = FixedFormat.parse("fixed<8,4>")
    with pytest.raises(ValueError) as info:
        fxp.from_raw([5, 300, -7], f)
    assert str(info.value) == \
        "Raw value 300 at index (1,) is outside the raw range [-128, 127] of fixed<8,4>"
    with pytest.raises(TypeError, match="Raw values must be integers, not an array of float64"):
        fxp.from_raw([1.5], f)
    with pytest.raises(TypeError, match=r"Raw values must be integers; found 1.5 at index \(1,\)"):
        fxp.from_raw(np.array([1, 1.5], dtype=object), FixedFormat(100, 3))
    wide = fxp.from_raw([2 ** 90, -3], FixedFormat(100, 3))
    assert wide.raw.dtype == object and wide.raw.tolist() == [2 ** 90, -3]
    assert fxp.from_raw([2 ** 63 - 1], FixedFormat(64, 0)).raw.dtype == np.int64
    assert fxp.from_raw([2 ** 63 - 1], FixedFormat(64, 0, False)).raw.dtype == object


def test_sat_sym_one_bit_corner_and_min_value():
    # For W >= 2 the signed minimum is not kept: it saturates to -max.
    x = fxp.from_raw([-8, -7, 7], "fixed<4,4>")
    with fxp.overflow_policy("log") as log:
        assert x.cast("fixed<4,4,TRN,SAT_SYM>").raw.tolist() == [-7, -7, 7]
    assert log.saturations == 1
    # A 1-bit signed SAT_SYM format behaves like SAT (ap_fixed keeps -1).
    y = fxp.from_raw([-4, -1, 0, 3], "fixed<3,3>")
    assert y.cast("fixed<1,1,TRN,SAT_SYM>").raw.tolist() == [-1, -1, 0, 0]


def test_quantize_scalars_and_values_below_the_scaled_subnormals():
    s = fxp.quantize(1.5, "fixed<8,3>")
    assert s.shape == () and int(s.raw) == 48
    assert int(fxp.quantize(np.float32(-0.3), "fixed<8,3,RND,SAT>").raw) == -10
    # scaling by 2**-82 sends these below the smallest double; floor still sees their sign
    x = [-1e-300, -5e-324, 5e-324, -0.0, 0.0]
    assert fxp.quantize(x, "fixed<8,90>").raw.tolist() == [-1, -1, 0, 0, 0]
    assert fxp.quantize(x, "fixed<8,90,TRN_ZERO>").raw.tolist() == [0, 0, 0, 0, 0]
    assert fxp.quantize(x, "fixed<8,90,RND_MIN_INF>").raw.tolist() == [0, 0, 0, 0, 0]
