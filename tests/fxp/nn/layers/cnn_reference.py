"""Naive per-element references for conv, pooling, flatten and softmax, written from the layer
modules' docstrings: nested loops over Python ints and Fractions, no numpy, no fxp code."""

from __future__ import annotations

import math
from fractions import Fraction

from .. import reference as R
from ..reference import Fmt


def same_pads(n: int, k: int, s: int):
    """TensorFlow's 'same': ``(out, before)``."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2


def out_size(n: int, k: int, s: int, padding: str):
    if padding == "same":
        return same_pads(n, k, s)
    return (n - k) // s + 1, 0


def conv2d(x, w, b, fin: Fmt, fw: Fmt, fb: Fmt, facc: Fmt, fout: Fmt, stride, padding):
    """Raw outputs ``[n][y][x][f]`` of conv2d on raw ``x[n][h][w][c]``, ``w[f][i][j][c]``.

    Returns ``(out, acc_overflows, out_clipped)``.
    """
    H, W, C = len(x[0]), len(x[0][0]), len(x[0][0][0])
    kh, kw = len(w[0]), len(w[0][0])
    oh, top = out_size(H, kh, stride[0], padding)
    ow, left = out_size(W, kw, stride[1], padding)
    F = facc.frac
    out, n_wrap, n_clip = [], 0, 0
    for img in x:
        rows = []
        for oy in range(oh):
            cols = []
            for ox in range(ow):
                pix = []
                for f in range(len(w)):
                    s = 0
                    for i in range(kh):
                        for j in range(kw):
                            yy, xx = oy * stride[0] + i - top, ox * stride[1] + j - left
                            if 0 <= yy < H and 0 <= xx < W:
                                for c in range(C):
                                    s += w[f][i][j][c] * img[yy][xx][c]
                    s = s * 2 ** (F - fw.frac - fin.frac) + b[f] * 2 ** (F - fb.frac)
                    a = R.wrap(s, facc)
                    n_wrap += a != s
                    v = R.value(a, facc)
                    n_clip += R.out_of_range(v, fout)
                    pix.append(R.cast(v, fout))
                cols.append(pix)
            rows.append(cols)
        out.append(rows)
    return out, n_wrap, n_clip


def pool2d(x, pool, stride, kind: str, fin: Fmt, fout: Fmt | None):
    """Raw outputs of max or avg pooling (valid windows). ``fout`` None: avg's exact mean
    format ``<W + k, I>``; max keeps the input's raws."""
    H, W, C = len(x[0]), len(x[0][0]), len(x[0][0][0])
    oh, ow = (H - pool[0]) // stride[0] + 1, (W - pool[1]) // stride[1] + 1
    n = pool[0] * pool[1]
    out = []
    for img in x:
        rows = []
        for oy in range(oh):
            cols = []
            for ox in range(ow):
                pix = []
                for c in range(C):
                    vals = [img[oy * stride[0] + i][ox * stride[1] + j][c]
                            for i in range(pool[0]) for j in range(pool[1])]
                    if kind == "max":
                        pix.append(max(vals))
                        continue
                    mean = sum(R.value(v, fin) for v in vals) / n
                    if fout is None:
                        k = n.bit_length() - 1
                        exact = Fmt(fin.bits + k, fin.int_bits, fin.signed)
                        r = mean * 2 ** exact.frac
                        assert r.denominator == 1
                        pix.append(int(r))
                    else:
                        pix.append(R.cast(mean, fout))
                cols.append(pix)
            rows.append(cols)
        out.append(rows)
    return out


def softmax_tables(fin: Fmt, fout: Fmt, n: int, table_bits: int):
    """The two tables, step by step from fxp/nn/layers/softmax.py's docstring."""
    E = Fmt(fout.bits, 1, False, "RND", "SAT")
    step = Fraction(2) ** (fin.bits - table_bits - fin.frac)
    exp = [R.cast(Fraction(math.exp(-float(k * step))), E) for k in range(2 ** table_bits)]
    # E.sum(n): the smallest unsigned format holding n * (2**B - 1) with E's fraction bits
    hi = n * (2 ** E.bits - 1)
    s_bits = max(hi.bit_length(), 1)
    S = Fmt(s_bits, s_bits - E.frac, False)
    r_bits = min(table_bits, S.bits)
    drop = S.bits - r_bits
    recip = []
    for k in range(2 ** r_bits):
        c = (Fraction(k * 2 ** drop) + Fraction(2 ** drop - 1, 2)) / 2 ** S.frac
        recip.append(R.cast(Fraction(1.0 / max(float(c), 1.0)), E))
    return exp, recip, E, S


def softmax(row, fin: Fmt, fout: Fmt, exp, recip, E: Fmt, S: Fmt):
    """Raw outputs of softmax for one raw row."""
    t = len(exp).bit_length() - 1
    r_bits = len(recip).bit_length() - 1
    m = max(row)
    e = [exp[(m - v) // 2 ** (fin.bits - t)] for v in row]
    s = sum(e)                                   # raws at E's fraction bits, exact
    r = recip[s // 2 ** (S.bits - r_bits)]
    return [R.cast(R.value(ej, E) * R.value(r, E), fout) for ej in e]
