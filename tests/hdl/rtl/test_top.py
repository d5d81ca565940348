# amaranth: UnusedElaboratable=no
"""The model top and python -m hdl rtl: bit-exact on whole test sets, deterministic Verilog,
Verilator lint clean with the documented waivers, synthesizable with synth_ecp5."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from amaranth.hdl import Fragment

import fxp
from fxp.nn import Model, load_spec, load_vectors, parse_spec
from fxp.nn.training import train
from hdl.rtl.emit import generate_rtl
from hdl.flow.synth import synth_ecp5
from hdl.rtl.top import ModelTop

from .streamsim import run_stream

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
WAIVERS = os.path.join(ROOT, "templates", "rtl", "verilator.vlt")

SMALL = {
    "name": "small_mix", "data": {"dataset": "sklearn_digits", "test_fraction": 0.1, "seed": 2},
    "input": {"shape": [64], "format": "ufixed<5,5>"},
    "layers": [
        {"type": "dense", "units": 6, "weight": "fixed<4,1,RND_CONV,SAT>",
         "bias": "fixed<8,4,RND,SAT>", "accumulator": "auto",
         "output": "fixed<7,4,RND_INF,SAT_SYM>"},
        {"type": "tanh", "output": "fixed<6,1,RND_CONV,SAT>", "table_bits": 6},
        {"type": "dense", "units": 5, "weight": "fixed<5,2,TRN_ZERO,SAT_ZERO>",
         "bias": "fixed<6,2>", "accumulator": "auto", "output": "fixed<8,3,RND_ZERO,WRAP_SM>"},
        {"type": "relu", "output": "ufixed<5,2,RND_MIN_INF,SAT>"},
        {"type": "dense", "units": 10, "weight": "fixed<5,1,RND_CONV,SAT>",
         "bias": "fixed<8,3,RND_CONV,SAT>", "accumulator": "auto",
         "output": "fixed<9,4,TRN,WRAP>"},
        {"type": "sigmoid", "output": "ufixed<7,0,RND_CONV,SAT>"},
        {"type": "argmax"},
    ],
    "train": {"epochs": 3, "batch": 64, "lr": 0.01, "seed": 0},
    "hardware": {"strategy": "parallel", "pipeline": 2},
}


@pytest.fixture(autouse=True)
def _wrapping_is_intended():
    # the small model's WRAP/WRAP_SM outputs overflow on purpose: the hardware must wrap too
    with fxp.overflow_policy("ignore"):
        yield


def _artifact(tmp_path_factory, spec, name):
    out = tmp_path_factory.mktemp(name) / spec.name
    with fxp.overflow_policy("ignore"):
        result = train(spec, log=None)
        vectors = result.vectors()
    from fxp.nn.model import write_artifact
    write_artifact(out, result.model.spec, result.model.params, vectors)
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return _artifact(tmp_path_factory, parse_spec(SMALL), "small")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return _artifact(tmp_path_factory, load_spec(os.path.join(ROOT, "examples",
                                                              "digits_mlp.yaml")), "digits")


@pytest.mark.parametrize("kw", [dict(strategy="parallel", pipeline=0),
                                dict(strategy="parallel", pipeline=2),
                                dict(strategy="folded", reuse=3)], ids=str)
def test_small_top_matches_model_under_stalls(small, kw):
    model = Model.load(small)
    vec = load_vectors(small)
    rng = np.random.default_rng(1)
    fin = model.input_format
    rand = rng.integers(fin.raw_min, fin.raw_max, (60, model.n_inputs), endpoint=True)
    x = np.concatenate([vec["inputs"], rand])
    got, _ = run_stream(ModelTop(model=model, **kw), x.tolist(), idle=0.3, stall=0.3)
    assert np.array_equal(np.array(got).reshape(-1), model.predict_raw(x))


@pytest.mark.parametrize("kw", [dict(strategy="parallel"), dict(strategy="folded", reuse=4)],
                         ids=["parallel", "folded-r4"])
def test_digits_top_on_full_test_set(digits, kw):
    model = Model.load(digits)
    vec = load_vectors(digits)
    top = ModelTop(model=model, **kw)
    got, cycles = run_stream(top, vec["inputs"].tolist(), idle=0.1, stall=0.1)
    assert np.array_equal(np.array(got).reshape(-1), vec["outputs"])


def test_parallel_top_sustains_one_vector_per_cycle(digits):
    model = Model.load(digits)
    vec = load_vectors(digits)
    top = ModelTop(model=model, strategy="parallel")
    n = 64
    got, cycles = run_stream(top, vec["inputs"][:n].tolist(), idle=0.0, stall=0.0)
    assert np.array_equal(np.array(got).reshape(-1), vec["outputs"][:n])
    assert top.ii == 1 and cycles == top.latency + n


def test_rtl_is_deterministic_and_lint_clean(small, tmp_path):
    man = generate_rtl(small)
    v = (small / "rtl" / "small_mix.v").read_bytes()
    m1 = (small / "rtl" / "manifest.json").read_bytes()
    generate_rtl(small)
    assert (small / "rtl" / "small_mix.v").read_bytes() == v
    assert (small / "rtl" / "manifest.json").read_bytes() == m1
    assert json.loads(m1) == man.to_dict() and json.loads(m1)["schema"] == 1
    man = man.to_dict()
    ports = man["ports"]
    assert ports["i__payload"]["width"] == 64 * 5 and ports["i__payload"]["format"] == "ufixed<5,5>"
    assert ports["o__payload"]["width"] == 4 and ports["o__payload"]["format"] == "ufixed<4,4>"
    assert ports["i__ready"]["direction"] == "out" and ports["o__ready"]["direction"] == "in"
    assert [row["block"] for row in man["layers"]] == [
        "DenseParallel", "LUT", "DenseParallel", "ReLU", "DenseParallel", "LUT", "Argmax"]
    # every block is parallel: all run free into the output FIFO (one more cycle)
    assert man["output_fifo"] == {"depth": sum(row["latency"] for row in man["layers"]) + 2,
                                  "latency": 1}
    assert man["latency"] == sum(row["latency"] for row in man["layers"]) + 1 and man["ii"] == 1
    for port in ("clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid", "o__ready",
                 "o__payload"):
        assert port in v.decode()
    r = subprocess.run(["verilator", "--lint-only", "-Wall", WAIVERS,
                        str(small / "rtl" / "small_mix.v")], capture_output=True, text=True)
    assert r.returncode == 0 and "%Warning" not in r.stderr and "%Error" not in r.stderr, \
        r.stderr[:2000]


def test_rtl_synthesizes_for_ecp5(small):
    generate_rtl(small, strategy="folded", reuse=4)
    cells = synth_ecp5(small / "rtl" / "small_mix.v", "small_mix")
    man = json.loads((small / "rtl" / "manifest.json").read_text())
    macs = sum(row["units"] * -(-row["inputs"] // row["reuse"]) for row in man["layers"]
               if row["type"] == "dense")
    assert cells["LUT4"] > 0 and cells["TRELLIS_FF"] > 0
    assert 0 < cells.get("MULT18X18D", 0) <= macs


def test_cli_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hdl", "rtl", str(tmp_path)], capture_output=True,
                       text=True)
    assert r.returncode == 2
    assert r.stderr == f"error: {tmp_path}: not an artifact (no model.yaml)\n"
    assert not (tmp_path / "rtl").exists()


@pytest.mark.parametrize("name", ["module", "wire", "always_ff", "rst"])
def test_model_names_that_would_break_verilog_are_rejected(small, tmp_path, name):
    import shutil
    art = tmp_path / "art"
    shutil.copytree(small, art, ignore=shutil.ignore_patterns("rtl"))
    text = (art / "model.yaml").read_text().replace("name: small_mix", f"name: {name}")
    (art / "model.yaml").write_text(text)
    with pytest.raises(ValueError) as info:
        generate_rtl(art)
    assert str(info.value) == (f"model name {name!r} is a Verilog keyword or a port name; "
                               f"rename the model")
    assert not (art / "rtl").exists()


def test_per_layer_hardware_overrides(small):
    doc = Model.load(small).spec.dump()
    doc["hardware"] = {"strategy": "parallel", "pipeline": 1,
                       "layers": {0: {"strategy": "folded", "reuse": 4}, 4: {"pipeline": 0}}}
    model = Model(parse_spec(doc), Model.load(small).params)
    top = ModelTop(model=model)
    kinds = [(i, type(b).__name__) for i, b in top.blocks]
    assert kinds[0] == (0, "DenseFolded") and kinds[2] == (2, "DenseParallel")
    assert top.blocks[0][1].reuse == 4 and top.blocks[2][1].pipeline == 1
    assert top.blocks[4][1].pipeline == 0 and top.ii == 4
    argmax = top.blocks[-1][1]               # the model's pipeline, not a dense override
    assert type(argmax).__name__ == "Argmax" and argmax.pipeline == 1 and argmax.all_pairs
    assert argmax.latency == 2                # all pairs: the comparisons, then the index
    relu = top.blocks[3][1]
    assert type(relu).__name__ == "ReLU" and relu.registered and relu.latency == 1
    for pipeline, latency in ((3, 2), (0, 0)):
        other = ModelTop(model=model, pipeline=pipeline)
        assert other.blocks[-1][1].latency == latency
        assert other.blocks[3][1].registered == (pipeline > 0)
        Fragment.get(other, None)            # elaborated: amaranth warns of unused tops
    vec = load_vectors(small)
    got, _ = run_stream(top, vec["inputs"][:40].tolist(), idle=0.2, stall=0.2)
    assert np.array_equal(np.array(got).reshape(-1), vec["outputs"][:40])
