"""A FIFO in front of a folded block: beats that come while it is busy wait instead of stalling.

A folded block takes one beat every ``service`` cycles. Beats that come in bursts (a conv's
windows: several in one row, then none for rows) would hold the stream before it, and a held
stream no longer keeps the timing the manifest states. A :class:`Queue` in front takes every
beat at once and hands them on one by one; :func:`serve_times` gives the cycles the block
then starts each beat in, :func:`queue_depth` the entries that never fill, and
:func:`check_period` that one frame's beats are done before the next frame's come (so
frames never queue behind each other and every frame keeps the same timing).
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .common import positive_int

__all__ = ["Queue", "serve_times", "queue_depth", "busy_cycles", "check_period"]


def serve_times(times, service: int) -> list:
    """The cycles a block that takes one beat every ``service`` cycles starts the beats
    arriving at ``times`` in (each as soon as it is there and the block is free)."""
    starts, free = [], None
    for t in times:
        s = t if free is None else max(t, free)
        starts.append(s)
        free = s + service
    return starts


def queue_depth(arrivals, starts) -> int:
    """The entries a FIFO needs so that it is never full when a beat arrives: beat ``k`` is
    written in cycle ``arrivals[k]`` and read in cycle ``starts[k]`` (at least one later)."""
    return max(1 + sum(1 for a, s in zip(arrivals[:k], starts[:k]) if a < t <= s)
               for k, t in enumerate(arrivals))


def busy_cycles(arrivals, starts, service: int) -> int:
    """Cycles from a frame's first beat arriving until the block is free for the next."""
    return starts[-1] + service - arrivals[0]


def check_period(arrivals, starts, service: int, period: int, what: str) -> None:
    """Raise ValueError unless the block is free for the next frame's first beat, which
    arrives ``period`` cycles after this frame's.

    Raises
    ------
    ValueError
        ``<what> keep the layer busy B cycles per frame, more than the P cycles between
        frames``.
    """
    busy = busy_cycles(arrivals, starts, service)
    if busy > period:
        raise ValueError(f"{what} keep the layer busy {busy} cycles per frame, more than the "
                         f"{period} cycles between frames")


class Queue(wiring.Component):
    """A first-word-fall-through FIFO of ``depth`` stream beats: a beat written in one cycle
    can be read from the next (latency 1); ``i.ready`` is low only when it is full.

    Parameters
    ----------
    layout : Layout
        The beats' payload layout.
    depth : int

    Attributes
    ----------
    i, o : stream of ``layout``
    """

    def __init__(self, *, layout, depth):
        self._depth = positive_int(depth, "Queue depth")
        self._layout = layout
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    @property
    def depth(self) -> int:
        return self._depth

    latency = 1
    ii = 1

    def beat_times(self, times) -> list:
        return [t + 1 for t in times]

    def elaborate(self, platform):
        m = Module()
        width = self.i.payload.as_value().shape().width
        m.submodules.fifo = fifo = SyncFIFO(width=width, depth=self._depth)
        m.d.comb += [fifo.w_data.eq(self.i.payload.as_value()), fifo.w_en.eq(self.i.valid),
                     self.i.ready.eq(fifo.w_rdy),
                     self.o.payload.eq(fifo.r_data), self.o.valid.eq(fifo.r_rdy),
                     fifo.r_en.eq(self.o.ready)]
        return m
