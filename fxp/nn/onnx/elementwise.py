"""Element-wise ops: ``Relu``, ``LeakyRelu`` (power-of-two alpha), ``Sigmoid`` and ``Tanh``
(a table of every input value, filled once the quantizer after it is known)."""

from __future__ import annotations

import numpy as np

from ...format import FixedFormat
from ..layers.leaky_relu import alpha_shift, exact_format
from ..layers.table import make_table
from .errors import OnnxImportError
from .state import Act, Builder, need_fmt

__all__ = ["MAX_TABLE_BITS", "follows", "op_relu", "op_leaky_relu", "op_table",
           "finish_tables"]


MAX_TABLE_BITS = 16


def follows(x: Act):
    """The scalable layer a new open layer after ``x`` passes on (only when ``x`` is that
    layer's output itself, so no other layer's exact format depends on its scale)."""
    return x.scalable if x.scalable is not None and x.open == x.scalable else None


def _elementwise(b, node, x, doc, out_fmt) -> Act:
    i = b.add(doc)
    if out_fmt is not None:
        doc["output"] = str(out_fmt)
    return Act(out_fmt, x.shape, x.kind, x.order, i, None,
               None if out_fmt is not None else f"{node.where} needs a quantizer after it",
               x.rscale, follows(x))


def op_relu(b, node, x, consts):
    fmt = need_fmt(x, node)
    out = FixedFormat(fmt.bits - 1, fmt.int_bits - 1, False) if fmt.signed else \
        FixedFormat(fmt.bits, fmt.int_bits, False)
    if out.bits < 1:
        out = FixedFormat(1, fmt.int_bits, False)
    return _elementwise(b, node, x, {"type": "relu"}, out)


def op_leaky_relu(b, node, x, consts):
    fmt = need_fmt(x, node)
    alpha = float(np.float32(node.attr("alpha", 0.01)))
    try:
        k = alpha_shift(alpha)
    except ValueError:
        raise OnnxImportError(f"{node.where}: alpha {alpha!r}; expected a power of two from "
                              f"2**-32 to 0.5 such as 0.125 (an exact shift)") from None
    return _elementwise(b, node, x, {"type": "leaky_relu", "alpha": 2.0 ** -k},
                        exact_format(fmt, k))


def op_table(kind):
    def op(b, node, x, consts):
        fmt = need_fmt(x, node)
        if np.any(np.asarray(x.rscale) != 1):
            raise OnnxImportError(f"{node.where}: --dyadic: its input's scale is not a power "
                                  f"of two; expected a power-of-two quantizer before a table")
        if fmt.bits > MAX_TABLE_BITS:
            raise OnnxImportError(f"{node.where}: input {fmt} has {fmt.bits} bits; expected "
                                  f"at most {MAX_TABLE_BITS} (an exact lookup table has "
                                  f"2**bits entries): quantize its input")
        out = _elementwise(b, node, x, {"type": kind, "table_bits": fmt.bits}, None)
        b.dense[out.open] = ("table", kind, fmt, node.where)
        return out
    return op


def finish_tables(b: Builder):
    for i, entry in b.dense.items():
        if not isinstance(entry[0], str):
            continue
        _, kind, in_fmt, where = entry
        doc = b.layers[i]
        if "output" not in doc:
            raise OnnxImportError(f"{where}: no quantizer after it; expected a Quant or "
                                  f"QuantizeLinear/DequantizeLinear (a lookup table needs an "
                                  f"output format)")
        b.params[f"{i}.table"] = make_table(kind, in_fmt, FixedFormat.parse(doc["output"]),
                                            in_fmt.bits).raw
