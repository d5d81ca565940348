"""dense against the naive per-element reference: exhaustive and random."""

import itertools

import fxp
import numpy as np
import pytest
from fxp import FixedFormat
from fxp.nn.layers.dense import dense
from hypothesis import given, settings
from hypothesis import strategies as st

from .. import reference as R
from .helpers import OVF, QUANT, as_ints, ff, fmts, raw_array, raws_of


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
        got = dense(xa, wa, ba, ff(facc), ff(fout), label="d")
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
        y = dense(x, w, b, FixedFormat(3, 3), FixedFormat(8, 8), label="d")
    assert y.raw.tolist() == [[-2]]
    assert log["d accumulator"].count == 1
    with pytest.raises(fxp.OverflowError):
        with fxp.overflow_policy("raise"):
            dense(x, w, b, FixedFormat(3, 3), FixedFormat(8, 8), label="d")
