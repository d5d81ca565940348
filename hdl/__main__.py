"""``python -m hdl``: generate RTL (and later HLS C++ and reports) from an artifact."""

import argparse
import os
import sys


def main(argv=None) -> int:
    """Entry point of ``python -m hdl``; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m hdl", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rtl", help="write DIR/rtl/<name>.v and DIR/rtl/manifest.json")
    r.add_argument("directory", help="artifact directory (python -m fxp train -o DIR)")
    r.add_argument("--strategy", choices=["parallel", "folded"],
                   help="override hardware.strategy for every dense layer")
    r.add_argument("--reuse", type=int, help="override hardware.reuse (folded)")
    r.add_argument("--pipeline", type=int, help="override hardware.pipeline (parallel)")
    args = p.parse_args(argv)
    from fxp.nn import ArtifactError, SpecError
    try:
        if args.command == "rtl":
            from .rtl import generate_rtl
            man = generate_rtl(args.directory, strategy=args.strategy, reuse=args.reuse,
                               pipeline=args.pipeline)
            print(f"{man['name']}: latency {man['latency']} cycles, II {man['ii']} -> "
                  f"{os.path.join(args.directory, 'rtl', man['verilog'])}")
    except (SpecError, ArtifactError, ValueError, TypeError, OSError) as e:
        if os.environ.get("FXP_TRACEBACK"):
            raise
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
