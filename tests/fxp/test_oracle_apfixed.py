"""fxp against Xilinx ap_fixed compiled with g++: casts, + - * and unary minus, quantize."""

from __future__ import annotations

import math
import random
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pytest

import fxp
from fxp import FixedFormat, Overflow, Quantization

from tests.apfixed import ApFixedError, compile_cpp, run

pytestmark = pytest.mark.oracle

SEED = 20250611
MODES = [(q, o) for q in Quantization for o in Overflow]  # 7 x 5 = 35
# Enumerator order of ap_q_mode / ap_o_mode in ap_decl.h.
AP_Q = ["RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV", "TRN", "TRN_ZERO"]
AP_O = ["SAT", "SAT_ZERO", "SAT_SYM", "WRAP", "WRAP_SM"]
MAX_BITS = 62
CAST_PAIRS = 420        # 12 per mode combination
ARITH_PAIRS = 100
QUANT_FORMATS = 210     # 6 per mode combination
SHOW = 20

# NDEBUG: ap_fixed_base's cast reads the bit below the new lsb through ap_private::get_bit
# before checking that it exists (the value is then unused when the shift passes the source
# width); with asserts on, such a cast aborts instead of computing its defined result.
PRELUDE = r"""
#define NDEBUG
#include <ap_fixed.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

static long long rd_int() {
  long long v;
  if (std::scanf("%lld", &v) != 1) std::abort();
  return v;
}

static double rd_double() {  // exact: the IEEE bits in hex
  unsigned long long b;
  if (std::scanf("%llx", &b) != 1) std::abort();
  double d;
  std::memcpy(&d, &b, sizeof d);
  return d;
}

template <class T>
static T from_raw(long long raw) {  // two's complement raw of at most 64 bits
  T x;
  x.setBits((ap_ulong)raw);
  return x;
}

// The storage words of x.V (ap_private), most significant first: the W bits of x, sign- or
// zero-extended to whole 64-bit words. (Cheaper to compile than ap_int_base::range.)
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
static void put(const ap_fixed_base<W, I, S, Q, O, N>& x) {
  std::putchar(' ');
  for (int i = (W + 63) / 64 - 1; i >= 0; i--)
    std::printf("%016llx", (unsigned long long)x.V.get_pVal(i));
}

template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
static void put_type(const ap_fixed_base<W, I, S, Q, O, N>&) {
  std::printf(" %d %d %d %d %d", W, I, (int)S, (int)Q, (int)O);
}

template <class D, class S>
static void cast_case() {
  int n = (int)rd_int();
  for (int i = 0; i < n; i++) {
    S s = from_raw<S>(rd_int());
    D d = s;
    put(d);
  }
  std::putchar('\n');
}

template <class A, class B>
static void arith_case() {
  A a0 = from_raw<A>(0);
  B b0 = from_raw<B>(0);
  put_type(a0 + b0);
  put_type(a0 - b0);
  put_type(a0 * b0);
  put_type(-a0);
  std::putchar('\n');
  int n = (int)rd_int();
  for (int i = 0; i < n; i++) {
    A a = from_raw<A>(rd_int());
    B b = from_raw<B>(rd_int());
    put(a + b);
    put(a - b);
    put(a * b);
    put(-a);
    std::putchar('\n');
  }
}

template <class D>
static void quantize_case() {
  int n = (int)rd_int();
  for (int i = 0; i < n; i++) {
    D y = rd_double();
    put(y);
  }
  std::putchar('\n');
}
"""


def _ctype(f: FixedFormat) -> str:
    """The ap_fixed type of a format, spelled here rather than by fxp."""
    return (f"ap_{'' if f.signed else 'u'}fixed<{f.bits}, {f.int_bits}, "
            f"AP_{f.quantization.value}, AP_{f.overflow.value}>")


def _program(calls: list[str]) -> str:
    body = "\n".join(f"  {c};" for c in calls)
    return f"{PRELUDE}\nint main() {{\n{body}\n  return 0;\n}}\n"


def _from_words(text: str, bits: int, signed: bool) -> int:
    """The raw integer printed by ``put``: checks the bits above ``bits`` extend it."""
    v = int(text, 16)
    raw = v & ((1 << bits) - 1)
    if signed and raw >> (bits - 1):
        raw -= 1 << bits
    if raw & ((1 << (4 * len(text))) - 1) != v:
        raise AssertionError(f"ap_fixed printed {text} for a {bits}-bit "
                             f"{'signed' if signed else 'unsigned'} value")
    return raw


# -- random formats and values -----------------------------------------------------------
def _bits(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.08:
        return rng.choice((1, 2, MAX_BITS))
    if r < 0.45:
        return rng.randint(1, 10)
    if r < 0.75:
        return rng.randint(11, 32)
    return rng.randint(33, MAX_BITS)


def _int_bits(rng: random.Random, bits: int) -> int:
    r = rng.random()
    if r < 0.2:
        return rng.randint(-bits - 12, -1)      # all fraction, below the lsb of 1
    if r < 0.4:
        return rng.randint(bits + 1, bits + 12)  # integer bits beyond the width
    return rng.randint(0, bits)


def _format(rng, q=Quantization.TRN, o=Overflow.WRAP, *, signed=None) -> FixedFormat:
    bits = _bits(rng)
    if o is Overflow.WRAP_SM:
        signed = True
    elif signed is None:
        signed = rng.random() < 0.6
    return FixedFormat(bits, _int_bits(rng, bits), signed, q, o)


def _random_raw(rng, f: FixedFormat) -> int:
    if rng.random() < 0.5:
        return rng.randint(f.raw_min, f.raw_max)
    mag = rng.getrandbits(rng.randint(1, f.bits))  # small magnitudes more often
    return max(f.raw_min, min(f.raw_max, -mag if f.signed and rng.random() < 0.5 else mag))


def _cast_raws(rng, src: FixedFormat, dst: FixedFormat, n_random: int) -> list[int]:
    """Edges of src, ties and near-ties at dst's lsb, dst's range limits, then random."""
    s = src.frac_bits - dst.frac_bits   # raw_src = raw_dst * 2**s
    vals = [src.raw_min, src.raw_max, 0, -1, 1, src.raw_min + 1, src.raw_max - 1, 2, -2]
    # +-2**bits: a rounding carry into the dropped bit wraps to 0 (WRAP_SM reads that bit)
    limits = [dst.raw_max, dst.raw_max + 1, dst.raw_min, dst.raw_min - 1, -dst.raw_max,
              1 << dst.bits, -(1 << dst.bits)]
    if s > 0:
        half = 1 << (s - 1)
        ks = [-3, -2, -1, 0, 1, 2] + [rng.randint(dst.raw_min - 4, dst.raw_max + 4)
                                      for _ in range(4)]
        for k in ks:
            t = (k << s) + half
            vals += [t - 1, t, t + 1, k << s]
        for b in limits:
            vals += [(b << s) - half, (b << s) + half, (b << s) - 1, b << s, (b << s) + 1]
    else:
        for b in limits:
            vals += [(b >> -s) + d for d in (-2, -1, 0, 1, 2)]
    out = []
    for v in vals:
        v = max(src.raw_min, min(src.raw_max, v))
        if v not in out:
            out.append(v)
    out += [_random_raw(rng, src) for _ in range(n_random)]
    return out


def _cast_pairs(rng):
    """(src, dst, raws) triples, each mode combination equally often."""
    pairs = []
    for i in range(CAST_PAIRS):
        q, o = MODES[i % len(MODES)]
        src = _format(rng, *rng.choice(MODES))
        dsigned = True if o is Overflow.WRAP_SM else rng.random() < 0.6
        if rng.random() < 0.6:  # dst near src: shifts of a few bits, overlapping ranges
            bits = max(1, min(MAX_BITS, src.bits + rng.randint(-6, 4)))
            frac = src.frac_bits - rng.randint(-3, 8)
            dst = FixedFormat(bits, bits - frac, dsigned, q, o)
        else:
            dst = _format(rng, q, o, signed=dsigned)
        pairs.append((src, dst, _cast_raws(rng, src, dst, rng.randint(12, 30))))
    return pairs


def _arith_pairs(rng):
    pairs = []
    for _ in range(ARITH_PAIRS):
        a = _format(rng, *rng.choice(MODES))
        b = _format(rng, *rng.choice(MODES))
        if rng.random() < 0.3:
            b = b.replace(int_bits=a.int_bits + rng.randint(-3, 3))
        ra = [a.raw_min, a.raw_max, 0, -1 if a.signed else 1, 1]
        rb = [b.raw_min, b.raw_max, b.raw_max, 0, b.raw_min]
        n = rng.randint(20, 35)
        ra += [_random_raw(rng, a) for _ in range(n)]
        rb += [_random_raw(rng, b) for _ in range(n)]
        ra = [max(a.raw_min, min(a.raw_max, v)) for v in ra]
        rb = [max(b.raw_min, min(b.raw_max, v)) for v in rb]
        pairs.append((a, b, list(zip(ra, rb))))
    return pairs


def _exact_double(v: Fraction) -> float | None:
    """``v`` as a normal double if it is exactly one, else None."""
    try:
        d = float(v)
    except OverflowError:
        return None
    if Fraction(d) != v or (d != 0 and abs(d) < 2.0 ** -1022):
        return None
    return d


def _doubles(rng, f: FixedFormat) -> list[float]:
    """Edges, exact ties and their neighbouring doubles, random magnitudes, huge and tiny.

    No NaN or inf (ap_fixed defines neither) and no subnormals: ap_fixed's double
    constructor gives them the implicit leading 1 of a normal double.
    """
    lsb = Fraction(2) ** -f.frac_bits
    out = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1e300, -1e300, 2.0 ** 1023, -(2.0 ** 1023),
           1.7976931348623157e308, -1.7976931348623157e308, 2.0 ** -1022, -(2.0 ** -1022),
           3.3e-300, -3.3e-300]
    edges = [f.raw_min, f.raw_max, f.raw_max + 1, f.raw_min - 1, -f.raw_max,
             f.raw_max + 2, f.raw_min - 2]
    ties = [k + Fraction(1, 2) for k in range(-3, 3)]
    ties += [Fraction(e) + Fraction(d, 2) for e in edges[:3] for d in (-1, 1)]
    ties += [Fraction(e * (1 << f.bits)) + Fraction(d, 2) for e in (-1, 1) for d in (-1, 1)]
    ties += [Fraction(rng.randint(f.raw_min, f.raw_max)) + Fraction(1, 2) for _ in range(4)]
    for v in [Fraction(e) for e in edges] + ties:
        d = _exact_double(v * lsb)
        if d is None:
            continue
        out += [d, float(np.nextafter(d, math.inf)), float(np.nextafter(d, -math.inf))]
    for _ in range(rng.randint(20, 30)):   # random magnitudes around the format's range
        e = rng.randint(-f.frac_bits - 8, f.int_bits + 8)
        m = rng.getrandbits(53) | (1 << 52)
        d = math.ldexp(m, e - 53) * (-1 if rng.random() < 0.5 else 1)
        if 2.0 ** -1022 <= abs(d) < math.inf:
            out.append(d)
    for _ in range(6):                     # random anywhere in the double range
        d = math.ldexp(rng.random() + 0.5, rng.randint(-1000, 1000))
        out.append(-d if rng.random() < 0.5 else d)
    seen, uniq = set(), []
    for d in out:
        key = struct.pack("<d", d)
        if key not in seen and math.isfinite(d) and (d == 0 or abs(d) >= 2.0 ** -1022):
            seen.add(key)
            uniq.append(d)
    return uniq


def _quant_formats(rng):
    items = []
    for i in range(QUANT_FORMATS):
        q, o = MODES[i % len(MODES)]
        f = _format(rng, q, o)
        items.append((f, _doubles(rng, f)))
    return items


def _hex_double(d: float) -> str:
    return format(struct.unpack("<Q", struct.pack("<d", d))[0], "x")


# -- the programs ------------------------------------------------------------------------
@dataclass
class Part:
    """One C++ program: its cases, its source, its standard input."""

    cases: list = field(repr=False)
    source: str = field(repr=False)
    stdin: str = field(repr=False)
    future: object = field(default=None, repr=False)

    def output(self) -> list[str]:
        """Run the compiled program; fail the test (never skip) when that is impossible."""
        try:
            return run(self.future.result(), self.stdin).splitlines()
        except ApFixedError as exc:
            error = str(exc)
        pytest.fail(f"ap_fixed oracle unavailable: {error}", pytrace=False)


def _cast_part(pairs) -> Part:
    calls = [f"cast_case<{_ctype(d)}, {_ctype(s)}>()" for s, d, _ in pairs]
    stdin = "\n".join(f"{len(r)} " + " ".join(map(str, r)) for _, _, r in pairs) + "\n"
    return Part(pairs, _program(calls), stdin)


def _arith_part(pairs) -> Part:
    calls = [f"arith_case<{_ctype(a)}, {_ctype(b)}>()" for a, b, _ in pairs]
    stdin = "\n".join(f"{len(v)} " + " ".join(f"{x} {y}" for x, y in v)
                      for _, _, v in pairs) + "\n"
    return Part(pairs, _program(calls), stdin)


def _quant_part(items) -> Part:
    calls = [f"quantize_case<{_ctype(f)}>()" for f, _ in items]
    stdin = "\n".join(f"{len(d)} " + " ".join(map(_hex_double, d)) for _, d in items) + "\n"
    return Part(items, _program(calls), stdin)


@pytest.fixture(scope="module")
def programs(request):
    """The oracle programs, generated from SEED; those of the selected tests are compiled in
    parallel in the background."""
    rng = random.Random(SEED)
    built = {
        "cast": _cast_part(_cast_pairs(rng)),
        "arith": _arith_part(_arith_pairs(rng)),
        "quantize": _quant_part(_quant_formats(rng)),
    }
    selected = {item.name for item in request.session.items
                if getattr(item, "module", None) is request.module}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for kind, part in built.items():  # in the order the tests use them
            if f"test_{kind}_matches_ap_fixed" in selected:
                part.future = pool.submit(compile_cpp, part.source)
        yield built


class Tally:
    """Counts cases and keeps the first mismatches for the report."""

    def __init__(self, what: str):
        self.what = what
        self.cases = 0
        self.mismatches = 0
        self.shown: list[str] = []

    def check(self, ok: bool, detail) -> None:
        self.cases += 1
        if not ok:
            self.mismatches += 1
            if len(self.shown) < SHOW:
                self.shown.append(detail() if callable(detail) else detail)

    def finish(self) -> None:
        print(f"ap_fixed oracle ({self.what}): {self.cases} cases, {self.mismatches} mismatches")
        if self.mismatches:
            lines = "\n".join(f"  {s}" for s in self.shown)
            pytest.fail(f"ap_fixed oracle ({self.what}): {self.mismatches} mismatches in "
                        f"{self.cases} cases; first {len(self.shown)}:\n{lines}", pytrace=False)


def _ints(raw) -> list[int]:
    return [int(v) for v in np.asarray(raw).reshape(-1)]


def _fxp(fn, n: int) -> list:
    """``fn()`` as n Python ints, or n copies of the exception text if fxp raised."""
    try:
        with fxp.overflow_policy("ignore"):
            return _ints(fn())
    except Exception as exc:  # noqa: BLE001 - a crash in fxp is a mismatch to report
        return [f"raised {type(exc).__name__}: {exc}"] * n


# -- the tests ---------------------------------------------------------------------------
def test_cast_matches_ap_fixed(programs):
    part = programs["cast"]
    lines = part.output()
    assert len(lines) == len(part.cases), "the ap_fixed program printed too few lines"
    tally = Tally("FixedArray.cast")
    for (src, dst, raws), line in zip(part.cases, lines):
        want = [_from_words(t, dst.bits, dst.signed) for t in line.split()]
        assert len(want) == len(raws)
        got = _fxp(lambda: fxp.from_raw(np.array(raws, dtype=np.int64), src).cast(dst).raw,
                   len(raws))
        for r, w, g in zip(raws, want, got):
            alone = _fxp(
                lambda: fxp.from_raw(np.array([r], dtype=np.int64), src).cast(dst).raw, 1)[0]
            tally.check(w == g == alone, lambda: (
                f"cast {_ctype(src)} raw {r} -> {_ctype(dst)}: ap_fixed raw {w}, fxp raw {g}"
                + ("" if g == alone else f" (cast alone: {alone})")))
    tally.finish()


def test_arith_matches_ap_fixed(programs):
    part = programs["arith"]
    lines = part.output()
    assert len(lines) == sum(1 + len(v) for _, _, v in part.cases)
    tally = Tally("+ - * and unary minus")
    it = iter(lines)
    for a, b, values in part.cases:
        t = [int(x) for x in next(it).split()]
        ap_types = [(t[i], t[i + 1], bool(t[i + 2]), AP_Q[t[i + 3]], AP_O[t[i + 4]])
                    for i in range(0, 20, 5)]
        xa = fxp.from_raw(np.array([v for v, _ in values], dtype=np.int64), a)
        xb = fxp.from_raw(np.array([v for _, v in values], dtype=np.int64), b)
        ops = {"+": lambda: xa + xb, "-": lambda: xa - xb, "*": lambda: xa * xb,
               "neg": lambda: -xa}
        got = {}
        for (op, fn), apt in zip(ops.items(), ap_types):
            try:
                f = fn().fmt
                mine = (f.bits, f.int_bits, f.signed, f.quantization.value, f.overflow.value)
            except Exception as exc:  # noqa: BLE001
                mine = f"raised {type(exc).__name__}: {exc}"
            tally.check(mine == apt, lambda: (
                f"type of {_ctype(a)} {op} {_ctype(b)}: ap_fixed (W, I, S, Q, O) = {apt}, "
                f"fxp {mine}"))
            got[op] = _fxp(lambda: fn().raw, len(values))
        for i, (ra, rb) in enumerate(values):
            words = next(it).split()
            for k, (op, apt) in enumerate(zip(ops, ap_types)):
                w = _from_words(words[k], apt[0], apt[2])
                g = got[op][i]
                tally.check(w == g, lambda: (
                    f"{_ctype(a)} raw {ra} {op} {_ctype(b)} raw {rb}: ap_fixed raw {w} "
                    f"(W={apt[0]}), fxp raw {g}"))
    tally.finish()


def test_quantize_matches_ap_fixed(programs):
    part = programs["quantize"]
    lines = part.output()
    assert len(lines) == len(part.cases)
    tally = Tally("quantize from double")
    for (f, doubles), line in zip(part.cases, lines):
        want = [_from_words(t, f.bits, f.signed) for t in line.split()]
        assert len(want) == len(doubles)
        got = _fxp(lambda: fxp.quantize(np.array(doubles, dtype=np.float64), f).raw,
                   len(doubles))
        for d, w, g in zip(doubles, want, got):
            alone = _fxp(lambda: fxp.quantize(np.array([d]), f).raw, 1)[0]
            tally.check(w == g == alone, lambda: (
                f"quantize {d!r} ({d.hex()}) -> {_ctype(f)}: ap_fixed raw {w}, fxp raw {g}"
                + ("" if g == alone else f" (quantized alone: {alone})")))
    tally.finish()
