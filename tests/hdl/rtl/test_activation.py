# amaranth: UnusedElaboratable=no
"""ReLU, LUT and Argmax stream blocks against fxp.nn.layers, bit for bit, under random stalls."""

import importlib.util
import random

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from fxp import FixedArray, FixedFormat, overflow_policy
from fxp.nn.layers import argmax_format, lut, make_table
from fxp.nn.layers.argmax import argmax
from fxp.nn.layers.relu import relu
from amaranth.hdl import Signal

from hdl.rtl.activation import LUT, Argmax, ReLU
from hdl.rtl.common import fmt_shape

from .test_requantize import _distinct, _dst_formats, _simulate


# ReLU casts with hdl.rtl.requantize; its tests run as soon as that module is present.
needs_requantize = pytest.mark.skipif(importlib.util.find_spec("hdl.rtl.requantize") is None,
                                      reason="hdl.rtl.requantize is not there yet")


# -- the harness: driver (random idle cycles), consumer (random backpressure), monitor ------
def simulate(dut, inputs, *, idle=0.3, stall=0.3, seed=0):
    """Feed ``inputs`` (lists of raw ints) through ``dut.i`` and collect ``dut.o``.

    Returns the output vectors and the cycles of every input and output transfer. The monitor
    checks that a stalled output holds its payload, and watches a few cycles past the last
    expected output for extra ones.
    """
    drv_rng, con_rng = random.Random(seed), random.Random(seed + 1)
    m_out = len(dut.o.payload)
    expected = len(inputs)
    outputs, in_cycles, out_cycles = [], [], []
    max_cycles = 20 * (expected + dut.latency + 10)

    async def driver(ctx):
        for vec in inputs:
            while drv_rng.random() < idle:
                await ctx.tick()
            ctx.set(dut.i.payload, [int(v) for v in vec])
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        while len(outputs) < expected:
            ctx.set(dut.o.ready, con_rng.random() >= stall)
            await ctx.tick()
        ctx.set(dut.o.ready, 1)

    async def monitor(ctx):
        cycle, held, tail = 0, None, 0
        async for _, _, i_valid, i_ready, o_valid, o_ready, payload in ctx.tick().sample(
                dut.i.valid, dut.i.ready, dut.o.valid, dut.o.ready, dut.o.payload):
            if i_valid and i_ready:
                in_cycles.append(cycle)
            if o_valid:
                vec = [payload[k] for k in range(m_out)]
                assert held is None or vec == held, f"cycle {cycle}: payload changed while stalled"
                held = None if o_ready else vec
                if o_ready:
                    outputs.append(vec)
                    out_cycles.append(cycle)
            else:
                assert held is None, f"cycle {cycle}: valid dropped while stalled"
            cycle += 1
            assert cycle < max_cycles, f"stuck: {len(outputs)} of {expected} outputs"
            if len(outputs) >= expected:
                tail += 1
                if tail > dut.latency + 4:
                    break

    top = Module()  # a sync domain even for a combinational block
    top.domains.sync = ClockDomain("sync")
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(driver)
    sim.add_testbench(consumer)
    sim.add_testbench(monitor)
    sim.run()
    assert len(outputs) == expected, f"{len(outputs)} outputs for {expected} inputs"
    assert len(in_cycles) == expected
    return outputs, in_cycles, out_cycles


def check_stream(dut, inputs, expected, *, seed=0):
    """Bit-exact outputs, in order, none lost or duplicated, under random idle and stalls."""
    outputs, _, _ = simulate(dut, inputs, idle=0.3, stall=0.4, seed=seed)
    assert outputs == [list(map(int, row)) for row in expected]


def check_throughput(dut, inputs, expected):
    """Input always valid, output always ready: one vector per cycle, ``latency`` later."""
    outputs, in_cycles, out_cycles = simulate(dut, inputs, idle=0, stall=0)
    assert outputs == [list(map(int, row)) for row in expected]
    assert in_cycles == list(range(in_cycles[0], in_cycles[0] + len(inputs)))  # II = 1
    assert out_cycles == [c + dut.latency for c in in_cycles]


def all_raws(fmt: FixedFormat) -> np.ndarray:
    return np.arange(fmt.raw_min, fmt.raw_max + 1, dtype=np.int64)


def exhaustive_vectors(fmt: FixedFormat, n: int, seed: int) -> np.ndarray:
    """Every raw of ``fmt`` once, shuffled into vectors of ``n`` (the last padded at random)."""
    rng = np.random.default_rng(seed)
    raws = rng.permutation(all_raws(fmt))
    pad = -len(raws) % n
    raws = np.concatenate([raws, rng.integers(fmt.raw_min, fmt.raw_max + 1, pad)])
    return raws.reshape(-1, n)


def random_vectors(fmt: FixedFormat, n: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(fmt.raw_min, fmt.raw_max + 1, (count, n), dtype=np.int64)


def fmt(text: str) -> FixedFormat:
    return FixedFormat.parse(text)


# -- ReLU -----------------------------------------------------------------------------------
def relu_reference(raws, in_fmt, out_fmt):
    with overflow_policy("ignore"):
        return relu(FixedArray(raws, in_fmt), fmt(out_fmt)).raw


RELU_CASES = [  # (in_fmt, out_fmt, n, registered)
    ("fixed<8,3>", "ufixed<6,2,RND,SAT>", 4, False),
    ("fixed<8,3>", "fixed<5,1,RND_CONV,SAT>", 3, True),
    ("fixed<6,2>", "fixed<10,4>", 2, False),
    ("ufixed<7,3>", "ufixed<4,1>", 4, True),
    ("fixed<8,4>", "fixed<6,3,RND_INF,SAT_SYM>", 5, False),
    ("fixed<8,4>", "fixed<8,6,RND_MIN_INF,WRAP_SM>", 1, True),
    ("fixed<8,-2>", "ufixed<4,-4,RND_ZERO,SAT_ZERO>", 3, False),
    ("fixed<7,5>", "fixed<4,2,TRN_ZERO,SAT>", 2, True),
    ("fixed<1,1>", "ufixed<2,1>", 1, False),
]


@needs_requantize
@pytest.mark.parametrize("in_fmt, out_fmt, n, registered", RELU_CASES)
def test_relu_exhaustive(in_fmt, out_fmt, n, registered):
    dut = ReLU(n=n, in_fmt=in_fmt, out_fmt=out_fmt, registered=registered)
    x = exhaustive_vectors(fmt(in_fmt), n, seed=n)
    check_stream(dut, x, relu_reference(x, in_fmt, out_fmt), seed=n)


@pytest.mark.parametrize("in_fmt", ["fixed<5,2>", "fixed<2,-3>", "fixed<1,1>"])
def test_relu_every_mode(in_fmt):
    """ReLU's element (a cast of the non-negative bits, 0 on the sign) on every input value, to
    every output of 1..8 bits in every quantization x overflow pair and binary-point shift."""
    src = fmt(in_fmt)
    a = Signal(fmt_shape(src), name="a")
    raws = all_raws(src)
    dsts = list(_dst_formats(src))
    ys = [ReLU(n=1, in_fmt=src, out_fmt=dst).output(a) for dst in dsts]
    for y, dst in zip(ys, dsts):
        assert y.shape() == fmt_shape(dst), dst
    outputs, which = _distinct(ys)
    results = _simulate(a, outputs, raws.tolist())
    bad = [(str(dst), results[i]) for dst, i in zip(dsts, which)
           if results[i] != relu_reference(raws, src, dst).tolist()]
    assert not bad, f"{len(bad)} of {len(dsts)} casts differ, first: {bad[:3]}"


@needs_requantize
@pytest.mark.parametrize("registered", [False, True])
def test_relu_random_wide(registered):
    in_fmt, out_fmt = "fixed<20,7>", "fixed<9,4,RND,SAT>"
    dut = ReLU(n=6, in_fmt=in_fmt, out_fmt=out_fmt, registered=registered)
    x = random_vectors(fmt(in_fmt), 6, 200, seed=1)
    check_stream(dut, x, relu_reference(x, in_fmt, out_fmt), seed=2)


@needs_requantize
@pytest.mark.parametrize("registered, latency", [(False, 0), (True, 1)])
def test_relu_throughput(registered, latency):
    dut = ReLU(n=3, in_fmt="fixed<8,3>", out_fmt="ufixed<6,2,RND,SAT>", registered=registered)
    assert (dut.latency, dut.ii) == (latency, 1)
    x = random_vectors(dut.in_fmt, 3, 40, seed=3)
    check_throughput(dut, x, relu_reference(x, dut.in_fmt, dut.out_fmt))


# -- LUT ------------------------------------------------------------------------------------
def random_table(out_fmt, table_bits, seed):
    out_fmt = fmt(out_fmt)
    rng = np.random.default_rng(seed)
    return FixedArray(rng.integers(out_fmt.raw_min, out_fmt.raw_max + 1, 1 << table_bits),
                      out_fmt)


LUT_CASES = [  # (in_fmt, table, table_bits, n)
    ("fixed<8,3>", ("sigmoid", "ufixed<8,0,RND,SAT>"), 8, 3),
    ("fixed<8,2>", ("tanh", "fixed<8,1,RND,SAT>"), 5, 4),
    ("ufixed<6,2>", ("sigmoid", "ufixed<7,1,RND_CONV,SAT>"), 6, 2),
    ("fixed<7,3>", ("tanh", "fixed<6,2,TRN,SAT>"), 1, 1),
    ("fixed<6,3>", "fixed<7,2>", 4, 5),      # random entries, signed input
    ("ufixed<8,8>", "ufixed<5,5>", 3, 3),    # random entries, unsigned input
]


def lut_table(in_fmt, spec, table_bits, seed=0):
    if isinstance(spec, tuple):
        return make_table(spec[0], fmt(in_fmt), fmt(spec[1]), table_bits)
    return random_table(spec, table_bits, seed)


@pytest.mark.parametrize("in_fmt, spec, table_bits, n", LUT_CASES)
def test_lut_exhaustive(in_fmt, spec, table_bits, n):
    table = lut_table(in_fmt, spec, table_bits, seed=n)
    dut = LUT(n=n, in_fmt=in_fmt, table=table, table_bits=table_bits)
    assert dut.out_fmt == table.fmt
    x = exhaustive_vectors(fmt(in_fmt), n, seed=n)
    ref = lut(FixedArray(x, in_fmt), table, table_bits).raw
    check_stream(dut, x, ref, seed=n)


def test_lut_random_wide():
    in_fmt = fmt("fixed<16,4>")
    table = make_table("tanh", in_fmt, fmt("fixed<10,2,RND,SAT>"), 10)
    dut = LUT(n=4, in_fmt=in_fmt, table=table, table_bits=10)
    x = random_vectors(in_fmt, 4, 200, seed=4)
    check_stream(dut, x, lut(FixedArray(x, in_fmt), table, 10).raw, seed=5)


def test_lut_throughput():
    in_fmt = fmt("fixed<8,3>")
    table = make_table("sigmoid", in_fmt, fmt("ufixed<8,0,RND,SAT>"), 6)
    dut = LUT(n=2, in_fmt=in_fmt, table=table, table_bits=6)
    assert (dut.latency, dut.ii) == (1, 1)
    x = random_vectors(in_fmt, 2, 40, seed=6)
    check_throughput(dut, x, lut(FixedArray(x, in_fmt), table, 6).raw)


def test_lut_keeps_its_own_table():
    table = random_table("fixed<4,2>", 2, seed=0)
    dut = LUT(n=1, in_fmt="fixed<4,2>", table=table, table_bits=2)
    before = table.raw.copy()
    table[0] = FixedArray([int(before[0]) ^ 1], table.fmt)[0]
    dut.table[1] = FixedArray([int(before[1]) ^ 1], table.fmt)[0]
    assert np.array_equal(dut.table.raw, before)


# -- Argmax ---------------------------------------------------------------------------------
def argmax_vectors(in_fmt, n, count, seed):
    """Random vectors from a narrow range (many ties), all-equal vectors, extremes."""
    rng = np.random.default_rng(seed)
    lo, hi = in_fmt.raw_min, in_fmt.raw_max
    narrow = rng.integers(lo, min(lo + 4, hi) + 1, (count, n))
    full = rng.integers(lo, hi + 1, (count, n))
    equal = np.repeat(rng.integers(lo, hi + 1, (8, 1)), n, axis=1)
    extremes = np.array([[lo] * n, [hi] * n, [lo] * (n - 1) + [hi], [hi] + [lo] * (n - 1)])
    rows = np.concatenate([narrow, full, equal, extremes])
    return rows[rng.permutation(len(rows))]


def argmax_reference(raws, in_fmt):
    return argmax(FixedArray(raws, in_fmt)).raw.reshape(-1, 1)


ARGMAX_CASES = [  # (in_fmt, n, pipeline)
    ("fixed<3,1>", 1, 0),
    ("fixed<3,1>", 2, 1),
    ("fixed<3,1>", 3, 0),
    ("ufixed<4,2>", 5, 1),
    ("fixed<8,3>", 8, 2),
    ("fixed<4,4>", 10, 1),
    ("ufixed<2,2>", 7, 3),
    ("fixed<12,5>", 16, 0),
    ("fixed<6,0>", 13, 2),
]


@pytest.mark.parametrize("in_fmt, n, pipeline, all_pairs",
                         [(*c, False) for c in ARGMAX_CASES]
                         # pairs: 16 values unregistered are slow in amaranth.sim
                         + [(*c, True) for c in ARGMAX_CASES if c[1] < 16])
def test_argmax_random(in_fmt, n, pipeline, all_pairs):
    dut = Argmax(n=n, in_fmt=in_fmt, pipeline=pipeline, all_pairs=all_pairs)
    assert dut.out_fmt == argmax_format(n)
    x = argmax_vectors(fmt(in_fmt), n, 60, seed=n)
    check_stream(dut, x, argmax_reference(x, in_fmt), seed=n + pipeline)


@pytest.mark.parametrize("all_pairs", [False, True], ids=["tree", "pairs"])
def test_argmax_exhaustive_small(all_pairs):
    """Every vector of four 2-bit values: all tie patterns."""
    in_fmt = fmt("fixed<2,2>")
    grid = np.stack(np.meshgrid(*[all_raws(in_fmt)] * 4, indexing="ij"), -1).reshape(-1, 4)
    dut = Argmax(n=4, in_fmt=in_fmt, pipeline=1, all_pairs=all_pairs)
    check_stream(dut, grid, argmax_reference(grid, in_fmt), seed=7)


@pytest.mark.parametrize("n, pipeline, latency", [
    (1, 0, 0), (1, 1, 0), (2, 1, 1), (8, 0, 0), (8, 1, 3), (8, 2, 1), (8, 3, 1), (8, 4, 0),
    (10, 1, 4), (10, 2, 2),
])
def test_argmax_throughput(n, pipeline, latency):
    in_fmt = fmt("fixed<4,2>")
    dut = Argmax(n=n, in_fmt=in_fmt, pipeline=pipeline)
    assert (dut.latency, dut.ii, dut.levels) == (latency, 1, (n - 1).bit_length())
    x = argmax_vectors(in_fmt, n, 15, seed=8)
    check_throughput(dut, x, argmax_reference(x, in_fmt))


@pytest.mark.parametrize("n, pipeline, latency", [(1, 1, 0), (2, 1, 2), (10, 2, 2),
                                                  (5, 0, 0), (16, 1, 2)])
def test_argmax_all_pairs_throughput(n, pipeline, latency):
    in_fmt = fmt("fixed<4,2>")
    dut = Argmax(n=n, in_fmt=in_fmt, pipeline=pipeline, all_pairs=True)
    assert (dut.latency, dut.ii, dut.all_pairs) == (latency, 1, True)
    assert sum(dut.groups) == n and max(dut.groups) - min(dut.groups) <= 1
    x = argmax_vectors(in_fmt, n, 15, seed=8)
    check_throughput(dut, x, argmax_reference(x, in_fmt))


# -- constructors ---------------------------------------------------------------------------
def error(exc, message, build):
    with pytest.raises(exc) as info:
        build()
    assert str(info.value) == message


def test_relu_errors():
    error(TypeError, "ReLU vector length n must be a positive integer, not 0",
          lambda: ReLU(n=0, in_fmt="fixed<8,3>", out_fmt="fixed<8,3>"))
    error(TypeError, "ReLU vector length n must be a positive integer, not True",
          lambda: ReLU(n=True, in_fmt="fixed<8,3>", out_fmt="fixed<8,3>"))
    error(TypeError, "ReLU input format must be a FixedFormat or a format string, not 8",
          lambda: ReLU(n=1, in_fmt=8, out_fmt="fixed<8,3>"))
    error(ValueError, "ReLU output format: Malformed fixed-point format 'fixed<8>'; expected "
          "2 to 4 arguments <bits,int_bits[,quantization[,overflow]]>",
          lambda: ReLU(n=1, in_fmt="fixed<8,3>", out_fmt="fixed<8>"))
    error(TypeError, "ReLU registered must be a bool, not 1",
          lambda: ReLU(n=1, in_fmt="fixed<8,3>", out_fmt="fixed<8,3>", registered=1))
    with pytest.raises(TypeError):
        ReLU(1, "fixed<8,3>", "fixed<8,3>")  # keyword-only


def test_lut_errors():
    table = random_table("fixed<4,2>", 3, seed=0)
    error(TypeError, "LUT vector length n must be a positive integer, not -1",
          lambda: LUT(n=-1, in_fmt="fixed<8,3>", table=table, table_bits=3))
    error(TypeError, "LUT input format must be a FixedFormat or a format string, not None",
          lambda: LUT(n=1, in_fmt=None, table=table, table_bits=3))
    error(TypeError, "LUT table must be a FixedArray, not [0, 1]",
          lambda: LUT(n=1, in_fmt="fixed<8,3>", table=[0, 1], table_bits=1))
    error(TypeError, "LUT table_bits must be a positive integer, not 0",
          lambda: LUT(n=1, in_fmt="fixed<8,3>", table=table, table_bits=0))
    error(ValueError, "LUT table_bits must be between 1 and the input's 2 bits, not 3",
          lambda: LUT(n=1, in_fmt="fixed<2,1>", table=table, table_bits=3))
    error(ValueError, "LUT table of 4 index bits must have shape (16,), not (8,)",
          lambda: LUT(n=1, in_fmt="fixed<8,3>", table=table, table_bits=4))
    error(ValueError, "LUT table of 2 index bits must have shape (4,), not (2, 4)",
          lambda: LUT(n=1, in_fmt="fixed<8,3>", table=table.reshape(2, 4), table_bits=2))
    with pytest.raises(TypeError):
        LUT(1, "fixed<8,3>", table, 3)  # keyword-only


def test_argmax_errors():
    error(TypeError, "Argmax vector length n must be a positive integer, not 2.0",
          lambda: Argmax(n=2.0, in_fmt="fixed<8,3>"))
    error(ValueError, "Argmax input format: Malformed fixed-point format 'int8'; expected e.g. "
          "'fixed<16,6,RND_CONV,SAT>', 'ap_ufixed<8,0>' or 'Q5.10'",
          lambda: Argmax(n=2, in_fmt="int8"))
    error(TypeError, "Argmax pipeline must be a non-negative integer, not -1",
          lambda: Argmax(n=2, in_fmt="fixed<8,3>", pipeline=-1))
    error(TypeError, "Argmax pipeline must be a non-negative integer, not False",
          lambda: Argmax(n=2, in_fmt="fixed<8,3>", pipeline=False))
    error(TypeError, "Argmax all_pairs must be a bool, not 1",
          lambda: Argmax(n=2, in_fmt="fixed<8,3>", all_pairs=1))
    with pytest.raises(TypeError):
        Argmax(2, "fixed<8,3>")  # keyword-only


def test_properties_are_read_only():
    dut = ReLU(n=2, in_fmt="fixed<8,3>", out_fmt="ufixed<4,2>")
    assert (dut.n, dut.in_fmt, dut.out_fmt, dut.registered) == \
        (2, fmt("fixed<8,3>"), fmt("ufixed<4,2>"), False)
    for attr in ("n", "in_fmt", "out_fmt", "latency", "ii", "registered"):
        with pytest.raises(AttributeError):
            setattr(dut, attr, 1)
    dut = Argmax(n=5, in_fmt="fixed<8,3>", pipeline=2)
    assert (dut.pipeline, dut.levels, dut.latency) == (2, 3, 1)
    for attr in ("pipeline", "latency", "levels"):
        with pytest.raises(AttributeError):
            setattr(dut, attr, 1)


# -- Verilog --------------------------------------------------------------------------------
@pytest.mark.parametrize("build", [
    pytest.param(lambda: ReLU(n=3, in_fmt="fixed<8,3>", out_fmt="ufixed<6,2,RND,SAT>",
                              registered=True), marks=needs_requantize),
    lambda: LUT(n=2, in_fmt="fixed<8,3>", table_bits=6,
                table=make_table("sigmoid", fmt("fixed<8,3>"), fmt("ufixed<8,0,RND,SAT>"), 6)),
    lambda: Argmax(n=10, in_fmt="fixed<8,3>", pipeline=2),
], ids=["relu", "lut", "argmax"])
def test_verilog_deterministic(build):
    first = verilog.convert(build(), emit_src=False)
    assert "module top" in first
    assert verilog.convert(build(), emit_src=False) == first
