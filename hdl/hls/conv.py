"""The HLS kernel entry of conv2d and conv1d: ``nnet::conv2d``, a dense over every window."""

from __future__ import annotations

from ..rtl.top import layer_config
from .kernel import Kernel, KernelContext, array_entry, type_entry

__all__ = ["conv2d_kernel", "window_config"]


def window_config(win, channels: int) -> list:
    """The geometry constants of a window config (``in_h`` .. ``pad_left``) of an
    :class:`fxp.nn.layers.window.Window` over ``channels`` channels."""
    (ih, iw), (oh, ow), (kh, kw), (sh, sw) = win.size, win.out, win.kernel, win.stride
    (top, _), (left, _) = win.pads
    return [("in_h", ih), ("in_w", iw), ("n_chan", channels), ("out_h", oh), ("out_w", ow),
            ("kernel_h", kh), ("kernel_w", kw), ("stride_h", sh), ("stride_w", sw),
            ("pad_top", top), ("pad_left", left)]


def conv2d_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::conv2d``: per output pixel, every filter's exact sum over its window in the
    accumulator type, plus the bias, cast to the output (pipelined, a pixel per cycle; folded
    with reuse R: a pixel every R cycles, the multiplies shared).

    conv1d is the same kernel over an ``(L, 1, C)`` image (``in_w = kernel_w = 1``).
    """
    model, layer, i = ctx.model, ctx.layer, ctx.layer.index
    w, b = model.weight(i), model.bias(i)
    win = layer.window(ctx.shape)
    channels = ctx.shape[-1]
    oh, ow = win.out
    geometry = window_config(win, channels)
    taps = win.count * channels
    k = "x".join(map(str, win.kernel[:1] if layer.one_d else win.kernel))
    s = "x".join(map(str, win.stride[:1] if layer.one_d else win.stride))
    r = layer_config(model, i, strategy=ctx.strategy, reuse=ctx.reuse)["reuse"]
    return Kernel(
        name="conv2d", header="nnet_conv.h", out_fmt=layer.output.fmt,
        n_out=oh * ow * layer.filters,
        types=[type_entry(f"weight{i}_t", "weights", w.fmt),
               type_entry(f"bias{i}_t", "bias", b.fmt),
               type_entry(f"accum{i}_t", "accumulator", layer.accumulator.fmt),
               type_entry(ctx.out_type, "output", layer.output.fmt)],
        config_types=[("accum_t", f"accum{i}_t"), ("weight_t", f"weight{i}_t"),
                      ("bias_t", f"bias{i}_t")],
        config_values=[*geometry, ("n_filt", layer.filters), ("taps", taps), ("reuse", r)],
        args=[f"w{i}", f"b{i}"],
        # (filters, kh, kw, C) as (filters, kh * kw * C): the tap order of the kernel's loops
        arrays=[array_entry(i, ctx.label, "weights (filter, kernel row, column, channel)",
                            f"w{i}", f"weight{i}_t", w.fmt, w.raw.reshape(layer.filters, taps),
                            row="filter"),
                array_entry(i, ctx.label, "bias", f"b{i}", f"bias{i}_t", b.fmt, b.raw)],
        note=f", kernel {k}, stride {s}, padding {layer.padding}" +
        ("" if r == 1 else f", folded, reuse {r}"), loop=oh * ow * r)

