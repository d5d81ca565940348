"""The cocotb tests of a model's AXI4-Stream wrapper: cocotbext-axi drives and reads it, the fxp emulator checks every bit, TLAST misplacements are counted.

Run them through :func:`sim.runner.run_axis` (``python -m sim DIR --axis``), which sets the
``FXPGA_SIM_*`` variables read by :class:`sim.interface.BenchSettings`.
"""

from __future__ import annotations

import logging
import os
import random
import time

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, Timer, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from fxp.nn import Model
from hdl.rtl.manifest import Manifest

from .checker import Checker
from .golden import expected_outputs
from .interface import BenchResult, BenchSettings
from .stimulus import stimulus
from .testbench import RESET_CYCLES, cycle_limit

PERIOD_NS = 10


def pauses(p: float, rng: random.Random):
    """A cocotbext-axi pause generator: True (pause) with probability ``p`` in each cycle."""
    while True:
        yield p > 0 and rng.random() < p


def beats_of(inputs, lanes) -> list[bytes]:
    """Every input beat's TDATA bytes (little-endian: lane 0 in byte 0), vector by vector."""
    size = lanes.tdata_bits // 8
    per = lanes.elements
    return [lanes.pack(x[k:k + per]).to_bytes(size, "little") for x in inputs
            for k in range(0, per * lanes.beats, per)]


def tlast_errors(chunks, beats: int) -> int:
    """The misplaced TLASTs of a beat stream sent as frames of ``chunks`` beats each (TLAST
    on each frame's last beat) when TLAST belongs on every ``beats``-th beat: the wrapper's
    reference count."""
    errors, sent = 0, 0
    for size in chunks:
        for k in range(size):
            errors += (k == size - 1) != ((sent + k) % beats == beats - 1)
        sent += size
    return errors


async def _setup(dut, settings, axis):
    """Clock, reset, and the cocotbext-axi source and sink with their pause generators."""
    rng = random.Random(settings.seed)
    Clock(dut.aclk, PERIOD_NS, unit="ns").start()
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk, dut.aresetn,
                             reset_active_level=False)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk, dut.aresetn,
                         reset_active_level=False)
    for end in (source, sink):
        end.log.setLevel(logging.WARNING)       # not a line per frame
    source.set_pause_generator(pauses(settings.idle, rng))
    sink.set_pause_generator(pauses(settings.stall, rng))
    dut.aresetn.value = 0
    await ClockCycles(dut.aclk, RESET_CYCLES, RisingEdge)
    dut.aresetn.value = 1
    return source, sink


def _cycle() -> int:
    return int(get_sim_time("ns")) // PERIOD_NS


async def _receive(dut, sink, checker, lanes, n, limit, errors):
    """Read ``n`` output frames (or stop after ``limit`` cycles) into ``checker``."""
    size = lanes.tdata_bits // 8
    deadline = _cycle() + limit
    for j in range(n):
        try:
            frame = await with_timeout(sink.recv(), max(1, deadline - _cycle()) * PERIOD_NS,
                                       "ns")
        except SimTimeoutError:
            errors.append(f"stream stalled: {j} of {n} outputs after {limit} cycles")
            return
        data = bytes(frame.tdata)
        if len(data) != size * lanes.beats:
            errors.append(f"output {j}: TLAST after {len(data) // size} beats, not "
                          f"{lanes.beats}")
        for b in range(0, len(data), size):
            word = int.from_bytes(data[b:b + size], "little")
            try:
                lanes.unpack(word)
            except ValueError as e:
                errors.append(f"output {j}: {e}")
                word = f"{word:#x}"
            checker.receive(word, _cycle())


def _load(settings):
    model = Model.load(settings.artifact)
    man = Manifest.load(os.path.join(settings.artifact, "rtl"))
    if man.axis is None:
        raise RuntimeError(f"{settings.artifact}/rtl/manifest.json has no axis section")
    inputs = stimulus(model, settings.artifact, settings.vectors, settings.seed)
    expected, _ = expected_outputs(model, inputs)
    return man, inputs, expected


@cocotb.test()
async def axis_matches_emulator(dut):
    """Every input vector as one frame through the wrapper under random TVALID gaps and
    TREADY backpressure; each output frame's beats bit for bit against the emulator, TLAST
    on its last beat, and no TLAST error."""
    settings = BenchSettings.from_env()
    man, inputs, expected = _load(settings)
    axis, n = man.axis, len(inputs)
    source, sink = await _setup(dut, settings, axis)
    checker = Checker(inputs, expected, axis.output, beats=axis.output.beats, log=dut._log)
    beats = beats_of(inputs, axis.input)
    start, t0 = _cycle(), time.perf_counter()
    for k in range(n):
        source.send_nowait(AxiStreamFrame(b"".join(beats[k * axis.input.beats:
                                                         (k + 1) * axis.input.beats])))
    errors = []
    await _receive(dut, sink, checker, axis.output, n, cycle_limit(n, man, settings), errors)
    cycles = _cycle() - start
    await ClockCycles(dut.aclk, man.latency + man.ii + 2, RisingEdge)   # nothing more
    if not sink.empty():
        errors.append(f"{sink.count()} output frame(s) beyond the {n} expected")
    if int(dut.error.value) or int(dut.tlast_errors.value):
        errors.append(f"error is {int(dut.error.value)} with {int(dut.tlast_errors.value)} "
                      f"TLAST error(s) for correctly framed inputs")
    result = BenchResult(vectors=n, outputs=min(checker.received, n),
                         mismatches=checker.mismatches, cycles=cycles,
                         seconds=time.perf_counter() - t0, reports=checker.reports,
                         errors=errors)
    result.save(settings.result)
    problems = ([f"{result.mismatches} of {n} output vectors differ from the emulator"]
                if result.mismatches else []) + errors
    assert not problems, "; ".join(problems + result.reports[:3])


@cocotb.test()
async def misplaced_tlast_sets_error(dut):
    """Vectors sent in frames of the wrong lengths: ``error`` rises at the first misplaced
    TLAST and stays, ``tlast_errors`` counts them all (:func:`tlast_errors`), every output
    still matches the emulator (nothing realigned), and ``aresetn`` clears both."""
    settings = BenchSettings.from_env()
    man, inputs, expected = _load(settings)
    axis = man.axis
    b = axis.input.beats
    inputs, expected = inputs[:5], expected[:5]
    # a good frame, one frame a beat short, one a beat long (or, with one beat per vector,
    # two vectors in one frame), then good frames
    chunks = [b, b - 1, b + 1, b, b] if b > 1 else [1, 2, 1, 1]
    want = tlast_errors(chunks, b)
    source, sink = await _setup(dut, settings, axis)
    checker = Checker(inputs, expected, axis.output, beats=axis.output.beats, log=dut._log)
    beats = beats_of(inputs, axis.input)
    t0 = time.perf_counter()
    sent = 0
    for size in chunks:
        source.send_nowait(AxiStreamFrame(b"".join(beats[sent:sent + size])))
        sent += size
    errors = []
    await _receive(dut, sink, checker, axis.output, len(inputs),
                   cycle_limit(len(inputs), man, settings), errors)
    got = (int(dut.error.value), int(dut.tlast_errors.value))
    if got != (1, want):
        errors.append(f"after {want} misplaced TLAST(s): error is {got[0]}, tlast_errors "
                      f"{got[1]} (expected 1, {want})")
    await Timer(1, "ns")
    dut.aresetn.value = 0
    await ClockCycles(dut.aclk, 2, RisingEdge)
    dut.aresetn.value = 1
    await RisingEdge(dut.aclk)
    got = (int(dut.error.value), int(dut.tlast_errors.value))
    if got != (0, 0):
        errors.append(f"after a reset: error is {got[0]}, tlast_errors {got[1]} (expected 0, 0)")
    result = BenchResult(vectors=len(inputs), outputs=min(checker.received, len(inputs)),
                         mismatches=checker.mismatches, cycles=_cycle(),
                         seconds=time.perf_counter() - t0, reports=checker.reports,
                         errors=errors)
    result.save(settings.result)
    assert result.passed, "; ".join(errors + checker.reports[:3])
