"""``python -m sim DIR``: run an artifact's RTL against the fxp emulator on a Verilog simulator."""

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
                    "mismatch, 2 on errors.")
    p.add_argument("directory", help="artifact directory with rtl/ (python -m hdl rtl DIR)")
    p.add_argument("--sim", choices=["icarus", "verilator"], default="icarus",
                   help="simulator (default: icarus)")
    p.add_argument("--vectors", type=int, default=2000, metavar="N",
                   help="random input vectors after the artifact's test vectors: all-minimum, "
                        "all-maximum, alternating extremes, then uniform (default: 2000)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the random vectors, idle cycles and backpressure")
    p.add_argument("--full-rate", action="store_true",
                   help="no idle cycles, no backpressure; fail unless the run takes exactly "
                        "(n - 1) * ii + latency + 1 cycles")
    p.add_argument("--axis", action="store_true",
                   help="drive the AXI4-Stream wrapper <name>_axis with cocotbext-axi "
                        "(random TVALID gaps and TREADY backpressure) instead of the core")
    p.add_argument("--tlast", action="store_true",
                   help="with --axis: send frames of the wrong lengths and check that the "
                        "wrapper raises error and counts each misplaced TLAST")
    p.add_argument("--waves", action="store_true",
                   help="write a waveform into DIR/sim/<sim>/ (Icarus: FST, Verilator: VCD)")
    args = p.parse_args(argv)
    try:
        from .runner import SimError, run, run_axis
        try:
            if args.tlast and not args.axis:
                raise SimError("--tlast needs --axis")
            if args.axis and args.full_rate:
                raise SimError("--full-rate is for the core, not --axis")
            if args.axis:
                result = run_axis(args.directory, args.sim, vectors=args.vectors,
                                  seed=args.seed, tlast=args.tlast, waves=args.waves)
            else:
                result = run(args.directory, args.sim, vectors=args.vectors, seed=args.seed,
                             full_rate=args.full_rate, waves=args.waves)
        except SimError as e:
            if os.environ.get("FXP_TRACEBACK"):
                raise
            print(f"error: {e}", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
