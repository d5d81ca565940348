"""sigmoid/tanh tables and lookups against the naive reference: exhaustive and random."""

import itertools
import math
import warnings

import fxp
import numpy as np
import pytest
from fxp import FixedFormat
from fxp.nn.layers.table import default_table_bits, lut, make_table
from hypothesis import given, settings
from hypothesis import strategies as st

from .. import reference as R
from .helpers import as_ints, ff, fmts, raw_array, raws_of


def test_lut_index_exhaustive():
    """Every raw of every input format up to 8 bits, every table width: out = table[bucket]."""
    for bits, signed in itertools.product(range(1, 9), (True, False)):
        fin = R.Fmt(bits, 3, signed)
        raws = list(fin.raws())
        x = raw_array([raws], fin)
        for tb in range(1, bits + 1):
            table = fxp.from_raw(np.arange(2 ** tb), FixedFormat(tb, tb, False))  # entry = k
            got = as_ints(lut(x, table, tb).raw)[0]
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
    y = lut(raw_array([raws], fin), raw_array(entries, fout), tb)
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
                got = as_ints(make_table(kind, ff(fin), ff(fout), tb).raw)
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
                table = make_table(kind, ff(fin), ff(fout), tb)
                got = as_ints(lut(raw_array([raws], fin), table, tb).raw)[0]
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
        got = make_table(kind, ff(fin), ff(fout), tb)
    assert got.fmt == ff(fout) and got.shape == (2 ** tb,)
    assert as_ints(got.raw) == R.table(kind, fin, fout, tb)


def test_tanh_table_near_one_truncates_below_one():
    """tanh(c) < 1 for every finite c below ~19.06: TRN gives the largest value under 1.

    (numpy's vectorised tanh returns 1.0 for c = 17.005, which truncated to 1.0.)
    """
    fin, fout = R.Fmt(12, 6), R.Fmt(8, 2, True, "TRN", "SAT")
    table = as_ints(make_table("tanh", ff(fin), ff(fout), 12).raw)
    k = R.bucket(int(17.00488281 * 64), fin, 12)
    assert math.tanh(float(R.centre(k, fin, 12))) < 1
    assert table[k] == 63 == R.table("tanh", fin, fout, 12)[k]


def test_sigmoid_table_of_very_negative_inputs():
    """exp(-c) overflows a double for c < -709.8: the entry is 0, with no warning."""
    fin, fout = R.Fmt(12, 12), R.Fmt(8, 0, False, "RND", "SAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = as_ints(make_table("sigmoid", ff(fin), ff(fout), 12).raw)
    assert got[0] == 0 and got == R.table("sigmoid", fin, fout, 12)


def test_table_overflow_is_reported():
    """A WRAP output that cannot hold 1.0 wraps tanh's saturated entries, loudly."""
    with pytest.warns(fxp.OverflowWarning, match=r"^tanh table: "):
        t = make_table("tanh", FixedFormat(8, 6), FixedFormat(8, 1, True, "TRN"), 8)
    assert t.raw[-1] == -128  # tanh(31.75) == 1.0 in doubles wraps to -1.0


def test_make_table_errors():
    with pytest.raises(ValueError) as err:
        make_table("relu", FixedFormat(8, 3), FixedFormat(8, 1), 4)
    assert str(err.value) == "Unknown table activation 'relu'; expected sigmoid or tanh"
    with pytest.raises(ValueError) as err:
        make_table("tanh", FixedFormat(8, 3), FixedFormat(8, 1), 9)
    assert str(err.value) == ("Lookup table of tanh: table_bits must be between 1 and the "
                              "input's 8 bits, not 9")
    with pytest.raises(ValueError) as err:
        make_table("sigmoid", FixedFormat(8, 3), FixedFormat(8, 1), 0)
    assert str(err.value) == ("Lookup table of sigmoid: table_bits must be between 1 and the "
                              "input's 8 bits, not 0")


def test_default_table_bits():
    assert [default_table_bits(FixedFormat(b, 0)) for b in (1, 8, 10, 11, 32)] == \
        [1, 8, 10, 10, 10]
