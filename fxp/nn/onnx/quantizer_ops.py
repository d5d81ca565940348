"""Quantizers on the dynamic path: ``Quant``, ``QuantizeLinear`` [-> ``Clip``] ->
``DequantizeLinear`` and ``Trunc`` become the ``output`` format of the layer before.

A dense or conv layer's output is its exact accumulator until a quantizer follows (max
pooling, flatten and the NCHW -> channels-last transpose commute with a rounding, saturating
cast, so a quantizer after them still lands on the layer before). A quantizer on a tensor
already quantized is nothing when it changes no value, else an identity layer with its cast.
"""

from __future__ import annotations

import numpy as np

from ...format import FixedFormat
from .errors import OnnxImportError
from .graph import Node
from .quantizers import (check_zero_point, dyadic_multiplier, pow2_frac, quant_format,
                         range_format, split_scale)
from .state import Act, Builder, QInt, const_input, need_fmt
from .dense import dense_layer, resolve_dense

__all__ = ["apply_quant", "op_quant", "op_quantize_linear", "op_clip_int",
           "op_dequantize_linear", "op_trunc", "op_bipolar"]


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
        resolve_dense(b, x.scalable)
        b.layers[x.open]["output"] = str(fmt)
        return
    if np.ndim(ratio) or x.kind != "vec" and len(x.shape) not in (2, 3):
        raise OnnxImportError(f"{node.where}: --dyadic needs a dense or conv layer before "
                              f"this quantizer (per-channel scales after other layers)")
    n = x.shape[0]
    if x.kind == "vec":
        dense_layer(b, np.eye(n, dtype=np.int64) * int(m), FixedFormat.holding(
            0, int(m), c, signed=True), None, None, {"type": "dense", "units": n}, x.fmt)
    else:                                   # an image: a 1x1 convolution, one weight per channel
        nd, ch = len(x.shape) - 1, x.shape[0]
        w = np.eye(ch, dtype=np.int64).reshape(ch, *([1] * nd), ch) * int(m)
        dense_layer(b, w, FixedFormat.holding(0, int(m), c, signed=True), None, None,
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
        dense_layer(b, np.eye(n, dtype=np.int64), FixedFormat(2, 2, True), None, None,
                     {"type": "dense", "units": n}, x.fmt)
        b.layers[-1]["output"] = str(fmt)


def op_quant(b, node, x, consts):
    w = node.where
    scale, zp, bw = (const_input(node, consts, k) for k in (1, 2, 3))
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
    scale, zp = const_input(node, consts, 1), const_input(node, consts, 2, optional=True)
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
    """``Clip`` between QuantizeLinear and DequantizeLinear: narrows the integer range."""
    lo = const_input(node, consts, 1, optional=True)
    hi = const_input(node, consts, 2, optional=True)
    nlo = q.lo if lo is None else max(q.lo, int(lo.scalar(node.where, "min")))
    nhi = q.hi if hi is None else min(q.hi, int(hi.scalar(node.where, "max")))
    return QInt(q.act, q.frac, nlo, nhi, q.where, q.mant)


def op_dequantize_linear(b, node, q: QInt, consts):
    w = node.where
    scale, zp = const_input(node, consts, 1), const_input(node, consts, 2, optional=True)
    check_zero_point(None if zp is None else zp.value, w)
    f, m = split_scale(scale.value, w, b.dyadic is not None)
    if f.size != 1 or int(f.ravel()[0]) != q.frac or float(m.ravel()[0]) != q.mant:
        raise OnnxImportError(f"{w}: scale {scale.value.ravel().tolist()} differs from its "
                              f"QuantizeLinear's; expected the same scale")
    return apply_quant(b, q.act, range_format(q.lo, q.hi, q.frac, w), node, q.mant)


def op_trunc(b, node, x, consts):
    """QONNX ``Trunc``: ``round(x / scale)`` (exact: x must lie on the scale's grid), then a
    quantizer at the output scale (v2: ``output_scale``, ``output_bit_width``, ``signed``,
    ``narrow``, the rounding mode; v1 keeps the scale, so only ``input_bit_width ==
    output_bit_width`` leaves the value unchanged)."""
    w = node.where
    fmt = need_fmt(x, node)
    if np.any(np.asarray(x.rscale) != 1):
        raise OnnxImportError(f"{w}: --dyadic: its input's scale is not a power of two; "
                              f"expected power-of-two scales around a Trunc")
    scale, zp, in_bw = (const_input(node, consts, k) for k in (1, 2, 3))
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
        fo = pow2_frac(const_input(node, consts, 4).value, w)
        if fo.size != 1:
            raise OnnxImportError(f"{w}: per-channel output scales; expected one scale")
        out = quant_format(int(fo.ravel()[0]), const_input(node, consts, 5).scalar(w, "bit width"),
                           bool(node.attr("signed", 1)), bool(node.attr("narrow", 0)),
                           rounding, w)
        return apply_quant(b, x, out, node)
    drop = int(in_bw.scalar(w, "bit width") - const_input(node, consts, 4).scalar(w, "bit width"))
    if drop:
        raise OnnxImportError(f"{w}: Trunc v1 dropping {drop} bits divides the value by "
                              f"2**{drop} at the same scale; expected the v2 form (with an "
                              f"output scale) or equal bit widths")
    return x


def op_bipolar(b, node, x, consts):
    raise OnnxImportError(f"{node.where}: binary (+1/-1) quantizers are not supported; "
                          f"expected Quant with a bit width of at least 2")
