"""Layer integer semantics against the naive per-element reference: exhaustive and random."""

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxp
from fxp import FixedFormat
from fxp.nn import layers as L

from . import reference as R

QUANT = [q.value for q in fxp.Quantization]
OVF = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM"]  # WRAP_SM: the g++ oracle covers casts


def ff(f: R.Fmt) -> FixedFormat:
    return FixedFormat(*f)


def raw_array(rows, f: R.Fmt) -> fxp.FixedArray:
    return fxp.from_raw(np.array(rows, dtype=object if f.bits > 62 else np.int64), ff(f))


def as_ints(a) -> list:
    return np.asarray(a).tolist()


# -- strategies ----------------------------------------------------------------------------
@st.composite
def fmts(draw, max_bits=8, int_lo=-4, int_hi=12, signed=None, modes=False):
    bits = draw(st.integers(1, max_bits))
    s = draw(st.booleans()) if signed is None else signed
    f = R.Fmt(bits, draw(st.integers(int_lo, int_hi)), s)
    if modes:
        f = f._replace(quantization=draw(st.sampled_from(QUANT)),
                       overflow=draw(st.sampled_from(OVF)))
    return f


def raws_of(f: R.Fmt):
    return st.integers(f.raw_min, f.raw_max)


@st.composite
def dense_case(draw, wide=False):
    mb = 40 if wide else 8
    fin = draw(fmts(max_bits=mb))
    fw = draw(fmts(max_bits=mb, int_lo=-3, int_hi=6))
    fb = draw(fmts(max_bits=mb + 2, int_lo=-3, int_hi=12))
    extra = draw(st.integers(0, 3))
    frac = max(fw.frac + fin.frac, fb.frac) + extra
    # narrow accumulators wrap; wide ones reach the object (Python int) path
    acc_bits = draw(st.integers(1, 90 if wide else 14))
    facc = R.Fmt(acc_bits, acc_bits - frac, draw(st.booleans()))
    fout = draw(fmts(max_bits=70 if wide else 12, int_lo=-6, int_hi=14, modes=True))
    batch, n_in, units = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    x = draw(st.lists(st.lists(raws_of(fin), min_size=n_in, max_size=n_in),
                      min_size=batch, max_size=batch))
    w = draw(st.lists(st.lists(raws_of(fw), min_size=n_in, max_size=n_in),
                      min_size=units, max_size=units))
    b = draw(st.lists(raws_of(fb), min_size=units, max_size=units))
    return fin, fw, fb, facc, fout, x, w, b


def check_dense(fin, fw, fb, facc, fout, x, w, b):
    want, want_acc, n_wrap, n_clip = R.dense(x, w, b, fin, fw, fb, facc, fout)
    xa, wa, ba = raw_array(x, fin), raw_array(w, fw), raw_array(b, fb)
    with fxp.overflow_policy("log") as log:
        got = L.dense(xa, wa, ba, ff(facc), ff(fout), label="d")
        acc = fxp.matmul(xa, wa.T, acc=ff(facc), bias=ba, label="acc only")
    assert got.fmt == ff(fout)
    assert as_ints(got.raw) == want
    assert as_ints(acc.raw) == want_acc
    # overflow is never silent: every wrapped accumulator is in the log
    assert (log["d accumulator"].count if "d accumulator" in log else 0) == n_wrap
    kind = "saturation" if fout.overflow != "WRAP" else "overflow"
    clipped = sum(r.count for r in log if r.operation == "d output" and r.kind == kind)
    assert clipped == n_clip
    return n_wrap


# -- dense ---------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(dense_case())
def test_dense_random_small(case):
    check_dense(*case)


@settings(max_examples=60, deadline=None)
@given(dense_case(wide=True))
def test_dense_random_wide(case):
    check_dense(*case)


def test_dense_strategy_wraps():
    """The random accumulators are narrow enough that wrapping is common (the test bites)."""
    wrapped = []

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(dense_case())
    def run(case):
        wrapped.append(check_dense(*case) > 0)

    run()
    assert sum(wrapped) >= 10


ACCS = [R.Fmt(2, 0), R.Fmt(3, 1), R.Fmt(3, 1, False), R.Fmt(5, 2)]


@pytest.mark.parametrize("facc", ACCS, ids=lambda f: str(ff(f)))
def test_dense_exhaustive_tiny(facc):
    """Every input pair x every weight pair x every bias, narrow accumulators, every mode."""
    fin, fw, fb = R.Fmt(2, 1), R.Fmt(2, 1), R.Fmt(2, 0)
    x = [list(p) for p in itertools.product(fin.raws(), repeat=2)]
    units = [(list(p), bias) for p in itertools.product(fw.raws(), repeat=2)
             for bias in fb.raws()]
    w, b = [u[0] for u in units], [u[1] for u in units]
    total_wraps = 0
    for q, o in itertools.product(QUANT, OVF):
        total_wraps += check_dense(fin, fw, fb, facc, R.Fmt(3, 2, True, q, o), x, w, b)
    if facc.bits <= 4:
        assert total_wraps > 0


def test_dense_wrap_example():
    """A hand-checked wrap: 3*1 + 3*1 = 6 in a 3-bit signed accumulator is -2."""
    x = fxp.from_raw(np.array([[3, 3]]), "fixed<3,3>")
    w = fxp.from_raw(np.array([[1, 1]]), "fixed<2,2>")
    b = fxp.from_raw(np.array([0]), "fixed<2,2>")
    with fxp.overflow_policy("log") as log:
        y = L.dense(x, w, b, FixedFormat(3, 3), FixedFormat(8, 8), label="d")
    assert y.raw.tolist() == [[-2]]
    assert log["d accumulator"].count == 1
    with pytest.raises(fxp.OverflowError):
        with fxp.overflow_policy("raise"):
            L.dense(x, w, b, FixedFormat(3, 3), FixedFormat(8, 8), label="d")


# -- relu ----------------------------------------------------------------------------------
SMALL_IN = [R.Fmt(b, i, s) for b in (1, 2, 3, 5, 8) for i in (-2, 1, 4, 9)
            for s in (True, False)]
RELU_OUT = [R.Fmt(4, 2, False), R.Fmt(5, 1, True)]


@pytest.mark.parametrize("q", QUANT)
def test_relu_exhaustive(q):
    """Every raw of every small input format into small outputs, in every mode."""
    bad = []
    with fxp.overflow_policy("ignore"):
        for fin in SMALL_IN:
            raws = list(fin.raws())
            x = raw_array([raws], fin)
            for fo, o in itertools.product(RELU_OUT, OVF):
                fout = fo._replace(quantization=q, overflow=o)
                got = as_ints(L.relu(x, ff(fout)).raw)[0]
                want = [R.relu(r, fin, fout) for r in raws]
                if got != want:
                    bad.append((fin, fout, raws, want, got))
    assert not bad, bad[:3]


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_relu_random(data):
    fin = data.draw(fmts(max_bits=100, int_lo=-20, int_hi=110))
    fout = data.draw(fmts(max_bits=100, int_lo=-20, int_hi=110, modes=True))
    shape = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 5)))
    rows = data.draw(st.lists(st.lists(raws_of(fin), min_size=shape[1], max_size=shape[1]),
                              min_size=shape[0], max_size=shape[0]))
    rows.append([r for r in (fin.raw_min, -2, -1, 0, 1, 2, fin.raw_max)
                 if fin.raw_min <= r <= fin.raw_max])
    rows = [row + [0] * (7 - len(row)) for row in rows]
    with fxp.overflow_policy("ignore"):
        y = L.relu(raw_array(rows, fin), ff(fout))
    assert y.fmt == ff(fout)
    assert as_ints(y.raw) == [[R.relu(r, fin, fout) for r in row] for row in rows]


# -- lookup tables -------------------------------------------------------------------------
def test_lut_index_exhaustive():
    """Every raw of every input format up to 8 bits, every table width: out = table[bucket]."""
    for bits, signed in itertools.product(range(1, 9), (True, False)):
        fin = R.Fmt(bits, 3, signed)
        raws = list(fin.raws())
        x = raw_array([raws], fin)
        for tb in range(1, bits + 1):
            table = fxp.from_raw(np.arange(2 ** tb), FixedFormat(tb, tb, False))  # entry = k
            got = as_ints(L.lut(x, table, tb).raw)[0]
            want = [R.bucket(r, fin, tb) for r in raws]
            assert got == want, (fin, tb)
            # buckets are equal runs of consecutive raws covering the range in order
            assert want == sorted(want)
            assert all(want.count(k) == 2 ** (bits - tb) for k in range(2 ** tb))
            for k in range(2 ** tb):
                assert all(R.bucket(r, fin, tb) == k for r in R.bucket_raws(k, fin, tb))


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_lut_index_random_wide(data):
    """Wide inputs (int64 at 63-64 bits, Python ints past that) and random tables."""
    bits = data.draw(st.sampled_from([9, 16, 31, 62, 63, 64, 65, 100]))
    fin = R.Fmt(bits, data.draw(st.integers(-10, 70)), data.draw(st.booleans()))
    tb = data.draw(st.integers(1, min(bits, 10)))
    fout = data.draw(fmts(max_bits=12))
    entries = data.draw(st.lists(raws_of(fout), min_size=2 ** tb, max_size=2 ** tb))
    edge = [fin.raw_min, fin.raw_max, 0 if fin.signed else 1, -1 if fin.signed else 2]
    raws = data.draw(st.lists(raws_of(fin), min_size=1, max_size=8)) + edge
    y = L.lut(raw_array([raws], fin), raw_array(entries, fout), tb)
    assert y.fmt == ff(fout)
    assert as_ints(y.raw)[0] == [entries[R.bucket(r, fin, tb)] for r in raws]


TABLE_IN = [R.Fmt(b, i, s) for b in (1, 2, 4, 6, 8) for i in (-1, 2, 5) for s in (True, False)]
TABLE_OUT = [R.Fmt(8, 0, False, "RND", "SAT"), R.Fmt(8, 1, True, "TRN", "SAT"),
             R.Fmt(6, 2, True, "RND_CONV", "SAT_SYM"), R.Fmt(5, 1, False, "TRN_ZERO", "SAT_ZERO"),
             R.Fmt(7, 1, True, "RND_ZERO", "WRAP"), R.Fmt(4, 0, True, "RND_MIN_INF", "SAT"),
             R.Fmt(9, 3, True, "RND_INF", "WRAP")]


@pytest.mark.parametrize("kind", ["sigmoid", "tanh"])
def test_table_entries_small_formats(kind):
    """Every table of small inputs, each width 1, half and full, in every quantization."""
    bad = []
    with fxp.overflow_policy("ignore"):
        for fin, fout in itertools.product(TABLE_IN, TABLE_OUT):
            for tb in sorted({1, max(1, fin.bits // 2), fin.bits}):
                got = as_ints(L.make_table(kind, ff(fin), ff(fout), tb).raw)
                want = R.table(kind, fin, fout, tb)
                if got != want:
                    bad.append((fin, fout, tb, want, got))
    assert not bad, bad[:3]


@pytest.mark.parametrize("kind", ["sigmoid", "tanh"])
def test_lut_layer_exhaustive(kind):
    """The activation of every input value: a full-width table is f of the exact input."""
    with fxp.overflow_policy("ignore"):
        for fin in [R.Fmt(8, 4), R.Fmt(8, 3, False), R.Fmt(6, 6), R.Fmt(7, -1)]:
            fout = R.Fmt(8, 1, True, "RND_CONV", "SAT")
            raws = list(fin.raws())
            for tb in (fin.bits, 3):
                table = L.make_table(kind, ff(fin), ff(fout), tb)
                got = as_ints(L.lut(raw_array([raws], fin), table, tb).raw)[0]
                f = R.FUNCTIONS[kind]
                if tb == fin.bits:
                    want = [R.cast(R.Fraction(f(float(R.value(r, fin)))), fout) for r in raws]
                else:
                    want = [R.table(kind, fin, fout, tb)[R.bucket(r, fin, tb)] for r in raws]
                assert got == want, (fin, tb)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_table_entries_random(data):
    kind = data.draw(st.sampled_from(["sigmoid", "tanh"]))
    fin = data.draw(fmts(max_bits=16, int_lo=-4, int_hi=14))
    fout = data.draw(fmts(max_bits=16, int_lo=-2, int_hi=4, modes=True))
    tb = data.draw(st.integers(1, min(fin.bits, 10)))
    with fxp.overflow_policy("ignore"):
        got = L.make_table(kind, ff(fin), ff(fout), tb)
    assert got.fmt == ff(fout) and got.shape == (2 ** tb,)
    assert as_ints(got.raw) == R.table(kind, fin, fout, tb)


def test_tanh_table_near_one_truncates_below_one():
    """tanh(c) < 1 for every finite c below ~19.06: TRN gives the largest value under 1.

    (numpy's vectorised tanh returns 1.0 for c = 17.005, which truncated to 1.0.)
    """
    fin, fout = R.Fmt(12, 6), R.Fmt(8, 2, True, "TRN", "SAT")
    table = as_ints(L.make_table("tanh", ff(fin), ff(fout), 12).raw)
    k = R.bucket(int(17.00488281 * 64), fin, 12)
    assert math.tanh(float(R.centre(k, fin, 12))) < 1
    assert table[k] == 63 == R.table("tanh", fin, fout, 12)[k]


def test_sigmoid_table_of_very_negative_inputs():
    """exp(-c) overflows a double for c < -709.8: the entry is 0, with no warning."""
    fin, fout = R.Fmt(12, 12), R.Fmt(8, 0, False, "RND", "SAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = as_ints(L.make_table("sigmoid", ff(fin), ff(fout), 12).raw)
    assert got[0] == 0 and got == R.table("sigmoid", fin, fout, 12)


def test_table_overflow_is_reported():
    """A WRAP output that cannot hold 1.0 wraps tanh's saturated entries, loudly."""
    with pytest.warns(fxp.OverflowWarning, match=r"^tanh table: "):
        t = L.make_table("tanh", FixedFormat(8, 6), FixedFormat(8, 1, True, "TRN"), 8)
    assert t.raw[-1] == -128  # tanh(31.75) == 1.0 in doubles wraps to -1.0


def test_make_table_errors():
    with pytest.raises(ValueError) as err:
        L.make_table("relu", FixedFormat(8, 3), FixedFormat(8, 1), 4)
    assert str(err.value) == "Unknown table activation 'relu'; expected sigmoid or tanh"
    with pytest.raises(ValueError) as err:
        L.make_table("tanh", FixedFormat(8, 3), FixedFormat(8, 1), 9)
    assert str(err.value) == ("Lookup table of tanh: table_bits must be between 1 and the "
                              "input's 8 bits, not 9")
    with pytest.raises(ValueError) as err:
        L.make_table("sigmoid", FixedFormat(8, 3), FixedFormat(8, 1), 0)
    assert str(err.value) == ("Lookup table of sigmoid: table_bits must be between 1 and the "
                              "input's 8 bits, not 0")


def test_default_table_bits():
    assert [L.default_table_bits(FixedFormat(b, 0)) for b in (1, 8, 10, 11, 32)] == \
        [1, 8, 10, 10, 10]


# -- argmax --------------------------------------------------------------------------------
def test_argmax_format():
    for n in range(1, 300):
        assert L.argmax_format(n) == FixedFormat(R.argmax_bits(n), R.argmax_bits(n), False), n
    assert L.argmax_format(2 ** 20 + 1) == FixedFormat(21, 21, False)


@pytest.mark.parametrize("fmt, n", [("ufixed<2,2>", 3), ("fixed<2,0>", 4), ("fixed<1,1>", 5)])
def test_argmax_exhaustive(fmt, n):
    """Every row of a tiny format: ties, all-equal rows and all."""
    f = R.of(FixedFormat.parse(fmt))
    rows = [list(p) for p in itertools.product(f.raws(), repeat=n)]
    y = L.argmax(raw_array(rows, f))
    assert y.fmt == FixedFormat(R.argmax_bits(n), R.argmax_bits(n), False)
    assert as_ints(y.raw) == [R.argmax(r) for r in rows]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_argmax_random(data):
    bits = data.draw(st.sampled_from([3, 8, 40, 63, 64, 65, 120]))
    f = R.Fmt(bits, data.draw(st.integers(-5, 130)), data.draw(st.booleans()))
    n = data.draw(st.integers(1, 12))
    # a few distinct values, so ties and all-equal rows are common
    pool = data.draw(st.lists(raws_of(f), min_size=1, max_size=3))
    rows = data.draw(st.lists(st.lists(st.sampled_from(pool), min_size=n, max_size=n),
                              min_size=1, max_size=5))
    y = L.argmax(raw_array(rows, f))
    assert as_ints(y.raw) == [R.argmax(r) for r in rows]


@pytest.mark.parametrize("fmt", ["fixed<8,3>", "fixed<100,3>"])
def test_argmax_ties_go_to_the_first(fmt):
    rows = [[5, 5, 5], [1, 7, 7], [-3, -3, -4], [0, -1, 0], [2, 1, 2]]
    y = L.argmax(fxp.from_raw(rows, fmt))
    assert y.raw.tolist() == [0, 1, 0, 0, 0]
