"""Block factories of the convolutional layers: conv, pooling and flatten over pixel streams.

A conv layer is a :class:`~hdl.rtl.stream.SlidingWindow` feeding a dense over each window (the
weights ``(filters, kh, kw, C)`` as ``(filters, kh * kw * C)``, the window's order): a
:class:`~hdl.rtl.dense.DenseParallel` takes a window per cycle; folded (``strategy: folded``,
``reuse: R``), a :class:`~hdl.rtl.dense.DenseFolded` takes one every R cycles from a
:class:`~hdl.rtl.queue.Queue` that holds the windows of a row while it works, so a layer whose
windows come a few at a time (after pooling or a stride) needs a fraction of the adders at the
same pixel rate; a reuse that cannot keep up with the frames is refused, naming the largest
that can. Padding ``same`` with a non-zero pad puts a :class:`~hdl.rtl.stream.Pad`
before the windows: the padded image streams one pixel per cycle, the image's pixels wait
while its zeros go out (a frame then takes the padded image's pixel count in cycles).
"""

from __future__ import annotations

from fxp.nn.layers.pool import mean_format

from .common import silence
from .dense import DenseFolded, DenseParallel
from .queue import Queue, busy_cycles, check_period, queue_depth, serve_times
from .stream import Chain, Flatten, GlobalAvgPool, Pad, PoolReduce, SlidingWindow, \
    beat_times, frame_beats

__all__ = ["Conv", "Pool", "Queued", "conv_block", "conv_fields", "pool_block",
           "pool_fields", "global_pool_block", "flatten_block", "folded_feed",
           "feeds_pixels"]


class Conv(Chain):
    """A conv layer's hardware: its sliding windows, then a dense over each."""


class Queued(Chain):
    """A folded block behind the :class:`~hdl.rtl.queue.Queue` its bursts wait in."""


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


def _fit_reuse(times, service_of, period, reuse) -> int:
    """The largest reuse below ``reuse`` whose beats are done within ``period``."""
    for r in range(reuse - 1, 0, -1):
        if busy_cycles(times, serve_times(times, service_of(r)), service_of(r)) <= period:
            return r
    return 1


def folded_feed(ctx, block, times, parts=()):
    """``block`` (folded: one beat every ``block.service`` cycles) fed beats arriving at
    ``times``: behind a :class:`~hdl.rtl.queue.Queue` when they come faster than it takes
    them, after ``parts``; a :class:`Conv` for a conv layer, else the block alone or
    :class:`Queued`.

    Raises
    ------
    ValueError
        The block would still be busy when the next frame comes, naming the largest reuse
        that keeps up (a held stream would break the stated timing).
    """
    service = block.service
    starts = serve_times(times, service)
    parts = list(parts)
    if starts != list(times):           # a beat would wait: queue them
        arrivals = [t + 1 for t in times]
        starts = serve_times(arrivals, service)
        parts.append(("queue", Queue(layout=block.i.payload.shape(),
                                     depth=queue_depth(times, starts))))
        times = arrivals
    reuse = block.reuse
    conv = ctx.layer.type in ("conv1d", "conv2d")
    unit = "windows" if conv else "pixels"
    what = f"{ctx.layer.label}: folded with reuse {reuse}, its {len(times)} {unit}"
    try:
        if len(times) > 1:      # a one-beat frame waits at the input instead (ii = reuse)
            check_period(times, starts, service, ctx.period, what)
    except ValueError as e:
        per = reuse // service
        best = _fit_reuse(times, lambda r: max(r // per, 1), ctx.period, reuse) * per
        silence([block] + [p for _, p in parts])     # built, never elaborated
        raise ValueError(f"{e}; use reuse <= {best} or strategy parallel") from None
    parts.append(("dense", block))
    if conv:
        return Conv(parts)
    return Queued(parts) if len(parts) > 1 else block


def conv_block(ctx):
    """The layer's windows, then a dense over each: parallel (a window per cycle) or folded
    (:func:`folded_feed`)."""
    layer, i, cfg = ctx.layer, ctx.layer.index, ctx.config
    shape = ctx.model.inputs[i][0]
    win = layer.window(shape)
    w = ctx.model.weight(i)
    kw = dict(weight=w.reshape(w.shape[0], -1), bias=ctx.model.bias(i), in_fmt=ctx.in_fmt,
              acc_fmt=layer.accumulator.fmt, out_fmt=layer.output.fmt,
              pipeline=cfg["pipeline"])
    windows = _windows(ctx, win)
    if cfg["strategy"] == "parallel":
        return Conv(windows + [("dense", DenseParallel(**kw))])
    times = ctx.times
    for _, blk in windows:
        times = beat_times(blk, times)
    return folded_feed(ctx, DenseFolded(reuse=cfg["reuse"], **kw), times, windows)


def conv_fields(ctx, block) -> dict:
    layer, i = ctx.layer, ctx.layer.index
    size, c = _geometry(ctx)
    w = ctx.model.weight(i)
    out = dict(filters=layer.filters, kernel=list(layer.window(ctx.model.inputs[i][0]).kernel),
               stride=list(layer.stride), padding=layer.padding, input_size=list(size),
               channels=c, weight=str(w.fmt), bias=str(ctx.model.bias(i).fmt),
               accumulator=str(layer.accumulator.fmt), nonzero_weights=int((w.raw != 0).sum()),
               **ctx.config)
    queue = [p for p in block.parts if isinstance(p, Queue)]
    if queue:
        out["queue_depth"] = queue[0].depth
    return out


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


def feeds_pixels(ctx) -> bool:
    """Whether the layer after this flatten is a folded dense that takes the image pixel by
    pixel (its reuse a multiple of the pixels, its chunks within a pixel): then the image is
    never gathered."""
    i = ctx.layer.index
    shape = ctx.model.inputs[i][0]
    beats = frame_beats(shape)
    layers = ctx.model.spec.layers
    cfg = (ctx.configs or {}).get(i + 1)
    return (i + 1 < len(layers) and layers[i + 1].type == "dense" and cfg is not None
            and cfg["strategy"] == "folded" and cfg["reuse"] % beats == 0)


def flatten_block(ctx):
    """The image's pixels gathered into one vector; None for a vector (nothing to do) or
    when the next layer takes the pixels itself (:func:`feeds_pixels`)."""
    shape = ctx.model.inputs[ctx.layer.index][0]
    beats = frame_beats(shape)
    if beats == 1 or feeds_pixels(ctx):
        return None
    return Flatten(beats=beats, channels=shape[-1], fmt=ctx.in_fmt)
