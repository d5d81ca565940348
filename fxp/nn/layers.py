"""Bit-exact layer semantics on raw integers: the definitions hdl/ and the HLS kernels implement.

Every layer maps a FixedArray ``x`` (shape ``(batch, features)``) to a FixedArray:

dense
    ``acc[n, i] = sum_j W[i, j] * x[n, j] + bias[i]``, computed exactly and wrapped modulo
    ``2**acc.bits`` (the accumulator is WRAP; its fraction bits cover the products' and the
    bias's, so every term enters exactly; overflow is reported, never silent). Then
    ``out = cast(acc, output)`` with the output's quantization and overflow modes.
relu
    ``out = cast(max(x, 0), output)``.
batchnorm
    Folded into the preceding dense layer's weights and bias when quantized; in a resolved
    model it is the identity.
sigmoid, tanh (lookup tables)
    ``index = (x.raw - x.fmt.raw_min) >> (x.fmt.bits - table_bits)``, ``out = table[index]``.
    Entry ``k`` is ``quantize(f(c_k), output)`` for the centre ``c_k`` of the input bucket
    ``k`` (the exact input value when ``table_bits == x.fmt.bits``), with ``f`` evaluated in
    double precision by the math module (``1 / (1 + exp(-c))``, ``tanh(c)``). The table is
    stored in the artifact so that emulator, RTL and HLS use the very same entries.
argmax
    The index of the first maximum (ties go to the lowest index), as an unsigned integer
    format ``ufixed<B,B>`` with ``B = max(1, ceil(log2(features)))``.
"""

from __future__ import annotations

import math

import numpy as np

from ..accumulate import matmul
from ..array import FixedArray
from ..format import FixedFormat
from ..quantize import quantize

__all__ = ["dense", "relu", "lut", "make_table", "argmax", "argmax_format",
           "default_table_bits", "ACTIVATIONS"]

ACTIVATIONS = {
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "tanh": np.tanh,
}


def _sigmoid(v: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-v))
    except OverflowError:  # exp(-v) past the double range: 1 / (1 + inf)
        return 0.0


# Table entries use the math module (libm), one double at a time: numpy's vectorised loops
# are CPU-dependent and can be tens of ulps off (np.tanh(17.005) == 1.0, not 1 - 3.4e-15).
_TABLE_FUNCTIONS = {"sigmoid": _sigmoid, "tanh": math.tanh}


def dense(x: FixedArray, weight: FixedArray, bias: FixedArray | None, acc: FixedFormat,
          output: FixedFormat, label: str = "dense") -> FixedArray:
    """Dense layer: exact accumulator (WRAP) then a cast to ``output``.

    ``weight`` is shaped ``(units, inputs)``; ``bias`` ``(units,)``.
    """
    a = matmul(x, weight.T, acc=acc, bias=bias, label=f"{label} accumulator")
    return a.cast(output, label=f"{label} output")


def relu(x: FixedArray, output: FixedFormat, label: str = "relu") -> FixedArray:
    """ReLU: ``cast(max(x, 0), output)``."""
    raw = np.maximum(x.raw, 0) if x.raw.dtype != object else \
        np.where(x.raw > 0, x.raw, 0).astype(object)
    return FixedArray._make(raw, x.fmt).cast(output, label=f"{label} output")


def default_table_bits(in_fmt: FixedFormat) -> int:
    """Index width of a lookup table when the spec does not say: the input's bits, at most 10."""
    return min(in_fmt.bits, 10)


def make_table(kind: str, in_fmt: FixedFormat, output: FixedFormat, table_bits: int
               ) -> FixedArray:
    """The lookup table of ``sigmoid`` or ``tanh`` for inputs of ``in_fmt``.

    Returns a FixedArray of ``2**table_bits`` entries in ``output``.
    """
    if kind not in ACTIVATIONS:
        raise ValueError(f"Unknown table activation {kind!r}; expected sigmoid or tanh")
    if not 1 <= table_bits <= in_fmt.bits:
        raise ValueError(f"Lookup table of {kind}: table_bits must be between 1 and the input's "
                         f"{in_fmt.bits} bits, not {table_bits}")
    drop = in_fmt.bits - table_bits
    k = np.arange(1 << table_bits, dtype=np.float64)
    # centre of bucket k, in raw units: raw_min + k * 2**drop + (2**drop - 1) / 2
    centre = in_fmt.raw_min + k * 2.0 ** drop + (2.0 ** drop - 1) / 2
    f = _TABLE_FUNCTIONS[kind]
    values = np.array([f(float(c)) for c in np.ldexp(centre, -in_fmt.frac_bits)],
                      dtype=np.float64)
    return quantize(values, output, label=f"{kind} table")


def lut(x: FixedArray, table: FixedArray, table_bits: int) -> FixedArray:
    """Look ``x`` up in ``table`` (see :func:`make_table`)."""
    drop = x.fmt.bits - table_bits
    # (raw - raw_min) >> drop without leaving int64: raw_min's low `drop` bits are zero
    idx = (x.raw >> drop) - (x.fmt.raw_min >> drop)
    idx = np.asarray(idx, dtype=np.int64)
    return FixedArray._make(table.raw[idx], table.fmt)


def argmax_format(features: int) -> FixedFormat:
    """Format of an argmax output over ``features`` values."""
    b = max(1, math.ceil(math.log2(features))) if features > 1 else 1
    return FixedFormat(b, b, False)


def argmax(x: FixedArray) -> FixedArray:
    """Index of the first maximum along the last axis."""
    raw = x.raw
    if raw.dtype == object:
        idx = np.array([max(range(len(r)), key=lambda i, r=r: (r[i], -i)) for r in
                        raw.reshape(-1, raw.shape[-1])], dtype=np.int64).reshape(raw.shape[:-1])
    else:
        idx = np.argmax(raw, axis=-1).astype(np.int64)  # numpy returns the first maximum
    return FixedArray._make(idx, argmax_format(raw.shape[-1]))
