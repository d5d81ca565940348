"""The table from layer type to Amaranth block factory (and the type's manifest fields)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fxp import FixedFormat
from fxp.nn import Model

from .activation import LUT, Argmax, ReLU
from .conv import conv_block, conv_fields, flatten_block, folded_feed, global_pool_block, \
    pool_block, pool_fields
from .dense import DenseFolded, DenseParallel
from .leaky_relu import leaky_relu_block, leaky_relu_fields
from .requantize import fuses
from .softmax import softmax_block, softmax_fields

__all__ = ["LayerContext", "BlockKind", "BLOCKS", "block_kind", "dense_block", "relu_block",
           "lut_block", "argmax_block", "fused_relu"]


@dataclass(frozen=True)
class LayerContext:
    """What a block factory gets for one layer.

    Attributes
    ----------
    model : fxp.nn.Model
    layer : the spec's layer (``model.spec.layers[i]``)
    in_fmt : FixedFormat
        The format of the vector the block receives.
    n : int
        The number of features of that vector.
    config : dict or None
        The layer's hardware settings (:func:`hdl.rtl.top.layer_config`) when the layer
        type has them (``layer.configurable``, from the fxp layer registry), else None.
    backpressure : bool
        False when the block runs free into the top's output FIFO.
    pipeline : int
        The model's ``hardware.pipeline`` (with the override).
    times : tuple of int
        The cycles the beats of one input frame reach the block in, at full rate with the
        frame's first beat entering the model in cycle 0 (a vector: one beat).
    period : int
        Cycles between two frames at full rate (at least, from the blocks before this one).
    configs : dict
        Every configurable layer's settings by index (a flatten looks at the next layer's).
    """

    model: Model
    layer: Any
    in_fmt: FixedFormat
    n: int
    config: dict | None
    backpressure: bool
    pipeline: int
    times: tuple = (0,)
    period: int = 1
    configs: dict | None = None


def _no_fields(ctx: LayerContext, block) -> dict:
    return {}


def _no_check(model, layer) -> None:
    pass


@dataclass(frozen=True)
class BlockKind:
    """One layer type's hardware.

    Attributes
    ----------
    build : callable
        ``build(ctx) -> Component``: the block, with ``i``/``o`` streams, ``out_fmt``,
        ``latency`` and ``ii`` (and ``beat_times`` when it changes a stream's beats); None
        when the layer needs no hardware for this input.
    fields : callable
        ``fields(ctx, block) -> dict``: the type's own manifest fields.
    check : callable
        ``check(model, layer)``: raises ``ValueError`` (one line naming the layer) for what
        the block cannot build; the top checks every layer before building any block.
    """

    build: Callable
    fields: Callable = _no_fields
    check: Callable = _no_check


def fused_relu(model: Model, configs: dict, index: int) -> bool:
    """Whether layer ``index`` is a ReLU that the parallel dense layer just before it computes
    with its own cast: when the two casts make one adder and one saturation from the
    accumulator (:func:`hdl.rtl.requantize.fuses`), so the ReLU needs no block."""
    layers = model.spec.layers
    if not (0 < index < len(layers) and layers[index].type == "relu"
            and layers[index - 1].type == "dense"
            and (configs or {}).get(index - 1, {}).get("strategy") == "parallel"):
        return False
    dense = layers[index - 1]
    return fuses(dense.accumulator.fmt, dense.output.fmt, layers[index].output.fmt)


def dense_block(ctx: LayerContext):
    """DenseParallel (with the ReLU after it, if any), or DenseFolded (its reuse is at most
    its inputs: checked at spec load)."""
    model, i, cfg = ctx.model, ctx.layer.index, ctx.config
    weight = model.weight(i)
    kw = dict(weight=weight, bias=model.bias(i), in_fmt=ctx.in_fmt,
              acc_fmt=ctx.layer.accumulator.fmt, out_fmt=ctx.layer.output.fmt)
    if cfg["strategy"] == "parallel":
        relu = model.spec.layers[i + 1].output.fmt if fused_relu(model, ctx.configs, i + 1) \
            else None
        return DenseParallel(pipeline=cfg["pipeline"], backpressure=ctx.backpressure,
                             relu_fmt=relu, **kw)
    beats = weight.shape[1] // ctx.n        # a flattened image's pixels (see flatten_block)
    return folded_feed(ctx, DenseFolded(reuse=cfg["reuse"], pipeline=cfg["pipeline"],
                                        beats=beats, **kw), ctx.times)


def _dense_fields(ctx: LayerContext, block) -> dict:
    model, i = ctx.model, ctx.layer.index
    w = model.weight(i)
    out = dict(units=int(w.shape[0]), inputs=int(w.shape[1]), weight=str(w.fmt),
               bias=str(model.bias(i).fmt), accumulator=str(ctx.layer.accumulator.fmt),
               nonzero_weights=int((w.raw != 0).sum()), **ctx.config)
    if ctx.config["strategy"] == "folded" and ctx.n != w.shape[1]:
        out["beats"] = w.shape[1] // ctx.n      # fed pixel by pixel after a flatten
    if getattr(block, "relu_fmt", None) is not None:
        out["relu_output"] = str(block.relu_fmt)  # the next layer's ReLU, computed here
    return out


def relu_block(ctx: LayerContext):
    """ReLU, registered unless the model is unpipelined: its rounding and saturation would
    otherwise sit in one cycle with the next layer's first adders. None after a parallel
    dense layer, which computes it (:func:`fused_relu`)."""
    if fused_relu(ctx.model, ctx.configs, ctx.layer.index):
        return None
    return ReLU(n=ctx.n, in_fmt=ctx.in_fmt, out_fmt=ctx.layer.output.fmt,
                backpressure=ctx.backpressure, registered=ctx.pipeline > 0)


def lut_block(ctx: LayerContext):
    """A table lookup (sigmoid, tanh) on the layer's table."""
    table, table_bits = ctx.model.table(ctx.layer.index)
    return LUT(n=ctx.n, in_fmt=ctx.in_fmt, table=table, table_bits=table_bits,
               backpressure=ctx.backpressure)


def _lut_fields(ctx: LayerContext, block) -> dict:
    return {"table_bits": ctx.model.table(ctx.layer.index)[1]}


# Up to this many values, argmax compares all pairs in two rounds (groups, then their maxima;
# 30 comparators for 16)
ARGMAX_ALL_PAIRS = 16


def argmax_block(ctx: LayerContext):
    """Argmax: up to ``ARGMAX_ALL_PAIRS`` values, all pairs compared in two rounds (two
    registers when pipelined); beyond, a comparator tree registered like the adder trees."""
    return Argmax(n=ctx.n, in_fmt=ctx.in_fmt, pipeline=ctx.pipeline,
                  all_pairs=ctx.n <= ARGMAX_ALL_PAIRS, backpressure=ctx.backpressure)


_LUT = BlockKind(lut_block, _lut_fields)

# None: folded into the layer before it, no block.
BLOCKS = {
    "dense": BlockKind(dense_block, _dense_fields),
    "relu": BlockKind(relu_block),
    "sigmoid": _LUT,
    "tanh": _LUT,
    "argmax": BlockKind(argmax_block),
    "batchnorm": None,
    "leaky_relu": BlockKind(leaky_relu_block, leaky_relu_fields),
    "conv2d": BlockKind(conv_block, conv_fields),
    "conv1d": BlockKind(conv_block, conv_fields),
    "maxpool2d": BlockKind(pool_block, pool_fields),
    "maxpool1d": BlockKind(pool_block, pool_fields),
    "avgpool2d": BlockKind(pool_block, pool_fields),
    "avgpool1d": BlockKind(pool_block, pool_fields),
    "global_avgpool": BlockKind(global_pool_block, pool_fields),
    "flatten": BlockKind(flatten_block),
    "softmax": BlockKind(softmax_block, softmax_fields),
}


def block_kind(layer) -> BlockKind | None:
    """The :data:`BLOCKS` entry of a spec layer (None: no block of its own).

    Raises
    ------
    ValueError
        ``<layer>: no RTL block for layer type '<type>'``.
    """
    try:
        return BLOCKS[layer.type]
    except KeyError:
        raise ValueError(f"{layer.label}: no RTL block for layer type {layer.type!r}") from None
