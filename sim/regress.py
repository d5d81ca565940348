"""Regressions: many artifacts x simulators as tasks of the sweep engine, one summary table (``python -m sim --regress``)."""

from __future__ import annotations

import os
import time

from hdl.flow.engine import Scheduler, TaskFailure, run_tasks
from hdl.flow.progress import Progress

from .runner import SIMULATORS, SimError, check_artifact, run

__all__ = ["parse_simulators", "regress", "regress_table", "run_one"]

_COLUMNS = ("artifact", "simulator", "vectors", "mismatches", "cycles", "seconds", "result")


def parse_simulators(text: str) -> list:
    """``"icarus,verilator"`` -> ``["icarus", "verilator"]``; a one-line SimError otherwise."""
    out = [s.strip() for s in text.split(",") if s.strip()]
    if not out:
        raise SimError("--sim: no simulator given")
    for s in out:
        if s not in SIMULATORS:
            raise SimError(f"--sim: {s!r} is not {' or '.join(SIMULATORS)}")
        if out.count(s) > 1:
            raise SimError(f"--sim: {s!r} is given twice")
    return out


def run_one(task: dict) -> dict:
    """Simulate one artifact on one simulator (in a pool process, a Dask worker or here)."""
    row = {"artifact": task["artifact"], "simulator": task["simulator"]}
    t0 = time.perf_counter()
    try:
        result = run(task["artifact"], task["simulator"], vectors=task["vectors"],
                     seed=task["seed"], full_rate=task["full_rate"])
    except SimError as e:
        row["error"] = str(e)
    else:
        b = result.bench
        row.update(vectors=b.vectors, mismatches=b.mismatches, cycles=b.cycles,
                   passed=result.passed, reports=b.reports[:3], errors=b.errors[:3])
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def _describe(row: dict) -> str:
    if "error" in row:
        return f"ERROR: {row['error']}"
    return (f"{row['vectors']} vectors, {row['mismatches']} mismatches, {row['cycles']} "
            f"cycles ({row['seconds']:.1f} s)")


def regress(directories, simulators, *, vectors: int = 2000, seed: int = 0,
            full_rate: bool = False, scheduler: Scheduler | None = None,
            jobs: int | None = None, progress: Progress | None = None) -> list:
    """Run every artifact on every simulator and return one row per run.

    Parameters
    ----------
    directories : sequence of path
        Artifacts with ``rtl/`` (each checked first: a bad one is a one-line SimError).
    simulators : sequence of {"icarus", "verilator"}
    vectors, seed, full_rate
        As :func:`sim.runner.run`.
    scheduler : Scheduler, optional
        Run on a Dask cluster (:func:`hdl.flow.engine.parse_scheduler`); its workers need
        the simulators and must see the artifacts at the same paths.
    jobs : int, optional
        Runs at once on this machine (default: the number of CPUs).

    Returns
    -------
    list of dict
        ``artifact, simulator, vectors, mismatches, cycles, seconds, passed`` per run, or
        ``artifact, simulator, error`` for a run that could not be built or run.
    """
    progress = progress or Progress()
    seen = set()
    for d in directories:
        key = os.path.realpath(d)
        if key in seen:
            raise SimError(f"--regress: {d} is given twice")
        seen.add(key)
        check_artifact(d)
    tasks = [{"artifact": os.path.abspath(d), "simulator": s, "vectors": vectors, "seed": seed,
              "full_rate": full_rate} for d in directories for s in simulators]
    labels = [f"{os.fspath(d)} {s}" for d in directories for s in simulators]
    progress.line(f"regress: {len(directories)} artifacts x {len(simulators)} simulators = "
                  f"{len(tasks)} runs" + (f" on Dask {scheduler}" if scheduler else ""))
    rows = run_tasks(run_one, tasks, labels, scheduler=scheduler, jobs=jobs,
                     progress=progress, describe=_describe)
    given = [os.fspath(d) for d in directories for _ in simulators]
    out = []
    for task, name, row in zip(tasks, given, rows):
        if isinstance(row, TaskFailure):
            row = {"simulator": task["simulator"], "error": row.error}
        out.append(dict(row, artifact=name))       # as the user named it
    return out


def regress_table(rows: list) -> str:
    """The summary: one aligned line per run (``result``: pass, MISMATCH, FAIL or ERROR)."""
    cells = []
    for r in rows:
        if "error" in r:
            cells.append([r["artifact"], r["simulator"], "-", "-", "-",
                          f"{r.get('seconds', 0):.1f}", f"ERROR: {r['error']}"])
            continue
        verdict = ("pass" if r["passed"] else "MISMATCH" if r["mismatches"] else "FAIL")
        cells.append([r["artifact"], r["simulator"], str(r["vectors"]), str(r["mismatches"]),
                      str(r["cycles"]), f"{r['seconds']:.1f}", verdict])
    widths = [max(len(c) for c in col) for col in zip(_COLUMNS, *cells)]
    lines = []
    for row in (_COLUMNS, *cells):
        left = [c.ljust(w) for c, w in zip(row[:2], widths)]
        right = [c.rjust(w) for c, w in zip(row[2:6], widths[2:6])]
        lines.append("  ".join([*left, *right, row[6]]).rstrip())
    return "\n".join(lines) + "\n"
