"""``conv2d``: a dense layer over every window of a channels-last ``(H, W, C)`` input.

For each output pixel ``(y, x)`` and filter ``f``:
``acc[n, y, x, f] = sum_{i, j, c} W[f, i, j, c] * in[n, y * sh + i - top, x * sw + j - left, c]
+ bias[f]``, where inputs outside the image are 0 (``padding: same``; TensorFlow's: output
``ceil(in / stride)``, ``max((out - 1) * stride + k - in, 0)`` zeros in total per axis, the
smaller half on top/left; ``valid``: no padding, ``out = (in - k) // stride + 1``). The sum is
exact and wrapped modulo ``2**acc.bits`` (a WRAP accumulator holding every product's fraction
bits; ``auto``: ``fxp.accumulator_format`` over each filter's ``kh * kw * C`` weights, which
cannot overflow; overflow is reported, never silent), then ``out = cast(acc, output)``.
Tensors: ``"<i>.weight"`` ``(filters, kh, kw, C)``, ``"<i>.bias"`` ``(filters,)``. Output
``(oh, ow, filters)``. A batchnorm after it folds in per filter, as for dense.
"""

from __future__ import annotations

import numpy as np

from ...array import FixedArray
from ...format import FixedFormat
from ..fields import SpecError, positive_int
from .base import Layer
from .dense import Dense, DenseTrainer, dense
from .registry import register
from .window import PADDINGS, Window, layer_window, parse_pair

__all__ = ["Conv2D", "conv2d", "ConvTrainer"]


def conv2d(x: FixedArray, weight: FixedArray, bias: FixedArray | None, acc: FixedFormat,
           output: FixedFormat, stride=(1, 1), padding: str = "valid",
           label: str = "conv2d") -> FixedArray:
    """2-D convolution (cross-correlation, like Keras and torch) on raw integers: im2col, then
    :func:`fxp.nn.layers.dense.dense` over every window (see the module docstring).

    Parameters
    ----------
    x : FixedArray
        ``(batch, H, W, C)``.
    weight : FixedArray
        ``(filters, kh, kw, C)``.
    bias : FixedArray or None
        ``(filters,)``.
    acc, output : FixedFormat
    stride : tuple of int
    padding : {"valid", "same"}
    label : str
        Prefixes the overflow records (``"<label> accumulator"``, ``"<label> output"``).

    Returns
    -------
    FixedArray
        ``(batch, oh, ow, filters)`` in ``output``.
    """
    f, kh, kw, c = weight.shape
    if x.ndim != 4 or x.shape[3] != c:
        raise ValueError(f"{label}: inputs must be shaped (batch, H, W, {c}), not {x.shape}")
    win = Window(x.shape[1:3], (kh, kw), stride, padding, label)
    cols = win.patches(x.raw).reshape(x.shape[0], *win.out, kh * kw * c)
    # (batch, oh, ow, K) @ (K, filters): overflow records index (image, y, x, filter)
    return dense(FixedArray.trusted(cols, x.fmt), weight.reshape(f, -1), bias, acc, output,
                 label)


@register
class Conv2D(Layer):
    """A 2-D convolution (see the module docstring for its semantics)."""

    type = "conv2d"
    REQUIRED = frozenset({"filters", "kernel", "weight", "bias", "accumulator", "output"})
    OPTIONAL = frozenset({"stride", "padding"})
    FORMATS = ("weight", "bias", "accumulator", "output")
    folds_batchnorm = True
    configurable = True     # strategy, reuse, pipeline of the dense over each window
    one_d = False       # conv1d: (L, C) inputs seen as (L, 1, C)

    filters = None
    kernel = None
    stride = (1, 1)
    padding = "valid"

    check_accumulator_field = Dense.check_accumulator_field
    check_resolved = Dense.check_resolved

    def parse_fields(self, body):
        where = self.label
        self.filters = positive_int(body["filters"], f"{where} field 'filters'")
        self.kernel = parse_pair(body["kernel"], f"{where} field 'kernel'", self.one_d)
        if "stride" in body:
            self.stride = parse_pair(body["stride"], f"{where} field 'stride'", self.one_d)
        if "padding" in body:
            if body["padding"] not in PADDINGS:
                raise SpecError(f"{where} field 'padding': expected valid or same, not "
                                f"{body['padding']!r}")
            self.padding = body["padding"]
        self.check_accumulator_field()

    def dump_fields(self):
        k, s = (self.kernel[0], self.stride[0]) if self.one_d else \
            (list(self.kernel), list(self.stride))
        return {"filters": self.filters, "kernel": k, "stride": s, "padding": self.padding}

    def dump(self):
        out = super().dump()          # type, name, formats, then the fields: fields first
        head = {k: out.pop(k) for k in ("type", "name") if k in out}
        fields = {k: out.pop(k) for k in self.dump_fields()}
        return {**head, **fields, **out}

    def window(self, shape) -> Window:
        """The layer's windows over an input of ``shape`` (checked)."""
        return layer_window(shape, self.kernel, self.stride, self.padding, self.one_d, self.label)

    def output_shape(self, shape):
        out = self.window(shape).out
        return (out[0], self.filters) if self.one_d else (*out, self.filters)

    def weight_shape(self, shape) -> tuple:
        """The artifact's weight tensor shape for an input of ``shape``."""
        k = self.kernel[:1] if self.one_d else self.kernel
        return (self.filters, *k, shape[-1])

    def fold_inputs(self, shape) -> int:
        """A window's ``kh * kw * C`` inputs."""
        return int(np.prod(self.weight_shape(shape)[1:]))

    def tensors(self, shape, in_fmt):
        return {"weight": (self.weight_shape(shape), self.weight.fmt),
                "bias": ((self.filters,), self.bias.fmt)}

    def forward(self, x, tensors, label):
        return conv2d(x, tensors["weight"], tensors["bias"], self.accumulator.fmt,
                      self.output.fmt, self.stride, self.padding, label)

    def trainer(self, shape, rng, input_scale, previous):
        return ConvTrainer(self, shape, rng, input_scale)


class ConvTrainer(DenseTrainer):
    """A dense trainer over the windows (im2col forward, col2im backward): QAT, A2Q per
    filter, learned binary points and batchnorm folding as for dense."""

    def __init__(self, layer: Conv2D, shape, rng, input_scale):
        self.win = layer.window(shape)
        self.size = (shape[0], 1, shape[1]) if layer.one_d else tuple(shape)
        wshape = layer.weight_shape(shape)
        super().__init__(layer, shape, rng, input_scale, units=layer.filters,
                         fan_in=int(np.prod(wshape[1:])), weight_shape=wshape)

    def _cols(self, a: np.ndarray) -> np.ndarray:
        return self.win.patches(a.reshape(-1, *self.size)).reshape(-1, self.W.shape[1])

    def forward(self, fx, val, in_fmt, mode, train):
        n = val.shape[0]
        cols = None if fx is None else FixedArray.trusted(self._cols(fx.raw), fx.fmt)
        fx, out, out_fmt, c = super().forward(cols, self._cols(val), in_fmt, mode, train)
        c["n"] = n
        shape = (n, *self.out_shape)
        return (None if fx is None else fx.reshape(*shape)), out.reshape(shape), out_fmt, c

    def backward(self, c, grad, grads):
        g = super().backward(c, grad.reshape(-1, self.layer.filters), grads)
        kh, kw = self.win.kernel
        g = g.reshape(c["n"], *self.win.out, kh, kw, self.size[-1])
        return self.win.unpatch(g).reshape(c["n"], *self.shape)
