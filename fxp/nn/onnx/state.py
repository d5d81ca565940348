"""The state of the graph walk: dynamic tensors, the model being built, constant inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...format import FixedFormat
from .errors import OnnxImportError
from .graph import Const, Node

__all__ = ["Act", "QInt", "Builder", "channels_last_shape", "need_fmt", "quantized_weights",
           "row_mant", "input_scale", "const_input"]


@dataclass
class Act:
    """A dynamic tensor (without its batch axis).

    ``kind``: ``"cf"`` channels first (ONNX's layout, fxp holds it channels last), ``"cl"``
    channels last (after a transpose), ``"vec"`` a vector. ``order[j]`` is the ONNX index of
    fxp's element ``j`` of a vector. ``open`` is the layer whose output format a quantizer
    would set (``-1``: the model input); ``fresh`` the dense/conv layer this is the direct
    output of (a following Add or BatchNormalization folds into it).
    """

    fmt: FixedFormat | None
    shape: tuple                      # ONNX's, without batch
    kind: str
    order: np.ndarray | None = None
    open: int | None = None
    fresh: int | None = None
    pending: str | None = None        # why fmt is None: the producing node's description
    # --dyadic: the real value is the fixed value times rscale (per channel after a layer
    # with per-channel weight scales); scalable: the dense/conv layer whose weights can take
    # a multiplier for the next quantizer (only derived-format ops in between)
    rscale: object = 1.0
    scalable: int | None = None


@dataclass
class QInt:
    """The integer tensor between QuantizeLinear and DequantizeLinear."""

    act: Act
    frac: int
    lo: int
    hi: int
    where: str
    mant: float = 1.0


@dataclass
class Builder:
    """The model being built: spec layer docs, raw tensors, the input format; ``dense`` keeps
    per dense/conv layer ``(raw weight, format, raw bias, format, input format)`` (a later
    Add or BatchNormalization changes them) and per table layer ``("table", kind, input
    format, node)``."""

    input_shape: tuple
    layers: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    input_fmt: FixedFormat | None = None
    dense: dict = field(default_factory=dict)
    dyadic: int | None = None           # multiplier bits; None: exact import only
    input_scale: float = 1.0            # --dyadic: the input quantizer's scale mantissa
    approximations: list = field(default_factory=list)

    def add(self, doc: dict) -> int:
        self.layers.append(doc)
        return len(self.layers) - 1


def channels_last_shape(shape, kind) -> tuple:
    """fxp's channels-last shape of an ONNX (C, ...) tensor."""
    if kind == "cf":
        return (*shape[1:], shape[0])
    return tuple(shape)


def need_fmt(x: Act, node: Node) -> FixedFormat:
    if x.fmt is None:
        raise OnnxImportError(f"{node.where}: its input is not quantized ({x.pending}); "
                              f"expected a Quant or QuantizeLinear/DequantizeLinear before it")
    return x.fmt


def quantized_weights(c: Const | None, node: Node, what: str):
    """``(raw int64 array, FixedFormat)`` of a quantized constant: per-channel power-of-two
    scales become the finest scale, the bits widened so every value stays exact."""
    if c is None or not c.quantized:
        raise OnnxImportError(f"{node.where}: the {what} is not quantized; expected a constant "
                              f"through Quant or Clip/DequantizeLinear with a power-of-two "
                              f"scale")
    f, fmin = int(c.frac.max()), int(c.frac.min())
    mant = np.ones(c.value.shape) if c.mant is None else c.mant
    raw = np.rint(c.value / mant * np.exp2(f)).astype(np.int64)
    bits = c.bits + f - fmin
    return raw, FixedFormat(bits, bits - f, c.signed)


def row_mant(c: Const, node: Node, rows_axis: int = 0):
    """--dyadic: the weight scale mantissa per output row (1.0 when all are 1)."""
    if c.mant is None or np.all(c.mant == 1):
        return 1.0
    m = np.moveaxis(c.mant, rows_axis, 0).reshape(c.mant.shape[rows_axis], -1)
    if np.any(m != m[:, :1]):
        raise OnnxImportError(f"{node.where}: weight scales vary within an output channel; "
                              f"expected one scale per tensor or per output channel")
    m = m[:, 0]
    return float(m[0]) if np.all(m == m[0]) else m


def input_scale(x: Act, node: Node) -> float:
    """--dyadic: the input's real scale, one number (a quantizer sets it)."""
    if np.ndim(x.rscale):
        raise OnnxImportError(f"{node.where}: its input has per-channel scales (no quantizer "
                              f"since the layer before); expected a quantizer before it")
    return float(x.rscale)


def const_input(node: Node, consts: dict, k: int, optional: bool = False):
    if k >= len(node.inputs) or not node.inputs[k]:
        if optional:
            return None
        raise OnnxImportError(f"{node.where}: input {k} is missing")
    name = node.inputs[k]
    if name not in consts:
        raise OnnxImportError(f"{node.where}: input {k} is computed at run time; expected a "
                              f"constant")
    return consts[name]
