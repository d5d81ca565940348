"""A small model with both lookup tables and every overflow mode, bit-exact on Icarus and Verilator;
a design with one weight flipped is caught."""

import subprocess
import sys

import numpy as np
import pytest

import fxp
from fxp.nn import Model
from hdl.rtl.emit import generate_rtl
from sim.golden import expected_outputs
from sim.runner import run
from sim.stimulus import stimulus

from .artifacts import mixed_spec, trained, with_rtl

VECTORS = 2000


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return trained(mixed_spec(), tmp_path_factory.mktemp("mixed") / "mixed_modes")


@pytest.fixture(scope="module")
def designs(mixed, tmp_path_factory):
    base = tmp_path_factory.mktemp("mixed_rtl")
    return {"parallel": with_rtl(mixed, base / "parallel"),      # pipeline 2 from the spec
            "folded": with_rtl(mixed, base / "folded", strategy="folded", reuse=3)}


def test_every_overflow_mode_is_exercised(mixed):
    model = Model.load(mixed)
    _, log = expected_outputs(model, stimulus(model, mixed, VECTORS, seed=0))
    hit = {}
    for layer in model.spec.layers:
        if layer.type in ("dense", "relu"):
            rec = log[f"layer {layer.index} {layer.type} output"]
            hit[layer.output.fmt.overflow] = rec.count
    assert set(hit) == set(fxp.Overflow)
    assert all(count > 0 for count in hit.values()), hit
    assert {layer.type for layer in model.spec.layers} >= {"tanh", "sigmoid", "relu"}


# Icarus takes ~10 ms per cycle of the folded design (II = 3): fewer random vectors there
@pytest.mark.parametrize("simulator, strategy, vectors", [
    ("icarus", "parallel", VECTORS), ("verilator", "parallel", VECTORS),
    ("icarus", "folded", 200)])
def test_mixed_modes_bit_exact(designs, simulator, strategy, vectors):
    result = run(designs[strategy], simulator, vectors=vectors, seed=1)
    print(result.summary())
    bench = result.bench
    assert (bench.mismatches, bench.errors, bench.reports) == (0, [], [])
    assert bench.outputs == bench.vectors == 180 + vectors


def test_simulators_agree_cycle_for_cycle(designs):
    a = run(designs["parallel"], "icarus", vectors=200, seed=5, idle=0.5, stall=0.5)
    b = run(designs["parallel"], "verilator", vectors=200, seed=5, idle=0.5, stall=0.5)
    assert a.passed and b.passed
    assert a.bench.cycles == b.bench.cycles > 2 * a.bench.vectors


def _flip_top_bit(raw: int, bits: int) -> int:
    half = 1 << (bits - 1)
    return raw - half if raw >= 0 else raw + half


def test_one_flipped_weight_is_caught(mixed, tmp_path):
    model = Model.load(mixed)
    x = stimulus(model, mixed, 300, seed=2)
    want, _ = expected_outputs(model, x)
    # the first weight of layer 0 whose top bit, flipped, changes some outputs
    w = model.params["0.weight"]
    bits = model.weight(0).fmt.bits
    for unit, j in np.ndindex(w.shape):
        params = dict(model.params)
        params["0.weight"] = w.copy()
        params["0.weight"][unit, j] = _flip_top_bit(int(w[unit, j]), bits)
        got, _ = expected_outputs(Model(model.spec, params), x)
        changed = int((got != want).any(axis=1).sum())
        if changed:
            break
    assert changed > 0
    # RTL generated with that one weight flipped, next to the true artifact
    broken = with_rtl(mixed, tmp_path / "broken")
    good_verilog = (broken / "rtl" / "mixed_modes.v").read_text()
    np.savez(broken / "weights.npz", **params)
    generate_rtl(broken)
    np.savez(broken / "weights.npz", **model.params)
    assert (broken / "rtl" / "mixed_modes.v").read_text() != good_verilog

    result = run(broken, "icarus", vectors=300, seed=2)
    assert not result.passed
    assert result.bench.mismatches == changed
    first = int(np.flatnonzero((got != want).any(axis=1))[0])
    assert result.bench.reports[0] == (f"vector {first}: input {x[first].tolist()}, expected "
                                       f"{want[first].tolist()}, actual {got[first].tolist()}")
    r = subprocess.run([sys.executable, "-m", "sim", str(broken), "--vectors", "300", "--seed",
                        "2"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stdout.startswith(f"icarus: {len(x)} vectors, {changed} mismatches, ")
    assert r.stderr.splitlines()[0] == f"mismatch: {result.bench.reports[0]}"
