"""Benchmark fxp quantize, matmul, cast and arithmetic against numpy, apytypes and fxpmath."""

from __future__ import annotations

import os
import sys
import time

import apytypes as apy
import fxpmath
import numpy as np
from fxpmath import Fxp
from threadpoolctl import threadpool_limits

import bench_saturation
import fxp
from fxp import kernels

REPEAT = 7              # timed runs per measurement (median), after one warm-up run
REPEAT_SLOW = 5         # for fxpmath, which takes about a second per call
N = 10_000_000          # elements for the element-wise benchmarks
N_FXPMATH = 1_000_000   # fxpmath is timed on this many and scaled linearly to N ...
N_WIDE = 200_000        # elements for the wide (Python-int) element-wise benchmarks
SLOW_S = 3.0            # ... when a call on N elements would take longer than this
QUANT_LIMIT = 2.0       # target: fxp.quantize <= 2x the numpy expression
MATMUL_LIMIT = 3.0      # target: exact 8-bit fxp.matmul <= 3x float64 numpy matmul
WIDE_LIMIT = 50.0       # target: exact 40b x 40b fxp.matmul (86-bit sums) and x * y <= 50x float64
APY_INT, APY_FRAC = 16, 48  # apytypes' from_float is RND_INF + WRAP only: go through 64 bits
BLAS_THREADS = 1        # multithreaded BLAS on a shared box swings 1.5 ms <-> 32 ms per call

SAT_FMT = fxp.FixedFormat.parse("fixed<16,6,RND_CONV,SAT>")
WRAP_FMT = fxp.FixedFormat.parse("fixed<16,6>")
LO, HI = -2 ** 15, 2 ** 15 - 1
SCALE = 2.0 ** 10

_rows: list[tuple] = []    # (name, ms, ratio, target, ok); a str row is a section title
_missed: list[str] = []


def _time_ms(fn, repeat=REPEAT):
    """Median ms per call of ``fn``, short calls timed in batches of at least ~20 ms."""
    return bench_saturation.alternating_ms(fn, repeat=repeat, batch=True)[0]


def _paired_ms(fn, base, repeat=REPEAT):
    """Median ms per call of ``fn`` and of ``base``, their batches alternating (same load)."""
    base_ms, fn_ms = bench_saturation.alternating_ms(base, fn, repeat=repeat, batch=True)
    return fn_ms, base_ms


def _section(title):
    _rows.append(title)


def _row(name, ms, base_ms, target="", ok=None, miss=""):
    _rows.append((name, ms, ms / base_ms, target, ok))
    if ok is False:
        _missed.append(miss or name)


def _verify(what, got, want):
    wide = np.asarray(got).dtype == object or np.asarray(want).dtype == object
    dtype = object if wide else np.int64
    if not np.array_equal(np.asarray(got, dtype=dtype), np.asarray(want, dtype=dtype)):
        n = int(np.count_nonzero(np.asarray(got, dtype=dtype) != np.asarray(want, dtype=dtype)))
        print(f"bench: WRONG RESULT: {what} differs from the reference in {n} elements")
        _missed.append(f"{what} result wrong")


def _signed16(bits):
    b = bits.astype(np.int64)
    return np.where(b > HI, b - 2 ** 16, b)


def _apy_quantize(x, q, o):
    a = apy.APyFixedArray.from_float(x, int_bits=APY_INT, frac_bits=APY_FRAC)
    return a.cast(int_bits=6, frac_bits=10, quantization=q, overflow=o)


def _apy_direct(x):
    return apy.APyFixedArray.from_float(x, int_bits=6, frac_bits=10)


def _fxpmath(x, rounding, overflow):
    return Fxp(x, signed=True, n_word=16, n_frac=10, rounding=rounding, overflow=overflow)


def _bench_quantize(title, x, fmt, baseline, reference, apy_modes, fxpmath_modes):
    _section(title)
    base_ms = _time_ms(lambda: baseline(x))
    _row("numpy clip(rint(x*2**10), -2**15, 2**15-1)", base_ms, base_ms, "baseline")
    want = reference(x)
    _verify(f"fxp.quantize to {fmt}", fxp.quantize(x, fmt).raw, want)
    fxp_ms = _time_ms(lambda: fxp.quantize(x, fmt))
    _row("fxp.quantize", fxp_ms, base_ms, f"<= {QUANT_LIMIT:.2f}x",
         fxp_ms / base_ms <= QUANT_LIMIT, f"fxp.quantize {fmt} <= {QUANT_LIMIT}x numpy")

    _verify(f"apytypes to {fmt}", _signed16(_apy_quantize(x, *apy_modes).to_bits(numpy=True)),
            want)
    apy_ms = _time_ms(lambda: _apy_quantize(x, *apy_modes))
    _row(f"apytypes from_float<{APY_INT},{APY_FRAC}>+cast", apy_ms, base_ms, "fxp faster",
         fxp_ms < apy_ms, f"fxp faster than apytypes on {fmt}")
    apy_direct_ms = _time_ms(lambda: _apy_direct(x))
    _row("apytypes from_float<6,10> (RND_INF,WRAP; info)", apy_direct_ms, base_ms, "info")

    fm_ms, how = _fxpmath_ms(x, want, fmt, fxpmath_modes)
    _row(f"fxpmath Fxp ({how})", fm_ms, base_ms, "fxp faster", fxp_ms < fm_ms,
         f"fxp faster than fxpmath on {fmt}")


def _fxpmath_ms(x, want, fmt, modes):
    """fxpmath on all of ``x`` when fast enough, else on N_FXPMATH values scaled linearly."""
    xs = x[:N_FXPMATH]
    t0 = time.perf_counter()
    _verify(f"fxpmath to {fmt}", _fxpmath(xs, *modes).val, want[:N_FXPMATH])
    if (time.perf_counter() - t0) * len(x) / len(xs) < SLOW_S:
        return _time_ms(lambda: _fxpmath(x, *modes), REPEAT_SLOW), f"full {len(x) // 10**6}M"
    scale = len(x) // len(xs)
    return (_time_ms(lambda: _fxpmath(xs, *modes), REPEAT_SLOW) * scale,
            f"timed on {len(xs) // 10**6}M, x{scale}")


def _np_quantize(x):
    return np.clip(np.rint(x * SCALE), LO, HI)


def _quantize_rows(rng):
    m = N // 10**6
    x = rng.normal(0.0, 8.0, N)
    r = np.rint(x * SCALE)
    sat = np.count_nonzero((r < LO) | (r > HI))
    _bench_quantize(f"quantize {m}M normal(0,8) -> {SAT_FMT} ({sat} saturate)", x, SAT_FMT,
                    _np_quantize, lambda v: _np_quantize(v).astype(np.int64),
                    (apy.QuantizationMode.RND_CONV, apy.OverflowMode.SAT), ("around", "saturate"))
    x = rng.uniform(-31.0, 31.0, N)
    _bench_quantize(f"quantize {m}M uniform(-31,31) -> {WRAP_FMT} (TRN, WRAP; in range)", x,
                    WRAP_FMT, _np_quantize, lambda v: np.floor(v * SCALE).astype(np.int64),
                    (apy.QuantizationMode.TRN, apy.OverflowMode.WRAP), ("floor", "wrap"))


def _random_fixed(rng, shape, fmt):
    fmt = fxp.FixedFormat.parse(fmt)
    return fxp.from_raw(rng.integers(fmt.raw_min, fmt.raw_max, shape, endpoint=True), fmt)


def _bench_matmul(rng, title, m, k, n, fa, fb, limit=None):
    a, b = _random_fixed(rng, (m, k), fa), _random_fixed(rng, (k, n), fb)
    a_f, b_f = a.to_float(), b.to_float()
    _section(f"matmul {title}: {m}x{k} {fa} @ {k}x{n} {fb} (BLAS {BLAS_THREADS} thread)")
    res = fxp.matmul(a, b)
    if res.raw.dtype != object:  # below 2**53 the float product is exact: check against it
        _verify(f"fxp.matmul {title}", res.raw, np.ldexp(a_f @ b_f, res.fmt.frac_bits))
    else:                        # Python ints: check against them
        _verify(f"fxp.matmul {title}", res.raw,
                np.matmul(a.raw.astype(object), b.raw.astype(object)))
    # timed alternately with the float matmul: their ratio is steadier on a shared machine
    ms, base_ms = _paired_ms(lambda: fxp.matmul(a, b), lambda: a_f @ b_f)
    _row("numpy float64 a_f @ b_f", base_ms, base_ms, "baseline")
    name = f"fxp.matmul -> {res.fmt} ({res.raw.dtype})"
    if limit is None:
        _row(name, ms, base_ms, "info")
        return
    _row(name, ms, base_ms, f"<= {limit:.2f}x", ms / base_ms <= limit,
         f"fxp.matmul {title} <= {limit}x numpy")
    if res.raw.dtype == object:   # a wide result is int64 words until its ints are read
        ms, base_ms = _paired_ms(lambda: fxp.matmul(a, b).raw, lambda: a_f @ b_f)
        _row("  ... and reading .raw (Python ints built)", ms, base_ms, "info")
        out = fxp.FixedFormat.parse("fixed<16,6,RND_CONV,SAT>")
        _verify("cast of the wide matmul", fxp.matmul(a, b).cast(out).raw,
                fxp.from_raw(res.raw, res.fmt).cast(out).raw)
        ms, base_ms = _paired_ms(lambda: fxp.matmul(a, b).cast(out), lambda: a_f @ b_f)
        _row(f"  ... then .cast({out}) from the words", ms, base_ms, "info")


def _matmul_rows(rng):
    _bench_matmul(rng, "8b x 8b", 256, 1024, 256, "fixed<8,3>", "fixed<8,2>", MATMUL_LIMIT)
    _bench_matmul(rng, "16b x 16b", 256, 1024, 256, "fixed<16,6>", "fixed<16,4>")
    _bench_matmul(rng, "40b x 40b", 32, 64, 32, "fixed<40,10>", "fixed<40,12>", WIDE_LIMIT)


def _np_cast(r):
    # fixed<32,12> -> fixed<16,6,RND_CONV,SAT>: drop 10 fraction bits, ties to even, clip
    return np.clip((r + ((1 << 9) - 1) + ((r >> 10) & 1)) >> 10, LO, HI)


def _elementwise_rows(rng):
    src = fxp.FixedFormat.parse("fixed<32,12>")
    r = np.clip(np.rint(rng.normal(0.0, 8.0, N) * 2.0 ** 20), src.raw_min, src.raw_max)
    xa = fxp.from_raw(r.astype(np.int64), src)
    _section(f"cast {N // 10**6}M {src} -> {SAT_FMT}")
    base_ms = _time_ms(lambda: _np_cast(xa.raw))
    _row("numpy int64 clip(round-half-even shift)", base_ms, base_ms, "baseline")
    _verify("FixedArray.cast", xa.cast(SAT_FMT).raw, _np_cast(xa.raw))
    _row("FixedArray.cast", _time_ms(lambda: xa.cast(SAT_FMT)), base_ms, "info")

    x, y = _random_fixed(rng, N, "fixed<16,6>"), _random_fixed(rng, N, "fixed<16,6>")
    for op, fn in (("+", lambda p, q: p + q), ("*", lambda p, q: p * q)):
        _section(f"x {op} y on {N // 10**6}M fixed<16,6> -> {fn(x[:1], y[:1]).fmt}")
        base_ms = _time_ms(lambda: fn(x.raw, y.raw))
        _row(f"numpy int64 x.raw {op} y.raw", base_ms, base_ms, "baseline")
        _verify(f"FixedArray {op}", fn(x, y).raw, fn(x.raw, y.raw))
        _row(f"FixedArray x {op} y", _time_ms(lambda: fn(x, y)), base_ms, "info")


def _python_int_cast(raw, src, dst):
    """The cast of Python-int raws on Python ints throughout (fxp's path before the split)."""
    s = src.frac_bits - dst.frac_bits
    with fxp.overflow_policy("ignore"):
        q = kernels.round_shift(raw, s, dst.quantization)
        return kernels.overflow(q, dst, "python ints", floor=lambda: raw >> s)


def _wide_rows(rng):
    """Wide formats (raws past int64) element-wise: the limb/split paths against Python ints."""
    n = N_WIDE
    src = fxp.FixedFormat.parse("fixed<86,26>")   # a 40b x 40b dot product's accumulator
    hi, lo = rng.integers(-2 ** 39, 2 ** 39, n), rng.integers(0, 2 ** 46, n)
    raw = (hi.astype(object) << 46) + lo.astype(object)
    x = fxp.from_raw(raw, src)
    for dst in ("fixed<16,6,RND_CONV,SAT>", "fixed<24,14,RND,WRAP_SM>"):
        dst = fxp.FixedFormat.parse(dst)
        _section(f"cast {n // 1000}k {src} (Python-int raws) -> {dst}")
        base_ms = _time_ms(lambda: _python_int_cast(raw, src, dst), REPEAT_SLOW)
        _row("Python ints throughout (the exact path)", base_ms, base_ms, "baseline")
        with fxp.overflow_policy("ignore"):
            _verify(f"split cast to {dst}", x.cast(dst).raw, _python_int_cast(raw, src, dst))
            ms = _time_ms(lambda: x.cast(dst), REPEAT_SLOW)
        _row("FixedArray.cast: floor/remainder split, int64", ms, base_ms, "faster",
             ms < base_ms, f"split cast to {dst} faster than Python ints")
    a = _random_fixed(rng, n, "fixed<40,10>")
    b = _random_fixed(rng, n, "fixed<40,12>")
    c = _random_fixed(rng, n, "fixed<40,30>")
    a_f, b_f = a.to_float(), b.to_float()
    ref = a.raw.astype(object) * b.raw.astype(object)
    _section(f"x * y on {n // 1000}k fixed<40,10> x fixed<40,12> -> {(a * b).fmt} "
             f"(int64 words until .raw is read)")
    _verify("wide x * y", (a * b).raw, ref)
    ms, base_ms = _paired_ms(lambda: a * b, lambda: a_f * b_f)
    _row("numpy float64 x_f * y_f", base_ms, base_ms, "baseline")
    _row("FixedArray x * y (words)", ms, base_ms, f"<= {WIDE_LIMIT:.2f}x",
         ms / base_ms <= WIDE_LIMIT, f"wide element-wise x * y <= {WIDE_LIMIT}x float64")
    _verify("wide x * y + z", (a * b + c).raw,
            ref + (c.raw.astype(object) << ((a * b).fmt.frac_bits - c.fmt.frac_bits)))
    ms, base_ms = _paired_ms(lambda: a * b + c, lambda: a_f * b_f)
    _row(f"FixedArray x * y + z ({(a * b + c).fmt}, words)", ms, base_ms, "info")
    ms, base_ms = _paired_ms(lambda: (a * b).cast(SAT_FMT), lambda: a_f * b_f)
    _row(f"FixedArray (x * y).cast({SAT_FMT}) from the words", ms, base_ms, "info")
    ms, base_ms = _paired_ms(lambda: (a * b).raw, lambda: a_f * b_f, REPEAT_SLOW)
    _row("  ... reading .raw (Python ints built)", ms, base_ms, "info")
    ms, base_ms = _paired_ms(lambda: a.raw.astype(object) * b.raw.astype(object),
                             lambda: a_f * b_f, REPEAT_SLOW)
    _row("numpy object x.raw * y.raw (info)", ms, base_ms, "info")


def _print_table():
    width = max(len(r[0]) for r in _rows if isinstance(r, tuple)) + 2
    print(f"{'name':<{width}}{'ms':>11}{'ratio':>10}  {'target':<12}ok")
    for r in _rows:
        if isinstance(r, str):
            print(r)
            continue
        name, ms, ratio, target, ok = r
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"  {name:<{width - 2}}{ms:>11.3f}{ratio:>9.2f}x  {target:<12}{mark}")


def main():
    """Run every benchmark, print the table; return 1 if a target is missed, else 0."""
    print(f"fxp bench: numpy {np.__version__}, apytypes {apy.__version__}, fxpmath "
          f"{fxpmath.__version__}, {os.cpu_count()} CPUs; median of {REPEAT} runs after a "
          f"warm-up ({REPEAT_SLOW} for fxpmath); ratio = time / section baseline")
    rng = np.random.default_rng(0)
    _quantize_rows(rng)
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        _matmul_rows(rng)
    _elementwise_rows(rng)
    _wide_rows(rng)
    _print_table()
    print()
    worst = bench_saturation.run_tables(bench_saturation.ALL, bench_saturation.N, rng)
    if worst[0] > bench_saturation.LIMIT:
        _missed.append(f"saturation table worst cell {worst[0]:.2f}x > {bench_saturation.LIMIT}x")
    if _missed:
        print("bench: TARGETS MISSED: " + "; ".join(_missed))
    else:
        print("bench: all targets met")
    bench_saturation.print_worst(worst)   # the worst cell of the saturation tables, last
    return 1 if _missed else 0


if __name__ == "__main__":
    sys.exit(main())
