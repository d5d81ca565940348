"""The timing harness: registers around a generated model top so place and route measures fmax."""

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..rtl.manifest import Manifest

__all__ = ["IOWrapper", "wrapper_verilog", "WRAPPER"]

WRAPPER = "fxpga_io"


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
    manifest : hdl.rtl.manifest.Manifest
        The model's manifest (its ``top``, ``clock``, ``reset`` and streams).
    serial : bool
    """

    def __init__(self, *, manifest: Manifest, serial: bool = True):
        if not isinstance(manifest, Manifest):
            raise TypeError(f"IOWrapper manifest must be a Manifest, not {manifest!r}")
        self._manifest = manifest
        self._serial = bool(serial)
        self._payloads = {manifest.input.payload, manifest.output.payload}
        ports = self._stream_ports()
        if self._serial:
            sig = {"si": In(1), "load": In(1), "so": Out(1)}
            sig.update({n: (In(1) if p.direction == "in" else Out(1))
                        for n, p in ports.items() if n not in self._payloads})
        else:
            sig = {n: (In if p.direction == "in" else Out)(p.width) for n, p in ports.items()}
        super().__init__(sig)

    def _stream_ports(self):
        man = self._manifest
        return {n: p for n, p in man.ports.items() if n not in (man.clock, man.reset)}

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
        kw = {f"i_{man.clock}": ClockSignal(), f"i_{man.reset}": ResetSignal()}
        for name, p in self._stream_ports().items():
            q = Signal(p.width, name=f"{name}_q")
            if p.direction == "in":
                kw[f"i_{name}"] = q
                if self._serial and name in self._payloads:
                    m.d.sync += q.eq(Cat(q[1:], self.si))
                else:
                    m.d.sync += q.eq(getattr(self, name))
            else:
                d = Signal(p.width, name=f"{name}_d")
                kw[f"o_{name}"] = d
                if self._serial and name in self._payloads:
                    with m.If(self.load):
                        m.d.sync += q.eq(d)
                    with m.Else():
                        m.d.sync += q.eq(q >> 1)
                    m.d.comb += self.so.eq(q[0])
                else:
                    m.d.sync += q.eq(d)
                    m.d.comb += getattr(self, name).eq(q)
        m.submodules.dut = Instance(man.top, **kw)
        return m


def wrapper_verilog(manifest: Manifest, *, serial: bool = True) -> str:
    """Verilog of :class:`IOWrapper` (module ``fxpga_io``) around the model top."""
    from amaranth.back import verilog
    return verilog.convert(IOWrapper(manifest=manifest, serial=serial), name=WRAPPER,
                           emit_src=False)
