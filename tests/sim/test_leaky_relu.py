"""leaky_relu in the cocotb bench: a model with two leaky layers bit-exact on Icarus and
Verilator, the negative branch exercised."""

import pytest

import fxp
from fxp.nn import Model, parse_spec
from sim.golden import expected_outputs
from sim.runner import run
from sim.stimulus import stimulus

from .artifacts import trained, with_rtl
from .leaky import LEAKY


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    return trained(parse_spec(LEAKY), tmp_path_factory.mktemp("leaky") / "leaky_mix")


def test_negative_values_take_the_leaky_branch(leaky):
    model = Model.load(leaky)
    x = stimulus(model, leaky, 300, seed=0)
    with fxp.overflow_policy("ignore"):
        outs = model.forward(fxp.from_raw(x, model.input_format))
    for i in (1, 3):
        before, after = outs[i - 1].raw, outs[i].raw
        assert (before < 0).sum() > 100 and (after[before < 0] != 0).any()
    _, log = expected_outputs(model, x)
    assert log["layer 3 leaky_relu output"].count > 0     # WRAP_SM wraps: compared too


# Icarus is slow (~60 vectors/s here): the test set plus 200 random vectors there. The leaky
# block is the same in a folded design (the folded dense has its own benches).
@pytest.mark.parametrize("simulator, vectors", [("icarus", 200), ("verilator", 2000)])
def test_leaky_model_bit_exact(leaky, tmp_path, simulator, vectors):
    design = with_rtl(leaky, tmp_path / "design")
    result = run(design, simulator, vectors=vectors, seed=3)
    print(result.summary())
    bench = result.bench
    assert (bench.mismatches, bench.errors, bench.reports) == (0, [], [])
    assert bench.outputs == bench.vectors > vectors
