"""Verilog and manifest generation for an artifact: ``python -m hdl rtl DIR``."""

from __future__ import annotations

import json
import os

from amaranth.back import verilog

from fxp.files import atomic_directory
from fxp.nn import Model
from fxp.nn.spec import check_identifier

from .top import ModelTop

__all__ = ["build_top", "generate_rtl", "manifest"]

CLOCK, RESET = "clk", "rst"

# Verilog-2005 and SystemVerilog-2017 keywords a module name must not be.
VERILOG_KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic
before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle
checker class clocking cmos config const constraint context continue cover covergroup
coverpoint cross deassign default defparam design disable dist do edge else end endcase
endchecker endclass endclocking endconfig endfunction endgenerate endgroup endinterface
endmodule endpackage endprimitive endprogram endproperty endspecify endsequence endtable
endtask enum event eventually expect export extends extern final first_match for force
foreach forever fork forkjoin function generate genvar global highz0 highz1 if iff ifnone
ignore_bins illegal_bins implements implies import incdir include initial inout input inside
instance int integer interconnect interface intersect join join_any join_none large let
liblist library local localparam logic longint macromodule matches medium modport module
nand negedge nettype new nexttime nmos nor noshowcancelled not notif0 notif1 null or output
package packed parameter pmos posedge primitive priority program property protected pull0
pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase
randsequence rcmos real realtime ref reg reject_on release repeat restrict return rnmos
rpmos rtran rtranif0 rtranif1 s_always s_eventually s_nexttime s_until s_until_with
scalared sequence shortint shortreal showcancelled signed small soft solve specify
specparam static string strong strong0 strong1 struct super supply0 supply1 sync_accept_on
sync_reject_on table tagged task this throughout time timeprecision timeunit tran tranif0
tranif1 tri tri0 tri1 triand trior trireg type typedef union unique unique0 unsigned until
until_with untyped use uwire var vectored virtual void wait wait_order wand weak weak0 weak1
while wildcard wire with within wor xnor xor
""".split())


def build_top(model: Model, **overrides) -> ModelTop:
    """The model's top Component (``overrides``: strategy, reuse, pipeline)."""
    return ModelTop(model=model, **overrides)


def _stream_ports(prefix, direction, fmt, n):
    flip = {"in": "out", "out": "in"}[direction]
    w = fmt.bits
    return {
        f"{prefix}__valid": {"direction": direction, "width": 1},
        f"{prefix}__ready": {"direction": flip, "width": 1},
        f"{prefix}__payload": {
            "direction": direction, "width": w * n, "elements": n, "element_width": w,
            "format": str(fmt), "signed": fmt.signed, "frac_bits": fmt.frac_bits,
            "layout": f"element k at bits [{w}*k+{w - 1}:{w}*k], element 0 in the low bits"},
    }


def manifest(top: ModelTop) -> dict:
    """Ports with their bit layouts and formats, latency, II and per-layer parameters."""
    model = top.model
    layers = []
    for i, blk in top.blocks:
        layer = model.spec.layers[i]
        row = {"index": i, "type": layer.type, "block": type(blk).__name__,
               "latency": blk.latency, "ii": blk.ii,
               "backpressure": getattr(blk, "backpressure", True)}
        if layer.type == "dense":
            w = model.weight(i)
            row.update(units=int(w.shape[0]), inputs=int(w.shape[1]), weight=str(w.fmt),
                       bias=str(model.bias(i).fmt), accumulator=str(layer.accumulator.fmt),
                       output=str(layer.output.fmt), nonzero_weights=int((w.raw != 0).sum()),
                       **top.configs[i])
            if hasattr(blk, "reuse"):
                row["reuse"] = blk.reuse
        elif layer.output is not None:
            row["output"] = str(layer.output.fmt)
        if layer.type in ("sigmoid", "tanh"):
            row["table_bits"] = model.table(i)[1]
        layers.append(row)
    ports = {CLOCK: {"direction": "in", "width": 1},
             RESET: {"direction": "in", "width": 1, "note": "synchronous, active high"}}
    ports.update(_stream_ports("i", "in", model.input_format, model.n_inputs))
    ports.update(_stream_ports("o", "out", top.out_fmt, top.o.payload.shape().length))
    return {"name": model.name, "top": model.name, "verilog": f"{model.name}.v",
            "clock": CLOCK, "reset": RESET, "ports": ports, "latency": top.latency,
            "ii": top.ii, "layers": layers, "output_fifo": {"depth": top.fifo_depth,
                                                            "latency": int(top.fifo_depth > 0)}}


def generate_rtl(directory, *, model=None, output=None, **overrides) -> dict:
    """Write ``DIR/rtl/<name>.v`` and ``DIR/rtl/manifest.json`` for the artifact in DIR.

    Written atomically (a temporary folder swapped in). Returns the manifest.

    Parameters
    ----------
    directory : path-like
        The artifact directory.
    model : fxp.nn.Model, optional
        The model to generate instead of ``Model.load(directory)`` (e.g. with its
        accumulators widened).
    output : path-like, optional
        The folder to write instead of ``DIR/rtl``.
    **overrides
        Hardware overrides for :func:`build_top` (strategy, reuse, pipeline).
    """
    if model is None:
        model = Model.load(directory)
    name = check_identifier(model.name, "model name")
    if name in VERILOG_KEYWORDS or name in (CLOCK, RESET):
        raise ValueError(f"model name {name!r} is a Verilog keyword or a port name; rename "
                         f"the model")
    top = build_top(model, **overrides)
    text = verilog.convert(top, name=name, emit_src=False, strip_internal_attrs=True)
    man = manifest(top)
    with atomic_directory(output or os.path.join(directory, "rtl")) as tmp:
        with open(os.path.join(tmp, f"{name}.v"), "w") as f:
            f.write(text)
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            f.write(json.dumps(man, indent=1, sort_keys=True) + "\n")
    return man
