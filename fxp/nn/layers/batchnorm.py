"""``batchnorm``: trained in float, folded into the layer before it when quantized.

``W' = W * gamma / sqrt(var + eps)`` per output and ``b' = (b - mean) * gamma / sqrt(var + eps)
+ beta``; in a resolved model the layer is the identity (and has no hardware). Float weights:
``"<i>.gamma"``, ``"<i>.beta"``, ``"<i>.mean"``, ``"<i>.var"``, each ``(features,)``.
"""

from __future__ import annotations

import numpy as np

from ..fields import SpecError
from .base import Layer, Trainer, float_param
from .registry import register

__all__ = ["BatchNorm"]


@register
class BatchNorm(Layer):
    """Batch normalisation, folded into the preceding layer's weights and bias."""

    type = "batchnorm"
    OPTIONAL = frozenset({"eps"})
    folded = True

    eps = 1e-3

    def parse_fields(self, body):
        if "eps" in body:
            eps = body["eps"]
            if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
                raise SpecError(f"{self.label} field 'eps': expected a positive number, not "
                                f"{eps!r}")
            self.eps = float(eps)

    def dump_fields(self):
        return {"eps": self.eps}

    def check_position(self, layers):
        prev = layers[self.index - 1] if self.index else None
        if prev is None or not getattr(prev, "folds_batchnorm", False):
            raise SpecError(f"{self.label}: batchnorm must follow a dense layer (it is folded "
                            f"into it)")

    def output_format(self, shape, in_fmt, tensors):
        return in_fmt

    def forward(self, x, tensors, label):
        return x

    def trainer(self, shape, rng, input_scale, previous):
        t = BatchNormTrainer(self, shape)
        previous.fold(t)
        return t


class BatchNormTrainer(Trainer):
    """Running statistics and the affine parameters; the folding itself."""

    def __init__(self, layer: BatchNorm, shape):
        super().__init__(layer, shape)
        n = shape[-1]
        self.gamma, self.beta = np.ones(n), np.zeros(n)
        self.mean, self.var = np.zeros(n), np.ones(n)

    def parameters(self):
        i = self.index
        return [(f"{i}.gamma", self.gamma), (f"{i}.beta", self.beta)]

    def float_weights(self):
        i = self.index
        return {f"{i}.{k}": getattr(self, k) for k in ("gamma", "beta", "mean", "var")}

    def load_float(self, weights):
        where, used = self.layer.label, set()
        for key in ("gamma", "beta", "mean", "var"):
            k = f"{self.index}.{key}"
            if k not in weights:
                raise SpecError(f"{where}: float weights have no {k!r}")
            arr = getattr(self, key)
            arr[...] = float_param(where, key, weights[k], arr.shape)
            used.add(k)
        if np.any(self.var < 0):
            raise SpecError(f"{where} field 'var': variances must be non-negative")
        return used

    def fold_into(self, W, b, x_val, train: bool):
        """``(W', b', cache)``: the weights with this normalisation folded in; in training the
        batch statistics of ``x_val @ W.T + b`` update the running ones."""
        if train:
            z = x_val @ W.T + b
            mu, var = z.mean(axis=0), z.var(axis=0)
            self.mean = 0.9 * self.mean + 0.1 * mu
            self.var = 0.9 * self.var + 0.1 * var
        else:
            mu, var = self.mean, self.var
        inv = 1.0 / np.sqrt(var + self.layer.eps)
        scale = self.gamma * inv
        return W * scale[:, None], (b - mu) * scale + self.beta, (scale, inv, mu)

    def backward_folded(self, cache, W, b, dW, db, grads):
        """Gradients of gamma and beta from those of the folded weights; returns the
        gradients of the unfolded ``W`` and ``b``."""
        scale, inv, mu = cache
        i = self.index
        grads[f"{i}.gamma"] = (dW * W).sum(axis=1) * inv + db * (b - mu) * inv
        grads[f"{i}.beta"] = db
        return dW * scale[:, None], db * scale

    def forward(self, fx, val, in_fmt, mode, train):
        return fx, val, in_fmt, {}
