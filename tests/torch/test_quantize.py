"""fxp.torch.quantize against fxp.quantize: every mode pair, ties, out-of-range values, STE."""

import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fxp  # noqa: E402
from fxp import FixedFormat, Overflow, Quantization  # noqa: E402
from fxp.torch import quantize  # noqa: E402

PAIRS = [(q, o) for q in Quantization for o in Overflow]
# signed and unsigned, 1 bit, negative and large int_bits, 53 bits, scales near 2**+-1000
BASES = ["fixed<8,3>", "ufixed<6,2>", "fixed<1,1>", "ufixed<1,0>", "fixed<12,-2>", "fixed<5,9>",
         "fixed<53,20>", "fixed<20,-900>", "fixed<24,1000>", "fixed<64,30>"]


def _values(f: FixedFormat, rng, n: int) -> np.ndarray:
    """Exact ties (half an LSB), values just beside them, out-of-range and special values."""
    k = rng.integers(max(f.raw_min - 40, -2 ** 60), min(f.raw_max + 40, 2 ** 60),
                     n // 4).astype(np.float64)
    ties = (k + 0.5) * f.lsb
    near = (k + rng.choice([-1e-9, 1e-9, 0.25, -0.25], n // 4)) * f.lsb
    span = max(abs(f.max), abs(f.min))
    with np.errstate(over="ignore"):
        wide = rng.normal(0, 1, n // 4) * span * rng.choice([0.5, 2, 10, 1e10, 1e300], n // 4)
    wide = np.nan_to_num(wide, posinf=1.7e308, neginf=-1.7e308)
    special = np.array([0.0, -0.0, f.min, f.max, f.max + f.lsb, f.min - f.lsb, 1.7e308,
                        -1.7e308, 5e-324, -5e-324, 1e-300, -1e-300, 2.0 ** 62, -2.0 ** 62,
                        2.0 ** 70 + 2.0 ** 20, -(2.0 ** 70)])
    rest = rng.normal(0, 5, n - 3 * (n // 4) - len(special)) * f.lsb
    x = np.concatenate([ties, near, wide, special, rest])
    if f.overflow.saturates:
        x = np.concatenate([x, [np.inf, -np.inf]])
    return x


def _mismatches(x: np.ndarray, f: FixedFormat) -> int:
    with fxp.overflow_policy("ignore"):
        with np.errstate(over="ignore"):   # fixed<24,1000> values are past float32's range
            ref = fxp.quantize(x, f).to_float().astype(x.dtype)
        got = quantize(torch.from_numpy(x), f).numpy()
    assert got.dtype == x.dtype
    return int(np.count_nonzero(ref != got))


@pytest.mark.parametrize("q,o", PAIRS, ids=[f"{q}-{o}" for q, o in PAIRS])
def test_bit_identical_to_fxp_quantize(q, o):
    rng = np.random.default_rng(zlib.crc32(f"{q}-{o}".encode()))
    total = bad = 0
    for base in BASES:
        b = FixedFormat.parse(base)
        if o is Overflow.WRAP_SM and not b.signed:
            continue
        f = b.replace(quantization=q, overflow=o)
        x = _values(f, rng, 2000)
        x32 = np.clip(x, -3e38, 3e38).astype(np.float32)   # float32 ties are float32 numbers
        bad += _mismatches(x, f) + _mismatches(x32, f)
        total += 2 * len(x)
    assert total >= 1_000_000 // len(PAIRS)
    assert bad == 0


def test_float32_of_a_narrow_format_is_exactly_to_float():
    x = torch.linspace(-9, 9, 100_001, dtype=torch.float32)
    f = FixedFormat.parse("fixed<10,4,RND_CONV,SAT>")
    got = quantize(x, f).to(torch.float64).numpy()
    assert np.array_equal(got, fxp.quantize(x.numpy(), f).to_float())


def test_straight_through_gradient_is_one_inside_the_range_zero_outside():
    for mode in ("SAT", "SAT_ZERO", "SAT_SYM", "WRAP", "WRAP_SM"):
        f = FixedFormat.parse(f"fixed<6,2,RND,{mode}>")    # -2 .. 1.9375
        x = torch.tensor([-3.0, -2.0, -1.99, 0.3, 1.9375, 1.95, 5.0], dtype=torch.float64,
                         requires_grad=True)
        with fxp.overflow_policy("ignore"):
            quantize(x, f).backward(torch.full((7,), 3.0, dtype=torch.float64))
        assert x.grad.tolist() == [0.0, 3.0, 3.0, 3.0, 3.0, 0.0, 0.0], mode


def test_wrap_overflow_is_reported_as_fxp_reports_it():
    f = "fixed<4,2>"
    x = np.array([0.5, 3.0, -7.25, 1.0])
    with fxp.overflow_policy("log") as ref_log:
        fxp.quantize(x, f, label="q")
    with fxp.overflow_policy("log") as log:
        quantize(torch.from_numpy(x), f, label="q")
    r, g = ref_log["q"], log["q"]
    got = (g.kind, g.count, g.total, g.first_index, g.min, g.max)
    assert got == (r.kind, r.count, r.total, r.first_index, r.min, r.max)
    assert got == ("overflow", 2, 4, (1,), -7.25, 3.0)
    with fxp.overflow_policy("raise"), pytest.raises(fxp.OverflowError) as e:
        quantize(torch.from_numpy(x), f, label="q")
    with fxp.overflow_policy("raise"), pytest.raises(fxp.OverflowError) as e_ref:
        fxp.quantize(x, f, label="q")
    assert str(e.value) == str(e_ref.value)


def test_saturation_is_logged():
    with fxp.overflow_policy("log") as log:
        quantize(torch.tensor([0.0, 9.0, -9.0]), "fixed<4,2,TRN,SAT>", label="s")
    assert (log["s"].kind, log["s"].count) == ("saturation", 2)


def test_nan_and_infinite_values_are_errors_as_in_fxp():
    with pytest.raises(ValueError, match=r"^quantize to fixed<8,3>: 1 NaN value cannot be "
                                         r"quantized; first at index \(1,\)$"):
        quantize(torch.tensor([0.0, float("nan")]), "fixed<8,3>")
    with pytest.raises(ValueError, match=r"2 infinite values cannot be wrapped into "
                                         r"fixed<8,3> \(overflow WRAP\)"):
        quantize(torch.tensor([float("inf"), 0.0, -float("inf")]), "fixed<8,3>")


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(TypeError, match=r"^quantize: expected a torch.Tensor, not list$"):
        quantize([1.0], "fixed<8,3>")
    with pytest.raises(TypeError, match=r"^quantize: expected a floating-point tensor, not "
                                        r"torch.int64$"):
        quantize(torch.tensor([1]), "fixed<8,3>")
    with pytest.raises(ValueError, match=r"^Malformed fixed-point format 'fixed<8>'; expected 2 "
                                         r"to 4 arguments"):
        quantize(torch.tensor([1.0]), "fixed<8>")
    with pytest.raises(TypeError, match=r"^Fixed-point format must be a string or FixedFormat"):
        quantize(torch.tensor([1.0]), 8)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_tensors_get_the_value_in_their_dtype(dtype):
    t = torch.linspace(-5, 5, 4001, dtype=getattr(torch, dtype))
    f = FixedFormat.parse("fixed<6,2,RND_INF,SAT>")
    got = quantize(t, f)
    assert got.dtype == t.dtype
    want = fxp.quantize(t.to(torch.float64).numpy(), f).to_float()   # exact in float64
    assert np.array_equal(got.to(torch.float64).numpy(), want)     # 4 fraction bits fit
