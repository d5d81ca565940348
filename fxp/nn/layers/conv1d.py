"""``conv1d``: :mod:`conv2d <fxp.nn.layers.conv2d>` over an ``(L, C)`` input, seen as ``(L, 1, C)``.

``kernel: k`` and ``stride: s`` are integers; the semantics (padding, exact WRAP accumulator,
output cast) are conv2d's with a ``k x 1`` kernel. Tensors: ``"<i>.weight"``
``(filters, k, C)``, ``"<i>.bias"`` ``(filters,)``. Output ``(out, filters)``.
"""

from __future__ import annotations

from ...array import FixedArray
from ...format import FixedFormat
from .conv2d import Conv2D
from .dense import dense
from .registry import register
from .window import Window

__all__ = ["Conv1D", "conv1d"]


def conv1d(x: FixedArray, weight: FixedArray, bias: FixedArray | None, acc: FixedFormat,
           output: FixedFormat, stride: int = 1, padding: str = "valid",
           label: str = "conv1d") -> FixedArray:
    """1-D convolution: ``x`` ``(batch, L, C)``, ``weight`` ``(filters, k, C)``; returns
    ``(batch, out, filters)`` in ``output`` (see :func:`fxp.nn.layers.conv2d.conv2d`)."""
    f, k, c = weight.shape
    if x.ndim != 3 or x.shape[2] != c:
        raise ValueError(f"{label}: inputs must be shaped (batch, L, {c}), not {x.shape}")
    win = Window((x.shape[1], 1), (k, 1), (stride, 1), padding, label)
    cols = win.patches(x.raw.reshape(x.shape[0], x.shape[1], 1, c))
    cols = cols.reshape(x.shape[0], win.out[0], k * c)
    return dense(FixedArray.trusted(cols, x.fmt), weight.reshape(f, -1), bias, acc, output,
                 label)


@register
class Conv1D(Conv2D):
    """A 1-D convolution over the first axis of ``(L, C)`` inputs."""

    type = "conv1d"
    one_d = True
    stride = (1, 1)

    def forward(self, x, tensors, label):
        return conv1d(x, tensors["weight"], tensors["bias"], self.accumulator.fmt,
                      self.output.fmt, self.stride[0], self.padding, label)
