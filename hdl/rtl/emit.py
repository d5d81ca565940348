"""Verilog and manifest emission for an artifact: ``python -m hdl rtl DIR``."""

from __future__ import annotations

import os

import dataclasses

from fxp.files import atomic_directory
from fxp.nn import Model
from fxp.nn.names import VERILOG_PORTS, check_verilog_name

from ..hls.generate import DEFAULT_PART
from .axis import axis_files, axis_layout
from .blocks import block_kind
from .manifest import FILENAME, LayerEntry, Manifest, OutputFifo, Port, submodule_name
from .netlist import layer_module, readable_verilog
from .top import ModelTop, layer_configs

__all__ = ["build_top", "generate_rtl", "build_manifest", "top_verilog", "CLOCK", "RESET"]

CLOCK, RESET = VERILOG_PORTS
# layer names whose module <name>_<layer> is another module's
RESERVED_LAYER_NAMES = {"axis": "AXI4-Stream wrapper", "out_fifo": "output FIFO"}



def build_top(model: Model, **overrides) -> ModelTop:
    """The model's top Component (``overrides``: strategy, reuse, pipeline, checked first so
    that a bad one leaves no unelaborated component behind)."""
    layer_configs(model, **overrides)
    return ModelTop(model=model, **overrides)


def _stream_ports(prefix, direction, fmt, n) -> dict:
    flip = {"in": "out", "out": "in"}[direction]
    w = fmt.bits
    return {
        f"{prefix}__valid": Port(direction=direction, width=1),
        f"{prefix}__ready": Port(direction=flip, width=1),
        f"{prefix}__payload": Port(
            direction=direction, width=w * n, elements=n, element_width=w, format=str(fmt),
            signed=fmt.signed, frac_bits=fmt.frac_bits,
            layout=f"element k at bits [{w}*k+{w - 1}:{w}*k], element 0 in the low bits"),
    }


def build_manifest(top: ModelTop) -> Manifest:
    """Ports with their bit layouts and formats, latency, II and per-layer parameters (each
    layer type's own fields from its :data:`hdl.rtl.blocks.BLOCKS` entry)."""
    model = top.model
    contexts = top.contexts
    layers = []
    for i, blk in top.blocks:
        ctx = contexts[i]
        layer = ctx.layer
        layers.append(LayerEntry(
            index=i, type=layer.type, block=type(blk).__name__, latency=blk.latency,
            ii=blk.ii, backpressure=getattr(blk, "backpressure", True),
            output=str(layer.output.fmt) if layer.output is not None else None,
            params=block_kind(layer).fields(ctx, blk),
            verilog_module=layer_module(model.name, i, layer.type, layer.name)))
    ports = {CLOCK: Port(direction="in", width=1),
             RESET: Port(direction="in", width=1, note="synchronous, active high")}
    ports.update(_stream_ports("i", "in", model.input_format, top.i.payload.shape().length))
    ports.update(_stream_ports("o", "out", top.out_fmt, top.o.payload.shape().length))
    return Manifest(name=model.name, top=model.name, verilog=f"{model.name}.v", clock=CLOCK,
                    reset=RESET, ports=ports, latency=top.latency, ii=top.ii, layers=layers,
                    output_fifo=OutputFifo(depth=top.fifo_depth,
                                           latency=int(top.fifo_depth > 0)),
                    input_beats=top.input_beats, output_beats=top.output_beats)


def top_verilog(top: ModelTop, man: Manifest) -> str:
    """The core's Verilog: module ``man.top`` with its ports in the manifest's order, one
    module per layer block named by :func:`~hdl.rtl.netlist.layer_module`."""
    instances = {submodule_name(row.index, row.block): row.verilog_module
                 for row in man.layers}
    reserved = {man.axis.module} if man.axis is not None else set()
    return readable_verilog(top, name=man.top, order=list(man.ports),
                            instances=instances, reserved=reserved)


def generate_rtl(directory, *, model=None, output=None, **overrides) -> dict:
    """Write ``DIR/rtl/<name>.v`` (the core), ``DIR/rtl/manifest.json``, the AXI4-Stream
    wrapper ``DIR/rtl/<name>_axis.v`` with its Verilator waivers ``lint.vlt``, the Vivado
    packaging script ``package_ip.tcl`` and the FuseSoC core file ``<name>.core``.

    Written atomically (a temporary folder swapped in). Returns the :class:`~hdl.rtl.manifest.Manifest`.

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
    check_verilog_name(model.name, "model name", taken=(CLOCK, RESET))
    for layer in model.spec.layers:
        if layer.name in RESERVED_LAYER_NAMES:
            raise ValueError(f"{layer.label} field 'name': {layer.name!r} would name its module "
                             f"{model.name}_{layer.name} like the "
                             f"{RESERVED_LAYER_NAMES[layer.name]}; rename the layer")
    top = build_top(model, **overrides)
    man = build_manifest(top)
    man = dataclasses.replace(man, axis=axis_layout(man, model.spec.hardware.ip))
    # package_ip.tcl's Vivado project is for the HLS project's part
    files = {man.verilog: top_verilog(top, man), **axis_files(man, part=DEFAULT_PART)}
    with atomic_directory(output or os.path.join(directory, "rtl")) as tmp:
        for fn, text in files.items():
            with open(os.path.join(tmp, fn), "w") as f:
                f.write(text)
        man.write(os.path.join(tmp, FILENAME))
    return man
