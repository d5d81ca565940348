# amaranth: UnusedElaboratable=no
"""hdl.rtl.stream: pixel-stream CNN blocks in amaranth.sim under random idle cycles and
backpressure against the emulator (fxp.nn's windows and layers), and the tops' advertised
latency and II at full rate."""

import copy
import subprocess

import numpy as np
import pytest

import fxp
from fxp.array import from_raw
from fxp.nn import Model, parse_spec
from fxp.nn.layers.window import Window
from fxp.nn import write_artifact
from hdl.rtl.common import silence
from hdl.rtl.emit import build_manifest, generate_rtl
from hdl.rtl.stream import Pad, SlidingWindow
from hdl.rtl.top import ModelTop

from .streamsim import run_stream
from .test_top import WAIVERS


@pytest.mark.parametrize("size, kernel, stride, channels", [
    ((5, 7), (3, 2), (2, 1), 2), ((6, 6), (2, 2), (2, 2), 1), ((9, 1), (3, 1), (2, 1), 3),
    ((4, 4), (4, 4), (1, 1), 1), ((3, 5), (1, 1), (1, 2), 2)],
    ids=["3x2-s2x1", "pool2x2", "1d-k3-s2", "whole", "1x1-s1x2"])
def test_sliding_window_emits_every_window_in_raster_order(size, kernel, stride, channels):
    rng = np.random.default_rng(sum(size) + sum(kernel))
    fmt = fxp.FixedFormat(6, 2)
    frames = rng.integers(fmt.raw_min, fmt.raw_max, (3, *size, channels), endpoint=True)
    beats = [list(px) for f in frames for px in f.reshape(-1, channels)]
    win = Window(size, kernel, stride, "valid", "test")
    want = win.patches(frames).reshape(-1, win.count * channels)
    dut = SlidingWindow(fmt=fmt, channels=channels, size=size, kernel=kernel, stride=stride)
    assert dut.out_size == win.out
    got, _ = run_stream(dut, beats, expect=len(want), seed=len(beats))
    assert np.array_equal(np.array(_signed(got, fmt)), want)


@pytest.mark.parametrize("size, pads, channels", [
    ((4, 5), ((1, 1), (1, 1)), 2), ((5, 4), ((0, 1), (1, 2)), 1), ((7, 1), ((1, 2), (0, 0)), 3),
    ((2, 2), ((2, 0), (0, 3)), 1)], ids=["1-all", "uneven", "1d", "top-right"])
@pytest.mark.parametrize("gated", [True, False], ids=["gated", "free"])
def test_pad_streams_the_zero_padded_image(size, pads, channels, gated):
    rng = np.random.default_rng(sum(size))
    fmt = fxp.FixedFormat(6, 2)
    frames = rng.integers(fmt.raw_min, fmt.raw_max, (3, *size, channels), endpoint=True)
    beats = [list(px) for f in frames for px in f.reshape(-1, channels)]
    want = np.pad(frames, ((0, 0), *pads, (0, 0))).reshape(-1, channels)
    dut = Pad(fmt=fmt, channels=channels, size=size, pads=pads, gated=gated)
    assert dut.out_size == tuple(n + a + b for n, (a, b) in zip(size, pads))
    got, _ = run_stream(dut, beats, expect=len(want), seed=len(beats))
    assert np.array_equal(np.array(_signed(got, fmt)), want)
    assert dut.ii == len(want) // 3


def _random_model(doc, seed):
    """A Model of the concrete spec ``doc`` with random raw tensors."""
    spec = parse_spec(doc)
    rng = np.random.default_rng(seed)
    params, shape, fmt = {}, tuple(spec.input_shape), spec.input_format
    for layer in spec.layers:
        tensors = {}
        for key, (s, f) in layer.tensors(shape, fmt).items():
            raw = rng.integers(f.raw_min, f.raw_max, s, endpoint=True)
            params[f"{layer.index}.{key}"] = raw
            tensors[key] = from_raw(raw, f)
        fmt, shape = layer.output_format(shape, fmt, tensors), layer.output_shape(shape)
    return Model(spec, params)


def _layer(kind, **kw):
    return {"type": kind, **kw}


# every quantization and overflow mode among the outputs; stride 2, a 2x3 kernel, a
# power-of-two average, a max pool, the global average, flatten into a dense and argmax
IMAGE = {
    "name": "cnn_mix", "input": {"shape": [7, 6, 2], "format": "fixed<6,2,TRN,WRAP>"},
    "layers": [
        _layer("conv2d", filters=3, kernel=[2, 3], stride=[1, 1], weight="fixed<4,1>",
               bias="fixed<6,2>", accumulator="fixed<14,6>",
               output="fixed<7,3,RND_CONV,SAT>"),
        _layer("relu", output="ufixed<5,2,RND_INF,SAT_ZERO>"),
        _layer("maxpool2d", pool=[2, 2], stride=[1, 1]),
        _layer("conv2d", filters=4, kernel=[2, 2], stride=[1, 2], weight="fixed<5,2>",
               bias="fixed<5,1>", accumulator="fixed<16,7>",
               output="fixed<6,2,RND_ZERO,WRAP_SM>"),
        _layer("avgpool2d", pool=[2, 1], output="fixed<6,1,RND_MIN_INF,SAT_SYM>"),
        _layer("leaky_relu", alpha=0.25, output="fixed<6,1,TRN_ZERO,SAT>"),
        _layer("flatten"),
        _layer("dense", units=5, weight="fixed<4,0>", bias="fixed<4,0>",
               accumulator="fixed<14,5>", output="fixed<8,4,RND,WRAP>"),
        _layer("argmax"),
    ],
    "hardware": {"pipeline": 1},
}

SEQUENCE = {
    "name": "seq_mix", "input": {"shape": [12, 3], "format": "ufixed<5,3>"},
    "layers": [
        _layer("conv1d", filters=4, kernel=3, stride=1, weight="fixed<5,1>", bias="fixed<6,2>",
               accumulator="fixed<16,6>", output="fixed<8,4,RND_CONV,SAT>"),
        _layer("maxpool1d", pool=2),
        _layer("conv1d", filters=2, kernel=2, stride=1, weight="fixed<5,1>", bias="fixed<6,2>",
               accumulator="fixed<16,7>", output="fixed<8,4,RND,SAT>"),
        _layer("avgpool1d", pool=2),
        _layer("global_avgpool", output="fixed<7,3,RND_CONV,SAT>"),
    ],
    "hardware": {"pipeline": 2},
}

STREAM_OUT = {   # the output is still an image: it streams out too
    "name": "img_out", "input": {"shape": [5, 5, 1], "format": "ufixed<4,4>"},
    "layers": [_layer("conv2d", filters=2, kernel=[3, 3], weight="fixed<4,1>",
                      bias="fixed<6,3>", accumulator="fixed<14,8>",
                      output="fixed<8,6,RND_CONV,SAT>")],
    "hardware": {"pipeline": 0},
}


PADDED = {   # padding 'same': uneven pads with stride 2 first, then after other blocks
    "name": "pad_mix", "input": {"shape": [6, 5, 2], "format": "fixed<6,2>"},
    "layers": [
        _layer("conv2d", filters=3, kernel=[3, 2], stride=[2, 2], padding="same",
               weight="fixed<4,1>", bias="fixed<6,2>", accumulator="fixed<14,6>",
               output="fixed<7,3,RND_CONV,SAT>"),
        _layer("relu", output="ufixed<5,2,RND_CONV,SAT>"),
        _layer("conv2d", filters=2, kernel=[3, 3], padding="same", weight="fixed<4,1>",
               bias="fixed<6,2>", accumulator="fixed<16,6>", output="fixed<8,4,RND,SAT>"),
        _layer("maxpool2d", pool=[1, 2], stride=[1, 1]),
        _layer("flatten"),
        _layer("dense", units=3, weight="fixed<4,0>", bias="fixed<4,0>",
               accumulator="fixed<14,5>", output="fixed<8,4,RND,WRAP>"),
    ],
    "hardware": {"pipeline": 1},
}

PADDED_1D = {
    "name": "pad_seq", "input": {"shape": [9, 2], "format": "ufixed<5,3>"},
    "layers": [
        _layer("conv1d", filters=3, kernel=4, stride=1, padding="same", weight="fixed<5,1>",
               bias="fixed<6,2>", accumulator="fixed<16,6>", output="fixed<8,4,RND_CONV,SAT>"),
        _layer("conv1d", filters=2, kernel=3, stride=2, padding="same", weight="fixed<5,1>",
               bias="fixed<6,2>", accumulator="fixed<16,7>", output="fixed<8,4,RND,SAT>"),
    ],
    "hardware": {"pipeline": 2},
}

# The mixed CNN, also simulated in Icarus and Verilator (tests/sim/test_cnn.py) and
# C-simulated (tests/hdl/hls/test_cnn.py): conv2d same (stride 2, uneven pads) and valid,
# maxpool, avgpool, a table, flatten, dense, argmax; every quantization and overflow mode in
# some output; the first accumulator too narrow on purpose (it wraps).
MIXED = {
    "name": "cnn_every_mode", "input": {"shape": [9, 8, 2], "format": "fixed<6,2>"},
    "layers": [
        _layer("conv2d", filters=4, kernel=[3, 3], stride=[2, 2], padding="same",
               weight="fixed<4,1>", bias="fixed<6,2>", accumulator="fixed<12,5>",
               output="fixed<8,3,RND_INF,SAT_SYM>"),
        _layer("relu", output="ufixed<6,3,RND_CONV,SAT_ZERO>"),
        _layer("maxpool2d", pool=[2, 1], stride=[1, 1]),
        _layer("conv2d", filters=3, kernel=[2, 2], weight="fixed<5,2>", bias="fixed<7,3>",
               accumulator="fixed<20,8>", output="fixed<8,3,TRN_ZERO,WRAP_SM>"),
        _layer("leaky_relu", alpha=0.25, output="fixed<7,2,RND_ZERO,WRAP>"),
        _layer("tanh", output="fixed<6,1,TRN,SAT>", table_bits=7),
        _layer("avgpool2d", pool=[1, 2], stride=[1, 1], output="fixed<7,1,RND_MIN_INF,SAT>"),
        _layer("flatten"),
        _layer("dense", units=5, weight="fixed<5,1>", bias="fixed<8,3>",
               accumulator="fixed<20,8>", output="fixed<8,3,RND,SAT>"),
        _layer("argmax"),
    ],
    "hardware": {"pipeline": 1},
}

# folded convs: windows a row at a time into a queue (reuse 2), windows after a pool with
# stride (reuse 4), and a folded dense fed the flattened image pixel by pixel (reuse 6: 3
# cycles per pixel) with a pipelined product tree
FOLDED = {
    "name": "cnn_folded", "input": {"shape": [8, 6, 2], "format": "fixed<6,2>"},
    "layers": [
        _layer("conv2d", filters=4, kernel=[3, 3], weight="fixed<4,1>", bias="fixed<6,2>",
               accumulator="fixed<16,7>", output="fixed<7,3,RND_CONV,SAT>"),
        _layer("relu", output="ufixed<5,2,RND_CONV,SAT>"),
        _layer("maxpool2d", pool=[2, 2]),
        _layer("conv2d", filters=3, kernel=[2, 2], stride=[1, 1], weight="fixed<5,2>",
               bias="fixed<5,1>", accumulator="fixed<16,7>", output="fixed<6,2,RND,WRAP>"),
        _layer("flatten"),
        _layer("dense", units=5, weight="fixed<4,0>", bias="fixed<4,0>",
               accumulator="fixed<14,5>", output="fixed<8,4,RND,SAT>"),
    ],
    "hardware": {"pipeline": 1, "layers": {0: {"strategy": "folded", "reuse": 2},
                                           3: {"strategy": "folded", "reuse": 4},
                                           5: {"strategy": "folded", "reuse": 6,
                                               "pipeline": 1}}},
}

STREAMED = [IMAGE, SEQUENCE, STREAM_OUT, PADDED, PADDED_1D, MIXED, FOLDED]


def _padded_ii(model) -> int:
    """Cycles per frame: the input's pixels, or a padded layer's padded image (fxp.nn's
    windows)."""
    ii = int(np.prod(model.input_shape[:-1]))
    for layer in model.spec.layers:
        if getattr(layer, "padding", "valid") == "same":
            shape = model.inputs[layer.index][0]
            win = layer.window(shape)
            size = (shape[0], 1) if len(shape) == 2 else shape[:2]
            ii = max(ii, int(np.prod([n + a + b for n, (a, b) in zip(size, win.pads)])))
    return ii


def _frames(model, count, seed):
    fmt = model.input_format
    rng = np.random.default_rng(seed)
    x = rng.integers(fmt.raw_min, fmt.raw_max, (count, *model.input_shape), endpoint=True)
    x[0], x[1] = fmt.raw_min, fmt.raw_max          # the extremes first
    return x


def _signed(rows, fmt):
    w = fmt.bits
    return [[v - (1 << w) if fmt.signed and v >= 1 << (w - 1) else v for v in row]
            for row in rows]


@pytest.mark.parametrize("doc", STREAMED, ids=lambda d: d["name"])
def test_streamed_tops_match_the_emulator(doc):
    model = _random_model(doc, seed=len(doc["layers"]))
    top = ModelTop(model=model)
    x = _frames(model, 6, seed=3)
    c = model.input_shape[-1]
    beats = [list(px) for f in x for px in f.reshape(-1, c)]
    with fxp.overflow_policy("ignore"):              # the WRAP outputs wrap on purpose
        want = np.asarray(model.predict_raw(x)).reshape(len(x) * top.output_beats, -1)
    got, _ = run_stream(top, beats, expect=len(want), seed=7)
    assert np.array_equal(np.array(_signed(got, top.out_fmt)), want)
    assert top.input_beats == len(beats) // len(x)


@pytest.mark.parametrize("doc", STREAMED, ids=lambda d: d["name"])
def test_full_rate_takes_the_advertised_cycles(doc):
    model = _random_model(doc, seed=1)
    top = ModelTop(model=model)
    man = build_manifest(top)
    n = 3
    x = _frames(model, n, seed=4)
    beats = [list(px) for f in x for px in f.reshape(-1, model.input_shape[-1])]
    with fxp.overflow_policy("ignore"):
        expect = n * top.output_beats
        _, cycles = run_stream(top, beats, idle=0, stall=0, expect=expect)
    assert man.ii == _padded_ii(model)          # one (padded) pixel per cycle
    assert cycles == (n - 1) * man.ii + man.latency + 1
    assert (man.input_beats, man.output_beats) == (top.input_beats, top.output_beats)


def test_a_folded_conv_that_cannot_keep_up_is_refused():
    doc = copy.deepcopy(FOLDED)
    doc["hardware"]["layers"][0]["reuse"] = 3
    model = _random_model(doc, seed=1)
    with pytest.raises(ValueError) as e:
        ModelTop(model=model)
    assert str(e.value) == (
        "layer 0 (conv2d): folded with reuse 3, its 24 windows keep the layer busy 72 cycles "
        "per frame, more than the 48 cycles between frames; use reuse <= 2 or strategy "
        "parallel")


@pytest.mark.parametrize("reuse, flatten", [(6, False), (4, False), (3, True), (1, True)])
def test_flatten_gathers_the_image_only_when_the_dense_cannot_take_pixels(reuse, flatten):
    doc = copy.deepcopy(FOLDED)
    doc["hardware"]["layers"][5]["reuse"] = reuse
    top = ModelTop(model=_random_model(doc, seed=1))
    kinds = [type(b).__name__ for _, b in top.blocks]
    assert ("Flatten" in kinds) == flatten
    dense = top.blocks[-1][1]
    assert dense.beats == (1 if flatten else 2) and dense.reuse == reuse
    silence([top] + [b for _, b in top.blocks])


@pytest.mark.parametrize("doc", [IMAGE, SEQUENCE, STREAM_OUT, PADDED, FOLDED, "sm_vec"],
                         ids=lambda d: d if isinstance(d, str) else d["name"])
def test_streamed_verilog_lints_clean_and_is_deterministic(doc, tmp_path):
    doc = SOFTMAX[0] if doc == "sm_vec" else doc
    model = _random_model(doc, seed=2)
    art = tmp_path / doc["name"]
    with fxp.overflow_policy("ignore"):
        write_artifact(art, model.spec, model.params)
    generate_rtl(art)
    first = (art / "rtl" / f"{doc['name']}.v").read_bytes()
    generate_rtl(art)
    assert (art / "rtl" / f"{doc['name']}.v").read_bytes() == first
    r = subprocess.run(["verilator", "--lint-only", "-Wall", WAIVERS,
                        str(art / "rtl" / f"{doc['name']}.v")], capture_output=True, text=True)
    assert r.returncode == 0 and "%Warning" not in r.stderr and "%Error" not in r.stderr, \
        r.stderr[:2000]


SOFTMAX = [   # signed and unsigned inputs, coarse and full tables, a softmax per pixel
    {"name": "sm_vec", "input": {"shape": [7], "format": "fixed<8,3>"},
     "layers": [_layer("dense", units=10, weight="fixed<5,1>", bias="fixed<6,2>",
                       accumulator="fixed<16,6>", output="fixed<8,3,RND_CONV,SAT>"),
                _layer("softmax", output="ufixed<8,0,RND_CONV,SAT>", table_bits=6)]},
    {"name": "sm_unsigned", "input": {"shape": [5], "format": "ufixed<6,2>"},
     "layers": [_layer("softmax", output="ufixed<10,1,TRN,WRAP>", table_bits=6)]},
    {"name": "sm_pixels", "input": {"shape": [4, 3, 3], "format": "fixed<6,2>"},
     "layers": [_layer("softmax", output="fixed<7,1,RND_INF,SAT_SYM>", table_bits=3)]},
]


@pytest.mark.parametrize("doc", SOFTMAX, ids=lambda d: d["name"])
def test_softmax_block_matches_the_emulator(doc):
    from fxp.nn.layers.softmax import softmax_tables
    spec = parse_spec(doc)
    rng = np.random.default_rng(9)
    params, shape, fmt = {}, tuple(spec.input_shape), spec.input_format
    for layer in spec.layers:
        if layer.type == "softmax":
            tb = layer.index_bits(fmt)
            e, r = softmax_tables(fmt, layer.output.fmt, shape[-1], tb)
            params.update({f"{layer.index}.exp_table": e.raw, f"{layer.index}.recip_table": r.raw})
            fmt = layer.output.fmt
        else:
            for key, (s, f) in layer.tensors(shape, fmt).items():
                params[f"{layer.index}.{key}"] = rng.integers(f.raw_min, f.raw_max, s,
                                                              endpoint=True)
            fmt = layer.output.fmt
        shape = layer.output_shape(shape)
    model = Model(spec, params)
    top = ModelTop(model=model)
    x = _frames(model, 200, seed=5)
    x[2] = 0                                 # every input equal: a tie for the maximum
    c = model.input_shape[-1]
    beats = [list(px) for f in x for px in f.reshape(-1, c)]
    with fxp.overflow_policy("ignore"):
        want = np.asarray(model.predict_raw(x)).reshape(len(x) * top.output_beats, -1)
    got, _ = run_stream(top, beats, expect=len(want), seed=2)
    assert np.array_equal(np.array(_signed(got, top.out_fmt)), want)
