# amaranth: UnusedElaboratable=no
"""Blocks without backpressure: always ready, registers without enable, ``o.ready`` ignored,
the same outputs as with backpressure."""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

import fxp
from fxp.nn.layers import make_table
from hdl.rtl.activation import LUT, Argmax, ReLU
from hdl.rtl.dense import DenseParallel

from .streamsim import run_stream

IN = fxp.FixedFormat.parse("fixed<6,3>")


def _blocks(backpressure):
    rng = np.random.default_rng(0)
    w = fxp.from_raw(rng.integers(-8, 8, (3, 4)), "fixed<4,1>")
    b = fxp.from_raw(rng.integers(-8, 8, 3), "fixed<5,2>")
    table = make_table("tanh", IN, fxp.FixedFormat.parse("fixed<6,1>"), 4)
    return {
        "relu": ReLU(n=4, in_fmt=IN, out_fmt="ufixed<4,2,RND,SAT>", registered=True,
                     backpressure=backpressure),
        "lut": LUT(n=4, in_fmt=IN, table=table, table_bits=4, backpressure=backpressure),
        "argmax": Argmax(n=4, in_fmt=IN, pipeline=1, backpressure=backpressure),
        "dense": DenseParallel(weight=w, bias=b, in_fmt=IN, acc_fmt="fixed<14,6>",
                               out_fmt="fixed<8,4,RND,SAT>", pipeline=1,
                               backpressure=backpressure),
    }


VECTORS = np.random.default_rng(1).integers(IN.raw_min, IN.raw_max, (40, 4),
                                            endpoint=True).tolist()


@pytest.mark.parametrize("kind", ["relu", "lut", "argmax", "dense"])
def test_same_outputs_without_backpressure(kind):
    ref, _ = run_stream(_blocks(True)[kind], VECTORS, idle=0.3, stall=0.3, seed=2)
    free = _blocks(False)[kind]
    assert free.backpressure is False
    got, _ = run_stream(free, VECTORS, idle=0.3, stall=0.0, seed=2)
    assert got == ref and len(got) == len(VECTORS)


@pytest.mark.parametrize("kind", ["relu", "lut", "argmax", "dense"])
def test_output_ready_is_ignored(kind):
    dut = _blocks(False)[kind]
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 0)                  # a consumer that never takes anything
        for cycle in range(dut.latency + 6):
            ctx.set(dut.i.valid, int(cycle < 3))
            await ctx.delay(1e-9)
            seen.append((ctx.get(dut.i.ready), ctx.get(dut.o.valid)))
            await ctx.tick()

    m = Module()
    m.domains.sync = ClockDomain("sync")
    m.submodules.dut = dut
    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert all(ready == 1 for ready, _ in seen)
    # three vectors in, three valid cycles out, exactly `latency` later: nothing held back
    assert [v for _, v in seen] == [0] * dut.latency + [1, 1, 1] + [0] * 3


def test_backpressure_must_be_a_bool():
    with pytest.raises(TypeError, match=r"^ReLU backpressure must be a bool, not 1$"):
        ReLU(n=1, in_fmt=IN, out_fmt=IN, backpressure=1)
