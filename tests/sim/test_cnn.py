"""Streamed CNNs on the real simulators: the bundled digits CNN (one pixel per beat) on Icarus
under idle cycles and backpressure and on Verilator at full rate (exactly the manifest's
cycles), and a 1-D conv/pool model with random weights; every output bit against the
emulator."""

import os

import numpy as np
import pytest

from fxp.nn import load_spec, load_vectors, write_artifact
from fxp.nn.training import train
from hdl.rtl.manifest import Manifest
from sim.runner import run

from tests.hdl.rtl.test_stream import SEQUENCE, _frames, _random_model

from .artifacts import ROOT, with_rtl

TESTS = 12       # test vectors kept: Icarus takes about a second per 8x8 image


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


def test_digits_cnn_on_icarus_under_backpressure(digits_cnn):
    _check(run(digits_cnn, "icarus", vectors=8, seed=1), TESTS + 8)


def test_digits_cnn_on_verilator_at_full_rate(digits_cnn):
    man = Manifest.load(os.path.join(digits_cnn, "rtl"))
    assert (man.ii, man.input_beats, man.output_beats) == (64, 64, 1)   # a pixel per cycle
    result = run(digits_cnn, "verilator", vectors=40, seed=2, full_rate=True)
    _check(result, TESTS + 40)
    assert result.bench.cycles == (TESTS + 40 - 1) * 64 + man.latency + 1


def test_conv1d_model_on_icarus(tmp_path):
    model = _random_model(SEQUENCE, seed=5)
    x = _frames(model, 10, seed=6)
    art = tmp_path / "seq"
    write_artifact(art, model.spec, model.params,
                   {"inputs": x, "outputs": model.predict_raw(x)})
    assert np.array_equal(load_vectors(art)["inputs"], x)
    _check(run(with_rtl(art, tmp_path / "seq_rtl"), "icarus", vectors=30, seed=3), 40)
