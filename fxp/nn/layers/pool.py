"""Pooling: ``maxpool2d``, ``avgpool2d``, ``maxpool1d``, ``avgpool1d`` and ``global_avgpool``.

Windows ``pool: [ph, pw]`` (1-D: ``pool: p``) with ``stride`` (default: the pool) over a
channels-last input, without padding (windows that do not fit are dropped, as Keras'
``valid``); each channel is pooled on its own.

- ``maxpool``: the largest raw value of the window, in the input's format (exact).
- ``avgpool``: the window needs ``n = 2**k`` values. ``sum`` is exact (format
  ``input.sum(n)``, which cannot overflow); the mean ``sum / n`` is the same raw integer read
  with ``k`` more fraction bits, the exact format ``<W + k, I>`` of an input ``<W, I>``; then
  ``out = cast(mean, output)``. ``output`` is optional and defaults to that exact format.
- ``global_avgpool``: avgpool over the whole ``(H, W)`` (or ``L``) image: output ``(C,)``;
  ``H * W`` must be a power of two.
"""

from __future__ import annotations

import numpy as np

from ... import accumulate
from ...array import FixedArray
from ...format import FixedFormat
from ..fields import FormatSpec, SpecError
from ..trainformat import TrainedFormat
from .base import Layer, Trainer
from .registry import register
from .window import Window, layer_window, parse_pair

__all__ = ["MaxPool2D", "AvgPool2D", "MaxPool1D", "AvgPool1D", "GlobalAvgPool",
           "mean_format"]


def mean_format(in_fmt: FixedFormat, count: int) -> FixedFormat:
    """The exact format of the mean of ``count = 2**k`` values of ``in_fmt``."""
    s = in_fmt.sum(count)
    return FixedFormat(s.bits, s.int_bits - (count.bit_length() - 1), in_fmt.signed)


def _power_of_two(n: int) -> bool:
    return n & (n - 1) == 0


class Pool(Layer):
    """A pooling layer over windows (subclasses: the reduction)."""

    REQUIRED = frozenset({"pool"})
    OPTIONAL = frozenset({"stride"})
    one_d = False
    pool = stride = None

    def parse_fields(self, body):
        where = self.label
        self.pool = parse_pair(body["pool"], f"{where} field 'pool'", self.one_d)
        self.stride = self.pool if "stride" not in body else \
            parse_pair(body["stride"], f"{where} field 'stride'", self.one_d)

    def dump_fields(self):
        if self.one_d:
            return {"pool": self.pool[0], "stride": self.stride[0]}
        return {"pool": list(self.pool), "stride": list(self.stride)}

    def window(self, shape) -> Window:
        """The windows over an input of ``shape`` (checked)."""
        return layer_window(shape, self.pool, self.stride, "valid", self.one_d, self.label)

    def output_shape(self, shape):
        out = self.window(shape).out
        return (out[0], shape[-1]) if self.one_d else (*out, shape[-1])

    def windows(self, raw: np.ndarray, shape) -> tuple:
        """``(values, window)``: ``raw`` ``(batch, *shape)`` as ``(batch, oh, ow, n, C)``."""
        win = self.window(shape)
        size = (shape[0], 1, shape[-1]) if len(shape) == 2 else tuple(shape)
        p = win.patches(raw.reshape(-1, *size))
        return p.reshape(*p.shape[:3], win.count, p.shape[-1]), win

    def _unwindow(self, g: np.ndarray, win: Window, shape) -> np.ndarray:
        g = g.reshape(*g.shape[:3], *win.kernel, g.shape[-1])
        return win.unpatch(g).reshape(g.shape[0], *shape)


class MaxPool(Pool):
    """The maximum of each window, in the input's format."""

    def output_format(self, shape, in_fmt, tensors):
        return in_fmt

    def forward(self, x, tensors, label):
        v, _ = self.windows(x.raw, x.shape[1:])
        return FixedArray.trusted(v.max(axis=3), x.fmt).reshape(x.shape[0], *self.output_shape(
            x.shape[1:]))

    def trainer(self, shape, rng, input_scale, previous):
        return MaxPoolTrainer(self, shape)


class MaxPoolTrainer(Trainer):
    """The gradient goes to the first maximum of each window (ties: the lowest position)."""

    def forward(self, fx, val, in_fmt, mode, train):
        n = val.shape[0]
        if fx is not None:
            fx = self.layer.forward(fx, {}, f"layer {self.index} {self.layer.type}")
        v, win = self.layer.windows(val, self.shape)
        idx = v.argmax(axis=3)[:, :, :, None]
        out = np.take_along_axis(v, idx, axis=3)[:, :, :, 0].reshape(n, *self.out_shape)
        return fx, out, in_fmt, {"idx": idx, "win": win, "vshape": v.shape}

    def backward(self, c, grad, grads):
        g = np.zeros(c["vshape"])
        np.put_along_axis(g, c["idx"], grad.reshape(*c["vshape"][:3], 1, c["vshape"][-1]),
                          axis=3)
        return self.layer._unwindow(g, c["win"], self.shape)


class AvgPool(Pool):
    """The exact mean of each window (a power-of-two count), cast to ``output``."""

    OPTIONAL = frozenset({"stride", "output"})
    FORMATS = ("output",)

    def parse_fields(self, body):
        super().parse_fields(body)
        n = self.pool[0] * self.pool[1]
        if not _power_of_two(n):
            raise SpecError(f"{self.label} field 'pool': average pooling needs a power-of-two "
                            f"window (the mean is an exact shift), not {n} values")

    def count(self, shape) -> int:
        """Values per window."""
        return self.pool[0] * self.pool[1]

    def output_format(self, shape, in_fmt, tensors):
        return self.output.fmt if self.output is not None else \
            mean_format(in_fmt, self.count(shape))

    def apply(self, x: FixedArray, out_fmt: FixedFormat | None, label: str) -> FixedArray:
        """The pooled values of ``x`` cast to ``out_fmt`` (None: the exact mean)."""
        shape = x.shape[1:]
        v, _ = self.windows(x.raw, shape)
        s = accumulate.sum(FixedArray.trusted(v, x.fmt), axis=3, label=f"{label} accumulator")
        mean = FixedArray.trusted(s.raw, mean_format(x.fmt, self.count(shape)))
        mean = mean.reshape(x.shape[0], *self.output_shape(shape))
        return mean if out_fmt is None else mean.cast(out_fmt, label=f"{label} output")

    def forward(self, x, tensors, label):
        return self.apply(x, None if self.output is None else self.output.fmt, label)

    def trainer(self, shape, rng, input_scale, previous):
        return AvgPoolTrainer(self, shape)


class AvgPoolTrainer(Trainer):
    """Float mean forward and its adjoint; QAT through the exact mean and the output cast
    (a trained ``output`` as for the element-wise layers)."""

    def __init__(self, layer: AvgPool, shape):
        super().__init__(layer, shape)
        self.output = None if layer.output is None else \
            TrainedFormat(layer.output, "output", True, f"{layer.label} output")

    def parameters(self):
        f = None if self.output is None else self.output.f
        return [] if f is None else [(f"{self.index}.output.f", f)]

    def trained_formats(self):
        return [] if self.output is None else [self.output]

    def out_format(self, in_fmt):
        return mean_format(in_fmt, self.layer.count(self.shape)) if self.output is None else \
            self.output.fmt()

    def forward(self, fx, val, in_fmt, mode, train):
        n = val.shape[0]
        v, win = self.layer.windows(val, self.shape)
        pre = v.mean(axis=3).reshape(n, *self.out_shape)
        c = {"win": win, "vshape": v.shape}
        if mode == "float":
            return None, pre, None, c
        if self.output is not None:
            if mode == "calibrate":
                self.output.calibrate(pre)
            self.output.observe(pre)
        fmt = self.out_format(in_fmt)
        fx = self.layer.apply(fx, fmt, f"layer {self.index} {self.layer.type}")
        c.update(pre=pre, mask=(pre >= fmt.min) & (pre <= fmt.max))
        return fx, fx.to_float(), fmt, c

    def backward(self, c, grad, grads):
        if "pre" in c and self.output is not None and self.output.f is not None:
            grads[f"{self.index}.output.f"] = self.output.lsq_grad(c["pre"], grad)
        if "mask" in c:
            grad = grad * c["mask"]
        vs = c["vshape"]
        g = np.broadcast_to(grad.reshape(*vs[:3], 1, vs[-1]) / vs[3], vs)
        return self.layer._unwindow(g, c["win"], self.shape)

    def resolve(self, in_fmt, a2q_bits):
        out = self.out_format(in_fmt)
        layer = self.layer.replace() if self.output is None else \
            self.layer.replace(output=FormatSpec(fmt=out))
        return layer, {}, out


@register
class MaxPool2D(MaxPool):
    """2-D max pooling."""

    type = "maxpool2d"


@register
class MaxPool1D(MaxPool):
    """1-D max pooling (``pool: p``)."""

    type = "maxpool1d"
    one_d = True


@register
class AvgPool2D(AvgPool):
    """2-D average pooling over power-of-two windows."""

    type = "avgpool2d"


@register
class AvgPool1D(AvgPool):
    """1-D average pooling over power-of-two windows."""

    type = "avgpool1d"
    one_d = True


@register
class GlobalAvgPool(AvgPool):
    """The mean of each channel over the whole ``(H, W)`` or ``L`` image; output ``(C,)``."""

    type = "global_avgpool"
    REQUIRED = frozenset()
    OPTIONAL = frozenset({"output"})

    def parse_fields(self, body):
        pass

    def dump_fields(self):
        return {}

    def count(self, shape) -> int:
        return int(np.prod(shape[:-1]))

    def window(self, shape) -> Window:
        if len(shape) not in (2, 3):
            raise SpecError(f"{self.label}: expects an input shaped [H, W, C] or [L, C], not "
                            f"{list(shape)}")
        n = self.count(shape)
        if not _power_of_two(n):
            raise SpecError(f"{self.label}: average pooling needs a power-of-two window (the "
                            f"mean is an exact shift), not {n} values ({list(shape[:-1])})")
        size = (shape[0], 1) if len(shape) == 2 else shape[:2]
        return Window(size, size, size, "valid", self.label)

    def output_shape(self, shape):
        self.window(shape)
        return (shape[-1],)
