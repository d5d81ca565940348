"""argmax against the naive reference: exhaustive and random."""

import itertools

import fxp
import pytest
from fxp import FixedFormat
from fxp.nn.layers.argmax import argmax, argmax_format
from hypothesis import given, settings
from hypothesis import strategies as st

from .. import reference as R
from .helpers import as_ints, raw_array, raws_of


def test_argmax_format():
    for n in range(1, 300):
        assert argmax_format(n) == FixedFormat(R.argmax_bits(n), R.argmax_bits(n), False), n
    assert argmax_format(2 ** 20 + 1) == FixedFormat(21, 21, False)


@pytest.mark.parametrize("fmt, n", [("ufixed<2,2>", 3), ("fixed<2,0>", 4), ("fixed<1,1>", 5)])
def test_argmax_exhaustive(fmt, n):
    """Every row of a tiny format: ties, all-equal rows and all."""
    f = R.of(FixedFormat.parse(fmt))
    rows = [list(p) for p in itertools.product(f.raws(), repeat=n)]
    y = argmax(raw_array(rows, f))
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
    y = argmax(raw_array(rows, f))
    assert as_ints(y.raw) == [R.argmax(r) for r in rows]


@pytest.mark.parametrize("fmt", ["fixed<8,3>", "fixed<100,3>"])
def test_argmax_ties_go_to_the_first(fmt):
    rows = [[5, 5, 5], [1, 7, 7], [-3, -3, -4], [0, -1, 0], [2, 1, 2]]
    y = argmax(fxp.from_raw(rows, fmt))
    assert y.raw.tolist() == [0, 1, 0, 0, 0]
