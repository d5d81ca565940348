"""Shared helpers of the layer tests: formats as the naive reference writes them, raw arrays
and hypothesis strategies."""

import fxp
import numpy as np
from fxp import FixedFormat
from hypothesis import strategies as st

from .. import reference as R

QUANT = [q.value for q in fxp.Quantization]
OVF = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM"]  # WRAP_SM: the g++ oracle covers casts


def ff(f: R.Fmt) -> FixedFormat:
    return FixedFormat(*f)


def raw_array(rows, f: R.Fmt) -> fxp.FixedArray:
    return fxp.from_raw(np.array(rows, dtype=object if f.bits > 62 else np.int64), ff(f))


def as_ints(a) -> list:
    return np.asarray(a).tolist()


# -- strategies ----------------------------------------------------------------------------
@st.composite
def fmts(draw, max_bits=8, int_lo=-4, int_hi=12, signed=None, modes=False):
    bits = draw(st.integers(1, max_bits))
    s = draw(st.booleans()) if signed is None else signed
    f = R.Fmt(bits, draw(st.integers(int_lo, int_hi)), s)
    if modes:
        f = f._replace(quantization=draw(st.sampled_from(QUANT)),
                       overflow=draw(st.sampled_from(OVF)))
    return f


def raws_of(f: R.Fmt):
    return st.integers(f.raw_min, f.raw_max)
