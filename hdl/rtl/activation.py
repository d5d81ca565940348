"""Element-wise activations and argmax as valid/ready stream blocks: ReLU, LUT, Argmax."""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory

from fxp import FixedArray, FixedFormat
from fxp.nn.layers import argmax_format

from .common import (Backpressure, StallPipeline, as_format, check_bool, fmt_shape,
                     nonnegative_int, positive_int, vector_layout, vector_streams)
from .requantize import relu_requantize

__all__ = ["ReLU", "LUT", "Argmax"]


def _greater(a, b):
    """``a > b`` as the sign of the exact ``b - a``: a subtraction's carry chain, where
    yosys maps a comparison on ECP5 to a carry chain and a LUT per bit besides."""
    return (b - a)[-1]


class ReLU(Backpressure, wiring.Component):
    """``out = cast(max(x, 0), out_fmt)`` on every element of a vector stream.

    Implements :func:`fxp.nn.layers.relu.relu` bit for bit: the rectified value keeps ``in_fmt``
    and is then requantized with ``out_fmt``'s quantization and overflow modes.

    Parameters
    ----------
    n : int
        Elements per vector.
    in_fmt, out_fmt : FixedFormat or str
        Formats of the input and output elements.
    registered : bool, default False
        Register the output (one :class:`~hdl.common.StallPipeline` stage, latency 1);
        otherwise the block is combinational (latency 0, ``i.ready`` is ``o.ready``).
    backpressure : bool, default True
        False: ignore ``o.ready`` (see :class:`~hdl.common.Backpressure`).

    Attributes
    ----------
    i : In(stream.Signature(vector_layout(in_fmt, n)))
    o : Out(stream.Signature(vector_layout(out_fmt, n)))
    latency : int
        Cycles from an accepted input to its output being valid (output always ready).
    ii : int
        Initiation interval, 1.
    """

    def __init__(self, *, n, in_fmt, out_fmt, registered=False, backpressure=True):
        what = type(self).__name__     # subclasses (LeakyReLU) name themselves in errors
        self._set_backpressure(backpressure, what)
        self._n = positive_int(n, f"{what} vector length n")
        self._in_fmt = as_format(in_fmt, f"{what} input format")
        self._out_fmt = as_format(out_fmt, f"{what} output format")
        self._registered = check_bool(registered, f"{what} registered")
        super().__init__(vector_streams(self._in_fmt, self._n, self._out_fmt, self._n))

    @property
    def n(self) -> int:
        return self._n

    @property
    def in_fmt(self) -> FixedFormat:
        return self._in_fmt

    @property
    def out_fmt(self) -> FixedFormat:
        return self._out_fmt

    @property
    def registered(self) -> bool:
        return self._registered

    @property
    def latency(self) -> int:
        return 1 if self._registered else 0

    @property
    def ii(self) -> int:
        return 1

    def output(self, x):
        """The output element for the input element ``x`` (a subclass computes another
        function): :func:`~hdl.rtl.requantize.relu_requantize`."""
        return relu_requantize(x, self._in_fmt, self._out_fmt)

    def elaborate(self, platform):
        m = Module()
        result = Signal(vector_layout(self._out_fmt, self._n))
        for k in range(self._n):
            m.d.comb += result[k].eq(self.output(self.i.payload[k]))

        name = type(self).__name__.lower()
        pipe = StallPipeline(m, self.i.valid, self._consumer_ready(), name=name)
        out = pipe.stage(result, name=f"{name}_out") if self._registered else result
        o_valid, i_ready = pipe.finish()
        m.d.comb += [self.o.payload.eq(out), self.o.valid.eq(o_valid),
                     self.i.ready.eq(i_ready)]
        return m


class LUT(Backpressure, wiring.Component):
    """Table lookup on every element of a vector stream (sigmoid, tanh, ...).

    Implements :func:`fxp.nn.layers.lut` bit for bit:
    ``index = (raw - in_fmt.raw_min) >> (in_fmt.bits - table_bits)`` (the top ``table_bits``
    bits of the raw value, with the sign bit inverted for a signed format) and
    ``out = table[index]``. The table is a read-only :class:`~amaranth.lib.memory.Memory`
    with one synchronous read port per element, enabled only while the pipeline advances, so
    a stalled output holds its value.

    Parameters
    ----------
    n : int
        Elements per vector.
    in_fmt : FixedFormat or str
        Format of the input elements.
    table : FixedArray
        ``2**table_bits`` entries (see :func:`fxp.nn.layers.make_table`); its format is the
        output format.
    table_bits : int
        Index width, between 1 and ``in_fmt.bits``.
    backpressure : bool, default True
        False: ignore ``o.ready`` (see :class:`~hdl.common.Backpressure`).

    Attributes
    ----------
    i : In(stream.Signature(vector_layout(in_fmt, n)))
    o : Out(stream.Signature(vector_layout(table.fmt, n)))
    latency : int
        1 (the synchronous read).
    ii : int
        Initiation interval, 1.
    """

    def __init__(self, *, n, in_fmt, table, table_bits, backpressure=True):
        self._set_backpressure(backpressure, "LUT")
        self._n = positive_int(n, "LUT vector length n")
        self._in_fmt = as_format(in_fmt, "LUT input format")
        if not isinstance(table, FixedArray):
            raise TypeError(f"LUT table must be a FixedArray, not {table!r}")
        self._table_bits = positive_int(table_bits, "LUT table_bits")
        if table_bits > self._in_fmt.bits:
            raise ValueError(f"LUT table_bits must be between 1 and the input's "
                             f"{self._in_fmt.bits} bits, not {table_bits}")
        if table.shape != (1 << table_bits,):
            raise ValueError(f"LUT table of {table_bits} index bits must have shape "
                             f"({1 << table_bits},), not {table.shape}")
        self._table = table.copy()
        super().__init__(vector_streams(self._in_fmt, self._n, table.fmt, self._n))

    @property
    def n(self) -> int:
        return self._n

    @property
    def in_fmt(self) -> FixedFormat:
        return self._in_fmt

    @property
    def out_fmt(self) -> FixedFormat:
        return self._table.fmt

    @property
    def table(self) -> FixedArray:
        """A copy of the table."""
        return self._table.copy()

    @property
    def table_bits(self) -> int:
        return self._table_bits

    @property
    def latency(self) -> int:
        return 1

    @property
    def ii(self) -> int:
        return 1

    def elaborate(self, platform):
        m = Module()
        drop = self._in_fmt.bits - self._table_bits
        rom = Memory(shape=fmt_shape(self._table.fmt), depth=1 << self._table_bits,
                     init=[int(r) for r in self._table.raw])
        m.submodules.rom = rom

        pipe = StallPipeline(m, self.i.valid, self._consumer_ready(), name="lut")
        for k in range(self._n):
            top = Value.cast(self.i.payload[k]).as_unsigned()[drop:]
            if self._in_fmt.signed:  # raw - raw_min: flip the sign bit
                top = top ^ (1 << (self._table_bits - 1))
            port = rom.read_port()
            m.d.comb += [port.addr.eq(top), port.en.eq(pipe.en),
                         self.o.payload[k].eq(port.data)]
        pipe.stage([], name="lut_read")  # the read port is the register; track its valid
        o_valid, i_ready = pipe.finish()
        m.d.comb += [self.o.valid.eq(o_valid), self.i.ready.eq(i_ready)]
        return m


class Argmax(Backpressure, wiring.Component):
    """Index of the first maximum of a vector stream (ties go to the lowest index).

    Implements :func:`fxp.nn.layers.argmax.argmax` bit for bit with a balanced tree of comparators
    over adjacent pairs: a pair keeps its right candidate only if it is strictly greater, so
    the lowest index wins every tie. The output is a vector of one element of
    :func:`fxp.nn.layers.argmax_format` ``(n)``.

    With ``all_pairs``, two rounds compare every pair of a few values at once instead: first
    within :attr:`groups` of consecutive elements, then among the groups' first maxima.
    In a round, element ``k`` wins when it is greater than every element before it and at
    least every element after it; the winner's value and index are the OR of the winners'
    (one-hot). A round is one comparator and a few LUT levels, where the tree puts a
    comparator and a multiplexer in series per level (on ECP5 about 7 ns a level), and the
    groups need far fewer comparators than all ``n (n - 1) / 2`` pairs (10 values: 14, not
    45). A comparator is the sign of a subtraction (one carry chain, no LUTs beside it).

    Parameters
    ----------
    n : int
        Elements per vector.
    in_fmt : FixedFormat or str
        Format of the input elements.
    pipeline : int, default 0
        Register the candidates after every ``pipeline`` tree levels
        (:class:`~hdl.common.StallPipeline` stages); 0 keeps the tree combinational. With
        ``all_pairs``, any ``pipeline > 0`` registers the groups' maxima and the index.
    all_pairs : bool, default False
        Two rounds of all-pairs comparisons instead of the tree.
    backpressure : bool, default True
        False: ignore ``o.ready`` (see :class:`~hdl.common.Backpressure`).

    Attributes
    ----------
    i : In(stream.Signature(vector_layout(in_fmt, n)))
    o : Out(stream.Signature(vector_layout(argmax_format(n), 1)))
    levels : int
        Depth of the comparator tree, ``ceil(log2(n))``.
    latency : int
        ``levels // pipeline`` (0 when ``pipeline`` is 0); with ``all_pairs``, 2 when
        ``pipeline > 0`` and ``n > 1``, else 0.
    ii : int
        Initiation interval, 1.
    """

    def __init__(self, *, n, in_fmt, pipeline=0, all_pairs=False, backpressure=True):
        self._set_backpressure(backpressure, "Argmax")
        self._n = positive_int(n, "Argmax vector length n")
        self._in_fmt = as_format(in_fmt, "Argmax input format")
        self._pipeline = nonnegative_int(pipeline, "Argmax pipeline")
        self._all_pairs = check_bool(all_pairs, "Argmax all_pairs")
        self._out_fmt = argmax_format(self._n)
        super().__init__(vector_streams(self._in_fmt, self._n, self._out_fmt, 1))

    @property
    def n(self) -> int:
        return self._n

    @property
    def in_fmt(self) -> FixedFormat:
        return self._in_fmt

    @property
    def out_fmt(self) -> FixedFormat:
        return self._out_fmt

    @property
    def pipeline(self) -> int:
        return self._pipeline

    @property
    def levels(self) -> int:
        return (self._n - 1).bit_length()

    @property
    def all_pairs(self) -> bool:
        return self._all_pairs

    @property
    def latency(self) -> int:
        if self._all_pairs:
            return 2 if self._pipeline and self._n > 1 else 0
        return self.levels // self._pipeline if self._pipeline else 0

    @property
    def ii(self) -> int:
        return 1

    @property
    def groups(self) -> tuple:
        """With ``all_pairs``, the sizes of the groups of the first round (consecutive
        elements, about ``sqrt(n)`` groups)."""
        n = self._n
        g = math.isqrt(n - 1) + 1 if n > 1 else 1          # ceil(sqrt(n))
        return tuple(n // g + (k < n % g) for k in range(g))

    @staticmethod
    def _round(values, indices):
        """Every pair of ``values`` compared: the first maximum's value and index (one-hot
        selected); ``indices`` are their indices."""
        if len(values) == 1:
            return values[0], indices[0]
        n = len(values)
        gt = {(j, k): _greater(values[k], values[j]) for k in range(n) for j in range(k)}
        wins = [Cat(*([gt[(j, k)] for j in range(k)] + [~gt[(k, j)] for j in range(k + 1, n)])
                    ).all() for k in range(n)]
        value = Cat(*(Cat(*(w & v[b] for w, v in zip(wins, values))).any()
                      for b in range(len(values[0]))))
        value = value.as_signed() if values[0].shape().signed else value
        index = Cat(*(Cat(*(w & Value.cast(i)[b] for w, i in zip(wins, indices))).any()
                      for b in range(len(indices[0]))))
        return value, index

    def _pairs(self, m, pipe):
        """The index of the first maximum in two rounds of all-pairs comparisons: within each
        group, then among the groups' first maxima (registered between the rounds)."""
        n = self._n
        index_shape = unsigned(self._out_fmt.bits)
        if n == 1:
            return Const(0, index_shape)
        x = [self.i.payload[k] for k in range(n)]
        values, indices, start = [], [], 0
        for size in self.groups:
            v, i = self._round(x[start:start + size],
                               [Const(k, index_shape) for k in range(start, start + size)])
            values.append(v)
            indices.append(i)
            start += size
        if self._pipeline:
            regs = pipe.stage(values + indices, name="argmax_group")
            values, indices = regs[:len(values)], regs[len(values):]
        _, index = self._round(values, indices)
        if self._pipeline:
            index = pipe.stage(index, name="argmax_index")
        return index

    def elaborate(self, platform):
        m = Module()
        index_shape = unsigned(self._out_fmt.bits)
        candidate = data.StructLayout({"value": fmt_shape(self._in_fmt), "index": index_shape})
        pipe = StallPipeline(m, self.i.valid, self._consumer_ready(), name="argmax")
        if self._all_pairs:
            index = self._pairs(m, pipe)
            o_valid, i_ready = pipe.finish()
            m.d.comb += [self.o.payload[0].eq(index), self.o.valid.eq(o_valid),
                         self.i.ready.eq(i_ready)]
            return m

        items = [(self.i.payload[k], Const(k, index_shape)) for k in range(self._n)]
        level = 0
        while len(items) > 1:
            level += 1
            paired = []
            for j in range(0, len(items) - 1, 2):
                (lv, li), (rv, ri) = items[j], items[j + 1]
                right = _greater(rv, lv)  # strictly: a tie keeps the left (lower) index
                paired.append((Mux(right, rv, lv), Mux(right, ri, li)))
            if len(items) % 2:
                paired.append(items[-1])
            items = paired
            if self._pipeline and level % self._pipeline == 0:
                comb = Signal(data.ArrayLayout(candidate, len(items)), name=f"argmax_l{level}")
                for j, (v, i) in enumerate(items):
                    m.d.comb += [comb[j].value.eq(v), comb[j].index.eq(i)]
                reg = pipe.stage(comb, name=f"argmax_r{level}")
                items = [(reg[j].value, reg[j].index) for j in range(len(items))]

        o_valid, i_ready = pipe.finish()
        m.d.comb += [self.o.payload[0].eq(items[0][1]), self.o.valid.eq(o_valid),
                     self.i.ready.eq(i_ready)]
        return m
