"""``softmax``: exp table, exact sum, reciprocal table, product cast to the output.

Over the last axis of ``x`` (``n`` values of input format ``<W, I>``, ``F = W - I`` fraction
bits), with output format ``O`` of ``B = O.bits`` bits and ``T = table_bits`` (default
``min(W, 10)``, at most ``W``):

1. ``m = max_j x_j``; ``d_j = m.raw - x_j.raw``, an integer in ``[0, 2**W)``.
2. ``e_j = exp_table[d_j >> (W - T)]``. The exp table has ``2**T`` entries in
   ``E = ufixed<B, 1, RND, SAT>``; entry ``k`` is ``quantize(exp(-k * 2**(W - T - F)), E)``
   (the bucket's lower edge), so entry 0, the maximum's, is exactly 1.
3. ``s = sum_j e_j``, exact in ``E.sum(n)`` (``S`` bits, ``Fs`` fraction bits: it cannot
   overflow); ``s >= 1``.
4. ``r = recip_table[s.raw >> (S - R)]`` with ``R = min(T, S)``. The reciprocal table has
   ``2**R`` entries in ``E``; entry ``k`` is ``quantize(1 / max(c_k, 1), E)`` with ``c_k``
   the centre of bucket ``k``: ``(k * 2**(S - R) + (2**(S - R) - 1) / 2) * 2**-Fs`` (the
   exact sum when ``R == S``).
5. ``out_j = cast(e_j * r, O)``: the exact product (``ufixed<2B, 2>``), then one cast with
   the output's quantization and overflow modes.

Entries are computed one double at a time by the math module (``math.exp``, one division) and
stored in the artifact (``"<i>.exp_table"``, ``"<i>.recip_table"``) so that emulator, RTL and
HLS use the very same entries. Training uses the float softmax's gradient.
"""

from __future__ import annotations

import math

import numpy as np

from ... import accumulate
from ...array import FixedArray
from ...format import FixedFormat
from ...quantize import quantize
from ..fields import FormatSpec
from .elementwise import ElementwiseTrainer
from .registry import register
from .table import TableBitsLayer

__all__ = ["Softmax", "softmax", "softmax_tables", "table_format"]


def table_format(output: FixedFormat) -> FixedFormat:
    """The format of both tables' entries for an output format: ``ufixed<B, 1, RND, SAT>``."""
    return FixedFormat(output.bits, 1, False, "RND", "SAT")


def _sum_format(output: FixedFormat, n: int) -> FixedFormat:
    return table_format(output).sum(n)


def softmax_tables(in_fmt: FixedFormat, output: FixedFormat, n: int, table_bits: int):
    """``(exp_table, recip_table)`` as FixedArrays for ``n`` inputs of ``in_fmt`` (see the
    module docstring)."""
    if not 1 <= table_bits <= in_fmt.bits:
        raise ValueError(f"softmax: table_bits must be between 1 and the input's "
                         f"{in_fmt.bits} bits, not {table_bits}")
    ef = table_format(output)
    step = 2.0 ** (in_fmt.bits - table_bits - in_fmt.frac_bits)
    exp = [math.exp(-k * step) for k in range(1 << table_bits)]
    sf = _sum_format(output, n)
    r_bits = min(table_bits, sf.bits)
    drop = sf.bits - r_bits
    centres = [(k * 2.0 ** drop + (2.0 ** drop - 1) / 2) * 2.0 ** -sf.frac_bits
               for k in range(1 << r_bits)]
    recip = [1.0 / max(c, 1.0) for c in centres]
    return (quantize(np.array(exp), ef, label="softmax exp table"),
            quantize(np.array(recip), ef, label="softmax reciprocal table"))


def softmax(x: FixedArray, exp_table: FixedArray, recip_table: FixedArray, output: FixedFormat,
            label: str = "softmax") -> FixedArray:
    """Bit-exact softmax over the last axis with the given tables (see the module docstring)."""
    raw, w = x.raw, x.fmt.bits
    t = int(exp_table.shape[0]).bit_length() - 1
    d = raw.max(axis=-1, keepdims=True) - raw
    e = FixedArray.trusted(exp_table.raw[np.asarray(d >> (w - t), dtype=np.int64)],
                           exp_table.fmt)
    s = accumulate.sum(e, axis=-1, label=f"{label} accumulator")
    r_bits = int(recip_table.shape[0]).bit_length() - 1
    r = recip_table.raw[np.asarray(s.raw >> (s.fmt.bits - r_bits), dtype=np.int64)]
    r = FixedArray.trusted(r[..., None], recip_table.fmt)
    return (e * r).cast(output, label=f"{label} output")


@register
class Softmax(TableBitsLayer):
    """Softmax over the last axis by two lookup tables (see the module docstring)."""

    type = "softmax"

    def tensors(self, shape, in_fmt):
        tb, out = self.index_bits(in_fmt), self.output.fmt
        r = min(tb, _sum_format(out, shape[-1]).bits)
        return {"exp_table": ((1 << tb,), table_format(out)),
                "recip_table": ((1 << r,), table_format(out))}

    def forward(self, x, tensors, label):
        return softmax(x, tensors["exp_table"], tensors["recip_table"], self.output.fmt, label)

    def trainer(self, shape, rng, input_scale, previous):
        return SoftmaxTrainer(self, shape)


def _float_softmax(v: np.ndarray) -> np.ndarray:
    z = np.exp(v - v.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class SoftmaxTrainer(ElementwiseTrainer):
    """QAT through the very tables of the artifact; the float softmax's gradient."""

    def __init__(self, layer: Softmax, shape):
        super().__init__(layer, shape)
        self.cache = {}

    def tables(self, in_fmt, out_fmt):
        tb = self.layer.index_bits(in_fmt)
        key = (in_fmt, out_fmt, tb)
        if key not in self.cache:
            self.cache[key] = softmax_tables(in_fmt, out_fmt, self.shape[-1], tb)
        return self.cache[key]

    def forward(self, fx, val, in_fmt, mode, train):
        p = _float_softmax(val)
        c = {"p": p}
        if mode == "float":
            return None, p, None, c
        of = self.output
        if mode == "calibrate":
            of.calibrate(p)
        fmt = of.fmt()
        fx = softmax(fx, *self.tables(in_fmt, fmt), fmt, f"layer {self.index} softmax")
        c["pre"] = p
        return fx, fx.to_float(), fmt, c

    def backward(self, c, grad, grads):
        p = c["p"]
        return p * (grad - (grad * p).sum(axis=-1, keepdims=True))

    def resolve(self, in_fmt, a2q_bits):
        out = self.output.fmt()
        e, r = self.tables(in_fmt, out)
        new = self.layer.replace(output=FormatSpec(fmt=out),
                                 table_bits=self.layer.index_bits(in_fmt))
        return new, {"exp_table": e.raw, "recip_table": r.raw}, out
