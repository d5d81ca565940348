"""Wide matmul by limb splitting against Python-int matmul: exact at every width, shape and K."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fxp
from fxp import FixedFormat
from fxp.limbs import limb_matmul


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
                                             ((k,), (k,)), ((2, m, k), (k, n))]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    extreme = draw(st.booleans())
    return fa, fb, shape_a, shape_b, seed, extreme


@settings(max_examples=150, deadline=None)
@given(wide_case())
def test_limb_matmul_is_exact(case):
    fa, fb, shape_a, shape_b, seed, extreme = case
    rng = np.random.default_rng(seed)
    if extreme:   # every product at the largest magnitude: the carries are the longest
        a = np.full(shape_a, fa.raw_min if fa.signed else fa.raw_max, dtype=np.int64)
        b = np.full(shape_b, fb.raw_min if fb.signed else fb.raw_max, dtype=np.int64)
    else:
        a = rng.integers(fa.raw_min, fa.raw_max, shape_a, endpoint=True)
        b = rng.integers(fb.raw_min, fb.raw_max, shape_b, endpoint=True)
    got = limb_matmul(a, b, fa.bits, fb.bits)
    assert got is not None and got.dtype == object and got.shape == _reference(a, b).shape
    assert np.array_equal(got, _reference(a, b))
    x, y = fxp.from_raw(a, fa), fxp.from_raw(b, fb)
    r = fxp.matmul(x, y)
    assert r.fmt == fa.mul(fb).sum(shape_a[-1]) and np.array_equal(
        np.asarray(r.raw, dtype=object), _reference(a, b))
