"""Exact accumulation (matmul, sum) and provable accumulator widths against Python ints."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxp
from fxp import FixedFormat


def _ref_matmul(a_raw, b_raw):
    a = [[int(v) for v in row] for row in a_raw]
    b = [[int(v) for v in row] for row in b_raw]
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))]
            for i in range(len(a))]


def _rand_raw(rng, fmt, shape):
    if fmt.bits <= 62:
        return rng.integers(fmt.raw_min, fmt.raw_max, size=shape, endpoint=True)
    flat = [int(rng.integers(0, 2 ** 62)) * 2 ** (fmt.bits - 62) + fmt.raw_min
            for _ in range(int(np.prod(shape)))]
    return np.array(flat, dtype=object).reshape(shape)


@pytest.mark.parametrize("fa, fb, m, k, n", [
    ("fixed<8,3>", "fixed<8,2>", 5, 300, 7),      # float64 BLAS path
    ("fixed<24,3>", "ufixed<24,2>", 4, 700, 3),   # blocked float64 path
    ("fixed<26,3>", "fixed<26,2>", 3, 40, 4),     # int64 path
    ("fixed<40,3>", "fixed<40,2>", 3, 9, 2),      # Python-int path
    ("fixed<3,3>", "ufixed<70,2>", 2, 5, 3),      # wide times narrow
])
def test_matmul_is_exact_on_every_path(fa, fb, m, k, n):
    rng = np.random.default_rng(1)
    fa, fb = FixedFormat.parse(fa), FixedFormat.parse(fb)
    a = fxp.from_raw(_rand_raw(rng, fa, (m, k)), fa)
    b = fxp.from_raw(_rand_raw(rng, fb, (k, n)), fb)
    r = a @ b
    assert r.fmt == fa.mul(fb).sum(k)
    assert r.raw.tolist() == _ref_matmul(a.raw, b.raw)
    acc = fa.mul(fb).sum(k).replace(bits=fa.mul(fb).sum(k).bits + 3,
                                    int_bits=fa.mul(fb).sum(k).int_bits)
    r2 = fxp.matmul(a, b, acc=acc)   # 3 more fraction bits: raw values scale by 8
    assert r2.raw.tolist() == [[8 * v for v in row] for row in _ref_matmul(a.raw, b.raw)]


def test_extreme_operands_use_exact_path():
    # Every raw at its extreme: 8-bit x 8-bit with K = 2**20 would exceed 2**53 in float64.
    k = 1 << 20
    a = fxp.from_raw(np.full((1, k), -128), "fixed<8,0>")
    b = fxp.from_raw(np.full((k, 1), -128), "fixed<8,0>")
    assert int((a @ b).raw[0, 0]) == k * 128 * 128
    c = fxp.from_raw(np.full((1, 4), -(2 ** 61)), "fixed<62,0>")
    d = fxp.from_raw(np.full((4, 1), -(2 ** 61)), "fixed<62,0>")
    assert int((c @ d).raw[0, 0]) == 4 * 2 ** 122


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_narrow_accumulator_wraps_exact_sum_and_reports(data):
    fa = FixedFormat(data.draw(st.integers(1, 12)), data.draw(st.integers(-4, 8)),
                     data.draw(st.booleans()))
    fb = FixedFormat(data.draw(st.integers(1, 12)), data.draw(st.integers(-4, 8)), True)
    k = data.draw(st.integers(1, 6))
    ra = data.draw(st.lists(st.integers(fa.raw_min, fa.raw_max), min_size=k, max_size=k))
    rb = data.draw(st.lists(st.integers(fb.raw_min, fb.raw_max), min_size=k, max_size=k))
    prod = fa.mul(fb)
    acc = FixedFormat(data.draw(st.integers(1, 14)), 0, data.draw(st.booleans()))
    acc = acc.replace(int_bits=acc.bits - prod.frac_bits - data.draw(st.integers(0, 3)))
    a, b = fxp.from_raw([ra], fa), fxp.from_raw(np.array(rb).reshape(k, 1), fb)
    exact = sum(x * y for x, y in zip(ra, rb)) << (acc.frac_bits - prod.frac_bits)
    with fxp.overflow_policy("log") as log:
        r = fxp.matmul(a, b, acc=acc, label="acc")
    m = 1 << acc.bits
    want = exact % m
    if acc.signed and want >= m // 2:
        want -= m
    assert int(r.raw[0, 0]) == want
    assert log["acc"].count == (0 if acc.raw_min <= exact <= acc.raw_max else 1)


def test_accumulator_errors():
    a = fxp.zeros((2, 3), "fixed<8,3>")
    b = fxp.zeros((3, 2), "fixed<8,2>")
    with pytest.raises(ValueError) as info:
        fxp.matmul(a, b, acc="fixed<20,12>")
    assert str(info.value) == ("Accumulator fixed<20,12> has 8 fraction bits, fewer than the 11 "
                               "of the products fixed<16,5>")
    with pytest.raises(ValueError) as info:
        fxp.matmul(a, b, acc="fixed<24,12,TRN,SAT>")
    assert str(info.value) == ("Accumulator fixed<24,12,TRN,SAT> must use WRAP overflow (an "
                               "accumulator is exact modulo 2**bits); cast the result to "
                               "saturate")
    with pytest.raises(ValueError, match=r"matmul shapes \(2, 3\) and \(2, 2\) do not align"):
        fxp.matmul(a, fxp.zeros((2, 2), "fixed<8,2>"))


def test_overflowing_accumulator_raises_with_details():
    a = fxp.from_raw([[127, 127, 1]], "fixed<8,8>")
    b = fxp.from_raw([[127], [127], [-5]], "fixed<8,8>")
    with pytest.raises(fxp.OverflowError) as info:
        with fxp.overflow_policy("raise"):
            fxp.matmul(a, b, acc="fixed<15,15>", label="layer 0 accumulator")
    assert str(info.value) == ("layer 0 accumulator: 1 of 1 values overflow fixed<15,15> "
                               "(range -16384..16383); first at index (0, 0): 32253")
    assert isinstance(info.value, ArithmeticError)


def test_sum_exact_and_axis():
    x = fxp.from_raw(np.arange(12).reshape(3, 4) - 6, "fixed<5,2>")
    s = x.sum(axis=0)
    assert s.fmt == FixedFormat.parse("fixed<5,2>").sum(3)
    assert s.raw.tolist() == (np.arange(12).reshape(3, 4) - 6).sum(axis=0).tolist()
    assert int(fxp.sum(x).raw) == sum(range(12)) - 72
    w = fxp.from_raw([2 ** 80, 2 ** 80], "fixed<90,10>")
    assert int(w.sum().raw) == 2 ** 81


# -- accumulator_format and the A2Q bound ------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(st.data())
def test_accumulator_format_is_tight_at_extreme_inputs(data):
    fw = FixedFormat(data.draw(st.integers(1, 9)), data.draw(st.integers(-3, 6)), True)
    fin = FixedFormat(data.draw(st.integers(1, 7)), data.draw(st.integers(-2, 8)),
                      data.draw(st.booleans()))
    units, k = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 6))
    raws = data.draw(st.lists(st.integers(fw.raw_min, fw.raw_max), min_size=units * k,
                              max_size=units * k))
    w = fxp.from_raw(np.array(raws).reshape(units, k), fw)
    acc = fxp.accumulator_format(w, fin)
    assert acc.frac_bits == fw.frac_bits + fin.frac_bits and acc.overflow.value == "WRAP"
    # brute force: every corner input, every output, exact Python ints
    sums = [sum(wr * x for wr, x in zip(row, xs))
            for row in np.array(raws).reshape(units, k).tolist()
            for xs in itertools.product((fin.raw_min, fin.raw_max), repeat=k)]
    lo, hi = min(sums), max(sums)
    assert acc.raw_min <= lo and hi <= acc.raw_max
    if acc.bits > 1:
        smaller = acc.replace(bits=acc.bits - 1, int_bits=acc.int_bits - 1)
        assert lo < smaller.raw_min or hi > smaller.raw_max
    if lo >= 0:
        assert not acc.signed
    # and the emulator never overflows with it at those inputs
    xs = np.array(list(itertools.product((fin.raw_min, fin.raw_max), repeat=k))).T
    with fxp.overflow_policy("raise"):
        fxp.matmul(w, fxp.from_raw(xs, fin), acc=acc)


def test_accumulator_format_with_bias():
    w = fxp.from_raw([[3, -2], [1, 1]], "fixed<4,2>")          # frac 2
    bias = fxp.from_raw([100, -1], "fixed<10,4>")              # frac 6
    acc = fxp.accumulator_format(w, "ufixed<4,4>", bias=bias)  # inputs 0..15, frac 0
    # at frac 6 (x16): output 0 spans (-30..45)*16 + 100 = -380..820, output 1 spans
    # (0..30)*16 - 1 = -1..479; 820 needs 11 signed bits
    assert acc.frac_bits == 6
    assert acc == FixedFormat(11, 5, True)
    with pytest.raises(ValueError, match=r"Bias shape \(3,\) does not match the \(2,\) outputs"):
        fxp.accumulator_format(w, "ufixed<4,4>", bias=fxp.zeros((3,), "fixed<10,4>"))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a2q_bound_guarantees_accumulator_width(data):
    p = data.draw(st.integers(4, 24))
    fin = FixedFormat(data.draw(st.integers(1, 10)), data.draw(st.integers(-2, 10)),
                      data.draw(st.booleans()))
    bound = fxp.a2q_l1_bound(p, fin)
    assert bound == (2 ** (p - 1) - 1) * 2.0 ** (int(fin.signed) - fin.bits)
    k = data.draw(st.integers(1, 12))
    budget = int(bound)
    mags = data.draw(st.lists(st.integers(0, max(budget, 0)), min_size=k, max_size=k))
    # scale the magnitudes down until their L1 norm fits the bound
    while sum(mags) > budget:
        mags = [m // 2 for m in mags]
    signs = data.draw(st.lists(st.sampled_from([-1, 1]), min_size=k, max_size=k))
    raws = [m * s for m, s in zip(mags, signs)]
    wf = FixedFormat(max(max(abs(r) for r in raws).bit_length() + 1, 2), 0)
    acc = fxp.accumulator_format(fxp.from_raw([raws], wf), fin)
    assert acc.bits + (not acc.signed) <= p


def test_a2q_bound_errors_and_value():
    assert fxp.a2q_l1_bound(16, "ufixed<5,5>") == 32767 / 32
    assert fxp.a2q_l1_bound(8, "fixed<4,2>") == 127 / 8
    with pytest.raises(ValueError, match="Accumulator bits must be at least 2, not 1"):
        fxp.a2q_l1_bound(1, "fixed<4,2>")
    with pytest.raises(TypeError, match="Accumulator bits must be an integer, not 8.0"):
        fxp.a2q_l1_bound(8.0, "fixed<4,2>")


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_matmul_with_bias_is_one_exact_wrapped_sum(data):
    fx = FixedFormat(data.draw(st.integers(1, 10)), data.draw(st.integers(-3, 8)), False)
    fw = FixedFormat(data.draw(st.integers(1, 10)), data.draw(st.integers(-3, 8)), True)
    fb = FixedFormat(data.draw(st.integers(1, 70)), data.draw(st.integers(-3, 30)), True)
    k, n = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 3))
    xr = data.draw(st.lists(st.integers(fx.raw_min, fx.raw_max), min_size=k, max_size=k))
    wr = data.draw(st.lists(st.integers(fw.raw_min, fw.raw_max), min_size=k * n,
                            max_size=k * n))
    br = data.draw(st.lists(st.integers(fb.raw_min, fb.raw_max), min_size=n, max_size=n))
    x, w = fxp.from_raw([xr], fx), fxp.from_raw(np.array(wr).reshape(k, n), fw)
    b = fxp.from_raw(br, fb)
    frac = max(fx.frac_bits + fw.frac_bits, fb.frac_bits)
    exact = [(sum(xr[j] * wr[j * n + i] for j in range(k)) << (frac - fx.frac_bits - fw.frac_bits))
             + (br[i] << (frac - fb.frac_bits)) for i in range(n)]
    full = fxp.matmul(x, w, bias=b)           # inferred accumulator: exact
    assert full.fmt.frac_bits == frac and full.raw.tolist()[0] == exact
    acc = FixedFormat(data.draw(st.integers(1, 16)), 0, True)
    acc = acc.replace(int_bits=acc.bits - frac)
    with fxp.overflow_policy("log") as log:
        r = fxp.matmul(x, w, acc=acc, bias=b, label="dense")
    m = 1 << acc.bits
    want = [((e + m // 2) % m) - m // 2 for e in exact]
    assert [int(v) for v in r.raw[0]] == want
    assert log["dense"].count == sum(not acc.raw_min <= e <= acc.raw_max for e in exact)


def test_bias_fraction_bits_must_fit_accumulator():
    x, w = fxp.zeros((1, 2), "ufixed<4,4>"), fxp.zeros((2, 3), "fixed<4,2>")
    with pytest.raises(ValueError) as info:
        fxp.matmul(x, w, acc="fixed<16,14>", bias=fxp.zeros((3,), "fixed<8,0>"))
    assert str(info.value) == ("Accumulator fixed<16,14> has 2 fraction bits, fewer than the 8 "
                               "of the bias fixed<8,0>")
