"""Wide integers by limbs against Python ints: matmul at every width, shape and K; casts to int64
formats of every mode pair on random and adversarial raws."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxp
from fxp import FixedFormat, kernels
from fxp.limbs import Words, limb_matmul

from .reference import cast_value, value_of

PAIRS = [(q, o) for q in fxp.Quantization for o in fxp.Overflow]


def _reference(a, b):
    return np.asarray(np.matmul(a.astype(object), b.astype(object)), dtype=object)


@st.composite
def wide_case(draw):
    fa = FixedFormat(draw(st.integers(27, 64)), draw(st.integers(-5, 20)), draw(st.booleans()))
    fb = FixedFormat(draw(st.integers(27, 64)), draw(st.integers(-5, 20)), draw(st.booleans()))
    fa = fa if fa.fits_int64 else fa.replace(bits=63)
    fb = fb if fb.fits_int64 else fb.replace(bits=63)
    m, k, n = draw(st.integers(1, 4)), draw(st.integers(1, 300)), draw(st.integers(1, 4))
    shape_a, shape_b = draw(st.sampled_from([((m, k), (k, n)), ((k,), (k, n)), ((m, k), (k,)),
                                             ((k,), (k,)), ((2, m, k), (k, n)),
                                             ((m, k), (2, k, n))]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    extreme = draw(st.booleans())
    q, o = draw(st.sampled_from(PAIRS))
    drop = draw(st.integers(1, 80))    # fraction bits the cast of the result drops
    bias = draw(st.one_of(st.none(), st.builds(
        FixedFormat, st.integers(2, 64),
        st.integers(-10, 40).map(lambda i: i), st.just(True))))
    return fa, fb, shape_a, shape_b, seed, extreme, (q, o, drop, bias)


@settings(max_examples=150, deadline=None)
@given(wide_case())
def test_limb_matmul_and_the_cast_of_its_words_are_exact(case):
    fa, fb, shape_a, shape_b, seed, extreme, (q, o, drop, bias_fmt) = case
    rng = np.random.default_rng(seed)
    if extreme:   # every product at the largest magnitude: the carries are the longest
        a = np.full(shape_a, fa.raw_min if fa.signed else fa.raw_max, dtype=np.int64)
        b = np.full(shape_b, fb.raw_min if fb.signed else fb.raw_max, dtype=np.int64)
    else:
        a = rng.integers(fa.raw_min, fa.raw_max, shape_a, endpoint=True)
        b = rng.integers(fb.raw_min, fb.raw_max, shape_b, endpoint=True)
    want = _reference(a, b)
    got = limb_matmul(a, b, fa.bits, fb.bits)
    assert isinstance(got, Words) and got.shape == want.shape
    assert np.array_equal(got.to_object(), want)
    x, y = fxp.from_raw(a, fa), fxp.from_raw(b, fb)
    r = fxp.matmul(x, y)
    assert r.fmt == fa.mul(fb).sum(shape_a[-1])
    bias = None
    if bias_fmt is not None and want.ndim:   # a bias (N,) added to every output
        prod = fa.mul(fb)
        bias_fmt = bias_fmt.replace(int_bits=bias_fmt.bits - min(bias_fmt.frac_bits,
                                                                 prod.frac_bits))
        bias = fxp.from_raw(rng.integers(bias_fmt.raw_min, bias_fmt.raw_max, want.shape[-1],
                                         endpoint=True), bias_fmt)
        r = fxp.matmul(x, y, bias=bias)
        scale = prod.frac_bits - bias_fmt.frac_bits
        want = want + np.array([int(v) << scale for v in bias.raw], dtype=object)
    words = lambda: fxp.matmul(x, y, bias=bias)   # noqa: E731 - a fresh (unread) result
    # the cast reads the words (a fresh result) or the Python ints (after r.raw): same bits
    dst = FixedFormat(16, 16 - (r.fmt.frac_bits - drop), o is fxp.Overflow.WRAP_SM or
                      seed % 2 == 0, q, o)
    with fxp.overflow_policy("ignore") as log:
        from_words = words().cast(dst, label="words").raw.reshape(-1).tolist()
        exact = _exact_cast(np.asarray(want, dtype=object).reshape(r.shape), r.fmt, dst)
        assert np.array_equal(np.asarray(r.raw, dtype=object), want)
        from_ints = r.cast(dst).raw.reshape(-1).tolist()
    assert from_words == exact == from_ints
    assert log["words"].count == log["exact"].count
    if log["exact"].count:   # the reference ran flat
        first = log["words"].first_index
        assert (np.ravel_multi_index(first, r.shape) if r.shape else 0) == \
            log["exact"].first_index[0]
        assert (log["words"].min, log["words"].max) == (log["exact"].min, log["exact"].max)


# -- casts of wide raws to int64 formats: floor and remainder split (kernels._cast_split) ---

WIDE_SOURCES = [FixedFormat(90, 30), FixedFormat(110, 30), FixedFormat(64, 30),
                FixedFormat(63, 10, False)]   # the last two: int64 raws, no room to round


def _exact_cast(raw, src, dst):
    """The Python-int path: round_shift and overflow on Python ints, as kernels did before."""
    s = min(src.frac_bits - dst.frac_bits, src.bits + 1)
    work = kernels.to_object(raw).reshape(-1)
    q = np.asarray(kernels.round_shift(work, s, dst.quantization), dtype=object)
    return kernels.overflow(q, dst, "exact", floor=lambda: np.asarray(work >> s)).tolist()


def _wide_raws(rng, src, dst):
    """Random, extremes, exact ties and near-ties at dst's lsb, values rounding onto +-2**bits."""
    s = src.frac_bits - dst.frac_bits
    ints = [src.raw_min, src.raw_max, 0, -1, 1]
    for k in (dst.raw_min, dst.raw_max, dst.raw_max + 1, dst.raw_min - 1, 1 << dst.bits,
              -(1 << dst.bits), 3, -3, 4, -4):
        for d in (-1, 0, 1):
            ints.append((k << s) + (1 << (s - 1)) + d)    # ties at dst's lsb and around
            ints.append((k << s) + d)
    ints += [int(v) for v in rng.integers(-2 ** 62, 2 ** 62, 40)]
    ints += [int(rng.integers(0, 2 ** 62)) << int(rng.integers(0, src.bits - 62))
             for _ in range(40)]
    ints = [max(src.raw_min, min(src.raw_max, v)) for v in ints]
    return np.array(ints, dtype=np.int64 if src.fits_int64 else object)


@pytest.mark.parametrize("src", WIDE_SOURCES, ids=str)
def test_wide_cast_by_split_matches_the_python_int_path(src, monkeypatch):
    calls = []
    split = kernels._cast_split
    monkeypatch.setattr(kernels, "_cast_split", lambda *a: calls.append(1) or split(*a))
    rng = np.random.default_rng(src.bits)
    for i, (q, o) in enumerate(PAIRS):
        signed = o is fxp.Overflow.WRAP_SM or i % 3 != 0
        dst = FixedFormat(16 + i % 5, 6 - i % 4, signed, q, o)
        raw = _wide_raws(rng, src, dst)
        x = fxp.from_raw(raw, src)
        with fxp.overflow_policy("ignore") as log:
            got = x.cast(dst, label="split")
            want = _exact_cast(raw, src, dst)
        assert calls and got.raw.dtype == np.int64 and got.raw.tolist() == want, dst
        calls.clear()
        assert log["split"].count == log["exact"].count > 0, dst
        for field in ("first_index", "min", "max", "total"):
            assert getattr(log["split"], field) == getattr(log["exact"], field), (dst, field)
        if o is not fxp.Overflow.WRAP_SM:   # and against the Fraction reference
            assert want == [cast_value(value_of(int(r), src.bits, src.int_bits), dst.bits,
                                       dst.int_bits, dst.signed, q.value, o.value) for r in raw]


# -- element-wise + - * past int64: int64 words (fxp.limbs.wide_add / wide_mul) ------------

def _operand_format(draw):
    bits = draw(st.integers(2, 64))   # up to the widest int64 raws
    signed = True if bits == 64 else draw(st.booleans())   # ufixed<64> raws pass int64
    return FixedFormat(bits, draw(st.integers(-20, bits + 20)), signed)


def _operand_raws(rng, fmt, shape, pattern):
    """Random raws, or every one at the format's min / max, or alternating min and max."""
    if pattern == "random":
        return rng.integers(fmt.raw_min, fmt.raw_max, shape, endpoint=True)
    ends = np.array([fmt.raw_min, fmt.raw_max], dtype=np.int64)
    if pattern == "alternating":
        return ends[np.arange(int(np.prod(shape))).reshape(shape) % 2]
    return np.full(shape, ends[int(pattern == "max")], dtype=np.int64)


@st.composite
def elementwise_case(draw):
    fmts = [_operand_format(draw) for _ in range(3)]
    shapes = draw(st.sampled_from([((7,), (7,), (7,)), ((3, 1), (1, 4), (4,)),
                                   ((5,), (), (5,)), ((2, 3), (2, 3), ())]))
    patterns = [draw(st.sampled_from(["random", "random", "min", "max", "alternating"]))
                for _ in range(3)]
    return fmts, shapes, patterns, draw(st.integers(0, 2 ** 32 - 1))


def _exact(x):
    return x.to_fractions()


@settings(max_examples=200, deadline=None)
@given(elementwise_case())
def test_wide_elementwise_ops_and_chains_are_exact(case):
    """a*b, a+b, a-b, a*b + c, c - a*b, (a*b)*c and their casts against Fractions, with the
    results kept as int64 words whenever they do not fit an int64."""
    fmts, shapes, patterns, seed = case
    rng = np.random.default_rng(seed)
    a, b, c = (fxp.from_raw(_operand_raws(rng, f, s, p), f)
               for f, s, p in zip(fmts, shapes, patterns))
    fa, fb, fc = _exact(a), _exact(b), _exact(c)
    exprs = {"a*b": (lambda: a * b, fa * fb), "a+b": (lambda: a + b, fa + fb),
             "a-b": (lambda: a - b, fa - fb), "a*b+c": (lambda: a * b + c, fa * fb + fc),
             "c-a*b": (lambda: c - a * b, fc - fa * fb), "a*b*c": (lambda: a * b * c, fa * fb * fc),
             "a*b-a": (lambda: a * b - a, fa * fb - fa)}
    dst = FixedFormat(20, 8, True, "RND_CONV", "SAT")
    for name, (fn, want) in exprs.items():
        r = fn()
        if not r.fmt.fits_int64:
            assert isinstance(r._data, Words), name   # noqa: SLF001 - the lazy words
        cast = fn().cast(dst).raw                  # from the words (a fresh result)
        assert r.shape == np.shape(want), name
        assert np.array_equal(r.to_fractions(), want), name
        assert np.array_equal(cast, fxp.from_raw(r.raw, r.fmt).cast(dst).raw), name
        assert np.array_equal(r.raw, want * Fraction(2) ** r.fmt.frac_bits), name


def test_wide_product_words_by_hand():
    """fixed<40,10> * fixed<40,12> at the extremes: the 80-bit products, their words and a
    chain into an int64 cast, against Python ints."""
    a = fxp.from_raw(np.array([-2 ** 39, 2 ** 39 - 1, -2 ** 39, 12345, 0]), "fixed<40,10>")
    b = fxp.from_raw(np.array([-2 ** 39, -2 ** 39, 2 ** 39 - 1, -1, 7]), "fixed<40,12>")
    p = a * b
    assert p.fmt == FixedFormat(80, 22) and isinstance(p._data, Words)   # noqa: SLF001
    assert p.raw.tolist() == [2 ** 78, -(2 ** 78) + 2 ** 39, -(2 ** 78) + 2 ** 39, -12345, 0]
    s = p + fxp.from_raw(np.array([1, -1, 0, 0, 0]), "fixed<4,4>")      # 1 and -1 in units
    assert s.raw.tolist() == [2 ** 78 + 2 ** 58, -(2 ** 78) + 2 ** 39 - 2 ** 58,
                              -(2 ** 78) + 2 ** 39, -12345, 0]
