# amaranth: UnusedElaboratable=no
"""python -m hdl report / sweep: report structure, per-block cells summing to the total,
latency in ns from fmax, the Markdown table against the JSON, sweep points and their cache,
one-line errors. Synthesis and a real ECP5 place and route (~20 s) of a tiny model."""

import copy
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

import fxp
from fxp.nn import Model, load_vectors, parse_spec
from fxp.nn.model import write_artifact
from fxp.nn.training import train
from hdl.__main__ import main
from hdl.flow import pnr, synth
from hdl.flow import report as rp
from hdl.flow.harness import IOWrapper, wrapper_verilog
from hdl.flow.markdown import report_markdown
from hdl.flow.progress import Progress
from hdl.flow.sweep import parse_bits, point_spec, run_sweep
from hdl.rtl.manifest import Manifest

TINY = {
    "name": "tiny_rep", "data": {"dataset": "sklearn_digits", "test_fraction": 0.2, "seed": 0},
    "input": {"shape": [64], "format": "ufixed<5,5>"},
    "layers": [
        {"type": "dense", "units": 4, "weight": "fixed<4,1,RND_CONV,SAT>",
         "bias": "fixed<8,4,RND_CONV,SAT>", "accumulator": "auto",
         "output": "fixed<8,4,RND_CONV,SAT>"},
        {"type": "relu", "output": "ufixed<6,3,RND_CONV,SAT>"},
        {"type": "dense", "units": 10, "weight": "fixed<4,1,RND_CONV,SAT>",
         "bias": "fixed<8,4,RND_CONV,SAT>", "accumulator": "auto",
         "output": "fixed<8,4,RND_CONV,SAT>"},
        {"type": "argmax"},
    ],
    "train": {"epochs": 2, "batch": 64, "lr": 0.01, "seed": 0},
    "hardware": {"strategy": "parallel"},
}
FAKE_FMAX = 123.45


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "tiny_rep"
    with fxp.overflow_policy("ignore"):
        r = train(parse_spec(TINY), log=None)
        write_artifact(out, r.model.spec, r.model.params, r.vectors(),
                       extra_files={"metrics.json": json.dumps(r.metrics()) + "\n"})
    return out


@pytest.fixture(scope="module")
def report(artifact):
    """A real ECP5 synthesis (with the serial I/O wrapper) and a stand-in place and route."""
    calls = []

    def fake_pnr(netlist, device, **kw):
        calls.append((device, kw))
        assert os.path.getsize(netlist) > 0
        return {"device": pnr.ECP5_DEVICES[device][0], "fmax_mhz": {"clk": FAKE_FMAX},
                "utilization": {"TRELLIS_FF": [10, 24288]}, "seconds": 0.0,
                "critical_path": {"logic_ns": 1.0, "routing_ns": 2.0, "total_ns": 3.0,
                                  "cells": ["i__payload_q_TRELLIS_FF_Q",
                                            "dut.layer0_denseparallel.x", "$nextpnr_CCU2C_1",
                                            "dut.layer2_denseparallel.y"]}}

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pnr, "place_route_ecp5", fake_pnr)
        rep = rp.build_report(artifact, targets=("ecp5",), progress=Progress(stream=None))
    paths = rp.write_report(rep, artifact / "report")
    assert calls and calls[0][0] == "25k" and calls[0][1]["out_of_context"] is False
    assert {k: calls[0][1][k] for k in ("router", "placer", "timing_driven", "seed")} == \
        {"router": "router1", "placer": "static", "timing_driven": True, "seed": 1}
    return rep, paths


def test_report_files_and_structure(report, artifact):
    rep, paths = report
    assert json.loads((artifact / "report" / "report.json").read_text()) == rep
    assert os.path.getsize(paths["plot"]) > 1000
    with open(paths["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert rep["schema"] == "fxpga.report/1" and rep["name"] == rep["top"] == "tiny_rep"
    assert set(rep["synthesis"]) == {"ecp5"}
    # the ReLU is computed by the dense layer before it (hdl.rtl.blocks.fused_relu)
    assert [(r["index"], r["block"]) for r in rep["layers"]] == [
        (0, "DenseParallel"), (2, "DenseParallel"), (3, "Argmax"), (None, "SyncFIFO")]
    assert [r["module"] for r in rep["layers"]] == [
        "tiny_rep_layer0_dense", "tiny_rep_layer2_dense", "tiny_rep_layer3_argmax",
        "tiny_rep_out_fifo"]
    assert rep["layers"][-1]["depth"] == sum(r["latency"] for r in rep["layers"][:-1]) + 2
    ecp5 = rep["synthesis"]["ecp5"]
    assert ecp5["resources"]["lut"] == ecp5["cells"]["LUT4"] + 2 * ecp5["cells"].get("CCU2C", 0)
    assert ecp5["resources"]["ff"] == ecp5["cells"]["TRELLIS_FF"] > 0
    assert rep["layers"][0]["resources"]["ecp5"]["ff"] > 0       # the pipelined adder tree
    assert rep["pnr"]["device"] == "LFE5U-25F" and rep["pnr"]["io"] == "serial"
    assert rep["pnr"]["critical_path"]["blocks"] == ["io", "layer0_denseparallel",
                                                    "layer2_denseparallel"]
    assert 0 <= rep["accuracy"]["fixed_accuracy"] <= 1


def test_module_cells_sum_to_the_total(report):
    rep, _ = report
    ecp5 = rep["synthesis"]["ecp5"]
    summed = dict(ecp5["top_cells"])
    for mod in ecp5["modules"].values():
        for cell, n in mod["cells"].items():
            summed[cell] = summed.get(cell, 0) + n
    assert summed == ecp5["cells"]
    assert set(ecp5["modules"]) == {r["module"] for r in rep["layers"]}
    for key in ("lut", "ff", "carry", "cells"):
        assert sum(r["resources"]["ecp5"][key] for r in rep["layers"]) + \
            synth.summarize("ecp5", ecp5["top_cells"])[key] == ecp5["resources"][key]


def test_latency_ns_is_cycles_over_fmax(report, artifact):
    rep, _ = report
    man = json.loads((artifact / "rtl" / "manifest.json").read_text())
    perf = rep["performance"]
    assert perf["latency_cycles"] == man["latency"] and perf["ii_cycles"] == man["ii"] == 1
    assert perf["fmax_mhz"] == FAKE_FMAX
    assert perf["latency_ns"] == pytest.approx(man["latency"] / FAKE_FMAX * 1000, abs=0.005)
    assert perf["throughput_per_s"] == round(FAKE_FMAX * 1e6 / man["ii"])


def _md_table(md, title):
    """Rows (lists of cells) of the first table after a ``## title`` heading."""
    part = md.split(f"## {title}\n", 1)[1]
    rows = [ln for ln in part.lstrip("\n").split("\n\n", 1)[0].splitlines()
            if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in rows[2:]]


def _num(text):
    return float(text.replace(",", ""))


def test_markdown_tables_match_the_json(report):
    rep, paths = report
    with open(paths["md"]) as f:
        md = f.read()
    assert md == report_markdown(rep)
    perf = dict((k, v) for k, v in _md_table(md, "Performance"))
    assert _num(perf["latency (cycles)"]) == rep["performance"]["latency_cycles"]
    assert _num(perf["fmax, ECP5 (MHz)"]) == rep["performance"]["fmax_mhz"]
    assert _num(perf["latency (ns)"]) == rep["performance"]["latency_ns"]
    (row,) = _md_table(md, "Resources per target")
    res = rep["synthesis"]["ecp5"]["resources"]
    assert row[0] == "ecp5"
    assert [_num(c) for c in row[1:4]] == [res["lut"], res["ff"], res["carry"]]
    layers = _md_table(md, "Resources per layer")
    assert len(layers) == len(rep["layers"])
    for cells, layer in zip(layers, rep["layers"]):
        assert cells[0] == (layer["type"] if layer["index"] is None else
                            f"{layer['index']} {layer['type']}") and cells[1] == layer["block"]
        r = layer["resources"]["ecp5"]
        assert cells[4] == (f"`{layer['accumulator']}`" if layer["type"] == "dense" else "-")
        assert [_num(cells[5]), _num(cells[6])] == [r["lut"], r["ff"]]
    assert f"fmax **{FAKE_FMAX:.2f} MHz**" in md


def test_layer_table_shows_dsp_and_memory_where_a_layer_uses_them(report):
    rep = copy.deepcopy(report[0])
    head = report_markdown(rep).split("## Resources per layer")[1].splitlines()[2]
    assert "ecp5 FF" in head and "ecp5 DSP" not in head and "BRAM" not in head
    rep["layers"][0]["resources"]["ecp5"].update(dsp=7, bram=2)
    md = report_markdown(rep)
    rows = _md_table(md, "Resources per layer")
    head = md.split("## Resources per layer")[1].splitlines()[2]
    assert "| ecp5 LUT | ecp5 FF | ecp5 DSP | ecp5 BRAM |" in head
    assert rows[0][7:9] == ["7", "2"] and rows[1][7:9] == ["0", "0"]


def test_summaries_of_each_family():
    x = synth.summarize("xilinx", {"LUT6": 3, "LUT2": 1, "FDRE": 4, "CARRY4": 2,
                                   "RAMB36E1": 1, "DSP48E1": 1, "MUXF7": 1})
    assert (x["lut"], x["ff"], x["carry"], x["bram"], x["dsp"], x["mux"]) == (4, 4, 2, 2, 1, 1)
    i = synth.summarize("ice40", {"SB_LUT4": 5, "SB_DFFE": 2, "SB_DFFESR": 1, "SB_CARRY": 3,
                                  "SB_MAC16": 1})
    assert (i["lut"], i["ff"], i["carry"], i["dsp"], i["cells"]) == (5, 3, 3, 1, 12)
    # packed counts against 60 % of the sites (24,288 / 43,848 / 83,640), DSPs and BRAMs whole
    assert pnr.pick_device({"TRELLIS_COMB": 14572, "TRELLIS_FF": 100}) == "25k"
    assert pnr.pick_device({"TRELLIS_COMB": 14573, "TRELLIS_FF": 100}) == "45k"
    assert pnr.pick_device({"TRELLIS_COMB": 100, "TRELLIS_FF": 26308}) == "45k"
    assert pnr.pick_device({"TRELLIS_COMB": 50184, "TRELLIS_FF": 100}) == "85k"
    assert pnr.pick_device({"TRELLIS_COMB": 50185, "TRELLIS_FF": 100}) is None
    assert pnr.pick_device({"TRELLIS_COMB": 100, "MULT18X18D": 73}) == "85k"
    assert pnr.pick_device({"TRELLIS_COMB": 100, "DP16KD": 57}) == "45k"
    assert pnr.pick_device({"TRELLIS_COMB": 100, "MULT18X18D": 157}) is None


def test_io_wrapper_pins():
    payload = {"elements": 64, "element_width": 5, "signed": False, "format": "ufixed<5,5>"}
    man = Manifest.from_dict({
        "schema": 1, "name": "m", "top": "m", "verilog": "m.v", "clock": "clk", "reset": "rst",
        "latency": 3, "ii": 1, "layers": [], "output_fifo": {"depth": 0, "latency": 0},
        "ports": {
            "clk": {"direction": "in", "width": 1}, "rst": {"direction": "in", "width": 1},
            "i__valid": {"direction": "in", "width": 1},
            "i__ready": {"direction": "out", "width": 1},
            "i__payload": {"direction": "in", "width": 320, **payload},
            "o__valid": {"direction": "out", "width": 1},
            "o__ready": {"direction": "in", "width": 1},
            "o__payload": {"direction": "out", "width": 4, **payload, "elements": 1,
                           "element_width": 4, "format": "ufixed<4,4>"}}})
    assert IOWrapper(manifest=man, serial=True).pins == 9
    assert IOWrapper(manifest=man, serial=False).pins == 2 + 4 + 320 + 4
    v = wrapper_verilog(man)
    assert "module fxpga_io(" in v and "m dut (" in v
    with pytest.raises(TypeError, match=r"^IOWrapper manifest must be a Manifest, not 3$"):
        IOWrapper(manifest=3)


def test_widened_accumulators_keep_the_weights(artifact):
    model = Model.load(artifact)
    wide = rp.widen_accumulators(model, 32)
    for a, b in zip(model.spec.layers, wide.spec.layers):
        if a.type == "dense":
            assert b.accumulator.fmt.bits == 32
            assert b.accumulator.fmt.frac_bits == a.accumulator.fmt.frac_bits
            assert str(b.accumulator.fmt.overflow.value) == "WRAP"
            assert (wide.weight(a.index).raw == model.weight(a.index).raw).all()
    vec = load_vectors(artifact)
    assert (wide.predict_raw(vec["inputs"]) == vec["outputs"]).all()
    narrow = model.spec.layers[0].accumulator.fmt.bits - 1
    with pytest.raises(rp.ReportError, match=rf"^--acc-bits {narrow} is narrower than layer 0's"):
        rp.widen_accumulators(model, narrow)


def test_point_spec_changes_weight_bits_and_trains_a2q():
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples",
                           "digits_mlp.yaml")) as f:
        doc = yaml.safe_load(f)
    p = point_spec(doc, 4, "auto")
    assert [ly.get("weight") for ly in p["layers"] if ly["type"] == "dense"] == \
        ["fixed<4,1,RND_CONV,SAT>"] * 2
    assert p["layers"][0]["accumulator"] == "auto" and "a2q" not in p["train"]
    q = point_spec(doc, 6, 12, epochs=3)
    assert q["train"]["a2q"] == {"accumulator_bits": 12} and q["train"]["epochs"] == 3
    # A2Q needs the bias's fraction bits at most the products': 5 (input 0 + weight 5) and 9
    assert q["layers"][0]["bias"] == "fixed<10,5,RND_CONV,SAT>"
    assert q["layers"][2]["bias"] == "fixed<12,5,RND_CONV,SAT>"
    parse_spec(q)
    assert doc["layers"][0]["bias"] == "fixed<12,5,RND_CONV,SAT>"      # not modified
    assert parse_bits("auto, 16,12", "--acc-bits", True) == ["auto", 16, 12]


def test_sweep_runs_points_and_caches_them(tmp_path, monkeypatch):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY))
    kw = dict(weight_bits=(3, 4), acc_bits=("auto",), output=tmp_path / "out", jobs=1,
              cache_dir=tmp_path / "cache", progress=Progress(stream=None))
    first = run_sweep(spec, **kw)
    assert first["cache"] == {"dir": str(tmp_path / "cache"), "hits": 0, "misses": 2}
    assert [(p["weight_bits"], p["acc_bits"], p["cached"]) for p in first["points"]] == \
        [(3, "auto", False), (4, "auto", False)]
    assert all("error" not in p for p in first["points"])
    assert first["points"][0]["weights"] == ["fixed<3,1,RND_CONV,SAT>"] * 2
    assert first["points"][0]["resources"]["ecp5"]["lut"] < \
        first["points"][1]["resources"]["ecp5"]["lut"]
    for name in ("sweep.json", "sweep.md", "sweep_weight_bits.png", "sweep_acc_bits.png"):
        assert (tmp_path / "out" / name).is_file()
    md = (tmp_path / "out" / "sweep.md").read_text()
    assert f"| 3 | auto | " in md and f"{first['points'][0]['resources']['ecp5']['lut']:,}" in md

    # the second run reuses every point: no training, no synthesis
    def boom(*a, **k):
        raise AssertionError("a cached point ran again")
    monkeypatch.setattr("fxp.nn.training.train", boom)
    monkeypatch.setattr(synth, "synthesize", boom)
    second = run_sweep(spec, **kw)
    assert second["cache"]["hits"] == 2 and second["cache"]["misses"] == 0
    assert [p["cached"] for p in second["points"]] == [True, True]
    strip = [{k: v for k, v in p.items() if k != "cached"} for p in first["points"]]
    assert [{k: v for k, v in p.items() if k != "cached"} for p in second["points"]] == strip


@pytest.mark.parametrize("argv, message", [
    (["report", "{tmp}"], "{tmp}: not an artifact directory (no model.yaml); train one with "
                          "python -m fxp train SPEC -o DIR"),
    (["report", "{art}", "--targets", "ecp5,vhdl"], "--targets: unknown target 'vhdl'; "
                                                    "expected a comma-separated list of ecp5, "
                                                    "xilinx, ice40"),
    (["report", "{art}", "--jobs", "0"], "--jobs must be a positive integer, not 0"),
    (["sweep", "{tmp}/missing.yaml"], "{tmp}/missing.yaml: cannot read spec: No such file or "
                                      "directory"),
    (["sweep", "{spec}", "--weight-bits", "4,x"], "--weight-bits: 'x' is not an integer >= 2"),
    (["sweep", "{spec}", "--acc-bits", "auto,1"], "--acc-bits: '1' is not an integer >= 2 or "
                                                  "auto"),
    (["sweep", "{spec}", "--weight-bits", "4,4"], "--weight-bits: '4' is given twice"),
], ids=["no-artifact", "target", "jobs", "no-spec", "weight-bits", "acc-bits", "twice"])
def test_bad_input_is_a_one_line_error(artifact, tmp_path, capsys, argv, message):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY))
    sub = {"tmp": str(tmp_path), "art": str(artifact), "spec": str(spec)}
    argv = [a.format(**sub) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == "error: " + message.format(**sub) + "\n"


def test_cli_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hdl", "report", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""
    assert re.fullmatch(r"error: .*no model\.yaml.*\n", r.stderr)


def test_real_place_and_route(artifact, tmp_path):
    rep = rp.build_report(artifact, output=tmp_path, targets=("ecp5",),
                          progress=Progress(stream=None))
    perf = rep["performance"]
    assert rep["pnr"]["device"] == "LFE5U-25F" and 1 < perf["fmax_mhz"] < 1000
    assert perf["latency_ns"] == round(perf["latency_cycles"] * 1000 / perf["fmax_mhz"], 2)
    assert rep["pnr"]["utilization"]["TRELLIS_IO"][0] == 9     # the serial I/O wrapper
    # the device was picked from nextpnr's own packing, which the full run repeats
    packed, used = rep["pnr"]["packed"], rep["pnr"]["utilization"]
    assert packed["TRELLIS_COMB"] == used["TRELLIS_COMB"][0] > 0
    assert packed["TRELLIS_FF"] == used["TRELLIS_FF"][0] > 0
    # the clock enters on the primary clock input
    with open(tmp_path / "nextpnr.log") as f:
        log = f.read()
    assert re.search(r"pin 'clk\$tr_io' constrained to Bel 'X0/Y\d+/PIO\w'", log), log[:2000]


def test_bad_input_creates_no_folder(artifact, tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert main(["report", str(missing), "--no-pnr"]) == 2
    assert not missing.exists()
    out = tmp_path / "out"
    assert main(["report", str(missing), "-o", str(out), "--no-pnr"]) == 2
    assert main(["report", str(artifact), "-o", str(out), "--acc-bits", "1", "--no-pnr"]) == 2
    assert not out.exists()
    assert capsys.readouterr().err.splitlines()[-1] == ("error: --acc-bits must be an integer "
                                                        ">= 2, not 1")


@pytest.mark.parametrize("option, value, message", [
    ("router", "router3", "nextpnr router must be one of router1, router2, not 'router3'"),
    ("placer", "annealer", "nextpnr placer must be one of heap, static, sa, not 'annealer'"),
])
def test_bad_nextpnr_option_is_refused_before_anything_runs(artifact, tmp_path, option, value,
                                                             message):
    out = tmp_path / "rep"
    with pytest.raises(rp.ReportError, match=f"^{re.escape(message)}$"):
        rp.build_report(artifact, output=out, targets=("ecp5",), **{option: value},
                        progress=Progress(stream=None))
    assert not out.exists()
