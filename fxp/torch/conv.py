"""Convolution, pooling and flatten modules: torch's NCHW tensors, the spec's channels-last layers.

The modules take and return tensors in torch's layout (``(batch, C, H, W)``, 1-D
``(batch, C, L)``) and export the spec's channels-last layers (``conv2d``, ``conv1d``,
``maxpool2d``, ``maxpool1d``, ``avgpool2d``, ``avgpool1d``, ``global_avgpool``, ``flatten``):
the weights ``(filters, C, kh, kw)`` are written ``(filters, kh, kw, C)``. Padding ``same``
is TensorFlow's, as in the spec (the smaller half of the zeros on top/left), which torch's
symmetric ``padding=`` cannot express. :class:`Flatten` orders features as the spec's
``flatten`` does (row-major over ``(H, W, C)``, like Keras, not torch's ``(C, H, W)``), so the
Linear after it exports unchanged.

Every sum is exact in float64 (checked as for :class:`~fxp.torch.Linear`), so in eval mode the
modules compute exactly the artifact's values.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..nn.fields import SpecError
from ..nn.layers.pool import mean_format
from ..nn.layers.window import Window
from .formats import FormatField
from .layers import MODULES, Layer, Linear, positive_arg, register_format

__all__ = ["Conv2d", "Conv1d", "MaxPool2d", "MaxPool1d", "AvgPool2d", "AvgPool1d",
           "GlobalAvgPool", "Flatten"]

_F64 = torch.float64


def _pair(value, what: str, one_d: bool) -> tuple:
    """``k`` or ``(kh, kw)`` as a pair (1-D: ``(k, 1)``)."""
    if one_d:
        return (positive_arg(value, what), 1)
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{what}: expected a positive integer or a pair of them, not {value!r}")
    return tuple(positive_arg(v, what) for v in value)


def _window(layer, shape, kernel, stride, padding) -> Window:
    """The windows over a sample of ``shape`` (torch layout), or a ValueError naming the
    layer."""
    rank = 2 if layer.one_d else 3
    if len(shape) != rank:
        want = "(C, L)" if layer.one_d else "(C, H, W)"
        raise ValueError(f"{layer.label}: expects samples shaped {want}, not {list(shape)}")
    size = (shape[1], 1) if layer.one_d else tuple(shape[1:])
    try:
        return Window(size, kernel, stride, padding, layer.label)
    except SpecError as e:
        raise ValueError(str(e)) from None


def _pad(x: torch.Tensor, win: Window, one_d: bool) -> torch.Tensor:
    """``x`` with the window's zeros around it (TensorFlow's ``same``)."""
    (t, b), (lf, r) = win.pads
    if one_d:
        return F.pad(x, (t, b)) if t or b else x
    return F.pad(x, (lf, r, t, b)) if t or b or lf or r else x


class Conv2d(Linear):
    """``conv2d``: a Linear over every ``kh x kw`` window (cross-correlation, as torch).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : {"valid", "same"}, default "valid"
        ``same`` is TensorFlow's (output ``ceil(in / stride)``, the smaller half of the zeros
        on top/left).
    weight, bias, output, accumulator, accumulator_bits, name
        As for :class:`~fxp.torch.Linear` (the accumulator sums ``kh * kw * in_channels``
        products per output; A2Q bounds each filter).

    Attributes
    ----------
    weight : torch.nn.Parameter
        ``(out_channels, in_channels, kh, kw)`` (torch's layout), float64, He-initialised.
    bias : torch.nn.Parameter
        ``(out_channels,)``, zeros.
    """

    spec_type = "conv2d"
    one_d = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, *, stride=1,
                 padding: str = "valid", weight, bias, accumulator="auto", output,
                 accumulator_bits: int | None = None, name: str | None = None):
        where = type(self).__name__
        self.kernel = _pair(kernel_size, f"{where} kernel_size", self.one_d)
        self.stride = _pair(stride, f"{where} stride", self.one_d)
        if padding not in ("valid", "same"):
            raise ValueError(f"{where} padding: expected 'valid' or 'same', not {padding!r}")
        self.padding = padding
        self.in_channels = positive_arg(in_channels, f"{where} in_channels")
        positive_arg(out_channels, f"{where} out_channels")
        k = self.kernel[0] if self.one_d else self.kernel[0] * self.kernel[1]
        super().__init__(self.in_channels * k, out_channels, weight=weight, bias=bias,
                         accumulator=accumulator, output=output,
                         accumulator_bits=accumulator_bits, name=name)
        shape = (out_channels, in_channels, *self.kernel[:1 if self.one_d else 2])
        with torch.no_grad():
            self.weight.data = self.weight.data.reshape(shape).contiguous()

    @classmethod
    def from_spec(cls, layer, shape, weights):
        k = layer.kernel[0] if cls.one_d else layer.kernel
        s = layer.stride[0] if cls.one_d else layer.stride
        m = cls(shape[0], layer.filters, k, stride=s, padding=layer.padding,
                weight=layer.weight.fmt, bias=layer.bias.fmt, accumulator=layer.accumulator.fmt,
                output=layer.output.fmt, name=layer.name)
        w = np.asarray(weights[f"{layer.index}.weight"], dtype=np.float64)
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(np.moveaxis(w, -1, 1)))
            m.bias.copy_(torch.from_numpy(np.asarray(weights[f"{layer.index}.bias"],
                                                     dtype=np.float64)))
        return m

    def fold(self, bn) -> None:
        raise ValueError(f"{self.label}: a BatchNorm1d cannot follow a {type(self).__name__} "
                         f"in fxp.torch (fold it before, or use fxp.nn's batchnorm)")

    def window(self, shape) -> Window:
        return _window(self, shape, self.kernel, self.stride, self.padding)

    def shape_out(self, shape):
        win = self.window(shape)
        if shape[0] != self.in_channels:
            raise ValueError(f"{self.label}: in_channels {self.in_channels} does not match the "
                             f"{shape[0]} channels of its input")
        return (self.out_features, win.out[0]) if self.one_d else (self.out_features, *win.out)

    def combine(self, x, w, b):
        win = self.window(tuple(x.shape[1:]))
        x = _pad(x, win, self.one_d)
        if self.one_d:
            return F.conv1d(x, w, b, stride=self.stride[0])
        return F.conv2d(x, w, b, stride=self.stride)

    def export(self, in_fmt):
        wq, bq, acc = self.quantized(in_fmt)
        if self.accumulator_bits is not None and acc.bits > self.accumulator_bits:
            raise ValueError(f"{self.label}: the A2Q constraint left a {acc.bits}-bit "
                             f"accumulator, more than {self.accumulator_bits}; call "
                             f"a2q_project() after each optimizer step")
        out = self.output.fmt()
        k, s = (self.kernel[0], self.stride[0]) if self.one_d else \
            (list(self.kernel), list(self.stride))
        entry = self._entry({"filters": self.out_features, "kernel": k, "stride": s,
                             "padding": self.padding, "weight": str(wq.fmt),
                             "bias": str(bq.fmt), "accumulator": str(acc), "output": str(out)})
        i = self.index
        fw = {f"{i}.weight": np.moveaxis(self.weight.detach().numpy(), 1, -1).copy(),
              f"{i}.bias": self.bias.detach().numpy().copy()}
        return entry, {"weight": np.moveaxis(wq.raw, 1, -1).copy(), "bias": bq.raw}, fw, out


class Conv1d(Conv2d):
    """``conv1d`` over ``(batch, C, L)`` tensors (see :class:`Conv2d`; ``kernel_size`` and
    ``stride`` are integers; weight ``(out_channels, in_channels, k)``)."""

    spec_type = "conv1d"
    one_d = True


class _Pool(Layer):
    """A pooling layer over ``valid`` windows (the spec's pools have no padding)."""

    one_d = False

    def __init__(self, kernel_size, stride=None, name: str | None = None):
        super().__init__(name)
        where = type(self).__name__
        self.kernel = _pair(kernel_size, f"{where} kernel_size", self.one_d)
        self.stride = self.kernel if stride is None else _pair(stride, f"{where} stride",
                                                                self.one_d)

    @classmethod
    def from_spec(cls, layer, shape, weights):
        k, s = (layer.pool[0], layer.stride[0]) if cls.one_d else (layer.pool, layer.stride)
        return cls(k, s, name=layer.name)

    def window(self, shape) -> Window:
        return _window(self, shape, self.kernel, self.stride, "valid")

    def shape_out(self, shape):
        win = self.window(shape)
        return (shape[0], win.out[0]) if self.one_d else (shape[0], *win.out)

    def reduce(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _view(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-1) if self.one_d else x

    def _unview(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1) if self.one_d else x

    def _fields(self) -> dict:
        if self.one_d:
            return {"pool": self.kernel[0], "stride": self.stride[0]}
        return {"pool": list(self.kernel), "stride": list(self.stride)}


class MaxPool2d(_Pool):
    """``maxpool2d``: the largest value of each window, in the input's format (exact).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Default: the kernel.
    name : str, optional
    """

    spec_type = "maxpool2d"

    def forward(self, x, in_fmt, mode):
        y = F.max_pool2d(self._view(x), self.kernel, self.stride)
        return self._unview(y), in_fmt

    def out_format(self, in_fmt):
        return in_fmt

    def export(self, in_fmt):
        return self._entry(self._fields()), {}, {}, in_fmt


class MaxPool1d(MaxPool2d):
    """``maxpool1d`` over ``(batch, C, L)`` (integer ``kernel_size`` and ``stride``)."""

    spec_type = "maxpool1d"
    one_d = True


class AvgPool2d(_Pool):
    """``avgpool2d``: the exact mean of each window (``kh * kw`` a power of two), then a cast
    to ``output`` (default: the mean's exact format, ``fxp.nn.layers.pool.mean_format``).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Default: the kernel.
    output : str, FixedFormat or mapping, optional
        As for the activations (``auto``, int_bits ``auto``/``learn``).
    name : str, optional
    """

    spec_type = "avgpool2d"

    def __init__(self, kernel_size, stride=None, *, output=None, name: str | None = None):
        super().__init__(kernel_size, stride, name)
        n = self.kernel[0] * self.kernel[1]
        if n & (n - 1):
            raise ValueError(f"{type(self).__name__} kernel_size: average pooling needs a "
                             f"power-of-two window (the mean is an exact shift), not {n} values")
        self.output = None
        if output is not None:
            self.output = FormatField(output, "output", True, f"{type(self).__name__} output")
            register_format(self, "output", self.output)

    @classmethod
    def from_spec(cls, layer, shape, weights):
        k, s = (layer.pool[0], layer.stride[0]) if cls.one_d else (layer.pool, layer.stride)
        out = None if layer.output is None else layer.output.fmt
        return cls(k, s, output=out, name=layer.name)

    def count(self) -> int:
        """Values per window."""
        return self.kernel[0] * self.kernel[1]

    def fields(self):
        return [] if self.output is None else [self.output]

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """The window means (exact in float64: power-of-two counts)."""
        return self._unview(F.avg_pool2d(self._view(x), self.kernel, self.stride))

    def forward(self, x, in_fmt, mode):
        pre = self.mean(x)
        if mode == "float":
            return pre, None
        if self.output is None:
            return pre, self.out_format(in_fmt)
        of = self.output
        if mode == "calibrate":
            of.calibrate(pre)
        if mode == "train":
            of.observe(pre)
        return of.quantize(pre, f"{self.op} output"), of.fmt()

    def out_format(self, in_fmt):
        if self.output is not None:
            return self.output.fmt()
        return mean_format(in_fmt, self.count())

    def export(self, in_fmt):
        fields = self._fields()
        if self.output is not None:
            fields["output"] = str(self.output.fmt())
        return self._entry(fields), {}, {}, self.out_format(in_fmt)


class AvgPool1d(AvgPool2d):
    """``avgpool1d`` over ``(batch, C, L)`` (integer ``kernel_size`` and ``stride``)."""

    spec_type = "avgpool1d"
    one_d = True


class GlobalAvgPool(AvgPool2d):
    """``global_avgpool``: each channel's exact mean over the whole image (``H * W`` or ``L``
    a power of two), ``(batch, C, ...)`` to ``(batch, C)``, then a cast to ``output``.

    Parameters
    ----------
    output : str, FixedFormat or mapping, optional
        Default: the mean's exact format.
    name : str, optional
    """

    spec_type = "global_avgpool"

    def __init__(self, *, output=None, name: str | None = None):
        super().__init__(1, output=output, name=name)
        self.size = None

    @classmethod
    def from_spec(cls, layer, shape, weights):
        return cls(output=None if layer.output is None else layer.output.fmt, name=layer.name)

    def shape_out(self, shape):
        if len(shape) not in (2, 3):
            raise ValueError(f"{self.label}: expects samples shaped (C, L) or (C, H, W), not "
                             f"{list(shape)}")
        n = math.prod(shape[1:])
        if n & (n - 1):
            raise ValueError(f"{self.label}: average pooling needs a power-of-two window (the "
                             f"mean is an exact shift), not {n} values ({list(shape[1:])})")
        self.size = n
        return (shape[0],)

    def count(self) -> int:
        if self.size is None:
            raise ValueError(f"{self.label}: its input shape is known once it is in a "
                             f"Sequential")
        return self.size

    def mean(self, x):
        return x.flatten(2).mean(dim=2)

    def export(self, in_fmt):
        fields = {} if self.output is None else {"output": str(self.output.fmt())}
        return self._entry(fields), {}, {}, self.out_format(in_fmt)


class Flatten(Layer):
    """``flatten``: ``(batch, C, H, W)`` or ``(batch, C, L)`` to ``(batch, features)``,
    row-major over ``(H, W, C)`` as the spec's flatten (and Keras), not torch's ``(C, H, W)``
    order: the Linear after it sees the artifact's features in the artifact's order."""

    spec_type = "flatten"

    def __init__(self, *, name: str | None = None):
        super().__init__(name)

    @classmethod
    def from_spec(cls, layer, shape, weights):
        return cls(name=layer.name)

    def shape_out(self, shape):
        return (math.prod(shape),)

    def forward(self, x, in_fmt, mode):
        if x.ndim > 2:
            x = x.permute(0, *range(2, x.ndim), 1)
        return x.reshape(x.shape[0], -1), in_fmt

    def out_format(self, in_fmt):
        return in_fmt

    def export(self, in_fmt):
        return self._entry({}), {}, {}, in_fmt


MODULES.update({cls.spec_type: cls for cls in (Conv2d, Conv1d, MaxPool2d, MaxPool1d,
                                               AvgPool2d, AvgPool1d, GlobalAvgPool, Flatten)})
