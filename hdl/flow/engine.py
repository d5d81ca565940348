"""Independent tasks (sweep points, simulations) in this process, on a process pool or on a Dask cluster.

One engine for ``python -m hdl sweep`` and ``python -m sim --regress``: the caller gives a
picklable function and its tasks; the engine runs them, prints one line per finished task
(elapsed time and an ETA), returns the results in the tasks' order, and on Ctrl-C cancels what
is still queued or running before the KeyboardInterrupt goes on.

``--scheduler``:

- absent: a process pool on this machine (``jobs`` at once; 1 runs in this process);
- ``local`` or ``local:N``: a Dask ``LocalCluster`` of N single-threaded worker processes
  (default: the number of CPUs), its dashboard address printed;
- ``tcp://HOST:PORT``: an existing ``dask scheduler``; its workers need the same fxpga
  installed and must see every path the tasks name (the artifacts, the cache).

A worker that dies while running a task has the task rerun on another worker by the Dask
scheduler (up to its ``distributed.scheduler.allowed-failures`` deaths, 3 by default); a task
that raises is retried ``retries`` times, then reported as failed with its error.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from .progress import Progress

__all__ = ["Scheduler", "SchedulerError", "parse_scheduler", "run_tasks", "TaskFailure",
           "RETRIES", "CONNECT_TIMEOUT"]

RETRIES = 1                 # reruns of a task that raised (worker deaths are the scheduler's)
CONNECT_TIMEOUT = 20        # seconds to reach a tcp:// scheduler
_TCP = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")
_HELP = "tcp://HOST:PORT, local or local:N"


class SchedulerError(ValueError):
    """A scheduler cannot be parsed, started or reached (the message is one line)."""


@dataclass(frozen=True)
class Scheduler:
    """Where tasks run (see :func:`parse_scheduler`).

    Attributes
    ----------
    kind : {"local", "tcp"}
    address : str or None
        ``tcp://HOST:PORT`` of an existing scheduler.
    workers : int or None
        Worker processes of a LocalCluster (None: the number of CPUs).
    """

    kind: str
    address: str | None = None
    workers: int | None = None

    def __str__(self) -> str:
        if self.kind == "tcp":
            return self.address
        return "local" + (f":{self.workers}" if self.workers else "")


@dataclass(frozen=True)
class TaskFailure:
    """A task that raised (after its retries) or whose workers kept dying: its one-line error."""

    error: str


def parse_scheduler(text) -> Scheduler | None:
    """``None`` -> None (a process pool), ``"local[:N]"`` or ``"tcp://HOST:PORT"`` -> a
    :class:`Scheduler`; a one-line :class:`SchedulerError` otherwise."""
    if text is None:
        return None
    given = text
    text = text.strip()
    if text == "local":
        return Scheduler("local")
    if text.startswith("local:"):
        n = text[len("local:"):]
        if not n.isdigit() or int(n) < 1:
            raise SchedulerError(f"--scheduler: {given!r}: N in local:N must be a positive "
                                 f"integer")
        return Scheduler("local", workers=int(n))
    m = _TCP.fullmatch(text)
    if m is None:
        raise SchedulerError(f"--scheduler: {given!r} is not {_HELP}")
    if not 1 <= int(m[2]) <= 65535:
        raise SchedulerError(f"--scheduler: {given!r}: port {m[2]} is not in 1..65535")
    return Scheduler("tcp", address=text)


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


class _Tally:
    """One progress line per finished task: count, label, its own time, elapsed, ETA."""

    def __init__(self, total: int, progress: Progress, describe):
        self.total, self.done, self.progress, self.describe = total, 0, progress, describe
        self.t0 = time.perf_counter()

    def finished(self, label: str, result):
        self.done += 1
        if isinstance(result, TaskFailure):
            what = f"FAILED: {result.error}"
        else:
            what = self.describe(result) if self.describe else "done"
        spent = time.perf_counter() - self.t0
        left = self.total - self.done
        eta = f", ETA {_fmt_seconds(spent / self.done * left)}" if left else ""
        self.progress.line(f"[{self.done}/{self.total}] {label}: {what} "
                           f"(elapsed {_fmt_seconds(spent)}{eta})")


def _message(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def run_tasks(fn, tasks: list, labels: list, *, scheduler: Scheduler | None = None,
              jobs: int | None = None, retries: int = RETRIES,
              progress: Progress | None = None, describe=None) -> list:
    """Run ``fn(task)`` for every task and return the results in the tasks' order.

    Parameters
    ----------
    fn : callable
        A module-level function (pickled by reference: every worker imports its module).
    tasks : list
        Picklable arguments, one call each.
    labels : list of str
        The tasks' names in the progress lines (and in the Dask keys).
    scheduler : Scheduler, optional
        None runs a process pool on this machine.
    jobs : int, optional
        Pool processes (default: CPUs); 1 runs the tasks in this process. Ignored with a
        scheduler (the cluster's workers decide).
    retries : int
        Reruns of a task that raised, on a Dask cluster.
    progress : Progress, optional
        Where the lines go.
    describe : callable, optional
        ``describe(result)`` -> the text of a finished task's line.

    Returns
    -------
    list
        ``fn``'s results; a task that raised (or whose workers kept dying) is a
        :class:`TaskFailure`.

    Raises
    ------
    SchedulerError
        Dask is not installed, or the scheduler cannot be started or reached.
    KeyboardInterrupt
        After cancelling every queued and running task.
    """
    progress = progress or Progress()
    if not tasks:
        return []
    tally = _Tally(len(tasks), progress, describe)
    if scheduler is not None:
        return _run_dask(fn, tasks, labels, scheduler, retries, progress, tally)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    if jobs == 1:
        out = []
        for task, label in zip(tasks, labels):
            out.append(fn(task))
            tally.finished(label, out[-1])
        return out
    return _run_pool(fn, tasks, labels, jobs, tally)


_terminated = []           # in a pool process: the parent's terminate() arrived


def _exit(signum, frame):
    _terminated.append(signum)
    raise SystemExit(128 + signum)


def _pool_process_signals():
    # Ctrl-C reaches the whole process group: the parent cancels, children stay quiet; the
    # parent's terminate() unwinds a running task (its cleanup runs) instead of killing it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit)


def _call(fn, task):
    try:
        return fn(task)
    except SystemExit:
        if _terminated:     # by the parent: fn's cleanup has run; end the process here
            os._exit(128 + _terminated[0])
        raise


def _run_pool(fn, tasks, labels, jobs, tally) -> list:
    out = [None] * len(tasks)
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_pool_process_signals)
    try:
        futs = {pool.submit(_call, fn, t): i for i, t in enumerate(tasks)}
        for fut in as_completed(futs):
            i = futs[fut]
            try:
                out[i] = fut.result()
            except Exception as e:      # a pool process that died or an unexpected error
                out[i] = TaskFailure(_message(e))
            tally.finished(labels[i], out[i])
    except BaseException:
        # running tasks would go on after we exit (their processes ignore SIGINT)
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        raise
    pool.shutdown()
    return out


def _dask():
    try:
        import distributed
    except ImportError:
        raise SchedulerError("--scheduler needs dask.distributed: pip install -e "
                             "'.[dask]'") from None
    return distributed


def _connect(scheduler: Scheduler, progress: Progress):
    """(client, cluster or None)."""
    distributed = _dask()
    if scheduler.kind == "local":
        n = scheduler.workers or os.cpu_count() or 1
        try:
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1,
                                               processes=True, dashboard_address=":0",
                                               silence_logs=logging.ERROR)
        except Exception as e:
            raise SchedulerError(f"--scheduler {scheduler}: cannot start a LocalCluster: "
                                 f"{_message(e)}") from None
        client = distributed.Client(cluster)
        progress.line(f"LocalCluster: {n} workers, dashboard {client.dashboard_link}")
        return client, cluster
    try:
        client = distributed.Client(scheduler.address, timeout=CONNECT_TIMEOUT)
    except Exception as e:
        raise SchedulerError(f"--scheduler {scheduler}: cannot reach the scheduler: "
                             f"{_message(e)}") from None
    workers = len(client.scheduler_info().get("workers", {}))
    progress.line(f"scheduler {scheduler.address}: {workers} workers")
    return client, None


def _run_dask(fn, tasks, labels, scheduler, retries, progress, tally) -> list:
    distributed = _dask()
    client, cluster = _connect(scheduler, progress)
    run = uuid.uuid4().hex[:8]
    out = [None] * len(tasks)
    futs = []
    try:
        futs = [client.submit(fn, t, key=f"{label}-{run}", pure=False, retries=retries)
                for t, label in zip(tasks, labels)]
        index = {f.key: i for i, f in enumerate(futs)}
        for fut in distributed.as_completed(futs):
            i = index[fut.key]
            try:
                out[i] = fut.result()
            except distributed.KilledWorker:
                out[i] = TaskFailure("its workers died every time it ran (KilledWorker)")
            except Exception as e:
                out[i] = TaskFailure(_message(e))
            tally.finished(labels[i], out[i])
    except BaseException:
        # Ctrl-C (or anything else): nothing of this run may go on on the cluster
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        try:
            client.cancel(futs, force=True)
        except Exception:               # pragma: no cover - a scheduler already gone
            pass
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return out
