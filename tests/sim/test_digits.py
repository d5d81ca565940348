"""The digits example on Icarus and Verilator, parallel and folded (R = 4): bit-exact on the whole
test set, the extremes and random vectors; at full rate the parallel design takes a vector per cycle."""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from fxp.nn import Model, load_spec, load_vectors
from sim.golden import expected_outputs
from sim.interface import BenchResult
from sim.runner import run

from .artifacts import ROOT, trained, with_rtl

CONFIGS = {"parallel": dict(strategy="parallel"), "folded": dict(strategy="folded", reuse=4)}
VERILATOR_VECTORS = 2000
FULL_RATE_VECTORS = 500   # the rate check; bit-exactness on 2,000 is the backpressure run's
# Icarus needs ~20 ms (parallel) and ~40 ms (folded R=4, four cycles a vector) per clock cycle
# of these designs; both runs start first, in the background. The parallel one gets the full
# 2,000 random vectors (~1 min); the folded one 300 (~2 min: 2,000 took the suite to 13 min).
ICARUS_VECTORS = {"parallel": 2000, "folded": 300}
TIMEOUT = 900


@dataclass
class Digits:
    artifact: object
    designs: dict
    icarus: dict     # python -m sim DIR --sim icarus, running in the background


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The trained example with parallel and folded RTL; both Icarus runs start at once in the
    background (Icarus is single-threaded) while the tests build and run Verilator."""
    base = tmp_path_factory.mktemp("digits")
    art = trained(load_spec(os.path.join(ROOT, "examples", "digits_mlp.yaml")),
                  base / "digits_mlp")
    designs = {name: with_rtl(art, base / name, **kw) for name, kw in CONFIGS.items()}
    icarus = {name: subprocess.Popen([sys.executable, "-m", "sim", str(d), "--sim", "icarus",
                                      "--vectors", str(ICARUS_VECTORS[name])],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for name, d in designs.items()}
    yield Digits(art, designs, icarus)
    for proc in icarus.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _manifest(directory):
    return json.loads((directory / "rtl" / "manifest.json").read_text())


def test_golden_model_reproduces_the_artifact_vectors(digits):
    vec = load_vectors(digits.artifact)
    got, _ = expected_outputs(Model.load(digits.artifact), vec["inputs"])
    assert np.array_equal(got[:, 0], vec["outputs"])
    assert len(vec["inputs"]) == 359


@pytest.mark.parametrize("design", CONFIGS)
def test_verilator_bit_exact_under_backpressure(digits, design):
    result = run(digits.designs[design], "verilator", vectors=VERILATOR_VECTORS, seed=0)
    print(result.summary())
    bench = result.bench
    assert (bench.mismatches, bench.errors, bench.reports) == (0, [], [])
    assert bench.outputs == bench.vectors == 359 + VERILATOR_VECTORS


@pytest.mark.parametrize("design", CONFIGS)
def test_verilator_full_rate(digits, design):
    man = _manifest(digits.designs[design])
    result = run(digits.designs[design], "verilator", vectors=FULL_RATE_VECTORS, seed=3,
                 full_rate=True)
    print(result.summary())
    n, bench = 359 + FULL_RATE_VECTORS, result.bench
    assert (bench.mismatches, bench.errors) == (0, [])
    assert bench.cycles == (n - 1) * man["ii"] + man["latency"] + 1
    if design == "parallel":   # one vector per cycle: n cycles plus the pipeline's latency
        assert man["ii"] == 1 and bench.cycles == n + man["latency"]


@pytest.mark.parametrize("design", CONFIGS)
def test_icarus_bit_exact_under_backpressure(digits, design):
    proc = digits.icarus[design]
    out, err = proc.communicate(timeout=TIMEOUT)
    print(out, err)
    n = 359 + ICARUS_VECTORS[design]
    assert proc.returncode == 0, err
    assert re.fullmatch(rf"icarus: {n} vectors, 0 mismatches, \d+ cycles, \d+ vectors/s\n", out)
    bench = BenchResult.load(digits.designs[design] / "sim" / "icarus" / "result.json")
    assert bench.passed and bench.outputs == n
