"""Layout ops: ``Flatten`` and ``Reshape`` to a vector, the NCHW -> channels-last
``Transpose``, ``Identity``/``Dropout``.

ONNX tensors are channels first; fxp's channels last. ONNX's ``Flatten`` of ``(C, H, W)``
orders values ``c * H * W + y * W + x`` where fxp's flatten gives ``(y * W + x) * C + c``: the
vector remembers the order, and the next dense layer permutes its weight columns.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import OnnxImportError
from .state import Act, const_input

__all__ = ["op_flatten", "op_reshape", "op_transpose", "op_identity"]


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
    target = [int(d) for d in const_input(node, consts, 1).value.ravel()]
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
