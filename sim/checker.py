"""The scoreboard: compares every output vector with the emulator's, bit for bit, and counts."""

from __future__ import annotations

import numpy as np

from .ports import PayloadLayout

__all__ = ["Checker"]


class Checker:
    """Compares the outputs of a stream, in order, with expected raw values.

    Parameters
    ----------
    inputs : numpy.ndarray
        ``(n, n_inputs)`` raw inputs sent, for the reports.
    expected : numpy.ndarray
        ``(n, n_outputs)`` raw outputs from the golden model.
    layout : PayloadLayout
        The output payload layout (one beat).
    beats : int
        Beats per output (a streamed image: its pixels; ``expected`` rows hold them all).
    max_reports : int
        Mismatch reports kept (all mismatches are counted).

    Attributes
    ----------
    received : int
        Whole outputs seen (including any beyond ``n``).
    extra : int
        Output beats beyond the ``n`` outputs (none are expected).
    mismatches : int
        Outputs among the first ``n`` with a beat that differs from the expected one.
    reports : list of str
    last_cycle : int
        Cycle of the last output seen (-1 before any).
    """

    def __init__(self, inputs, expected, layout: PayloadLayout, *, beats: int = 1,
                 max_reports: int = 10, log=None):
        self._inputs = np.asarray(inputs)
        self._expected = np.asarray(expected)
        if self._expected.shape != (len(self._inputs), layout.elements * beats):
            raise ValueError(f"Expected outputs shaped {self._expected.shape} do not match "
                             f"{len(self._inputs)} inputs of {beats} x {layout.elements} "
                             f"output elements")
        self._expected = self._expected.reshape(len(self._inputs) * beats, layout.elements)
        self._beats = beats
        self._beat = 0
        self._bad = set()
        self._layout = layout
        self._max_reports = max_reports
        self._log = log
        self.received = 0
        self.extra = 0
        self.mismatches = 0
        self.reports = []
        self.last_cycle = -1

    @property
    def done(self) -> bool:
        return self.received >= len(self._inputs)

    def receive(self, word, cycle: int):
        """Check one output beat (an int, or a binary string holding X/Z)."""
        j = self._beat
        k, part = divmod(j, self._beats)
        self._beat += 1
        self.received = self._beat // self._beats
        self.last_cycle = cycle
        if k >= len(self._inputs):
            self.extra += 1
            return
        expected = [int(v) for v in self._expected[j]]
        actual = self._layout.unpack(word) if isinstance(word, int) else word
        if actual != expected:
            if k not in self._bad:
                self._bad.add(k)
                self.mismatches += 1
            if len(self.reports) < self._max_reports:
                where = f"vector {k}" + (f" beat {part}" if self._beats > 1 else "")
                text = (f"{where}: input {[int(v) for v in self._inputs[k]]}, "
                        f"expected {expected}, actual {actual}")
                self.reports.append(text)
                if self._log is not None:
                    self._log.error("mismatch: %s", text)
