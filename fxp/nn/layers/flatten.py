"""``flatten``: ``(H, W, C)`` or ``(L, C)`` to a vector, row-major (C fastest), like Keras.

The values and their format are unchanged; element ``(y, x, c)`` lands at
``(y * W + x) * C + c``.
"""

from __future__ import annotations

import math

from .base import Layer, Trainer
from .registry import register

__all__ = ["Flatten"]


@register
class Flatten(Layer):
    """Reshape to a vector (no arithmetic)."""

    type = "flatten"

    def output_shape(self, shape):
        return (math.prod(shape),)

    def output_format(self, shape, in_fmt, tensors):
        return in_fmt

    def forward(self, x, tensors, label):
        return x.reshape(x.shape[0], -1)

    def trainer(self, shape, rng, input_scale, previous):
        return FlattenTrainer(self, shape)


class FlattenTrainer(Trainer):
    """Reshape forward, reshape back."""

    def forward(self, fx, val, in_fmt, mode, train):
        n = val.shape[0]
        return (None if fx is None else fx.reshape(n, -1)), val.reshape(n, -1), in_fmt, {}

    def backward(self, c, grad, grads):
        return grad.reshape(grad.shape[0], *self.shape)
