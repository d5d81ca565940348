"""da4ml's Verilog for one integer matrix (run by bench_rtl.py inside the da4ml venv, never imported).

Usage: ``python da4ml_gen.py case.npz outdir``; ``case.npz`` holds ``W`` (outputs, inputs) and
``kif`` (sign bit, integer bits, fraction bits of every input). Writes ``outdir/src/<name>.v``
and ``outdir/da4ml.json`` (adders, depth, seconds, each output's slice of ``model_out``).
"""

import json
import sys
import time

import numpy as np
from da4ml.codegen import VerilogModel
from da4ml.trace import FixedVariableArray, comb_trace


def _bits(lo, hi):
    if lo >= 0:
        return max(int(hi).bit_length(), 1), False
    return max(int(-lo - 1).bit_length(), int(hi).bit_length()) + 1, True


def main(case, out):
    z = np.load(case)
    w, (k, i, f) = z["W"], [int(v) for v in z["kif"]]
    n_in = w.shape[1]
    start = time.perf_counter()
    x = FixedVariableArray.from_kif(np.full(n_in, k), np.full(n_in, i), np.full(n_in, f))
    y = x @ w.T.astype(np.float32)
    comb = comb_trace(x, y)
    VerilogModel(comb, "da4ml_cmvm", out).write()
    seconds = time.perf_counter() - start
    outputs, offset = [], 0
    for q in comb.out_qint:
        step = float(q.step)
        lo, hi = round(q.min / step), round(q.max / step)
        width, sgn = _bits(lo, hi) if (lo, hi) != (0, 0) else (0, False)
        outputs.append({"offset": offset, "width": width, "signed": sgn, "step": step})
        offset += width
    info = {"adders": sum(op.opcode in (0, 1) for op in comb.ops),
            "ops": len([op for op in comb.ops if op.opcode != -1]),
            "depth": float(comb.latency[1]), "cost": float(comb.cost), "seconds": seconds,
            "outputs": outputs}
    with open(f"{out}/da4ml.json", "w") as fh:
        json.dump(info, fh, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
