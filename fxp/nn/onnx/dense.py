"""Dense and conv layers: ``Gemm``, ``MatMul`` + ``Add``, ``Conv`` (1-D, 2-D) and a folded
``BatchNormalization``; accumulators from :func:`fxp.accumulator_format`.

Conv weights ``(F, C, kh, kw)`` become fxp's ``(F, kh, kw, C)``; a dense layer after an ONNX
``Flatten`` of ``(C, H, W)`` gets its weight columns permuted to fxp's channels-last order.
"""

from __future__ import annotations

import numpy as np

from ...array import from_raw
from ...bounds import accumulator_format
from ...format import FixedFormat
from ..layers.window import Window
from .errors import OnnxImportError
from .graph import Const, Node
from .quantizers import pow2_frac
from .state import Act, Builder, const_input, input_scale, need_fmt, quantized_weights, row_mant

__all__ = ["dense_layer", "resolve_dense", "pads_mode", "window_attrs", "op_gemm", "op_matmul",
           "op_add", "op_conv", "op_batchnorm"]


def dense_layer(b: Builder, raw_w, wfmt, raw_b, bfmt, doc: dict, in_fmt) -> Act:
    """Add a dense/conv layer: ``raw_w`` in fxp's tensor layout; returns its output."""
    units = raw_w.shape[0]
    if raw_b is None:
        raw_b, bfmt = np.zeros(units, dtype=np.int64), FixedFormat(1, 1, True)
    i = b.add(doc)
    b.dense[i] = (raw_w, wfmt, raw_b, bfmt, in_fmt)
    acc = resolve_dense(b, i)
    return Act(acc, None, None, None, i, i, scalable=i)


def resolve_dense(b: Builder, i: int) -> FixedFormat:
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
        raw, fmt = quantized_weights(c, node, "bias")
    else:
        if not c.quantized:
            quantized_weights(c, node, "bias")                 # the error
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


def op_gemm(b, node, x, consts):
    w = node.where
    fmt = need_fmt(x, node)
    if x.kind != "vec":
        raise OnnxImportError(f"{w}: input shaped {list(x.shape)}; expected a vector (add a "
                              f"Flatten before it)")
    for k, want in (("alpha", 1.0), ("beta", 1.0), ("transA", 0)):
        if node.attr(k, want) != want:
            raise OnnxImportError(f"{w}: {k}={node.attr(k)!r}; expected {want}")
    wc = const_input(node, consts, 1)
    raw, wfmt = quantized_weights(wc, node, "weight")
    if raw.ndim != 2:
        raise OnnxImportError(f"{w}: weight shaped {list(raw.shape)}; expected a matrix")
    trans = node.attr("transB", 0)
    if trans == 0:
        raw = raw.T
    scale = input_scale(x, node) * row_mant(wc, node, 0 if trans else 1)
    bias = _bias(const_input(node, consts, 2, optional=True), node, raw.shape[0], b, scale,
                 wfmt.frac_bits + fmt.frac_bits)
    return _matmul(b, node, x, fmt, raw, wfmt, *bias, scale)


def _matmul(b, node, x, fmt, raw, wfmt, raw_b, bfmt, scale=1.0):
    n = x.shape[0]
    if raw.shape[1] != n:
        raise OnnxImportError(f"{node.where}: weight has {raw.shape[1]} inputs; expected the "
                              f"{n} of its input")
    if x.order is not None:
        raw = raw[:, x.order]
    out = dense_layer(b, np.ascontiguousarray(raw), wfmt, raw_b, bfmt,
                       {"type": "dense", "units": int(raw.shape[0])}, fmt)
    out.shape, out.kind, out.rscale = (int(raw.shape[0]),), "vec", scale
    return out


def op_matmul(b, node, x, consts):
    fmt = need_fmt(x, node)
    if x.kind != "vec":
        raise OnnxImportError(f"{node.where}: input shaped {list(x.shape)}; expected a vector "
                              f"(add a Flatten before it)")
    wc = const_input(node, consts, 1)
    raw, wfmt = quantized_weights(wc, node, "weight")
    if raw.ndim != 2:
        raise OnnxImportError(f"{node.where}: weight shaped {list(raw.shape)}; expected a "
                              f"matrix")
    scale = input_scale(x, node) * row_mant(wc, node, 1)
    return _matmul(b, node, x, fmt, raw.T, wfmt, None, None, scale)


def op_add(b, node, x, consts):
    """``MatMul`` + ``Add``: a constant bias into the dense layer just before."""
    i = x.fresh
    c = const_input(node, consts, 1)
    if i is None or b.layers[i]["type"] != "dense" or not np.all(b.params[f"{i}.bias"] == 0) \
            or b.dense[i][3] != FixedFormat(1, 1, True):
        raise OnnxImportError(f"{node.where}: expected a constant bias added to a MatMul's "
                              f"output (other additions are not supported)")
    raw_w, wfmt, _, _, in_fmt = b.dense[i]
    raw_b, bfmt = _bias(c, node, raw_w.shape[0], b, x.rscale,
                        wfmt.frac_bits + in_fmt.frac_bits)
    b.dense[i] = (raw_w, wfmt, raw_b, bfmt, in_fmt)
    acc = resolve_dense(b, i)
    return Act(acc, x.shape, x.kind, None, i, i, rscale=x.rscale, scalable=i)


def pads_mode(node, size, kernel, stride, what="pads") -> str:
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


def window_attrs(node, nd):
    w = node.where
    if any(d != 1 for d in node.attr("dilations", [1] * nd)):
        raise OnnxImportError(f"{w}: dilations {node.attr('dilations')}; expected 1")
    kernel = tuple(node.attr("kernel_shape"))
    stride = tuple(node.attr("strides", [1] * nd))
    return kernel, stride


def op_conv(b, node, x, consts):
    w = node.where
    fmt = need_fmt(x, node)
    if x.kind != "cf" or len(x.shape) not in (2, 3):
        raise OnnxImportError(f"{w}: input shaped {list(x.shape)}; expected channels first "
                              f"(C, L) or (C, H, W)")
    if node.attr("group", 1) != 1:
        raise OnnxImportError(f"{w}: group={node.attr('group')}; expected 1")
    wc = const_input(node, consts, 1)
    raw, wfmt = quantized_weights(wc, node, "weight")
    nd = len(x.shape) - 1
    if "kernel_shape" not in node.attrs:
        node.attrs["kernel_shape"] = list(raw.shape[2:])
    kernel, stride = window_attrs(node, nd)
    if raw.ndim != nd + 2 or raw.shape[1] != x.shape[0]:
        raise OnnxImportError(f"{w}: weight shaped {list(raw.shape)}; expected (filters, "
                              f"{x.shape[0]}, {', '.join(map(str, kernel))})")
    size = tuple(x.shape[1:])
    padding = pads_mode(node, size, kernel, stride)
    raw = np.ascontiguousarray(np.moveaxis(raw, 1, -1))       # (F, kh, kw, C) / (F, k, C)
    filters = int(raw.shape[0])
    doc = {"type": "conv2d" if nd == 2 else "conv1d", "filters": filters,
           "kernel": list(kernel) if nd == 2 else int(kernel[0]),
           "stride": list(stride) if nd == 2 else int(stride[0]), "padding": padding}
    win = Window(size if nd == 2 else (size[0], 1), kernel if nd == 2 else (kernel[0], 1),
                 stride if nd == 2 else (stride[0], 1), padding, w)
    scale = input_scale(x, node) * row_mant(wc, node, 0)
    raw_b, bfmt = _bias(const_input(node, consts, 2, optional=True), node, filters, b, scale,
                        wfmt.frac_bits + fmt.frac_bits)
    out = dense_layer(b, raw, wfmt, raw_b, bfmt, doc, fmt)
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
    gamma, beta, mean, var = (np.asarray(const_input(node, consts, k).value, dtype=np.float64)
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
    acc = resolve_dense(b, i)
    return Act(acc, x.shape, x.kind, x.order, i, i, rscale=x.rscale, scalable=i)
