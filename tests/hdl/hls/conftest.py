"""Artifacts shared by the HLS tests: the digits example, a small every-mode model, a wide one."""

import os

import numpy as np
import pytest

import fxp
from fxp.nn import Model, load_spec, parse_spec
from fxp.nn.layers import make_table
from fxp.nn.layers.softmax import softmax_tables
from fxp.nn.model import write_artifact
from fxp.nn.training import train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# The small model of tests/hdl/test_top.py (sigmoid and tanh tables, every quantization and
# overflow mode among its formats), with two named layers: names reach the C++.
SMALL = {
    "name": "small_mix", "data": {"dataset": "sklearn_digits", "test_fraction": 0.1, "seed": 2},
    "input": {"shape": [64], "format": "ufixed<5,5>"},
    "layers": [
        {"type": "dense", "name": "fc1", "units": 6, "weight": "fixed<4,1,RND_CONV,SAT>",
         "bias": "fixed<8,4,RND,SAT>", "accumulator": "auto",
         "output": "fixed<7,4,RND_INF,SAT_SYM>"},
        {"type": "tanh", "output": "fixed<6,1,RND_CONV,SAT>", "table_bits": 6},
        {"type": "dense", "units": 5, "weight": "fixed<5,2,TRN_ZERO,SAT_ZERO>",
         "bias": "fixed<6,2>", "accumulator": "auto", "output": "fixed<8,3,RND_ZERO,WRAP_SM>"},
        {"type": "relu", "name": "hidden", "output": "ufixed<5,2,RND_MIN_INF,SAT>"},
        {"type": "dense", "units": 10, "weight": "fixed<5,1,RND_CONV,SAT>",
         "bias": "fixed<8,3,RND_CONV,SAT>", "accumulator": "auto",
         "output": "fixed<9,4,TRN,WRAP>"},
        {"type": "sigmoid", "output": "ufixed<7,0,RND_CONV,SAT>"},
        {"type": "argmax"},
    ],
    "train": {"epochs": 3, "batch": 64, "lr": 0.01, "seed": 0},
    "hardware": {"strategy": "parallel", "pipeline": 2},
}

# Formats past 53 bits (weights a double cannot hold, accumulators past 64 bits), odd binary
# points (negative int_bits, int_bits beyond bits), a table of an unsigned input and a 64-bit
# WRAP_SM output.
WIDE = {
    "name": "wide", "input": {"shape": [5], "format": "fixed<40,2,TRN,WRAP>"},
    "layers": [
        {"type": "dense", "units": 4, "weight": "fixed<60,0,RND,SAT>",
         "bias": "fixed<62,-3,RND,SAT>", "accumulator": "fixed<114,16>",
         "output": "fixed<48,4,RND_CONV,SAT>"},
        {"type": "relu", "output": "ufixed<44,3,TRN_ZERO,SAT>"},
        {"type": "sigmoid", "output": "ufixed<20,0,RND_CONV,SAT>", "table_bits": 10},
        {"type": "dense", "units": 3, "weight": "fixed<58,1,RND,SAT>",
         "bias": "fixed<3,5,RND,SAT>", "accumulator": "fixed<100,20>",
         "output": "fixed<64,2,RND_INF,WRAP_SM>"},
    ],
}


def trained_artifact(tmp_path_factory, spec, name):
    """Train ``spec`` and write its artifact (with test vectors) to a fresh folder."""
    out = tmp_path_factory.mktemp(name) / spec.name
    with fxp.overflow_policy("ignore"):
        result = train(spec, log=None)
        vectors = result.vectors()
    write_artifact(out, result.model.spec, result.model.params, vectors)
    return out


def random_params(spec, rng) -> dict:
    """Random raw weights and biases for every tensor of the concrete spec ``spec`` (uniform
    over their formats) and the exact lookup tables of its activations and softmaxes."""
    params, shape, fmt = {}, tuple(spec.input_shape), spec.input_format
    for layer in spec.layers:
        tensors = {}
        for key, (size, f) in layer.tensors(shape, fmt).items():
            if key == "table":
                raw = make_table(layer.type, fmt, layer.output.fmt, layer.index_bits(fmt)).raw
            elif key in ("exp_table", "recip_table"):
                tables = softmax_tables(fmt, layer.output.fmt, shape[-1], layer.index_bits(fmt))
                raw = tables[key == "recip_table"].raw
            else:
                raw = rng.integers(f.raw_min, f.raw_max, size, endpoint=True)
            params[f"{layer.index}.{key}"] = raw
            tensors[key] = fxp.from_raw(raw, f)
        shape, fmt = layer.output_shape(shape), layer.output_format(shape, fmt, tensors)
    return params


def random_artifact(tmp_path_factory, doc, name, seed=0, count=64):
    """An artifact of the concrete spec ``doc`` with random weights and biases, the exact
    lookup tables of its activations (:func:`random_params`) and ``count`` random test
    vectors."""
    spec = parse_spec(doc)
    rng = np.random.default_rng(seed)
    model = Model(spec, random_params(spec, rng))
    fin = spec.input_format
    x = rng.integers(fin.raw_min, fin.raw_max, (count, *spec.input_shape), endpoint=True)
    with fxp.overflow_policy("ignore"):
        y = model.predict_raw(x)
    out = tmp_path_factory.mktemp(name) / spec.name
    write_artifact(out, spec, model.params, {"inputs": x, "outputs": y})
    return out


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    return trained_artifact(tmp_path_factory,
                            load_spec(os.path.join(ROOT, "examples", "digits_mlp.yaml")),
                            "digits")


@pytest.fixture(scope="session")
def small(tmp_path_factory):
    return trained_artifact(tmp_path_factory, parse_spec(SMALL), "small")


@pytest.fixture(scope="session")
def mixed(tmp_path_factory):
    """The cocotb tests' every-mode model (tests/sim/artifacts.py): both verifications run on it."""
    from tests.sim.artifacts import MIXED
    return trained_artifact(tmp_path_factory, parse_spec(MIXED), "mixed")


@pytest.fixture(scope="session")
def wide(tmp_path_factory):
    return random_artifact(tmp_path_factory, WIDE, "wide")
