"""The AXI4-Stream wrapper of a model core, its Vivado IP packaging script and FuseSoC core file, rendered from the manifest."""

from __future__ import annotations

import importlib.resources

import jinja2

from .manifest import Axis, AxisLanes, Manifest, lane_bits

__all__ = ["axis_layout", "axis_files", "LINT_WAIVERS"]

# the waivers of the core file (templates/rtl/lint.vlt.j2), beside the wrapper
LINT_WAIVERS = "lint.vlt"


def axis_layout(man: Manifest, ip: dict) -> Axis:
    """The wrapper's lanes, names and VLNV for the core described by ``man``.

    Parameters
    ----------
    man : Manifest
        The core's manifest (without ``axis``).
    ip : dict
        ``vendor``, ``library``, ``version`` (:attr:`fxp.nn.hardware.Hardware.ip`).
    """
    def lanes(stream, beats):
        p = stream.port
        return AxisLanes(elements=p.elements, element_bits=p.element_width,
                         lane_bits=lane_bits(p.element_width), signed=p.signed, beats=beats)

    module = f"{man.top}_axis"
    return Axis(module=module, verilog=f"{module}.v",
                input=lanes(man.input, man.input_beats),
                output=lanes(man.output, man.output_beats),
                vendor=ip["vendor"], library=ip["library"], version=ip["version"],
                package_ip="package_ip.tcl", core=f"{man.top}.core")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(importlib.resources.files("templates") / "rtl")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True, autoescape=False)


def axis_files(man: Manifest, *, part: str) -> dict:
    """The wrapper's files, by file name: ``<name>_axis.v``, ``package_ip.tcl``,
    ``<name>.core`` and ``lint.vlt``.

    Parameters
    ----------
    man : Manifest
        A manifest with :attr:`~hdl.rtl.manifest.Manifest.axis`.
    part : str
        The FPGA part of the Vivado project ``package_ip.tcl`` makes (its first
        ``-tclargs`` argument overrides it).
    """
    axis = man.axis
    if axis is None:
        raise ValueError(f"manifest of {man.name} has no AXI4-Stream wrapper")
    env = _environment()
    ctx = dict(
        name=man.name, module=axis.module, core=man.top, core_verilog=man.verilog,
        axis_verilog=axis.verilog, i=axis.input, o=axis.output,
        i_format=man.input.port.format, o_format=man.output.port.format,
        in_count_bits=max(1, (axis.input.beats - 1).bit_length()),
        out_count_bits=max(1, (axis.output.beats - 1).bit_length()),
        clock=man.clock, reset=man.reset,
        in_valid=man.input.valid, in_ready=man.input.ready, in_payload=man.input.payload,
        out_valid=man.output.valid, out_ready=man.output.ready,
        out_payload=man.output.payload, vendor=axis.vendor, library=axis.library,
        version=axis.version, part=part, waivers=LINT_WAIVERS,
        vlnv=f"{axis.vendor}:{axis.library}:{axis.module}:{axis.version}")
    return {axis.verilog: env.get_template("axis.v.j2").render(ctx),
            axis.package_ip: env.get_template("package_ip.tcl.j2").render(ctx),
            axis.core: env.get_template("core.j2").render(ctx),
            LINT_WAIVERS: env.get_template("lint.vlt.j2").render(ctx)}
