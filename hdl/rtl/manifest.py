"""The RTL manifest (``rtl/manifest.json``): the typed, versioned contract between hdl and sim.

The emitter (:mod:`hdl.rtl.emit`) writes it beside the Verilog; the cocotb bench, the report
and the timing harness read it with :meth:`Manifest.load`. ``schema`` is an integer, the
version of this layout: it grows by one whenever a field is renamed, removed or changes its
meaning (adding an optional field keeps it), and a reader accepts exactly :data:`SCHEMA`.
Schema 1 is the manifest of before the field existed plus ``"schema": 1``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["SCHEMA", "FILENAME", "Manifest", "Port", "Stream", "LayerEntry", "OutputFifo",
           "AxisLanes", "Axis", "ManifestError", "submodule_name", "lane_bits"]

SCHEMA = 1
FILENAME = "manifest.json"


class ManifestError(ValueError):
    """A manifest is missing or invalid (the message is one line naming the file and field)."""


def submodule_name(index: int, block: str) -> str:
    """The instance name of layer ``index``'s block (class name ``block``) in the model top.

    The model top names its submodules with it, and the report attributes synthesized cells
    to layers by it.

    Examples
    --------
    >>> submodule_name(2, "DenseParallel")
    'layer2_denseparallel'
    """
    return f"layer{index}_{block.lower()}"


def _get(d, key, kind, where, path, default=...):
    """``d[key]`` checked against ``kind`` (a type or a tuple), or a one-line ManifestError."""
    if not isinstance(d, dict):
        raise ManifestError(f"{where}: field {path or 'manifest'!r} must be an object, not "
                            f"{d!r}")
    name = f"{path}.{key}" if path else key
    if key not in d:
        if default is not ...:
            return default
        raise ManifestError(f"{where}: missing field {name!r}")
    value = d[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ManifestError(f"{where}: field {name!r} must be {kind.__name__}, not {value!r}")
    return value


@dataclass(frozen=True)
class Port:
    """One port of the model top.

    Attributes
    ----------
    direction : {"in", "out"}
    width : int
        Bits.
    note : str, optional
        E.g. the reset's polarity.
    elements, element_width, format, signed, frac_bits, layout : optional
        A stream payload's packing: ``elements`` raw values of ``element_width`` bits in the
        fixed-point ``format``, element 0 in the low bits (``layout`` says it in words).
    """

    direction: str
    width: int
    note: str | None = None
    elements: int | None = None
    element_width: int | None = None
    format: str | None = None
    signed: bool | None = None
    frac_bits: int | None = None
    layout: str | None = None

    _OPTIONAL = {"note": str, "elements": int, "element_width": int, "format": str,
                 "signed": bool, "frac_bits": int, "layout": str}

    def to_dict(self) -> dict:
        return {k: v for k, v in (("direction", self.direction), ("width", self.width),
                                  *((k, getattr(self, k)) for k in self._OPTIONAL))
                if v is not None}

    @classmethod
    def from_dict(cls, d, where: str, path: str) -> Port:
        direction = _get(d, "direction", str, where, path)
        if direction not in ("in", "out"):
            raise ManifestError(f"{where}: field {path + '.direction'!r} must be in or out, "
                                f"not {direction!r}")
        kw = {k: _get(d, k, t, where, path, None) for k, t in cls._OPTIONAL.items()}
        return cls(direction=direction, width=_get(d, "width", int, where, path), **kw)


@dataclass(frozen=True)
class Stream:
    """A valid/ready stream of the top: its three port names and the payload port."""

    name: str
    valid: str
    ready: str
    payload: str
    port: Port


@dataclass(frozen=True)
class LayerEntry:
    """One layer block of the top.

    Attributes
    ----------
    index : int
        The layer's index in the spec.
    type : str
        The layer type.
    block : str
        The block's class name.
    latency, ii : int
        Cycles.
    backpressure : bool
        False when the block runs free into the output FIFO.
    output : str, optional
        The output format.
    verilog_module : str, optional
        The block's Verilog module name (:func:`hdl.rtl.netlist.layer_module`).
    params : mapping
        The layer type's own fields (a dense layer's units, inputs, weight, bias,
        accumulator, nonzero_weights, strategy, reuse, pipeline; a table's table_bits),
        from its entry in :data:`hdl.rtl.blocks.BLOCKS`.
    """

    index: int
    type: str
    block: str
    latency: int
    ii: int
    backpressure: bool
    output: str | None = None
    params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    verilog_module: str | None = None

    _COMMON = ("index", "type", "block", "latency", "ii", "backpressure", "output",
               "verilog_module")

    def __post_init__(self):
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def module(self) -> str:
        """The block's instance name in the top (:func:`submodule_name`)."""
        return submodule_name(self.index, self.block)

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self._COMMON if getattr(self, k) is not None}
        out.update(self.params)
        return out

    @classmethod
    def from_dict(cls, d, where: str, path: str) -> LayerEntry:
        kinds = {"index": int, "type": str, "block": str, "latency": int, "ii": int,
                 "backpressure": bool}
        kw = {k: _get(d, k, t, where, path) for k, t in kinds.items()}
        kw["output"] = _get(d, "output", str, where, path, None)
        kw["verilog_module"] = _get(d, "verilog_module", str, where, path, None)
        params = {k: v for k, v in d.items() if k not in cls._COMMON}
        return cls(**kw, params=params)


@dataclass(frozen=True)
class OutputFifo:
    """The top's output FIFO after the free-running blocks (``depth`` 0: none)."""

    depth: int
    latency: int


def lane_bits(bits: int) -> int:
    """An AXI4-Stream lane's bits: ``bits`` rounded up to a multiple of 8.

    Examples
    --------
    >>> lane_bits(5), lane_bits(8), lane_bits(12)
    (8, 8, 16)
    """
    return -(-bits // 8) * 8


@dataclass(frozen=True)
class AxisLanes:
    """One AXI4-Stream side of the wrapper: ``elements`` lanes per beat, element k in
    ``tdata[lane_bits*k + element_bits - 1 : lane_bits*k]``, sign-extended (``signed``) or
    zero-extended to its ``lane_bits``; ``beats`` beats per vector (an image's pixels), TLAST
    on the last.
    """

    elements: int
    element_bits: int
    lane_bits: int
    signed: bool
    beats: int = 1

    _FIELDS = {"elements": int, "element_bits": int, "lane_bits": int, "signed": bool,
               "beats": int}

    @property
    def tdata_bits(self) -> int:
        return self.elements * self.lane_bits

    def pack(self, raw) -> int:
        """TDATA of one beat (``elements`` raw values), each extended to its lane."""
        if len(raw) != self.elements:
            raise ValueError(f"A beat needs {self.elements} elements, not {len(raw)}")
        word, mask = 0, (1 << self.lane_bits) - 1
        for k, v in enumerate(raw):
            word |= (int(v) & mask) << (self.lane_bits * k)
        return word

    def unpack(self, word: int) -> list[int]:
        """Raw values of one beat's TDATA; raises ValueError when a lane's extension bits
        are not the extension of its element."""
        out, w, lane = [], self.element_bits, self.lane_bits
        for k in range(self.elements):
            v = (word >> (lane * k)) & ((1 << lane) - 1)
            low = v & ((1 << w) - 1)
            value = low - (1 << w) if self.signed and low >> (w - 1) else low
            if v != value & ((1 << lane) - 1):
                raise ValueError(f"lane {k} is {v:#x}: not the {'sign' if self.signed else 'zero'}"
                                 f"-extension of its {w}-bit element")
            out.append(value)
        return out

    def to_dict(self) -> dict:
        return {"elements": self.elements, "element_bits": self.element_bits,
                "lane_bits": self.lane_bits, "signed": self.signed, "beats": self.beats,
                "tdata_bits": self.tdata_bits}

    @classmethod
    def from_dict(cls, d, where: str, path: str) -> AxisLanes:
        kw = {k: _get(d, k, t, where, path) for k, t in cls._FIELDS.items()}
        lanes = cls(**kw)
        if lanes.lane_bits != lane_bits(lanes.element_bits):
            raise ManifestError(f"{where}: field {path + '.lane_bits'!r} must be "
                                f"{lane_bits(lanes.element_bits)}, not {lanes.lane_bits}")
        return lanes


@dataclass(frozen=True)
class Axis:
    """The AXI4-Stream wrapper ``<name>_axis`` and its packaging.

    Attributes
    ----------
    module, verilog : str
        Its module name and Verilog file (in the manifest's folder).
    input, output : AxisLanes
        The lane layouts of ``s_axis_tdata`` and ``m_axis_tdata``.
    vendor, library, version : str
        The IP's VLNV (the IP's name is the module's).
    package_ip, core : str
        The Vivado packaging script and the FuseSoC core file.
    """

    module: str
    verilog: str
    input: AxisLanes
    output: AxisLanes
    vendor: str
    library: str
    version: str
    package_ip: str
    core: str

    LAYOUT = ("element k in tdata[L*k+W-1:L*k] (W its bits, L = W rounded up to a multiple "
              "of 8), sign-extended (signed) or zero-extended to L bits; TLAST on the last "
              "beat of each vector")
    _STR = ("module", "verilog", "vendor", "library", "version", "package_ip", "core")

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self._STR}
        out.update(input=self.input.to_dict(), output=self.output.to_dict(),
                   layout=self.LAYOUT)
        return out

    @classmethod
    def from_dict(cls, d, where: str, path: str) -> Axis:
        kw = {k: _get(d, k, str, where, path) for k in cls._STR}
        for side in ("input", "output"):
            kw[side] = AxisLanes.from_dict(_get(d, side, dict, where, path), where,
                                           f"{path}.{side}")
        return cls(**kw)


def _streams(ports, where) -> dict:
    """The input and output streams of ``ports``, checked."""
    streams = {}
    for direction in ("in", "out"):
        found = [n for n, p in ports.items()
                 if n.endswith("__payload") and p.direction == direction]
        if len(found) != 1:
            raise ManifestError(f"{where}: expected one {direction}put stream payload port, "
                                f"found {len(found)}")
        prefix, p = found[0][:-len("__payload")], ports[found[0]]
        for sig in ("valid", "ready"):
            if f"{prefix}__{sig}" not in ports:
                raise ManifestError(f"{where}: stream {prefix!r} has no {prefix}__{sig} "
                                    f"port")
        for k in ("elements", "element_width", "signed", "format"):
            if getattr(p, k) is None:
                raise ManifestError(f"{where}: missing field 'ports.{found[0]}.{k}'")
        if p.elements * p.element_width != p.width:
            raise ManifestError(f"{where}: {found[0]} is {p.width} bits, not "
                                f"{p.elements} x {p.element_width}")
        streams[direction] = Stream(prefix, f"{prefix}__valid", f"{prefix}__ready",
                                    found[0], p)
    return streams


@dataclass(frozen=True)
class Manifest:
    """What the RTL of a model is: ports and their bit layouts, latency, II, the layer blocks.

    Attributes
    ----------
    name : str
        The model name.
    top : str
        The Verilog module name.
    verilog : str
        The Verilog file name (in the manifest's folder).
    clock, reset : str
        Port names; the reset is synchronous and active high.
    ports : mapping of str to Port
    latency, ii : int
        Cycles from an accepted input to its output, and between accepted inputs.
    layers : tuple of LayerEntry
    output_fifo : OutputFifo
    schema : int
        :data:`SCHEMA`.
    input_beats, output_beats : int
        Stream beats per input and per output (an image streams one pixel per beat; 1 for
        vectors). Optional in the JSON (``beats: {input, output}``, written when not 1).
    axis : Axis, optional
        The AXI4-Stream wrapper and its lane layout (optional in the JSON).

    The JSON lists ``ports`` in the order of the top module's port list; every other
    mapping's keys are sorted.
    """

    name: str
    top: str
    verilog: str
    clock: str
    reset: str
    ports: MappingProxyType
    latency: int
    ii: int
    layers: tuple
    output_fifo: OutputFifo
    schema: int = SCHEMA
    input_beats: int = 1
    output_beats: int = 1
    axis: Axis | None = None

    def __post_init__(self):
        object.__setattr__(self, "ports", MappingProxyType(dict(self.ports)))
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "_stream_map", _streams(self.ports, "manifest"))

    @property
    def input(self) -> Stream:
        """The input stream (the testbench drives its valid and payload)."""
        return self._stream_map["in"]

    @property
    def output(self) -> Stream:
        """The output stream."""
        return self._stream_map["out"]

    def to_dict(self) -> dict:
        """The manifest as plain data (what :meth:`to_json` writes)."""
        return {"schema": self.schema, "name": self.name, "top": self.top,
                "verilog": self.verilog, "clock": self.clock, "reset": self.reset,
                "ports": {n: p.to_dict() for n, p in self.ports.items()},
                "latency": self.latency, "ii": self.ii,
                "layers": [row.to_dict() for row in self.layers],
                "output_fifo": {"depth": self.output_fifo.depth,
                                "latency": self.output_fifo.latency},
                **({"beats": {"input": self.input_beats, "output": self.output_beats}}
                   if (self.input_beats, self.output_beats) != (1, 1) else {}),
                **({"axis": self.axis.to_dict()} if self.axis is not None else {})}

    def to_json(self) -> str:
        """JSON with sorted keys but the ports in port-list order, one space of indent, a
        final newline: the same bytes every run."""
        d = json.loads(json.dumps(self.to_dict(), sort_keys=True))
        d["ports"] = {n: dict(sorted(p.to_dict().items())) for n, p in self.ports.items()}
        return json.dumps(d, indent=1) + "\n"

    def write(self, path) -> None:
        """Write :meth:`to_json` to ``path``."""
        with open(path, "w") as f:
            f.write(self.to_json())

    @classmethod
    def from_dict(cls, d, where: str = "manifest") -> Manifest:
        """Validate plain data (``where`` names it in error messages).

        Raises
        ------
        ManifestError
            One line naming ``where`` and the field: a missing field, a field of the wrong
            type, another schema.
        """
        schema = _get(d, "schema", int, where, "")
        if schema != SCHEMA:
            raise ManifestError(f"{where}: schema {schema} is not {SCHEMA}; run python -m hdl "
                                f"rtl again")
        ports = _get(d, "ports", dict, where, "")
        fifo = _get(d, "output_fifo", dict, where, "")
        layers = _get(d, "layers", list, where, "")
        man = {k: _get(d, k, str, where, "")
               for k in ("name", "top", "verilog", "clock", "reset")}
        man.update({k: _get(d, k, int, where, "") for k in ("latency", "ii")})
        ports = {n: Port.from_dict(p, where, f"ports.{n}") for n, p in ports.items()}
        layers = [LayerEntry.from_dict(row, where, f"layers.{k}")
                  for k, row in enumerate(layers)]
        fifo = OutputFifo(_get(fifo, "depth", int, where, "output_fifo"),
                          _get(fifo, "latency", int, where, "output_fifo"))
        _streams(ports, where)
        beats = _get(d, "beats", dict, where, "", {"input": 1, "output": 1})
        man.update({f"{k}_beats": _get(beats, k, int, where, "beats") for k in ("input",
                                                                              "output")})
        axis = d.get("axis")
        if axis is not None:
            axis = Axis.from_dict(_get(d, "axis", dict, where, ""), where, "axis")
        return cls(**man, ports=ports, layers=layers, output_fifo=fifo, schema=schema,
                   axis=axis)

    @classmethod
    def load(cls, path) -> Manifest:
        """Read ``path`` (a ``manifest.json``, or the folder holding one).

        Raises
        ------
        ManifestError
            ``<path>: no such file``, not JSON, or what :meth:`from_dict` finds.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, FILENAME)
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ManifestError(f"{path}: no such file") from None
        except OSError as e:
            raise ManifestError(f"{path}: cannot read: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise ManifestError(f"{path}: not JSON ({e})") from None
        return cls.from_dict(data, path)
