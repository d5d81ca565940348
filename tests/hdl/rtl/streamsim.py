"""amaranth.sim harness for stream blocks: a driver with random idle cycles, a consumer with
random backpressure, and a monitor; returns the raw output vectors and the cycle count."""

from __future__ import annotations

import random

from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator


def run_stream(dut, vectors, *, idle=0.3, stall=0.3, seed=0, max_cycles=None, vcd=None,
               expect=None):
    """Feed ``vectors`` (lists of raw ints) through ``dut.i`` and collect ``dut.o``.

    Parameters
    ----------
    idle : float
        Probability that the driver leaves ``i.valid`` low in a cycle.
    stall : float
        Probability that the consumer holds ``o.ready`` low in a cycle.
    expect : int, optional
        Outputs to wait for (default: one per input; a streamed image gives fewer).

    Returns
    -------
    outputs : list of list of int
    cycles : int
        Clock cycles until the last output was taken.
    """
    rnd = random.Random(seed)
    n_out = len(dut.o.payload)
    outputs = []
    done = {"cycles": 0}
    limit = max_cycles or (len(vectors) + 50) * 200
    expect = len(vectors) if expect is None else expect

    async def driver(ctx):
        for vec in vectors:
            while rnd.random() < idle:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(dut.i.valid, 1)
            for k, v in enumerate(vec):
                ctx.set(dut.i.payload[k], int(v))
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        cycles = 0
        while len(outputs) < expect:
            ready = rnd.random() >= stall
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)  # let combinational valid/payload settle
            if ready and ctx.get(dut.o.valid):
                outputs.append([int(ctx.get(dut.o.payload[k])) for k in range(n_out)])
            await ctx.tick()
            cycles += 1
            if cycles > limit:
                raise AssertionError(f"stream stalled: {len(outputs)} of {expect} "
                                     f"outputs after {cycles} cycles")
        done["cycles"] = cycles

    wrapper = Module()  # a sync domain even for purely combinational blocks
    wrapper.domains.sync = ClockDomain("sync")
    wrapper.submodules.dut = dut
    sim = Simulator(wrapper)
    sim.add_clock(1e-6)
    sim.add_testbench(driver)
    sim.add_testbench(consumer)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return outputs, done["cycles"]
