"""The hardware: section: parsed once at spec load, one owner for every layer's settings."""

import copy

import pytest

from fxp.nn import SpecError, parse_spec
from fxp.nn.hardware import DEFAULT_PIPELINE, LayerHardware

DOC = {"name": "net", "input": {"shape": [12], "format": "fixed<6,2>"},
       "layers": [{"type": "dense", "units": 5, "weight": "fixed<4,1>", "bias": "fixed<4,1>",
                   "accumulator": "auto", "output": "fixed<6,3>"},
                  {"type": "relu", "output": "ufixed<4,2>"},
                  {"type": "dense", "units": 3, "weight": "fixed<4,1>", "bias": "fixed<4,1>",
                   "accumulator": "auto", "output": "fixed<6,3>"},
                  {"type": "argmax"}]}


def spec_with(hardware):
    doc = copy.deepcopy(DOC)
    doc["hardware"] = hardware
    return parse_spec(doc)


def test_defaults_and_per_layer_overrides():
    hw = spec_with({"strategy": "folded", "reuse": 4, "layers": {2: {"pipeline": 0,
                                                                      "reuse": 5}}}).hardware
    assert hw.layer(0) == LayerHardware("folded", 4, DEFAULT_PIPELINE)
    assert hw.layer(2) == LayerHardware("folded", 5, 0)
    assert hw.layer(2, strategy="parallel") == LayerHardware("parallel", 1, 0)
    assert hw.layer(0, reuse=12) == LayerHardware("folded", 12, DEFAULT_PIPELINE)
    assert hw.pipeline() == DEFAULT_PIPELINE and hw.pipeline(0) == 0
    assert spec_with(None).hardware.layer(0) == LayerHardware("parallel", 1, DEFAULT_PIPELINE)


def test_dump_is_what_the_spec_wrote():
    given = {"reuse": 2, "strategy": "folded", "layers": {0: {"reuse": 3}}}
    assert spec_with(given).hardware.dump() == given


@pytest.mark.parametrize("hardware, message", [
    ({"strategy": "folded", "reuse": 6},
     "layer 2 (dense): reuse 6 exceeds the layer's 5 inputs (a folded layer takes at most one "
     "input per cycle); set hardware.layers.2.reuse"),
    ({"layers": {0: {"strategy": "folded", "reuse": 13}}},
     "layer 0 (dense): reuse 13 exceeds the layer's 12 inputs (a folded layer takes at most "
     "one input per cycle); set hardware.layers.0.reuse"),
])
def test_reuse_beyond_the_inputs_is_an_error_at_load(hardware, message):
    with pytest.raises(SpecError) as err:
        spec_with(hardware)
    assert str(err.value) == message


def test_a_parallel_layer_ignores_the_model_reuse():
    hw = spec_with({"reuse": 64}).hardware
    assert hw.layer(2) == LayerHardware("parallel", 1, DEFAULT_PIPELINE)


@pytest.mark.parametrize("kw, message", [
    (dict(reuse=0), "layer 0 (dense) reuse: expected a positive integer, not 0"),
    (dict(reuse=True), "layer 0 (dense) reuse: expected a positive integer, not True"),
    (dict(strategy="dataflow"),
     "layer 0 (dense) strategy: unknown strategy 'dataflow'; expected one of parallel, folded"),
    (dict(pipeline=-1), "layer 0 (dense) pipeline: expected a non-negative integer, not -1"),
    (dict(strategy="folded", reuse=13),
     "layer 0 (dense): reuse 13 exceeds the layer's 12 inputs (a folded layer takes at most "
     "one input per cycle); set hardware.layers.0.reuse"),
])
def test_overrides_are_checked_naming_the_layer(kw, message):
    hw = spec_with({}).hardware
    with pytest.raises(SpecError) as err:
        hw.layer(0, **kw)
    assert str(err.value) == message


def test_only_configurable_layers_have_settings():
    with pytest.raises(SpecError, match=r"^layer 1: has no hardware settings$"):
        spec_with({}).hardware.layer(1)


CNN = {"name": "cnn", "input": {"shape": [6, 5, 3], "format": "fixed<6,2>"},
       "layers": [{"type": "conv2d", "filters": 4, "kernel": [2, 3], "weight": "fixed<4,1>",
                   "bias": "fixed<4,1>", "accumulator": "auto", "output": "fixed<6,3>"},
                  {"type": "maxpool2d", "pool": [2, 1]},
                  {"type": "flatten"},
                  {"type": "dense", "units": 3, "weight": "fixed<4,1>", "bias": "fixed<4,1>",
                   "accumulator": "auto", "output": "fixed<6,3>"}]}


def test_a_conv_is_configured_like_a_dense_with_its_window_as_inputs():
    doc = copy.deepcopy(CNN)
    doc["hardware"] = {"layers": {0: {"strategy": "folded", "reuse": 18}}}
    hw = parse_spec(doc).hardware
    assert hw.layer(0) == LayerHardware("folded", 18, DEFAULT_PIPELINE)   # 2 * 3 * 3 taps
    doc["hardware"] = {"layers": {0: {"strategy": "folded", "reuse": 19}}}
    with pytest.raises(SpecError) as err:
        parse_spec(doc)
    assert str(err.value) == ("layer 0 (conv2d): reuse 19 exceeds the layer's 18 inputs (a "
                              "folded layer takes at most one input per cycle); set "
                              "hardware.layers.0.reuse")
    doc["hardware"] = {"layers": {1: {"strategy": "folded"}}}
    with pytest.raises(SpecError) as err:
        parse_spec(doc)
    assert str(err.value) == "hardware.layers.1: 1 is not the index of a conv2d or dense layer"
