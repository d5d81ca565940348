"""The cocotb test of a generated model top: every output bit against the fxp emulator.

Run it through :mod:`sim.runner` (``python -m sim DIR``), which sets the ``FXPGA_SIM_*``
variables read by :class:`sim.interface.BenchSettings`.
"""

from __future__ import annotations

import os
import random
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, First, RisingEdge

from fxp.nn import Model

from .checker import Checker
from .golden import expected_outputs
from .interface import BenchResult, BenchSettings
from .ports import TopPorts
from .stimulus import stimulus
from .stream import Backpressure, StreamDriver, StreamMonitor

RESET_CYCLES = 3


def cycle_limit(n: int, ports: TopPorts, settings: BenchSettings) -> int:
    """Cycles after which a run that has not delivered every output counts as stalled
    (``ports``: anything with the top's ``ii`` and ``latency``, e.g. its manifest)."""
    slowdown = 1.0 / ((1.0 - settings.idle) * (1.0 - settings.stall))
    return int(4 * slowdown * (n * ports.ii + ports.latency)) + 1000


def full_rate_cycles(n: int, ports: TopPorts) -> int:
    """Cycles of ``n`` vectors at full rate: one input every ``ii`` cycles, output after
    ``latency``, counted through the cycle that delivers the last output."""
    return (n - 1) * ports.ii + ports.latency + 1


@cocotb.test()
async def model_top_matches_emulator(dut):
    """Stream every stimulus vector through the top and compare each output bit for bit."""
    settings = BenchSettings.from_env()
    model = Model.load(settings.artifact)
    ports = TopPorts.load(os.path.join(settings.artifact, "rtl"))
    inputs = stimulus(model, settings.artifact, settings.vectors, settings.seed)
    expected, overflow = expected_outputs(model, inputs)
    if len(overflow):
        dut._log.info("the emulator overflowed or saturated (the RTL must match):\n%s",
                      overflow)
    n = len(inputs)
    per = ports.i.layout.elements       # an image streams one pixel (C values) per beat
    words = [ports.i.layout.pack(x[k:k + per]) for x in inputs
             for k in range(0, per * ports.input_beats, per)]
    rng = random.Random(settings.seed)

    clk = getattr(dut, ports.clock)
    rst = getattr(dut, ports.reset)
    checker = Checker(inputs, expected, ports.o.layout, beats=ports.output_beats,
                      log=dut._log)
    driver = StreamDriver(clk, getattr(dut, ports.i.valid), getattr(dut, ports.i.ready),
                          getattr(dut, ports.i.payload), idle=settings.idle, rng=rng)
    backpressure = Backpressure(clk, getattr(dut, ports.o.ready), stall=settings.stall,
                                rng=rng)
    finished = Event()

    def receive(word, cycle):
        checker.receive(word, cycle)
        if checker.done:
            finished.set()

    monitor = StreamMonitor(clk, getattr(dut, ports.o.valid), getattr(dut, ports.o.ready),
                            getattr(dut, ports.o.payload), receive)

    Clock(clk, 10, unit="ns").start()
    rst.value = 1
    await ClockCycles(clk, RESET_CYCLES, RisingEdge)
    rst.value = 0

    # cycle 0 starts now, right after a rising edge, for every component
    start = time.perf_counter()
    monitor.start()
    backpressure.start()
    sending = cocotb.start_soon(driver.send(words))
    limit = cycle_limit(n, ports, settings)
    await First(finished.wait(), ClockCycles(clk, limit, RisingEdge))
    await RisingEdge(clk)  # out of the read-only phase the event fired in
    cycles = checker.last_cycle + 1
    # then a quiet tail with the consumer always ready: no output may follow the last one
    backpressure.stop(ready=1)
    await ClockCycles(clk, ports.latency + ports.ii + 2, RisingEdge)
    seconds = time.perf_counter() - start
    monitor.stop()
    sending.cancel()

    result = BenchResult(vectors=n, outputs=min(checker.received, n),
                         mismatches=checker.mismatches, cycles=cycles, seconds=seconds,
                         reports=checker.reports)
    if not checker.done:
        result.errors.append(f"stream stalled: {checker.received} of {n} outputs after "
                             f"{limit} cycles ({driver.sent} inputs taken)")
    if checker.extra:
        result.errors.append(f"{checker.extra} output(s) beyond the {n} expected")
    if settings.full_rate and checker.done:
        want = full_rate_cycles(n, ports)
        if cycles != want:
            result.errors.append(f"full rate: {n} vectors took {cycles} cycles, not "
                                 f"(n - 1) * ii + latency + 1 = {want}")
    result.save(settings.result)
    problems = ([f"{result.mismatches} of {n} output vectors differ from the emulator"]
                if result.mismatches else []) + result.errors
    assert not problems, "; ".join(problems + result.reports[:3])
