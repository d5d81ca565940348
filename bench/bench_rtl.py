"""Benchmark our multiplier-free CMVM against da4ml 0.6.0 on the same matrices: LUTs, carries, adders, depth.

For each matrix (the digits MLP's dense layers and seeded random ones), our
:class:`hdl.rtl.cmvm.ConstMatVec` and da4ml's Verilog for the same ``y = W x`` are synthesized
with the same yosys scripts (``templates/flow/*.ys.j2``, flattened) for ECP5 and Xilinx, and
each is checked against numpy on random vectors in Icarus. da4ml is installed into its own
venv under ``build/bench_rtl/`` (never a dependency of the project). da4ml spends adder depth
freely (no limit); ours by default adds none to the plain trees' depth. ``--depth-slack match``
also builds ours with da4ml's depth as its limit (``max_depth``) and checks the goal on those
rows: LUTs at equal or lower depth. Usage::

    python bench/bench_rtl.py [--cases 16x16x8,...] [--targets ecp5,xilinx] [--vectors N]
                              [--depth-slack N|none|match]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
from amaranth.back import verilog

from hdl.flow.synth import summarize, synth_script, synthesize
from hdl.rtl.cmvm import ConstMatVec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "build", "bench_rtl")
DA4ML = "da4ml==0.6.0"
LUT_GOAL = 0.9             # our LUTs <= 0.9x da4ml's, on every matrix and target
DIGITS = os.path.join(ROOT, "build", "digits_mlp")


def _random_cases():
    """Seeded random matrices: (name, W, input bits, input signed)."""
    rng = np.random.default_rng(2026)
    w16 = rng.integers(-128, 128, (16, 16))
    w64 = rng.integers(-8, 8, (64, 64))
    w32 = rng.integers(-128, 128, (32, 32))
    w32[rng.random(w32.shape) < 0.3] = 0
    return [("16x16x8", w16, 8, True), ("64x64x4", w64, 4, True),
            ("32x32x8-30%0", w32, 8, True)]


def _digits_cases():
    """The digits MLP's dense layers (trained into build/digits_mlp when missing)."""
    if not os.path.exists(os.path.join(DIGITS, "model.yaml")):
        subprocess.run([sys.executable, "-m", "fxp", "train",
                        os.path.join(ROOT, "examples", "digits_mlp.yaml"), "-o", DIGITS],
                       check=True, cwd=ROOT)
    from fxp.nn.model import Model
    model = Model.load(DIGITS)
    cases = []
    for i, layer in enumerate(model.spec.layers):
        if layer.type == "dense":
            fmt = model.inputs[i][1]
            cases.append((f"digits-l{i}", model.weight(i).raw, fmt.bits, fmt.signed))
    return cases


def _da4ml_python() -> str:
    venv = os.path.join(OUT, "da4ml-venv")
    py = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, ".installed")
    if not os.path.exists(stamp):
        print(f"installing {DA4ML} into {os.path.relpath(venv, ROOT)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "--quiet", DA4ML], check=True)
        open(stamp, "w").close()
    return py


def _testbench(top, in_port, out_port, in_width, out_width, n):
    return f"""`timescale 1ns/1ps
module tb;
  reg [{in_width - 1}:0] mem [0:{n - 1}];
  reg [{in_width - 1}:0] x;
  wire [{out_width - 1}:0] y;
  integer k, f;
  {top} dut (.{in_port}(x), .{out_port}(y));
  initial begin
    $readmemh("vectors.hex", mem);
    f = $fopen("outputs.hex", "w");
    for (k = 0; k < {n}; k = k + 1) begin
      x = mem[k];
      #1 $fwrite(f, "%h\\n", y);
    end
    $fclose(f);
    $finish;
  end
endmodule
"""


def _simulate(folder, sources, top, in_port, out_port, x, in_bits, out_width):
    """Icarus run of ``top`` on the rows of ``x``; returns the output words (ints)."""
    n, n_in = x.shape
    mask = (1 << in_bits) - 1
    with open(os.path.join(folder, "vectors.hex"), "w") as f:
        for row in x.tolist():
            word = sum((int(v) & mask) << (in_bits * j) for j, v in enumerate(row))
            f.write(f"{word:x}\n")
    with open(os.path.join(folder, "tb.v"), "w") as f:
        f.write(_testbench(top, in_port, out_port, in_bits * n_in, out_width, n))
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "tb.v"]
                   + [os.path.relpath(s, folder) for s in sources],
                   cwd=folder, check=True)
    subprocess.run(["vvp", "-n", "tb.vvp"], cwd=folder, check=True, capture_output=True)
    with open(os.path.join(folder, "outputs.hex")) as f:
        return [int(line, 16) for line in f.read().split()]


def _field(word, offset, width, sgn):
    v = (word >> offset) & ((1 << width) - 1) if width else 0
    return v - (1 << width) if sgn and width and v >> (width - 1) else v


def _ours(name, w, in_bits, in_signed, x, who="ours", cse=True, depth_slack=0,
          max_depth=None):
    folder = os.path.join(OUT, name, who)
    os.makedirs(folder, exist_ok=True)
    start = time.perf_counter()
    dut = ConstMatVec(matrix=w.tolist(), in_bits=in_bits, in_signed=in_signed, cse=cse,
                      depth_slack=depth_slack, max_depth=max_depth)
    text = verilog.convert(dut, name="cmvm", emit_src=False)
    seconds = time.perf_counter() - start
    src = os.path.join(folder, "cmvm.v")
    with open(src, "w") as f:
        f.write(text)
    ob = len(dut.y[0])
    words = _simulate(folder, [src], "cmvm", "x", "y", x, in_bits, ob * w.shape[0])
    got = [[_field(wd, u * ob, ob, True) for u in range(w.shape[0])] for wd in words]
    return {"folder": folder, "sources": [src], "top": "cmvm", "adders": dut.graph.adders,
            "depth": dut.graph.depth, "seconds": seconds, "got": got}


def _theirs(name, w, in_bits, in_signed, x, py):
    folder = os.path.join(OUT, name, "da4ml")
    shutil.rmtree(os.path.join(folder, "src"), ignore_errors=True)
    os.makedirs(folder, exist_ok=True)
    case = os.path.join(folder, "case.npz")
    kif = (int(in_signed), in_bits - int(in_signed), 0)
    np.savez(case, W=w, kif=np.array(kif))
    subprocess.run([py, os.path.join(ROOT, "bench", "da4ml_gen.py"), case, folder], check=True)
    with open(os.path.join(folder, "da4ml.json")) as f:
        info = json.load(f)
    top_src = os.path.join(folder, "src", "da4ml_cmvm.v")
    with open(top_src) as f:
        text = f.read()
    static = os.path.join(folder, "src", "static")
    sources = [top_src] + [os.path.join(static, s) for s in sorted(os.listdir(static))
                           if s.endswith(".v") and s[:-2] in text]
    outs = info["outputs"]
    width = sum(o["width"] for o in outs)
    words = _simulate(folder, sources, "da4ml_cmvm", "model_inp", "model_out", x, in_bits, width)
    got = [[int(_field(wd, o["offset"], o["width"], o["signed"]) * o["step"]) for o in outs]
           for wd in words]
    return {"folder": folder, "sources": sources, "top": "da4ml_cmvm", "adders": info["adders"],
            "depth": int(info["depth"]), "seconds": info["seconds"], "got": got}


def _synth(folder, sources, top, target):
    """LUTs and carry cells of a flattened synthesis, reused while the Verilog and the
    script are unchanged (a cache file beside the sources)."""
    h = hashlib.sha256(synth_script(target, ["x.v"], top, flatten=True).encode())
    for src in sources:
        with open(src, "rb") as f:
            h.update(f.read())
    cache = os.path.join(folder, f"synth-{target}.json")
    if os.path.exists(cache):
        with open(cache) as f:
            got = json.load(f)
        if got.get("key") == h.hexdigest():
            return got["result"]
    r = synthesize(sources, top, target, flatten=True)
    s = summarize(target, r.total)
    result = {"lut": s["lut"], "carry": s["carry"], "seconds": round(r.seconds, 1)}
    with open(cache, "w") as f:
        json.dump({"key": h.hexdigest(), "result": result}, f)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--targets", default="ecp5,xilinx")
    ap.add_argument("--vectors", type=int, default=300)
    ap.add_argument("--no-cse", action="store_true", help="also measure ours without CSE")
    ap.add_argument("--depth-slack", default="0", metavar="N",
                    help="adder levels our sharing may add to the plain trees' depth "
                         "(default 0; 'none': no limit; 'match': also ours with da4ml's depth "
                         "as the limit, the goal checked on those rows)")
    args = ap.parse_args(argv)
    match = args.depth_slack == "match"
    if args.depth_slack in ("none", "match"):
        slack = None if args.depth_slack == "none" else 0
    elif args.depth_slack.isdigit():
        slack = int(args.depth_slack)
    else:
        sys.exit(f"bench_rtl: --depth-slack must be a non-negative integer, 'none' or 'match', "
                 f"not {args.depth_slack!r}")
    os.makedirs(OUT, exist_ok=True)
    cases = _random_cases() + _digits_cases()
    if args.cases:
        wanted = args.cases.split(",")
        unknown = [c for c in wanted if c not in [n for n, *_ in cases]]
        if unknown:
            sys.exit(f"bench_rtl: unknown case {unknown[0]!r}; expected one of "
                     f"{', '.join(n for n, *_ in cases)}")
        cases = [c for c in cases if c[0] in wanted]
    targets = args.targets.split(",")
    py = _da4ml_python()
    rows, failed = [], []
    for name, w, in_bits, in_signed in cases:
        w = np.asarray(w, dtype=np.int64)
        rng = np.random.default_rng(7)
        lo, hi = (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1) if in_signed \
            else (0, (1 << in_bits) - 1)
        x = rng.integers(lo, hi, (args.vectors, w.shape[1]), endpoint=True)
        x[0], x[1] = lo, hi
        want = (x @ w.T).tolist()
        theirs = _theirs(name, w, in_bits, in_signed, x, py)
        designs = [("ours", _ours(name, w, in_bits, in_signed, x, depth_slack=slack))]
        if match:
            designs.append(("ours-match", _ours(name, w, in_bits, in_signed, x, "ours-match",
                                                max_depth=theirs["depth"])))
        if args.no_cse:
            designs.append(("ours-nocse", _ours(name, w, in_bits, in_signed, x, "ours-nocse",
                                                cse=False)))
        designs.append(("da4ml", theirs))
        for who, d in designs:
            bad = sum(g != e for g, e in zip(d["got"], want))
            d["mismatches"] = bad
            if bad:
                failed.append(f"{name}/{who}: {bad} of {len(want)} vectors differ from numpy")
            for t in targets:
                d[t] = _synth(d["folder"], d["sources"], d["top"], t)
            print(f"  {name:14s} {who:10s} " + "  ".join(
                f"{t} LUT {d[t]['lut']:6d} carry {d[t]['carry']:5d}" for t in targets)
                + f"  adders {d['adders']:5d} depth {d['depth']:2d} gen {d['seconds']:.2f}s"
                + f"  sim {len(want) - bad}/{len(want)} ok", flush=True)
        rows.append((name, w.shape, dict(designs)))
    print(f"ours: depth_slack={slack}" + ("; ours-match: max_depth = da4ml's depth" if match
                                          else ""))
    _table(rows, targets, failed, match)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump([{"case": n, "shape": list(s), **{who: {k: v for k, v in d.items()
                                                          if k not in ("got", "sources", "folder")}
                                                    for who, d in ds.items()}}
                   for n, s, ds in rows], f, indent=1)
    return 1 if failed else 0


def _table(rows, targets, failed, match=False):
    """The side-by-side table; the goal is checked on the ``ours-match`` rows with ``match``,
    else on the ``ours`` rows."""
    head = ["matrix", "ours"] + [f"{t} LUT ours/da4ml (ratio)" for t in targets] + \
        [f"{t} carry" for t in targets] + ["adders", "depth", "gen s", "sim", "goal"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    missed = []
    checked = "ours-match" if match else "ours"
    for name, shape, ds in rows:
        d = ds["da4ml"]
        for who in ("ours", "ours-match"):
            if who not in ds:
                continue
            o = ds[who]
            cells = [f"{name} {shape[0]}x{shape[1]}",
                     "depth <= da4ml's" if who == "ours-match" else "default"]
            miss = []
            for t in targets:
                ratio = o[t]["lut"] / max(d[t]["lut"], 1)
                cells.append(f"{o[t]['lut']} / {d[t]['lut']} ({ratio:.3f})")
                if ratio > LUT_GOAL:
                    miss.append(f"{name} {t} LUT ratio {ratio:.3f} > {LUT_GOAL}")
            cells += [f"{o[t]['carry']} / {d[t]['carry']}" for t in targets]
            cells += [f"{o['adders']} / {d['adders']}", f"{o['depth']} / {d['depth']}",
                      f"{o['seconds']:.2f} / {d['seconds']:.2f}",
                      "ok" if not (o["mismatches"] or d["mismatches"]) else "MISMATCH"]
            if o["depth"] > d["depth"]:
                miss.append(f"{name} depth {o['depth']} > da4ml's {d['depth']}")
            if who == "ours" and "ours-nocse" in ds:
                cells[0] += " (no CSE: " + ", ".join(
                    f"{t} {ds['ours-nocse'][t]['lut']}" for t in targets) + ")"
            cells.append(("missed" if miss else "met") if who == checked else "-")
            if who == checked:
                missed += miss
            lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))
    rows_checked = "depth <= da4ml's" if match else "default"
    print(f"goal: LUTs <= {LUT_GOAL}x da4ml's on every target, depth <= da4ml's; checked on "
          f"the '{rows_checked}' rows")
    for m in missed:
        print(f"goal missed: {m}")
    for m in failed:
        print(f"FAILED: {m}")


if __name__ == "__main__":
    sys.exit(main())
