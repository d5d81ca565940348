"""A regression model (train.loss: mse, no argmax: the output vector is the result) from the
bundled diabetes example: its RTL on Icarus matches the emulator bit for bit."""

import numpy as np
import pytest

from fxp.nn import Model
from sim.runner import run

from .artifacts import diabetes, with_rtl


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return diabetes(tmp_path_factory.mktemp("diabetes") / "diabetes_mlp")


def test_the_output_vector_is_the_result(artifact):
    model = Model.load(artifact)
    assert model.n_outputs == 1 and not model.spec.layers[-1].returns_index
    labels = np.load(artifact / "vectors.npz")["labels"]
    assert labels.dtype == np.float64 and labels.min() >= 25 and labels.max() <= 346


def test_regression_rtl_is_bit_exact_on_icarus(artifact, tmp_path):
    result = run(with_rtl(artifact, tmp_path / "rtl"), "icarus", vectors=300, seed=2)
    bench = result.bench
    assert (bench.mismatches, bench.errors, bench.reports) == (0, [], [])
    assert bench.outputs == bench.vectors > 300
