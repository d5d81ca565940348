"""relu against the naive per-element reference: exhaustive and random."""

import itertools

import fxp
import pytest
from fxp.nn.layers.relu import relu
from hypothesis import given, settings
from hypothesis import strategies as st

from .. import reference as R
from .helpers import OVF, QUANT, as_ints, ff, fmts, raw_array, raws_of

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
                got = as_ints(relu(x, ff(fout)).raw)[0]
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
        y = relu(raw_array(rows, fin), ff(fout))
    assert y.fmt == ff(fout)
    assert as_ints(y.raw) == [[R.relu(r, fin, fout) for r in row] for row in rows]
