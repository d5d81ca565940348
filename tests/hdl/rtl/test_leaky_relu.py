# amaranth: UnusedElaboratable=no
"""LeakyReLU stream block against fxp.nn.layers.leaky_relu, bit for bit, exhaustive over small
formats and every output mode, under random stalls; its parameter checks."""

import itertools

import numpy as np
import pytest

import fxp
from fxp import FixedFormat
from fxp.nn.layers.leaky_relu import leaky_relu
from hdl.rtl.leaky_relu import LeakyReLU

from .streamsim import run_stream

INPUTS = ["fixed<4,2>", "fixed<5,-1>", "ufixed<3,1>", "fixed<1,1>"]
OUTPUTS = ["fixed<4,1,{q},{o}>", "fixed<3,3,{q},{o}>", "ufixed<4,2,{q},{o}>"]
QUANT = [q.value for q in fxp.Quantization]
OVF = [o.value for o in fxp.Overflow]


@pytest.mark.parametrize("in_fmt", INPUTS)
@pytest.mark.parametrize("shift", [1, 3])
def test_exhaustive_every_mode(in_fmt, shift):
    fin = FixedFormat.parse(in_fmt)
    raws = list(range(fin.raw_min, fin.raw_max + 1))
    bad = []
    for k, (out, q, o) in enumerate(itertools.product(OUTPUTS, QUANT, OVF)):
        if (k + shift) % 3 or (o == "WRAP_SM" and out.startswith("u")):
            continue                  # a third of the output modes per input and shift
        fout = FixedFormat.parse(out.format(q=q, o=o))
        dut = LeakyReLU(n=len(raws), in_fmt=fin, out_fmt=fout, shift=shift,
                        registered=bool(k % 2))
        got, _ = run_stream(dut, [raws, raws[::-1]], seed=k)
        with fxp.overflow_policy("ignore"):
            want = leaky_relu(fxp.from_raw(np.array([raws, raws[::-1]]), fin), shift, fout)
        if got != want.raw.tolist():
            bad.append((str(fin), shift, str(fout), got, want.raw.tolist()))
    assert not bad, bad[:2]


def test_wide_format_random():
    fin, fout = FixedFormat(40, 12), FixedFormat(30, 8, True, "RND_CONV", "SAT")
    rng = np.random.default_rng(1)
    x = rng.integers(fin.raw_min, fin.raw_max, (20, 4), endpoint=True)
    x[0] = [fin.raw_min, -1, 0, fin.raw_max]
    dut = LeakyReLU(n=4, in_fmt=fin, out_fmt=fout, shift=17, registered=True)
    got, _ = run_stream(dut, x.tolist(), seed=2)
    with fxp.overflow_policy("ignore"):
        want = leaky_relu(fxp.from_raw(x, fin), 17, fout)
    assert got == want.raw.tolist()


def test_parameters():
    dut = LeakyReLU(n=2, in_fmt="fixed<8,3>", out_fmt="fixed<8,3>", shift=2, registered=True)
    assert (dut.shift, dut.latency, dut.ii) == (2, 1, 1)
    for shift in (0, -1, 1.5, True):
        with pytest.raises(TypeError, match=rf"^LeakyReLU shift must be a positive integer, "
                                            rf"not {shift!r}$"):
            LeakyReLU(n=2, in_fmt="fixed<8,3>", out_fmt="fixed<8,3>", shift=shift)
    with pytest.raises(TypeError, match=r"^LeakyReLU vector length n must be a positive "):
        LeakyReLU(n=0, in_fmt="fixed<8,3>", out_fmt="fixed<8,3>", shift=2)
