"""The blocked fast paths (quantize, int64 cast, exact float rounding) against the Fraction reference.

Random and adversarial inputs (all saturated, alternating, ties, +-inf, huge values, block
boundaries) under every quantization x overflow pair, with the overflow log compared field by
field against statistics computed from the exact values.
"""

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxp
from fxp import FixedFormat, blockcast, kernels
from fxp.quantize import _quantize_exact
from fxp.rounding import round_float, round_fraction, round_to_int64

from .reference import cast_value, round_value

QUANT = [q.value for q in fxp.Quantization]
OVF = [o.value for o in fxp.Overflow]
MODELLED = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM"]   # WRAP_SM: against the exact path
PAIRS = [(q, o) for q in QUANT for o in OVF]
SMALL_BLOCK = 64
N = SMALL_BLOCK * 2 + 37                   # three blocks, the last one short


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Blocks of 64 values, so that short inputs cross block boundaries."""
    monkeypatch.setattr(blockcast, "BLOCK", SMALL_BLOCK)


def _adversarial_doubles():
    vals = [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 2.0 ** 51, -(2.0 ** 51),
            2.0 ** 52 - 0.5, -(2.0 ** 52 - 0.5), 2.0 ** 52 + 1, -(2.0 ** 52 + 1),
            2.0 ** 53 + 2, 2.0 ** 61 + 2 ** 9, -(2.0 ** 61) - 2 ** 9]
    for k in range(-40, 41):
        h = k / 2
        vals += [h, math.nextafter(h, math.inf), math.nextafter(h, -math.inf)]
    for e in (51, 52):
        for k in range(-3, 4):
            vals.append(2.0 ** e + k / 2)
    return np.array(vals)


@pytest.mark.parametrize("q", QUANT)
def test_float_rounding_formulas_are_exact(q):
    rng = np.random.default_rng(7)
    x = np.concatenate([_adversarial_doubles(), rng.normal(0, 3, 5000),
                        rng.integers(-2 ** 61, 2 ** 61, 2000).astype(np.float64),
                        rng.integers(-2 ** 53, 2 ** 53, 3000) / 2.0 ** rng.integers(0, 70, 3000)])
    want = [round_value(Fraction(float(v)), q) for v in x]
    assert round_to_int64(x.copy(), fxp.Quantization(q)).tolist() == want
    small = np.abs(x) < 2.0 ** 52
    assert round_to_int64(x[small].copy(), fxp.Quantization(q), large=False).tolist() == \
        [w for w, s in zip(want, small) if s]


@pytest.mark.parametrize("q", QUANT)
def test_one_float_rounding_is_exact(q):
    """round_float (a block's ends) on the adversarial doubles and random ones below 2**62."""
    rng = np.random.default_rng(11)
    x = np.concatenate([_adversarial_doubles(), rng.normal(0, 3, 300),
                        rng.integers(-2 ** 53, 2 ** 53, 300) / 2.0 ** rng.integers(0, 70, 300)])
    assert [round_float(float(v), fxp.Quantization(q)) for v in x] == \
        [round_value(Fraction(float(v)), q) for v in x]


@pytest.mark.parametrize("q", QUANT)
def test_scalar_rounding_matches_reference(q):
    for k in range(-64, 65):
        for d in (Fraction(0), Fraction(1, 3), Fraction(-1, 7), Fraction(1, 2 ** 40)):
            v = Fraction(k, 4) + d
            assert round_fraction(v, fxp.Quantization(q)) == round_value(v, q)


def _limits(fmt):
    lo, hi = fmt.raw_min, fmt.raw_max
    if fmt.overflow is fxp.Overflow.SAT_SYM and fmt.signed and fmt.bits > 1:
        lo = -hi
    return lo, hi


def _exact_raws(x, fmt):
    """Reference raws of x rounded to fmt's scale, before any overflow handling."""
    scale = Fraction(2) ** fmt.frac_bits
    return [round_value(Fraction(float(v)) * scale, fmt.quantization.value)
            if np.isfinite(v) else (math.inf if v > 0 else -math.inf) for v in x.reshape(-1)]


def _expected_log(x, fmt):
    """(count, total, first_index, min, max) from the exact values alone."""
    lo, hi = _limits(fmt)
    raws = _exact_raws(x, fmt)
    bad = [i for i, r in enumerate(raws) if r < lo or r > hi]
    if not bad:
        return 0, x.size, None
    vals = [raws[i] for i in bad]

    def value(r):
        if isinstance(r, float):   # an infinite input
            return r
        try:
            return float(Fraction(r) / Fraction(2) ** fmt.frac_bits)
        except OverflowError:
            return math.inf if r > 0 else -math.inf
    first = tuple(int(j) for j in np.unravel_index(bad[0], x.shape))
    return len(bad), x.size, first, value(min(vals)), value(max(vals))


def _log_fields(log, op):
    rec = log[op]
    if not rec.count:
        return rec.count, rec.total, rec.first_index
    return rec.count, rec.total, rec.first_index, rec.min, rec.max


def _expected_raws(x, fmt):
    if fmt.overflow is fxp.Overflow.WRAP_SM:
        with fxp.overflow_policy("ignore"):
            return _quantize_exact(x, fmt, "reference").reshape(-1).tolist()
    return [cast_value(Fraction(float(v)), fmt.bits, fmt.int_bits, fmt.signed,
                       fmt.quantization.value, fmt.overflow.value) if np.isfinite(v)
            else (_limits(fmt)[int(v > 0)] if fmt.overflow is not fxp.Overflow.SAT_ZERO else 0)
            for v in x.reshape(-1)]


def _inputs(rng):
    """Named inputs for fixed<16,6> (range -32..32): every saturation pattern."""
    inside = np.clip(rng.normal(0, 6, N), -31.9, 31.9)
    outside = np.where(rng.random(N) < 0.5, -1, 1) * (32 + np.abs(rng.normal(0, 1e4, N)))
    ties = (rng.integers(-2 ** 17, 2 ** 17, N) + 0.5) / 2 ** 11    # exact half-lsb points
    alternating = np.where(np.arange(N) % 2 == 0, inside, outside)
    one_pct = inside.copy()
    pick = rng.choice(N, N // 100, replace=False)
    one_pct[pick] = outside[pick]
    edges = np.tile(np.array([-32.0, -32.0 - 2 ** -11, -32 - 2 ** -10, 31.9990234375,
                              31.9990234375 + 2 ** -11, 32.0, -31.9990234375 - 2 ** -11,
                              -0.5 / 1024, 0.5 / 1024]), N // 9 + 1)[:N]
    return {"inside": inside, "all saturated": outside, "ties": ties,
            "alternating": alternating, "one percent": one_pct, "edges": edges,
            "high only": np.abs(outside), "2-d": alternating[:N - N % 4].reshape(4, -1)}


@pytest.mark.parametrize("q,o", PAIRS)
def test_quantize_fast_path_and_log_match_the_exact_values(q, o):
    rng = np.random.default_rng(hash((q, o)) % 2 ** 32)
    fmt = FixedFormat(16, 6, True, q, o)
    for name, x in _inputs(rng).items():
        with fxp.overflow_policy("ignore") as log:
            got = fxp.quantize(x, fmt, label=name)
        assert got.raw.dtype == np.int64 and got.shape == x.shape
        assert got.raw.reshape(-1).tolist() == _expected_raws(x, fmt), name
        assert _log_fields(log, name) == _expected_log(x, fmt), name
        with warnings.catch_warnings():   # no policy block, no log: the clip-only paths
            warnings.simplefilter("ignore", fxp.OverflowWarning)
            assert fxp.quantize(x, fmt).raw.tolist() == got.raw.tolist(), name


@pytest.mark.parametrize("q", QUANT)
def test_wrap_sm_rounding_carry_into_the_dropped_bit(q):
    """Values rounding up onto a multiple of 2**bits wrap to 0; WRAP_SM reads the floor's bit
    there. Few of them in a block (fixed one by one) and many (fixed for the whole block)."""
    fmt = FixedFormat(16, 6, True, q, "WRAP_SM")
    lsb = 2.0 ** -10
    near = np.array([m * 64.0 + d * lsb for m in (-3, -2, -1, 1, 2, 3)
                     for d in (-0.5, -0.25, 0.25, 0.5, -1.0, 0.0)])
    sparse = np.zeros(N)
    sparse[[3, SMALL_BLOCK + 1, N - 2]] = near[[1, 14, 33]]
    dense = np.tile(near, N // near.size + 1)[:N]
    # every value overflows, a few of them round up onto a multiple of 2**bits (by index)
    saturated = 200.0 + np.random.default_rng(5).integers(0, 2 ** 26, N) / 2.0 ** 16
    saturated[[2, 40, SMALL_BLOCK + 7, N - 1]] = near[[0, 3, 22, 35]]
    for x in (sparse, dense, near, saturated, -saturated):
        with fxp.overflow_policy("ignore"):
            assert fxp.quantize(x, fmt).raw.tolist() == _expected_raws(x, fmt)
            src = fxp.quantize(x, FixedFormat(28, 12))   # exact: 16 fraction bits
            assert src.cast(fmt).raw.tolist() == _expected_raws(x, fmt)


@pytest.mark.parametrize("o", ["SAT", "SAT_SYM", "SAT_ZERO"])
def test_inf_and_huge_values_saturate_with_an_exact_log(o):
    fmt = FixedFormat(12, 4, True, "RND_CONV", o)
    x = np.zeros(N)
    x[[5, N - 1]] = np.inf
    x[[7, SMALL_BLOCK]] = -np.inf
    x[[9, 11]] = [1e300, -1e300]
    x[13] = 3.5
    with fxp.overflow_policy("raise") as log:
        got = fxp.quantize(x, fmt, label="inf")
    assert got.raw.tolist() == _expected_raws(x, fmt)
    assert _log_fields(log, "inf") == _expected_log(x, fmt) == (6, N, (5,), -math.inf, math.inf)
    got = fxp.quantize(x, fmt)      # no log: the clip-only path
    assert got.raw.tolist() == _expected_raws(x, fmt)
    y = np.array([0.0, 1e300, 4e299, 3.0, 1e30])   # only high, all past 2**62 at the scale
    with fxp.overflow_policy("log") as log:
        fxp.quantize(y, fmt, label="huge")
    assert _log_fields(log, "huge") == _expected_log(y, fmt)


def test_wrap_past_2_62_takes_the_exact_path():
    fmt = FixedFormat(16, 6, True, "RND", "WRAP")
    x = np.array([1.0, 2.0 ** 60 + 0.5, -3.25, -(2.0 ** 55)])
    with fxp.overflow_policy("log") as log:
        got = fxp.quantize(x, fmt, label="w")
    assert got.raw.tolist() == _expected_raws(x, fmt)
    assert _log_fields(log, "w") == _expected_log(x, fmt)


def test_nan_error_names_count_and_first_index_in_a_later_block():
    x = np.zeros(N)
    x[[SMALL_BLOCK + 3, N - 1]] = np.nan
    for fmt in ("fixed<16,6,RND,SAT>", "fixed<16,6>", "fixed<16,6,TRN,SAT_ZERO>"):
        with pytest.raises(ValueError) as info:
            fxp.quantize(x, fmt)
        assert str(info.value) == (f"quantize to {FixedFormat.parse(fmt)}: 2 NaN values cannot "
                                   f"be quantized; first at index ({SMALL_BLOCK + 3},)")


def test_wrap_warning_message_is_exact():
    x = np.zeros(N)
    x[SMALL_BLOCK + 1] = 40.25
    x[N - 2] = -1000.0
    with pytest.warns(fxp.OverflowWarning) as rec:
        fxp.quantize(x, "fixed<8,4,RND>")
    assert str(rec[0].message) == (f"quantize to fixed<8,4,RND>: 2 of {N} values overflow "
                                   f"fixed<8,4,RND> (range -8..7.9375); first at index "
                                   f"({SMALL_BLOCK + 1},): 40.25")


@pytest.mark.parametrize("q,o", PAIRS)
def test_int64_cast_and_log_match_the_exact_values(q, o):
    rng = np.random.default_rng(hash((o, q)) % 2 ** 32)
    src = FixedFormat(32, 12)
    dst = FixedFormat(16, 6, True, q, o)
    raws = {"random": rng.integers(src.raw_min, src.raw_max, N, endpoint=True),
            "inside": rng.integers(-2 ** 25, 2 ** 25, N),
            "ties": rng.integers(-2 ** 16, 2 ** 16, N) * 2 ** 10 + 2 ** 9,
            "extremes": np.tile([src.raw_min, src.raw_max, -2 ** 25, 2 ** 25 - 1, 0], N // 5)}
    for name, r in raws.items():
        x = fxp.from_raw(r, src)
        with fxp.overflow_policy("ignore") as log:
            got = x.cast(dst, label=name)
            kernels_saved = kernels.INT64_SAFE_BITS
            kernels.INT64_SAFE_BITS = 0    # the Python-int kernels: the exact reference path
            try:
                want = x.cast(dst, label="exact").raw.tolist()
            finally:
                kernels.INT64_SAFE_BITS = kernels_saved
        assert got.raw.dtype == np.int64
        assert got.raw.tolist() == want, name
        with warnings.catch_warnings():   # no policy block, no log
            warnings.simplefilter("ignore", fxp.OverflowWarning)
            assert x.cast(dst).raw.tolist() == want, name
        if o in MODELLED:
            assert want == [cast_value(Fraction(int(v), 2 ** 20), 16, 6, True, q, o) for v in r]
        lo, hi = _limits(dst)
        exact = [round_value(Fraction(int(v), 2 ** 10), q) for v in r]
        bad = [i for i, e in enumerate(exact) if e < lo or e > hi]
        want_log = (0, len(r), None) if not bad else \
            (len(bad), len(r), (bad[0],), min(exact[i] for i in bad) / 1024,
             max(exact[i] for i in bad) / 1024)
        assert _log_fields(log, name) == want_log, name


float_formats = st.builds(FixedFormat, st.integers(1, 50), st.integers(-30, 60), st.booleans(),
                          st.sampled_from(QUANT), st.sampled_from(MODELLED))


sm_formats = st.builds(FixedFormat, st.integers(1, 50), st.integers(-30, 60), st.just(True),
                       st.sampled_from(QUANT), st.just("WRAP_SM"))


@st.composite
def blocked_case(draw, formats=float_formats):
    f = draw(formats)
    lsb = Fraction(2) ** -f.frac_bits
    k = st.integers(-(1 << (f.bits + 1)), 1 << (f.bits + 1))
    near = k.map(lambda j: float(j * lsb / 2))              # ties and the range edges
    anything = st.floats(allow_nan=False, allow_subnormal=True)
    values = draw(st.lists(st.one_of(near, near, anything), min_size=1, max_size=40))
    reps = draw(st.sampled_from([1, 5]))  # some cases span blocks
    return f, np.tile(np.array(values, dtype=np.float64), reps)


@settings(max_examples=300, deadline=None)
@given(blocked_case())
def test_quantize_any_format_matches_reference_with_exact_log(case):
    f, x = case
    if not f.overflow.saturates and not np.all(np.isfinite(x)):
        x = np.where(np.isfinite(x), x, 0.0)
    with fxp.overflow_policy("ignore") as log:
        got = fxp.quantize(x, f, label="h")
    assert got.raw.tolist() == _expected_raws(x, f)
    assert _log_fields(log, "h") == _expected_log(x, f)


@settings(max_examples=150, deadline=None)
@given(blocked_case(sm_formats), st.integers(1, 6))
def test_quantize_wrap_sm_any_format_matches_the_exact_path(case, reps):
    """WRAP_SM of any signed format, repeated so that dense blocks follow dense blocks (the
    in-place and biased conversions), against the exact integer path, with the log."""
    f, x = case
    x = np.tile(np.where(np.isfinite(x), x, 0.0), reps)
    with fxp.overflow_policy("ignore") as log:
        got = fxp.quantize(x, f, label="h")
    assert got.raw.tolist() == _expected_raws(x, f)
    assert _log_fields(log, "h") == _expected_log(x, f)


@pytest.mark.parametrize("q", QUANT)
def test_wrap_sm_block_in_range_only_after_rounding_follows_a_dense_block(q):
    """The biased conversion of a block whose float ends lie outside the range but whose
    rounded values do not (then the bias is taken back)."""
    fmt = FixedFormat(16, 6, True, q, "WRAP_SM")
    x = np.random.default_rng(2).normal(0, 1e3, 4 * SMALL_BLOCK)
    x[2 * SMALL_BLOCK:3 * SMALL_BLOCK] = np.where(np.arange(SMALL_BLOCK) % 2, 1.0, -1.0) * \
        (32 - 2.0 ** -11)   # half an lsb past the top / above the bottom
    with fxp.overflow_policy("ignore") as log:
        got = fxp.quantize(x, fmt, label="b")
    assert got.raw.tolist() == _expected_raws(x, fmt)
    assert _log_fields(log, "b") == _expected_log(x, fmt)
