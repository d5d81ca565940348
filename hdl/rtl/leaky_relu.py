"""LeakyReLU as a valid/ready stream block, and its entry of the layer-type table."""

from __future__ import annotations

from amaranth.hdl import Mux

from fxp.nn.layers.leaky_relu import exact_format

from .activation import ReLU
from .common import positive_int
from .requantize import requantize

__all__ = ["LeakyReLU", "leaky_relu_block", "leaky_relu_fields"]


class LeakyReLU(ReLU):
    """``out = cast(x if x >= 0 else x * 2**-shift, out_fmt)`` on every element of a vector
    stream.

    Implements :func:`fxp.nn.layers.leaky_relu.leaky_relu` bit for bit: the negative values
    are the input's raw bits read with ``shift`` more fraction bits, the others the input
    shifted left by ``shift`` (the exact format ``<W + shift, I>``), then one requantization
    with ``out_fmt``'s modes. Parameters and ports as :class:`~hdl.rtl.activation.ReLU`, plus
    ``shift`` (``alpha = 2**-shift``, a positive integer).
    """

    def __init__(self, *, n, in_fmt, out_fmt, shift, registered=False, backpressure=True):
        self._shift = positive_int(shift, "LeakyReLU shift")
        super().__init__(n=n, in_fmt=in_fmt, out_fmt=out_fmt, registered=registered,
                         backpressure=backpressure)

    @property
    def shift(self) -> int:
        return self._shift

    def output(self, x):
        if not self.in_fmt.signed:
            return requantize(x, self.in_fmt, self.out_fmt)
        return requantize(Mux(x < 0, x, x << self._shift), exact_format(self.in_fmt, self._shift),
                          self.out_fmt)


def leaky_relu_block(ctx):
    """LeakyReLU, registered unless the model is unpipelined (like ReLU)."""
    return LeakyReLU(n=ctx.n, in_fmt=ctx.in_fmt, out_fmt=ctx.layer.output.fmt,
                     shift=ctx.layer.shift, backpressure=ctx.backpressure,
                     registered=ctx.pipeline > 0)


def leaky_relu_fields(ctx, block) -> dict:
    """The manifest's record of the slope."""
    return {"alpha": ctx.layer.alpha}
