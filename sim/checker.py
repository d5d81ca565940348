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
        The output payload layout.
    max_reports : int
        Mismatch reports kept (all mismatches are counted).

    Attributes
    ----------
    received : int
        Output vectors seen (including any beyond ``n``).
    extra : int
        Output vectors beyond ``n`` (none are expected).
    mismatches : int
        Output vectors among the first ``n`` that differ from the expected ones.
    reports : list of str
    last_cycle : int
        Cycle of the last output seen (-1 before any).
    """

    def __init__(self, inputs, expected, layout: PayloadLayout, *, max_reports: int = 10,
                 log=None):
        self._inputs = np.asarray(inputs)
        self._expected = np.asarray(expected)
        if self._expected.shape != (len(self._inputs), layout.elements):
            raise ValueError(f"Expected outputs shaped {self._expected.shape} do not match "
                             f"{len(self._inputs)} inputs of {layout.elements} output elements")
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
        """Check one output payload (an int, or a binary string holding X/Z)."""
        k = self.received
        self.received += 1
        self.last_cycle = cycle
        if k >= len(self._inputs):
            self.extra += 1
            return
        expected = [int(v) for v in self._expected[k]]
        actual = self._layout.unpack(word) if isinstance(word, int) else word
        if actual != expected:
            self.mismatches += 1
            if len(self.reports) < self._max_reports:
                text = (f"vector {k}: input {[int(v) for v in self._inputs[k]]}, "
                        f"expected {expected}, actual {actual}")
                self.reports.append(text)
                if self._log is not None:
                    self._log.error("mismatch: %s", text)
