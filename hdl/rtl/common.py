"""Shared pieces of the hardware blocks: format shapes, argument checks, the stall pipeline."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from fxp import FixedFormat

__all__ = ["extend", "fmt_shape", "vector_layout", "vector_streams", "as_format", "positive_int", "nonnegative_int",
           "check_bool", "silence", "NETLIST", "StallPipeline", "Backpressure"]


def extend(v, width):
    """``v`` sign- or zero-extended to at least ``width`` bits (same value)."""
    if len(v) >= width:
        return v
    pad = v[-1].replicate(width - len(v)) if v.shape().signed else Const(0, width - len(v))
    return Cat(v, pad).as_signed() if v.shape().signed else Cat(v, pad)


def as_format(value, what: str) -> FixedFormat:
    """A FixedFormat from a FixedFormat or a format string, with a message naming ``what``."""
    if isinstance(value, FixedFormat):
        return value
    if isinstance(value, str):
        try:
            return FixedFormat.parse(value)
        except ValueError as e:
            raise ValueError(f"{what}: {e}") from None
    raise TypeError(f"{what} must be a FixedFormat or a format string, not {value!r}")


def positive_int(value, what: str) -> int:
    """Validate a positive integer parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError(f"{what} must be a positive integer, not {value!r}")
    return value


def nonnegative_int(value, what: str) -> int:
    """Validate a non-negative integer parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{what} must be a non-negative integer, not {value!r}")
    return value


def check_bool(value, what: str) -> bool:
    """Validate a bool parameter (not merely a truthy value)."""
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be a bool, not {value!r}")
    return value


NETLIST = "netlist"
"""The ``platform`` a block is elaborated for when its Verilog is written
(:func:`hdl.rtl.netlist`); None in Amaranth's simulator."""


def silence(blocks) -> None:
    """Mark blocks that were built but are refused (never elaborated), and the parts of a
    chain of them: no unused-elaboratable warning when they are collected."""
    for blk in blocks:
        blk._MustUse__silence = True
        silence(getattr(blk, "parts", ()))


def fmt_shape(fmt: FixedFormat):
    """The Amaranth shape of a format's raw integer."""
    return signed(fmt.bits) if fmt.signed else unsigned(fmt.bits)


def vector_layout(fmt: FixedFormat, n: int) -> data.ArrayLayout:
    """A stream payload of ``n`` raw values of ``fmt`` (element 0 in the low bits)."""
    return data.ArrayLayout(fmt_shape(fmt), n)


def vector_streams(in_fmt: FixedFormat, n: int, out_fmt: FixedFormat, m: int) -> dict:
    """The members of a block from ``n`` values of ``in_fmt`` to ``m`` values of
    ``out_fmt``: ``i`` and ``o`` valid/ready streams."""
    return {"i": In(stream.Signature(vector_layout(in_fmt, n))),
            "o": Out(stream.Signature(vector_layout(out_fmt, m)))}


class StallPipeline:
    """Registers for a pipeline with valid/ready backpressure and initiation interval 1.

    The whole pipeline advances when its last stage is empty or the consumer takes it:
    ``en = ~o.valid | o.ready``, and the producer is ready exactly when ``en``. Each
    :meth:`stage` call adds one register stage after the previous one.

    Parameters
    ----------
    m : Module
    i_valid : Value
        The producer's valid.
    o_ready : Value or None
        The consumer's ready; None: the consumer takes every output, so the registers have no
        enable at all (``en`` is constant 1 and the producer is always ready).
    """

    def __init__(self, m, i_valid, o_ready, name="pipe"):
        self._m = m
        self._name = name
        self.en = Signal(name=f"{name}_en")
        self._valid = i_valid
        self._o_ready = Const(1) if o_ready is None else o_ready
        self.stages = 0
        self._last_valid = Signal(name=f"{name}_v_out")

    def stage(self, value, name=None):
        """Register ``value`` as the next stage; returns the register.

        ``value`` is a Value, a View, or a list of them (registered together, one valid).
        """
        self.stages += 1
        name = name or f"{self._name}_s{self.stages}"
        values = value if isinstance(value, (list, tuple)) else [value]
        regs = []
        for k, v in enumerate(values):
            shape = v.shape()
            # data needs no reset (the valid flag has one): no reset net to thousands of
            # flip-flops, and more of them share a slice's control signals
            regs.append(Signal(shape, name=f"{name}_{k}" if len(values) > 1 else name,
                               reset_less=True))
        valid = Signal(name=f"{name}_valid")
        with self._m.If(self.en):
            self._m.d.sync += [r.eq(v) for r, v in zip(regs, values)]
            self._m.d.sync += valid.eq(self._valid)
        self._valid = valid
        return regs if isinstance(value, (list, tuple)) else regs[0]

    def finish(self):
        """Drive ``en``; returns ``(o_valid, i_ready)`` for the block's streams."""
        m = self._m
        if self.stages == 0:
            m.d.comb += self.en.eq(self._o_ready)
            return self._valid, self._o_ready
        m.d.comb += [self._last_valid.eq(self._valid),
                     self.en.eq(~self._last_valid | self._o_ready)]
        return self._last_valid, self.en


class Backpressure:
    """The ``backpressure`` option of the blocks built on :class:`StallPipeline`.

    With ``backpressure=False`` a block ignores ``o.ready``: ``i.ready`` is always 1 and its
    registers load every cycle, so no enable net fans out to them. Only a consumer that takes
    every output may be connected (:class:`~hdl.rtl.top.ModelTop` puts such blocks before a
    credit-counted output FIFO).
    """

    def _set_backpressure(self, value, what: str):
        self._backpressure = check_bool(value, f"{what} backpressure")

    @property
    def backpressure(self) -> bool:
        """Whether the block stalls when ``o.ready`` is low."""
        return self._backpressure

    def _consumer_ready(self):
        """``o.ready``, or None (always ready) without backpressure."""
        return self.o.ready if self._backpressure else None
