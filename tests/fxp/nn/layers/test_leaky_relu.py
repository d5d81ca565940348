"""leaky_relu against the naive Fraction reference: exhaustive for small formats, random for
wide ones; its spec field, and QAT equal to the bit-exact path."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxp
from fxp.nn import SpecError, parse_spec
from fxp.nn.layers.leaky_relu import alpha_shift, leaky_relu

from .. import reference as R
from .helpers import OVF, QUANT, as_ints, ff, fmts, raw_array, raws_of

def reference(raw: int, fin: R.Fmt, alpha: Fraction, fout: R.Fmt) -> int:
    """``cast(x if x >= 0 else x * alpha, out)`` on the exact Fraction value."""
    v = R.value(raw, fin)
    return R.cast(v if v >= 0 else v * alpha, fout)


SMALL_IN = [R.Fmt(b, i, s) for b in (1, 2, 3, 5, 7) for i in (-2, 1, 4, 9)
            for s in (True, False)]
OUT = [R.Fmt(4, 2, True), R.Fmt(5, 1, True), R.Fmt(4, 3, False), R.Fmt(6, -1, True)]


@pytest.mark.parametrize("q", QUANT)
def test_leaky_relu_exhaustive(q):
    """Every raw of every small input format, k = 1..4, every output mode."""
    bad = []
    with fxp.overflow_policy("ignore"):
        for fin, k in itertools.product(SMALL_IN, (1, 2, 3, 4)):
            raws = list(fin.raws())
            x = raw_array([raws], fin)
            for fo, o in itertools.product(OUT, OVF):
                fout = fo._replace(quantization=q, overflow=o)
                got = as_ints(leaky_relu(x, k, ff(fout)).raw)[0]
                want = [reference(r, fin, Fraction(1, 2 ** k), fout) for r in raws]
                if got != want:
                    bad.append((fin, k, fout, want, got))
    assert not bad, bad[:3]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_leaky_relu_random_wide(data):
    fin = data.draw(fmts(max_bits=90, int_lo=-20, int_hi=100))
    fout = data.draw(fmts(max_bits=90, int_lo=-20, int_hi=100, modes=True))
    k = data.draw(st.integers(1, 32))
    rows = [data.draw(st.lists(raws_of(fin), min_size=4, max_size=4)),
            [fin.raw_min, max(fin.raw_min, -1), 0, fin.raw_max]]
    with fxp.overflow_policy("ignore"):
        y = leaky_relu(raw_array(rows, fin), k, ff(fout))
    assert y.fmt == ff(fout)
    assert as_ints(y.raw) == [[reference(r, fin, Fraction(1, 2 ** k), fout) for r in row]
                              for row in rows]


def test_overflow_of_the_output_is_reported():
    x = fxp.from_raw(np.array([[-128, 127]]), fxp.FixedFormat(8, 8))
    with fxp.overflow_policy("log") as log:
        leaky_relu(x, 1, fxp.FixedFormat(6, 6, True, "TRN", "SAT"), label="layer 1 leaky_relu")
    rec = log["layer 1 leaky_relu output"]
    assert (rec.kind, rec.count, rec.total) == ("saturation", 2, 2)


@pytest.mark.parametrize("alpha, k", [(0.5, 1), ("0.125", 3), (2 ** -32, 32), ("0.0625", 4)])
def test_alpha_is_a_power_of_two(alpha, k):
    assert alpha_shift(alpha) == k


DOC = {"name": "n", "input": {"shape": [3], "format": "fixed<6,2>"},
       "layers": [{"type": "leaky_relu", "alpha": "0.125", "output": "fixed<8,2,RND,SAT>"}]}


@pytest.mark.parametrize("alpha", [0.3, 1, 2, 0, -0.5, "x", True, None, 2 ** -33, float("nan")])
def test_bad_alpha_is_one_line_naming_the_field(alpha):
    doc = {**DOC, "layers": [dict(DOC["layers"][0], alpha=alpha)]}
    with pytest.raises(SpecError) as err:
        parse_spec(doc)
    assert str(err.value) == (f"layer 0 (leaky_relu) field 'alpha': expected a power of two "
                              f"from 2**-32 to 0.5 such as 0.125, not {alpha!r}")


def test_spec_round_trip_and_missing_alpha():
    spec = parse_spec(DOC)
    assert spec.layers[0].shift == 3 and spec.dump()["layers"][0]["alpha"] == 0.125
    assert parse_spec(spec.dump()).dump() == spec.dump()
    with pytest.raises(SpecError, match=r"^layer 0 \(leaky_relu\): missing key 'alpha'$"):
        parse_spec({**DOC, "layers": [{"type": "leaky_relu", "output": "fixed<8,2>"}]})


LEAKY_LAYERS = [
    {"type": "dense", "units": 16, "weight": "fixed<6,1,RND_CONV,SAT>", "bias": "auto",
     "accumulator": "auto", "output": "fixed<10,5,RND_CONV,SAT>"},
    {"type": "leaky_relu", "alpha": "0.125", "output": "fixed<8,3,RND_CONV,SAT>"},
    {"type": "dense", "units": 12, "weight": "auto", "bias": "auto", "accumulator": "auto",
     "output": {"bits": 10, "int_bits": "learn"}},
    {"type": "leaky_relu", "alpha": 0.25, "output": {"bits": 8, "int_bits": "learn",
                                                     "quantization": "RND", "overflow": "SAT"}},
    {"type": "dense", "units": 10, "weight": "auto", "bias": "auto", "accumulator": "auto",
     "output": "auto"},
    {"type": "argmax"},
]


def _spec(epochs=3):
    return parse_spec({"name": "leaky", "data": {"dataset": "sklearn_digits", "seed": 2},
                       "input": {"shape": [64], "format": "ufixed<5,5>"},
                       "layers": LEAKY_LAYERS,
                       "train": {"epochs": epochs, "batch": 128, "lr": 0.01, "seed": 1}})


def test_qat_forward_is_the_bit_exact_model_and_learns():
    from fxp.nn.training import train
    with fxp.overflow_policy("ignore"):       # outputs saturate: SAT formats
        result = train(_spec(), log=None)
        accuracy = result.fixed_accuracy
    model, net, data = result.model, result.network, result.data
    assert model.spec.concrete and accuracy > 0.5
    assert [layer.alpha for layer in model.spec.layers if layer.type == "leaky_relu"] == \
        [0.125, 0.25]
    with fxp.overflow_policy("ignore"):
        net.resolve(data.x_train)
        logits, _ = net.forward(data.x_test, "qat")
        x = fxp.quantize(data.x_test, model.input_format)
        exact = model.forward(x)
    assert np.array_equal(logits, exact[-2].to_float())
    # the negative branch is taken: some leaky outputs are negative
    assert (exact[1].raw < 0).any() and (exact[3].raw < 0).any()


def test_ptq_of_float_weights():
    from fxp.nn.training import post_training_quantize, train
    with fxp.overflow_policy("ignore"):
        trained = train(_spec(epochs=2), log=None)
        floats = trained.network.float_weights()
        a = post_training_quantize(_spec(), floats)
        b = post_training_quantize(_spec(), floats)
        vectors, accuracy = a.vectors(), a.fixed_accuracy
    assert a.model.spec.to_yaml() == b.model.spec.to_yaml()
    assert all(np.array_equal(a.model.params[k], b.model.params[k]) for k in a.model.params)
    assert accuracy > 0.5 and len(vectors["inputs"]) > 100
