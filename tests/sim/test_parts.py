"""The bench's pure-Python parts: payload packing, manifest ports, stimulus, settings, checker, errors."""

import itertools
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fxp.nn import Model, load_vectors
from hdl.hls.csim import random_inputs
from sim.checker import Checker
from sim.interface import BenchResult, BenchSettings
from sim.ports import ManifestError, PayloadLayout, TopPorts
from sim.runner import SimError, SimResult, check_artifact, run
from sim.stimulus import stimulus

from .artifacts import mixed_spec, trained, with_rtl


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return trained(mixed_spec(), tmp_path_factory.mktemp("parts") / "mixed_modes")


@pytest.fixture(scope="module")
def mixed_rtl(mixed, tmp_path_factory):
    return with_rtl(mixed, tmp_path_factory.mktemp("parts_rtl") / "mixed_modes")


# -- payload layout ---------------------------------------------------------------------------
@pytest.mark.parametrize("signed", [False, True])
def test_payload_round_trips_exhaustively(signed):
    layout = PayloadLayout(elements=3, width=3, signed=signed)
    values = range(-4, 4) if signed else range(8)
    for raw in itertools.product(values, repeat=3):
        word = layout.pack(raw)
        assert 0 <= word < 1 << 9
        assert layout.unpack(word) == list(raw)
        # element k at bits [3k+2 : 3k]
        assert all((word >> 3 * k) & 7 == raw[k] & 7 for k in range(3))


def test_payload_element_zero_is_in_the_low_bits():
    layout = PayloadLayout(elements=2, width=4, signed=True)
    assert layout.pack([-1, 2]) == 0x2F
    assert layout.unpack(0x8F) == [-1, -8]
    with pytest.raises(ValueError, match=r"^Payload needs 2 elements, not 3$"):
        layout.pack([1, 2, 3])


# -- manifest ---------------------------------------------------------------------------------
def test_ports_from_a_generated_manifest(mixed_rtl):
    man = json.loads((mixed_rtl / "rtl" / "manifest.json").read_text())
    ports = TopPorts.load(mixed_rtl / "rtl")
    model = Model.load(mixed_rtl)
    assert (ports.top, ports.clock, ports.reset) == ("mixed_modes", "clk", "rst")
    assert (ports.i.valid, ports.i.ready, ports.i.payload) == ("i__valid", "i__ready",
                                                               "i__payload")
    assert (ports.o.valid, ports.o.ready, ports.o.payload) == ("o__valid", "o__ready",
                                                               "o__payload")
    assert ports.i.layout == PayloadLayout(64, 5, False)
    assert ports.o.layout == PayloadLayout(10, model.output_format.bits, True)
    assert (ports.latency, ports.ii) == (man["latency"], man["ii"])


def test_manifest_errors(tmp_path):
    with pytest.raises(ManifestError, match=r"manifest.json: no such file$"):
        TopPorts.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ManifestError, match=rf"^{tmp_path}/manifest.json: missing field "
                                            rf"'schema'$"):
        TopPorts.load(tmp_path)    # the other checks: tests/hdl/rtl/test_manifest.py


# -- stimulus ---------------------------------------------------------------------------------
def test_stimulus_is_the_test_set_then_the_csim_random_vectors(mixed):
    model = Model.load(mixed)
    test = load_vectors(mixed)["inputs"]
    x = stimulus(model, mixed, 50, seed=7)
    assert x.shape == (len(test) + 50, 64) and x.dtype == np.int64
    assert np.array_equal(x[:len(test)], test)
    assert np.array_equal(x[len(test):], random_inputs(model.input_format, 64, 50, seed=7))
    ext = x[len(test):len(test) + 4]
    assert (ext[0] == 0).all() and (ext[1] == 31).all()
    assert (ext[2] == np.tile([0, 31], 32)).all() and (ext[3] == np.tile([31, 0], 32)).all()
    rand = x[len(test) + 4:]
    assert rand.min() >= 0 and rand.max() <= 31 and len(np.unique(rand)) == 32
    assert not np.array_equal(rand, stimulus(model, mixed, 50, seed=8)[len(test) + 4:])


# -- settings and results ---------------------------------------------------------------------
def test_settings_round_trip_through_the_environment():
    s = BenchSettings(artifact="/a", result="/r.json", vectors=12, seed=3, idle=0.0,
                      stall=0.0, full_rate=True)
    env = s.to_env()
    assert env["FXPGA_SIM_FULL_RATE"] == "1" and env["FXPGA_SIM_VECTORS"] == "12"
    assert BenchSettings.from_env(env) == s
    assert BenchSettings.from_env({"FXPGA_SIM_ARTIFACT": "/a", "FXPGA_SIM_RESULT": "/r"}) == \
        BenchSettings(artifact="/a", result="/r")
    with pytest.raises(KeyError, match="FXPGA_SIM_ARTIFACT is not set: run the testbench "
                                       "through sim.runner"):
        BenchSettings.from_env({})


@pytest.mark.parametrize("kw, message", [
    (dict(idle=1.0), r"^idle probability must be in \[0, 1\), not 1.0$"),
    (dict(stall=-0.1), r"^stall probability must be in \[0, 1\), not -0.1$"),
    (dict(vectors=-1), r"^Random vector count must be a non-negative integer, not -1$"),
    (dict(full_rate=True), r"^A full-rate run needs idle = stall = 0$"),
])
def test_settings_errors(kw, message):
    with pytest.raises(ValueError, match=message):
        BenchSettings(artifact="/a", result="/r", **kw)


def test_summary_line(tmp_path):
    bench = BenchResult(vectors=400, outputs=400, mismatches=2, cycles=415, seconds=0.5)
    assert SimResult("icarus", bench, tmp_path).summary() == \
        "icarus: 400 vectors, 2 mismatches, 415 cycles, 800 vectors/s"
    assert not bench.passed
    bench.save(tmp_path / "r.json")
    assert BenchResult.load(tmp_path / "r.json") == bench


# -- checker ----------------------------------------------------------------------------------
def test_checker_compares_every_bit_and_reports():
    layout = PayloadLayout(elements=2, width=4, signed=True)
    inputs = np.array([[1, 2], [3, 4], [5, 6]])
    expected = np.array([[-1, 7], [0, -8], [2, 2]])
    c = Checker(inputs, expected, layout)
    c.receive(layout.pack([-1, 7]), 5)
    c.receive(layout.pack([0, 7]), 6)           # one element off
    c.receive("xxxx0010", 9)                    # X in the payload
    assert (c.received, c.mismatches, c.extra, c.last_cycle, c.done) == (3, 2, 0, 9, True)
    assert c.reports == ["vector 1: input [3, 4], expected [0, -8], actual [0, 7]",
                         "vector 2: input [5, 6], expected [2, 2], actual xxxx0010"]
    c.receive(0, 10)
    assert (c.extra, c.mismatches) == (1, 2)
    with pytest.raises(ValueError, match=r"^Expected outputs shaped \(3, 2\) do not match 2 "
                                         r"inputs of 1 x 2 output elements$"):
        Checker(inputs[:2], expected, layout)


# -- errors -----------------------------------------------------------------------------------
def test_bad_artifacts_are_one_line_errors(tmp_path, mixed, mixed_rtl):
    with pytest.raises(SimError, match=rf"^{tmp_path}: not an artifact \(no model.yaml\)$"):
        check_artifact(tmp_path)
    with pytest.raises(SimError, match=rf"^{mixed}: no RTL yet \(rtl/manifest.json\); run "
                                       rf"python -m hdl rtl {mixed} first$"):
        check_artifact(mixed)
    other = tmp_path / "other"
    shutil.copytree(mixed_rtl, other)
    man = json.loads((other / "rtl" / "manifest.json").read_text())
    man["ports"]["o__payload"]["format"] = "ufixed<4,4>"
    (other / "rtl" / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(SimError, match=r": rtl/ does not match the model \(64 x ufixed<5,5> -> "
                                       r"10 x ufixed<4,4>, model 64 x ufixed<5,5> -> 10 x "
                                       r"fixed<6,0,RND,SAT>\); run python -m hdl rtl .* again$"):
        check_artifact(other)
    with pytest.raises(SimError, match=r"^Simulator must be one of icarus, verilator, not 'vcs'$"):
        run(mixed_rtl, "vcs")
    with pytest.raises(SimError, match=r"^idle probability must be in \[0, 1\), not 1.5$"):
        run(mixed_rtl, idle=1.5)


def test_cli_errors_are_one_line(tmp_path, mixed):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "sim", *map(str, args)],
                              capture_output=True, text=True)

    r = cli(tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"error: {tmp_path}: not an artifact (no model.yaml)\n"
    r = cli(mixed)
    assert r.returncode == 2
    assert r.stderr == (f"error: {mixed}: no RTL yet (rtl/manifest.json); run python -m hdl "
                        f"rtl {mixed} first\n")
    assert not os.path.exists(mixed / "sim")
