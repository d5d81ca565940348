"""FixedFormat: parsing, printing, derived quantities, growth rules and error messages."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxp
from fxp import FixedFormat, Overflow, Quantization


def test_issue_example_forms_are_equal():
    f = FixedFormat(bits=16, int_bits=6, signed=True, quantization="RND_CONV", overflow="SAT")
    assert f == FixedFormat.parse("ap_fixed<16,6,AP_RND_CONV,AP_SAT>")
    assert f == FixedFormat.parse("fixed<16,6,RND_CONV,SAT>")
    assert f == FixedFormat.parse(" ap_fixed < 16 , 6 , AP_RND_CONV , AP_SAT , 0 > ")
    assert str(f) == "fixed<16,6,RND_CONV,SAT>"
    assert f.quantization is Quantization.RND_CONV and f.overflow is Overflow.SAT


@pytest.mark.parametrize("text, bits, int_bits, signed", [
    ("Q5.10", 16, 6, True),
    ("Q0.15", 16, 1, True),
    ("Q.7", 8, 1, True),
    ("UQ8.8", 16, 8, False),
    ("UQ0.8", 8, 0, False),
    ("ufixed<8,0>", 8, 0, False),
    ("ap_ufixed<8,0>", 8, 0, False),
    ("fixed<4,-3>", 4, -3, True),
    ("fixed<4,9>", 4, 9, True),
    ("ap_fixed<1,1>", 1, 1, True),
])
def test_parse_forms(text, bits, int_bits, signed):
    f = FixedFormat.parse(text)
    assert (f.bits, f.int_bits, f.signed) == (bits, int_bits, signed)
    assert f.quantization is Quantization.TRN and f.overflow is Overflow.WRAP


def test_canonical_str_omits_default_modes():
    assert str(FixedFormat(8, 3)) == "fixed<8,3>"
    assert str(FixedFormat(8, 3, False, "RND")) == "ufixed<8,3,RND>"
    assert str(FixedFormat(8, 3, True, "TRN", "SAT")) == "fixed<8,3,TRN,SAT>"
    assert FixedFormat(8, 3, False, "RND", "SAT_SYM").c_type() == \
        "ap_ufixed<8,3,AP_RND,AP_SAT_SYM>"


formats = st.builds(
    lambda bits, ib, signed, q, o: FixedFormat(bits, ib, signed, q,
                                               o if signed or o != "WRAP_SM" else "WRAP"),
    st.integers(1, 200), st.integers(-100, 300), st.booleans(),
    st.sampled_from([m.value for m in Quantization]), st.sampled_from([m.value for m in Overflow]))


@given(formats)
def test_str_parses_back_equal(f):
    assert FixedFormat.parse(str(f)) == f
    assert FixedFormat.parse(f.c_type()) == f
    assert hash(FixedFormat.parse(str(f))) == hash(f)


@given(formats)
def test_derived_quantities(f):
    assert f.frac_bits == f.bits - f.int_bits
    assert f.raw_max - f.raw_min == 2 ** f.bits - 1
    assert f.raw_min == (-(2 ** (f.bits - 1)) if f.signed else 0)
    assert f.to_fraction(f.raw_max) == f.raw_max * f.to_fraction(1)
    if abs(f.frac_bits) < 1000 and f.bits < 1000:
        assert f.lsb == 2.0 ** -f.frac_bits
        assert f.max == pytest.approx(float(f.to_fraction(f.raw_max)))
        assert f.min == float(f.to_fraction(f.raw_min))
    assert f.fits_int64 == (f.bits <= (64 if f.signed else 63))


def test_min_max_lsb_values():
    f = FixedFormat.parse("fixed<16,6,RND_CONV,SAT>")
    assert (f.frac_bits, f.min, f.max, f.lsb, f.raw_min, f.raw_max) == \
        (10, -32.0, 32 - 2 ** -10, 2 ** -10, -32768, 32767)
    u = FixedFormat.parse("ufixed<8,0>")
    assert (u.min, u.max, u.raw_max) == (0.0, 255 / 256, 255)
    assert FixedFormat(4, 9).lsb == 32.0


# Growth rules: worked by hand from ap_fixed's RType (ap_fixed_base.h); the g++ oracle
# checks them against the real headers.
@pytest.mark.parametrize("a, b, mul, add, sub", [
    ("fixed<8,3>", "fixed<6,2>", "fixed<14,5>", "fixed<9,4>", "fixed<9,4>"),
    ("fixed<8,3>", "ufixed<6,2>", "fixed<14,5>", "fixed<9,4>", "fixed<9,4>"),
    ("ufixed<8,3>", "ufixed<6,2>", "ufixed<14,5>", "ufixed<9,4>", "fixed<9,4>"),
    ("ufixed<8,3>", "fixed<6,5>", "fixed<14,8>", "fixed<11,6>", "fixed<11,6>"),
    ("fixed<4,-2>", "fixed<4,8>", "fixed<8,6>", "fixed<15,9>", "fixed<15,9>"),
])
def test_growth_rules(a, b, mul, add, sub):
    fa, fb = FixedFormat.parse(a), FixedFormat.parse(b)
    assert fa.mul(fb) == FixedFormat.parse(mul)
    assert fa.add(fb) == FixedFormat.parse(add)
    assert fa.sub(fb) == FixedFormat.parse(sub)
    assert fb.mul(fa) == fa.mul(fb) and fb.add(fa) == fa.add(fb)


def test_neg_and_sum_growth():
    assert FixedFormat.parse("ufixed<8,3>").neg() == FixedFormat.parse("fixed<9,4>")
    assert FixedFormat.parse("fixed<8,3>").sum(1024) == FixedFormat.parse("fixed<18,13>")
    assert FixedFormat.parse("ufixed<8,3>").sum(3) == FixedFormat.parse("ufixed<10,5>")


@pytest.mark.parametrize("call, exc, message", [
    (lambda: FixedFormat(0, 0), ValueError, "Format bits must be at least 1, not 0"),
    (lambda: FixedFormat(8.0, 3), TypeError, "Format bits must be an integer, not 8.0"),
    (lambda: FixedFormat(8, "3"), TypeError, "Format int_bits must be an integer, not '3'"),
    (lambda: FixedFormat(8, 3, 1), TypeError, "Format signed must be a bool, not 1"),
    (lambda: FixedFormat(8, 3, True, "ROUND"), ValueError,
     "Unknown quantization mode 'ROUND'; expected one of TRN, TRN_ZERO, RND, RND_ZERO, "
     "RND_MIN_INF, RND_INF, RND_CONV"),
    (lambda: FixedFormat(8, 3, True, "TRN", "CLIP"), ValueError,
     "Unknown overflow mode 'CLIP'; expected one of WRAP, SAT, SAT_ZERO, SAT_SYM, WRAP_SM"),
    (lambda: FixedFormat(8, 3, True, 3), TypeError,
     "Quantization mode must be a string or fxp.Quantization, not 3"),
    (lambda: FixedFormat(8, 3, False, "TRN", "WRAP_SM"), ValueError,
     "Overflow mode WRAP_SM needs a signed format, not ufixed<8,3>"),
    (lambda: FixedFormat.parse("fixed<16>"), ValueError,
     "Malformed fixed-point format 'fixed<16>'; expected 2 to 4 arguments "
     "<bits,int_bits[,quantization[,overflow]]>"),
    (lambda: FixedFormat.parse("float<16,6>"), ValueError,
     "Malformed fixed-point format 'float<16,6>'; expected e.g. 'fixed<16,6,RND_CONV,SAT>', "
     "'ap_ufixed<8,0>' or 'Q5.10'"),
    (lambda: FixedFormat.parse("fixed<a,6>"), ValueError,
     "Malformed fixed-point format 'fixed<a,6>'; bits and int_bits must be integers"),
    (lambda: FixedFormat.parse("ap_fixed<8,3,AP_TRN,AP_WRAP,2>"), ValueError,
     "Fixed-point format 'ap_fixed<8,3,AP_TRN,AP_WRAP,2>': saturation bits (N) other than 0 "
     "are not supported"),
    (lambda: FixedFormat.parse("fixed<0,0>"), ValueError, "Format bits must be at least 1, not 0"),
    (lambda: FixedFormat.parse("UQ0.0"), ValueError, "Fixed-point format 'UQ0.0' has no bits"),
    (lambda: FixedFormat.parse(16), TypeError,
     "Fixed-point format must be a string or FixedFormat, not 16"),
    (lambda: FixedFormat.parse("fixed<8,3,RND,SAT,>"), ValueError,
     "Malformed fixed-point format 'fixed<8,3,RND,SAT,>'; expected 2 to 4 arguments "
     "<bits,int_bits[,quantization[,overflow]]>"),
])
def test_errors_are_one_clear_line(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_modes_accept_strings_enums_and_ap_prefix():
    assert FixedFormat(8, 3, True, "ap_rnd", "ap_sat") == \
        FixedFormat(8, 3, True, Quantization.RND, Overflow.SAT)
    assert fxp.Overflow.SAT.saturates and not fxp.Overflow.WRAP_SM.saturates


def test_replace():
    f = FixedFormat.parse("fixed<8,3,RND,SAT>")
    assert f.replace(bits=10) == FixedFormat.parse("fixed<10,3,RND,SAT>")
    with pytest.raises(TypeError, match="FixedFormat has no field 'width'"):
        f.replace(width=3)
    assert math.isinf(FixedFormat(2000, 2000).max)


@given(st.integers(-(1 << 70), 1 << 70), st.integers(0, 1 << 70), st.integers(-8, 8),
       st.booleans())
def test_holding_is_the_smallest_format_that_holds_the_range(lo, span, frac, signed):
    hi = lo + span
    f = FixedFormat.holding(lo, hi, frac, signed=signed)
    assert f.frac_bits == frac and f.signed == (signed or lo < 0)
    assert f.quantization is Quantization.TRN and f.overflow is Overflow.WRAP
    assert f.raw_min <= lo and hi <= f.raw_max
    if f.bits > 1:
        fewer = f.replace(bits=f.bits - 1, int_bits=f.int_bits - 1)
        assert not (fewer.raw_min <= lo and hi <= fewer.raw_max)


def test_holding_examples_and_raw_to_float():
    assert str(FixedFormat.holding(-5, 12, 2)) == "fixed<5,3>"
    assert str(FixedFormat.holding(0, 0, 0)) == "ufixed<1,1>"
    assert str(FixedFormat.holding(0, 255, 8, signed=True)) == "fixed<9,1>"
    assert fxp.format.raw_to_float(-3, 2) == -0.75
    assert fxp.format.raw_to_float(1 << 1100, 0) == math.inf
    assert fxp.format.raw_to_float(-(1 << 1100), 2) == -math.inf
    assert fxp.format.raw_to_float(0, 5000) == 0.0
