"""``python -m hdl``: generate RTL and HLS C++ from an artifact; C-simulate the HLS C++."""

import argparse
import os
import sys


def main(argv=None) -> int:
    """Entry point of ``python -m hdl``; returns the exit code (130 on Ctrl-C: every output is
    written atomically, so nothing partial is left)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        if os.environ.get("FXP_TRACEBACK"):
            raise
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv) -> int:
    from .hls.generate import DEFAULT_CLOCK_NS, DEFAULT_PART
    p = argparse.ArgumentParser(prog="python -m hdl", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rtl", help="write DIR/rtl/<name>.v and DIR/rtl/manifest.json")
    r.add_argument("directory", help="artifact directory (python -m fxp train -o DIR)")
    r.add_argument("--strategy", choices=["parallel", "folded"],
                   help="override hardware.strategy for every dense layer")
    r.add_argument("--reuse", type=int, help="override hardware.reuse (folded)")
    r.add_argument("--pipeline", type=int, help="override hardware.pipeline")
    h = sub.add_parser("hls", help="write the Vitis HLS project DIR/hls/ (C++, testbench, Tcl)")
    h.add_argument("directory", help="artifact directory (python -m fxp train -o DIR)")
    h.add_argument("--strategy", choices=["parallel", "folded"],
                   help="override hardware.strategy for every dense layer")
    h.add_argument("--reuse", type=int, help="override hardware.reuse (folded)")
    h.add_argument("--part", default=DEFAULT_PART,
                   help="FPGA part of build.tcl (default %(default)s)")
    h.add_argument("--clock", type=float, default=DEFAULT_CLOCK_NS, metavar="NS",
                   help="clock period of build.tcl in ns (default %(default)s)")
    c = sub.add_parser("csim", help="compile DIR/hls/ with g++ and compare with the emulator")
    c.add_argument("directory", help="artifact directory with an HLS project (hdl hls DIR)")
    c.add_argument("--vectors", type=int, default=2000, metavar="N",
                   help="random input vectors besides the artifact's (default %(default)s)")
    c.add_argument("--seed", type=int, default=0, help="seed of the random vectors")
    from .flow.cli import add_subcommands, run_subcommand
    add_subcommands(sub)
    args = p.parse_args(argv)
    if args.command in ("report", "sweep"):
        return run_subcommand(args)
    from fxp.nn import ArtifactError, SpecError

    from .hls.aptypes import ApFixedError
    from .rtl.netlist import NetlistError
    try:
        if args.command == "rtl":
            from .rtl.emit import generate_rtl
            man = generate_rtl(args.directory, strategy=args.strategy, reuse=args.reuse,
                               pipeline=args.pipeline)
            print(f"{man.name}: latency {man.latency} cycles, II {man.ii} -> "
                  f"{os.path.join(args.directory, 'rtl', man.verilog)}")
        elif args.command == "hls":
            from .hls.generate import generate_hls
            info = generate_hls(args.directory, strategy=args.strategy, reuse=args.reuse,
                                part=args.part, clock_ns=args.clock)
            print(f"{info['name']}: II {info['ii']}, {len(info['files'])} files -> "
                  f"{os.path.join(args.directory, 'hls')}")
        elif args.command == "csim":
            from .hls.csim import run_csim
            result = run_csim(args.directory, vectors=args.vectors, seed=args.seed)
            print(result.summary)
            for i, want, got in result.first:
                print(f"vector {i}: expected {want}, got {got}", file=sys.stderr)
            return 1 if result.mismatches else 0
    except (SpecError, ArtifactError, ValueError, TypeError, OSError, ApFixedError,
            NetlistError) as e:
        if os.environ.get("FXP_TRACEBACK"):
            raise
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
