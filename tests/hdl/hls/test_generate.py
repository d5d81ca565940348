"""HLS C++ generation: exact literals and types, deterministic atomic output, safe names, CLI."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fxp import FixedFormat
from fxp.nn import Model, SpecError, load_vectors, parse_spec
from fxp.nn.layers import argmax_format
from hdl.hls.generate import format_vectors, generate_hls, parse_vectors, raw_literal, render_hls
from hdl.hls.names import check_cpp_name

from .conftest import ROOT, random_artifact


formats = st.builds(lambda bits, ib, s: FixedFormat(bits, ib, s),
                    st.integers(1, 70), st.integers(-12, 80), st.booleans())


@given(raw=st.integers(-2**63, 2**63 - 1))
def test_raw_literal_is_a_long_long_expression(raw):
    lit = raw_literal(raw)
    assert re.fullmatch(r"-?\d+|\(-9223372036854775807 - 1\)", lit)
    assert eval(lit) == raw       # C++ reads it the same: every literal fits long long
    if re.fullmatch(r"-?\d+", lit):
        assert abs(int(lit)) < 2**63


def test_raw_literal_refuses_past_64_bits():
    with pytest.raises(ValueError, match=r"^Raw integer 9223372036854775808 does not fit 64 "
                                         r"bits$"):
        raw_literal(2**63)


def test_arrays_past_64_bits_are_refused():
    model = _named()
    dense = model.spec.layers[0]
    dense.weight = type(dense.weight)(fmt=FixedFormat(70, 2))
    dense.accumulator = type(dense.accumulator)(fmt=FixedFormat(120, 20))
    with pytest.raises(ValueError, match=r"^layer 0 \(dense\) weights: fixed<70,2> is wider than "
                                         r"the 64 bits that nnet::from_raw sets$"):
        render_hls(Model(model.spec, model.params))


@given(fmt=formats, data=st.data())
def test_vectors_round_trip_as_raw_bits(fmt, data):
    rows = data.draw(st.lists(st.lists(st.integers(fmt.raw_min, fmt.raw_max), min_size=3,
                                       max_size=3), min_size=1, max_size=4))
    text = format_vectors(rows, fmt)
    assert all(len(w) == -(-fmt.bits // 4) for w in text.split())
    assert parse_vectors(text, fmt, 3).tolist() == rows


def test_types_are_the_artifact_formats(small):
    model = Model.load(small)
    files = render_hls(model)
    defines = files["firmware/defines.h"]
    typedefs = dict((n, t) for t, n in re.findall(r"typedef (.+) (\w+);", defines))
    assert typedefs["input_t"] == model.input_format.c_type() == \
        "ap_ufixed<5,5,AP_TRN,AP_WRAP>"
    for layer in model.spec.layers:
        i = layer.index
        if layer.type == "dense":
            assert typedefs[f"weight{i}_t"] == layer.weight.fmt.c_type()
            assert typedefs[f"bias{i}_t"] == layer.bias.fmt.c_type()
            assert typedefs[f"accum{i}_t"] == layer.accumulator.fmt.c_type()
        out = argmax_format(10) if layer.type == "argmax" else layer.output.fmt
        assert typedefs[f"layer{i}_t"] == out.c_type()
    assert typedefs["output_t"] == "layer6_t"
    modes = " ".join(typedefs.values())
    for mode in ("SAT", "SAT_ZERO", "SAT_SYM", "WRAP", "WRAP_SM", "TRN", "TRN_ZERO", "RND",
                 "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV"):
        assert f"AP_{mode}>" in modes or f"AP_{mode}," in modes
    top = files["firmware/small_mix.cpp"]
    assert "void small_mix(const input_t in[N_IN], output_t out[N_OUT]) {" in top
    assert "layer0_t fc1[6];" in top and "layer3_t hidden[5];" in top   # layer names
    assert "nnet::lut<layer0_t, layer1_t, config1>(fc1, layer1_out, table1);" in top
    assert "nnet::argmax<layer5_t, output_t, config6>(layer5_out, out);" in top


def test_strategy_sets_reuse_and_ii(small):
    model = Model.load(small)
    par = render_hls(model)
    assert "NNET_HLS(PIPELINE II = 1)" in par["firmware/small_mix.cpp"]
    assert par["firmware/parameters.h"].count("static const unsigned reuse = 1;") == 3
    fold = render_hls(model, strategy="folded", reuse=3)
    assert "NNET_HLS(PIPELINE II = 3)" in fold["firmware/small_mix.cpp"]
    params = fold["firmware/parameters.h"]
    # 64 inputs: blocks of 22; 6 inputs: 2; 5 inputs: 2
    assert re.findall(r"reuse = (\d+);\n  static const unsigned block = (\d+);\n"
                      r"  static const unsigned multipliers = (\d+);", params) == \
        [("3", "22", "132"), ("3", "2", "10"), ("3", "2", "20")]
    assert par["firmware/weights.h"] == fold["firmware/weights.h"]


def test_generation_is_deterministic_and_atomic(small):
    model = Model.load(small)
    info = generate_hls(small, part="xcu250-figd2104-2L-e", clock_ns=4)
    first = {f: (small / "hls" / f).read_bytes() for f in info["files"]}
    assert info == {"name": "small_mix", "ii": 1, "files": sorted(first)}
    assert sorted(first) == [
        "build.tcl", "firmware/defines.h", "firmware/nnet/nnet_activation.h",
        "firmware/nnet/nnet_argmax.h", "firmware/nnet/nnet_common.h",
        "firmware/nnet/nnet_csim.h", "firmware/nnet/nnet_dense.h", "firmware/parameters.h",
        "firmware/small_mix.cpp", "firmware/small_mix.h", "firmware/weights.h",
        "tb/small_mix_tb.cpp", "tb/tb_expected.txt", "tb/tb_input.txt"]
    (small / "hls" / "stale.txt").write_text("from an older generation")
    generate_hls(small, part="xcu250-figd2104-2L-e", clock_ns=4)
    again = {f: (small / "hls" / f).read_bytes() for f in info["files"]}
    assert again == first
    assert not (small / "hls" / "stale.txt").exists()          # the folder is replaced whole
    assert not [p for p in os.listdir(small) if p.startswith(".hls")]
    vec = load_vectors(small)
    assert parse_vectors(first["tb/tb_input.txt"].decode(), model.input_format,
                         64).tolist() == vec["inputs"].tolist()
    assert parse_vectors(first["tb/tb_expected.txt"].decode(), model.output_format,
                         1).ravel().tolist() == vec["outputs"].tolist()
    tcl = first["build.tcl"].decode()
    assert "set part xcu250-figd2104-2L-e\nset clock_ns 4\n" in tcl
    for step in ("csim_design", "csynth_design", "export_design", "set_top small_mix"):
        assert step in tcl
    assert str(small) not in "".join(v.decode() for v in first.values())  # no absolute paths


@pytest.mark.parametrize("kw, message", [
    (dict(part="xc7z020; exec rm"), "FPGA part must be letters, digits, '_', '.' or '-', "
                                    "not 'xc7z020; exec rm'"),
    (dict(clock_ns=0), "Clock period must be a positive number of ns, not 0"),
    (dict(clock_ns="10"), "Clock period must be a positive number of ns, not '10'"),
])
def test_bad_tcl_parameters(small, kw, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        render_hls(Model.load(small), **kw)


@pytest.mark.parametrize("reuse", [0, -2, 1.5, True])
def test_bad_reuse(small, reuse):
    with pytest.raises(SpecError, match=rf"^layer 0 \(dense\) reuse: expected a positive "
                                        rf"integer, not {re.escape(repr(reuse))}$"):
        render_hls(Model.load(small), strategy="folded", reuse=reuse)


def test_reuse_beyond_the_inputs_is_an_error_naming_the_layer(small):
    with pytest.raises(SpecError, match=r"^layer 4 \(dense\): reuse 6 exceeds the layer's 5 "
                                        r"inputs \(a folded layer takes at most one input per "
                                        r"cycle\); set hardware.layers.4.reuse$"):
        render_hls(Model.load(small), strategy="folded", reuse=6)
    params = render_hls(Model.load(small), strategy="folded", reuse=5)["firmware/parameters.h"]
    assert re.findall(r"reuse = (\d+);", params) == ["5", "5", "5"]


def _named(model_name="net", layer_names=(None, None)):
    doc = {"name": model_name, "input": {"shape": [3], "format": "fixed<6,2>"},
           "layers": [{"type": "dense", "units": 2, "weight": "fixed<4,1>", "bias": "fixed<4,1>",
                       "accumulator": "fixed<14,6>", "output": "fixed<6,3>"},
                      {"type": "relu", "output": "ufixed<4,2>"}]}
    for layer, name in zip(doc["layers"], layer_names):
        if name is not None:
            layer["name"] = name
    spec = parse_spec(doc)
    return Model(spec, {"0.weight": np.zeros((2, 3), np.int64), "0.bias": np.zeros(2, np.int64)})


RESERVED = "is reserved in the generated C++"


@pytest.mark.parametrize("model_name, layer_names, message", [
    ("int", (None, None), "model name: 'int' is a C++ keyword"),
    ("class", (None, None), "model name: 'class' is a C++ keyword"),
    ("net", ("xor", None), "layer 0 (dense) field 'name': 'xor' is a C++ keyword"),
    ("net", (None, "in"), "layer 1 (relu) field 'name': 'in' collides with an identifier of "
                          "the generated C++"),
    ("net", ("w0", None), "layer 0 (dense) field 'name': 'w0' collides with an identifier of "
                          "the generated C++"),
    ("net", ("layer1_out", None), "layer 0 (dense) field 'name': 'layer1_out' collides with "
                                  "an identifier of the generated C++"),
    ("net", ("net", None), "layer 0 (dense) field 'name': 'net' collides with an identifier "
                           "of the generated C++"),
    ("config0", (None, None), "model name: 'config0' collides with an identifier of the "
                              "generated C++"),
    ("a__b", (None, None), f"model name: 'a__b' {RESERVED} (C++ reserves names with a "
                           f"leading or a double underscore)"),
    ("net_t", (None, None), f"model name: 'net_t' {RESERVED} (POSIX reserves names ending "
                            f"in _t; the generated types use them)"),
    ("NET", (None, None), f"model name: 'NET' {RESERVED} (all-capital names and a capital "
                          f"then an underscore are left to macros)"),
    ("net", ("stdout", None), f"layer 0 (dense) field 'name': 'stdout' {RESERVED} (the "
                              f"generated code or its headers use it)"),
    ("main", (None, None), f"model name: 'main' {RESERVED} (the generated code or its headers "
                           f"use it)"),
    ("ap_net", (None, None), f"model name: 'ap_net' {RESERVED} (the generated code or its "
                             f"headers use it)"),
])
def test_bad_names_are_rejected(model_name, layer_names, message):
    with pytest.raises(SpecError, match=f"^{re.escape(message)}$"):
        _named(model_name, layer_names)          # when the spec loads, before any training
    model = _named()                             # and generation checks a spec built otherwise
    model.spec.name = model_name
    for layer, name in zip(model.spec.layers, layer_names):
        layer.name = name
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        render_hls(model)


def test_leading_underscore_is_rejected():
    model = _named()
    model.spec.name = "_net"        # the spec parser already refuses it; generation checks too
    with pytest.raises(ValueError, match=r"^model name: '_net' is not a safe identifier "):
        render_hls(model)


def test_good_names_pass():
    files = render_hls(_named("Net2", ("fc", "act")))
    assert "void Net2(const input_t in[N_IN], output_t out[N_OUT]);" in \
        files["firmware/Net2.h"]
    assert "layer0_t fc[2];" in files["firmware/Net2.cpp"]
    assert check_cpp_name("relu_out", "x") == "relu_out"


def test_hls_cli(small, tmp_path_factory):
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, "-m", "hdl", "hls", str(small), "--strategy",
                          "folded", "--reuse", "2"], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"small_mix: II 2, 14 files -> {os.path.join(str(small), 'hls')}\n"
    bad = random_artifact(tmp_path_factory, _doc("net"), "badname")   # renamed by hand:
    (bad / "model.yaml").write_text((bad / "model.yaml").read_text().replace("name: net",
                                                                             "name: int"))
    run = subprocess.run([sys.executable, "-m", "hdl", "hls", str(bad)], capture_output=True,
                         text=True, env=env, cwd=ROOT)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == "error: model name: 'int' is a C++ keyword\n"


def _doc(name):
    return {"name": name, "input": {"shape": [2], "format": "fixed<6,2>"},
            "layers": [{"type": "dense", "units": 2, "weight": "fixed<4,1>",
                        "bias": "fixed<4,1>", "accumulator": "fixed<14,6>",
                        "output": "fixed<6,3>"}]}


def test_without_vectors_the_tcl_skips_csim():
    files = render_hls(_named())
    assert "tb/tb_input.txt" not in files and "tb/tb_expected.txt" not in files
    assert "csim_design" not in files["build.tcl"] and "csynth_design" in files["build.tcl"]
