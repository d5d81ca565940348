"""``python -m hdl report`` and ``python -m hdl sweep``: arguments, one-line errors."""

from __future__ import annotations

import os
import sys

from .errors import ReportError
from .pnr import DEFAULT_ROUTER, ECP5_DEVICES, PLACERS, ROUTERS
from .report import DEFAULT_TARGETS, build_report, write_report
from .engine import parse_scheduler
from .sweep import parse_axis, parse_bits, run_sweep
from .synth import TARGETS
from .tools import SynthError

__all__ = ["add_subcommands", "run_subcommand", "parse_targets"]


def parse_targets(text: str) -> list:
    """``"ecp5,xilinx"`` -> ``["ecp5", "xilinx"]``; a one-line ReportError otherwise."""
    out = [t.strip() for t in text.split(",") if t.strip()]
    for t in out:
        if t not in TARGETS:
            raise ReportError(f"--targets: unknown target {t!r}; expected a comma-separated "
                              f"list of {', '.join(TARGETS)}")
    if not out:
        raise ReportError("--targets: no target given")
    return out


def add_subcommands(sub) -> None:
    """Add ``report`` and ``sweep`` to ``python -m hdl``'s subparsers."""
    r = sub.add_parser("report", help="synthesize DIR's RTL (ECP5, Xilinx, iCE40), place and "
                                      "route on ECP5; write DIR/report/")
    r.add_argument("directory", help="artifact directory (python -m fxp train -o DIR)")
    r.add_argument("-o", "--output", help="report folder (default DIR/report)")
    r.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                   help="comma-separated synthesis targets (default %(default)s)")
    r.add_argument("--no-pnr", action="store_true", help="skip place and route (no fmax)")
    r.add_argument("--device", default="auto", choices=["auto", *ECP5_DEVICES],
                   help="LFE5U device for place and route (default: smallest that fits)")
    r.add_argument("--freq", type=float, default=100.0, metavar="MHZ",
                   help="nextpnr target frequency (default %(default)g)")
    r.add_argument("--out-of-context", action="store_true",
                   help="place without I/O pins (every port registered) instead of the "
                        "serial I/O wrapper")
    r.add_argument("--router", default=DEFAULT_ROUTER, choices=ROUTERS,
                   help="nextpnr router (default %(default)s, timing-driven: on the parallel "
                        "digits design 105 MHz where router2 gave 86, routing about 10 s longer)")
    r.add_argument("--placer", default="static", choices=PLACERS,
                   help="nextpnr placer (default %(default)s)")
    r.add_argument("--no-tmdriv", action="store_true",
                   help="wirelength-driven placement (nextpnr --no-tmdriv): faster; the fmax "
                        "is still the routed design's")
    r.add_argument("--seed", type=int, default=1, help="nextpnr seed (default %(default)s)")
    r.add_argument("--strategy", choices=["parallel", "folded"],
                   help="override hardware.strategy (RTL regenerated into OUT/rtl)")
    r.add_argument("--reuse", type=int, help="override hardware.reuse (folded)")
    r.add_argument("--pipeline", type=int, help="override hardware.pipeline")
    r.add_argument("--acc-bits", type=int, metavar="N",
                   help="widen every accumulator to N bits (same weights; e.g. 32)")
    r.add_argument("--jobs", type=int, help="targets synthesized at once (default: CPUs)")
    s = sub.add_parser("sweep", help="train, generate and synthesize a spec at several weight "
                                     "and accumulator widths; one table and plots")
    s.add_argument("spec", help="model spec (YAML)")
    s.add_argument("--weight-bits", default="4,6,8", help="comma-separated (default "
                                                          "%(default)s)")
    s.add_argument("--acc-bits", default="auto",
                   help="comma-separated widths P (A2Q training) or auto (default %(default)s)")
    s.add_argument("--act-bits", default="spec",
                   help="comma-separated widths of every layer output, or spec (default "
                        "%(default)s: the spec's formats)")
    s.add_argument("--strategy", default="spec",
                   help="comma-separated parallel, folded or spec (default %(default)s)")
    s.add_argument("--reuse", default="spec",
                   help="comma-separated reuse factors (folded) or spec (default %(default)s)")
    s.add_argument("--pipeline", default="spec",
                   help="comma-separated adder-tree levels between registers, or spec "
                        "(default %(default)s)")
    s.add_argument("-o", "--output", help="folder (default build/<name>/sweep)")
    s.add_argument("--targets", default="ecp5", help="synthesis targets (default %(default)s)")
    s.add_argument("--no-synth", action="store_true",
                   help="no synthesis: accuracy, latency and II of every point only")
    s.add_argument("--pnr", action="store_true", help="also place and route every point")
    s.add_argument("--epochs", type=int, help="override train.epochs")
    s.add_argument("--jobs", type=int, help="points at once on this machine (default: CPUs)")
    s.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the points on Dask: tcp://HOST:PORT (an existing scheduler) or "
                        "local[:N] (a LocalCluster of N workers)")
    s.add_argument("--cache", metavar="DIR",
                   help="per-point cache (default build/cache/sweep); on a cluster, a "
                        "folder every worker sees at the same path")


def run_subcommand(args) -> int:
    """Run ``report`` or ``sweep``; errors are one line on stderr (exit 2)."""
    try:
        if args.command == "report":
            if args.jobs is not None and args.jobs < 1:
                raise ReportError(f"--jobs must be a positive integer, not {args.jobs}")
            out = args.output or os.path.join(args.directory, "report")
            rep = build_report(args.directory, output=out, targets=parse_targets(args.targets),
                               pnr=not args.no_pnr, device=args.device, freq_mhz=args.freq,
                               serial_io=not args.out_of_context, router=args.router,
                               placer=args.placer, timing_driven=not args.no_tmdriv,
                               seed=args.seed,
                               strategy=args.strategy,
                               reuse=args.reuse, pipeline=args.pipeline,
                               acc_bits=args.acc_bits, jobs=args.jobs)
            paths = write_report(rep, out)
            perf = rep["performance"]
            fmax = (f", fmax {perf['fmax_mhz']:.1f} MHz, latency {perf['latency_ns']:.1f} ns"
                    if perf.get("fmax_mhz") else "")
            luts = ", ".join(f"{t} {s['resources']['lut']:,} LUT"
                             for t, s in rep["synthesis"].items())
            print(f"{rep['name']}: {luts}{fmax} -> {paths['md']}")
            return 0
        if args.jobs is not None and args.jobs < 1:
            raise ReportError(f"--jobs must be a positive integer, not {args.jobs}")
        if args.epochs is not None and args.epochs < 1:
            raise ReportError(f"--epochs must be a positive integer, not {args.epochs}")
        if args.jobs is not None and args.scheduler is not None:
            raise ReportError("--jobs: not with --scheduler (the cluster's workers run the "
                              "points)")
        if args.no_synth and args.pnr:
            raise ReportError("--pnr needs synthesis; drop --no-synth")
        sw = run_sweep(args.spec, weight_bits=parse_bits(args.weight_bits, "--weight-bits",
                                                         False),
                       acc_bits=parse_bits(args.acc_bits, "--acc-bits", True),
                       act_bits=parse_axis(args.act_bits, "--act-bits"),
                       strategy=parse_axis(args.strategy, "--strategy"),
                       reuse=parse_axis(args.reuse, "--reuse"),
                       pipeline=parse_axis(args.pipeline, "--pipeline"),
                       output=args.output,
                       targets=() if args.no_synth else parse_targets(args.targets),
                       pnr=args.pnr, epochs=args.epochs, jobs=args.jobs,
                       scheduler=parse_scheduler(args.scheduler), cache_dir=args.cache)
        failed = [p for p in sw["points"] if "error" in p]
        out = args.output or os.path.join("build", sw["name"], "sweep")
        hits = sw["cache"]["hits"]
        cached = ("all cache hits" if hits == len(sw["points"]) else f"{hits} cached")
        print(f"{sw['name']}: {len(sw['points'])} points ({cached}, {len(failed)} failed) -> "
              f"{os.path.join(out, 'sweep.md')}")
        for p in failed:
            print(f"failed: {p['label']}: {p['error']}", file=sys.stderr)
        return 1 if failed else 0
    except (ValueError, TypeError, OSError, SynthError) as e:
        if os.environ.get("FXP_TRACEBACK"):
            raise
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
