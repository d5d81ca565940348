"""The HLS kernel entries of the pools: ``nnet::maxpool2d`` and ``nnet::avgpool2d`` (1-D and
global pools as images of one column or one window)."""

from __future__ import annotations

from fxp.nn.layers.pool import mean_format

from .conv import window_config
from .kernel import Kernel, KernelContext, type_entry

__all__ = ["maxpool_kernel", "avgpool_kernel"]


def _geometry(ctx: KernelContext):
    win = ctx.layer.window(ctx.shape)
    config = [(k.replace("kernel", "pool"), v) for k, v in window_config(win, ctx.shape[-1])
              if not k.startswith("pad")]          # pools never pad
    return win, config


def _note(ctx: KernelContext, win) -> str:
    if ctx.layer.type == "global_avgpool":
        return f", over {'x'.join(map(str, ctx.shape[:-1]))}"
    one_d = ctx.layer.one_d
    pool = "x".join(map(str, win.kernel[:1] if one_d else win.kernel))
    stride = "x".join(map(str, win.stride[:1] if one_d else win.stride))
    return f", pool {pool}, stride {stride}"


def maxpool_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::maxpool2d``: the largest value of each window and channel, in the input's type
    (maxpool2d, maxpool1d)."""
    win, config = _geometry(ctx)
    n_out = win.out[0] * win.out[1] * ctx.shape[-1]
    return Kernel(name="maxpool2d", header="nnet_pool.h", out_fmt=ctx.in_fmt, n_out=n_out,
                  types=[type_entry(ctx.out_type, "output (the input's format)", ctx.in_fmt)],
                  config_values=config, note=_note(ctx, win), loop=win.out[0] * win.out[1])


def avgpool_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::avgpool2d``: the exact sum of each window and channel, the exact mean (a shift
    of the binary point), the cast to the output (avgpool2d, avgpool1d, global_avgpool)."""
    i = ctx.layer.index
    win, config = _geometry(ctx)
    count = win.count
    total, mean = ctx.in_fmt.sum(count), mean_format(ctx.in_fmt, count)
    out_fmt = ctx.model.shapes[i][1]
    n_out = win.out[0] * win.out[1] * ctx.shape[-1]
    return Kernel(
        name="avgpool2d", header="nnet_pool.h", out_fmt=out_fmt, n_out=n_out,
        types=[type_entry(f"accum{i}_t", f"accumulator (exact sum of {count})", total),
               type_entry(f"mean{i}_t", f"mean (exact, sum / {count})", mean),
               type_entry(ctx.out_type, "output", out_fmt)],
        config_types=[("accum_t", f"accum{i}_t"), ("mean_t", f"mean{i}_t")],
        config_values=[*config, ("shift", count.bit_length() - 1)],
        note=_note(ctx, win), loop=win.out[0] * win.out[1])
