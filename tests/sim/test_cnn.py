"""Streamed CNNs on the real simulators: the bundled digits CNN (one pixel per beat) on
Verilator at full rate (exactly the manifest's cycles), the mixed every-mode CNN (padding
same and valid, pools, flatten, dense, argmax) with random weights on Icarus under idle
cycles and backpressure and on Verilator at full rate, a 1-D model on Icarus, and a flipped
conv weight caught; every output bit against the emulator."""

import os

import numpy as np
import pytest

import fxp
from fxp.nn import Model, load_spec, load_vectors, write_artifact
from fxp.nn.training import train
from hdl.rtl.emit import generate_rtl
from hdl.rtl.manifest import Manifest
from sim.golden import expected_outputs
from sim.runner import run
from sim.stimulus import stimulus

from tests.hdl.rtl.test_stream import MIXED, SEQUENCE, _frames, _padded_ii, _random_model

from .artifacts import ROOT, with_rtl

TESTS = 12       # test vectors kept, then 40 random images


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory):
    spec = load_spec(os.path.join(ROOT, "examples", "digits_cnn.yaml"))
    spec.train["epochs"] = 2
    art = tmp_path_factory.mktemp("cnn") / "digits_cnn"
    result = train(spec, log=None)
    vec = {k: v[:TESTS] for k, v in result.vectors().items()}
    write_artifact(art, result.model.spec, result.model.params, vec)
    return with_rtl(art, tmp_path_factory.mktemp("cnn_rtl") / "digits_cnn")


def _check(result, frames):
    bench = result.bench
    assert (bench.mismatches, bench.errors, bench.reports) == (0, [], [])
    assert bench.outputs == bench.vectors == frames


def test_digits_cnn_on_verilator_at_full_rate(digits_cnn):
    man = Manifest.load(os.path.join(digits_cnn, "rtl"))
    assert (man.ii, man.input_beats, man.output_beats) == (64, 64, 1)   # a pixel per cycle
    result = run(digits_cnn, "verilator", vectors=40, seed=2, full_rate=True)
    _check(result, TESTS + 40)
    assert result.bench.cycles == (TESTS + 40 - 1) * 64 + man.latency + 1


@pytest.fixture(scope="module")
def every_mode_cnn(tmp_path_factory):
    """The mixed every-mode CNN (same and valid convs, pools, a table, dense, argmax) with
    random weights, 10 test images (the extremes first)."""
    model = _random_model(MIXED, seed=5)
    x = _frames(model, 10, seed=6)
    with fxp.overflow_policy("ignore"):      # random weights wrap their WRAP formats
        y = model.predict_raw(x)
    art = tmp_path_factory.mktemp("every_mode_cnn") / MIXED["name"]
    write_artifact(art, model.spec, model.params, {"inputs": x, "outputs": y})
    assert np.array_equal(load_vectors(art)["inputs"], x)
    return with_rtl(art, tmp_path_factory.mktemp("every_mode_cnn_rtl") / MIXED["name"])


def test_every_mode_cnn_on_icarus_under_backpressure(every_mode_cnn):
    _check(run(every_mode_cnn, "icarus", vectors=30, seed=3), 40)


def test_every_mode_cnn_on_verilator_at_full_rate(every_mode_cnn):
    # the first conv pads (same): a frame takes its padded 11 x 9 pixels, not 9 x 8
    man = Manifest.load(os.path.join(every_mode_cnn, "rtl"))
    assert (man.ii, man.input_beats) == (_padded_ii(Model.load(every_mode_cnn)), 72)
    assert man.ii == 99
    result = run(every_mode_cnn, "verilator", vectors=60, seed=4, full_rate=True)
    _check(result, 70)
    assert result.bench.cycles == (70 - 1) * man.ii + man.latency + 1


def test_conv1d_cnn_on_icarus_under_backpressure(tmp_path):
    # conv1d and the 1-D and global pools
    model = _random_model(SEQUENCE, seed=5)
    x = _frames(model, 10, seed=6)
    with fxp.overflow_policy("ignore"):
        y = model.predict_raw(x)
    art = tmp_path / SEQUENCE["name"]
    write_artifact(art, model.spec, model.params, {"inputs": x, "outputs": y})
    _check(run(with_rtl(art, tmp_path / "rtl"), "icarus", vectors=20, seed=3), 30)


def test_one_flipped_conv_weight_is_caught(tmp_path):
    model = _random_model(SEQUENCE, seed=5)
    art = tmp_path / "seq"
    write_artifact(art, model.spec, model.params)
    x = stimulus(model, art, 30, seed=4)
    want, _ = expected_outputs(model, x)
    # the first weight of the second conv whose top bit, flipped, changes some output
    key, w = "2.weight", model.params["2.weight"]
    bits = model.weight(2).fmt.bits
    for idx in np.ndindex(w.shape):
        params = {**model.params, key: w.copy()}
        half = 1 << (bits - 1)                       # the sign bit of the raw value
        params[key][idx] = int(w[idx]) - half if w[idx] >= 0 else int(w[idx]) + half
        got, _ = expected_outputs(Model(model.spec, params), x)
        changed = int((got != want).any(axis=1).sum())
        if changed:
            break
    assert changed > 0
    broken = tmp_path / "broken"
    write_artifact(broken, model.spec, params)
    generate_rtl(broken, output=art / "rtl")     # the flipped RTL next to the true model
    result = run(art, "icarus", vectors=30, seed=4, idle=0.1, stall=0.1)
    assert not result.passed and result.bench.mismatches == changed
