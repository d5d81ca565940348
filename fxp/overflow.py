"""Overflow policy: overflow is raised, warned or logged, never silent; SAT* clipping is counted.

The policy is the only state of fxp and lives in a context variable set by
:func:`overflow_policy`. Outside any ``with`` block the default policy is ``"warn"``: every
operation whose WRAP result (a cast or an accumulator) overflows emits one
:class:`OverflowWarning` and goes on with the wrapped value, exactly as hardware would.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from dataclasses import dataclass

import numpy as np

from .format import raw_to_float

__all__ = ["OverflowError", "OverflowWarning", "OverflowRecord", "OverflowLog",
           "overflow_policy", "DEFAULT_POLICY"]

DEFAULT_POLICY = "warn"
_POLICIES = ("raise", "warn", "log", "ignore")


class OverflowError(ArithmeticError):  # noqa: A001 - the name is part of the API
    """A WRAP cast or an accumulator overflowed under the ``"raise"`` policy."""


class OverflowWarning(RuntimeWarning):
    """A WRAP cast or an accumulator overflowed under the ``"warn"`` policy."""


@dataclass
class OverflowRecord:
    """What happened to one operation, aggregated over its calls.

    Attributes
    ----------
    operation : str
        e.g. ``"cast to fixed<8,4>"`` or a caller's label such as ``"layer 0 accumulator"``.
    kind : str
        ``"overflow"`` (a WRAP result wrapped around) or ``"saturation"`` (SAT* clipping).
    count : int
        Values that overflowed or were clipped.
    total : int
        Values the operation produced.
    first_index : tuple
        Index of the first such value in the first call where one occurred.
    min, max : float
        Smallest and largest exact value (before wrapping/clipping) seen among them.
    """

    operation: str
    kind: str
    count: int = 0
    total: int = 0
    first_index: tuple | None = None
    min: float = float("inf")
    max: float = float("-inf")
    calls: int = 0


class OverflowLog:
    """Per-operation overflow and saturation counts collected inside :func:`overflow_policy`.

    Iterate it for :class:`OverflowRecord` s; ``log[operation]`` gives one record;
    ``log.overflows`` and ``log.saturations`` are the total counts.
    """

    def __init__(self):
        self._records: dict[tuple[str, str], OverflowRecord] = {}

    def _add(self, operation, kind, count, total, first_index, vmin, vmax):
        rec = self._records.get((operation, kind))
        if rec is None:
            rec = self._records[(operation, kind)] = OverflowRecord(operation, kind)
        rec.calls += 1
        rec.total += total
        if count:
            if rec.first_index is None:
                rec.first_index = first_index
            rec.count += count
            rec.min = min(rec.min, vmin)
            rec.max = max(rec.max, vmax)

    def __iter__(self):
        return iter(list(self._records.values()))

    def __len__(self):
        return len(self._records)

    def __getitem__(self, operation: str) -> OverflowRecord:
        for (op, _), rec in self._records.items():
            if op == operation:
                return rec
        raise KeyError(operation)

    def __contains__(self, operation: str) -> bool:
        return any(op == operation for op, _ in self._records)

    @property
    def overflows(self) -> int:
        """Total count of overflowed (wrapped) values."""
        return sum(r.count for r in self._records.values() if r.kind == "overflow")

    @property
    def saturations(self) -> int:
        """Total count of SAT*-clipped values."""
        return sum(r.count for r in self._records.values() if r.kind == "saturation")

    def clear(self):
        """Forget every record."""
        self._records.clear()

    def __str__(self):
        lines = [f"{'operation':40} {'kind':10} {'count':>8} {'total':>10}  first  min..max"]
        for r in self:
            span = f"{r.min:g}..{r.max:g}" if r.count else "-"
            lines.append(f"{r.operation:40} {r.kind:10} {r.count:8d} {r.total:10d}  "
                         f"{r.first_index if r.count else '-'}  {span}")
        return "\n".join(lines)

    def __repr__(self):
        return f"<OverflowLog {len(self)} operations, {self.overflows} overflows, " \
               f"{self.saturations} saturations>"


_frames: contextvars.ContextVar[tuple] = contextvars.ContextVar("fxp_overflow_frames",
                                                                default=())


@contextlib.contextmanager
def overflow_policy(policy: str = DEFAULT_POLICY, log: OverflowLog | None = None):
    """Choose what a WRAP overflow does inside a ``with`` block, and log what happens.

    Parameters
    ----------
    policy : {"raise", "warn", "log", "ignore"}
        ``"raise"``: raise :class:`fxp.OverflowError`; ``"warn"`` (the default outside any
        block): emit :class:`fxp.OverflowWarning`; ``"log"``: only record it; ``"ignore"``:
        nothing. Whatever the policy, the yielded log records every overflow and every SAT*
        clipping (per operation: count, total, first index, min/max).
    log : OverflowLog, optional
        Record into this log instead of a new one (to aggregate across blocks).

    Yields
    ------
    OverflowLog

    Examples
    --------
    >>> with fxp.overflow_policy("raise") as log:
    ...     y = x.cast("fixed<8,4,RND,SAT>")
    >>> log.saturations
    """
    if policy not in _POLICIES:
        raise ValueError(f"Overflow policy must be one of {', '.join(_POLICIES)}, "
                         f"not {policy!r}")
    if log is None:
        log = OverflowLog()
    token = _frames.set(_frames.get() + ((policy, log),))
    try:
        yield log
    finally:
        _frames.reset(token)


def logging_active() -> bool:
    """True when some enclosing :func:`overflow_policy` block collects a log."""
    return bool(_frames.get())


def policy() -> str:
    """The policy in force."""
    frames = _frames.get()
    return frames[-1][0] if frames else DEFAULT_POLICY


def first_index(mask: np.ndarray) -> tuple:
    """Index (a tuple of ints) of the first True element of ``mask`` in C order."""
    flat = int(np.argmax(mask.reshape(-1)))
    return tuple(int(i) for i in np.unravel_index(flat, mask.shape))


def report(operation: str, kind: str, mask, values, total: int, fmt, scale_frac: int):
    """Record an event for every active log and apply the policy to overflows.

    ``mask`` flags the offending elements; ``values`` holds their exact raw values at
    ``2**-scale_frac`` (same shape as mask, only masked elements read).
    """
    count = int(np.count_nonzero(mask)) if mask is not None else 0
    if not count:
        record(operation, kind, 0, total, None, 0, 0, 0, fmt, scale_frac)
        return
    first = first_index(mask)
    bad = values[mask]
    record(operation, kind, count, total, first, int(bad.min()), int(bad.max()),
           int(values[first]), fmt, scale_frac)


def record(operation: str, kind: str, count: int, total: int, first: tuple | None,
           raw_min: int, raw_max: int, first_raw: int, fmt, scale_frac: int):
    """Record ``count`` offending values of ``total`` and apply the policy to overflows.

    Parameters
    ----------
    operation, kind : str
        As in :class:`OverflowRecord`.
    count, total : int
    first : tuple or None
        Index of the first offending value (None when ``count`` is 0).
    raw_min, raw_max, first_raw : int
        Exact raw values (at ``2**-scale_frac``) of the smallest, largest and first offending
        values; only read when ``count`` is positive.
    fmt : FixedFormat
        The destination, for the message.
    scale_frac : int
    """
    frames = _frames.get()
    if not count:
        for _, log in frames:
            log._add(operation, kind, 0, total, None, 0.0, 0.0)
        return
    vmin = raw_to_float(raw_min, scale_frac)
    vmax = raw_to_float(raw_max, scale_frac)
    for _, log in frames:
        log._add(operation, kind, count, total, first, vmin, vmax)
    if kind != "overflow":
        return
    pol = frames[-1][0] if frames else DEFAULT_POLICY
    if pol in ("log", "ignore"):
        return
    first_value = raw_to_float(first_raw, scale_frac)
    msg = (f"{operation}: {count} of {total} values overflow {fmt} "
           f"(range {fmt.min:g}..{fmt.max:g}); first at index {first}: {first_value:g}")
    if pol == "raise":
        raise OverflowError(msg)
    warnings.warn(msg, OverflowWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """Stack level of the first frame outside the fxp package (for warnings)."""
    import os
    import sys
    pkg = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(pkg):
        frame, level = frame.f_back, level + 1
    return level
