"""The graph walk: ONNX nodes on the dynamic path become fxp.nn layers, exactly.

Constant sub-graphs fold (:mod:`.graph`); each node on the path from the input to the output
(a chain: every tensor used once) goes to its op's handler (:data:`OPS`), which adds layers
and returns the node's output tensor (:class:`.state.Act`).
"""

from __future__ import annotations

import numpy as np

from .dense import op_add, op_batchnorm, op_conv, op_gemm, op_matmul
from .elementwise import finish_tables, op_leaky_relu, op_relu, op_table
from .errors import OnnxImportError
from .graph import fold
from .layout import op_flatten, op_identity, op_reshape, op_transpose
from .pools import op_avgpool, op_global_avgpool, op_maxpool
from .quantizer_ops import (op_bipolar, op_clip_int, op_dequantize_linear, op_quant,
                            op_quantize_linear, op_trunc)
from .state import Act, Builder, QInt, channels_last_shape

__all__ = ["convert", "OPS"]


OPS = {"Quant": op_quant, "QuantizeLinear": op_quantize_linear,
       "DequantizeLinear": op_dequantize_linear, "Gemm": op_gemm, "MatMul": op_matmul,
       "Add": op_add, "Conv": op_conv, "BatchNormalization": op_batchnorm, "Relu": op_relu,
       "LeakyRelu": op_leaky_relu, "Sigmoid": op_table("sigmoid"), "Tanh": op_table("tanh"),
       "MaxPool": op_maxpool, "AveragePool": op_avgpool,
       "GlobalAveragePool": op_global_avgpool, "Flatten": op_flatten, "Reshape": op_reshape,
       "Transpose": op_transpose, "Identity": op_identity, "Dropout": op_identity,
       "Trunc": op_trunc, "BipolarQuant": op_bipolar}


_LISTED = ("Quant, QuantizeLinear, DequantizeLinear, Clip, Gemm, MatMul, Add (bias), Conv, "
           "BatchNormalization, Relu, LeakyRelu, Sigmoid, Tanh, MaxPool, AveragePool, "
           "GlobalAveragePool, Flatten, Reshape, Transpose")


def convert(graph, dyadic: int | None = None) -> tuple:
    """``(input shape (fxp's), input format, layer docs, params, info)`` of a loaded graph;
    ``info``: ``input_scale`` and ``output_scale`` (the real scale mantissas, 1 unless
    ``dyadic``) and ``approximations`` (what ``dyadic`` approximated).

    ``dyadic`` (multiplier bits): accept scales that are not powers of two, approximating each
    needed multiplication by a dyadic number ``m / 2**c`` (HAWQ-V3).

    Raises
    ------
    OnnxImportError
        At the first node that cannot be made exact.
    """
    (in_name, in_shape), nodes, consts, out_name = graph
    kind = "vec" if len(in_shape) == 1 else "cf"
    b = Builder(channels_last_shape(in_shape, kind), dyadic=dyadic)
    acts = {in_name: Act(None, tuple(in_shape), kind, None, -1, None, "the graph input is float")}
    uses = {}
    for node in nodes:
        for name in node.inputs:
            uses[name] = uses.get(name, 0) + 1
    for node in nodes:
        if fold(node, consts, dyadic is not None):
            continue
        dyn = [k for k, name in enumerate(node.inputs) if name and name not in consts]
        if node.op not in OPS and node.op != "Clip":
            raise OnnxImportError(f"{node.where}: unsupported op {node.op}; expected one of "
                                  f"{_LISTED}")
        if not dyn:
            raise OnnxImportError(f"{node.where}: cannot evaluate {node.op} on constants")
        if dyn != [0]:
            raise OnnxImportError(f"{node.where}: {len(dyn)} run-time inputs; expected one, "
                                  f"the first (a chain of layers)")
        name = node.inputs[0]
        if uses.get(name, 0) > 1:
            raise OnnxImportError(f"{node.where}: its input feeds {uses[name]} nodes; expected "
                                  f"a chain (each tensor used once)")
        x = acts.pop(name)
        if isinstance(x, QInt) != (node.op in ("Clip", "DequantizeLinear")):
            if isinstance(x, QInt):
                raise OnnxImportError(f"{node.where}: follows a QuantizeLinear; expected "
                                      f"DequantizeLinear (or Clip) after it")
            raise OnnxImportError(f"{node.where}: {node.op} on a run-time tensor; expected "
                                  f"it after QuantizeLinear")
        fn = op_clip_int if node.op == "Clip" else OPS[node.op]
        out = fn(b, node, x, consts)
        for extra in node.outputs[1:]:
            if extra and uses.get(extra):
                raise OnnxImportError(f"{node.where}: uses its output {extra!r}; expected only "
                                      f"the first output")
        acts[node.outputs[0]] = out
    if out_name not in acts:
        raise OnnxImportError(f"graph output {out_name!r}: not computed from the input")
    y = acts[out_name]
    if isinstance(y, QInt):
        raise OnnxImportError(f"graph output {out_name!r}: an integer tensor of QuantizeLinear; "
                              f"expected DequantizeLinear after it")
    if not b.layers:
        raise OnnxImportError("graph: no layers between the input quantizer and the output")
    if b.input_fmt is None:
        raise OnnxImportError("graph input: never quantized; expected a Quant or "
                              "QuantizeLinear/DequantizeLinear on it first")
    if y.kind == "vec" and y.order is not None:
        raise OnnxImportError(f"graph output {out_name!r}: a flattened channels-first tensor; "
                              f"expected a Gemm/MatMul after the Flatten (fxp flattens "
                              f"channels last)")
    if np.ndim(y.rscale):
        raise OnnxImportError(f"graph output {out_name!r}: --dyadic: per-channel scales; "
                              f"expected a quantizer before the output")
    finish_tables(b)
    info = {"input_scale": b.input_scale, "output_scale": float(y.rscale),
            "approximations": b.approximations}
    return b.input_shape, b.input_fmt, b.layers, b.params, info
