"""The table from layer type to HLS kernel entry (its nnet header, types, config and arrays)."""

from __future__ import annotations

from collections.abc import Callable

from fxp.nn.layers import argmax_format
from fxp.nn.spec import SpecError

from ..rtl.top import layer_config
from .conv import conv2d_kernel
from .flatten import flatten_kernel
from .kernel import Kernel, KernelContext, array_entry, raw_literal, type_entry
from .leaky_relu import leaky_relu_kernel
from .pool import avgpool_kernel, maxpool_kernel
from .softmax import softmax_kernel

__all__ = ["KernelContext", "Kernel", "KERNELS", "kernel_of", "raw_literal", "dense_kernel",
           "relu_kernel", "lut_kernel", "argmax_kernel"]


def dense_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::dense``: parallel, or folded with reuse R (II R)."""
    model, layer, i = ctx.model, ctx.layer, ctx.layer.index
    w, b = model.weight(i), model.bias(i)
    n_in, n_out = w.shape[1], w.shape[0]
    cfg = layer_config(model, i, strategy=ctx.strategy, reuse=ctx.reuse)
    r = cfg["reuse"]
    block = -(-n_in // r)
    return Kernel(
        name="dense", header="nnet_dense.h", out_fmt=layer.output.fmt, n_out=n_out,
        types=[type_entry(f"weight{i}_t", "weights", w.fmt), type_entry(f"bias{i}_t", "bias", b.fmt),
               type_entry(f"accum{i}_t", "accumulator", layer.accumulator.fmt),
               type_entry(ctx.out_type, "output", layer.output.fmt)],
        config_types=[("accum_t", f"accum{i}_t"), ("weight_t", f"weight{i}_t"),
                      ("bias_t", f"bias{i}_t")],
        config_values=[("n_in", n_in), ("n_out", n_out), ("reuse", r), ("block", block),
                       ("multipliers", n_out * block)],
        args=[f"w{i}", f"b{i}"],
        arrays=[array_entry(i, ctx.label, "weights", f"w{i}", f"weight{i}_t", w.fmt, w.raw),
                array_entry(i, ctx.label, "bias", f"b{i}", f"bias{i}_t", b.fmt, b.raw)],
        note=", parallel" if r == 1 else f", folded, reuse {r}", ii=r)


def relu_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::relu``."""
    out_fmt = ctx.layer.output.fmt
    return Kernel(name="relu", header="nnet_activation.h", out_fmt=out_fmt, n_out=ctx.n,
                  types=[type_entry(ctx.out_type, "output", out_fmt)], config_values=[("n", ctx.n)])


def lut_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::lut``: a table lookup (sigmoid, tanh) on the layer's table."""
    i = ctx.layer.index
    table, tb = ctx.model.table(i)
    out_fmt = table.fmt
    return Kernel(
        name="lut", header="nnet_activation.h", out_fmt=out_fmt, n_out=ctx.n,
        types=[type_entry(ctx.out_type, "output and table", out_fmt)],
        config_values=[("n", ctx.n), ("table_bits", tb), ("in_signed", ctx.in_fmt.signed)],
        args=[f"table{i}"],
        arrays=[array_entry(i, ctx.label, f"{ctx.layer.type} table ({tb} index bits)", f"table{i}",
                       ctx.out_type, out_fmt, table.raw)])


def argmax_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::argmax``: the index of the first maximum."""
    out_fmt = argmax_format(ctx.n)
    return Kernel(name="argmax", header="nnet_argmax.h", out_fmt=out_fmt, n_out=1,
                  types=[type_entry(ctx.out_type, "output (index of the first maximum)", out_fmt)],
                  config_values=[("n", ctx.n)])


# None: folded into the layer before it, no kernel.
KERNELS: dict[str, Callable[[KernelContext], Kernel] | None] = {
    "dense": dense_kernel,
    "relu": relu_kernel,
    "sigmoid": lut_kernel,
    "tanh": lut_kernel,
    "argmax": argmax_kernel,
    "batchnorm": None,
    "leaky_relu": leaky_relu_kernel,
    "conv2d": conv2d_kernel,
    "conv1d": conv2d_kernel,        # an (L, 1, C) image
    "maxpool2d": maxpool_kernel,
    "maxpool1d": maxpool_kernel,
    "avgpool2d": avgpool_kernel,
    "avgpool1d": avgpool_kernel,
    "global_avgpool": avgpool_kernel,
    "flatten": flatten_kernel,
    "softmax": softmax_kernel,
}


def kernel_of(layer):
    """The :data:`KERNELS` entry of a spec layer (None: no kernel of its own).

    Raises
    ------
    SpecError
        ``<layer>: no HLS kernel for layer type '<type>'``.
    """
    try:
        return KERNELS[layer.type]
    except KeyError:
        raise SpecError(f"{layer.label}: no HLS kernel for layer type {layer.type!r}") from None
