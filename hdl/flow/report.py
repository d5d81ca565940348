"""Hardware reports for an artifact (``python -m hdl report DIR``): synthesis, fmax, assembly.

Cells per block and target, fmax on ECP5, latency, II and throughput, assembled into
``report.json``; :func:`write_report` adds its Markdown and plots.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor

from fxp import FixedFormat
from fxp.files import atomic_files
from fxp.nn import Model
from fxp.nn.spec import FormatSpec

from ..rtl.emit import generate_rtl
from ..rtl.manifest import FILENAME, Manifest
from . import pnr, synth
from .errors import ReportError
from .harness import WRAPPER, wrapper_verilog
from .markdown import report_markdown
from .plots import plot_layers
from .pnr import DEFAULT_ROUTER, ECP5_DEVICES, PLACERS, ROUTERS
from .progress import Progress
from .tools import SynthError, tool_versions

__all__ = ["build_report", "prepare_rtl", "check_artifact", "widen_accumulators",
           "write_report", "ReportError", "DEFAULT_TARGETS", "SCHEMA"]

SCHEMA = "fxpga.report/1"
DEFAULT_TARGETS = ("ecp5", "xilinx", "ice40")


def _load_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise ReportError(f"{path}: cannot read {what}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}: invalid {what}: {e.msg} at line {e.lineno}") from None


def widen_accumulators(model, bits: int):
    """The model with every dense accumulator a ``bits``-bit WRAP format with the same
    fraction bits (the same weights). Only widening is allowed: the artifact's accumulators
    never overflow, so a wider one computes the same bits and the hardware still matches the
    emulator."""
    spec = copy.deepcopy(model.spec)
    for layer in spec.layers:
        if layer.accumulator is not None:
            acc = layer.accumulator.fmt
            if bits < acc.bits:
                raise ReportError(f"--acc-bits {bits} is narrower than layer {layer.index}'s "
                                  f"{acc.bits}-bit accumulator {acc}; only widening keeps the "
                                  f"hardware bit-exact with the artifact")
            layer.accumulator = FormatSpec(fmt=FixedFormat(bits, bits - acc.frac_bits,
                                                           acc.signed, "TRN", "WRAP"))
    return Model(spec, model.params)


def check_artifact(directory, acc_bits=None) -> None:
    """Raise a one-line ReportError unless ``directory`` holds an artifact (``model.yaml``) and
    ``acc_bits`` is None or an integer >= 2; nothing is written."""
    directory = os.fspath(directory)
    if not os.path.isfile(os.path.join(directory, "model.yaml")):
        raise ReportError(f"{directory}: not an artifact directory (no model.yaml); train one "
                          f"with python -m fxp train SPEC -o DIR")
    if acc_bits is not None and (isinstance(acc_bits, bool) or not isinstance(acc_bits, int)
                                 or acc_bits < 2):
        raise ReportError(f"--acc-bits must be an integer >= 2, not {acc_bits!r}")


def prepare_rtl(directory, out_dir, *, strategy=None, reuse=None, pipeline=None,
                acc_bits=None, progress: Progress | None = None):
    """The Verilog and manifest to report on: ``DIR/rtl/`` (generated when missing), or, with
    hardware overrides, a fresh generation into ``OUT/rtl/``. Returns (verilog path,
    :class:`~hdl.rtl.manifest.Manifest`)."""
    progress = progress or Progress(stream=None)
    directory = os.fspath(directory)
    check_artifact(directory, acc_bits)
    overrides = {k: v for k, v in (("strategy", strategy), ("reuse", reuse),
                                   ("pipeline", pipeline)) if v is not None}
    rtl = os.path.join(directory, "rtl")
    if overrides or acc_bits is not None:
        what = [f"{k} {v}" for k, v in overrides.items()]
        if acc_bits is not None:
            what.append(f"{acc_bits}-bit accumulators")
        with progress.step("generate RTL (" + ", ".join(what) + ")"):
            model = Model.load(directory)
            if acc_bits is not None:
                model = widen_accumulators(model, acc_bits)
            rtl = os.path.join(out_dir, "rtl")
            generate_rtl(directory, model=model, output=rtl, **overrides)
    elif not os.path.isfile(os.path.join(rtl, FILENAME)):
        with progress.step("generate RTL"):
            generate_rtl(directory)
    man = Manifest.load(os.path.join(rtl, FILENAME))
    return os.path.join(rtl, man.verilog), man


def _module_resources(target, res: synth.SynthResult, top: str):
    """Per layer module (with its submodules) and the top's own cells, as resource summaries."""
    def total(name):
        out = dict(res.modules[name])
        for sub, n in res.children[name].items():
            for cell, k in total(sub).items():
                out[cell] = out.get(cell, 0) + n * k
        return out

    blocks = {}
    for sub, n in res.children.get(top, {}).items():
        if n != 1:
            raise ReportError(f"module {sub} is instantiated {n} times in {top}")
        blocks[sub] = total(sub)
    return blocks, dict(res.modules[top])


def _synth_target(target, verilog, wrapper, man, out_dir, with_pnr, device, freq, serial,
                  nextpnr, progress):
    """One target's synthesis (and, for ECP5 with ``pnr``, place and route)."""
    top = man.top
    netlist = os.path.join(out_dir, ".pnr-netlist.json") if with_pnr and target == "ecp5" \
        else None
    sources, syn_top = [verilog], top
    if netlist is not None:
        sources, syn_top = [verilog, wrapper], WRAPPER
    with progress.step(f"synthesis {target}"):
        res = synth.synthesize(sources, syn_top, target, stat_top=top, netlist=netlist)
    blocks, glue = _module_resources(target, res, top)
    entry = {
        "description": synth.TARGETS[target],
        "cells": dict(sorted(res.total.items())),
        "resources": synth.summarize(target, res.total),
        "modules": {name: {"cells": dict(sorted(c.items())),
                           "resources": synth.summarize(target, c)}
                    for name, c in sorted(blocks.items())},
        "top_cells": dict(sorted(glue.items())),
        "seconds": round(res.seconds, 1),
    }
    pnr_entry = None
    if netlist is not None:
        try:
            pnr_entry = _place_route(netlist, sources, res, top, device, freq, serial,
                                     nextpnr, out_dir, progress)
        finally:
            if os.path.exists(netlist):
                os.remove(netlist)
    return entry, pnr_entry


def _place_route(netlist, sources, res, top, device, freq, serial, nextpnr, out_dir,
                 progress):
    """Place and route the ECP5 netlist on ``device`` (``auto``: the smallest that fits; when
    the multipliers exceed every device's DSP blocks, a netlist with LUT multipliers);
    ``nextpnr``: router, placer, timing_driven, seed."""
    info = {"tool": "nextpnr-ecp5", "io": ("serial" if serial else "out-of-context"),
            "target_mhz": freq, **nextpnr}
    need = synth.summarize("ecp5", res.total)
    if device == "auto":
        if need["dsp"] > pnr.ECP5_DEVICES["85k"][2]:
            with progress.step(f"synthesis ecp5 without DSPs ({need['dsp']} MULT18X18D do not "
                               f"fit an LFE5U-85F)"):
                alt = synth.synthesize(sources, WRAPPER, "ecp5", stat_top=top,
                                        netlist=netlist, nodsp=True)
            info["netlist"] = "multipliers in LUTs (-nodsp)"
            info["nodsp_resources"] = synth.summarize("ecp5", alt.total)
        try:
            with progress.step("packing ECP5"):
                packed = pnr.pack_ecp5(netlist)
        except SynthError as e:
            return {**info, "error": str(e)}
        info["packed"] = packed
        device = pnr.pick_device(packed)
        if device is None:
            fill = f"{pnr.FILL:.0%}"
            progress.line(f"place and route skipped: the design does not fit {fill} of an "
                          f"LFE5U-85F")
            return {**info, "skipped": f"{packed.get('TRELLIS_COMB', 0):,} TRELLIS_COMB, "
                                       f"{packed.get('TRELLIS_FF', 0):,} TRELLIS_FF and "
                                       f"{packed.get('MULT18X18D', 0)} MULT18X18D do not fit "
                                       f"{fill} of an LFE5U-85F"}
    with progress.step(f"place and route ECP5 {pnr.ECP5_DEVICES[device][0]}"):
        try:
            r = pnr.place_route_ecp5(netlist, device, freq_mhz=freq,
                                     out_of_context=not serial, **nextpnr,
                                     log_path=os.path.join(out_dir, "nextpnr.log"))
        except SynthError as e:
            return {**info, "device": pnr.ECP5_DEVICES[device][0], "error": str(e)}
    fmax = r["fmax_mhz"]
    clk = min(fmax.values()) if fmax else None     # the model has one clock
    cp = r["critical_path"]
    if cp is not None:
        cp["blocks"] = _path_blocks(cp["cells"], top)
        cp.pop("cells")
    info.update(device=r["device"], fmax_mhz=clk, clocks=fmax, utilization=r["utilization"],
                critical_path=cp, seconds=r["seconds"])
    return info


def _path_blocks(cells, top):
    """The model blocks a critical path crosses, in order (``io`` for the wrapper's cells;
    cells nextpnr made itself, named ``$nextpnr...``, belong to their neighbours)."""
    out = []
    for c in cells:
        if c.startswith("$"):
            continue
        if c.startswith("dut."):
            rest = c[len("dut."):]
            name = rest.split(".")[0] if "." in rest else top
        else:
            name = "io"
        if not out or out[-1] != name:
            out.append(name)
    return out


def build_report(directory, *, output=None, targets=DEFAULT_TARGETS, pnr: bool = True,
                 device: str = "auto", freq_mhz: float = 100.0, serial_io: bool = True,
                 router: str = DEFAULT_ROUTER, placer: str = "static", timing_driven: bool = True,
                 seed: int = 1, strategy=None, reuse=None, pipeline=None,
                 acc_bits: int | None = None, jobs: int | None = None,
                 progress: Progress | None = None) -> dict:
    """Synthesize an artifact's Verilog for each target and place and route it on ECP5.

    Parameters
    ----------
    directory : path
        The artifact directory (``model.yaml``; ``rtl/`` is generated when missing).
    output : path, optional
        Where ``report.json``, ``report.md`` and the plots go (default ``DIR/report``).
    targets : sequence of {"ecp5", "xilinx", "ice40"}
    pnr : bool
        Place and route on ECP5 (needs ``"ecp5"`` in ``targets``) to measure fmax.
    device : {"auto", "25k", "45k", "85k"}
        LFE5U device; ``auto`` picks the smallest that holds the design.
    serial_io : bool
        Wrap the model in :class:`IOWrapper` with serial payload pins (True) or place it
        out of context with every port registered (False).
    router, placer, timing_driven, seed :
        nextpnr's router and placer, timing-driven placement (False: ``--no-tmdriv``) and
        seed (:func:`hdl.flow.pnr.place_route_ecp5`).
    strategy, reuse, pipeline : optional
        Hardware overrides: the RTL is then generated into ``OUT/rtl/``.
    acc_bits : int, optional
        Regenerate with every dense accumulator widened to this many bits (WRAP, same
        fraction bits, same weights): e.g. 32 against an A2Q model's narrow accumulators.
    jobs : int, optional
        Targets synthesized at once (default: the number of CPUs).

    Returns the report (also written by :func:`write_report`).
    """
    progress = progress or Progress()
    targets = tuple(targets)
    for t in targets:
        if t not in synth.TARGETS:
            raise ReportError(f"unknown target {t!r}; expected one of "
                              f"{', '.join(synth.TARGETS)}")
    if not targets:
        raise ReportError("no synthesis target given")
    if device != "auto" and device not in ECP5_DEVICES:
        raise ReportError(f"ECP5 device must be auto or one of "
                          f"{', '.join(ECP5_DEVICES)}, not {device!r}")
    if placer not in PLACERS:
        raise ReportError(f"nextpnr placer must be one of {', '.join(PLACERS)}, not "
                          f"{placer!r}")
    if router not in ROUTERS:
        raise ReportError(f"nextpnr router must be one of {', '.join(ROUTERS)}, not "
                          f"{router!r}")
    directory = os.fspath(directory)
    check_artifact(directory, acc_bits)      # before anything is created
    out_dir = os.fspath(output) if output is not None else os.path.join(directory, "report")
    os.makedirs(out_dir, exist_ok=True)
    verilog, man = prepare_rtl(directory, out_dir, strategy=strategy, reuse=reuse,
                               pipeline=pipeline, acc_bits=acc_bits, progress=progress)
    with_pnr = pnr and "ecp5" in targets
    nextpnr = {"router": router, "placer": placer, "timing_driven": bool(timing_driven),
               "seed": seed}
    tmp = tempfile.mkdtemp(prefix="fxpga-report-")
    try:
        wrapper = os.path.join(tmp, f"{WRAPPER}.v")
        if with_pnr:
            with open(wrapper, "w") as f:
                f.write(wrapper_verilog(man, serial=serial_io))
        jobs = max(1, jobs or os.cpu_count() or 1)
        order = sorted(targets, key=lambda t: t != "ecp5")   # the longest chain first
        results = {}
        with ThreadPoolExecutor(max_workers=min(jobs, len(order))) as pool:
            futs = {t: pool.submit(_synth_target, t, verilog, wrapper, man, out_dir, with_pnr,
                                   device, freq_mhz, serial_io, nextpnr, progress)
                    for t in order}
            for t in order:
                results[t] = futs[t].result()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rep = _assemble(directory, out_dir, verilog, man, targets, results)
    rep["overrides"] = {k: v for k, v in (("strategy", strategy), ("reuse", reuse),
                                          ("pipeline", pipeline), ("acc_bits", acc_bits))
                        if v is not None}
    return rep


def _assemble(directory, out_dir, verilog, man, targets, results) -> dict:
    top = man.top
    cells = {t: results[t][0] for t in targets}
    placed = results.get("ecp5", (None, None))[1]

    def resources(module):
        return {t: cells[t]["modules"].get(module, {}).get("resources", synth.summarize(t, {}))
                for t in targets}

    layers = []
    for row in man.layers:
        module = row.verilog_module or f"{top}.{row.module}"
        entry = {"index": row.index, "type": row.type, "block": row.block,
                 "latency": row.latency, "ii": row.ii}
        fields = row.to_dict()
        for k in ("units", "inputs", "weight", "accumulator", "output", "strategy", "reuse",
                  "pipeline", "nonzero_weights"):
            if k in fields:
                entry[k] = fields[k]
        entry["module"] = module
        entry["resources"] = resources(module)
        layers.append(entry)
    fifo = man.output_fifo
    if fifo.depth:
        # the model top's output FIFO (after the free-running blocks) is a block of its own
        module = f"{top}_out_fifo"
        layers.append({"index": None, "type": "output FIFO", "block": "SyncFIFO",
                       "latency": fifo.latency, "ii": 1, "depth": fifo.depth,
                       "module": module, "resources": resources(module)})
    perf = {"latency_cycles": man.latency, "ii_cycles": man.ii}
    fmax = placed.get("fmax_mhz") if placed else None
    if fmax:
        perf.update(fmax_mhz=fmax, latency_ns=round(man.latency * 1000.0 / fmax, 2),
                    throughput_per_s=round(fmax * 1e6 / man.ii))
    report = {
        "schema": SCHEMA, "name": man.name, "top": top,
        "verilog": os.path.relpath(verilog, out_dir),
        "tools": tool_versions(),
        "performance": perf,
        "synthesis": cells,
        "layers": layers,
        "pnr": placed if placed is not None else {"skipped": "not requested"},
    }
    metrics = os.path.join(directory, "metrics.json")
    if os.path.isfile(metrics):
        m = _load_json(metrics, "metrics")
        if m.get("loss") == "mse":
            report["mse"] = {k: m[k] for k in ("fixed_mse", "float_mse", "fixed_mae",
                                               "float_mae") if k in m}
        else:
            report["accuracy"] = {k: m[k] for k in ("fixed_accuracy", "float_accuracy")
                                  if k in m}
    return report


def write_report(report: dict, out_dir) -> dict:
    """Write ``report.json``, ``report.md`` and ``resources_per_layer.png`` (all three or,
    on an error, none of them); returns their paths."""
    names = {"json": "report.json", "md": "report.md", "plot": "resources_per_layer.png"}
    with atomic_files(out_dir, names.values()) as tmp:
        with open(os.path.join(tmp, names["json"]), "w") as f:
            f.write(json.dumps(report, indent=1, sort_keys=True) + "\n")
        with open(os.path.join(tmp, names["md"]), "w") as f:
            f.write(report_markdown(report))
        plot_layers(report, os.path.join(tmp, names["plot"]))
    return {k: os.path.join(out_dir, n) for k, n in names.items()}
