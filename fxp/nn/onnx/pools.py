"""Pooling: ``MaxPool``, ``AveragePool`` (power-of-two windows, exact mean) and
``GlobalAveragePool``, without padding."""

from __future__ import annotations

import math

from ..layers.pool import mean_format
from ..layers.window import Window
from .dense import pads_mode, window_attrs
from .elementwise import follows
from .errors import OnnxImportError
from .state import Act, need_fmt

__all__ = ["op_maxpool", "op_avgpool", "op_global_avgpool"]


def _pool_common(node, x):
    w = node.where
    if x.kind != "cf" or len(x.shape) not in (2, 3):
        raise OnnxImportError(f"{w}: input shaped {list(x.shape)}; expected channels first "
                              f"(C, L) or (C, H, W)")
    nd = len(x.shape) - 1
    kernel, stride = window_attrs(node, nd)
    size = tuple(x.shape[1:])
    mode = pads_mode(node, size, kernel, stride)
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
    need_fmt(x, node)
    if len(node.outputs) > 1 and node.outputs[1]:
        raise OnnxImportError(f"{node.where}: its Indices output is used; expected only the "
                              f"values")
    nd, doc, shape = _pool_common(node, x)
    b.add({"type": f"maxpool{nd}d", **doc})
    return Act(x.fmt, shape, "cf", None, x.open, None, rscale=x.rscale, scalable=x.scalable)


def op_avgpool(b, node, x, consts):
    fmt = need_fmt(x, node)
    nd, doc, shape = _pool_common(node, x)
    n = math.prod(node.attr("kernel_shape"))
    if n & (n - 1):
        raise OnnxImportError(f"{node.where}: a {n}-value window; expected a power-of-two "
                              f"window (the mean is an exact shift)")
    out = mean_format(fmt, n)
    i = b.add({"type": f"avgpool{nd}d", **doc, "output": str(out)})
    return Act(out, shape, "cf", None, i, None, rscale=x.rscale, scalable=follows(x))


def op_global_avgpool(b, node, x, consts):
    fmt = need_fmt(x, node)
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
    return Act(out, (x.shape[0],), "vec", None, i, None, rscale=x.rscale, scalable=follows(x))
