"""A generated top's ports from its manifest.json: clock, reset, the two streams and their payload layouts."""

from __future__ import annotations

import os
from dataclasses import dataclass

from hdl.rtl.manifest import FILENAME, Manifest, ManifestError

__all__ = ["PayloadLayout", "StreamPorts", "TopPorts", "ManifestError"]


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
    input_beats, output_beats : int
        Stream beats per input and per output (an image streams one pixel per beat).
    """

    top: str
    verilog: str
    clock: str
    reset: str
    i: StreamPorts
    o: StreamPorts
    latency: int
    ii: int
    input_beats: int = 1
    output_beats: int = 1

    @classmethod
    def load(cls, rtl_dir) -> TopPorts:
        """Read ``manifest.json`` in ``rtl_dir`` (:meth:`hdl.rtl.manifest.Manifest.load`)."""
        return cls.from_manifest(Manifest.load(os.path.join(rtl_dir, FILENAME)))

    @classmethod
    def from_manifest(cls, man: Manifest) -> TopPorts:
        """The ports of a :class:`~hdl.rtl.manifest.Manifest`."""
        streams = {}
        for key, s in (("i", man.input), ("o", man.output)):
            p = s.port
            streams[key] = StreamPorts(s.valid, s.ready, s.payload,
                                       PayloadLayout(elements=p.elements,
                                                     width=p.element_width, signed=p.signed),
                                       p.format)
        return cls(top=man.top, verilog=man.verilog, clock=man.clock, reset=man.reset,
                   latency=man.latency, ii=man.ii, input_beats=man.input_beats,
                   output_beats=man.output_beats, **streams)
