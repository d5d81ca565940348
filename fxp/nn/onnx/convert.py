"""The graph walk: ONNX nodes on the dynamic path become fxp.nn layers, exactly.

Every dynamic tensor has an exact fixed-point format: a quantizer (``Quant``, or
``QuantizeLinear`` [-> ``Clip``] -> ``DequantizeLinear``) casts it; a dense or conv layer's
output is its exact accumulator until a quantizer follows, which then becomes that layer's
``output`` format (max pooling, flatten and the NCHW -> channels-last transpose commute with a
rounding, saturating cast, so a quantizer after them still lands on the layer before). A
quantizer on a tensor whose format is already fixed is accepted only when it changes nothing.

Layouts: ONNX tensors are channels first ``(C, H, W)`` / ``(C, L)``; fxp's are channels last.
Conv weights ``(F, C, kh, kw)`` become ``(F, kh, kw, C)``; an ONNX ``Flatten`` of ``(C, H, W)``
orders values ``c * H * W + y * W + x`` where fxp's flatten gives ``(y * W + x) * C + c``, so
the next dense layer's weight columns are permuted to match (the values are the same).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...array import from_raw
from ...bounds import accumulator_format
from ...format import FixedFormat
from ..layers.leaky_relu import alpha_shift, exact_format
from ..layers.pool import mean_format
from ..layers.table import make_table
from ..layers.window import Window
from .errors import OnnxImportError
from .graph import Const, Node, fold
from .quantizers import (check_zero_point, dyadic_multiplier, pow2_frac, quant_format,
                         range_format, split_scale)

__all__ = ["convert", "OPS"]

MAX_TABLE_BITS = 16


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


def _ours(shape, kind) -> tuple:
    """fxp's channels-last shape of an ONNX (C, ...) tensor."""
    if kind == "cf":
        return (*shape[1:], shape[0])
    return tuple(shape)


def _need_fmt(x: Act, node: Node) -> FixedFormat:
    if x.fmt is None:
        raise OnnxImportError(f"{node.where}: its input is not quantized ({x.pending}); "
                              f"expected a Quant or QuantizeLinear/DequantizeLinear before it")
    return x.fmt


def _weights(c: Const | None, node: Node, what: str):
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


def _row_mant(c: Const, node: Node, rows_axis: int = 0):
    """--dyadic: the weight scale mantissa per output row (1.0 when all are 1)."""
    if c.mant is None or np.all(c.mant == 1):
        return 1.0
    m = np.moveaxis(c.mant, rows_axis, 0).reshape(c.mant.shape[rows_axis], -1)
    if np.any(m != m[:, :1]):
        raise OnnxImportError(f"{node.where}: weight scales vary within an output channel; "
                              f"expected one scale per tensor or per output channel")
    m = m[:, 0]
    return float(m[0]) if np.all(m == m[0]) else m


# -- quantizers ------------------------------------------------------------------------------

def _contains(inner: FixedFormat, outer: FixedFormat) -> bool:
    return (outer.frac_bits >= inner.frac_bits and outer.min <= inner.min
            and outer.max >= inner.max)


def apply_quant(b: Builder, x: Act, fmt: FixedFormat, node: Node, mant: float = 1.0) -> Act:
    """``x`` cast to ``fmt`` by a quantizer node (scale ``mant * 2**-frac``)."""
    if x.open == -1:
        b.input_fmt, b.input_scale = fmt, mant
        return Act(fmt, x.shape, x.kind, x.order, None, None, rscale=mant)
    ratio = np.asarray(x.rscale, dtype=np.float64) / mant
    if np.any(ratio != 1):
        _multiply(b, x, ratio, fmt, node)
        return Act(fmt, x.shape, x.kind, x.order, None, None, rscale=mant)
    if x.open is not None:
        b.layers[x.open]["output"] = str(fmt)
    elif x.fmt is not None and _contains(x.fmt, fmt):
        return x                        # the cast changes nothing
    elif x.fmt is None:
        raise OnnxImportError(f"{node.where}: its input is not quantized ({x.pending}) and "
                              f"no layer's output format can take this quantizer")
    else:
        _requantize(b, x, fmt)
    return Act(fmt, x.shape, x.kind, x.order, None, None, rscale=mant)


def _multiply(b: Builder, x: Act, ratio: np.ndarray, fmt: FixedFormat, node: Node) -> None:
    """--dyadic: multiply ``x`` by ``ratio`` (per channel or one number) ~ ``m / 2**c`` before
    the cast to ``fmt``: in the weights of the layer before, else in an identity layer."""
    m, c = dyadic_multiplier(ratio, b.dyadic)
    err = float(np.max(np.abs(m * 2.0 ** -c / ratio - 1)))
    b.approximations.append(f"{node.where}: scale ratio ~ m / 2**{c} (m of {b.dyadic} bits, "
                            f"relative error {err:.2g})")
    if x.scalable is not None:
        raw_w, wfmt, raw_b, bfmt, in_fmt = b.dense[x.scalable]
        rows = np.broadcast_to(m, (raw_w.shape[0],)).astype(np.int64)
        shape = (-1,) + (1,) * (raw_w.ndim - 1)
        nw, nb = raw_w * rows.reshape(shape), raw_b * rows
        b.dense[x.scalable] = (
            nw, FixedFormat.holding(int(nw.min()), int(nw.max()), wfmt.frac_bits + c, signed=True),
            nb, FixedFormat.holding(int(min(nb.min(), 0)), int(max(nb.max(), 0)),
                                    bfmt.frac_bits + c, signed=True), in_fmt)
        _resolve_dense(b, x.scalable)
        b.layers[x.open]["output"] = str(fmt)
        return
    if np.ndim(ratio) or x.kind != "vec" and len(x.shape) not in (2, 3):
        raise OnnxImportError(f"{node.where}: --dyadic needs a dense or conv layer before "
                              f"this quantizer (per-channel scales after other layers)")
    n = x.shape[0]
    if x.kind == "vec":
        _dense_layer(b, np.eye(n, dtype=np.int64) * int(m), FixedFormat.holding(
            0, int(m), c, signed=True), None, None, {"type": "dense", "units": n}, x.fmt)
    else:                                   # an image: a 1x1 convolution, one weight per channel
        nd, ch = len(x.shape) - 1, x.shape[0]
        w = np.eye(ch, dtype=np.int64).reshape(ch, *([1] * nd), ch) * int(m)
        _dense_layer(b, w, FixedFormat.holding(0, int(m), c, signed=True), None, None,
                     {"type": f"conv{nd}d", "filters": ch, "kernel": [1, 1] if nd == 2 else 1,
                      "stride": [1, 1] if nd == 2 else 1, "padding": "valid"}, x.fmt)
    b.layers[-1]["output"] = str(fmt)


def _requantize(b: Builder, x: Act, fmt: FixedFormat) -> None:
    """A layer that is the identity on ``x`` and carries the cast to ``fmt``: a relu for an
    unsigned tensor, a 1-wide average pool for an image, an identity dense for a vector."""
    if not x.fmt.signed:
        b.add({"type": "relu", "output": str(fmt)})
    elif x.kind != "vec":
        nd = len(x.shape) - 1
        one = [1, 1] if nd == 2 else 1
        b.add({"type": f"avgpool{nd}d", "pool": one, "stride": one, "output": str(fmt)})
    else:
        n = x.shape[0]
        _dense_layer(b, np.eye(n, dtype=np.int64), FixedFormat(2, 2, True), None, None,
                     {"type": "dense", "units": n}, x.fmt)
        b.layers[-1]["output"] = str(fmt)


def op_quant(b, node, x, consts):
    w = node.where
    scale, zp, bw = (_const(node, consts, k) for k in (1, 2, 3))
    check_zero_point(zp.value, w)
    f, m = split_scale(scale.value, w, b.dyadic is not None)
    if f.size != 1:
        raise OnnxImportError(f"{w}: per-channel scales on a dynamic tensor; expected one "
                              f"scale per tensor")
    fmt = quant_format(int(f.ravel()[0]), bw.scalar(w, "bit width"),
                       bool(node.attr("signed", 1)), bool(node.attr("narrow", 0)),
                       node.attr("rounding_mode", "ROUND").upper(), w)
    return apply_quant(b, x, fmt, node, float(m.ravel()[0]))


def op_quantize_linear(b, node, x, consts):
    w = node.where
    scale, zp = _const(node, consts, 1), _const(node, consts, 2, optional=True)
    check_zero_point(None if zp is None else zp.value, w)
    f, m = split_scale(scale.value, w, b.dyadic is not None)
    if f.size != 1:
        raise OnnxImportError(f"{w}: per-axis scales on a dynamic tensor; expected one scale "
                              f"per tensor")
    if zp is None:
        lo, hi = 0, 255
    else:
        lo, hi = zp.lo, zp.hi
    if lo is None:
        raise OnnxImportError(f"{w}: zero point is not an integer tensor")
    return QInt(x, int(f.ravel()[0]), lo, hi, w, float(m.ravel()[0]))


def op_clip_int(b, node, q: QInt, consts):
    lo, hi = _const(node, consts, 1, optional=True), _const(node, consts, 2, optional=True)
    nlo = q.lo if lo is None else max(q.lo, int(lo.scalar(node.where, "min")))
    nhi = q.hi if hi is None else min(q.hi, int(hi.scalar(node.where, "max")))
    return QInt(q.act, q.frac, nlo, nhi, q.where, q.mant)


def op_dequantize_linear(b, node, q: QInt, consts):
    w = node.where
    scale, zp = _const(node, consts, 1), _const(node, consts, 2, optional=True)
    check_zero_point(None if zp is None else zp.value, w)
    f, m = split_scale(scale.value, w, b.dyadic is not None)
    if f.size != 1 or int(f.ravel()[0]) != q.frac or float(m.ravel()[0]) != q.mant:
        raise OnnxImportError(f"{w}: scale {scale.value.ravel().tolist()} differs from its "
                              f"QuantizeLinear's; expected the same scale")
    return apply_quant(b, q.act, range_format(q.lo, q.hi, q.frac, w), node, q.mant)


# -- dense and conv --------------------------------------------------------------------------

def _dense_layer(b: Builder, raw_w, wfmt, raw_b, bfmt, doc: dict, in_fmt) -> Act:
    """Add a dense/conv layer: ``raw_w`` in fxp's tensor layout; returns its output."""
    units = raw_w.shape[0]
    if raw_b is None:
        raw_b, bfmt = np.zeros(units, dtype=np.int64), FixedFormat(1, 1, True)
    i = b.add(doc)
    b.dense[i] = (raw_w, wfmt, raw_b, bfmt, in_fmt)
    acc = _resolve_dense(b, i)
    return Act(acc, None, None, None, i, i, scalable=i)


def _resolve_dense(b: Builder, i: int) -> FixedFormat:
    raw_w, wfmt, raw_b, bfmt, in_fmt = b.dense[i]
    w2 = from_raw(raw_w.reshape(raw_w.shape[0], -1), wfmt)
    bq = from_raw(raw_b, bfmt)
    acc = accumulator_format(w2, in_fmt, bias=bq)
    doc = b.layers[i]
    doc.update(weight=str(wfmt), bias=str(bfmt), accumulator=str(acc), output=str(acc))
    b.params[f"{i}.weight"], b.params[f"{i}.bias"] = raw_w, raw_b
    return acc


def _bias(c: Const | None, node: Node, units: int, b: Builder, scale=1.0, frac: int = 0):
    """The bias's raw values and format; with --dyadic, its values in units of the
    accumulator's real scale ``scale`` (per row), at the products' ``frac`` fraction bits
    (rounded, and reported, when they do not land on that grid)."""
    if c is None:
        return None, None
    if np.all(np.asarray(scale) == 1) and (c.mant is None or np.all(c.mant == 1)):
        raw, fmt = _weights(c, node, "bias")
    else:
        if not c.quantized:
            _weights(c, node, "bias")                 # the error
        exact = c.value.reshape(-1) / np.broadcast_to(scale, (c.value.size,)) * 2.0 ** frac
        raw = np.rint(exact).astype(np.int64)
        if np.any(np.abs(exact - raw) > 1e-6):
            b.approximations.append(f"{node.where}: bias rounded to the accumulator's grid "
                                    f"2**-{frac}")
        fmt = FixedFormat.holding(int(min(raw.min(), 0)), int(max(raw.max(), 0)), frac,
                                  signed=True)
    raw = raw.reshape(-1)
    if raw.size != units:
        raise OnnxImportError(f"{node.where}: bias has {raw.size} values; expected {units}")
    return raw, fmt


def _in_scale(x: Act, node: Node) -> float:
    """--dyadic: the input's real scale, one number (a quantizer sets it)."""
    if np.ndim(x.rscale):
        raise OnnxImportError(f"{node.where}: its input has per-channel scales (no quantizer "
                              f"since the layer before); expected a quantizer before it")
    return float(x.rscale)


def op_gemm(b, node, x, consts):
    w = node.where
    fmt = _need_fmt(x, node)
    if x.kind != "vec":
        raise OnnxImportError(f"{w}: input shaped {list(x.shape)}; expected a vector (add a "
                              f"Flatten before it)")
    for k, want in (("alpha", 1.0), ("beta", 1.0), ("transA", 0)):
        if node.attr(k, want) != want:
            raise OnnxImportError(f"{w}: {k}={node.attr(k)!r}; expected {want}")
    wc = _const(node, consts, 1)
    raw, wfmt = _weights(wc, node, "weight")
    if raw.ndim != 2:
        raise OnnxImportError(f"{w}: weight shaped {list(raw.shape)}; expected a matrix")
    trans = node.attr("transB", 0)
    if trans == 0:
        raw = raw.T
    scale = _in_scale(x, node) * _row_mant(wc, node, 0 if trans else 1)
    bias = _bias(_const(node, consts, 2, optional=True), node, raw.shape[0], b, scale,
                 wfmt.frac_bits + fmt.frac_bits)
    return _matmul(b, node, x, fmt, raw, wfmt, *bias, scale)


def _matmul(b, node, x, fmt, raw, wfmt, raw_b, bfmt, scale=1.0):
    n = x.shape[0]
    if raw.shape[1] != n:
        raise OnnxImportError(f"{node.where}: weight has {raw.shape[1]} inputs; expected the "
                              f"{n} of its input")
    if x.order is not None:
        raw = raw[:, x.order]
    out = _dense_layer(b, np.ascontiguousarray(raw), wfmt, raw_b, bfmt,
                       {"type": "dense", "units": int(raw.shape[0])}, fmt)
    out.shape, out.kind, out.rscale = (int(raw.shape[0]),), "vec", scale
    return out


def op_matmul(b, node, x, consts):
    fmt = _need_fmt(x, node)
    if x.kind != "vec":
        raise OnnxImportError(f"{node.where}: input shaped {list(x.shape)}; expected a vector "
                              f"(add a Flatten before it)")
    wc = _const(node, consts, 1)
    raw, wfmt = _weights(wc, node, "weight")
    if raw.ndim != 2:
        raise OnnxImportError(f"{node.where}: weight shaped {list(raw.shape)}; expected a "
                              f"matrix")
    scale = _in_scale(x, node) * _row_mant(wc, node, 1)
    return _matmul(b, node, x, fmt, raw.T, wfmt, None, None, scale)


def op_add(b, node, x, consts):
    """``MatMul`` + ``Add``: a constant bias into the dense layer just before."""
    i = x.fresh
    c = _const(node, consts, 1)
    if i is None or b.layers[i]["type"] != "dense" or not np.all(b.params[f"{i}.bias"] == 0) \
            or b.dense[i][3] != FixedFormat(1, 1, True):
        raise OnnxImportError(f"{node.where}: expected a constant bias added to a MatMul's "
                              f"output (other additions are not supported)")
    raw_w, wfmt, _, _, in_fmt = b.dense[i]
    raw_b, bfmt = _bias(c, node, raw_w.shape[0], b, x.rscale,
                        wfmt.frac_bits + in_fmt.frac_bits)
    b.dense[i] = (raw_w, wfmt, raw_b, bfmt, in_fmt)
    acc = _resolve_dense(b, i)
    return Act(acc, x.shape, x.kind, None, i, i, rscale=x.rscale, scalable=i)


def _pads_mode(node, size, kernel, stride, what="pads") -> str:
    """``valid`` or ``same`` (TensorFlow's) for ONNX ``pads``/``auto_pad`` or an error."""
    nd = len(kernel)
    auto = node.attr("auto_pad", "NOTSET")
    pads = list(node.attr("pads", [0] * (2 * nd)))
    if auto == "VALID" or (auto == "NOTSET" and not any(pads)):
        return "valid"
    same = Window(size if nd == 2 else (size[0], 1), kernel if nd == 2 else (kernel[0], 1),
                  stride if nd == 2 else (stride[0], 1), "same", node.where)
    want = [p[0] for p in same.pads[:nd]] + [p[1] for p in same.pads[:nd]]
    if auto == "SAME_UPPER" or (auto == "NOTSET" and pads == want):
        return "same"
    raise OnnxImportError(f"{node.where}: {what} {pads if auto == 'NOTSET' else auto} for a "
                          f"{'x'.join(map(str, kernel))} window, stride "
                          f"{'x'.join(map(str, stride))} on {'x'.join(map(str, size))}; "
                          f"expected none (valid) or {want} (same)")


def _window_attrs(node, nd):
    w = node.where
    if any(d != 1 for d in node.attr("dilations", [1] * nd)):
        raise OnnxImportError(f"{w}: dilations {node.attr('dilations')}; expected 1")
    kernel = tuple(node.attr("kernel_shape"))
    stride = tuple(node.attr("strides", [1] * nd))
    return kernel, stride


def op_conv(b, node, x, consts):
    w = node.where
    fmt = _need_fmt(x, node)
    if x.kind != "cf" or len(x.shape) not in (2, 3):
        raise OnnxImportError(f"{w}: input shaped {list(x.shape)}; expected channels first "
                              f"(C, L) or (C, H, W)")
    if node.attr("group", 1) != 1:
        raise OnnxImportError(f"{w}: group={node.attr('group')}; expected 1")
    wc = _const(node, consts, 1)
    raw, wfmt = _weights(wc, node, "weight")
    nd = len(x.shape) - 1
    if "kernel_shape" not in node.attrs:
        node.attrs["kernel_shape"] = list(raw.shape[2:])
    kernel, stride = _window_attrs(node, nd)
    if raw.ndim != nd + 2 or raw.shape[1] != x.shape[0]:
        raise OnnxImportError(f"{w}: weight shaped {list(raw.shape)}; expected (filters, "
                              f"{x.shape[0]}, {', '.join(map(str, kernel))})")
    size = tuple(x.shape[1:])
    padding = _pads_mode(node, size, kernel, stride)
    raw = np.ascontiguousarray(np.moveaxis(raw, 1, -1))       # (F, kh, kw, C) / (F, k, C)
    filters = int(raw.shape[0])
    doc = {"type": "conv2d" if nd == 2 else "conv1d", "filters": filters,
           "kernel": list(kernel) if nd == 2 else int(kernel[0]),
           "stride": list(stride) if nd == 2 else int(stride[0]), "padding": padding}
    win = Window(size if nd == 2 else (size[0], 1), kernel if nd == 2 else (kernel[0], 1),
                 stride if nd == 2 else (stride[0], 1), padding, w)
    scale = _in_scale(x, node) * _row_mant(wc, node, 0)
    raw_b, bfmt = _bias(_const(node, consts, 2, optional=True), node, filters, b, scale,
                        wfmt.frac_bits + fmt.frac_bits)
    out = _dense_layer(b, raw, wfmt, raw_b, bfmt, doc, fmt)
    out.shape, out.kind, out.rscale = (filters, *win.out[:nd]), "cf", scale
    return out


def op_batchnorm(b, node, x, consts):
    """BatchNormalization folded into the conv/dense before it, when exact: a power-of-two
    scale per channel and a shift on a fixed-point grid."""
    w = node.where
    i = x.fresh
    if i is None:
        raise OnnxImportError(f"{w}: expected it right after a Conv, Gemm or MatMul (it is "
                              f"folded into their weights)")
    gamma, beta, mean, var = (np.asarray(_const(node, consts, k).value, dtype=np.float64)
                              for k in (1, 2, 3, 4))
    eps = float(np.float32(node.attr("epsilon", 1e-5)))
    s = gamma / np.sqrt(var.astype(np.float32) + np.float32(eps)).astype(np.float64)
    try:
        fs = pow2_frac(np.abs(s), w)
    except OnnxImportError:
        raise OnnxImportError(f"{w}: scale gamma / sqrt(var + eps) is not a power of two per "
                              f"channel; expected an exactly foldable batch norm (fold it "
                              f"before export)") from None
    t = beta - mean * s
    ft = 0
    while ft < 32 and np.any(t * 2.0 ** ft != np.round(t * 2.0 ** ft)):
        ft += 1
    if ft == 32:
        raise OnnxImportError(f"{w}: shift beta - mean * scale is not on a 2**-32 grid; "
                              f"expected an exactly foldable batch norm")
    raw_w, wfmt, raw_b, bfmt, in_fmt = b.dense[i]
    units = raw_w.shape[0]
    if s.size != units:
        raise OnnxImportError(f"{w}: {s.size} channels; expected {units}")
    sign = np.sign(s).astype(np.int64)
    # W * s: raw * sign * 2**-fs -> common fraction max(fs) more bits
    k = int(fs.max())
    shift = (k - fs).astype(np.int64)
    wshape = (units,) + (1,) * (raw_w.ndim - 1)
    nw = raw_w * (sign * (1 << shift)).reshape(wshape)
    nwfmt = FixedFormat.holding(int(nw.min()), int(nw.max()), wfmt.frac_bits + k, signed=True)
    # b * s + t on a common grid
    bf = max(bfmt.frac_bits + k, ft)
    nb = raw_b * sign * (1 << shift) * (1 << (bf - bfmt.frac_bits - k)) + \
        np.round(t * 2.0 ** bf).astype(np.int64)
    nbfmt = FixedFormat.holding(int(nb.min()), int(nb.max()), bf, signed=True)
    b.dense[i] = (nw, nwfmt, nb, nbfmt, in_fmt)
    acc = _resolve_dense(b, i)
    return Act(acc, x.shape, x.kind, x.order, i, i, rscale=x.rscale, scalable=i)


# -- element-wise ----------------------------------------------------------------------------

def _follows(x: Act):
    """The scalable layer a new open layer after ``x`` passes on (only when ``x`` is that
    layer's output itself, so no other layer's exact format depends on its scale)."""
    return x.scalable if x.scalable is not None and x.open == x.scalable else None


def _elementwise(b, node, x, doc, out_fmt) -> Act:
    i = b.add(doc)
    if out_fmt is not None:
        doc["output"] = str(out_fmt)
    return Act(out_fmt, x.shape, x.kind, x.order, i, None,
               None if out_fmt is not None else f"{node.where} needs a quantizer after it",
               x.rscale, _follows(x))


def op_relu(b, node, x, consts):
    fmt = _need_fmt(x, node)
    out = FixedFormat(fmt.bits - 1, fmt.int_bits - 1, False) if fmt.signed else \
        FixedFormat(fmt.bits, fmt.int_bits, False)
    if out.bits < 1:
        out = FixedFormat(1, fmt.int_bits, False)
    return _elementwise(b, node, x, {"type": "relu"}, out)


def op_leaky_relu(b, node, x, consts):
    fmt = _need_fmt(x, node)
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
        fmt = _need_fmt(x, node)
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


# -- pooling and shapes ----------------------------------------------------------------------

def _pool_common(node, x):
    w = node.where
    if x.kind != "cf" or len(x.shape) not in (2, 3):
        raise OnnxImportError(f"{w}: input shaped {list(x.shape)}; expected channels first "
                              f"(C, L) or (C, H, W)")
    nd = len(x.shape) - 1
    kernel, stride = _window_attrs(node, nd)
    size = tuple(x.shape[1:])
    mode = _pads_mode(node, size, kernel, stride)
    win = Window(size if nd == 2 else (size[0], 1), kernel if nd == 2 else (kernel[0], 1),
                 stride if nd == 2 else (stride[0], 1), "valid", w)
    if mode != "valid":
        raise OnnxImportError(f"{w}: padding; expected none (pooling layers have no padding)")
    if node.attr("ceil_mode", 0):
        ceil = [-(-(n - k) // s) + 1 for n, k, s in zip(size, kernel, stride)]
        if ceil != list(win.out[:nd]):
            raise OnnxImportError(f"{w}: ceil_mode=1 adds partial windows; expected "
                                  f"ceil_mode=0")
    doc = {"pool": list(kernel) if nd == 2 else int(kernel[0]),
           "stride": list(stride) if nd == 2 else int(stride[0])}
    return nd, doc, (x.shape[0], *win.out[:nd])


def op_maxpool(b, node, x, consts):
    _need_fmt(x, node)
    if len(node.outputs) > 1 and node.outputs[1]:
        raise OnnxImportError(f"{node.where}: its Indices output is used; expected only the "
                              f"values")
    nd, doc, shape = _pool_common(node, x)
    b.add({"type": f"maxpool{nd}d", **doc})
    return Act(x.fmt, shape, "cf", None, x.open, None, rscale=x.rscale, scalable=x.scalable)


def op_avgpool(b, node, x, consts):
    fmt = _need_fmt(x, node)
    nd, doc, shape = _pool_common(node, x)
    n = math.prod(node.attr("kernel_shape"))
    if n & (n - 1):
        raise OnnxImportError(f"{node.where}: a {n}-value window; expected a power-of-two "
                              f"window (the mean is an exact shift)")
    out = mean_format(fmt, n)
    i = b.add({"type": f"avgpool{nd}d", **doc, "output": str(out)})
    return Act(out, shape, "cf", None, i, None, rscale=x.rscale, scalable=_follows(x))


def op_global_avgpool(b, node, x, consts):
    fmt = _need_fmt(x, node)
    if x.kind != "cf" or len(x.shape) not in (2, 3):
        raise OnnxImportError(f"{node.where}: input shaped {list(x.shape)}; expected channels "
                              f"first (C, L) or (C, H, W)")
    n = math.prod(x.shape[1:])
    if n & (n - 1):
        raise OnnxImportError(f"{node.where}: a {n}-value image; expected a power-of-two "
                              f"number of pixels (the mean is an exact shift)")
    out = mean_format(fmt, n)
    i = b.add({"type": "global_avgpool", "output": str(out)})
    # ONNX keeps (C, 1, 1); fxp gives (C,): a vector in the same order
    return Act(out, (x.shape[0],), "vec", None, i, None, rscale=x.rscale, scalable=_follows(x))


def _flatten_to_vec(b, node, x) -> Act:
    if x.kind == "vec":
        return Act(x.fmt, (math.prod(x.shape),), "vec", x.order, x.open, None, x.pending,
                   x.rscale, x.scalable)
    if np.ndim(x.rscale):
        raise OnnxImportError(f"{node.where}: --dyadic: per-channel scales reach a flatten; "
                              f"expected a quantizer before it")
    b.add({"type": "flatten"})
    n = math.prod(x.shape)
    if x.kind == "cf":
        c, *sp = x.shape
        onnx_index = np.arange(n).reshape(c, *sp)          # ONNX (C, H, W) positions
        order = np.moveaxis(onnx_index, 0, -1).reshape(-1)  # fxp's (H, W, C) order
    else:
        order = None
    return Act(x.fmt, (n,), "vec", order, x.open, None, x.pending, x.rscale, x.scalable)


def op_flatten(b, node, x, consts):
    if node.attr("axis", 1) != 1:
        raise OnnxImportError(f"{node.where}: axis={node.attr('axis')}; expected 1 (keep the "
                              f"batch axis)")
    return _flatten_to_vec(b, node, x)


def op_reshape(b, node, x, consts):
    target = [int(d) for d in _const(node, consts, 1).value.ravel()]
    n = math.prod(x.shape)
    # the batch: kept (0), inferred (-1) or the exported batch size
    if len(target) == 2 and (target[0] >= 0 or target[0] == -1) and target[1] in (-1, n) \
            and not (target[0] == -1 and target[1] == -1):
        return _flatten_to_vec(b, node, x)
    raise OnnxImportError(f"{node.where}: target shape {target}; expected a flatten to "
                          f"(batch, {n})")


def op_transpose(b, node, x, consts):
    perm = list(node.attr("perm", []))
    want = {3: [0, 2, 3, 1], 2: [0, 2, 1]}.get(len(x.shape))
    if x.kind != "cf" or perm != want:
        what = {"cf": "channels-first", "cl": "channels-last", "vec": "vector"}[x.kind]
        raise OnnxImportError(f"{node.where}: perm {perm} on a {what} tensor shaped "
                              f"{list(x.shape)}; expected only channels first to channels "
                              f"last ({want or [0, 2, 3, 1]})")
    return Act(x.fmt, (*x.shape[1:], x.shape[0]), "cl", None, x.open, None, x.pending,
               x.rscale, x.scalable)


def op_identity(b, node, x, consts):
    return x


def op_trunc(b, node, x, consts):
    """QONNX ``Trunc``: ``round(x / scale)`` (exact: x must lie on the scale's grid), then a
    quantizer at the output scale (v2: ``output_scale``, ``output_bit_width``, ``signed``,
    ``narrow``, the rounding mode; v1 keeps the scale, so only ``input_bit_width ==
    output_bit_width`` leaves the value unchanged)."""
    w = node.where
    fmt = _need_fmt(x, node)
    if np.any(np.asarray(x.rscale) != 1):
        raise OnnxImportError(f"{w}: --dyadic: its input's scale is not a power of two; "
                              f"expected power-of-two scales around a Trunc")
    scale, zp, in_bw = (_const(node, consts, k) for k in (1, 2, 3))
    check_zero_point(zp.value, w)
    f = pow2_frac(scale.value, w)
    if f.size != 1:
        raise OnnxImportError(f"{w}: per-channel scales on a dynamic tensor; expected one "
                              f"scale per tensor")
    f = int(f.ravel()[0])
    if fmt.frac_bits > f:
        raise OnnxImportError(f"{w}: input {fmt} is finer than its scale 2**-{f}; expected "
                              f"the input on the scale's grid")
    rounding = str(node.attr("rounding_mode", "FLOOR")).upper()
    if len(node.inputs) >= 6:
        fo = pow2_frac(_const(node, consts, 4).value, w)
        if fo.size != 1:
            raise OnnxImportError(f"{w}: per-channel output scales; expected one scale")
        out = quant_format(int(fo.ravel()[0]), _const(node, consts, 5).scalar(w, "bit width"),
                           bool(node.attr("signed", 1)), bool(node.attr("narrow", 0)),
                           rounding, w)
        return apply_quant(b, x, out, node)
    drop = int(in_bw.scalar(w, "bit width") - _const(node, consts, 4).scalar(w, "bit width"))
    if drop:
        raise OnnxImportError(f"{w}: Trunc v1 dropping {drop} bits divides the value by "
                              f"2**{drop} at the same scale; expected the v2 form (with an "
                              f"output scale) or equal bit widths")
    return x


def op_bipolar(b, node, x, consts):
    raise OnnxImportError(f"{node.where}: binary (+1/-1) quantizers are not supported; "
                          f"expected Quant with a bit width of at least 2")


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


def _const(node: Node, consts: dict, k: int, optional: bool = False):
    if k >= len(node.inputs) or not node.inputs[k]:
        if optional:
            return None
        raise OnnxImportError(f"{node.where}: input {k} is missing")
    name = node.inputs[k]
    if name not in consts:
        raise OnnxImportError(f"{node.where}: input {k} is computed at run time; expected a "
                              f"constant")
    return consts[name]


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
    b = Builder(_ours(in_shape, kind), dyadic=dyadic)
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
    _finish_tables(b)
    info = {"input_scale": b.input_scale, "output_scale": float(y.rscale),
            "approximations": b.approximations}
    return b.input_shape, b.input_fmt, b.layers, b.params, info


def _finish_tables(b: Builder):
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
