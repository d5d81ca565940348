"""C simulation: the generated C++, compiled with g++ against Xilinx's ap_types, computes the
emulator's bits on whole test sets plus random vectors; warning-free; breakage is caught."""

import difflib
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fxp
from fxp.nn import Model, load_vectors
from hdl.hls.aptypes import ap_types_dir
from hdl.hls.generate import generate_hls, parse_vectors, render_hls
from hdl.hls.csim import compile_csim, random_inputs, run_csim
from hdl.hls.names import check_cpp_name
from fxp.nn.names import IDENTIFIER

from .conftest import ROOT

pytestmark = pytest.mark.oracle

RANDOM = 2000


@pytest.fixture(autouse=True)
def _wrapping_is_intended():
    # the small and wide models' WRAP/WRAP_SM outputs overflow on purpose: the C++ wraps too
    with fxp.overflow_policy("ignore"):
        yield


def _project(artifact, tmp_path, **kw):
    """A copy of the artifact with its HLS project generated (configurations side by side)."""
    d = tmp_path / artifact.name
    shutil.copytree(artifact, d, ignore=shutil.ignore_patterns("hls", "rtl"))
    generate_hls(d, **kw)
    return d


@pytest.mark.parametrize("kw", [dict(strategy="parallel"), dict(strategy="folded", reuse=4)],
                         ids=["parallel", "folded-r4"])
def test_digits_csim_matches_emulator(digits, tmp_path, kw):
    d = _project(digits, tmp_path, **kw)
    result = run_csim(d, vectors=RANDOM)
    tests = len(load_vectors(digits)["inputs"])
    assert result.summary == f"csim: {tests + RANDOM} vectors, 0 mismatches"
    assert result.first == []


@pytest.mark.parametrize("which, kw, seed", [
    ("small", dict(), 7), ("small", dict(strategy="folded", reuse=3), 7),
    ("mixed", dict(), 3), ("mixed", dict(strategy="folded", reuse=4), 3)],
    ids=["small-parallel", "small-folded-r3", "cocotb-model-parallel", "cocotb-model-folded-r4"])
def test_every_mode_models_csim_match_emulator(which, kw, seed, request, tmp_path):
    # small: the RTL tests' model; mixed: the cocotb tests' (both verifications on one model)
    artifact = request.getfixturevalue(which)
    d = _project(artifact, tmp_path, **kw)
    result = run_csim(d, vectors=RANDOM, seed=seed)
    assert result.summary == f"csim: {len(load_vectors(artifact)['inputs']) + RANDOM} " \
                             f"vectors, 0 mismatches"


def test_small_model_exercises_every_mode(small):
    # the vectors csim compares on do saturate, wrap and round in the small model's layers
    model = Model.load(small)
    x = np.concatenate([load_vectors(small)["inputs"],
                        random_inputs(model.input_format, 64, RANDOM, 7)])
    log = model.overflow_report(x)
    text = str(log)
    for label in ("layer 0 dense output", "layer 2 dense output", "layer 4 dense output"):
        assert label in text


def test_wide_formats_csim(wide, tmp_path):
    # weights of 58 and 60 bits, accumulators past 64 bits, int_bits < 0 and > bits, a table
    # of an unsigned input, a 64-bit WRAP_SM output that overflows on every vector
    d = _project(wide, tmp_path)
    assert run_csim(d, vectors=300).summary == "csim: 364 vectors, 0 mismatches"


def _dump_program(model):
    """C++ printing the raw bits of every array of weights.h, in the artifact's order."""
    lines = ['#include "weights.h"', '#include "nnet/nnet_csim.h"', "#include <cstdio>",
             "int main() {"]
    for layer in model.spec.layers:
        i = layer.index
        if layer.type == "dense":
            arrays = [(f"w{i}", model.weight(i).shape), (f"b{i}", model.bias(i).shape)]
        elif layer.type in ("sigmoid", "tanh"):
            arrays = [(f"table{i}", model.table(i)[0].shape)]
        else:
            arrays = []
        for name, shape in arrays:
            index = "".join(f"[k{d}]" for d in range(len(shape)))
            loops = "".join(f"for (unsigned k{d} = 0; k{d} < {n}; k{d}++) "
                            for d, n in enumerate(shape))
            lines.append(f'  {loops}std::printf("%s\\n", nnet::to_hex({name}{index}).c_str());')
    return "\n".join(lines + ["}"]) + "\n"


@pytest.mark.parametrize("which", ["small", "wide"])
def test_weights_are_the_artifact_raw_integers(which, request, tmp_path):
    artifact = request.getfixturevalue(which)
    model = Model.load(artifact)
    fw = tmp_path / "firmware"
    for rel, text in render_hls(model).items():
        if rel.startswith("firmware/"):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(text)
    (tmp_path / "dump.cpp").write_text(_dump_program(model))
    exe = tmp_path / "dump"
    build = subprocess.run(["g++", "-std=c++17", "-O0", "-Wall", "-Wextra", "-Werror",
                            "-isystem", str(ap_types_dir()), f"-I{fw}", str(tmp_path / "dump.cpp"),
                            "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    got = iter(subprocess.run([str(exe)], capture_output=True, text=True,
                              check=True).stdout.split())
    for layer in model.spec.layers:
        i = layer.index
        if layer.type == "dense":
            tensors = [model.weight(i), model.bias(i)]
        elif layer.type in ("sigmoid", "tanh"):
            tensors = [model.table(i)[0]]
        else:
            continue
        for t in tensors:
            words = [next(got) for _ in range(t.raw.size)]
            raw = parse_vectors(" ".join(words), t.fmt, t.raw.size)[0]
            assert raw.tolist() == t.raw.ravel().tolist(), f"layer {i}"
    assert next(got, None) is None


def test_compiles_warning_free(small, tmp_path):
    # the small model instantiates every kernel (dense, relu, lut, argmax) and the testbench
    d = _project(small, tmp_path, strategy="folded", reuse=3)
    hls = d / "hls"
    # the csim build: -O2 -Wall -Wextra -Werror (minus two flow warnings that GCC raises
    # inside ap_types even through -isystem): no diagnostics at all
    _, diagnostics = compile_csim(hls, "small_mix")
    assert diagnostics == ""
    # plain g++ -std=c++17 -Wall -Wextra at -O0 (where those flow warnings do not run), and
    # -std=c++14 as build.tcl compiles for Vitis HLS: nothing either
    inc = ["-isystem", str(ap_types_dir()), f"-I{hls / 'firmware'}"]
    cmds = [["g++", std, opt, "-Wall", "-Wextra", *inc, "-c", str(src), "-o",
             str(tmp_path / f"{src.stem}{std}.o")]
            for std, opt in (("-std=c++17", "-O0"), ("-std=c++14", "-fsyntax-only"))
            for src in (hls / "firmware" / "small_mix.cpp", hls / "tb" / "small_mix_tb.cpp")]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for c in cmds]
    for cmd, proc in zip(cmds, procs):
        assert (proc.communicate()[0], proc.returncode) == ("", 0), " ".join(cmd)


def test_pragmas_reach_vitis(small):
    # under __SYNTHESIS__ (Vitis HLS) NNET_HLS(...) is #pragma HLS ...; for g++ nothing
    nnet = small.parent / "nnet_pp"
    files = render_hls(Model.load(small), strategy="folded", reuse=3)
    nnet.mkdir(exist_ok=True)
    for rel, text in files.items():
        if rel.startswith("firmware/nnet/"):
            (nnet / os.path.basename(rel)).write_text(text)
    pre = subprocess.run(["g++", "-std=c++14", "-E", "-P", "-D__SYNTHESIS__", "-x", "c++",
                          str(nnet / "nnet_dense.h")], capture_output=True, text=True,
                         check=True).stdout
    assert "#pragma HLS PIPELINE II = CONFIG_T::reuse" in pre
    assert "#pragma HLS ARRAY_PARTITION variable = weights cyclic factor = CONFIG_T::block " \
           "dim = 2" in pre
    assert "#pragma HLS ALLOCATION operation instances = mul limit = CONFIG_T::multipliers" \
        in pre
    assert pre.count("#pragma HLS UNROLL") == 5
    pre = subprocess.run(["g++", "-std=c++14", "-E", "-P", "-x", "c++",
                          str(nnet / "nnet_dense.h")], capture_output=True, text=True,
                         check=True).stdout
    assert "pragma" not in pre


def test_broken_weight_is_caught(small, tmp_path):
    d = _project(small, tmp_path)
    model = Model.load(d)
    x = np.concatenate([load_vectors(d)["inputs"], random_inputs(model.input_format, 64,
                                                                 RANDOM)])
    with fxp.overflow_policy("ignore"):
        before = model.predict_raw(x)
    # the output layer's largest-magnitude weight, negated (one line of weights.h)
    i = 4
    w = model.params[f"{i}.weight"].copy()
    o, j = np.unravel_index(np.argmax(np.abs(w)), w.shape)
    w[o, j] = -w[o, j] if w[o, j] != model.weight(i).fmt.raw_min else model.weight(i).fmt.raw_max
    broken = Model(model.spec, {**model.params, f"{i}.weight": w})
    with fxp.overflow_policy("ignore"):
        changed = int((broken.predict_raw(x) != before).sum())
    assert changed > 0
    header = d / "hls" / "firmware" / "weights.h"
    old = header.read_text()
    new = render_hls(broken, vectors=load_vectors(d))["firmware/weights.h"]
    diff = [line for line in difflib.ndiff(old.splitlines(), new.splitlines())
            if line[:1] in "+-"]
    assert len(diff) == 2                                  # one line of the header differs
    header.write_text(new)
    result = run_csim(d, vectors=RANDOM)
    assert result.summary == f"csim: {len(x)} vectors, {changed} mismatches"
    i0, want, got = result.first[0]
    assert want == [int(before[i0])] and got == [int(broken.predict_raw(x[i0:i0 + 1])[0])]


def test_csim_cli(small, tmp_path):
    d = _project(small, tmp_path)
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, "-m", "hdl", "csim", str(d), "--vectors", "25", "--seed", "3"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    n = len(load_vectors(d)["inputs"]) + 25
    assert (run.returncode, run.stdout, run.stderr) == (0, f"csim: {n} vectors, 0 mismatches\n",
                                                        "")
    # a kernel that breaks ties the wrong way is caught with exit status 1
    argmax = d / "hls" / "firmware" / "nnet" / "nnet_argmax.h"
    argmax.write_text(argmax.read_text().replace("data[i] > best", "data[i] >= best"))
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    m = re.fullmatch(rf"csim: {n} vectors, (\d+) mismatches\n", run.stdout)
    assert run.returncode == 1 and m and int(m[1]) > 0, run.stdout + run.stderr
    assert run.stderr.startswith("vector ")
    shutil.rmtree(d / "hls")
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == f"error: {d / 'hls'}: no firmware/small_mix.cpp; run python -m hdl " \
                         f"hls on the artifact first\n"


def test_macros_of_the_headers_are_rejected_names(tmp_path):
    # every identifier-like macro that the generated code's includes define is refused as a
    # model or layer name (it would be replaced by the preprocessor)
    src = tmp_path / "m.cpp"
    src.write_text("#include <ap_fixed.h>\n#include <ap_int.h>\n#include <cstdio>\n"
                   "#include <fstream>\n#include <sstream>\n#include <string>\n"
                   "#include <vector>\n")
    out = subprocess.run(["g++", "-std=c++17", "-dM", "-E", "-isystem", str(ap_types_dir()),
                          str(src)], capture_output=True, text=True, check=True).stdout
    names = {line.split()[1].split("(")[0] for line in out.splitlines()}
    names = sorted(n for n in names if IDENTIFIER.match(n))
    assert len(names) > 100           # the check below is not vacuous
    accepted = []
    for n in names:
        try:
            check_cpp_name(n, "name")
        except ValueError:
            continue
        accepted.append(n)
    assert accepted == []


def test_regression_model_csim_matches_emulator(tmp_path):
    # train.loss: mse: no argmax, the C++ outputs the vector itself
    from tests.sim.artifacts import diabetes
    d = diabetes(tmp_path / "diabetes_mlp")
    generate_hls(d)
    result = run_csim(d, vectors=500, seed=4)
    assert result.summary == f"csim: {len(load_vectors(d)['inputs']) + 500} vectors, " \
                             f"0 mismatches"
