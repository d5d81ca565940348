"""The HLS kernel entry of leaky_relu: ``nnet::leaky_relu`` with its shift."""

from __future__ import annotations

from .kernel import Kernel, KernelContext, type_entry

__all__ = ["leaky_relu_kernel"]


def leaky_relu_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::leaky_relu`` (alpha = 2**-shift)."""
    out_fmt = ctx.layer.output.fmt
    return Kernel(name="leaky_relu", header="nnet_leaky_relu.h", out_fmt=out_fmt, n_out=ctx.n,
                  types=[type_entry(ctx.out_type, "output", out_fmt)],
                  config_values=[("n", ctx.n), ("shift", ctx.layer.shift)],
                  note=f", alpha 2**-{ctx.layer.shift}")
