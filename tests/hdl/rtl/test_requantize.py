# amaranth: UnusedElaboratable=no
"""Requantize against FixedArray.cast: exhaustive up to 8 bits, random wide formats, errors."""

import itertools
import random
import re

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Cat, Fragment, Module, Signal
from amaranth.sim import Simulator

import fxp
from fxp import FixedFormat, Overflow, Quantization
from hdl.rtl.common import fmt_shape
from hdl.rtl.requantize import Requantize, requantize

QUANT = list(Quantization)
OVF = list(Overflow)


def _modes(signed):
    """The 35 quantization x overflow pairs (28 for an unsigned dst: no WRAP_SM)."""
    return [(q, o) for q in QUANT for o in OVF if signed or o is not Overflow.WRAP_SM]


def _shifts(src_bits, dst_bits):
    """Right shifts s = src.frac_bits - dst.frac_bits (negative: left shifts) to sweep.

    Together they cover every behaviour a cast between these widths has:

    * a left shift by k = -s makes q = x << k. Once k >= dst_bits + 1, bits 0..dst_bits of q
      are all zero and every nonzero x is out of range, so WRAP, WRAP_SM (whose extra bit is
      bit dst_bits of q), SAT, SAT_ZERO and SAT_SYM all give the same result for every
      larger k: -(dst_bits + 1) is the last distinct shift; -(dst_bits + 2) and -40 check
      that the generator stays right beyond it (wider comparisons, all-constant low bits).
    * s = 0 copies, and each of s = 1 .. src_bits + 1 has its own ties (half = 2**(s-1))
      and carries.
    * fxp clamps a right shift to src_bits + 1 (from there |x / 2**s| < 1/2 with no ties,
      so every larger shift rounds alike): src_bits + 2 and 40 check that the hardware
      clamps the same way.

    The absolute binary point never matters, only s: fxp's formulas and the generator
    both see the raw integers and s alone.
    """
    return [-40, *range(-(dst_bits + 2), src_bits + 3), 40]


def _src_format(bits, signed):
    # Any binary point will do (only the relative shift matters); vary it so that src
    # and dst int_bits cover negative values, zero and values above bits.
    return FixedFormat(bits, (3 * bits) % 11 - 4, signed)


def _dst_formats(src):
    """Every dst width 1..8 x signedness x mode pair x shift, for one src format."""
    for bits, signed in itertools.product(range(1, 9), (True, False)):
        for s in _shifts(src.bits, bits):
            frac = src.frac_bits - s
            for q, o in _modes(signed):
                yield FixedFormat(bits, bits - frac, signed, q, o)


def _from_word(word, offset, shape):
    v = (word >> offset) & ((1 << shape.width) - 1)
    if shape.signed and v >> (shape.width - 1):
        v -= 1 << shape.width
    return v


def _simulate(a, outputs, vectors):
    """Drive ``a`` with each vector and read every expression of ``outputs`` once settled.

    The outputs are packed into a few wide signals (one ``ctx.get`` each per vector) and
    unpacked afterwards; returns one list of values per output.
    """
    m = Module()
    words, layout, width, parts = [], [], 0, []

    def flush():
        nonlocal width, parts
        if parts:
            word = Signal(width, name=f"word{len(words)}")
            m.d.comb += word.eq(Cat(*parts))
            words.append(word)
            width, parts = 0, []

    for out in outputs:
        layout.append((len(words), width, out.shape()))
        parts.append(out)
        width += len(out)
        if width >= 2048:
            flush()
    flush()

    got = []

    async def testbench(ctx):
        for v in vectors:
            ctx.set(a, v)
            got.append([ctx.get(w) for w in words])

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    return [[_from_word(g[i], off, shape) for g in got] for i, off, shape in layout]


def _distinct(exprs):
    """``(outputs, which)``: the expressions of ``exprs`` that differ (by their repr), to
    simulate each once, and for each expression the index of its equal among them."""
    index, outputs, which = {}, [], []
    for y in exprs:
        which.append(index.setdefault(repr(y), len(outputs)))
        if which[-1] == len(outputs):
            outputs.append(y)
    return outputs, which


@pytest.mark.parametrize("signed", [True, False], ids=["fixed", "ufixed"])
@pytest.mark.parametrize("bits", range(1, 9))
def test_exhaustive(bits, signed):
    """Every raw value of one src format, cast to every dst format of 1..8 bits, in every
    quantization x overflow pair and at every binary-point shift of ``_shifts``.

    One simulation per src format: all casts hang off the same input. Casts whose
    expressions come out identical (e.g. the 7 quantization modes of a left shift, the 5
    overflow modes of a cast that cannot overflow) are simulated once and checked for each.
    """
    src = _src_format(bits, signed)
    raws = np.arange(src.raw_min, src.raw_max + 1, dtype=np.int64)
    x = fxp.from_raw(raws, src)
    a = Signal(fmt_shape(src), name="a")
    dsts = list(_dst_formats(src))
    ys = [requantize(a, src, dst) for dst in dsts]
    for y, dst in zip(ys, dsts):
        assert y.shape() == fmt_shape(dst), dst
    outputs, which = _distinct(ys)
    results = _simulate(a, outputs, raws.tolist())
    bad = []
    with fxp.overflow_policy("ignore"):
        for dst, i in zip(dsts, which):
            want = x.cast(dst).raw.tolist()
            if results[i] != want:
                bad.append((str(src), str(dst), raws.tolist(), want, results[i]))
    assert not bad, f"{len(bad)} of {len(dsts)} casts differ, first: {bad[:3]}"


def _wide_cases(seed, n):
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        sb, db = rng.randint(1, 40), rng.randint(1, 30)
        src = FixedFormat(sb, rng.randint(-20, 60), rng.random() < 0.6)
        d_signed = rng.random() < 0.6
        q = rng.choice(QUANT)
        o = rng.choice([o for o in OVF if d_signed or o is not Overflow.WRAP_SM])
        s = rng.randint(-(db + 4), sb + 4) if rng.random() < 0.9 else rng.choice([-70, 70])
        dst = FixedFormat(db, db - (src.frac_bits - s), d_signed, q, o)
        specials = [src.raw_min, src.raw_max, 0, min(1, src.raw_max), max(-1, src.raw_min),
                    src.raw_min + 1, src.raw_max - 1]
        raws = specials + [rng.randint(src.raw_min, src.raw_max) for _ in range(57)]
        # ties and near-ties of the right shift: multiples of 2**(s-1), +-1
        for _ in range(16):
            t = rng.randint(src.raw_min, src.raw_max)
            if s > 0:
                t = ((t >> (s - 1)) << (s - 1)) + rng.choice([-1, 0, 0, 1])
            raws.append(min(max(t, src.raw_min), src.raw_max))
        cases.append((src, dst, raws))
    return cases


@pytest.mark.parametrize("seed", range(4))
def test_random_wide(seed):
    """Random formats up to 40 bits in and 30 out, random raws plus extremes and ties; all
    casts of a seed as Requantize components in one design."""
    cases = _wide_cases(seed, 60)
    m = Module()
    blocks = []
    for k, (src, dst, _) in enumerate(cases):
        block = Requantize(src=src, dst=dst)
        m.submodules[f"rq{k}"] = block
        blocks.append(block)
    got = [[] for _ in cases]

    async def testbench(ctx):
        for step in range(len(cases[0][2])):
            for block, (_, _, raws) in zip(blocks, cases):
                ctx.set(block.a, raws[step])
            for k, block in enumerate(blocks):
                got[k].append(ctx.get(block.y))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    with fxp.overflow_policy("ignore"):
        for (src, dst, raws), g in zip(cases, got):
            want = fxp.from_raw(np.array(raws, dtype=np.int64), src).cast(dst).raw.tolist()
            assert g == want, (str(src), str(dst), raws)


def test_component():
    """Ports, properties and a format string as parameters."""
    r = Requantize(src="fixed<12,4>", dst="ufixed<6,2,RND_CONV,SAT>")
    assert r.src == FixedFormat(12, 4)
    assert r.dst == FixedFormat(6, 2, False, "RND_CONV", "SAT")
    assert r.a.shape() == fmt_shape(r.src) and r.y.shape() == fmt_shape(r.dst)
    with pytest.raises(AttributeError):
        r.src = FixedFormat(8, 4)
    with pytest.raises(AttributeError):
        r.dst = FixedFormat(8, 4)
    with pytest.raises(TypeError):
        Requantize("fixed<12,4>", "fixed<6,2>")
    Fragment.get(r, None)  # elaborates


@pytest.mark.parametrize("kw, exc, message", [
    (dict(src=3, dst="fixed<8,4>"), TypeError,
     "Requantize src must be a FixedFormat or a format string, not 3"),
    (dict(src="fixed<8,4>", dst=None), TypeError,
     "Requantize dst must be a FixedFormat or a format string, not None"),
    (dict(src="fixed<8>", dst="fixed<8,4>"), ValueError,
     "Requantize src: Malformed fixed-point format 'fixed<8>'; expected 2 to 4 arguments "
     "<bits,int_bits[,quantization[,overflow]]>"),
    (dict(src="fixed<8,4>", dst="ufixed<8,4,RND,WRAP_SM>"), ValueError,
     "Requantize dst: Overflow mode WRAP_SM needs a signed format, not ufixed<8,4>"),
])
def test_errors(kw, exc, message):
    with pytest.raises(exc, match=f"^{re.escape(message)}$"):
        Requantize(**kw)


def test_function_errors():
    a = Signal(8)
    with pytest.raises(TypeError, match=re.escape(
            "requantize dst must be a FixedFormat or a format string, not 4.5")):
        requantize(a, "ufixed<8,4>", 4.5)


def _verilog(src, dst):
    return verilog.convert(Requantize(src=src, dst=dst), emit_src=False)


@pytest.mark.parametrize("src, dst", [
    ("fixed<12,4>", "fixed<6,2,RND_CONV,SAT_SYM>"),
    ("ufixed<9,3>", "fixed<5,5,RND_INF,WRAP_SM>"),
    ("fixed<7,-2>", "ufixed<4,8,TRN_ZERO,SAT_ZERO>"),
    ("fixed<16,6>", "fixed<24,10,RND,SAT>"),
])
def test_verilog_deterministic(src, dst):
    text = _verilog(src, dst)
    assert "module top" in text and "input [" in text and "output [" in text
    assert _verilog(src, dst) == text


def _ops(text):
    body = [ln for ln in text.splitlines() if ln.lstrip().startswith("assign")]
    return " ".join(body)


def test_minimal_logic():
    """TRN needs no adder; a cast that cannot overflow needs no range test; a range test is
    gates on the source's bits (no comparator, so no carry chain beside the rounding adder)."""
    trn = _ops(_verilog("fixed<12,4>", "fixed<6,2,TRN,SAT>"))
    assert "+" not in trn and trn.count("?") == 2
    widen = _ops(_verilog("fixed<8,4>", "fixed<12,6,RND,SAT>"))  # left shift, more int bits
    assert "+" not in widen and "?" not in widen
    # a rounding carry can only overflow upwards: one test, one multiplexer
    rnd = _ops(_verilog("fixed<8,4>", "fixed<7,4,RND,SAT>"))
    assert "+" in rnd and rnd.count("?") == 1
    # WRAP never tests the range (its one multiplexer picks RND_CONV's rounding term)
    wrap = _ops(_verilog("fixed<16,8>", "fixed<4,2,RND_CONV,WRAP>"))
    assert wrap.count("?") == 1 and "h1f" in wrap
    for src, dst in [("fixed<12,4>", "fixed<6,2,TRN,SAT>"),
                     ("fixed<16,9>", "fixed<10,5,RND_CONV,SAT>"),
                     ("fixed<10,5>", "ufixed<8,4,RND_CONV,SAT_SYM>"),
                     ("ufixed<12,4>", "fixed<6,2,RND_INF,SAT_ZERO>"),
                     ("fixed<12,4>", "fixed<6,2,TRN_ZERO,WRAP_SM>")]:
        text = _ops(_verilog(src, dst))
        assert "<" not in text and ">" not in text, (src, dst)


def _chain_formats(src, rng, count):
    """Random (mid, dst) pairs around ``src``: shifts of -2 .. 4 bits each, any signedness;
    two thirds with both casts saturating (SAT, SAT_SYM: the fused logic), the rest any."""
    clamps = [Overflow.SAT, Overflow.SAT_SYM]
    for k in range(count):
        fused = k % 3 != 0
        fmts, frac = [], src.frac_bits
        for _ in range(2):
            bits, signed = rng.randint(1, 7), rng.random() < 0.5
            frac -= rng.randint(-2, 4)
            o = rng.choice(clamps if fused else [o for o in OVF if signed
                                                 or o is not Overflow.WRAP_SM])
            fmts.append(FixedFormat(bits, bits - frac, signed, rng.choice(QUANT), o))
        yield tuple(fmts)


@pytest.mark.parametrize("src", ["fixed<7,3>", "ufixed<6,2>", "fixed<9,1>", "fixed<1,1>"])
def test_cast_relu_cast(src):
    """A cast, a ReLU and a cast in one step, against the emulator's three steps: every raw
    value of ``src``, 800 random (mid, dst) pairs (one simulation)."""
    from fxp.nn.layers.relu import relu
    from hdl.rtl.requantize import cast_relu_cast

    src = FixedFormat.parse(src)
    raws = np.arange(src.raw_min, src.raw_max + 1, dtype=np.int64)
    a = Signal(fmt_shape(src), name="a")
    pairs = list(_chain_formats(src, random.Random(src.bits), 800))
    ys = [cast_relu_cast(a, src, mid, dst) for mid, dst in pairs]
    for y, (mid, dst) in zip(ys, pairs):
        assert y.shape() == fmt_shape(dst), (mid, dst)
    outputs, which = _distinct(ys)
    results = _simulate(a, outputs, raws.tolist())
    bad = []
    with fxp.overflow_policy("ignore"):
        x = fxp.from_raw(raws, src)
        for (mid, dst), i in zip(pairs, which):
            want = relu(x.cast(mid), dst).raw.tolist()
            if results[i] != want:
                bad.append((str(mid), str(dst), want, results[i]))
    assert not bad, f"{len(bad)} of {len(pairs)} differ, first: {bad[:2]}"


def test_cast_relu_cast_is_one_adder():
    """The digits MLP's first layer and its ReLU: one adder, one saturation, 0 on the sign."""
    from hdl.rtl.requantize import cast_relu_cast

    a = Signal(fmt_shape(FixedFormat(16, 9)), name="a")
    m = Module()
    y = Signal(8)
    m.d.comb += y.eq(cast_relu_cast(a, "fixed<16,9>", "fixed<10,5,RND_CONV,SAT>",
                                    "ufixed<8,4,RND_CONV,SAT>"))
    text = _ops(verilog.convert(m, ports=[a, y], emit_src=False))
    assert text.count("+") == 1 and text.count("?") == 2 and "<" not in text, text
