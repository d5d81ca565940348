"""Block factories of the convolutional layers: conv, pooling and flatten over pixel streams.

A conv layer is a :class:`~hdl.rtl.stream.SlidingWindow` feeding a
:class:`~hdl.rtl.dense.DenseParallel` over each window (the weights ``(filters, kh, kw, C)``
as ``(filters, kh * kw * C)``, the window's order): one output pixel per window, one input
pixel per cycle. Padding ``same`` with a non-zero pad puts a :class:`~hdl.rtl.stream.Pad`
before the windows: the padded image streams one pixel per cycle, the image's pixels wait
while its zeros go out (a frame then takes the padded image's pixel count in cycles).
"""

from __future__ import annotations

from fxp.nn.layers.pool import mean_format

from .dense import DenseParallel
from .stream import Chain, Flatten, GlobalAvgPool, Pad, PoolReduce, SlidingWindow, frame_beats

__all__ = ["Conv", "Pool", "conv_block", "conv_fields", "pool_block",
           "pool_fields", "global_pool_block",
           "flatten_block"]


class Conv(Chain):
    """A conv layer's hardware: its sliding windows, then a parallel dense over each."""


class Pool(Chain):
    """A pool layer's hardware: its sliding windows, then each channel's max or mean."""


def _geometry(ctx):
    """``(size, channels)`` of the layer's input image (1-D: ``(L, 1)``)."""
    shape = ctx.model.inputs[ctx.layer.index][0]
    return ((shape[0], 1) if len(shape) == 2 else tuple(shape[:2])), shape[-1]


def _windowed_before(ctx) -> bool:
    """Whether a layer before this one streams windows (its pixels then come with gaps)."""
    return any(getattr(layer, "window", None) is not None and layer.type != "global_avgpool"
               for layer in ctx.model.spec.layers[:ctx.layer.index])


def _windows(ctx, win) -> list:
    """``[("pad", Pad)]`` when the layer pads, then ``("window", SlidingWindow)``."""
    size, c = _geometry(ctx)
    parts = []
    if any(p for pair in win.pads for p in pair):
        pad = Pad(fmt=ctx.in_fmt, channels=c, size=size, pads=win.pads,
                  gated=not _windowed_before(ctx))
        parts.append(("pad", pad))
        size = pad.out_size
    return parts + [("window", SlidingWindow(fmt=ctx.in_fmt, channels=c, size=size,
                                             kernel=win.kernel, stride=win.stride))]


def conv_block(ctx):
    """The layer's windows, then a parallel dense over each (pipelined like the model)."""
    layer, i = ctx.layer, ctx.layer.index
    shape = ctx.model.inputs[i][0]
    win = layer.window(shape)
    w = ctx.model.weight(i)
    dense = DenseParallel(weight=w.reshape(w.shape[0], -1), bias=ctx.model.bias(i),
                          in_fmt=ctx.in_fmt, acc_fmt=layer.accumulator.fmt,
                          out_fmt=layer.output.fmt, pipeline=ctx.pipeline)
    return Conv(_windows(ctx, win) + [("dense", dense)])


def conv_fields(ctx, block) -> dict:
    layer, i = ctx.layer, ctx.layer.index
    size, c = _geometry(ctx)
    w = ctx.model.weight(i)
    return dict(filters=layer.filters, kernel=list(layer.window(ctx.model.inputs[i][0]).kernel),
                stride=list(layer.stride), padding=layer.padding, input_size=list(size),
                channels=c, weight=str(w.fmt), bias=str(ctx.model.bias(i).fmt),
                accumulator=str(layer.accumulator.fmt), nonzero_weights=int((w.raw != 0).sum()))


def pool_block(ctx):
    """The layer's windows, then each channel's maximum or exact mean (cast to the output)."""
    layer = ctx.layer
    shape = ctx.model.inputs[layer.index][0]
    win = layer.window(shape)
    _, c = _geometry(ctx)
    if layer.type.startswith("max"):
        reduce = PoolReduce(op="max", n=win.count, channels=c, in_fmt=ctx.in_fmt)
    else:
        reduce = PoolReduce(op="avg", n=win.count, channels=c, in_fmt=ctx.in_fmt,
                            mean_fmt=mean_format(ctx.in_fmt, win.count),
                            out_fmt=None if layer.output is None else layer.output.fmt)
    return Pool(_windows(ctx, win) + [("reduce", reduce)])


def pool_fields(ctx, block) -> dict:
    layer = ctx.layer
    win = layer.window(ctx.model.inputs[layer.index][0])
    size, c = _geometry(ctx)
    return dict(pool=list(win.kernel), stride=list(win.stride), input_size=list(size),
                channels=c)


def global_pool_block(ctx):
    """Each channel's exact mean over the whole image, one beat per image."""
    layer = ctx.layer
    shape = ctx.model.inputs[layer.index][0]
    n = layer.count(shape)
    return GlobalAvgPool(beats=frame_beats(shape), channels=shape[-1], in_fmt=ctx.in_fmt,
                         mean_fmt=mean_format(ctx.in_fmt, n),
                         out_fmt=None if layer.output is None else layer.output.fmt)


def flatten_block(ctx):
    """The image's pixels gathered into one vector (None for a vector: nothing to do)."""
    shape = ctx.model.inputs[ctx.layer.index][0]
    beats = frame_beats(shape)
    if beats == 1:
        return None
    return Flatten(beats=beats, channels=shape[-1], fmt=ctx.in_fmt)
