"""An ONNX graph as the importer reads it: nodes in order, attributes, constants.

A constant is an initializer, a ``Constant`` node, or the output of a node whose inputs are
all constants (folded here with numpy: weight quantizers, transposes, reshapes, scale
arithmetic). A constant remembers whether it is a quantized tensor: ``frac`` (per element,
scale ``2**-frac``), ``bits`` and ``signed`` of its quantizer. Nothing relies on node or
tensor names: the importer follows the edges.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import OnnxImportError
from .quantizers import check_zero_point, quant_format, range_format, round_values, split_scale

__all__ = ["Const", "Node", "load_graph", "fold"]


@dataclass
class Const:
    """A constant tensor.

    Attributes
    ----------
    value : numpy.ndarray
        Exact values: float64 (every float32 is exact in it) or int64.
    frac : numpy.ndarray or None
        Per element ``f`` of the quantizer's scale ``2**-f`` (quantized tensors only).
    bits, signed : int, bool
        The quantizer's width and signedness (quantized tensors only).
    lo, hi : int or None
        The range of an integer tensor (its dtype's, or a Clip's).
    mant : numpy.ndarray or None
        Per element the scale's mantissa (scale ``mant * 2**-frac``): 1, or with ``dyadic``
        a number in ``(1, 2)``.
    """

    value: np.ndarray
    frac: np.ndarray | None = None
    bits: int = 0
    signed: bool = True
    lo: int | None = None
    hi: int | None = None
    mant: np.ndarray | None = None

    @property
    def quantized(self) -> bool:
        return self.frac is not None

    def scalar(self, where: str, what: str):
        v = np.asarray(self.value)
        if v.size != 1:
            raise OnnxImportError(f"{where}: {what} has shape {list(v.shape)}; expected a "
                                  f"scalar")
        return v.ravel()[0]


@dataclass
class Node:
    """One node: its position, op, inputs and outputs (tensor names, '' for absent ones)
    and attributes as Python values."""

    index: int
    op: str
    name: str
    inputs: list
    outputs: list
    attrs: dict
    domain: str = ""

    @property
    def where(self) -> str:
        """How errors name the node: ``node 3 'Gemm_0' (Gemm)``."""
        return f"node {self.index}{f' {self.name!r}' if self.name else ''} ({self.op})"

    def attr(self, key, default=None):
        return self.attrs.get(key, default)


def _attr_value(a):
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


def _exact(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return a.astype(np.float64)
    if a.dtype.kind in "iub":
        return a.astype(np.int64)
    return a


def _int_const(a: np.ndarray) -> Const:
    v = _exact(a)
    if a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        return Const(v, lo=int(info.min), hi=int(info.max))
    return Const(v)


def load_graph(path):
    """``(graph input, nodes, constants, output name)`` of the ONNX model at ``path``.

    Raises
    ------
    OSError
        When ``path`` is missing.
    OnnxImportError
        When it is not an ONNX model, or its graph has other than one dynamic input and one
        output, or a dynamic dimension besides the batch.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a directory, not an ONNX model")
    try:
        model = onnx.load(path)
    except Exception as e:      # protobuf's DecodeError and friends
        raise OnnxImportError(f"{path}: not an ONNX model ({type(e).__name__})") from None
    g = model.graph
    if not g.node:
        raise OnnxImportError(f"{path}: not an ONNX model (no graph nodes)")
    consts = {t.name: _int_const(numpy_helper.to_array(t)) for t in g.initializer}
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1:
        raise OnnxImportError(f"graph inputs: {len(inputs)} ({', '.join(i.name for i in inputs)}"
                              f"); expected one")
    if len(g.output) != 1:
        raise OnnxImportError(f"graph outputs: {len(g.output)}; expected one")
    inp = inputs[0]
    dims = []
    for k, d in enumerate(inp.type.tensor_type.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        elif k == 0:
            dims.append(1)
        else:
            raise OnnxImportError(f"graph input {inp.name!r}: dimension {k} is dynamic "
                                  f"({d.dim_param or '?'}); expected a fixed size (only the "
                                  f"batch may vary)")
    if len(dims) < 2:
        raise OnnxImportError(f"graph input {inp.name!r}: shape {dims}; expected a batch axis "
                              f"and one to three more (N, F), (N, C, L) or (N, C, H, W)")
    nodes = [Node(i, n.op_type, n.name, list(n.input), list(n.output),
                  {a.name: _attr_value(a) for a in n.attribute}, n.domain)
             for i, n in enumerate(g.node)]
    return (inp.name, tuple(dims[1:])), nodes, consts, g.output[0].name


# -- folding ---------------------------------------------------------------------------------

def _get(node: Node, consts: dict, k: int):
    if k >= len(node.inputs) or not node.inputs[k]:
        return None
    return consts[node.inputs[k]]


def _scaled(x: np.ndarray, frac, mant, scale) -> np.ndarray:
    """``x / scale``: exact for powers of two; else in float32, as the frameworks divide."""
    if np.all(mant == 1):
        return x * np.exp2(frac)
    return (np.float32(x) / np.asarray(scale, dtype=np.float32)).astype(np.float64)


def _quant(node, consts, dyadic=False):
    """QONNX ``Quant(x, scale, zero_point, bit_width)`` on a constant."""
    x, scale, zp, bw = (_get(node, consts, k) for k in range(4))
    w = node.where
    check_zero_point(zp.value, w)
    frac, mant = split_scale(scale.value, w, dyadic)
    bits = bw.scalar(w, "bit width")
    signed, narrow = bool(node.attr("signed", 1)), bool(node.attr("narrow", 0))
    rounding = node.attr("rounding_mode", "ROUND").upper()
    fmt = quant_format(0, bits, signed, narrow, rounding, w)
    if frac.ndim > x.value.ndim:
        raise OnnxImportError(f"{w}: scale shape {list(scale.value.shape)} does not broadcast "
                              f"to the tensor's {list(x.value.shape)}")
    frac, mant = (np.array(np.broadcast_to(a, x.value.shape)) for a in (frac, mant))
    q = round_values(_scaled(x.value, frac, mant, scale.value), rounding, w)
    lo = fmt.raw_min + (1 if narrow else 0)
    q = np.clip(q, lo, fmt.raw_max)
    return Const(q * np.exp2(-frac) * mant, frac, fmt.bits, signed, mant=mant)


def _quantize_linear(node, consts, dyadic=False):
    x, scale, zp = (_get(node, consts, k) for k in range(3))
    w = node.where
    check_zero_point(None if zp is None else zp.value, w)
    frac, mant = split_scale(scale.value, w, dyadic)
    signed = zp is None or zp.lo < 0
    info = np.iinfo(np.int8 if signed else np.uint8) if zp is None or zp.lo is None else None
    lo, hi = (info.min, info.max) if info is not None else (zp.lo, zp.hi)
    q = np.clip(np.round(_scaled(x.value, frac, mant, scale.value)), lo, hi).astype(np.int64)
    return Const(q, lo=int(lo), hi=int(hi))


def _dequantize_linear(node, consts, dyadic=False):
    x, scale, zp = (_get(node, consts, k) for k in range(3))
    w = node.where
    check_zero_point(None if zp is None else zp.value, w)
    if x.lo is None:
        raise OnnxImportError(f"{w}: input is not an integer tensor")
    f, m = split_scale(scale.value, w, dyadic)
    axis = node.attr("axis", 1)
    if f.ndim == 1 and f.size > 1 and x.value.ndim > 1:
        shape = [1] * x.value.ndim
        shape[axis] = f.size
        f, m = f.reshape(shape), m.reshape(shape)
    frac, mant = (np.array(np.broadcast_to(a, x.value.shape)) for a in (f, m))
    lo, hi = min(int(x.value.min(initial=0)), x.lo), max(int(x.value.max(initial=0)), x.hi)
    fmt = range_format(x.lo, x.hi, 0, w) if (x.lo, x.hi) == (lo, hi) else None
    if fmt is None:
        raise OnnxImportError(f"{w}: values outside the integer range {x.lo} .. {x.hi}")
    return Const(x.value * np.exp2(-frac) * mant, frac, fmt.bits, fmt.signed, mant=mant)


def _clip(node, consts, dyadic=False):
    x, lo, hi = (_get(node, consts, k) for k in range(3))
    lo_v = None if lo is None else lo.scalar(node.where, "min")
    hi_v = None if hi is None else hi.scalar(node.where, "max")
    v = np.clip(x.value, lo_v, hi_v)
    if x.lo is None:
        return Const(v)
    return Const(v.astype(np.int64), lo=max(x.lo, int(lo_v)) if lo_v is not None else x.lo,
                 hi=min(x.hi, int(hi_v)) if hi_v is not None else x.hi)


def _same(c: Const, fn) -> Const:
    """``c`` with ``fn`` (a transpose, reshape...) applied to its values and scales."""
    return Const(fn(c.value), None if c.frac is None else fn(c.frac), c.bits, c.signed, c.lo,
                 c.hi, None if c.mant is None else fn(c.mant))


def _transpose(node, consts, dyadic=False):
    x = _get(node, consts, 0)
    perm = node.attr("perm", list(range(x.value.ndim))[::-1])
    return _same(x, lambda a: np.transpose(a, perm))


def _reshape(node, consts, dyadic=False):
    x, shape = _get(node, consts, 0), _get(node, consts, 1)
    s = [int(d) if d != 0 else x.value.shape[k] for k, d in enumerate(shape.value)]
    return _same(x, lambda a: a.reshape(s))


def _arith(op):
    def f(node, consts, dyadic=False):
        a, b = _get(node, consts, 0), _get(node, consts, 1)
        return Const(_exact(np.asarray(op(a.value, b.value))))
    return f


def _identity(node, consts, dyadic=False):
    return _get(node, consts, 0)


def _cast(node, consts, dyadic=False):
    x = _get(node, consts, 0)
    to = onnx.helper.tensor_dtype_to_np_dtype(node.attr("to"))
    return _int_const(x.value.astype(to)) if x.frac is None else x


def _constant(node, consts, dyadic=False):
    if "value" in node.attrs:
        return _int_const(np.asarray(node.attrs["value"]))
    for k in ("value_float", "value_int", "value_floats", "value_ints"):
        if k in node.attrs:
            return _int_const(np.asarray(node.attrs[k]))
    raise OnnxImportError(f"{node.where}: expected a tensor or number 'value'")


def _unsqueeze(node, consts, dyadic=False):
    x = _get(node, consts, 0)
    axes = node.attr("axes")
    if axes is None:
        axes = list(_get(node, consts, 1).value)

    def expand(a):
        for k in sorted(int(k) for k in axes):
            a = np.expand_dims(a, k)
        return a
    return _same(x, expand)


FOLD = {"Quant": _quant, "QuantizeLinear": _quantize_linear,
        "DequantizeLinear": _dequantize_linear, "Clip": _clip, "Transpose": _transpose,
        "Reshape": _reshape, "Identity": _identity, "Cast": _cast, "Constant": _constant,
        "Unsqueeze": _unsqueeze, "Mul": _arith(np.multiply), "Div": _arith(np.divide),
        "Add": _arith(np.add), "Sub": _arith(np.subtract)}


def fold(node: Node, consts: dict, dyadic: bool = False) -> bool:
    """Evaluate ``node`` into ``consts`` when all its inputs are constants; True if done
    (``dyadic``: scales need not be powers of two)."""
    if node.op == "Constant" or (node.inputs and all(not i or i in consts for i in node.inputs)
                                 and node.op in FOLD):
        consts[node.outputs[0]] = FOLD[node.op](node, consts, dyadic)
        return True
    return False
