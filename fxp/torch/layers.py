"""Modules mirroring the spec's layers: QAT through the very fxp casts, exact in eval mode.

Every module computes in float64 (exact for fixed-point values of at most 53 bits) and is
composed with :class:`Sequential`, which carries each tensor's format from layer to layer. A
module's ``forward(x, in_fmt, mode)`` returns ``(y, out_fmt)``; ``mode`` is ``"train"``,
``"eval"``, ``"calibrate"`` (eval that first sets every open format's range from the values it
is about to quantize) or ``"float"`` (no quantization at all).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..bounds import accumulator_format
from ..format import FixedFormat, Overflow
from ..nn.layers import argmax_format, default_table_bits, make_table
from ..nn.layers.dense import Dense
from ..nn.layers.leaky_relu import alpha_shift
from ..quantize import quantize as fxp_quantize
from .formats import FormatField, format_spec
from .quantize import quantize, quantize_raw

__all__ = ["Layer", "Input", "Linear", "BatchNorm1d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Argmax", "MODULES"]

_F64 = torch.float64
# Sums of fixed-point values are exact in float64 while their raw values stay below 2**53.
_EXACT_BITS = 53


def _name(name, where):
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{where} name: expected a string, not {name!r}")
    return name


def positive_arg(n, what: str) -> int:
    """``n`` when it is a positive int; a TypeError/ValueError naming ``what`` otherwise."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what}: expected a positive integer, not {n!r}")
    if n < 1:
        raise ValueError(f"{what}: expected a positive integer, not {n!r}")
    return n


class Layer(torch.nn.Module):
    """A layer of a :class:`Sequential` that becomes one layer of the artifact's spec.

    Attributes
    ----------
    index : int
        Its index among the spec's layers (set by :class:`Sequential`).
    """

    spec_type = ""

    def __init__(self, name: str | None = None):
        super().__init__()
        self.index = None
        self.layer_name = _name(name, type(self).__name__)

    @property
    def label(self) -> str:
        """``"layer <i> (<type>)"``, as fxp.nn names layers."""
        return f"layer {self.index} ({self.spec_type})"

    @property
    def op(self) -> str:
        """Prefix of overflow labels, as in :meth:`fxp.nn.Model.forward`."""
        return f"layer {self.index} {self.spec_type}"

    def fields(self) -> list[FormatField]:
        """The formats being trained."""
        return []

    def shape_out(self, shape: tuple) -> tuple:
        """One sample's output shape (torch layout: channels first) for an input of ``shape``;
        a ValueError naming the layer when the layer cannot take that shape."""
        return shape

    def out_format(self, in_fmt: FixedFormat) -> FixedFormat:
        """The output's format for inputs of ``in_fmt`` (the formats in force)."""
        return self.output.fmt()

    @classmethod
    def from_spec(cls, layer, shape: tuple, weights: dict) -> Layer:
        """The module of a resolved spec layer (concrete formats) whose input is ``shape``
        (torch layout), with its float weights (``"<i>.weight"``, ...) loaded."""
        return cls(output=layer.output.fmt, name=layer.name)

    def export(self, in_fmt: FixedFormat):
        """The spec entry, raw tensors (keys without index), float weights, output format."""
        out = self.out_format(in_fmt)
        return self._entry({"output": str(out)}), {}, {}, out

    def _entry(self, fields: dict) -> dict:
        entry = {"type": self.spec_type}
        if self.layer_name is not None:
            entry["name"] = self.layer_name
        entry.update(fields)
        return entry


class Input(torch.nn.Module):
    """The model input: its shape (one sample) and its concrete format.

    Parameters
    ----------
    shape : int or tuple of int
        One sample's shape in torch's layout: ``64`` or ``(64,)`` for vectors, ``(C, L)`` for
        1-D signals, ``(C, H, W)`` for images (the artifact's input is channels-last:
        ``[L, C]``, ``[H, W, C]``; see :attr:`spec_shape`).
    fmt : FixedFormat or str
        A concrete format (inputs are quantized to it, as ``Model.predict`` does).
    """

    def __init__(self, shape, fmt):
        super().__init__()
        shape = (shape,) if isinstance(shape, int) and not isinstance(shape, bool) else shape
        if not isinstance(shape, (tuple, list)) or not shape:
            raise TypeError(f"Input shape: expected a positive integer or a tuple of them, "
                            f"not {shape!r}")
        self.shape = tuple(positive_arg(n, "Input shape") for n in shape)
        if len(self.shape) > 3:
            raise ValueError(f"Input shape: expected (features,), (C, L) or (C, H, W), not "
                             f"{list(self.shape)}")
        self.fmt = format_spec(fmt, "Input fmt", allow_open=False).fmt

    @property
    def spec_shape(self) -> tuple:
        """The artifact's channels-last shape: ``(N,)``, ``(L, C)`` or ``(H, W, C)``."""
        return channels_last_shape(self.shape)

    def forward(self, x: torch.Tensor, mode: str):
        if mode == "float":
            return x, None
        return quantize(x, self.fmt, label="model input"), self.fmt


class Linear(Layer):
    """``dense``: an exact accumulator, then a cast to the output format.

    Parameters
    ----------
    in_features, out_features : int
    weight, bias, output : str, FixedFormat or mapping
        Formats; ``"auto"`` or int_bits ``auto``/``learn`` as in specs (see
        :func:`~fxp.torch.formats.format_spec`).
    accumulator : "auto" or str or FixedFormat
        ``"auto"``: exact while training; ``fxp.accumulator_format`` of the quantized weights
        and bias on export (it can never overflow). A concrete accumulator must be WRAP.
    accumulator_bits : int, optional
        A2Q: :meth:`Sequential.a2q_project` holds every row's integer-weight L1 norm under
        ``fxp.a2q_l1_bound`` so the accumulator fits this many bits (as fxp.nn's ``train.a2q``).
    name : str, optional
        The layer's name in the spec.

    Attributes
    ----------
    weight : torch.nn.Parameter
        ``(out_features, in_features)``, float64, He-initialised.
    bias : torch.nn.Parameter
        ``(out_features,)``, zeros.
    """

    spec_type = "dense"

    def __init__(self, in_features: int, out_features: int, *, weight, bias,
                 accumulator="auto", output, accumulator_bits: int | None = None,
                 name: str | None = None):
        super().__init__(name)
        where = type(self).__name__
        self.in_features = positive_arg(in_features, f"{where} in_features")
        self.out_features = positive_arg(out_features, f"{where} out_features")
        std = math.sqrt(2.0 / in_features)
        self.weight = torch.nn.Parameter(torch.randn(out_features, in_features, dtype=_F64) * std)
        self.bias = torch.nn.Parameter(torch.zeros(out_features, dtype=_F64))
        self.weight_format = FormatField(weight, "weight", True, f"{where} weight")
        self.bias_format = FormatField(bias, "bias", True, f"{where} bias")
        self.output = FormatField(output, "output", True, f"{where} output")
        acc = format_spec(accumulator, f"{where} accumulator")
        if acc.learn or not (acc.auto or acc.concrete):
            raise ValueError(f"{where} accumulator: expected 'auto' or a concrete WRAP format, "
                             f"not {accumulator!r}")
        if acc.concrete and acc.fmt.overflow is not Overflow.WRAP:
            raise ValueError(f"{where} accumulator: an accumulator must use WRAP overflow, not "
                             f"{acc.fmt.overflow} (saturate in the output format instead)")
        self.accumulator = acc.fmt
        if accumulator_bits is not None:
            if isinstance(accumulator_bits, bool) or not isinstance(accumulator_bits, int):
                raise TypeError(f"{where} accumulator_bits: expected an integer >= 2, not "
                                f"{accumulator_bits!r}")
            if accumulator_bits < 2:
                raise ValueError(f"{where} accumulator_bits: expected an integer >= 2, not "
                                 f"{accumulator_bits!r}")
        self.accumulator_bits = accumulator_bits
        for key, field in (("weight", self.weight_format), ("bias", self.bias_format),
                           ("output", self.output)):
            register_format(self, key, field)
        self.__dict__["batchnorm"] = None      # a folded BatchNorm1d (not a submodule)

    @classmethod
    def from_spec(cls, layer, shape, weights):
        m = cls(shape[-1], layer.units, weight=layer.weight.fmt, bias=layer.bias.fmt,
                accumulator=layer.accumulator.fmt, output=layer.output.fmt, name=layer.name)
        _load(m, weights, layer.index, (("weight", "weight"), ("bias", "bias")))
        return m

    def fields(self):
        return [self.weight_format, self.bias_format, self.output]

    def shape_out(self, shape):
        if len(shape) != 1:
            raise ValueError(f"{self.label}: a Linear takes vectors, not samples shaped "
                             f"{list(shape)} (put a Flatten before it)")
        if shape[0] != self.in_features:
            raise ValueError(f"{self.label}: in_features {self.in_features} does not match "
                             f"the {shape[0]} features of its input")
        return (self.out_features,)

    @property
    def fan_in(self) -> int:
        """Products summed per output."""
        return self.in_features

    def combine(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The exact sums ``x @ w.T + b`` (float64: exact while :meth:`check_exact` holds)."""
        return x @ w.T + b

    def fold(self, bn: BatchNorm1d) -> None:
        """Fold ``bn`` (the next layer) into this one's weights and bias."""
        self.__dict__["batchnorm"] = bn

    def effective(self, x: torch.Tensor | None, mode: str):
        """Weights and bias with a following batchnorm folded in."""
        bn = self.__dict__["batchnorm"]
        if bn is None:
            return self.weight, self.bias
        return bn.fold_into(self.weight, self.bias, x, mode == "train")

    def forward(self, x, in_fmt, mode):
        W, b = self.effective(x, mode)
        if mode == "float":
            return self.combine(x, W, b), None
        wf, bf, of = self.weight_format, self.bias_format, self.output
        if mode == "calibrate":
            wf.calibrate(W)
            bf.calibrate(b)
        wq = wf.quantize(W, f"layer {self.index} weight")
        bq = bf.quantize(b, f"layer {self.index} bias")
        w_fmt, b_fmt = wf.fmt(), bf.fmt()
        self.check_exact(wq, bq, w_fmt, b_fmt, in_fmt)
        acc = self.combine(x, wq, bq)
        if self.accumulator is not None:
            with torch.no_grad():
                raw, _ = quantize_raw(acc, self.accumulator, label=f"{self.op} accumulator",
                                      mask=False)
                wrapped = raw * self.accumulator.lsb
            acc = acc + (wrapped - acc).detach()    # the wrap passes the gradient through
        if mode == "calibrate":
            of.calibrate(acc)
        if mode == "train":
            of.observe(acc)
        return of.quantize(acc, f"{self.op} output"), of.fmt()

    def check_exact(self, wq, bq, w_fmt, b_fmt, in_fmt):
        """The float64 sums are exact: every partial sum's raw value is below 2**53."""
        frac = max(w_fmt.frac_bits + in_fmt.frac_bits, b_fmt.frac_bits)
        acc = self.accumulator
        if acc is not None and acc.frac_bits < frac:
            term = "weights" if w_fmt.frac_bits + in_fmt.frac_bits >= b_fmt.frac_bits else \
                "bias"
            raise ValueError(f"{self.label} accumulator: {acc} has {acc.frac_bits} fraction "
                             f"bits, fewer than the {frac} of the {term}")
        with torch.no_grad():
            xmax = max(abs(in_fmt.min), abs(in_fmt.max))
            bound = float((wq.abs().flatten(1).sum(dim=1) * xmax + bq.abs()).max()) \
                if wq.numel() else 0.0
        if math.ldexp(bound, frac) >= 2.0 ** (_EXACT_BITS - 1):
            raise ValueError(f"{self.label}: the accumulator needs more than "
                             f"{_EXACT_BITS - 1} bits, past what fxp.torch computes exactly "
                             f"in float64")

    def out_format(self, in_fmt):
        return self.output.fmt()

    def quantized(self, in_fmt: FixedFormat):
        """The artifact's weights and bias (FixedArrays) and the accumulator format."""
        with torch.no_grad():
            W, b = self.effective(None, "eval")
            wq = fxp_quantize(W.detach().numpy(), self.weight_format.fmt(),
                              label=f"layer {self.index} weight")
            bq = fxp_quantize(b.detach().numpy(), self.bias_format.fmt(),
                              label=f"layer {self.index} bias")
        acc = self.accumulator or accumulator_format(wq.reshape(wq.shape[0], -1), in_fmt,
                                                     bias=bq)
        return wq, bq, acc

    def export(self, in_fmt):
        wq, bq, acc = self.quantized(in_fmt)
        if self.accumulator_bits is not None and acc.bits > self.accumulator_bits:
            raise ValueError(f"{self.label}: the A2Q constraint left a {acc.bits}-bit "
                             f"accumulator, more than {self.accumulator_bits}; call "
                             f"a2q_project() after each optimizer step")
        out = self.output.fmt()
        entry = self._entry({"units": self.out_features, "weight": str(wq.fmt),
                             "bias": str(bq.fmt), "accumulator": str(acc), "output": str(out)})
        i = self.index
        fw = {f"{i}.weight": self.weight.detach().numpy().copy(),
              f"{i}.bias": self.bias.detach().numpy().copy()}
        return entry, {"weight": wq.raw, "bias": bq.raw}, fw, out

    def a2q_project(self, in_fmt: FixedFormat) -> None:
        """Project the weights (in place) as fxp.nn's A2Q does for ``accumulator_bits``."""
        if self.accumulator_bits is None:
            return
        with torch.no_grad():
            for field, t in ((self.weight_format, self.weight), (self.bias_format, self.bias)):
                if not field.calibrated:
                    field.calibrate(t)
            dense = Dense.parse({"units": self.out_features,
                                 "weight": str(self.weight_format.fmt()),
                                 "bias": str(self.bias_format.fmt()), "accumulator": "auto",
                                 "output": str(self.output.fmt())}, self.index)
            trainer = dense.trainer((self.fan_in,), np.random.default_rng(0), 1.0, None)
            if self.__dict__["batchnorm"] is not None:
                trainer.fold(self.__dict__["batchnorm"])
            # numpy views of the parameters: fxp.nn's projection updates them in place (the
            # per-row L1 projection does not depend on the order of a filter's weights)
            trainer.W = self.weight.data.view(self.out_features, -1).numpy()
            trainer.b = self.bias.data.numpy()
            trainer.a2q_project(in_fmt, self.accumulator_bits)


class BatchNorm1d(Layer):
    """``batchnorm``: trained in float, folded into the preceding :class:`Linear`.

    While training the batch statistics of the Linear's pre-activation are used (as
    constants in the backward, as in fxp.nn) and update the running ones with momentum 0.1;
    in eval mode and on export the running statistics are folded:
    ``W' = W * gamma / sqrt(var + eps)``, ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``.

    Parameters
    ----------
    num_features : int
    eps : float, default 1e-3
        As fxp.nn's batchnorm.
    """

    spec_type = "batchnorm"

    def __init__(self, num_features: int, *, eps: float = 1e-3, name: str | None = None):
        super().__init__(name)
        self.num_features = positive_arg(num_features, "BatchNorm1d num_features")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"BatchNorm1d eps: expected a positive number, not {eps!r}")
        self.eps = float(eps)
        self.weight = torch.nn.Parameter(torch.ones(num_features, dtype=_F64))
        self.bias = torch.nn.Parameter(torch.zeros(num_features, dtype=_F64))
        self.register_buffer("running_mean", torch.zeros(num_features, dtype=_F64))
        self.register_buffer("running_var", torch.ones(num_features, dtype=_F64))

    @classmethod
    def from_spec(cls, layer, shape, weights):
        m = cls(shape[-1], eps=layer.eps, name=layer.name)
        _load(m, weights, layer.index, (("weight", "gamma"), ("bias", "beta"),
                                        ("running_mean", "mean"), ("running_var", "var")))
        return m

    def fold_into(self, W, b, x, train: bool):
        """``(W', b')`` as fxp.nn's ``BatchNormTrainer.fold_into``."""
        if train:
            with torch.no_grad():
                z = x @ W.T + b
                mu, var = z.mean(dim=0), z.var(dim=0, unbiased=False)
                self.running_mean.mul_(0.9).add_(0.1 * mu)
                self.running_var.mul_(0.9).add_(0.1 * var)
        else:
            mu, var = self.running_mean, self.running_var
        inv = 1.0 / torch.sqrt(var + self.eps)
        scale = self.weight * inv
        return W * scale[:, None], (b - mu) * scale + self.bias

    def forward(self, x, in_fmt, mode):
        return x, in_fmt

    def out_format(self, in_fmt):
        return in_fmt

    def export(self, in_fmt):
        i = self.index
        fw = {f"{i}.gamma": self.weight, f"{i}.beta": self.bias, f"{i}.mean": self.running_mean,
              f"{i}.var": self.running_var}
        fw = {k: v.detach().numpy().copy() for k, v in fw.items()}
        return self._entry({"eps": self.eps}), {}, fw, in_fmt


class _Elementwise(Layer):
    """An activation ``cast(f(x), output)`` with f exact on fixed-point values."""

    output_signed = True

    def __init__(self, output, name):
        super().__init__(name)
        self.output = FormatField(output, "output", self.output_signed,
                                  f"{type(self).__name__} output")
        register_format(self, "output", self.output)

    def fields(self):
        return [self.output]

    def function(self, x):
        raise NotImplementedError

    def forward(self, x, in_fmt, mode):
        pre = self.function(x)
        if mode == "float":
            return pre, None
        of = self.output
        if mode == "calibrate":
            of.calibrate(pre)
        if mode == "train":
            of.observe(pre)
        return of.quantize(pre, f"{self.op} output"), of.fmt()


class ReLU(_Elementwise):
    """``relu``: ``cast(max(x, 0), output)``; an ``auto`` output is unsigned.

    Parameters
    ----------
    output : str, FixedFormat or mapping
    name : str, optional
    """

    spec_type = "relu"
    output_signed = False

    def __init__(self, *, output, name: str | None = None):
        super().__init__(output, name)

    def function(self, x):
        return torch.relu(x)


class LeakyReLU(_Elementwise):
    """``leaky_relu``: ``cast(x if x >= 0 else x * alpha, output)`` (the product exact).

    Parameters
    ----------
    alpha : float
        A power of two from ``2**-32`` to 0.5, e.g. 0.125.
    output : str, FixedFormat or mapping
    name : str, optional
    """

    spec_type = "leaky_relu"

    def __init__(self, alpha, *, output, name: str | None = None):
        try:
            self.shift = alpha_shift(alpha)
        except ValueError as e:
            raise ValueError(f"LeakyReLU alpha: {e}") from None
        super().__init__(output, name)
        self.alpha = 2.0 ** -self.shift

    @classmethod
    def from_spec(cls, layer, shape, weights):
        return cls(layer.alpha, output=layer.output.fmt, name=layer.name)

    def function(self, x):
        return torch.where(x >= 0, x, x * self.alpha)

    def export(self, in_fmt):
        out = self.out_format(in_fmt)
        return self._entry({"alpha": self.alpha, "output": str(out)}), {}, {}, out


class _Table(Layer):
    """A lookup-table activation: the table fxp builds (``fxp.nn.layers.make_table``)."""

    output_signed = False

    def __init__(self, *, output, table_bits: int | None = None, name: str | None = None):
        super().__init__(name)
        where = type(self).__name__
        self.output = FormatField(output, "output", self.output_signed, f"{where} output")
        register_format(self, "output", self.output)
        if table_bits is not None and (isinstance(table_bits, bool) or
                                       not isinstance(table_bits, int) or
                                       not 1 <= table_bits <= 16):
            raise ValueError(f"{where} table_bits: expected an integer from 1 to 16, not "
                             f"{table_bits!r}")
        self.table_bits = table_bits
        self._tables = {}

    @classmethod
    def from_spec(cls, layer, shape, weights):
        return cls(output=layer.output.fmt, table_bits=layer.table_bits, name=layer.name)

    def fields(self):
        return [self.output]

    def index_bits(self, in_fmt: FixedFormat) -> int:
        tb = self.table_bits or default_table_bits(in_fmt)
        if tb > in_fmt.bits:
            raise ValueError(f"{self.label} table_bits: {tb} exceeds the {in_fmt.bits} bits of "
                             f"its input {in_fmt}")
        return tb

    def table(self, in_fmt, out_fmt):
        """The FixedArray table and its index width (cached per formats)."""
        tb = self.index_bits(in_fmt)
        key = (in_fmt, out_fmt, tb)
        if key not in self._tables:
            self._tables[key] = make_table(self.spec_type, in_fmt, out_fmt, tb)
        return self._tables[key], tb

    def forward(self, x, in_fmt, mode):
        pre = self.function(x)
        if mode == "float":
            return pre, None
        of = self.output
        if mode == "calibrate" or not of.calibrated:
            of.calibrate(pre)
        out_fmt = of.fmt()
        table, tb = self.table(in_fmt, out_fmt)
        with torch.no_grad():
            raw = torch.round(x * math.ldexp(1.0, in_fmt.frac_bits)).to(torch.int64)  # exact
            drop = in_fmt.bits - tb
            idx = (raw >> drop) - (in_fmt.raw_min >> drop)
            y = torch.from_numpy(table.to_float())[idx]
        return pre + (y - pre).detach(), out_fmt     # the float derivative passes through

    def export(self, in_fmt):
        out = self.out_format(in_fmt)
        table, tb = self.table(in_fmt, out)
        return self._entry({"output": str(out), "table_bits": tb}), {"table": table.raw}, {}, out


class Sigmoid(_Table):
    """``sigmoid`` by the lookup table fxp builds; an ``auto`` output is unsigned.

    Parameters
    ----------
    output : str, FixedFormat or mapping
    table_bits : int, optional
        Index width, 1..16; default the input's bits, at most 10.
    name : str, optional
    """

    spec_type = "sigmoid"

    def function(self, x):
        return torch.sigmoid(x)


class Tanh(_Table):
    """``tanh`` by the lookup table fxp builds; an ``auto`` output is signed.

    Parameters
    ----------
    output : str, FixedFormat or mapping
    table_bits : int, optional
        Index width, 1..16; default the input's bits, at most 10.
    name : str, optional
    """

    spec_type = "tanh"
    output_signed = True

    def function(self, x):
        return torch.tanh(x)


class Argmax(Layer):
    """``argmax``: the index of the first maximum, the last layer.

    In training (and calibration, and float mode) it passes the logits through, so that a
    loss can be computed on them; in eval mode it returns int64 class indices.
    """

    spec_type = "argmax"

    def __init__(self, *, name: str | None = None):
        super().__init__(name)

    @classmethod
    def from_spec(cls, layer, shape, weights):
        return cls(name=layer.name)

    def shape_out(self, shape):
        if len(shape) != 1:
            raise ValueError(f"{self.label}: Argmax takes vectors, not samples shaped "
                             f"{list(shape)}")
        return ()

    def forward(self, x, in_fmt, mode):
        if mode != "eval":
            return x, in_fmt
        return torch.argmax(x, dim=-1), argmax_format(x.shape[-1])

    def out_format(self, in_fmt):
        return in_fmt

    def export(self, in_fmt):
        return self._entry({}), {}, {}, in_fmt


def register_format(module, key: str, field: FormatField) -> None:
    """A field's state as a buffer ``<key>_format_state``, its learned fraction bits as the
    parameter ``<key>_frac_bits``."""
    module.register_buffer(f"{key}_format_state", field.state)
    if field.f is not None:
        module.register_parameter(f"{key}_frac_bits", field.f)


def channels_last_shape(shape: tuple) -> tuple:
    """A sample shape in torch's layout (``(N,)``, ``(C, L)``, ``(C, H, W)``) in the spec's
    channels-last one (``(N,)``, ``(L, C)``, ``(H, W, C)``)."""
    return tuple(shape) if len(shape) < 2 else (*shape[1:], shape[0])


def to_channels_last(x):
    """A batch ``(n, C, ...)`` (tensor or array) moved to ``(n, ..., C)``; vectors unchanged."""
    if x.ndim < 3:
        return x
    order = (0, *range(2, x.ndim), 1)
    return x.permute(*order) if isinstance(x, torch.Tensor) else x.transpose(order)


def to_channels_first(x):
    """The inverse of :func:`to_channels_last`."""
    if x.ndim < 3:
        return x
    order = (0, x.ndim - 1, *range(1, x.ndim - 1))
    return x.permute(*order) if isinstance(x, torch.Tensor) else x.transpose(order)


def _load(module, weights, index, keys):
    """Copy float weights ``"<index>.<key>"`` into the module's tensors."""
    with torch.no_grad():
        for attr, key in keys:
            getattr(module, attr).copy_(torch.from_numpy(
                np.asarray(weights[f"{index}.{key}"], dtype=np.float64)))


# The module of each spec layer type (fxp.torch.conv registers the convolutional ones).
MODULES = {cls.spec_type: cls for cls in (Linear, BatchNorm1d, ReLU, LeakyReLU, Sigmoid, Tanh,
                                          Argmax)}
