"""``dense``: ``acc = W x + bias`` exact in a WRAP accumulator, then ``cast(acc, output)``.

``acc[n, i] = sum_j W[i, j] * x[n, j] + bias[i]``, computed exactly and wrapped modulo
``2**acc.bits`` (the accumulator is WRAP; its fraction bits cover the products' and the bias's,
so every term enters exactly; overflow is reported, never silent). Then
``out = cast(acc, output)`` with the output's quantization and overflow modes. Tensors:
``"<i>.weight"`` ``(units, inputs)``, ``"<i>.bias"`` ``(units,)``.
"""

from __future__ import annotations

import math

import numpy as np

from ...accumulate import matmul
from ...array import FixedArray
from ...bounds import a2q_l1_bound, accumulator_format
from ...format import FixedFormat
from ...quantize import quantize
from ..fields import FormatSpec, SpecError, positive_int
from ..trainformat import TrainedFormat
from .base import Layer, Trainer, float_param
from .registry import register

__all__ = ["Dense", "dense"]


def dense(x: FixedArray, weight: FixedArray, bias: FixedArray | None, acc: FixedFormat,
          output: FixedFormat, label: str = "dense") -> FixedArray:
    """Dense layer: exact accumulator (WRAP) then a cast to ``output``.

    ``weight`` is shaped ``(units, inputs)``; ``bias`` ``(units,)``.
    """
    a = matmul(x, weight.T, acc=acc, bias=bias, label=f"{label} accumulator")
    return a.cast(output, label=f"{label} output")


@register
class Dense(Layer):
    """A fully connected layer (see the module docstring for its semantics)."""

    type = "dense"
    REQUIRED = frozenset({"units", "weight", "bias", "accumulator", "output"})
    FORMATS = ("weight", "bias", "accumulator", "output")
    configurable = True
    folds_batchnorm = True

    def parse_fields(self, body):
        self.units = positive_int(body["units"], f"{self.label} field 'units'")
        self.check_accumulator_field()

    def check_accumulator_field(self) -> None:
        """The ``accumulator`` field is ``auto`` or a WRAP format (no learned binary point)."""
        acc = self.accumulator
        ovf = None if acc.auto else acc.fmt.overflow.value if acc.concrete else acc.overflow
        if ovf not in (None, "WRAP"):
            raise SpecError(f"{self.label} field 'accumulator': an accumulator must use WRAP "
                            f"overflow, not {ovf} (saturate in the output format instead)")
        if acc.learn:
            raise SpecError(f"{self.label} field 'accumulator': int_bits 'learn' is not "
                            f"supported; use 'auto'")

    def output_shape(self, shape):
        self.check_vector_input(shape)
        return (self.units,)

    def tensors(self, shape, in_fmt):
        return {"weight": ((self.units, shape[-1]), self.weight.fmt),
                "bias": ((self.units,), self.bias.fmt)}

    def check_resolved(self, shape, in_fmt, tensors):
        acc = self.accumulator.fmt
        for term, tf in (("weights", tensors["weight"].fmt.mul(in_fmt)),
                         ("bias", tensors["bias"].fmt)):
            if acc.frac_bits < tf.frac_bits:
                raise SpecError(f"{self.label} field 'accumulator': {acc} has "
                                f"{acc.frac_bits} fraction bits, fewer than the "
                                f"{tf.frac_bits} of the {term}")

    def forward(self, x, tensors, label):
        return dense(x, tensors["weight"], tensors["bias"], self.accumulator.fmt,
                     self.output.fmt, label)

    def trainer(self, shape, rng, input_scale, previous):
        return DenseTrainer(self, shape, rng, input_scale)


class DenseTrainer(Trainer):
    """Float weights and bias (with a folded batchnorm, if one follows), QAT through the
    fxp casts, A2Q projection."""

    def __init__(self, layer: Dense, shape, rng, input_scale, units=None, fan_in=None,
                 weight_shape=None):
        super().__init__(layer, shape)
        units = layer.units if units is None else units
        n, where = (shape[-1] if fan_in is None else fan_in), layer.label
        std = math.sqrt(2.0 / n) / max(input_scale, 1e-12)
        self.W = rng.normal(0.0, std, size=(units, n))
        self.b = np.zeros(units)
        # the artifact's weight tensor shape (a conv's (filters, kh, kw, C)); W is (units, n)
        self.weight_shape = self.W.shape if weight_shape is None else tuple(weight_shape)
        self.weight = TrainedFormat(layer.weight, "weight", True, f"{where} weight")
        self.bias = TrainedFormat(layer.bias, "bias", True, f"{where} bias")
        self.output = TrainedFormat(layer.output, "output", True, f"{where} output")
        self.bn = None          # a folded BatchNormTrainer
        self.output_scale = 1.0

    def fold(self, other):
        self.bn = other

    def init_output_bias(self, mean):
        if np.shape(mean) == self.b.shape:
            self.b[...] = mean

    def parameters(self):
        i = self.index
        out = [(f"{i}.W", self.W), (f"{i}.b", self.b)]   # a folded batchnorm lists its own
        return out + [(f"{i}.{k}.f", f.f) for k, f in self._formats() if f.f is not None]

    def _formats(self):
        return (("weight", self.weight), ("bias", self.bias), ("output", self.output))

    def trained_formats(self):
        return [f for _, f in self._formats()]

    def float_weights(self):
        return {f"{self.index}.weight": self.W.reshape(self.weight_shape),
                f"{self.index}.bias": self.b}

    def load_float(self, weights):
        where, used = self.layer.label, set()
        for key, arr in (("weight", self.W), ("bias", self.b)):
            k = f"{self.index}.{key}"
            if k not in weights:
                raise SpecError(f"{where}: float weights have no {k!r}")
            shape = self.weight_shape if key == "weight" else arr.shape
            arr[...] = float_param(where, key, weights[k], shape).reshape(arr.shape)
            used.add(k)
        return used

    def effective(self, x_val, train: bool):
        """Weights and bias with the batchnorm folded in, and what its backward needs."""
        if self.bn is None:
            return self.W, self.b, None
        return self.bn.fold_into(self.W, self.b, x_val, train)

    def out_format(self, in_fmt):
        return self.output.fmt()

    def forward(self, fx, val, in_fmt, mode, train):
        W_eff, b_eff, bnc = self.effective(val, train)
        c = {"x": val, "W_eff": W_eff, "b_eff": b_eff, "bn": bnc}
        if mode == "float":
            c["W_used"] = W_eff
            return None, val @ W_eff.T + b_eff, None, c
        wf, bf, of = self.weight, self.bias, self.output
        if mode == "calibrate":
            wf.calibrate(W_eff)
            bf.calibrate(b_eff)
        i = self.index
        wq = quantize(W_eff, wf.fmt(), label=f"layer {i} weight")
        bq = quantize(b_eff, bf.fmt(), label=f"layer {i} bias")
        acc_fs = self.layer.accumulator
        acc = matmul(fx, wq.T, acc=acc_fs.fmt if acc_fs.concrete else None, bias=bq,
                     label=f"layer {i} {self.layer.type} accumulator")
        acc_val = acc.to_float()
        if mode == "calibrate":
            of.calibrate(acc_val)
        of.observe(acc_val)
        fx = acc.cast(of.fmt(), label=f"layer {i} {self.layer.type} output")
        out_fmt, w_fmt, b_fmt = of.fmt(), wf.fmt(), bf.fmt()
        c.update(W_used=wq.to_float(), pre=acc_val, mask=_inside(acc_val, out_fmt),
                 mask_w=_inside(W_eff, w_fmt), mask_b=_inside(b_eff, b_fmt))
        return fx, fx.to_float(), out_fmt, c

    def backward(self, c, grad, grads):
        i = self.index
        if "pre" in c and self.output.f is not None:
            grads[f"{i}.output.f"] = self.output.lsq_grad(c["pre"], grad)
        dz = grad * c["mask"] if "mask" in c else grad
        dWu = dz.T @ c["x"]
        dbu = dz.sum(axis=0)
        new_grad = dz @ c["W_used"]
        if "mask_w" in c:
            if self.weight.f is not None:
                grads[f"{i}.weight.f"] = self.weight.lsq_grad(c["W_eff"], dWu)
            if self.bias.f is not None:
                grads[f"{i}.bias.f"] = self.bias.lsq_grad(c["b_eff"], dbu)
            dWu, dbu = dWu * c["mask_w"], dbu * c["mask_b"]
        if c["bn"] is not None:
            dWu, dbu = self.bn.backward_folded(c["bn"], self.W, self.b, dWu, dbu, grads)
        grads[f"{i}.W"], grads[f"{i}.b"] = dWu, dbu
        return new_grad

    def a2q_project(self, in_fmt, acc_bits):
        """Shrink each row until its accumulator fits a signed ``acc_bits`` register.

        Per output: ``||q_w||_1 <= a2q_l1_bound(P, input) - |bias| / 2**(N - signed)`` in raw
        units (the A2Q bound, with room kept for the bias); checked on the quantized weights.
        """
        label = self.layer.label
        if self.bn is not None:
            raise SpecError(f"{label}: train.a2q does not support batchnorm")
        wf, bf = self.weight.fmt(), self.bias.fmt()
        prod_frac = wf.frac_bits + in_fmt.frac_bits
        if bf.frac_bits > prod_frac:
            raise SpecError(f"{label} field 'bias': train.a2q needs at most {prod_frac} "
                            f"fraction bits (the products'), not {bf}")
        bound = a2q_l1_bound(acc_bits, in_fmt)
        per_unit = 2.0 ** (in_fmt.bits - int(in_fmt.signed))
        b_raw = np.abs(quantize(self.b, bf).raw) * 2.0 ** (prod_frac - bf.frac_bits)
        if np.any(b_raw / per_unit > bound / 2):   # a bias may use half the range
            lim = (bound / 2) * per_unit * 2.0 ** -(prod_frac - bf.frac_bits)
            self.b[...] = np.clip(self.b, -lim * bf.lsb, lim * bf.lsb)
            b_raw = np.abs(quantize(self.b, bf).raw) * 2.0 ** (prod_frac - bf.frac_bits)
        budget = np.floor(bound - b_raw / per_unit)
        for _ in range(20):
            l1 = np.abs(quantize(self.W, wf).raw).sum(axis=1)
            over = l1 > budget
            if not over.any():
                break
            self.W[over] *= (budget[over] / l1[over] * 0.98)[:, None]
        return self.output.fmt()

    def resolve(self, in_fmt, a2q_bits):
        i, layer = self.index, self.layer
        W_eff, b_eff, _ = self.effective(None, train=False)
        wq = quantize(W_eff, self.weight.fmt(), label=f"layer {i} weight")
        bq = quantize(b_eff, self.bias.fmt(), label=f"layer {i} bias")
        acc = layer.accumulator.fmt if layer.accumulator.concrete else \
            accumulator_format(wq, in_fmt, bias=bq)
        if a2q_bits is not None and acc.bits > a2q_bits:
            raise SpecError(f"{layer.label}: the A2Q constraint left a {acc.bits}-bit "
                            f"accumulator, more than {a2q_bits}")
        out = self.output.fmt()
        new = layer.replace(weight=FormatSpec(fmt=wq.fmt), bias=FormatSpec(fmt=bq.fmt),
                            accumulator=FormatSpec(fmt=acc), output=FormatSpec(fmt=out))
        return new, {"weight": wq.raw.reshape(self.weight_shape), "bias": bq.raw}, out


def _inside(v: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    return (v >= fmt.min) & (v <= fmt.max)
