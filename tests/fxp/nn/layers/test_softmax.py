"""softmax against a reference built from the documented steps, and close to float softmax."""

import itertools

import fxp
import numpy as np
import pytest
from fxp.nn.layers.softmax import softmax, softmax_tables
from fxp.nn.model import Model
from fxp.nn.spec import SpecError, parse_spec

from .. import reference as R
from . import cnn_reference as CR
from .helpers import OVF, QUANT, ff


def check(fin, fout, n, tb, x):
    exp, recip, E, S = CR.softmax_tables(fin, fout, n, tb)
    et, rt = softmax_tables(ff(fin), ff(fout), n, tb)
    assert (et.raw.tolist(), rt.raw.tolist()) == (exp, recip)
    assert et.fmt == rt.fmt == fxp.FixedFormat(fout.bits, 1, False, "RND", "SAT")
    got = softmax(fxp.from_raw(x, ff(fin)), et, rt, ff(fout))
    assert got.fmt == ff(fout)
    assert got.raw.tolist() == [CR.softmax(row, fin, fout, exp, recip, E, S)
                                for row in x.tolist()]
    return got


def test_softmax_exhaustive_small():
    """Every pair of 4-bit inputs, every table width."""
    fin = R.Fmt(4, 2)
    x = np.array(list(itertools.product(fin.raws(), repeat=2)))
    for tb in range(1, 5):
        check(fin, R.Fmt(6, 1, False, "RND", "SAT"), 2, tb, x)


def test_softmax_every_output_mode_and_unsigned_inputs():
    rng = np.random.default_rng(11)
    for fin in (R.Fmt(8, 4), R.Fmt(7, 3, False)):
        x = rng.integers(fin.raw_min, fin.raw_max, (40, 5), endpoint=True)
        x[0], x[1] = fin.raw_min, fin.raw_max        # all tied: 1/5 each
        for q, o in itertools.product(QUANT, OVF):
            check(fin, R.Fmt(5, 0, False, q, o), 5, 6, x)


def test_softmax_is_close_to_float():
    rng = np.random.default_rng(12)
    fin, fout = R.Fmt(10, 4), R.Fmt(12, 1, False, "RND", "SAT")
    x = rng.integers(-300, 300, (200, 10))
    got = check(fin, fout, 10, 10, x).to_float()
    v = x / 2.0 ** fin.frac
    p = np.exp(v - v.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert np.max(np.abs(got - p)) < 0.03
    assert np.mean(got.argmax(axis=1) == p.argmax(axis=1)) > 0.97


def test_softmax_layer_in_a_model():
    doc = {"name": "s", "input": {"shape": [2, 3], "format": "fixed<6,3>"},
           "layers": [{"type": "softmax", "output": "ufixed<8,1,RND,SAT>", "table_bits": 5}]}
    spec = parse_spec(doc)
    et, rt = softmax_tables(spec.input_format, spec.layers[0].output.fmt, 3, 5)
    m = Model(spec, {"0.exp_table": et.raw, "0.recip_table": rt.raw})
    x = np.array([[[-32, 0, 31], [5, 5, 5]]])
    exp, recip, E, S = CR.softmax_tables(R.Fmt(6, 3), R.Fmt(8, 1, False, "RND", "SAT"), 3, 5)
    want = [[CR.softmax(r, R.Fmt(6, 3), R.Fmt(8, 1, False, "RND", "SAT"), exp, recip, E, S)
             for r in img] for img in x.tolist()]
    assert m.predict_raw(x).tolist() == want
    assert spec.dump()["layers"][0]["table_bits"] == 5
    with pytest.raises(SpecError) as err:
        Model(parse_spec({**doc, "layers": [{**doc["layers"][0], "table_bits": 7}]}), {})
    assert str(err.value) == ("layer 0 (softmax) field 'table_bits': 7 exceeds the 6 bits of "
                              "its input fixed<6,3>")
    with pytest.raises(SpecError) as err:
        parse_spec({**doc, "layers": [{**doc["layers"][0], "table_bits": 0}]})
    assert str(err.value) == ("layer 0 (softmax) field 'table_bits': expected an integer from "
                              "1 to 16, not 0")
