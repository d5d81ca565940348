"""``conv1d``: :mod:`conv2d <fxp.nn.layers.conv2d>` over an ``(L, C)`` input, seen as ``(L, 1, C)``.

``kernel: k`` and ``stride: s`` are integers; the semantics (padding, exact WRAP accumulator,
output cast) are conv2d's with a ``k x 1`` kernel. Tensors: ``"<i>.weight"``
``(filters, k, C)``, ``"<i>.bias"`` ``(filters,)``. Output ``(out, filters)``.
"""

from __future__ import annotations

from .conv2d import Conv2D
from .registry import register

__all__ = ["Conv1D"]


@register
class Conv1D(Conv2D):
    """A 1-D convolution over the first axis of ``(L, C)`` inputs."""

    type = "conv1d"
    one_d = True
    stride = (1, 1)
