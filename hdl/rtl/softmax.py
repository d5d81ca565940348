"""``softmax`` in hardware: the emulator's two-table algorithm, pipelined over three stages."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from fxp import FixedArray, FixedFormat

from .common import Backpressure, StallPipeline, as_format, positive_int, vector_streams
from .requantize import requantize

__all__ = ["Softmax", "softmax_block", "softmax_fields"]


class Softmax(Backpressure, wiring.Component):
    """Softmax of a vector stream, bit for bit :func:`fxp.nn.layers.softmax.softmax`.

    Stage 1: the maximum ``m`` (a comparator tree), ``d_j = m - x_j`` and the exp table read
    at ``d_j >> (W - T)`` (one synchronous read port per element). Stage 2: the exact sum of
    the ``e_j`` and the reciprocal table read at ``s >> (S - R)``; the ``e_j`` are
    registered alongside. Stage 3: each exact product ``e_j * r`` cast to the output format.
    The read ports load only while the pipeline advances, so a stalled output holds.

    Parameters
    ----------
    n : int
        Elements per vector.
    in_fmt : FixedFormat or str
    exp_table, recip_table : FixedArray
        The artifact's tables (``2**T`` and ``2**R`` entries of ``ufixed<B, 1>``).
    out_fmt : FixedFormat or str
    backpressure : bool, default True

    Attributes
    ----------
    latency : int
        3.
    ii : int
        1.
    """

    def __init__(self, *, n, in_fmt, exp_table, recip_table, out_fmt, backpressure=True):
        self._set_backpressure(backpressure, "Softmax")
        self._n = positive_int(n, "Softmax vector length n")
        self._in_fmt = as_format(in_fmt, "Softmax input format")
        self._out_fmt = as_format(out_fmt, "Softmax output format")
        for what, t in (("exp_table", exp_table), ("recip_table", recip_table)):
            if not isinstance(t, FixedArray) or t.ndim != 1 or len(t) & (len(t) - 1):
                raise TypeError(f"Softmax {what} must be a FixedArray of 2**k entries")
        self._exp, self._recip = exp_table.copy(), recip_table.copy()
        self._sum_fmt = self._exp.fmt.sum(self._n)
        super().__init__(vector_streams(self._in_fmt, self._n, self._out_fmt, self._n))

    @property
    def out_fmt(self) -> FixedFormat:
        return self._out_fmt

    latency = 3
    ii = 1

    def elaborate(self, platform):
        m = Module()
        w, n = self._in_fmt.bits, self._n
        t = len(self._exp).bit_length() - 1
        r_bits = len(self._recip).bit_length() - 1
        ef, sf = self._exp.fmt, self._sum_fmt
        m.submodules.exp_rom = exp_rom = Memory(shape=unsigned(ef.bits), depth=1 << t,
                                                init=[int(v) for v in self._exp.raw])
        m.submodules.recip_rom = recip_rom = Memory(shape=unsigned(ef.bits), depth=1 << r_bits,
                                                    init=[int(v) for v in self._recip.raw])
        pipe = StallPipeline(m, self.i.valid, self._consumer_ready(), name="softmax")

        xs = [self.i.payload[j] for j in range(n)]
        vals = list(xs)
        while len(vals) > 1:
            vals = [Mux(vals[k + 1] > vals[k], vals[k + 1], vals[k]) if k + 1 < len(vals)
                    else vals[k] for k in range(0, len(vals), 2)]
        top = Signal.like(self.i.payload[0], name="softmax_max")
        m.d.comb += top.eq(vals[0])
        e = []
        for j, x in enumerate(xs):
            d = Signal(unsigned(w), name=f"softmax_d{j}")      # 0 <= max - x < 2**W
            m.d.comb += d.eq(Value.cast(top - x).as_unsigned()[:w])
            port = exp_rom.read_port()
            m.d.comb += [port.addr.eq(d[w - t:]), port.en.eq(pipe.en)]
            e.append(port.data)
        pipe.stage([], name="softmax_exp")          # the read ports are the registers

        total = Signal(unsigned(sf.bits), name="softmax_sum")
        acc = e[0]
        for v in e[1:]:
            acc = acc + v
        m.d.comb += total.eq(acc)
        rport = recip_rom.read_port()
        m.d.comb += [rport.addr.eq(total[sf.bits - r_bits:]), rport.en.eq(pipe.en)]
        e2 = pipe.stage(e, name="softmax_e")
        prod_fmt = FixedFormat(2 * ef.bits, 2 * ef.int_bits, False)
        outs = [requantize((v * rport.data).as_unsigned(), prod_fmt, self._out_fmt)
                for v in e2]
        outs = pipe.stage(outs, name="softmax_out")
        o_valid, i_ready = pipe.finish()
        m.d.comb += [self.o.valid.eq(o_valid), self.i.ready.eq(i_ready)]
        m.d.comb += [self.o.payload[j].eq(outs[j]) for j in range(n)]
        return m


def softmax_block(ctx):
    """The layer's softmax over its input vector (or each pixel of an image)."""
    tensors = ctx.model.tensors(ctx.layer.index)
    return Softmax(n=ctx.n, in_fmt=ctx.in_fmt, exp_table=tensors["exp_table"],
                   recip_table=tensors["recip_table"], out_fmt=ctx.layer.output.fmt,
                   backpressure=ctx.backpressure)


def softmax_fields(ctx, block) -> dict:
    tensors = ctx.model.tensors(ctx.layer.index)
    return {"table_bits": len(tensors["exp_table"]).bit_length() - 1,
            "recip_bits": len(tensors["recip_table"]).bit_length() - 1}
