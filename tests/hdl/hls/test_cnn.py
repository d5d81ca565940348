"""CNN layers in HLS C++: conv2d/conv1d (valid and same, odd and even kernels, strides),
max/avg/global pools, flatten, softmax and the element-wise kernels on images, C-simulated
against the emulator (0 mismatches); the input layout; a broken conv weight is caught."""

import difflib
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fxp
from fxp.nn import Model, load_vectors, parse_spec
from fxp.nn.training import post_training_quantize
from hdl.hls.aptypes import ap_types_dir
from hdl.hls.csim import compile_csim, random_inputs, run_csim
from hdl.hls.generate import generate_hls, render_hls

from tests.hdl.rtl.test_stream import MIXED

from .conftest import ROOT, random_artifact

pytestmark = pytest.mark.oracle

RANDOM = 2000

# 11x8x3 images: an even kernel with stride 2 and padding same (1 row on top, 2 below; 1 column
# each side), an odd valid kernel with strides 2x1 (a leftover row dropped), leaky_relu and
# tanh on images, a 2x1 avgpool with stride 1, flatten, dense and softmax. The first
# accumulator is too narrow on purpose: it wraps.
IMAGE = {
    "name": "cnn_image", "input": {"shape": [11, 8, 3], "format": "fixed<6,2>"},
    "layers": [
        {"type": "conv2d", "filters": 5, "kernel": [4, 4], "stride": [2, 2], "padding": "same",
         "weight": "fixed<4,1,RND_CONV,SAT>", "bias": "fixed<6,2>",
         "accumulator": "fixed<12,5>", "output": "fixed<8,3,RND_INF,SAT_SYM>"},
        {"type": "leaky_relu", "alpha": 0.25, "output": "fixed<7,3,RND_ZERO,WRAP_SM>"},
        {"type": "conv2d", "name": "features", "filters": 4, "kernel": [3, 3], "stride": [2, 1],
         "weight": "fixed<5,2,TRN_ZERO,SAT_ZERO>", "bias": "fixed<7,3>",
         "accumulator": "fixed<24,12>", "output": "fixed<9,4,TRN_ZERO,SAT_ZERO>"},
        {"type": "tanh", "output": "fixed<6,1,RND_MIN_INF,SAT>", "table_bits": 7},
        {"type": "avgpool2d", "pool": [2, 1], "stride": [1, 1],
         "output": "fixed<7,1,RND,WRAP>"},
        {"type": "flatten"},
        {"type": "dense", "units": 6, "weight": "fixed<5,1,RND,SAT>", "bias": "fixed<8,3>",
         "accumulator": "fixed<20,8>", "output": "fixed<8,3,RND_CONV,SAT>"},
        {"type": "softmax", "output": "ufixed<7,0,RND_CONV,SAT>", "table_bits": 6},
    ],
}

# (12, 2) sequences: conv1d same with stride 2, relu, maxpool1d, conv1d valid with an even
# kernel and an accumulator past 64 bits, avgpool1d, then a softmax over the channels of every
# position (the output is an image).
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
         "accumulator": "fixed<72,30>", "output": "fixed<8,3,RND,WRAP>"},
        {"type": "avgpool1d", "pool": 2, "output": "fixed<8,3,RND_CONV,SAT>"},
        {"type": "softmax", "output": "ufixed<8,1,TRN,SAT>"},
    ],
}

AUTO = {"weight": "fixed<8,2,RND,SAT>", "bias": "fixed<12,6,RND,SAT>", "accumulator": "auto"}

# Digits as 8x8x1 images, post-training quantized from random float weights: a batchnorm
# folded into the first conv (per filter), maxpool2d, a valid conv, sigmoid on the image, a
# global average over its 2x2 pixels without an output format (the exact mean), flatten of a
# vector, dense and argmax.
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
         "output": "fixed<10,4,RND_CONV,SAT>"},
        {"type": "sigmoid", "output": "ufixed<8,0,RND_CONV,SAT>"},
        {"type": "global_avgpool"},
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
def digits_cnn(tmp_path_factory):
    rng = np.random.default_rng(5)
    fw = {"0.weight": rng.normal(0, 0.3, (4, 3, 3, 1)), "0.bias": rng.normal(0, 1, 4),
          "1.gamma": rng.uniform(0.5, 2, 4), "1.beta": rng.normal(0, 1, 4),
          "1.mean": rng.normal(0, 1, 4), "1.var": rng.uniform(0.5, 2, 4),
          "4.weight": rng.normal(0, 0.2, (6, 3, 3, 4)), "4.bias": rng.normal(0, 1, 6),
          "8.weight": rng.normal(0, 2, (10, 6)), "8.bias": rng.normal(0, 0.5, 10)}
    result = post_training_quantize(parse_spec(DIGITS), fw)
    out = tmp_path_factory.mktemp("digits_cnn") / "cnn_digits"
    result.model.save(out, result.vectors())
    return out


@pytest.fixture(scope="module")
def every_mode_cnn(tmp_path_factory):
    """The mixed every-mode CNN that Icarus and Verilator also run (tests/sim/test_cnn.py)."""
    return random_artifact(tmp_path_factory, MIXED, "every_mode_cnn", seed=3)


MODELS = ["image", "sequence", "digits_cnn", "every_mode_cnn"]


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


def test_cnn_projects_compile_warning_free(request, tmp_path):
    # the csim builds (-Werror -O2, C++17) say nothing; the image model (conv2d, leaky_relu,
    # lut, avgpool2d, flatten, dense, softmax) neither as C++14 with -Wall -Wextra (what
    # build.tcl compiles for Vitis HLS)
    for which in MODELS:
        d = _project(request.getfixturevalue(which), tmp_path)
        hls, name = d / "hls", Model.load(d).name
        assert compile_csim(hls, name)[1] == ""
        if which != "image":
            continue
        cmd = ["g++", "-std=c++14", "-fsyntax-only", "-Wall", "-Wextra", "-isystem",
               str(ap_types_dir()), f"-I{hls / 'firmware'}", str(hls / "firmware" / f"{name}.cpp")]
        run = subprocess.run(cmd, capture_output=True, text=True)
        assert (run.stdout + run.stderr, run.returncode) == ("", 0), " ".join(cmd)


def test_cnn_formats_cover_every_mode(image, sequence, digits_cnn):
    types = " ".join(render_hls(Model.load(a))["firmware/defines.h"]
                     for a in (image, sequence, digits_cnn))
    for mode in ("SAT", "SAT_ZERO", "SAT_SYM", "WRAP", "WRAP_SM", "TRN", "TRN_ZERO", "RND",
                 "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV"):
        assert f"AP_{mode}>" in types or f"AP_{mode}," in types, mode


def test_cnn_vectors_exercise_wrap_and_saturation(image):
    # what csim compares on does wrap (the narrow first accumulator) and saturate
    model = Model.load(image)
    x = random_inputs(model.input_format, model.n_inputs, RANDOM, 11)
    log = model.overflow_report(x.reshape(-1, *model.input_shape))
    assert log["layer 0 conv2d accumulator"].count > 0
    assert log["layer 0 conv2d output"].count > 0 and log["layer 2 conv2d output"].count > 0


def test_window_geometry_and_kernel_calls(image, sequence, digits_cnn):
    files = render_hls(Model.load(image))
    params, top = files["firmware/parameters.h"], files["firmware/cnn_image.cpp"]
    conv0 = params[params.index("struct config0"):params.index("struct config1")]
    # 11x8 input, 4x4 kernel, stride 2, same: 6x4 outputs; 3 rows of zeros (1 on top), 2
    # columns (1 on the left)
    values = dict(re.findall(r"static const unsigned (\w+) = (\d+);", conv0))
    assert values == {"in_h": "11", "in_w": "8", "n_chan": "3", "out_h": "6", "out_w": "4",
                      "kernel_h": "4", "kernel_w": "4", "stride_h": "2", "stride_w": "2",
                      "pad_top": "1", "pad_left": "1", "n_filt": "5", "taps": "48",
                      "reuse": "1"}
    assert "nnet::conv2d<input_t, layer0_t, config0>(in, layer0_out, w0, b0);" in top
    assert "nnet::conv2d<layer1_t, layer2_t, config2>(layer1_out, features, w2, b2);" in top
    assert "nnet::lut<layer2_t, layer3_t, config3>(features, layer3_out, table3);" in top
    assert "nnet::softmax<layer6_t, output_t, config7>(layer6_out, out, exp_table7, " \
           "recip_table7);" in top
    assert "static const weight0_t w0[5][48] = {\n    {  // filter 0\n" in \
        files["firmware/weights.h"]
    conv2 = params[params.index("struct config2"):params.index("struct config3")]
    assert "out_h = 2;" in conv2 and "out_w = 2;" in conv2 and "stride_h = 2;" in conv2
    # the top is not pipelined around the pixel loops: 24 + 4 + 2 pixels
    assert "PIPELINE" not in top and "(30 cycles per input)" in top
    assert "// in: one 11 x 8 x 3 input (channels last), row-major: in[(y * W + x) * C + c]" \
        in files["firmware/cnn_image.h"]
    seq = render_hls(Model.load(sequence))
    params = seq["firmware/parameters.h"]
    # conv1d as an (L, 1, C) image; softmax over the 3 channels of each of 2 positions
    conv0 = params[params.index("struct config0"):params.index("struct config1")]
    assert "in_w = 1;" in conv0 and "kernel_w = 1;" in conv0 and "in_h = 12;" in conv0
    assert re.search(r"static const unsigned n = 3;\n  static const unsigned rows = 2;", params)
    assert "in[l * C + c]" in seq["firmware/cnn_sequence.h"]
    glob = render_hls(Model.load(digits_cnn))["firmware/parameters.h"]
    gap = glob[glob.index("struct config6"):glob.index("struct config7")]
    assert "pool_h = 2;" in gap and "pool_w = 2;" in gap and "shift = 2;" in gap
    assert "out_h = 1;" in gap and "out_w = 1;" in gap
    assert "struct config1" not in glob           # the batchnorm is folded into the conv
    # a folded conv: its pixel loop at II = reuse, the cycles per input counted so
    folded = render_hls(Model.load(image), strategy="folded", reuse=3)
    conv0 = folded["firmware/parameters.h"]
    conv0 = conv0[conv0.index("struct config0"):conv0.index("struct config1")]
    assert "static const unsigned reuse = 3;" in conv0
    # 24 and 4 conv pixels at 3 cycles each, 2 pool pixels at 1
    assert "(86 cycles per input)" in folded["firmware/cnn_image.cpp"]


def test_cnn_generation_is_deterministic(digits_cnn):
    model = Model.load(digits_cnn)
    vectors = load_vectors(digits_cnn)
    first, again = render_hls(model, vectors=vectors), render_hls(Model.load(digits_cnn),
                                                                  vectors=vectors)
    assert first == again
    for header in ("nnet_conv.h", "nnet_pool.h", "nnet_flatten.h"):
        assert f"firmware/nnet/{header}" in first
    info = generate_hls(digits_cnn)
    assert info["ii"] == 64 + 16 + 4 + 1  # the pixels of conv, maxpool, conv, global pool
    assert {f: (digits_cnn / "hls" / f).read_text() for f in info["files"]} == first


def test_pixel_loops_are_pipelined_for_vitis(image, tmp_path):
    (tmp_path / "stub").mkdir()        # Vitis' own ap_int.h (the open-source one refuses
    (tmp_path / "stub" / "ap_int.h").write_text("")    # __SYNTHESIS__)
    for rel, text in render_hls(Model.load(image)).items():
        if rel.startswith("firmware/nnet/"):
            (tmp_path / rel.rsplit("/", 1)[1]).write_text(text)
    for header, loops in (("nnet_conv.h", 1), ("nnet_pool.h", 2), ("nnet_softmax.h", 1)):
        pre = subprocess.run(["g++", "-std=c++14", "-E", "-P", "-D__SYNTHESIS__",
                              f"-I{tmp_path / 'stub'}", "-x", "c++", str(tmp_path / header)],
                             capture_output=True, text=True, check=True).stdout
        assert pre.count("#pragma HLS PIPELINE II = 1") == loops, header


def test_new_identifiers_are_refused_as_layer_names():
    # the softmax tables' arrays are identifiers of the generated C++ too: refused when the
    # spec loads, before any training
    for table in ("recip_table5", "exp_table0"):
        doc = {**SEQUENCE, "layers": [dict(SEQUENCE["layers"][0], name=table),
                                      *SEQUENCE["layers"][1:]]}
        with pytest.raises(ValueError, match=rf"^layer 0 \(conv1d\) field 'name': '{table}' "
                                             r"collides with an identifier of the generated "
                                             r"C\+\+$"):
            parse_spec(doc)


def test_broken_conv_weight_is_caught(digits_cnn, tmp_path):
    d = _project(digits_cnn, tmp_path)
    model = Model.load(d)
    x = np.concatenate([load_vectors(d)["inputs"].reshape(-1, model.n_inputs),
                        random_inputs(model.input_format, model.n_inputs, RANDOM)])
    images = x.reshape(-1, *model.input_shape)
    before = model.predict_raw(images)
    # the second conv's largest-magnitude weight, negated (one line of weights.h)
    i = 4
    w = model.params[f"{i}.weight"].copy()
    idx = np.unravel_index(np.argmax(np.abs(w)), w.shape)
    fmt = model.weight(i).fmt
    w[idx] = -w[idx] if w[idx] != fmt.raw_min else fmt.raw_max
    broken = Model(model.spec, {**model.params, f"{i}.weight": w})
    changed = int((broken.predict_raw(images) != before).sum())
    assert changed > 0
    header = d / "hls" / "firmware" / "weights.h"
    old = header.read_text()
    new = render_hls(broken, vectors=load_vectors(d))["firmware/weights.h"]
    diff = [line for line in difflib.ndiff(old.splitlines(), new.splitlines())
            if line[:1] in "+-"]
    assert len(diff) == 2
    header.write_text(new)
    result = run_csim(d, vectors=RANDOM)
    assert result.summary == f"csim: {len(x)} vectors, {changed} mismatches"
    i0, want, got = result.first[0]
    assert want == [int(before[i0])] and got == [int(broken.predict_raw(images[i0]))]


def test_cnn_hls_and_csim_cli(sequence, tmp_path):
    d = tmp_path / sequence.name
    shutil.copytree(sequence, d)
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, "-m", "hdl", "hls", str(d)], capture_output=True,
                         text=True, env=env, cwd=ROOT)
    # pixels: 6, 5, 4 and 2 of the convs and pools, 2 of the softmax
    assert (run.returncode, run.stdout, run.stderr) == (
        0, f"cnn_sequence: II 19, 15 files -> {d / 'hls'}\n", "")
    run = subprocess.run([sys.executable, "-m", "hdl", "csim", str(d), "--vectors", str(RANDOM)],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    tests = len(load_vectors(d)["inputs"])
    assert (run.returncode, run.stdout, run.stderr) == (
        0, f"csim: {tests + RANDOM} vectors, 0 mismatches\n", "")
