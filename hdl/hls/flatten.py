"""The HLS kernel entry of flatten: ``nnet::flatten``, a copy (channels-last is row-major)."""

from __future__ import annotations

from .kernel import Kernel, KernelContext, type_entry

__all__ = ["flatten_kernel"]


def flatten_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::flatten``: the values unchanged, in the input's format."""
    shape = "x".join(map(str, ctx.shape))
    return Kernel(name="flatten", header="nnet_flatten.h", out_fmt=ctx.in_fmt, n_out=ctx.n,
                  types=[type_entry(ctx.out_type, "output (the input's format)", ctx.in_fmt)],
                  config_values=[("n", ctx.n)], note=f", {shape} to {ctx.n}")
