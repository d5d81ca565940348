"""cocotb components for valid/ready streams: a driver with idle cycles, a monitor, and a backpressure driver.

Every component acts once per clock cycle in the same two phases: right after the rising
edge it writes its signals, then in the ``ReadOnly`` phase it samples the settled ``valid``
and ``ready``: a transfer happens at the next rising edge exactly when both are high.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

__all__ = ["StreamDriver", "StreamMonitor", "Backpressure"]


def _high(handle) -> bool:
    return str(handle.value) == "1"


class StreamDriver:
    """Drives a stream's ``valid`` and ``payload`` with words, with random idle cycles.

    Parameters
    ----------
    clock, valid, ready, payload : cocotb handles
    idle : float
        Probability of a cycle with ``valid`` low before each word (repeated: geometric gaps).
    rng : random.Random
    """

    def __init__(self, clock, valid, ready, payload, *, idle: float = 0.0,
                 rng: random.Random | None = None):
        self._edge = RisingEdge(clock)
        self._valid, self._ready, self._payload = valid, ready, payload
        self._idle = idle
        self._rng = rng or random.Random(0)
        self.sent = 0
        valid.value = 0

    async def send(self, words):
        """Send every word in order; call right after a rising edge."""
        for word in words:
            while self._idle and self._rng.random() < self._idle:
                self._valid.value = 0
                await self._edge
            self._valid.value = 1
            self._payload.value = word
            while True:
                await ReadOnly()
                taken = _high(self._ready)
                await self._edge
                if taken:
                    break
            self.sent += 1
        self._valid.value = 0


class Backpressure:
    """Drives a stream consumer's ``ready``: low with probability ``stall`` in each cycle.

    Parameters
    ----------
    clock, ready : cocotb handles
    stall : float
    rng : random.Random
    """

    def __init__(self, clock, ready, *, stall: float = 0.0, rng: random.Random | None = None):
        self._edge = RisingEdge(clock)
        self._ready = ready
        self._stall = stall
        self._rng = rng or random.Random(0)
        self._task = None
        ready.value = 0

    def start(self):
        """Start toggling ``ready`` (right after a rising edge)."""
        self._task = cocotb.start_soon(self._run())

    def stop(self, ready: int = 1):
        """Stop and hold ``ready`` at ``ready``."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._ready.value = ready

    async def _run(self):
        while True:
            self._ready.value = 0 if self._stall and self._rng.random() < self._stall else 1
            await self._edge


class StreamMonitor:
    """Watches a stream and reports every transfer to ``callback(word, cycle)``.

    ``word`` is the payload as an unsigned int, or its binary string when it holds X or Z;
    ``cycle`` counts clock cycles from :meth:`start` (cycle 0 is the one it starts in).

    Parameters
    ----------
    clock, valid, ready, payload : cocotb handles
    callback : callable
    """

    def __init__(self, clock, valid, ready, payload, callback):
        self._edge = RisingEdge(clock)
        self._valid, self._ready, self._payload = valid, ready, payload
        self._callback = callback
        self._task = None
        self.cycle = 0

    def start(self):
        """Start watching (right after a rising edge)."""
        self.cycle = 0
        self._task = cocotb.start_soon(self._run())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self):
        read_only = ReadOnly()
        while True:
            await read_only
            if _high(self._valid) and _high(self._ready):
                value = self._payload.value
                word = value.to_unsigned() if value.is_resolvable else str(value)
                self._callback(word, self.cycle)
            await self._edge
            self.cycle += 1
