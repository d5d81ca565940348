"""The model top: one Component chaining a model's layer blocks with valid/ready streams."""

from __future__ import annotations

import dataclasses

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from fxp.nn import Model
from fxp.nn.hardware import STRATEGIES

from .blocks import LayerContext, block_kind
from .common import silence, vector_layout
from .manifest import submodule_name
from .stream import beat_times, frame_beats

__all__ = ["ModelTop", "layer_config", "layer_configs", "STRATEGIES"]


def layer_config(model: Model, index: int, *, strategy=None, reuse=None, pipeline=None) -> dict:
    """Hardware settings of layer ``index`` (strategy, reuse, pipeline): the model's validated
    ``hardware:`` section (:meth:`fxp.nn.hardware.Hardware.layer`), then the arguments."""
    cfg = model.spec.hardware.layer(index, strategy=strategy, reuse=reuse, pipeline=pipeline)
    return dataclasses.asdict(cfg)


def layer_configs(model: Model, *, strategy=None, reuse=None, pipeline=None) -> dict:
    """Every configurable layer's settings (:func:`layer_config`), by layer index; raises the
    spec's one-line error for a bad override before any block exists."""
    configs = {layer.index: layer_config(model, layer.index, strategy=strategy, reuse=reuse,
                                         pipeline=pipeline)
               for layer in model.spec.layers if layer.configurable}
    model.spec.hardware.pipeline(pipeline)    # also without configurable layers
    return configs


class ModelTop(wiring.Component):
    """A model's datapath: ``i`` carries an input vector, ``o`` the output vector (or the
    argmax index), both valid/ready streams with backpressure.

    An image input (``[H, W, C]`` or ``[L, C]``) streams as pixels: ``H * W`` (``L``) beats of
    ``C`` values per input, in raster order (:mod:`hdl.rtl.stream`); an output still shaped
    as an image leaves the same way. :attr:`input_beats` and :attr:`output_beats` count them.

    Parameters
    ----------
    model : fxp.nn.Model
        A resolved model (the artifact).
    strategy, reuse, pipeline : optional
        Override the model's ``hardware:`` settings for every dense layer (``pipeline``
        also sets the argmax comparator tree's registers, and a ReLU's output is registered
        unless it is 0).

    Attributes
    ----------
    blocks : list of (int, Component)
        The layer blocks in order, with their layer index (batchnorm is folded: no block).
    latency : int
        Cycles from an accepted input (its first beat) to its output (its last beat) with the
        output always ready.
    ii : int
        Initiation interval (cycles between accepted inputs at full throughput; a streamed
        image's first beats).
    input_beats, output_beats : int
        Beats per input and per output (1 for vectors).
    """

    def __init__(self, *, model, strategy=None, reuse=None, pipeline=None):
        if not isinstance(model, Model):
            raise TypeError(f"ModelTop model must be an fxp.nn.Model, not {model!r}")
        self._model = model
        self._blocks = []
        self._contexts = {}
        kinds = [(layer, block_kind(layer)) for layer in model.spec.layers]
        for layer, kind in kinds:       # before any block exists: none is left unelaborated
            if kind is not None:
                kind.check(model, layer)
        self._configs = layer_configs(model, strategy=strategy, reuse=reuse, pipeline=pipeline)
        # the blocks after the last folded layer run free (no enable), before the output FIFO
        folded = [i for i, c in self._configs.items() if c["strategy"] == "folded"]
        free_from = max(folded, default=-1) + 1
        model_pipeline = model.spec.hardware.pipeline(pipeline)
        shape = tuple(model.input_shape)
        self._input_beats = frame_beats(shape)
        streaming = [layer.index for layer, _ in kinds
                     if frame_beats(model.inputs[layer.index][0]) > 1]
        # streamed layers keep their backpressure: beats in and out differ (no credit count)
        free_from = max(free_from, max(streaming, default=-1) + 1)
        fmt, n = model.input_format, shape[-1]
        self._n_in = n
        times, period = tuple(range(self._input_beats)), self._input_beats
        try:
            for layer, kind in kinds:
                if kind is None:        # folded into the layer before it
                    continue
                i = layer.index
                ctx = LayerContext(model=model, layer=layer, in_fmt=fmt, n=n,
                                   config=self._configs.get(i), backpressure=i < free_from,
                                   pipeline=model_pipeline, times=times, period=period,
                                   configs=self._configs)
                blk = kind.build(ctx)
                if blk is None:         # nothing to do in hardware (a flatten of a vector)
                    continue
                fmt, n = blk.out_fmt, blk.o.payload.shape().length
                self._blocks.append((i, blk))
                self._contexts[i] = ctx
                times = tuple(beat_times(blk, times))
                period = max(period, blk.ii)
        except ValueError:
            silence(blk for _, blk in self._blocks)
            raise
        self._times = times         # the last block's output beats, at full rate
        self._output_beats = frame_beats(model.spec.shapes[-1])
        self._free = [blk for _, blk in self._blocks if not getattr(blk, "backpressure", True)]
        # in flight at full rate: one vector per free stage, one written to the FIFO this
        # cycle, one being read: latency + 2 entries never stall the input (see elaborate)
        self._fifo_depth = sum(b.latency for b in self._free) + 2 if self._free else 0
        self._out_fmt, self._n_out = fmt, n
        super().__init__({
            "i": In(stream.Signature(vector_layout(model.input_format, self._n_in))),
            "o": Out(stream.Signature(vector_layout(fmt, n))),
        })

    @property
    def model(self) -> Model:
        return self._model

    @property
    def blocks(self):
        return list(self._blocks)

    @property
    def contexts(self) -> dict:
        """Per layer index with a block: the :class:`~hdl.rtl.blocks.LayerContext` it was
        built from."""
        return dict(self._contexts)

    @property
    def configs(self) -> dict:
        """Per configured layer index (dense): strategy, reuse, pipeline."""
        return dict(self._configs)

    @property
    def out_fmt(self):
        return self._out_fmt

    @property
    def fifo_depth(self) -> int:
        """Entries of the output FIFO after the free-running blocks (0: none)."""
        return self._fifo_depth

    @property
    def input_beats(self) -> int:
        return self._input_beats

    @property
    def output_beats(self) -> int:
        return self._output_beats

    def beat_times(self) -> list:
        """The cycles the output beats of one input leave in when its beats arrive one per
        cycle from cycle 0 and the output is always ready."""
        return [t + (1 if self._free else 0) for t in self._times]

    @property
    def latency(self) -> int:
        return self.beat_times()[-1]

    @property
    def ii(self) -> int:
        return max([b.ii for _, b in self._blocks] + [self._input_beats])

    def elaborate(self, platform):
        m = Module()
        blocks = [blk for _, blk in self._blocks]
        for i, blk in self._blocks:
            m.submodules[submodule_name(i, type(blk).__name__)] = blk
        k0 = len(blocks) - len(self._free)          # the first free-running block
        src = wiring.flipped(self.i)
        for k, blk in enumerate(blocks):
            if k == k0:
                break
            wiring.connect(m, src, blk.i)
            src = blk.o
        if not self._free:
            wiring.connect(m, src, wiring.flipped(self.o))
            return m
        # Free-running tail: no enables; a vector enters only with a free FIFO entry reserved
        # for it (a credit), so the FIFO never overflows and nothing is lost. The credit count
        # is a register: the input's ready no longer ripples through every block.
        m.submodules.out_fifo = fifo = SyncFIFO(width=len(self.o.payload.as_value()),
                                                depth=self._fifo_depth)
        credits = Signal(range(self._fifo_depth + 1))
        take = Signal()
        pop = Signal()
        first = self._free[0]
        m.d.comb += [src.ready.eq(credits < self._fifo_depth),
                     take.eq(src.valid & src.ready), pop.eq(fifo.r_rdy & self.o.ready),
                     first.i.valid.eq(take), first.i.payload.eq(src.payload)]
        for a, b in zip(self._free, self._free[1:]):
            wiring.connect(m, a.o, b.i)
        last = self._free[-1]
        m.d.comb += [last.o.ready.eq(1), fifo.w_en.eq(last.o.valid),
                     fifo.w_data.eq(last.o.payload.as_value()),
                     self.o.valid.eq(fifo.r_rdy), self.o.payload.eq(fifo.r_data),
                     fifo.r_en.eq(self.o.ready)]
        m.d.sync += credits.eq(credits + take - pop)
        return m

