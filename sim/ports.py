"""A generated top's ports from its manifest.json: clock, reset, the two streams and their payload layouts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

__all__ = ["PayloadLayout", "StreamPorts", "TopPorts", "ManifestError"]


class ManifestError(ValueError):
    """manifest.json is missing or does not describe a streaming model top."""


@dataclass(frozen=True)
class PayloadLayout:
    """Raw elements packed into one payload integer: element k at bits ``[W*k+W-1 : W*k]``.

    Parameters
    ----------
    elements : int
        Number of elements ``n``.
    width : int
        Bits per element ``W``.
    signed : bool
        Whether elements are two's complement.
    """

    elements: int
    width: int
    signed: bool

    @property
    def bits(self) -> int:
        return self.elements * self.width

    def pack(self, raw) -> int:
        """The payload integer (unsigned, ``elements * width`` bits) of raw element values."""
        if len(raw) != self.elements:
            raise ValueError(f"Payload needs {self.elements} elements, not {len(raw)}")
        mask, w = (1 << self.width) - 1, self.width
        word = 0
        for k, v in enumerate(raw):
            word |= (int(v) & mask) << (w * k)
        return word

    def unpack(self, word: int) -> list[int]:
        """Raw element values of a payload integer (sign-extended when ``signed``)."""
        mask, w = (1 << self.width) - 1, self.width
        out = []
        for k in range(self.elements):
            v = (word >> (w * k)) & mask
            if self.signed and v >> (w - 1):
                v -= 1 << w
            out.append(v)
        return out


@dataclass(frozen=True)
class StreamPorts:
    """The signal names of one valid/ready stream and its payload layout."""

    valid: str
    ready: str
    payload: str
    layout: PayloadLayout
    format: str


@dataclass(frozen=True)
class TopPorts:
    """Everything a testbench needs to drive a model top, read from ``rtl/manifest.json``.

    Attributes
    ----------
    top : str
        The Verilog module name.
    verilog : str
        The Verilog file name (in the same folder as the manifest).
    clock, reset : str
        Port names; the reset is synchronous and active high.
    i, o : StreamPorts
        The input stream (the testbench drives valid and payload) and the output stream.
    latency, ii : int
        Cycles from an accepted input to its output, and cycles between accepted inputs.
    """

    top: str
    verilog: str
    clock: str
    reset: str
    i: StreamPorts
    o: StreamPorts
    latency: int
    ii: int

    @classmethod
    def load(cls, rtl_dir) -> TopPorts:
        """Read ``manifest.json`` in ``rtl_dir``."""
        path = os.path.join(rtl_dir, "manifest.json")
        try:
            with open(path) as f:
                man = json.load(f)
        except FileNotFoundError:
            raise ManifestError(f"{path}: no such file") from None
        except json.JSONDecodeError as e:
            raise ManifestError(f"{path}: not JSON ({e})") from None
        return cls.from_manifest(man, path)

    @classmethod
    def from_manifest(cls, man: dict, where: str = "manifest") -> TopPorts:
        """Build from a manifest dict (``where`` names it in error messages)."""
        try:
            ports = man["ports"]
            streams = {}
            for direction in ("in", "out"):
                found = [name for name, p in ports.items()
                         if name.endswith("__payload") and p.get("direction") == direction]
                if len(found) != 1:
                    raise ManifestError(f"{where}: expected one {direction}put stream payload "
                                        f"port, found {len(found)}")
                prefix = found[0][:-len("__payload")]
                p = ports[found[0]]
                for sig in ("valid", "ready"):
                    if f"{prefix}__{sig}" not in ports:
                        raise ManifestError(f"{where}: stream {prefix!r} has no "
                                            f"{prefix}__{sig} port")
                layout = PayloadLayout(elements=int(p["elements"]),
                                       width=int(p["element_width"]), signed=bool(p["signed"]))
                if layout.bits != int(p["width"]):
                    raise ManifestError(f"{where}: {found[0]} is {p['width']} bits, not "
                                        f"{layout.elements} x {layout.width}")
                streams[direction] = StreamPorts(f"{prefix}__valid", f"{prefix}__ready",
                                                 found[0], layout, p["format"])
            return cls(top=man["top"], verilog=man["verilog"], clock=man["clock"],
                       reset=man["reset"], i=streams["in"], o=streams["out"],
                       latency=int(man["latency"]), ii=int(man["ii"]))
        except KeyError as e:
            raise ManifestError(f"{where}: missing key {e.args[0]!r}") from None
