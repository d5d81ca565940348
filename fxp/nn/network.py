"""Trainable network: QAT through the very fxp casts, and resolution into a bit-exact Model.

Float parameters, a fake-quantized forward, a numpy backward with straight-through estimators.

Each layer's training state is its registry class's :class:`~fxp.nn.layers.Trainer`; the
network chains them. Formats left open by the spec are resolved here:

- ``auto``: ``weight`` 8 bits, ``bias`` 16 bits, ``output`` 16 bits, RND_CONV/SAT; signed,
  except ReLU and sigmoid outputs. ``int_bits`` (also for ``{bits: .., int_bits: auto}``) is
  the fewest that hold the calibrated range (the largest magnitude seen on the training data).
- ``int_bits: learn`` (a trainable binary point): the fraction bits ``f`` are a parameter
  trained by gradient through the quantizer's step size ``2**-round(f)`` (LSQ-style), and
  initialised from calibration.
- ``accumulator: auto``: ``fxp.accumulator_format`` of the quantized weights, bias and input
  format: it can never overflow.
"""

from __future__ import annotations

import numpy as np

from .. import overflow as _ovf
from ..quantize import quantize
from .model import Model
from .spec import Spec, SpecError
from .trainformat import DEFAULT_BITS, fit_int_bits

__all__ = ["Network", "fit_int_bits", "DEFAULT_BITS"]


class Network:
    """A spec's network with float parameters, trainable in float or with QAT.

    Parameters
    ----------
    spec : Spec
    rng : numpy.random.Generator
        Initialises the weights.
    input_scale : float
        Typical magnitude (RMS) of the inputs, to scale the first weights' initialisation.
    """

    def __init__(self, spec: Spec, rng: np.random.Generator, input_scale: float = 1.0):
        self.spec = spec
        self.layers = []          # one Trainer per layer
        shape, scale, previous = tuple(spec.input_shape), input_scale, None
        for layer in spec.layers:
            tr = layer.trainer(shape, rng, scale, previous)
            scale = tr.output_scale if tr.output_scale is not None else scale
            self.layers.append(tr)
            shape, previous = tr.out_shape, tr

    # -- parameters -----------------------------------------------------------------------
    def parameters(self) -> list[tuple[str, np.ndarray]]:
        """Trainable arrays (updated in place by the optimizer)."""
        return [p for tr in self.layers for p in tr.parameters()]

    def fields(self):
        """Every layer's formats being trained."""
        for tr in self.layers:
            yield from tr.trained_formats()

    def float_weights(self) -> dict:
        """The float parameters, keyed as :meth:`load_float` reads them."""
        out = {}
        for tr in self.layers:
            out.update(tr.float_weights())
        return out

    def load_float(self, weights: dict):
        """Set float parameters from ``"<i>.weight"``/``".bias"``/batchnorm keys."""
        used = set()
        for tr in self.layers:
            used |= tr.load_float(weights)
        extra = sorted(set(weights) - used)
        if extra:
            raise SpecError(f"float weights: unexpected key {extra[0]!r}")

    # -- forward and backward -------------------------------------------------------------
    def forward(self, x: np.ndarray, mode: str = "qat", train: bool = False):
        """Run float inputs through the network.

        ``mode``: ``"float"`` (no quantization), ``"qat"`` (every cast through fxp: the
        bit-exact path) or ``"calibrate"`` (``"qat"`` that first sets each open format's range
        from the values it is about to quantize). Returns ``(logits, caches)``; logits are the
        last layer's values before any argmax.
        """
        in_fmt = self.spec.input_format
        if mode != "float":
            fx = quantize(x, in_fmt, label="model input")
            val = fx.to_float()
        else:
            fx, val, in_fmt = None, np.asarray(x, dtype=np.float64), None
        caches = []
        for tr in self.layers:
            fx, val, in_fmt, c = tr.forward(fx, val, in_fmt, mode, train)
            caches.append(c)
        return val, caches

    def backward(self, caches, grad: np.ndarray) -> dict:
        """Gradients of every parameter given dLoss/dlogits (straight-through estimators)."""
        grads = {}
        for tr, c in zip(reversed(self.layers), reversed(caches)):
            grad = tr.backward(c, grad, grads)
        return grads

    # -- A2Q ------------------------------------------------------------------------------
    def a2q_project(self, acc_bits: int):
        """Hold every accumulator under A2Q's L1 bound for a signed ``acc_bits`` register."""
        in_fmt = self.spec.input_format
        for tr in self.layers:
            in_fmt = tr.a2q_project(in_fmt, acc_bits)

    # -- resolution -----------------------------------------------------------------------
    def resolve(self, x_calib: np.ndarray, a2q_bits: int | None = None) -> Model:
        """Freeze every format (calibrating ``auto`` on ``x_calib``) and build the Model."""
        for f in self.fields():
            f.frozen = None
        with _ovf.overflow_policy("ignore"):
            self.forward(x_calib, "calibrate", train=False)
        for f in self.fields():
            f.frozen = f.fmt()
        params, layers = {}, []
        in_fmt = self.spec.input_format
        for tr in self.layers:
            layer, tensors, in_fmt = tr.resolve(in_fmt, a2q_bits)
            params.update({f"{tr.index}.{k}": v for k, v in tensors.items()})
            layers.append(layer)
        spec = Spec(name=self.spec.name, input_shape=self.spec.input_shape,
                    input_format=self.spec.input_format, layers=layers,
                    data=dict(self.spec.data), train=dict(self.spec.train),
                    hardware=self.spec.hardware, base_dir=self.spec.base_dir)
        return Model(spec, params)

    def thaw(self):
        """Undo :meth:`resolve`'s freezing so training can go on."""
        for f in self.fields():
            f.frozen = None
