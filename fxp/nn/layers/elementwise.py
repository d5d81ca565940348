"""Training of element-wise activations (relu, leaky_relu; the tables reuse its output format).

QAT runs the layer's own bit-exact forward; gradients pass straight through inside the
output's range.
"""

from __future__ import annotations

from ..fields import FormatSpec
from ..trainformat import TrainedFormat
from .base import Trainer

__all__ = ["ElementwiseTrainer"]


class ElementwiseTrainer(Trainer):
    """Trainer of a layer with an ``output`` format, its bit-exact ``apply(x, out_fmt,
    label)``, the float hooks ``float_function(v)`` and ``float_slope(v)`` (the derivative),
    and the class attribute ``output_signed`` (the signedness of an ``auto`` output)."""

    def __init__(self, layer, shape):
        super().__init__(layer, shape)
        self.output = TrainedFormat(layer.output, "output", layer.output_signed,
                                    f"{layer.label} output")

    def parameters(self):
        f = self.output.f
        return [] if f is None else [(f"{self.index}.output.f", f)]

    def trained_formats(self):
        return [self.output]

    def out_format(self, in_fmt):
        return self.output.fmt()

    def forward(self, fx, val, in_fmt, mode, train):
        pre, slope = self.layer.float_function(val), self.layer.float_slope(val)
        if mode == "float":
            return None, pre, None, {"mask": slope}
        of = self.output
        if mode == "calibrate":
            of.calibrate(pre)
        of.observe(pre)
        fmt = of.fmt()
        fx = self.layer.apply(fx, fmt, f"layer {self.index} {self.layer.type}")
        mask = slope * ((pre >= fmt.min) & (pre <= fmt.max))
        return fx, fx.to_float(), fmt, {"pre": pre, "mask": mask}

    def backward(self, c, grad, grads):
        if "pre" in c and self.output.f is not None:
            grads[f"{self.index}.output.f"] = self.output.lsq_grad(c["pre"], grad)
        return grad * c["mask"]

    def resolve(self, in_fmt, a2q_bits):
        out = self.output.fmt()
        return self.layer.replace(output=FormatSpec(fmt=out)), {}, out
