# amaranth: UnusedElaboratable=no
"""DenseParallel and DenseFolded in amaranth.sim against fxp.nn.layers.dense, with stalls."""

import json

import numpy as np
import pytest
from amaranth.back import verilog
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fxp
from fxp import FixedFormat
from fxp.nn.layers.dense import dense
from hdl.flow.synth import synthesize
from hdl.rtl.dense import DenseFolded, DenseParallel, _rounded_format, csd

from .streamsim import run_stream


def _case(seed, units, inputs, wfmt, infmt, bfmt, acc, out, zero_frac=0.3):
    rng = np.random.default_rng(seed)
    wfmt, infmt, bfmt = map(FixedFormat.parse, (wfmt, infmt, bfmt))
    w = rng.integers(wfmt.raw_min, wfmt.raw_max, (units, inputs), endpoint=True)
    w[rng.random((units, inputs)) < zero_frac] = 0
    b = rng.integers(bfmt.raw_min, bfmt.raw_max, units, endpoint=True)
    weight, bias = fxp.from_raw(w, wfmt), fxp.from_raw(b, bfmt)
    if acc == "auto":
        acc = fxp.accumulator_format(weight, infmt, bias=bias)
    return weight, bias, infmt, FixedFormat.parse(str(acc)), FixedFormat.parse(out)


def _inputs(infmt, n, count, seed):
    rng = np.random.default_rng(seed + 100)
    x = rng.integers(infmt.raw_min, infmt.raw_max, (count, n), endpoint=True)
    x[0], x[1] = infmt.raw_min, infmt.raw_max          # the extremes
    return x


def _expected(weight, bias, infmt, acc, out, x):
    with fxp.overflow_policy("ignore"):
        return dense(fxp.from_raw(x, infmt), weight, bias, acc, out).raw.tolist()


CASES = [
    # units, inputs, weight, input, bias, accumulator, output
    (4, 7, "fixed<6,1>", "ufixed<5,5>", "fixed<12,5>", "auto", "fixed<10,5,RND_CONV,SAT>"),
    (3, 5, "fixed<4,2>", "fixed<6,2>", "fixed<8,3>", "auto", "ufixed<6,3,RND,SAT_SYM>"),
    (5, 6, "ufixed<3,1>", "fixed<5,0>", "fixed<9,1>", "fixed<10,2>",    # narrow: wraps
     "fixed<7,3,RND_INF,WRAP_SM>"),
    (2, 9, "fixed<8,3>", "ufixed<8,4>", "fixed<16,6>", "auto", "fixed<12,6,TRN_ZERO,SAT_ZERO>"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("pipeline", [0, 1, 2])
def test_dense_parallel_bit_exact_with_stalls(case, pipeline):
    weight, bias, infmt, acc, out = _case(case, *CASES[case])
    x = _inputs(infmt, weight.shape[1], 40, case)
    dut = DenseParallel(weight=weight, bias=bias, in_fmt=infmt, acc_fmt=acc, out_fmt=out,
                        pipeline=pipeline)
    got, _ = run_stream(dut, x.tolist(), seed=case + pipeline)
    assert got == _expected(weight, bias, infmt, acc, out, x)


@pytest.mark.parametrize("case, relu", [(0, "ufixed<8,4,RND_CONV,SAT>"),   # one adder
                                         (1, "fixed<5,2,RND_ZERO,SAT_SYM>"),
                                         (2, "ufixed<4,2,RND,SAT>")])     # in series
def test_dense_parallel_with_its_relu(case, relu):
    """The ReLU after the layer computed with its cast: the output of fxp's dense, then relu."""
    from fxp.nn.layers.relu import relu as relu_layer

    weight, bias, infmt, acc, out = _case(case, *CASES[case])
    x = _inputs(infmt, weight.shape[1], 40, case)
    dut = DenseParallel(weight=weight, bias=bias, in_fmt=infmt, acc_fmt=acc, out_fmt=out,
                        pipeline=1, relu_fmt=relu)
    assert dut.out_fmt == FixedFormat.parse(relu) == dut.relu_fmt
    got, _ = run_stream(dut, x.tolist(), seed=case)
    with fxp.overflow_policy("ignore"):
        y = dense(fxp.from_raw(x, infmt), weight, bias, acc, out)
        assert got == relu_layer(y, FixedFormat.parse(relu)).raw.tolist()


@st.composite
def _formats(draw, max_bits):
    bits = draw(st.integers(1, max_bits))
    signed = draw(st.booleans()) and bits > 1
    return FixedFormat(bits, draw(st.integers(-3, bits + 3)), signed=signed)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# a unit with one unsigned term narrower than the accumulator: its top bit is not a sign bit
@example(wfmt=FixedFormat(4, 0), infmt=FixedFormat(1, 0, signed=False), bfmt=FixedFormat(1, 0),
         seed=31600854, units=2, inputs=2, acc_cut=0, pipeline=0, with_bias=False)
@given(wfmt=_formats(10), infmt=_formats(7), bfmt=_formats(12), seed=st.integers(0, 2 ** 32),
       units=st.integers(1, 3), inputs=st.integers(1, 6), acc_cut=st.integers(0, 6),
       pipeline=st.integers(0, 2), with_bias=st.booleans())
def test_dense_parallel_any_formats(wfmt, infmt, bfmt, seed, units, inputs, acc_cut, pipeline,
                                   with_bias):
    """The aligned adder tree (each adder spans only the bits above its lower operand's last
    zero) is exact for any widths, shifts and signs, including wrapping accumulators."""
    rng = np.random.default_rng(seed)
    w = rng.integers(wfmt.raw_min, wfmt.raw_max, (units, inputs), endpoint=True)
    w[rng.random((units, inputs)) < 0.2] = 0
    weight = fxp.from_raw(w, wfmt)
    bias = None
    if with_bias:
        b = rng.integers(bfmt.raw_min, bfmt.raw_max, units, endpoint=True)
        b[rng.random(units) < 0.3] <<= 3          # bias raws with trailing zeros
        bias = fxp.from_raw(np.clip(b, bfmt.raw_min, bfmt.raw_max), bfmt)
    full = fxp.accumulator_format(weight, infmt, bias=bias)
    frac = max(full.frac_bits, bfmt.frac_bits if with_bias else full.frac_bits)
    acc = FixedFormat(max(full.bits - acc_cut + frac - full.frac_bits, 1),
                      full.int_bits - acc_cut, signed=True)
    out = FixedFormat.parse("fixed<9,4,RND_CONV,WRAP>")
    x = rng.integers(infmt.raw_min, infmt.raw_max, (12, inputs), endpoint=True)
    x[0], x[1] = infmt.raw_min, infmt.raw_max
    dut = DenseParallel(weight=weight, bias=bias, in_fmt=infmt, acc_fmt=acc, out_fmt=out,
                        pipeline=pipeline)
    got, _ = run_stream(dut, x.tolist(), idle=0.0, stall=0.0)
    assert got == _expected(weight, bias, infmt, acc, out, x)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("reuse", [1, 2, 3])
@pytest.mark.parametrize("pipeline", [0, 1, 2])
def test_dense_folded_bit_exact_with_stalls(case, reuse, pipeline):
    weight, bias, infmt, acc, out = _case(case, *CASES[case])
    x = _inputs(infmt, weight.shape[1], 30, case)
    dut = DenseFolded(weight=weight, bias=bias, in_fmt=infmt, acc_fmt=acc, out_fmt=out,
                      reuse=reuse, pipeline=pipeline)
    got, _ = run_stream(dut, x.tolist(), seed=case * 7 + reuse)
    assert got == _expected(weight, bias, infmt, acc, out, x)


@pytest.mark.parametrize("make", [
    lambda w, b, i, a, o: DenseParallel(weight=w, bias=b, in_fmt=i, acc_fmt=a, out_fmt=o,
                                        pipeline=1),
    lambda w, b, i, a, o: DenseParallel(weight=w, bias=b, in_fmt=i, acc_fmt=a, out_fmt=o,
                                        pipeline=0),
    lambda w, b, i, a, o: DenseFolded(weight=w, bias=b, in_fmt=i, acc_fmt=a, out_fmt=o,
                                      reuse=4),
    lambda w, b, i, a, o: DenseFolded(weight=w, bias=b, in_fmt=i, acc_fmt=a, out_fmt=o,
                                      reuse=1, pipeline=1),
], ids=["parallel-p1", "parallel-p0", "folded-r4", "folded-r1-p1"])
def test_throughput_and_latency(make):
    weight, bias, infmt, acc, out = _case(9, *CASES[0])
    x = _inputs(infmt, weight.shape[1], 30, 9)
    dut = make(weight, bias, infmt, acc, out)
    got, cycles = run_stream(dut, x.tolist(), idle=0.0, stall=0.0)
    assert got == _expected(weight, bias, infmt, acc, out, x)
    # one vector every II cycles; the first after `latency` cycles
    assert cycles == dut.latency + (len(x) - 1) * dut.ii + 1


def test_zero_weights_cost_nothing_and_verilog_is_deterministic():
    weight, bias, infmt, acc, out = _case(3, *CASES[0])
    sparse = fxp.from_raw(np.where(np.arange(weight.size).reshape(weight.shape) % 2, 0,
                                   weight.raw), weight.fmt)
    make = (lambda w: DenseParallel(weight=w, bias=bias, in_fmt=infmt, acc_fmt=acc,
                                    out_fmt=out, pipeline=1))
    dense_v = verilog.convert(make(weight), emit_src=False)
    assert dense_v == verilog.convert(make(weight), emit_src=False)
    sparse_v = verilog.convert(make(sparse), emit_src=False)
    # constant products are shifted adds: no multiplier at all, fewer adders when sparse
    assert " * " not in dense_v and " * " not in sparse_v
    adds = (lambda v: v.count(" + ") + v.count(" - "))
    assert adds(sparse_v) < adds(dense_v)
    all_zero = fxp.from_raw(np.zeros(weight.shape, dtype=np.int64), weight.fmt)
    assert adds(verilog.convert(make(all_zero), emit_src=False)) < adds(sparse_v)


@pytest.mark.parametrize("quant", [q.value for q in fxp.Quantization])
def test_cast_through_the_rounded_format_is_the_cast(quant):
    """DenseParallel with pipeline 1 casts in two cycles, to the rounded format then to the
    output: fxp gives the same bits as the one cast for every accumulator value, every
    overflow mode it splits, signed and unsigned, and the rounded format never overflows."""
    accs = ["fixed<7,3>", "ufixed<6,2>", "fixed<5,-1>", "fixed<6,8>", "ufixed<4,4>"]
    outs = ["fixed<4,2>", "ufixed<3,1>", "fixed<2,0>", "fixed<5,5>", "ufixed<1,-1>"]
    split = 0
    for a in map(FixedFormat.parse, accs):
        x = fxp.from_raw(np.arange(a.raw_min, a.raw_max + 1), a)
        for o in outs:
            for ovf in ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM"):
                dst = FixedFormat.parse(o[:-1] + f",{quant},{ovf}>")
                mid = _rounded_format(a, dst)
                if mid is None:
                    assert a.frac_bits <= dst.frac_bits
                    continue
                split += 1
                with fxp.overflow_policy("raise"):
                    through = x.cast(mid)            # raises on an overflow
                with fxp.overflow_policy("ignore"):
                    assert through.cast(dst).raw.tolist() == x.cast(dst).raw.tolist(), \
                        (a, dst, mid)
    assert split == 60                      # 15 format pairs drop fraction bits, x 4 modes
    signed = FixedFormat.parse(f"fixed<7,3,{quant},WRAP_SM>")
    assert _rounded_format(FixedFormat.parse("fixed<9,3>"), signed) is None


def test_pipeline_one_casts_in_two_cycles():
    weight, bias, infmt, acc, out = _case(5, *CASES[0])
    make = (lambda p: DenseParallel(weight=weight, bias=bias, in_fmt=infmt, acc_fmt=acc,
                                    out_fmt=out, pipeline=p))
    p1, p2 = make(1), make(2)
    assert p1.latency == p1.graph.depth + 2
    assert p2.latency == p2.graph.stages(2) + 1


@pytest.mark.parametrize("value", list(range(-300, 301)) + [2 ** 40 - 1, -(2 ** 40) + 3])
def test_csd_digits(value):
    digits = csd(value)
    assert sum(sign << k for sign, k in digits) == value
    shifts = [k for _, k in digits]
    assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))   # no adjacent nonzero digits
    assert len(digits) <= bin(abs(value)).count("1")


def test_constructor_errors():
    weight, bias, infmt, acc, out = _case(0, *CASES[0])
    with pytest.raises(TypeError, match=r"DenseFolded reuse must be a positive integer, not 0"):
        DenseFolded(weight=weight, bias=bias, in_fmt=infmt, acc_fmt=acc, out_fmt=out, reuse=0)
    with pytest.raises(ValueError, match=r"DenseFolded reuse must be at most the 7 inputs, not 8"):
        DenseFolded(weight=weight, bias=bias, in_fmt=infmt, acc_fmt=acc, out_fmt=out, reuse=8)
    with pytest.raises(TypeError, match=r"DenseFolded pipeline must be a non-negative integer"):
        DenseFolded(weight=weight, bias=bias, in_fmt=infmt, acc_fmt=acc, out_fmt=out, reuse=2,
                    pipeline=True)
    with pytest.raises(TypeError, match=r"DenseParallel pipeline must be a non-negative integer"):
        DenseParallel(weight=weight, bias=bias, in_fmt=infmt, acc_fmt=acc, out_fmt=out,
                      pipeline=-1)
    with pytest.raises(ValueError, match=r"DenseParallel acc_fmt fixed<20,19> has fewer fraction "
                                         r"bits than the products fixed<11,6>"):
        DenseParallel(weight=weight, bias=bias, in_fmt=infmt, acc_fmt="fixed<20,19>",
                      out_fmt=out)
    with pytest.raises(ValueError, match=r"DenseParallel acc_fmt fixed<20,10,TRN,SAT> must use "
                                         r"WRAP overflow"):
        DenseParallel(weight=weight, bias=bias, in_fmt=infmt, acc_fmt="fixed<20,10,TRN,SAT>",
                      out_fmt=out)
    with pytest.raises(TypeError, match=r"DenseParallel weight must be a 2-D FixedArray"):
        DenseParallel(weight=np.zeros((2, 2)), bias=bias, in_fmt=infmt, acc_fmt=acc,
                      out_fmt=out)


def test_dense_folded_registers_each_multiplier_on_its_own(tmp_path):
    """On ECP5 every MULT18X18D has flip-flops of its own for its input value (yosys merges
    equal copies of a register unless each depends on itself), loaded from another register,
    and its product goes through
    two registers before any logic: the placer can put them beside the DSP block. (A weight
    bit can be shared by two multipliers of a unit: ROM bits equal in every word.)"""
    weight, bias, infmt, acc, out = _case(3, 6, 8, "fixed<6,1>", "ufixed<5,5>", "fixed<8,3>",
                                          "auto", "fixed<10,5>", zero_frac=0)
    dut = DenseFolded(weight=weight, bias=bias, in_fmt=infmt, acc_fmt=acc, out_fmt=out,
                      reuse=4, pipeline=2)
    (tmp_path / "d.v").write_text(verilog.convert(dut, name="d"))
    synthesize([tmp_path / "d.v"], "d", "ecp5", flatten=True, netlist=tmp_path / "n.json")
    cells = json.loads((tmp_path / "n.json").read_text())["modules"]["d"]["cells"]
    sinks = {}                                  # net bit -> [(cell, port)]
    for name, c in cells.items():
        for port, bits in c["connections"].items():
            if c["port_directions"][port] == "input":
                for b in bits:
                    sinks.setdefault(b, []).append((name, port))
    dsps = {n: c for n, c in cells.items() if c["type"] == "MULT18X18D"}
    ffs = {n: c for n, c in cells.items() if c["type"] == "TRELLIS_FF"}
    assert len(dsps) == 6 * 2
    feeds = {}                                  # flip-flop -> the DSP blocks' A inputs it feeds
    for name, c in ffs.items():
        for cell, port in sinks.get(c["connections"]["Q"][0], []):
            if cell in dsps and port.startswith("A"):
                feeds.setdefault(name, set()).add(cell)
    fed = [d for s in feeds.values() for d in s]
    assert sorted(set(fed)) == sorted(dsps) and all(len(s) == 1 for s in feeds.values())
    # ... and those flip-flops are second copies, loaded from a register that feeds nothing
    # else (so the placer can move them beside the DSP block, away from the input ring)
    drivers = {b: (n, p) for n, c in cells.items() for p, bits in c["connections"].items()
               if c["port_directions"][p] == "output" for b in bits}
    for f in feeds:
        src = drivers[ffs[f]["connections"]["DI"][0]][0]
        assert ffs.get(src) is not None and sinks[ffs[src]["connections"]["Q"][0]] == [(f, "DI")]
    for d in dsps.values():
        for port, bits in d["connections"].items():
            if port.startswith("P") and bits[0] in sinks:
                first = sinks[bits[0]]
                assert all(cells[n]["type"] == "TRELLIS_FF" for n, _ in first)
                for n, _ in first:
                    assert all(cells[m]["type"] == "TRELLIS_FF"
                               for m, _ in sinks[ffs[n]["connections"]["Q"][0]])
