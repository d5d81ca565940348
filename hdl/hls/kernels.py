"""The table from layer type to HLS kernel: its nnet header, types, config values and arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fxp import FixedFormat
from fxp.nn import Model
from fxp.nn.layers import argmax_format
from fxp.nn.spec import SpecError

from ..rtl.top import layer_config

__all__ = ["KernelContext", "Kernel", "KERNELS", "kernel_of", "raw_literal", "dense_kernel",
           "relu_kernel", "lut_kernel", "argmax_kernel"]

_LINE = 96  # characters of values per line in weights.h


def raw_literal(raw: int) -> str:
    """A raw integer of at most 64 bits as a C++ ``long long`` expression.

    Examples
    --------
    >>> raw_literal(-11), raw_literal(-2**63)
    ('-11', '(-9223372036854775807 - 1)')
    """
    raw = int(raw)
    if not -2**63 <= raw < 2**63:
        raise ValueError(f"Raw integer {raw} does not fit 64 bits")
    return "(-9223372036854775807 - 1)" if raw == -2**63 else str(raw)


def _type(name, role, fmt):
    return {"name": name, "role": role, "format": str(fmt), "c_type": fmt.c_type()}


def _array(index, label, role, name, type_name, fmt, raw):
    if fmt.bits > 64:
        raise ValueError(f"layer {index} ({label}) {role}: {fmt} is wider than the 64 bits "
                         f"that nnet::from_raw sets")
    raw = np.asarray(raw)
    rows = raw.reshape(-1, raw.shape[-1])
    values = [[f"nnet::from_raw<{type_name}>({raw_literal(v)})" for v in row] for row in rows]
    width = max(len(v) for row in values for v in row) + 2
    return {"index": index, "label": label, "role": role, "name": name, "type": type_name,
            "format": str(fmt), "frac_bits": fmt.frac_bits, "size": raw.shape[-1],
            "rows": raw.shape[0] if raw.ndim == 2 else None,
            "entries": values if raw.ndim == 2 else values[0],
            "per_line": max(1, _LINE // width)}


@dataclass(frozen=True)
class KernelContext:
    """What a kernel entry gets for one layer.

    Attributes
    ----------
    model : fxp.nn.Model
    layer : the spec's layer
    in_fmt : FixedFormat
        The format of the layer's input array.
    n : int
        Its number of features.
    label : str
        The layer's type and name, for comments.
    out_type : str
        The C++ type name of the layer's output (``layer<i>_t``).
    strategy, reuse : optional
        The hardware overrides of :func:`hdl.rtl.top.layer_config`.
    """

    model: Model
    layer: Any
    in_fmt: FixedFormat
    n: int
    label: str
    out_type: str
    strategy: str | None = None
    reuse: int | None = None


@dataclass(frozen=True)
class Kernel:
    """One layer's call of an ``nnet::`` kernel and what it needs declared.

    Attributes
    ----------
    name : str
        The kernel template (``nnet::<name>``).
    header : str
        The ``nnet/`` header that defines it.
    out_fmt : FixedFormat
    n_out : int
    types : list of dict
        Typedefs (name, role, format, c_type).
    config_types : list of (str, str)
        ``typedef <type> <member>;`` lines of the config struct.
    config_values : list of (str, int or bool)
        Constants of the config struct.
    args : list of str
        Arguments after the input and output arrays (weights, bias, table).
    arrays : list of dict
        Arrays of ``weights.h``.
    note : str
        Appended to the layer's comment (``, folded, reuse 4``).
    ii : int
        The initiation interval the layer needs.
    """

    name: str
    header: str
    out_fmt: FixedFormat
    n_out: int
    types: list
    config_values: list
    config_types: list = field(default_factory=list)
    args: list = field(default_factory=list)
    arrays: list = field(default_factory=list)
    note: str = ""
    ii: int = 1


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
        types=[_type(f"weight{i}_t", "weights", w.fmt), _type(f"bias{i}_t", "bias", b.fmt),
               _type(f"accum{i}_t", "accumulator", layer.accumulator.fmt),
               _type(ctx.out_type, "output", layer.output.fmt)],
        config_types=[("accum_t", f"accum{i}_t"), ("weight_t", f"weight{i}_t"),
                      ("bias_t", f"bias{i}_t")],
        config_values=[("n_in", n_in), ("n_out", n_out), ("reuse", r), ("block", block),
                       ("multipliers", n_out * block)],
        args=[f"w{i}", f"b{i}"],
        arrays=[_array(i, ctx.label, "weights", f"w{i}", f"weight{i}_t", w.fmt, w.raw),
                _array(i, ctx.label, "bias", f"b{i}", f"bias{i}_t", b.fmt, b.raw)],
        note=", parallel" if r == 1 else f", folded, reuse {r}", ii=r)


def relu_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::relu``."""
    out_fmt = ctx.layer.output.fmt
    return Kernel(name="relu", header="nnet_activation.h", out_fmt=out_fmt, n_out=ctx.n,
                  types=[_type(ctx.out_type, "output", out_fmt)], config_values=[("n", ctx.n)])


def lut_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::lut``: a table lookup (sigmoid, tanh) on the layer's table."""
    i = ctx.layer.index
    table, tb = ctx.model.table(i)
    out_fmt = table.fmt
    return Kernel(
        name="lut", header="nnet_activation.h", out_fmt=out_fmt, n_out=ctx.n,
        types=[_type(ctx.out_type, "output and table", out_fmt)],
        config_values=[("n", ctx.n), ("table_bits", tb), ("in_signed", ctx.in_fmt.signed)],
        args=[f"table{i}"],
        arrays=[_array(i, ctx.label, f"{ctx.layer.type} table ({tb} index bits)", f"table{i}",
                       ctx.out_type, out_fmt, table.raw)])


def argmax_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::argmax``: the index of the first maximum."""
    out_fmt = argmax_format(ctx.n)
    return Kernel(name="argmax", header="nnet_argmax.h", out_fmt=out_fmt, n_out=1,
                  types=[_type(ctx.out_type, "output (index of the first maximum)", out_fmt)],
                  config_values=[("n", ctx.n)])


# None: folded into the layer before it, no kernel.
KERNELS: dict[str, Callable[[KernelContext], Kernel] | None] = {
    "dense": dense_kernel,
    "relu": relu_kernel,
    "sigmoid": lut_kernel,
    "tanh": lut_kernel,
    "argmax": argmax_kernel,
    "batchnorm": None,
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
