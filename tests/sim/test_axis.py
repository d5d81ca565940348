"""The AXI4-Stream wrapper on the real simulators, driven by cocotbext-axi with random TVALID
gaps and TREADY backpressure: the every-mode MLP on Icarus, a streamed 1-D CNN (12 beats in)
on Icarus, an image-out CNN (9 beats out) on Verilator, every output bit against the emulator;
misplaced TLASTs raise the sticky error and are counted exactly."""

import subprocess
import sys

import pytest

import fxp
from fxp.nn import write_artifact
from sim.axis import tlast_errors
from sim.runner import run_axis

from tests.hdl.rtl.test_stream import SEQUENCE, STREAM_OUT, _frames, _random_model

from .artifacts import mixed_spec, trained, with_rtl


def _check(result, vectors):
    bench = result.bench
    assert (bench.mismatches, bench.errors, bench.reports) == (0, [], [])
    assert bench.outputs == bench.vectors == vectors


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    art = trained(mixed_spec(), tmp_path_factory.mktemp("axis_mixed") / "mixed_modes")
    return with_rtl(art, tmp_path_factory.mktemp("axis_mixed_rtl") / "mixed_modes")


def _cnn(doc, directory, count=8):
    model = _random_model(doc, seed=5)
    x = _frames(model, count, seed=6)
    with fxp.overflow_policy("ignore"):       # random weights wrap their WRAP formats
        y = model.predict_raw(x)
    art = directory / doc["name"]
    write_artifact(art, model.spec, model.params, {"inputs": x, "outputs": y})
    return with_rtl(art, directory / "rtl" / doc["name"])


def test_tlast_reference_count():
    assert tlast_errors([1, 2, 1, 1], 1) == 1           # two vectors in one frame
    assert tlast_errors([4, 4], 4) == 0
    # a frame a beat short then one a beat long: TLAST on beat 2 of vector 1 and none on
    # its last beat; the long frame ends where vector 2 does
    assert tlast_errors([4, 3, 5, 4, 4], 4) == 2
    assert tlast_errors([4, 3, 4, 5], 4) == 4


def test_every_mode_mlp_through_axis_on_icarus(mixed):
    result = run_axis(mixed, "icarus", vectors=60, seed=1, idle=0.3, stall=0.3)
    _check(result, 180 + 60)


def test_misplaced_tlast_on_icarus(mixed):
    r = subprocess.run([sys.executable, "-m", "sim", str(mixed), "--axis", "--tlast"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("icarus: 5 vectors, 0 mismatches, ")


def test_streamed_cnn_through_axis_on_icarus(tmp_path):
    art = _cnn(SEQUENCE, tmp_path)                      # 12 beats of 3 lanes per input
    _check(run_axis(art, "icarus", vectors=10, seed=2), 18)
    result = run_axis(art, "icarus", vectors=0, seed=2, tlast=True)
    assert result.passed, result.bench.errors


def test_image_out_cnn_through_axis_on_verilator(tmp_path):
    art = _cnn(STREAM_OUT, tmp_path)                    # 25 beats in, 9 beats out
    _check(run_axis(art, "verilator", vectors=30, seed=3), 38)
    assert run_axis(art, "verilator", vectors=0, seed=3, tlast=True).passed
