"""leaky_relu in HLS C++: the kernel call and its config, and C simulation against the
emulator on the cocotb tests' leaky model (0 mismatches)."""

import shutil

import pytest

import fxp
from fxp.nn import Model, load_vectors, parse_spec
from hdl.hls.csim import run_csim
from hdl.hls.generate import generate_hls, render_hls

from .conftest import trained_artifact

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    from tests.sim.leaky import LEAKY
    return trained_artifact(tmp_path_factory, parse_spec(LEAKY), "leaky")


def test_kernel_call_and_config(leaky):
    files = render_hls(Model.load(leaky))
    top, params = files["firmware/leaky_mix.cpp"], files["firmware/parameters.h"]
    assert top.count("nnet::leaky_relu<") == 2
    assert params.count("static const unsigned shift = 3;") == 1
    assert params.count("static const unsigned shift = 5;") == 1
    assert "nnet/nnet_leaky_relu.h" in params + top
    assert "firmware/nnet/nnet_leaky_relu.h" in files


def test_leaky_csim_matches_emulator(leaky, tmp_path):
    d = tmp_path / "leaky"
    shutil.copytree(leaky, d)
    generate_hls(d)
    with fxp.overflow_policy("ignore"):
        result = run_csim(d, vectors=2000, seed=5)
    tests = len(load_vectors(leaky)["inputs"])
    assert result.summary == f"csim: {tests + 2000} vectors, 0 mismatches"
