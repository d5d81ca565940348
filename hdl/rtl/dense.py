"""Dense layers in hardware: fully parallel (constant weights, adder tree) and folded (ROM, MACs).

Both compute exactly ``fxp.nn.layers.dense.dense``: every product exact, the sum with the bias
wrapped modulo ``2**acc.bits`` (the accumulator is WRAP), then the output cast.
"""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from fxp import FixedArray, FixedFormat, Overflow

from . import cmvm
from .cmvm import csd
from .common import (NETLIST, Backpressure, StallPipeline, as_format, check_bool, extend,
                     fmt_shape, nonnegative_int, positive_int, vector_layout)
from .queue import serve_times
from .requantize import round_bounds, cast_relu_cast, requantize

__all__ = ["DenseParallel", "DenseFolded", "csd"]


def _check_params(cls, weight, bias, in_fmt, acc_fmt, out_fmt):
    name = cls.__name__
    if not isinstance(weight, FixedArray) or weight.ndim != 2:
        raise TypeError(f"{name} weight must be a 2-D FixedArray (units, inputs), not "
                        f"{weight!r}")
    if not weight.fmt.fits_int64:
        raise ValueError(f"{name} weight format {weight.fmt} is wider than 64 bits")
    units = weight.shape[0]
    if bias is not None:
        if not isinstance(bias, FixedArray) or bias.shape != (units,):
            raise TypeError(f"{name} bias must be a FixedArray of shape ({units},), not "
                            f"{bias!r}")
    in_fmt = as_format(in_fmt, f"{name} in_fmt")
    acc_fmt = as_format(acc_fmt, f"{name} acc_fmt")
    out_fmt = as_format(out_fmt, f"{name} out_fmt")
    if acc_fmt.overflow.value != "WRAP":
        raise ValueError(f"{name} acc_fmt {acc_fmt} must use WRAP overflow")
    prod = weight.fmt.mul(in_fmt)
    if acc_fmt.frac_bits < prod.frac_bits:
        raise ValueError(f"{name} acc_fmt {acc_fmt} has fewer fraction bits than the products "
                         f"{prod}")
    if bias is not None and acc_fmt.frac_bits < bias.fmt.frac_bits:
        raise ValueError(f"{name} acc_fmt {acc_fmt} has fewer fraction bits than the bias "
                         f"{bias.fmt}")
    return in_fmt, acc_fmt, out_fmt


def _rounded_format(acc: FixedFormat, out: FixedFormat) -> FixedFormat | None:
    """The narrowest WRAP format holding every value of ``acc`` rounded to ``out``'s fraction
    bits with ``out``'s quantization (so casting to it never overflows), or None when the cast
    drops no fraction bits or its overflow cannot be split from its rounding (WRAP_SM reads
    the unrounded value)."""
    s = acc.frac_bits - out.frac_bits
    if s <= 0 or out.overflow is Overflow.WRAP_SM:
        return None
    bits, sgn = cmvm.range_bits(*round_bounds(acc, s, out.quantization))
    return FixedFormat(bits=bits, int_bits=bits - out.frac_bits, signed=sgn,
                       quantization=out.quantization)


def _wrap(value, acc_fmt: FixedFormat):
    """The low ``acc.bits`` bits of an exact sum, as the accumulator's signed/unsigned raw
    (a sum narrower than the accumulator is extended first: its top bit is not a sign bit
    unless it is signed)."""
    low = extend(value, acc_fmt.bits)[:acc_fmt.bits]
    return low.as_signed() if acc_fmt.signed else low


class _Dense(wiring.Component):
    """What both dense blocks share: validated parameters, formats and stream ports."""

    def __init__(self, weight, bias, in_fmt, acc_fmt, out_fmt, beats=1, relu_fmt=None):
        in_fmt, acc_fmt, out_fmt = _check_params(type(self), weight, bias, in_fmt, acc_fmt,
                                                 out_fmt)
        if relu_fmt is not None:
            relu_fmt = as_format(relu_fmt, f"{type(self).__name__} relu_fmt")
        self._weight, self._bias = weight, bias
        self._in_fmt, self._acc_fmt, self._out_fmt = in_fmt, acc_fmt, out_fmt
        self._relu_fmt = relu_fmt
        units, inputs = weight.shape
        super().__init__({
            "i": In(stream.Signature(vector_layout(in_fmt, inputs // beats))),
            "o": Out(stream.Signature(vector_layout(relu_fmt or out_fmt, units))),
        })

    @property
    def in_fmt(self) -> FixedFormat:
        """Format of each input element."""
        return self._in_fmt

    @property
    def acc_fmt(self) -> FixedFormat:
        """Accumulator format (WRAP)."""
        return self._acc_fmt

    @property
    def out_fmt(self) -> FixedFormat:
        """Format of each output element (the fused ReLU's, if any)."""
        return self._relu_fmt or self._out_fmt

    @property
    def relu_fmt(self) -> FixedFormat | None:
        """The output format of the ReLU computed with the layer's cast, or None."""
        return self._relu_fmt


class DenseParallel(Backpressure, _Dense):
    """A dense layer with constant weights: all products at once, an adder graph, II = 1.

    The products and their sums are a multiplier-free constant matrix-vector multiply
    (:mod:`hdl.rtl.cmvm`): every weight's canonical signed digits, digit pairs that recur
    across units built once and shared (no deeper than the plain trees' register stages),
    then each unit's delay-aware adder tree with the bias;
    every adder exactly as wide as the exact range of its value, bits below an operand's
    shift passing through. Zero weights cost nothing.

    Parameters
    ----------
    weight : FixedArray
        ``(units, inputs)`` raw weights (constants in the logic; zero weights cost nothing).
    bias : FixedArray or None
        ``(units,)``.
    in_fmt, acc_fmt, out_fmt : FixedFormat or str
        Input element, accumulator (WRAP) and output formats.
    pipeline : int
        A register stage every ``pipeline`` adder levels of the graph and after its last
        level, so the cast's rounding adder starts a cycle (0: combinational). The output of
        the cast is registered when ``pipeline > 0``: latency ``ceil(depth / pipeline) + 1``.
        With ``pipeline == 1`` the cast takes two cycles too, its rounding adder in one and its
        overflow handling in the next (latency ``depth + 2``).
    backpressure : bool, default True
        False: ignore ``o.ready`` (see :class:`~hdl.common.Backpressure`).
    cse : bool, default True
        Share common subexpressions between units (False: one tree of digits per unit).
    relu_fmt : FixedFormat or str, optional
        Also compute the ReLU layer after this one: ``cast(max(y, 0), relu_fmt)`` of the
        output ``y``, in the same cycle as the cast
        (:func:`~hdl.rtl.requantize.cast_relu_cast`); the output is then of ``relu_fmt``.

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(in, inputs)))
    o : Out(stream.Signature(ArrayLayout(out, units)))
    """

    def __init__(self, *, weight, bias, in_fmt, acc_fmt, out_fmt, pipeline=0,
                 backpressure=True, cse=True, relu_fmt=None):
        self._set_backpressure(backpressure, "DenseParallel")
        pipeline = nonnegative_int(pipeline, "DenseParallel pipeline")
        cse = check_bool(cse, "DenseParallel cse")
        super().__init__(weight, bias, in_fmt, acc_fmt, out_fmt, relu_fmt=relu_fmt)
        self._pipeline = pipeline
        acc, infmt = self._acc_fmt, self._in_fmt
        consts = None
        if bias is not None:
            consts = [int(v) << (acc.frac_bits - bias.fmt.frac_bits) for v in bias.raw]
        self._graph = cmvm.solve(
            weight.raw.tolist(), [(infmt.raw_min, infmt.raw_max)] * weight.shape[1],
            consts=consts, shift=acc.frac_bits - weight.fmt.frac_bits - infmt.frac_bits,
            cse=cse, pipeline=pipeline)
        # a register every `pipeline` levels and after the last, then the cast's register(s)
        self._latency = (self._graph.stages(pipeline) + 1 + (pipeline == 1)) if pipeline else 0

    @property
    def latency(self) -> int:
        """Cycles from an accepted input to its output (output always ready)."""
        return self._latency

    @property
    def ii(self) -> int:
        """Initiation interval: one vector per cycle."""
        return 1

    @property
    def pipeline(self) -> int:
        """Adder levels between registers (0: combinational)."""
        return self._pipeline

    @property
    def graph(self) -> cmvm.CMVMGraph:
        """The adder graph of the products and sums."""
        return self._graph

    def elaborate(self, platform):
        m = Module()
        units = self._weight.shape[0]
        acc = self._acc_fmt
        pipe = StallPipeline(m, self.i.valid, self._consumer_ready(), name="dense")
        x = [self.i.payload[j] for j in range(self._weight.shape[1])]
        # named adder wires in the netlist only (the simulator settles them a level at a time)
        sums = cmvm.emit(m, self._graph, x, pipeline=self._pipeline, stage=pipe.stage,
                         wires=platform == NETLIST)
        roots = [Const(0, 1) if v is None else v << o[1]
                 for v, o in zip(sums, self._graph.outputs)]
        outs, src = [_wrap(r, acc) for r in roots], acc
        if self._pipeline == 1:
            # round, register, then handle overflow: casting through a format that holds every
            # rounded value is the same cast (fxp rounds first, then handles overflow)
            mid = _rounded_format(acc, self._out_fmt)
            if mid is not None:
                outs, src = [requantize(v, acc, mid) for v in outs], mid
            outs = pipe.stage(outs, name="dense_round")
        if self._relu_fmt is None:
            outs = [requantize(v, src, self._out_fmt) for v in outs]
        else:
            outs = [cast_relu_cast(v, src, self._out_fmt, self._relu_fmt) for v in outs]
        if self._pipeline:
            outs = pipe.stage(outs, name="dense_out")
        o_valid, i_ready = pipe.finish()
        m.d.comb += [self.o.valid.eq(o_valid), self.i.ready.eq(i_ready)]
        m.d.comb += [self.o.payload[u].eq(outs[u]) for u in range(units)]
        return m


class DenseFolded(_Dense):
    """A dense layer folded over ``reuse`` cycles: weights in ROM, ``units * ceil(inputs /
    reuse)`` multiply-accumulates per cycle, accumulators of exactly ``acc_fmt.bits``.

    Parameters
    ----------
    weight, bias, in_fmt, acc_fmt, out_fmt :
        As for :class:`DenseParallel`.
    reuse : int
        Cycles per vector (the reuse factor R); ``1 <= reuse <= inputs``.
    pipeline : int
        Register the sum of a chunk's ``ceil(inputs / reuse)`` products every ``pipeline``
        levels of its balanced adder tree (0: the whole sum, a chain ``p0 + p1 + ...``, in
        the accumulate cycle). With ``pipeline > 0`` the multipliers' operands and the
        products are also registered twice (two cycles more).
    beats : int, default 1
        The vector comes as ``beats`` beats of ``inputs / beats`` values (a flattened image's
        pixels, row-major): each beat is taken in ``reuse / beats`` cycles and the sums go on
        over the beats, so the whole vector is never stored. ``beats`` divides ``reuse`` and
        ``inputs``.

    Notes
    -----
    A pipeline per chunk: the ROM word and the input chunk are registered (a register per
    multiplier; with ``pipeline > 0`` again, a copy that can sit beside the DSP block), then
    the products, twice with ``pipeline > 0`` (beside the multiplier, then
    beside the adders: on ECP5 the DSP blocks span the die), then their adder tree (a register
    every ``pipeline`` levels and at its root), then the accumulators take the sum (the bias on
    a vector's first chunk), and the cast of the finished accumulators goes to an output FIFO
    in the next cycle (buffered: its output is a register), so no cycle holds a ROM read, a
    multiplier, more than ``pipeline`` adders, an adder and the cast together, or a FIFO read
    and the consumer's logic.
    Latency ``reuse / beats + 7`` cycles (``+ 5`` with ``pipeline == 0``) plus one per tree
    register from the vector's last beat, initiation interval ``reuse``: the next beat is
    accepted in the cycle the current one's last chunk is issued. A vector's first beat is
    accepted only with a FIFO entry reserved for its result (a credit; as many entries as
    results can be outstanding at full rate, plus one, so a consumer taking every result never
    slows the input): the datapath never stalls and has no enable, and ``o.ready`` reaches no
    flip-flop of it.
    """

    def __init__(self, *, weight, bias, in_fmt, acc_fmt, out_fmt, reuse, pipeline=0,
                 beats=1):
        reuse = positive_int(reuse, "DenseFolded reuse")
        pipeline = nonnegative_int(pipeline, "DenseFolded pipeline")
        beats = positive_int(beats, "DenseFolded beats")
        if isinstance(weight, FixedArray) and weight.ndim == 2:
            inputs = weight.shape[1]
            if reuse > inputs:
                raise ValueError(f"DenseFolded reuse must be at most the {inputs} inputs, "
                                 f"not {reuse}")
            if reuse % beats or inputs % beats:
                raise ValueError(f"DenseFolded beats must divide the reuse {reuse} and the "
                                 f"{inputs} inputs, not {beats}")
        self._beats = beats
        super().__init__(weight, bias, in_fmt, acc_fmt, out_fmt, beats=beats)
        self._reuse = reuse
        self._per_beat = reuse // beats                 # cycles per beat
        self._width = weight.shape[1] // beats          # values per beat
        self._chunk = math.ceil(self._width / self._per_beat)
        self._pipeline = pipeline
        depth = math.ceil(math.log2(self._chunk)) if self._chunk > 1 else 0
        self._tree_stages = -(-depth // pipeline) if pipeline else 0

    @property
    def latency(self) -> int:
        """Cycles from the vector's last accepted beat to its output (output always ready)."""
        return self._per_beat + 5 + 2 * (self._pipeline > 0) + self._tree_stages

    @property
    def pipeline(self) -> int:
        """Product-sum tree levels between registers (0: combinational)."""
        return self._pipeline

    @property
    def ii(self) -> int:
        return self._reuse

    @property
    def reuse(self) -> int:
        """Cycles per vector."""
        return self._reuse

    @property
    def beats(self) -> int:
        """Beats per vector."""
        return self._beats

    @property
    def service(self) -> int:
        """Cycles per beat: a beat is accepted at most every ``reuse / beats`` cycles."""
        return self._per_beat

    def beat_times(self, times) -> list:
        """Output cycles for beats offered at ``times`` (held while the block is busy)."""
        starts = serve_times(times, self._per_beat)
        return [s + self.latency for s in starts[self._beats - 1::self._beats]]

    def rom_words(self) -> list[list[int]]:
        """ROM contents: word ``p * R/B + r`` holds ``W[u, p*N/B + r*C + k]`` for every unit
        ``u`` and k < C (C the chunk, zero past the beat's values)."""
        w = self._weight.raw
        units = w.shape[0]
        c, n = self._chunk, self._width
        words = []
        for p in range(self._beats):
            for r in range(self._per_beat):
                words.append([int(w[u, p * n + r * c + k]) if r * c + k < n else 0
                              for u in range(units) for k in range(c)])
        return words

    def elaborate(self, platform):
        m = Module()
        w, b = self._weight, self._bias
        units = w.shape[0]
        acc = self._acc_fmt
        c, per, beats = self._chunk, self._per_beat, self._beats
        in_shape = fmt_shape(self._in_fmt)
        w_shape = fmt_shape(w.fmt)
        prod_frac = w.fmt.frac_bits + self._in_fmt.frac_bits

        # The units come in ~sqrt(units) groups, each with its own input shift register, and
        # each unit has its own copy of the chunk counter and its own ROM (copies that yosys
        # cannot merge: each feeds back on itself): an input value drives one group's
        # multipliers and an address bit one unit's ROM bits, not all of them across the device
        # (on ECP5 the DSP blocks of the digits layer span the die: 11 ns of routing from one
        # input register; 13 ns from a group's counter to its ROM bits).
        groups = min(units, math.isqrt(units - 1) + 1)
        group = [u * groups // units for u in range(units)]
        first = [group.index(g) for g in range(groups)]        # a group's first unit
        words = self.rom_words()
        rds = []
        for u in range(units):
            rom = memory.Memory(shape=data.ArrayLayout(w_shape, c), depth=self._reuse,
                                init=[word[u * c:(u + 1) * c] for word in words])
            m.submodules[f"rom_u{u}"] = rom
            rds.append(rom.read_port(domain="comb"))

        # issue: one chunk of the beat and its ROM word per cycle; `beat` counts the vector's
        # beats, `r` the chunks of a beat
        busy = Signal()
        r = Signal(range(max(per, 2)))
        ru = [r] + [Signal(range(max(per, 2)), name=f"r_u{u}") for u in range(1, units)]
        beat = Signal(range(max(beats, 2)), name="dense_beat")
        # the data registers have no reset (the flags do); each moves down by C every cycle
        xg = [Signal(data.ArrayLayout(in_shape, c * per), reset_less=True, name=f"x_g{g}")
              for g in range(groups)]
        beat_done = busy & (r == per - 1)
        last_beat = beat == beats - 1 if beats > 1 else Const(1, 1)
        # a vector's first beat is accepted only with an output FIFO entry reserved for its
        # result (a credit): the datapath after the issue never stalls, so it has no enable.
        # Entries: the results outstanding when a first beat comes at full rate, plus one.
        depth = ((beats - 1) * per + self.latency) // self._reuse + 1
        # buffered: its output is a register, so the consumer's logic starts a cycle (a LUT
        # RAM read before it: 14.8 ns through the ReLU after folded digits layer 0)
        m.submodules.out_fifo = fifo = SyncFIFOBuffered(width=units * self._out_fmt.bits,
                                                        depth=depth)
        credits = Signal(range(depth + 1))
        take, new, pop = Signal(), Signal(), Signal()
        first_beat = beat == 0 if beats > 1 else Const(1, 1)
        m.d.comb += [rd.addr.eq(beat * per + rr if beats > 1 else rr)
                     for rd, rr in zip(rds, ru)]
        m.d.comb += [take.eq(self.i.valid & self.i.ready), new.eq(take & first_beat),
                     pop.eq(fifo.r_rdy & self.o.ready)]
        # i.ready is (~busy | beat_done) & (~first_beat | credits < depth), registered: set
        # from the next state, so the ready of a folded layer does not ripple from its
        # counters through the blocks before it (folded digits R=16: layer 2's counter through
        # the ReLU's enable into layer 0's output FIFO, 14.4 ns)
        ready = Signal(init=1, name="ready")
        busy_n = Mux(take, 1, Mux(beat_done, 0, busy))
        r_n = Mux(take, 0, Mux(busy, Mux(beat_done, 0, r + 1), r))
        credits_n = credits + new - pop
        m.d.sync += credits.eq(credits_n)
        first_n = Const(1, 1)
        if beats > 1:
            first_n = Mux(beat_done, last_beat, beat == 0)
        m.d.sync += ready.eq((~busy_n | (r_n == per - 1)) & (~first_n | (credits_n < depth)))
        m.d.comb += self.i.ready.eq(ready)
        # stage 1: the ROM word and the chunk, registered
        v1, last1 = Signal(), Signal()
        # initially the word the ROMs read first: a bit the same in every word is then a
        # constant, not a flip-flop (init 0, D 1) yosys shares between DSP blocks
        w1 = Signal(data.ArrayLayout(w_shape, units * c), init=words[0], reset_less=True)
        # each multiplier's own input register (so the placer can put it beside its DSP
        # block), zeroed on idle cycles by its unit's own busy flag: a copy of the flag per
        # unit, each feeding back on itself, so yosys cannot merge the registers of a group
        x1u = [Signal(data.ArrayLayout(in_shape, c), reset_less=True, name=f"x1_u{u}")
               for u in range(units)]
        busyu = [busy] + [Signal(name=f"busy_u{u}") for u in range(1, units)]
        # stage 2: the products, registered beside their multipliers (DSP blocks spread over
        # the die: the route from a multiplier to its unit's adders gets a cycle of its own);
        # stage 3 (with a pipelined tree): the products again, beside the adders. Unpipelined,
        # the products go from stage 2 into the chain, so yosys can pack it into DSP48E1s
        v2, last2 = Signal(), Signal()
        pshape = signed(in_shape.width + len(w1[0]) + 1)
        prods = [[Signal(pshape, name=f"m{u}_{k}", reset_less=True) for k in range(c)]
                 for u in range(units)]
        # a vector's first chunk, a flag per group (from the group's own counter: copies
        # yosys cannot merge), so no one net selects every accumulator's start
        first1g = [Signal(name=f"first1_g{g}") for g in range(groups)]
        first2g = [Signal(name=f"first2_g{g}") for g in range(groups)]
        def registered(rows, name):
            # the values (a list per unit) a cycle later, in registers named name(u, k)
            regs = [[Signal(v.shape(), name=name(u, k), reset_less=True)
                     for k, v in enumerate(row)] for u, row in enumerate(rows)]
            m.d.sync += [r.eq(v) for rr, row in zip(regs, rows) for r, v in zip(rr, row)]
            return regs

        def delayed(flags, names):
            # the flags (valid, last, first per group) a cycle later, in registers `names`
            regs = tuple(Signal(name=n) for n in names)
            m.d.sync += [r.eq(f) for r, f in zip(regs, flags)]
            return regs

        xs = [[x1u[u][k] for k in range(c)] for u in range(units)]
        ws = [[w1[u * c + k] for k in range(c)] for u in range(units)]
        f1 = (v1, last1, *first1g)
        if self._pipeline:
            # with a pipelined tree the multiplier's operands are registered again, each copy
            # fed by one register and feeding one DSP block, so the placer puts it beside the
            # block: the ROM word and the chunk registers sit by their ROM and input ring,
            # 40-90 columns from the DSP blocks that span the die (folded digits R=16: a ROM
            # word register into a MULT18X18D into its product register was 10.1 ns)
            xs = registered(xs, lambda u, k: f"xm{u}_{k}")
            ws = registered(ws, lambda u, k: f"wm{u}_{k}")
            f1 = delayed(f1, ("v1b", "last1b", *(f"first1b_g{g}" for g in range(groups))))
        m.d.sync += [prods[u][k].eq(xs[u][k] * ws[u][k])
                     for u in range(units) for k in range(c)]
        flags = (v2, last2, *first2g)
        if self._pipeline:
            prods = registered(prods, lambda u, k: f"p{u}_{k}")
            flags = delayed(flags, ("v3", "last3", *(f"first3_g{g}" for g in range(groups))))
        # the products' balanced adder trees, registered every `pipeline` levels and at the
        # root (with their flags); the accumulators take the roots. Unregistered, the sum is a
        # chain (p0 + p1) + p2 + ...: yosys packs such a chain into cascaded DSP48E1s
        trees = [list(p) for p in prods]
        if not self._pipeline:
            trees = [[sum(t[1:], t[0])] for t in trees]
        level = 0
        while len(trees[0]) > 1:
            trees = [[t[k] + t[k + 1] if k + 1 < len(t) else t[k]
                      for k in range(0, len(t), 2)] for t in trees]
            level += 1
            if self._pipeline and (level % self._pipeline == 0 or len(trees[0]) == 1):
                trees = registered(trees, lambda u, k, lv=level: f"sum{u}_l{lv}_{k}")
                flags = delayed(flags, [f"{n}_l{level}" for n in
                                        ("v", "last", *(f"first_g{g}" for g in range(groups)))])
        v_acc, last_acc, *first_acc = flags
        accs = [Signal(fmt_shape(acc), name=f"acc{u}", reset_less=True) for u in range(units)]

        bias = [0] * units if b is None else \
            [int(v) << (acc.frac_bits - b.fmt.frac_bits) for v in b.raw]
        new_accs = []
        for u in range(units):
            start = Const(bias[u], signed(max(abs(bias[u]).bit_length() + 1, 1)))
            s = Mux(first_acc[group[u]], start, accs[u]) + \
                (trees[u][0] << (acc.frac_bits - prod_frac))
            new_accs.append(_wrap(s, acc))

        # the cast of the finished accumulators, in the cycle after the last chunk's, into
        # the output FIFO
        done = Signal()
        result = Signal(vector_layout(self._out_fmt, units))
        m.d.comb += [result[u].eq(requantize(accs[u], acc, self._out_fmt))
                     for u in range(units)]
        m.d.comb += [fifo.w_en.eq(done), fifo.w_data.eq(result.as_value()),
                     fifo.r_en.eq(self.o.ready), self.o.valid.eq(fifo.r_rdy),
                     self.o.payload.eq(fifo.r_data)]
        m.d.sync += [done.eq(v_acc & last_acc),
                     v1.eq(busy), last1.eq(beat_done & last_beat), v2.eq(f1[0]),
                     last2.eq(f1[1])]
        m.d.sync += [f.eq((ru[first[g]] == 0) & (beat == 0)) for g, f in enumerate(first1g)]
        m.d.sync += [fb.eq(fa) for fa, fb in zip(f1[2:], first2g)]
        m.d.sync += [w1[u * c + k].eq(rds[u].data[k])
                     for u in range(units) for k in range(c)]
        # an idle cycle's chunk is zero, so its products add nothing: the accumulators need no
        # enable (a vector's first chunk sets them to the bias plus its sum)
        m.d.sync += [x1.eq(Mux(bu, xg[g].as_value()[:c * in_shape.width], 0))
                     for x1, bu, g in zip(x1u, busyu, group)]
        m.d.sync += [bu.eq(Mux(take, 1, Mux(ru[u] == per - 1, 0, bu)))
                     for u, bu in enumerate(busyu) if u]
        m.d.sync += [a.eq(n) for a, n in zip(accs, new_accs)]
        # An input ring loads the payload whenever the block could accept a beat (idle, or
        # issuing a beat's last chunk), whether or not one comes: what it holds then is read by
        # no chunk, and a beat accepted is loaded in that cycle. The select is a register per
        # group (set a cycle ahead from the next state of the group's own counter, so yosys
        # cannot merge the copies): the accept signal loads no data register, and no net
        # reaches every group's ring.
        loads = [Signal(init=1, name=f"load_g{g}") for g in range(groups)]
        for g, ld in enumerate(loads):
            rr = ru[first[g]]
            r_next = Mux(take, 0, Mux(busy, Mux(rr == per - 1, 0, rr + 1), rr))
            m.d.sync += ld.eq(~busy_n | (r_next == per - 1))
        payload = Cat(self.i.payload.as_value(),
                      Const(0, in_shape.width * (c * per - self._width)))
        # a rotation, not a shift: a copy's every bit then depends on itself, so yosys cannot
        # find two copies equal
        m.d.sync += [x.eq(Mux(ld, payload, x.as_value().rotate_right(c * in_shape.width)))
                     for x, ld in zip(xg, loads)]
        with m.If(beat_done):
            m.d.sync += busy.eq(0)
            if beats > 1:
                m.d.sync += beat.eq(Mux(last_beat, 0, beat + 1))
        with m.If(take):
            m.d.sync += busy.eq(1)
        # a counter is 0 when a beat is taken (idle, or wrapping from its last chunk), so it
        # needs neither the accept signal nor the shared counter: each wraps on its own value,
        # enabled by its unit's busy flag
        m.d.sync += [rr.eq(Mux(bu, Mux(rr == per - 1, 0, rr + 1), rr))
                     for rr, bu in zip(ru, busyu)]
        return m
