"""Hardware reports for an artifact: ``python -m hdl report DIR`` (cells per block and target,
fmax on ECP5, latency, II and throughput; JSON, Markdown and PNG plots)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from amaranth.hdl import Cat, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from fxp import FixedFormat
from fxp.files import atomic_files
from fxp.nn import Model
from fxp.nn.spec import FormatSpec

from . import synth as _synth
from ..rtl.emit import generate_rtl

__all__ = ["IOWrapper", "Progress", "build_report", "report_markdown", "plot_layers",
           "write_report", "ReportError", "DEFAULT_TARGETS", "SCHEMA"]

SCHEMA = "fxpga.report/1"
DEFAULT_TARGETS = ("ecp5", "xilinx", "ice40")
WRAPPER = "fxpga_io"


class ReportError(ValueError):
    """A report cannot be made from these inputs (the message is one line)."""


class Progress:
    """Per-step progress lines on stderr: ``[  12.3s] label ...`` and ``... done in 4.5 s``.

    Parameters
    ----------
    prefix : str
        Printed before every line (e.g. a sweep point's name).
    stream : file or None
        None silences the lines.
    """

    def __init__(self, prefix: str = "", stream=sys.stderr, start: float | None = None):
        self.prefix = f"{prefix}: " if prefix else ""
        self.stream = stream
        self.start = time.perf_counter() if start is None else start

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def line(self, text: str):
        if self.stream is not None:
            print(f"[{self.elapsed():7.1f}s] {self.prefix}{text}", file=self.stream, flush=True)

    @contextmanager
    def step(self, label: str):
        """Print the start and the end of a step (``done in`` or ``FAILED after``)."""
        self.line(f"{label} ...")
        t0 = time.perf_counter()
        try:
            yield
        except BaseException:
            self.line(f"{label} FAILED after {time.perf_counter() - t0:.1f} s")
            raise
        self.line(f"{label} done in {time.perf_counter() - t0:.1f} s")


class IOWrapper(wiring.Component):
    """A timing harness around a generated model top (instantiated by module name).

    Every stream port of the model is registered, so that place and route measures
    register-to-register paths only. With ``serial=True`` the payloads also pass through
    shift registers (one serial input and one serial output pin, ``load`` captures the
    output vector), so the whole harness needs 9 package pins whatever the vector widths.
    The wrapper exists only to measure fmax: registering valid and ready adds cycles to the
    handshake, so it is not a functional interface.

    Parameters
    ----------
    manifest : dict
        The model's ``manifest.json`` (its ``top`` and ``ports``).
    serial : bool
    """

    def __init__(self, *, manifest: dict, serial: bool = True):
        if not isinstance(manifest, dict) or "ports" not in manifest or "top" not in manifest:
            raise TypeError(f"IOWrapper manifest must be a manifest dict, not {manifest!r}")
        self._manifest = manifest
        self._serial = bool(serial)
        ports = self._stream_ports()
        if self._serial:
            sig = {"si": In(1), "load": In(1), "so": Out(1)}
            sig.update({n: (In(1) if p["direction"] == "in" else Out(1))
                        for n, p in ports.items() if not n.endswith("__payload")})
        else:
            sig = {n: (In if p["direction"] == "in" else Out)(p["width"])
                   for n, p in ports.items()}
        super().__init__(sig)

    def _stream_ports(self):
        clk, rst = self._manifest.get("clock", "clk"), self._manifest.get("reset", "rst")
        return {n: p for n, p in self._manifest["ports"].items() if n not in (clk, rst)}

    @property
    def serial(self) -> bool:
        return self._serial

    @property
    def pins(self) -> int:
        """Package pins the wrapper needs (clock and reset included)."""
        return 2 + sum(getattr(self, n).shape().width for n in self.signature.members)

    def elaborate(self, platform):
        m = Module()
        man = self._manifest
        kw = {f"i_{man.get('clock', 'clk')}": ClockSignal(),
              f"i_{man.get('reset', 'rst')}": ResetSignal()}
        for name, p in self._stream_ports().items():
            q = Signal(p["width"], name=f"{name}_q")
            if p["direction"] == "in":
                kw[f"i_{name}"] = q
                if self._serial and name.endswith("__payload"):
                    m.d.sync += q.eq(Cat(q[1:], self.si))
                else:
                    m.d.sync += q.eq(getattr(self, name))
            else:
                d = Signal(p["width"], name=f"{name}_d")
                kw[f"o_{name}"] = d
                if self._serial and name.endswith("__payload"):
                    with m.If(self.load):
                        m.d.sync += q.eq(d)
                    with m.Else():
                        m.d.sync += q.eq(q >> 1)
                    m.d.comb += self.so.eq(q[0])
                else:
                    m.d.sync += q.eq(d)
                    m.d.comb += getattr(self, name).eq(q)
        m.submodules.dut = Instance(man["top"], **kw)
        return m


def wrapper_verilog(manifest: dict, *, serial: bool = True) -> str:
    """Verilog of :class:`IOWrapper` (module ``fxpga_io``) around the model top."""
    from amaranth.back import verilog
    return verilog.convert(IOWrapper(manifest=manifest, serial=serial), name=WRAPPER,
                           emit_src=False)


# -- building a report -----------------------------------------------------------------------

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
        if layer.type == "dense":
            acc = layer.accumulator.fmt
            if bits < acc.bits:
                raise ReportError(f"--acc-bits {bits} is narrower than layer {layer.index}'s "
                                  f"{acc.bits}-bit accumulator {acc}; only widening keeps the "
                                  f"hardware bit-exact with the artifact")
            layer.accumulator = FormatSpec(fmt=FixedFormat(bits, bits - acc.frac_bits,
                                                           acc.signed, "TRN", "WRAP"))
    return Model(spec, model.params)


def prepare_rtl(directory, out_dir, *, strategy=None, reuse=None, pipeline=None,
                acc_bits=None, progress: Progress | None = None):
    """The Verilog and manifest to report on: ``DIR/rtl/`` (generated when missing), or, with
    hardware overrides, a fresh generation into ``OUT/rtl/``. Returns (verilog path, manifest)."""
    progress = progress or Progress(stream=None)
    directory = os.fspath(directory)
    if not os.path.isfile(os.path.join(directory, "model.yaml")):
        raise ReportError(f"{directory}: not an artifact directory (no model.yaml); train one "
                          f"with python -m fxp train SPEC -o DIR")
    if acc_bits is not None and (isinstance(acc_bits, bool) or not isinstance(acc_bits, int)
                                 or acc_bits < 2):
        raise ReportError(f"--acc-bits must be an integer >= 2, not {acc_bits!r}")
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
    elif not os.path.isfile(os.path.join(rtl, "manifest.json")):
        with progress.step("generate RTL"):
            generate_rtl(directory)
    man = _load_json(os.path.join(rtl, "manifest.json"), "manifest")
    return os.path.join(rtl, man["verilog"]), man


def _module_resources(target, res: _synth.SynthResult, top: str):
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


def _synth_target(target, verilog, wrapper, man, out_dir, pnr, device, freq, serial,
                  router, progress):
    """One target's synthesis (and, for ECP5 with ``pnr``, place and route)."""
    top = man["top"]
    netlist = os.path.join(out_dir, ".pnr-netlist.json") if pnr and target == "ecp5" else None
    sources, syn_top = [verilog], top
    if netlist is not None:
        sources, syn_top = [verilog, wrapper], WRAPPER
    with progress.step(f"synthesis {target}"):
        res = _synth.synthesize(sources, syn_top, target, stat_top=top, netlist=netlist)
    blocks, glue = _module_resources(target, res, top)
    entry = {
        "description": _synth.TARGETS[target],
        "cells": dict(sorted(res.total.items())),
        "resources": _synth.summarize(target, res.total),
        "modules": {name: {"cells": dict(sorted(c.items())),
                           "resources": _synth.summarize(target, c)}
                    for name, c in sorted(blocks.items())},
        "top_cells": dict(sorted(glue.items())),
        "seconds": round(res.seconds, 1),
    }
    pnr_entry = None
    if netlist is not None:
        try:
            pnr_entry = _pnr(netlist, sources, res, top, device, freq, serial, router,
                             out_dir, progress)
        finally:
            if os.path.exists(netlist):
                os.remove(netlist)
    return entry, pnr_entry


def _pnr(netlist, sources, res, top, device, freq, serial, router, out_dir, progress):
    """Place and route the ECP5 netlist on ``device`` (``auto``: the smallest that fits; when
    the multipliers exceed every device's DSP blocks, a netlist with LUT multipliers)."""
    info = {"tool": "nextpnr-ecp5", "io": ("serial" if serial else "out-of-context"),
            "target_mhz": freq, "router": router}
    need = _synth.summarize("ecp5", res.total)
    if device == "auto":
        if need["dsp"] > _synth.ECP5_DEVICES["85k"][2]:
            with progress.step(f"synthesis ecp5 without DSPs ({need['dsp']} MULT18X18D do not "
                               f"fit an LFE5U-85F)"):
                alt = _synth.synthesize(sources, WRAPPER, "ecp5", stat_top=top,
                                        netlist=netlist, nodsp=True)
            info["netlist"] = "multipliers in LUTs (-nodsp)"
            info["nodsp_resources"] = _synth.summarize("ecp5", alt.total)
        try:
            with progress.step("packing ECP5"):
                packed = _synth.pack_ecp5(netlist)
        except _synth.SynthError as e:
            return {**info, "error": str(e)}
        info["packed"] = packed
        device = _synth.pick_device(packed)
        if device is None:
            fill = f"{_synth.FILL:.0%}"
            progress.line(f"place and route skipped: the design does not fit {fill} of an "
                          f"LFE5U-85F")
            return {**info, "skipped": f"{packed.get('TRELLIS_COMB', 0):,} TRELLIS_COMB, "
                                       f"{packed.get('TRELLIS_FF', 0):,} TRELLIS_FF and "
                                       f"{packed.get('MULT18X18D', 0)} MULT18X18D do not fit "
                                       f"{fill} of an LFE5U-85F"}
    with progress.step(f"place and route ECP5 {_synth.ECP5_DEVICES[device][0]}"):
        try:
            r = _synth.place_route_ecp5(netlist, device, freq_mhz=freq,
                                        out_of_context=not serial, router=router,
                                        log_path=os.path.join(out_dir, "nextpnr.log"))
        except _synth.SynthError as e:
            return {**info, "device": _synth.ECP5_DEVICES[device][0], "error": str(e)}
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
                 router: str = "router2",
                 strategy=None, reuse=None, pipeline=None, acc_bits: int | None = None,
                 jobs: int | None = None,
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
        if t not in _synth.TARGETS:
            raise ReportError(f"unknown target {t!r}; expected one of "
                              f"{', '.join(_synth.TARGETS)}")
    if not targets:
        raise ReportError("no synthesis target given")
    if device != "auto" and device not in _synth.ECP5_DEVICES:
        raise ReportError(f"ECP5 device must be auto or one of "
                          f"{', '.join(_synth.ECP5_DEVICES)}, not {device!r}")
    directory = os.fspath(directory)
    out_dir = os.fspath(output) if output is not None else os.path.join(directory, "report")
    os.makedirs(out_dir, exist_ok=True)
    verilog, man = prepare_rtl(directory, out_dir, strategy=strategy, reuse=reuse,
                               pipeline=pipeline, acc_bits=acc_bits, progress=progress)
    pnr = pnr and "ecp5" in targets
    tmp = tempfile.mkdtemp(prefix="fxpga-report-")
    try:
        wrapper = os.path.join(tmp, f"{WRAPPER}.v")
        if pnr:
            with open(wrapper, "w") as f:
                f.write(wrapper_verilog(man, serial=serial_io))
        jobs = max(1, jobs or os.cpu_count() or 1)
        order = sorted(targets, key=lambda t: t != "ecp5")   # the longest chain first
        results = {}
        with ThreadPoolExecutor(max_workers=min(jobs, len(order))) as pool:
            futs = {t: pool.submit(_synth_target, t, verilog, wrapper, man, out_dir, pnr,
                                   device, freq_mhz, serial_io, router, progress)
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
    top = man["top"]
    synth = {t: results[t][0] for t in targets}
    pnr = results.get("ecp5", (None, None))[1]
    layers = []
    for row in man["layers"]:
        module = f"{top}.layer{row['index']}_{row['block'].lower()}"
        entry = {k: row[k] for k in ("index", "type", "block", "latency", "ii")}
        for k in ("units", "inputs", "weight", "accumulator", "output", "strategy", "reuse",
                  "pipeline", "nonzero_weights"):
            if k in row:
                entry[k] = row[k]
        entry["module"] = module
        entry["resources"] = {t: synth[t]["modules"].get(module, {}).get(
            "resources", _synth.summarize(t, {})) for t in targets}
        layers.append(entry)
    fifo = man.get("output_fifo", {})
    if fifo.get("depth"):
        # the model top's output FIFO (after the free-running blocks) is a block of its own
        module = f"{top}.out_fifo"
        layers.append({"index": None, "type": "output FIFO", "block": "SyncFIFO",
                       "latency": fifo["latency"], "ii": 1, "depth": fifo["depth"],
                       "module": module,
                       "resources": {t: synth[t]["modules"].get(module, {}).get(
                           "resources", _synth.summarize(t, {})) for t in targets}})
    perf = {"latency_cycles": man["latency"], "ii_cycles": man["ii"]}
    fmax = pnr.get("fmax_mhz") if pnr else None
    if fmax:
        perf.update(fmax_mhz=fmax, latency_ns=round(man["latency"] * 1000.0 / fmax, 2),
                    throughput_per_s=round(fmax * 1e6 / man["ii"]))
    report = {
        "schema": SCHEMA, "name": man["name"], "top": top,
        "verilog": os.path.relpath(verilog, out_dir),
        "tools": _synth.tool_versions(),
        "performance": perf,
        "synthesis": synth,
        "layers": layers,
        "pnr": pnr if pnr is not None else {"skipped": "not requested"},
    }
    metrics = os.path.join(directory, "metrics.json")
    if os.path.isfile(metrics):
        m = _load_json(metrics, "metrics")
        report["accuracy"] = {k: m[k] for k in ("fixed_accuracy", "float_accuracy") if k in m}
    return report


# -- output ----------------------------------------------------------------------------------

_COLUMNS = (("lut", "LUT"), ("ff", "FF"), ("carry", "carry"), ("dsp", "DSP"), ("bram", "BRAM"),
            ("lutram", "LUTRAM"), ("mux", "MUXF"))


def _fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _row_label(row) -> str:
    """``"<index> <type>"`` for a layer, the type alone for the output FIFO."""
    return row["type"] if row["index"] is None else f"{row['index']} {row['type']}"


def report_markdown(report: dict) -> str:
    """The report as Markdown tables (every number is the one in ``report.json``)."""
    perf = report["performance"]
    lines = [f"# {report['name']}: hardware report", ""]
    if "accuracy" in report:
        acc = report["accuracy"]
        lines += [f"Bit-exact test accuracy {_fmt(acc.get('fixed_accuracy'), 4)} "
                  f"(float {_fmt(acc.get('float_accuracy'), 4)}).", ""]
    if report.get("overrides"):
        lines += ["Hardware overrides: " + ", ".join(f"{k} {v}" for k, v in
                                                     report["overrides"].items()) + ".", ""]
    lines += ["## Performance", ""]
    rows = [["latency (cycles)", _fmt(perf["latency_cycles"])],
            ["initiation interval (cycles)", _fmt(perf["ii_cycles"])],
            ["fmax, ECP5 (MHz)", _fmt(perf.get("fmax_mhz"), 2)],
            ["latency (ns)", _fmt(perf.get("latency_ns"), 2)],
            ["throughput (inferences/s)", _fmt(perf.get("throughput_per_s"))]]
    lines += _table(["", "value"], rows) + [""]
    lines += ["## Resources per target", ""]
    cols = [c for c, _ in _COLUMNS
            if any(s["resources"][c] for s in report["synthesis"].values())]
    head = ["target"] + [dict(_COLUMNS)[c] for c in cols] + ["cells", "synthesis (s)"]
    rows = [[t] + [_fmt(s["resources"][c]) for c in cols] + [_fmt(s["resources"]["cells"]),
                                                            _fmt(s["seconds"])]
            for t, s in report["synthesis"].items()]
    lines += _table(head, rows) + [""]
    lines += ["ECP5 LUTs count LUT4 + 2 x CCU2C (a carry cell fills two LUT positions); "
              "Xilinx BRAM counts 18 Kib blocks.", ""]
    lines += ["## Resources per layer", ""]
    targets = list(report["synthesis"])
    head = ["layer", "block", "latency", "II", "accumulator"] + [
        f"{t} {n}" for t in targets for n in ("LUT", "FF")]
    rows = []
    for row in report["layers"]:
        cells = [_row_label(row), row["block"], _fmt(row["latency"]),
                 _fmt(row["ii"]), f"`{row['accumulator']}`" if "accumulator" in row else "-"]
        for t in targets:
            r = row["resources"][t]
            cells += [_fmt(r["lut"]), _fmt(r["ff"])]
        rows.append(cells)
    lines += _table(head, rows) + [""]
    lines += ["## Cells per target", ""]
    for t, s in report["synthesis"].items():
        lines.append(f"- **{t}** ({s['description']}): " +
                     ", ".join(f"{c} {_fmt(n)}" for c, n in s["cells"].items()))
    lines.append("")
    pnr = report["pnr"]
    lines += ["## Place and route (ECP5)", ""]
    if "skipped" in pnr:
        lines += [f"Skipped: {pnr['skipped']}.", ""]
    elif "error" in pnr:
        lines += [f"{pnr['device']}: failed: {pnr['error']}", ""]
    else:
        io = ("serial I/O wrapper, every port registered" if pnr["io"] == "serial"
              else "out of context, every port registered")
        util = ", ".join(f"{b} {u:,}/{a:,}" for b, (u, a) in pnr["utilization"].items())
        if "netlist" in pnr:
            io += "; " + pnr["netlist"]
        lines += [f"{pnr['device']} with nextpnr-ecp5 ({io}; {pnr['router']}; "
                  f"target {pnr['target_mhz']:g} MHz, "
                  f"--timing-allow-fail): fmax **{_fmt(pnr['fmax_mhz'], 2)} MHz**, "
                  f"{_fmt(pnr['seconds'])} s.", "", f"Utilization: {util}.", ""]
        cp = pnr.get("critical_path")
        if cp:
            lines += [f"Critical path {cp['total_ns']:.2f} ns ({cp['logic_ns']:.2f} ns logic, "
                      f"{cp['routing_ns']:.2f} ns routing) through "
                      f"{' -> '.join(cp['blocks'])}.", ""]
    tools = ", ".join(f"{k} {v}" for k, v in report["tools"].items())
    lines += [f"Tools: {tools}."]
    return "\n".join(lines) + "\n"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ReportError("plots need matplotlib: pip install -e '.[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_layers(report: dict, path) -> None:
    """Bar charts of LUTs and FFs per layer, one bar per target."""
    plt = _pyplot()
    targets = list(report["synthesis"])
    labels = [_row_label(r) for r in report["layers"]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(len(targets), 1)
    for ax, (key, title) in zip(axes, (("lut", "LUTs"), ("ff", "flip-flops"))):
        for k, t in enumerate(targets):
            vals = [r["resources"][t][key] for r in report["layers"]]
            xs = [i + (k - (len(targets) - 1) / 2) * width for i in range(len(labels))]
            ax.bar(xs, vals, width, label=t)
        ax.set_xticks(range(len(labels)), labels, rotation=20)
        ax.set_title(f"{report['name']}: {title} per layer")
        ax.set_ylabel(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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


# -- command line (python -m hdl report / sweep) ---------------------------------------------

def _targets(text):
    out = [t.strip() for t in text.split(",") if t.strip()]
    for t in out:
        if t not in _synth.TARGETS:
            raise ReportError(f"--targets: unknown target {t!r}; expected a comma-separated "
                              f"list of {', '.join(_synth.TARGETS)}")
    if not out:
        raise ReportError("--targets: no target given")
    return out


def add_subcommands(sub) -> None:
    """Add ``report`` and ``sweep`` to ``python -m hdl``'s subparsers."""
    r = sub.add_parser("report", help="synthesize DIR's RTL (ECP5, Xilinx, iCE40), place and "
                                      "route on ECP5; write DIR/report/")
    r.add_argument("directory", help="artifact directory (python -m fxp train -o DIR)")
    r.add_argument("-o", "--output", help="report folder (default DIR/report)")
    r.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                   help="comma-separated synthesis targets (default %(default)s)")
    r.add_argument("--no-pnr", action="store_true", help="skip place and route (no fmax)")
    r.add_argument("--device", default="auto", choices=["auto", *_synth.ECP5_DEVICES],
                   help="LFE5U device for place and route (default: smallest that fits)")
    r.add_argument("--freq", type=float, default=100.0, metavar="MHZ",
                   help="nextpnr target frequency (default %(default)g)")
    r.add_argument("--out-of-context", action="store_true",
                   help="place without I/O pins (every port registered) instead of the "
                        "serial I/O wrapper")
    r.add_argument("--router", default="router2", choices=["router1", "router2"],
                   help="nextpnr router (default %(default)s: on the parallel digits design "
                        "router1 ran over 20 min where router2 took 3)")
    r.add_argument("--strategy", choices=["parallel", "folded"],
                   help="override hardware.strategy (RTL regenerated into OUT/rtl)")
    r.add_argument("--reuse", type=int, help="override hardware.reuse (folded)")
    r.add_argument("--pipeline", type=int, help="override hardware.pipeline")
    r.add_argument("--acc-bits", type=int, metavar="N",
                   help="widen every accumulator to N bits (same weights; e.g. 32)")
    r.add_argument("--jobs", type=int, help="targets synthesized at once (default: CPUs)")
    s = sub.add_parser("sweep", help="train, generate and synthesize a spec at several weight "
                                     "and accumulator widths; one table and plots")
    s.add_argument("spec", help="model spec (YAML)")
    s.add_argument("--weight-bits", default="4,6,8", help="comma-separated (default "
                                                          "%(default)s)")
    s.add_argument("--acc-bits", default="auto",
                   help="comma-separated widths P (A2Q training) or auto (default %(default)s)")
    s.add_argument("-o", "--output", help="folder (default build/<name>/sweep)")
    s.add_argument("--targets", default="ecp5", help="synthesis targets (default %(default)s)")
    s.add_argument("--pnr", action="store_true", help="also place and route every point")
    s.add_argument("--strategy", choices=["parallel", "folded"])
    s.add_argument("--reuse", type=int)
    s.add_argument("--epochs", type=int, help="override train.epochs")
    s.add_argument("--jobs", type=int, help="points at once (default: CPUs)")


def run_subcommand(args) -> int:
    """Run ``report`` or ``sweep``; errors are one line on stderr (exit 2)."""
    try:
        if args.command == "report":
            if args.jobs is not None and args.jobs < 1:
                raise ReportError(f"--jobs must be a positive integer, not {args.jobs}")
            out = args.output or os.path.join(args.directory, "report")
            rep = build_report(args.directory, output=out, targets=_targets(args.targets),
                               pnr=not args.no_pnr, device=args.device, freq_mhz=args.freq,
                               serial_io=not args.out_of_context, router=args.router,
                               strategy=args.strategy,
                               reuse=args.reuse, pipeline=args.pipeline,
                               acc_bits=args.acc_bits, jobs=args.jobs)
            paths = write_report(rep, out)
            perf = rep["performance"]
            fmax = (f", fmax {perf['fmax_mhz']:.1f} MHz, latency {perf['latency_ns']:.1f} ns"
                    if perf.get("fmax_mhz") else "")
            luts = ", ".join(f"{t} {s['resources']['lut']:,} LUT"
                             for t, s in rep["synthesis"].items())
            print(f"{rep['name']}: {luts}{fmax} -> {paths['md']}")
            return 0
        from .sweep import parse_bits, run_sweep
        if args.jobs is not None and args.jobs < 1:
            raise ReportError(f"--jobs must be a positive integer, not {args.jobs}")
        if args.epochs is not None and args.epochs < 1:
            raise ReportError(f"--epochs must be a positive integer, not {args.epochs}")
        sw = run_sweep(args.spec, weight_bits=parse_bits(args.weight_bits, "--weight-bits",
                                                         False),
                       acc_bits=parse_bits(args.acc_bits, "--acc-bits", True),
                       output=args.output, targets=_targets(args.targets), pnr=args.pnr,
                       strategy=args.strategy, reuse=args.reuse, epochs=args.epochs,
                       jobs=args.jobs)
        failed = [p for p in sw["points"] if "error" in p]
        out = args.output or os.path.join("build", sw["name"], "sweep")
        print(f"{sw['name']}: {len(sw['points'])} points ({sw['cache']['hits']} cached, "
              f"{len(failed)} failed) -> {os.path.join(out, 'sweep.md')}")
        return 1 if failed else 0
    except (ValueError, TypeError, OSError, _synth.SynthError) as e:
        if os.environ.get("FXP_TRACEBACK"):
            raise
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
