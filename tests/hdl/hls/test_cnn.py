"""CNN layers in HLS C++: conv2d/conv1d (valid and same, odd and even kernels, strides),
max/avg/global pools, flatten, softmax and the element-wise kernels on images, C-simulated
against the emulator (0 mismatches); the input layout; a broken conv weight is caught."""

import difflib
import re
import shutil

import numpy as np
import pytest

import fxp
from fxp.nn import Model, load_vectors, parse_spec
from fxp.nn.training import post_training_quantize
from hdl.hls.csim import random_inputs, run_csim
from hdl.hls.generate import generate_hls, render_hls

from .conftest import random_artifact

pytestmark = pytest.mark.oracle

RANDOM = 2000

# 9x8x3 images: an even kernel with stride 2 and padding same (1 row on top, 2 below; 1 column
# each side), an odd valid kernel, leaky_relu and tanh on images, avgpool with a stride,
# flatten, dense and softmax. The first accumulator is too narrow on purpose: it wraps.
IMAGE = {
    "name": "cnn_image", "input": {"shape": [9, 8, 3], "format": "fixed<6,2>"},
    "layers": [
        {"type": "conv2d", "filters": 5, "kernel": [4, 4], "stride": [2, 2], "padding": "same",
         "weight": "fixed<4,1,RND_CONV,SAT>", "bias": "fixed<6,2>",
         "accumulator": "fixed<12,5>", "output": "fixed<8,3,RND_INF,SAT_SYM>"},
        {"type": "leaky_relu", "alpha": 0.25, "output": "fixed<7,3,RND_ZERO,WRAP_SM>"},
        {"type": "conv2d", "name": "features", "filters": 4, "kernel": [3, 3],
         "weight": "fixed<5,2,TRN_ZERO,SAT_ZERO>", "bias": "fixed<7,3>",
         "accumulator": "fixed<24,12>", "output": "fixed<9,4,TRN_ZERO,SAT_ZERO>"},
        {"type": "tanh", "output": "fixed<6,1,RND_MIN_INF,SAT>", "table_bits": 7},
        {"type": "avgpool2d", "pool": [2, 2], "stride": [1, 1],
         "output": "fixed<7,1,RND,WRAP>"},
        {"type": "flatten"},
        {"type": "dense", "units": 6, "weight": "fixed<5,1,RND,SAT>", "bias": "fixed<8,3>",
         "accumulator": "fixed<20,8>", "output": "fixed<8,3,RND_CONV,SAT>"},
        {"type": "softmax", "output": "ufixed<7,0,RND_CONV,SAT>", "table_bits": 6},
    ],
}

# (12, 2) sequences: conv1d same with stride 2, relu, maxpool1d, conv1d valid with an even
# kernel, then a softmax over the channels of every position (the output is an image).
SEQUENCE = {
    "name": "cnn_sequence", "input": {"shape": [12, 2], "format": "ufixed<6,3>"},
    "layers": [
        {"type": "conv1d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same",
         "weight": "fixed<5,1,RND,SAT>", "bias": "fixed<6,3,RND,SAT>",
         "accumulator": "fixed<16,8>", "output": "fixed<8,4,TRN,SAT>"},
        {"type": "relu", "output": "ufixed<6,3,RND_INF,SAT>"},
        {"type": "maxpool1d", "pool": 2, "stride": 1},
        {"type": "conv1d", "filters": 3, "kernel": 2,
         "weight": "fixed<4,1>", "bias": "fixed<5,2>",
         "accumulator": "fixed<16,8>", "output": "fixed<8,3,RND,WRAP>"},
        {"type": "avgpool1d", "pool": 2, "output": "fixed<8,3,RND_CONV,SAT>"},
        {"type": "softmax", "output": "ufixed<8,1,TRN,SAT>"},
    ],
}

# 4x4x2 images: an even kernel with padding same and stride 1 (0 rows before, 1 after), sigmoid,
# a global average over the 16 pixels without an output format (the exact mean), flatten of
# a vector, dense and argmax.
GLOBAL = {
    "name": "cnn_global", "input": {"shape": [4, 4, 2], "format": "fixed<7,3>"},
    "layers": [
        {"type": "conv2d", "filters": 3, "kernel": [2, 2], "padding": "same",
         "weight": "fixed<5,2,RND,SAT>", "bias": "fixed<6,3>",
         "accumulator": "fixed<20,9>", "output": "fixed<8,4,RND,SAT>"},
        {"type": "sigmoid", "output": "ufixed<6,0,RND_CONV,SAT>"},
        {"type": "global_avgpool"},
        {"type": "flatten"},
        {"type": "dense", "units": 4, "weight": "fixed<6,2,RND,SAT>", "bias": "fixed<6,2>",
         "accumulator": "fixed<24,8>", "output": "fixed<9,4,RND,SAT>"},
        {"type": "argmax"},
    ],
}

AUTO = {"weight": "fixed<8,2,RND,SAT>", "bias": "fixed<12,6,RND,SAT>", "accumulator": "auto"}

# Digits as 8x8x1 images, post-training quantized from random float weights: a batchnorm
# folded into the first conv (per filter), maxpool2d, a valid conv, flatten, dense, argmax.
DIGITS = {
    "name": "cnn_digits", "data": {"dataset": "sklearn_digits", "test_fraction": 0.1, "seed": 1},
    "input": {"shape": [8, 8, 1], "format": "ufixed<5,5>"},
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel": [3, 3], "padding": "same", **AUTO,
         "output": "fixed<12,6,RND,SAT>"},
        {"type": "batchnorm", "eps": 0.01},
        {"type": "relu", "output": "ufixed<8,5,RND,SAT>"},
        {"type": "maxpool2d", "pool": [2, 2]},
        {"type": "conv2d", "filters": 6, "kernel": [3, 3], "stride": [1, 1], **AUTO,
         "output": "fixed<10,6,RND_CONV,SAT>"},
        {"type": "flatten"},
        {"type": "dense", "units": 10, **AUTO, "output": "fixed<12,6>"},
        {"type": "argmax"},
    ],
}


@pytest.fixture(autouse=True)
def _wrapping_is_intended():
    with fxp.overflow_policy("ignore"):
        yield


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return random_artifact(tmp_path_factory, IMAGE, "image", seed=1)


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    return random_artifact(tmp_path_factory, SEQUENCE, "sequence", seed=2)


@pytest.fixture(scope="module")
def global_pool(tmp_path_factory):
    return random_artifact(tmp_path_factory, GLOBAL, "global", seed=3)


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory):
    rng = np.random.default_rng(5)
    fw = {"0.weight": rng.normal(0, 0.3, (4, 3, 3, 1)), "0.bias": rng.normal(0, 1, 4),
          "1.gamma": rng.uniform(0.5, 2, 4), "1.beta": rng.normal(0, 1, 4),
          "1.mean": rng.normal(0, 1, 4), "1.var": rng.uniform(0.5, 2, 4),
          "4.weight": rng.normal(0, 0.2, (6, 3, 3, 4)), "4.bias": rng.normal(0, 1, 6),
          "6.weight": rng.normal(0, 0.2, (10, 24)), "6.bias": rng.normal(0, 0.5, 10)}
    result = post_training_quantize(parse_spec(DIGITS), fw)
    out = tmp_path_factory.mktemp("digits_cnn") / "cnn_digits"
    result.model.save(out, result.vectors())
    return out


MODELS = ["image", "sequence", "global_pool", "digits_cnn"]


def _project(artifact, tmp_path):
    d = tmp_path / artifact.name
    shutil.copytree(artifact, d, ignore=shutil.ignore_patterns("hls", "rtl"))
    generate_hls(d)
    return d


@pytest.mark.parametrize("which", MODELS)
def test_cnn_csim_matches_emulator(which, request, tmp_path):
    artifact = request.getfixturevalue(which)
    d = _project(artifact, tmp_path)
    result = run_csim(d, vectors=RANDOM, seed=11)
    tests = len(load_vectors(artifact)["inputs"])
    assert result.summary == f"csim: {tests + RANDOM} vectors, 0 mismatches"
