"""Sequential: an Input and fxp.torch layers, carrying each tensor's format between them."""

from __future__ import annotations

import numpy as np
import torch

from ..format import FixedFormat
from .layers import Argmax, BatchNorm1d, Input, Layer, Linear

__all__ = ["Sequential"]


class Sequential(torch.nn.Module):
    """A network of fxp.torch layers: QAT in train mode, the artifact's exact values in eval.

    Parameters
    ----------
    input : Input
        The input's shape and format (first).
    *layers : Layer
        :class:`Linear`, :class:`BatchNorm1d` (after a Linear: folded into it),
        :class:`Conv1d`, :class:`Conv2d`, the pools, :class:`Flatten`, :class:`ReLU`,
        :class:`LeakyReLU`, :class:`Sigmoid`, :class:`Tanh`, and :class:`Argmax` last.

    Notes
    -----
    ``forward(x)`` takes floats ``(batch, *input.shape)`` in torch's layout (``(batch, C, H,
    W)`` for images; any float dtype or a numpy array) and computes in float64; tensors stay
    in torch's layout (the artifact's are channels-last, see :mod:`fxp.torch.conv`). In ``train()`` mode it returns the logits through the fake-quantized
    network (gradients by straight-through estimators); in ``eval()`` mode every value equals
    the exported artifact's (``fxp.nn.Model.predict``), an Argmax giving int64 class indices.
    """

    def __init__(self, *layers):
        super().__init__()
        if not layers or not isinstance(layers[0], Input):
            first = type(layers[0]).__name__ if layers else "nothing"
            raise TypeError(f"Sequential: the first layer must be fxp.torch.Input(shape, fmt), "
                            f"not {first}")
        if len(layers) == 1:
            raise ValueError("Sequential: expected layers after the Input")
        for k, layer in enumerate(layers[1:]):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential layer {k}: expected an fxp.torch layer (Linear, "
                                f"ReLU, ...), not {type(layer).__module__}."
                                f"{type(layer).__name__}")
        self.input = layers[0]
        self.layers = torch.nn.ModuleList(layers[1:])
        shape = self.input.shape
        for k, layer in enumerate(self.layers):
            layer.index = k
            if isinstance(layer, BatchNorm1d):
                prev = self.layers[k - 1] if k else None
                if not isinstance(prev, Linear):
                    raise ValueError(f"{layer.label}: BatchNorm1d must follow a Linear (it is "
                                     f"folded into it)")
                if layer.num_features != shape[0]:
                    raise ValueError(f"{layer.label}: num_features {layer.num_features} does "
                                     f"not match the {shape[0]} features of its input")
                prev.fold(layer)
            if isinstance(layer, Argmax) and k != len(self.layers) - 1:
                raise ValueError(f"{layer.label}: Argmax must be the last layer")
            shape = layer.shape_out(shape)
        self.output_shape = shape

    # -- running ----------------------------------------------------------------------------
    def _inputs(self, x) -> torch.Tensor:
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"Sequential input: expected a torch.Tensor or numpy array, not "
                            f"{type(x).__name__}")
        if not x.is_floating_point():
            x = x.to(torch.float64)
        shape = self.input.shape
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise ValueError(f"Sequential input: expected shape (batch, "
                             f"{', '.join(map(str, shape))}), not {tuple(x.shape)}")
        return x.to(torch.float64)

    def run(self, x, mode: str):
        """Outputs and their format for ``mode`` ``"train"``, ``"eval"``, ``"calibrate"`` or
        ``"float"`` (see :mod:`fxp.torch.layers`)."""
        y, fmt = self.input(self._inputs(x), mode)
        for layer in self.layers:
            y, fmt = layer(y, fmt, mode)
        return y, fmt

    def forward(self, x):
        return self.run(x, "train" if self.training else "eval")[0]

    @torch.no_grad()
    def predict_raw(self, x_raw) -> np.ndarray:
        """Eval-mode outputs for raw inputs of the input format, as raw integers (or class
        indices after an Argmax): what the artifact's ``Model.predict_raw`` returns.

        Parameters
        ----------
        x_raw : array_like of int, shape (batch, *input.shape)
            In torch's layout (channels first); tensor outputs are too.
        """
        raw = np.asarray(x_raw)
        if raw.dtype.kind not in "iu":
            raise TypeError(f"predict_raw: expected integer raw inputs, not {raw.dtype}")
        fmt = self.input.fmt
        if raw.size and (raw.min() < fmt.raw_min or raw.max() > fmt.raw_max):
            raise ValueError(f"predict_raw: raw inputs must lie in {fmt.raw_min}.."
                             f"{fmt.raw_max} (the input format {fmt})")
        y, out_fmt = self.run(np.ldexp(raw.astype(np.float64), -fmt.frac_bits), "eval")
        y = y.detach().numpy()
        if y.dtype.kind in "iu":
            return y
        return np.ldexp(y, out_fmt.frac_bits).astype(np.int64)   # exact: values of out_fmt

    def float_forward(self, x) -> torch.Tensor:
        """The same network without any quantization (logits, no argmax)."""
        return self.run(x, "float")[0]

    @torch.no_grad()
    def calibrate(self, x) -> Sequential:
        """Set every ``auto``/``learn`` format's range from the values it quantizes for ``x``
        (as fxp.nn calibrates before training and on resolution); returns ``self``."""
        self.run(x, "calibrate")
        return self

    def end_epoch(self) -> None:
        """Take the ranges observed while training as the ``auto`` formats' ranges."""
        for layer in self.layers:
            for f in layer.fields():
                f.end_epoch()

    def a2q_project(self) -> None:
        """Project every Linear with ``accumulator_bits`` under the A2Q bound (after each
        optimizer step, as fxp.nn does)."""
        fmt = self.input.fmt
        for layer in self.layers:
            if isinstance(layer, Linear):
                layer.a2q_project(fmt)
            fmt = layer.out_format(fmt)

    def formats(self) -> list[FixedFormat]:
        """The input format of every layer, then the output's, with the formats in force."""
        out = [self.input.fmt]
        for layer in self.layers:
            out.append(layer.out_format(out[-1]))
        return out
