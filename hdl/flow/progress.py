"""Per-step progress lines on stderr for reports and sweeps."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

__all__ = ["Progress"]

_STDERR = object()      # sys.stderr as it is when a Progress is made (tests replace it)


class Progress:
    """Per-step progress lines on stderr: ``[  12.3s] label ...`` and ``... done in 4.5 s``.

    Parameters
    ----------
    prefix : str
        Printed before every line (e.g. a sweep point's name).
    stream : file or None
        None silences the lines; default: ``sys.stderr`` when the object is made.
    """

    def __init__(self, prefix: str = "", stream=_STDERR, start: float | None = None):
        self.prefix = f"{prefix}: " if prefix else ""
        self.stream = sys.stderr if stream is _STDERR else stream
        self.start = time.perf_counter() if start is None else start

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def line(self, text: str):
        if self.stream is not None:
            print(f"[{self.elapsed():7.1f}s] {self.prefix}{text}", file=self.stream, flush=True)

    @contextmanager
    def step(self, label: str):
        """Print the start and the end of a step (``done in`` or ``FAILED after``)."""
        self.line(f"{label} ...")
        t0 = time.perf_counter()
        try:
            yield
        except Exception:           # an interruption (Ctrl-C, terminate) is no failure
            self.line(f"{label} FAILED after {time.perf_counter() - t0:.1f} s")
            raise
        self.line(f"{label} done in {time.perf_counter() - t0:.1f} s")
