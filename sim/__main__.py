"""``python -m sim DIR``: run an artifact's RTL against the fxp emulator on a Verilog simulator; ``--regress`` runs many."""

import argparse
import os
import sys

MAX_REPORTS = 10


def main(argv=None) -> int:
    """Entry point of ``python -m sim``; returns the exit code (1: mismatches, 2: errors)."""
    p = argparse.ArgumentParser(
        prog="python -m sim",
        description="Stream an artifact's test vectors and random vectors (the input "
                    "format's extremes first) through its RTL on a Verilog simulator and compare every output "
                    "bit with the fxp emulator. Prints one summary line; exits 1 on any "
                    "mismatch, 2 on errors. With --regress: every artifact on every simulator "
                    "given, as tasks on this machine or a Dask cluster, one summary table; "
                    "exits 1 on any mismatch or failed run.")
    p.add_argument("directory", nargs="?",
                   help="artifact directory with rtl/ (python -m hdl rtl DIR)")
    p.add_argument("--regress", nargs="+", metavar="DIR",
                   help="run these artifacts (instead of DIR) on every --sim simulator")
    p.add_argument("--sim", default="icarus",
                   help="simulator: icarus or verilator (default: icarus); with --regress a "
                        "comma-separated list (icarus,verilator)")
    p.add_argument("--vectors", type=int, default=2000, metavar="N",
                   help="random input vectors after the artifact's test vectors: all-minimum, "
                        "all-maximum, alternating extremes, then uniform (default: 2000)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the random vectors, idle cycles and backpressure")
    p.add_argument("--full-rate", action="store_true",
                   help="no idle cycles, no backpressure; fail unless the run takes exactly "
                        "(n - 1) * ii + latency + 1 cycles")
    p.add_argument("--waves", action="store_true",
                   help="write a waveform into DIR/sim/<sim>/ (Icarus: FST, Verilator: VCD)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="with --regress: run on Dask, tcp://HOST:PORT (an existing scheduler) "
                        "or local[:N] (a LocalCluster of N workers)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="with --regress: runs at once on this machine (default: CPUs)")
    args = p.parse_args(argv)
    try:
        from .runner import SimError, run
        try:
            if args.regress is not None:
                return _regress(args)
            if args.directory is None:
                raise SimError("give an artifact directory DIR or --regress DIR [DIR ...]")
            for name in ("scheduler", "jobs"):
                if getattr(args, name) is not None:
                    raise SimError(f"--{name} needs --regress")
            from .regress import parse_simulators
            sims = parse_simulators(args.sim)
            if len(sims) > 1:
                raise SimError(f"--sim: {args.sim!r}: one simulator without --regress")
            result = run(args.directory, sims[0], vectors=args.vectors, seed=args.seed,
                         full_rate=args.full_rate, waves=args.waves)
        except (SimError, ValueError) as e:
            if os.environ.get("FXP_TRACEBACK"):
                raise
            print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                  file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        if os.environ.get("FXP_TRACEBACK"):
            raise
        print("interrupted", file=sys.stderr)
        return 130
    bench = result.bench
    for line in bench.reports[:MAX_REPORTS]:
        print(f"mismatch: {line}", file=sys.stderr)
    if bench.mismatches > len(bench.reports[:MAX_REPORTS]):
        print(f"mismatch: ... {bench.mismatches - MAX_REPORTS} more", file=sys.stderr)
    for line in bench.errors:
        print(f"error: {line}", file=sys.stderr)
    print(result.summary())
    if result.waves is not None:
        print(f"waves: {result.waves}", file=sys.stderr)
    return 0 if result.passed else 1


def _regress(args) -> int:
    """``--regress``: the summary table on stdout; 1 when any run mismatched or failed."""
    from hdl.flow.engine import parse_scheduler

    from .regress import parse_simulators, regress, regress_table
    from .runner import SimError
    if args.directory is not None:
        raise SimError(f"give DIR or --regress DIR [DIR ...], not both ({args.directory})")
    if args.waves:
        raise SimError("--waves: one run at a time (without --regress)")
    if args.jobs is not None and args.jobs < 1:
        raise SimError(f"--jobs must be a positive integer, not {args.jobs}")
    if args.jobs is not None and args.scheduler is not None:
        raise SimError("--jobs: not with --scheduler (the cluster's workers run the "
                       "simulations)")
    rows = regress(args.regress, parse_simulators(args.sim), vectors=args.vectors,
                   seed=args.seed, full_rate=args.full_rate,
                   scheduler=parse_scheduler(args.scheduler), jobs=args.jobs)
    print(regress_table(rows), end="")
    bad = [r for r in rows if "error" in r or not r["passed"]]
    for r in bad:
        for line in r.get("reports", [])[:1] + r.get("errors", [])[:1]:
            print(f"{r['artifact']} {r['simulator']}: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
