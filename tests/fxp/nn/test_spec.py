"""Spec loading, the canonical dump and its round trip, format fields, exact error messages."""

import copy
import pathlib

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fxp import FixedFormat
from fxp.nn import SpecError, load_spec, parse_spec
from fxp.nn.layers import LAYERS

EXAMPLE = pathlib.Path(__file__).resolve().parents[3] / "examples" / "digits_mlp.yaml"


def example_doc() -> dict:
    with open(EXAMPLE) as f:
        return yaml.safe_load(f)


def round_trip(spec):
    return parse_spec(yaml.safe_load(spec.to_yaml()))


# -- the example ---------------------------------------------------------------------------
def test_example_loads_as_is():
    spec = load_spec(EXAMPLE)
    assert spec.name == "digits_mlp"
    assert spec.input_shape == (64,)
    assert spec.input_format == FixedFormat(5, 5, signed=False)
    assert [layer.type for layer in spec.layers] == ["dense", "relu", "dense", "argmax"]
    assert [layer.index for layer in spec.layers] == [0, 1, 2, 3]
    d0, r1, d2, _ = spec.layers
    assert (d0.units, d2.units) == (32, 10)
    assert d0.weight.fmt == FixedFormat(6, 1, True, "RND_CONV", "SAT")
    assert d0.bias.fmt == FixedFormat(12, 5, True, "RND_CONV", "SAT")
    assert d0.output.fmt == FixedFormat(10, 5, True, "RND_CONV", "SAT")
    assert d0.accumulator.auto and not d0.accumulator.concrete
    assert r1.output.fmt == FixedFormat(8, 4, False, "RND_CONV", "SAT")
    assert d2.output.fmt == FixedFormat(12, 6, True, "RND_CONV", "SAT")
    assert not spec.concrete  # the accumulators are auto
    assert spec.data == {"dataset": "sklearn_digits", "test_fraction": 0.2, "seed": 0}
    assert spec.train == {"epochs": 40, "batch": 64, "optimizer": "adam", "lr": 0.005,
                          "qat": True, "seed": 0}
    assert spec.hardware.dump() == {"strategy": "parallel"}


def test_example_dump_is_canonical_and_round_trips():
    spec = load_spec(EXAMPLE)
    dump = spec.dump()
    assert dump == {
        "name": "digits_mlp",
        "data": {"dataset": "sklearn_digits", "test_fraction": 0.2, "seed": 0},
        "input": {"shape": [64], "format": "ufixed<5,5>"},
        "layers": [
            {"type": "dense", "units": 32, "weight": "fixed<6,1,RND_CONV,SAT>",
             "bias": "fixed<12,5,RND_CONV,SAT>", "accumulator": "auto",
             "output": "fixed<10,5,RND_CONV,SAT>"},
            {"type": "relu", "output": "ufixed<8,4,RND_CONV,SAT>"},
            {"type": "dense", "units": 10, "weight": "fixed<6,1,RND_CONV,SAT>",
             "bias": "fixed<12,5,RND_CONV,SAT>", "accumulator": "auto",
             "output": "fixed<12,6,RND_CONV,SAT>"},
            {"type": "argmax"},
        ],
        "train": {"epochs": 40, "batch": 64, "optimizer": "adam", "lr": 0.005, "qat": True,
                  "seed": 0},
        "hardware": {"strategy": "parallel"},
    }
    again = round_trip(spec)
    assert again.dump() == dump
    assert again.to_yaml() == spec.to_yaml()


def rich_doc() -> dict:
    """Every layer type and every kind of format field."""
    return {
        "name": "Rich_1",
        "input": {"shape": [6], "format": "ap_fixed<8,3,AP_RND,AP_SAT>"},
        "layers": [
            {"type": "dense", "name": "fc1", "units": 5, "weight": "Q0.5",
             "bias": {"bits": 10, "int_bits": "learn", "quantization": "RND_CONV",
                      "overflow": "SAT_SYM"},
             "accumulator": {"bits": 24, "int_bits": "auto"},
             "output": {"bits": 9, "int_bits": "auto", "signed": True,
                        "quantization": "RND", "overflow": "SAT"}},
            {"type": "batchnorm", "eps": 0.01},
            {"type": "tanh", "output": "fixed<8,1,RND,SAT>", "table_bits": 6},
            {"type": "dense", "units": 4, "weight": {"bits": 4, "int_bits": 1},
             "bias": "ufixed<6,2>", "accumulator": "fixed<30,12>", "output": "auto"},
            {"type": "sigmoid", "output": "UQ0.8"},
            {"type": "relu", "output": "ap_ufixed<8,4,AP_TRN_ZERO,AP_SAT_ZERO>"},
            {"type": "argmax", "name": "predicted"},
        ],
        "train": {"epochs": 3, "batch": 8, "optimizer": "sgd", "lr": 1, "qat": False,
                  "seed": 7, "a2q": {"accumulator_bits": 16}, "weight_decay": 0.0},
        "hardware": {"strategy": "folded", "reuse": 4},
    }


def test_rich_spec_dump_round_trips():
    spec = parse_spec(rich_doc())
    assert spec.data == {}
    dump = spec.dump()
    assert "data" not in dump
    assert dump["input"] == {"shape": [6], "format": "fixed<8,3,RND,SAT>"}
    assert dump["layers"][0] == {
        "type": "dense", "name": "fc1", "units": 5, "weight": "fixed<6,1>",
        "bias": {"bits": 10, "int_bits": "learn", "signed": True, "quantization": "RND_CONV",
                 "overflow": "SAT_SYM"},
        "accumulator": {"bits": 24, "int_bits": "auto", "signed": True, "quantization": "TRN",
                        "overflow": "WRAP"},
        "output": {"bits": 9, "int_bits": "auto", "signed": True, "quantization": "RND",
                   "overflow": "SAT"}}
    assert dump["layers"][1] == {"type": "batchnorm", "eps": 0.01}
    assert dump["layers"][2] == {"type": "tanh", "output": "fixed<8,1,RND,SAT>",
                                 "table_bits": 6}
    assert dump["layers"][3] == {"type": "dense", "units": 4, "weight": "fixed<4,1>",
                                 "bias": "ufixed<6,2>", "accumulator": "fixed<30,12>",
                                 "output": "auto"}
    assert dump["layers"][4] == {"type": "sigmoid", "output": "ufixed<8,0>"}
    assert dump["layers"][5] == {"type": "relu", "output": "ufixed<8,4,TRN_ZERO,SAT_ZERO>"}
    assert dump["layers"][6] == {"type": "argmax", "name": "predicted"}
    again = round_trip(spec)
    assert again.dump() == dump
    assert again.to_yaml() == spec.to_yaml()


def test_batchnorm_default_eps_is_dumped():
    doc = rich_doc()
    del doc["layers"][1]["eps"]
    spec = parse_spec(doc)
    assert spec.layers[1].eps == 1e-3
    assert spec.dump()["layers"][1] == {"type": "batchnorm", "eps": 1e-3}
    assert round_trip(spec).dump() == spec.dump()


def test_sections_are_optional():
    doc = example_doc()
    for key in ("data", "train", "hardware"):
        del doc[key]
    spec = parse_spec(doc)
    assert (spec.data, spec.train, spec.hardware.dump()) == ({}, {}, {})
    assert not spec.hardware
    assert set(spec.dump()) == {"name", "input", "layers"}
    assert round_trip(spec).dump() == spec.dump()
    doc["data"] = None  # "data:" with nothing after it
    assert parse_spec(doc).data == {}


def test_parse_does_not_alias_the_document():
    doc = example_doc()
    spec = parse_spec(doc)
    doc["train"]["epochs"] = 1
    doc["data"]["seed"] = 5
    doc["hardware"]["strategy"] = "folded"
    assert (spec.train["epochs"], spec.data["seed"], spec.hardware.settings["strategy"]) == \
        (40, 0, "parallel")


modes_q = st.sampled_from(["TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_MIN_INF", "RND_INF",
                           "RND_CONV"])
modes_o = st.sampled_from(["WRAP", "SAT", "SAT_ZERO", "SAT_SYM", "WRAP_SM"])


@st.composite
def formats(draw):
    signed = draw(st.booleans())
    o = draw(modes_o)
    if o == "WRAP_SM":
        signed = True
    return FixedFormat(draw(st.integers(1, 40)), draw(st.integers(-20, 50)), signed,
                       draw(modes_q), o)


@settings(max_examples=60, deadline=None)
@given(formats(), formats(), formats(), st.integers(1, 40), st.booleans())
def test_random_formats_round_trip(w, b, out, bits, learn):
    doc = example_doc()
    layer = doc["layers"][0]
    layer["weight"], layer["bias"] = w.c_type(), str(b)
    layer["output"] = {"bits": out.bits, "int_bits": "learn" if learn else out.int_bits,
                       "signed": out.signed, "quantization": f"AP_{out.quantization}",
                       "overflow": str(out.overflow).lower()}
    layer["accumulator"] = {"bits": bits, "int_bits": "auto"}
    spec = parse_spec(doc)
    l0 = spec.layers[0]
    assert (l0.weight.fmt, l0.bias.fmt) == (w, b)
    if learn:
        assert l0.output.learn and not l0.output.concrete
        assert l0.output.with_int_bits(out.int_bits) == out
    else:
        assert l0.output.fmt == out
    assert l0.accumulator.with_int_bits(3) == FixedFormat(bits, 3)
    assert round_trip(spec).dump() == spec.dump()


# -- format fields -------------------------------------------------------------------------
@pytest.mark.parametrize("text, fmt", [
    ("fixed<8,3>", FixedFormat(8, 3)),
    ("ufixed<8,0,RND>", FixedFormat(8, 0, False, "RND")),
    ("ap_fixed<16,6,AP_RND_CONV,AP_SAT>", FixedFormat(16, 6, True, "RND_CONV", "SAT")),
    ("ap_fixed<16,6,AP_RND_CONV,AP_SAT,0>", FixedFormat(16, 6, True, "RND_CONV", "SAT")),
    ("fixed<4,-2,TRN_ZERO,SAT_ZERO>", FixedFormat(4, -2, True, "TRN_ZERO", "SAT_ZERO")),
    ("fixed<4,9,RND_INF,WRAP_SM>", FixedFormat(4, 9, True, "RND_INF", "WRAP_SM")),
    ("Q5.10", FixedFormat(16, 6)),
    ("UQ8.8", FixedFormat(16, 8, False)),
    ({"bits": 8, "int_bits": 2}, FixedFormat(8, 2)),
    ({"bits": 8, "int_bits": -1, "signed": False, "quantization": "RND_MIN_INF",
      "overflow": "SAT_SYM"}, FixedFormat(8, -1, False, "RND_MIN_INF", "SAT_SYM")),
])
def test_concrete_format_fields(text, fmt):
    doc = example_doc()
    doc["layers"][1]["output"] = text
    spec = parse_spec(doc)
    assert spec.layers[1].output.concrete
    assert spec.layers[1].output.fmt == fmt
    assert spec.dump()["layers"][1]["output"] == str(fmt)


@pytest.mark.parametrize("value", ["auto", " auto "])
def test_auto_format_field(value):
    doc = example_doc()
    doc["layers"][0]["weight"] = value
    f = parse_spec(doc).layers[0].weight
    assert f.auto and not f.concrete and not f.learn and f.dump() == "auto"


@pytest.mark.parametrize("ib", ["auto", "learn"])
def test_partial_format_fields(ib):
    doc = example_doc()
    doc["layers"][0]["weight"] = {"bits": 6, "int_bits": ib, "quantization": "RND_CONV",
                                  "overflow": "SAT"}
    doc["layers"][1]["output"] = {"bits": 7, "int_bits": ib, "signed": False}
    spec = parse_spec(doc)
    w, o = spec.layers[0].weight, spec.layers[1].output
    assert not spec.concrete and not w.concrete and not w.auto
    assert w.learn == o.learn == (ib == "learn")
    assert w.with_int_bits(2) == FixedFormat(6, 2, True, "RND_CONV", "SAT")
    assert o.with_int_bits(3) == FixedFormat(7, 3, False)
    assert w.dump() == {"bits": 6, "int_bits": ib, "signed": True, "quantization": "RND_CONV",
                        "overflow": "SAT"}


def test_concrete_spec():
    doc = example_doc()
    doc["layers"][0]["accumulator"] = "fixed<20,10>"
    doc["layers"][2]["accumulator"] = {"bits": 22, "int_bits": 12}
    spec = parse_spec(doc)
    assert spec.concrete
    assert spec.layers[2].accumulator.fmt == FixedFormat(22, 12)


# -- rejected specs: exact, one-line messages ----------------------------------------------
def _set(path, value):
    def mutate(doc):
        *head, last = path
        obj = doc
        for k in head:
            obj = obj[k]
        obj[last] = value
    return mutate


def _del(path):
    def mutate(doc):
        *head, last = path
        obj = doc
        for k in head:
            obj = obj[k]
        del obj[last]
    return mutate


def _insert_layer(index, layer):
    return lambda doc: doc["layers"].insert(index, layer)


SAFE = ("is not a safe identifier (a letter, then letters, digits or underscores, at most 63 "
        "characters)")
LAYER0 = "layer 0 (dense)"

BAD = [
    # top level
    ("unknown top-level key", _set(["model"], "x"),
     "spec: unknown key 'model'; expected one of data, hardware, input, layers, name, train"),
    ("missing top-level key", _del(["layers"]), "spec: missing key 'layers'"),
    ("name with a hyphen and a command", _set(["name"], "my-model; rm -rf"),
     f"spec.name: 'my-model; rm -rf' {SAFE}"),
    ("name with a trailing newline", _set(["name"], "digits\n"), f"spec.name: 'digits\\n' {SAFE}"),
    ("name starting with a digit", _set(["name"], "1net"), f"spec.name: '1net' {SAFE}"),
    ("name starting with an underscore", _set(["name"], "_net"), f"spec.name: '_net' {SAFE}"),
    ("name too long", _set(["name"], "a" * 64), f"spec.name: '{'a' * 64}' {SAFE}"),
    ("empty name", _set(["name"], ""), f"spec.name: '' {SAFE}"),
    ("name not a string", _set(["name"], 5), f"spec.name: 5 {SAFE}"),
    ("layer name unsafe", _set(["layers", 1, "name"], "relu 1"),
     f"layer 1 (relu) field 'name': 'relu 1' {SAFE}"),
    ("duplicate layer names", lambda d: (d["layers"][0].update(name="fc"),
                                         d["layers"][2].update(name="fc")),
     "layers: duplicate layer name 'fc'"),
    # data
    ("bad dataset", _set(["data", "dataset"], "mnist"),
     "data.dataset: unknown dataset 'mnist'; expected one of sklearn_digits, "
     "sklearn_iris, sklearn_wine, sklearn_breast_cancer, sklearn_diabetes, "
     "synthetic_waveforms"),
    ("dataset missing", _del(["data", "dataset"]),
     "data: expected exactly one of 'dataset', 'path' or 'source', not none"),
    ("unknown data key", _set(["data", "shuffle"], True),
     "data: unknown key 'shuffle'; expected one of dataset, label, path, seed, sha256, source, "
     "test_fraction"),
    ("test_fraction out of range", _set(["data", "test_fraction"], 1.0),
     "data.test_fraction: expected a number between 0 and 1, not 1.0"),
    ("test_fraction not a number", _set(["data", "test_fraction"], "0.2"),
     "data.test_fraction: expected float, not '0.2'"),
    ("data not a mapping", _set(["data"], "sklearn_digits"),
     "data: expected a mapping, not 'sklearn_digits'"),
    # input
    ("image input into a dense layer", _set(["input", "shape"], [8, 8]),
     "layer 0 (dense): expects a vector input, not shape [8, 8] (add a flatten layer before "
     "it)"),
    ("input shape of four dimensions", _set(["input", "shape"], [2, 2, 2, 8]),
     "input.shape: expected [N], [L, C] or [H, W, C] (one to three positive integers), not "
     "[2, 2, 2, 8]"),
    ("input shape zero", _set(["input", "shape"], [0]),
     "input.shape[0]: expected a positive integer, not 0"),
    ("input format auto", _set(["input", "format"], "auto"),
     "input.format: must be a concrete format, not 'auto'"),
    ("input format learn", _set(["input", "format"], {"bits": 5, "int_bits": "learn"}),
     "input.format: must be a concrete format, not int_bits 'learn'"),
    ("unknown input key", _set(["input", "scale"], 1),
     "input: unknown key 'scale'; expected one of format, shape"),
    # layers
    ("no layers", _set(["layers"], []), "layers: expected a non-empty list of layers"),
    ("layer not a mapping", _set(["layers", 1], "relu"),
     "layer 1: expected a mapping with a 'type', not 'relu'"),
    ("unknown layer type", _set(["layers", 1, "type"], "conv3d"),
     f"layer 1: unknown type 'conv3d'; expected one of {', '.join(LAYERS)}"),
    ("unhashable layer type", _set(["layers", 1, "type"], ["relu"]),
     f"layer 1: unknown type ['relu']; expected one of {', '.join(LAYERS)}"),
    ("unknown layer key", _set(["layers", 0, "activation"], "relu"),
     f"{LAYER0}: unknown key 'activation'; expected one of accumulator, bias, name, output, "
     f"units, weight"),
    ("unknown layer keys of mixed types", lambda d: d["layers"][0].update({1: 2, "zz": 3}),
     f"{LAYER0}: unknown key 1; expected one of accumulator, bias, name, output, units, "
     f"weight"),
    ("table_bits on a dense layer", _set(["layers", 0, "table_bits"], 4),
     f"{LAYER0}: unknown key 'table_bits'; expected one of accumulator, bias, name, output, "
     f"units, weight"),
    ("missing units", _del(["layers", 0, "units"]), f"{LAYER0}: missing key 'units'"),
    ("missing accumulator", _del(["layers", 2, "accumulator"]),
     "layer 2 (dense): missing key 'accumulator'"),
    ("relu without output", _del(["layers", 1, "output"]), "layer 1 (relu): missing key 'output'"),
    ("zero units", _set(["layers", 0, "units"], 0),
     f"{LAYER0} field 'units': expected a positive integer, not 0"),
    ("negative units", _set(["layers", 2, "units"], -10),
     "layer 2 (dense) field 'units': expected a positive integer, not -10"),
    ("boolean units", _set(["layers", 0, "units"], True),
     f"{LAYER0} field 'units': expected a positive integer, not True"),
    ("string units", _set(["layers", 0, "units"], "32"),
     f"{LAYER0} field 'units': expected a positive integer, not '32'"),
    ("format with one argument", _set(["layers", 0, "weight"], "fixed<6>"),
     f"{LAYER0} field 'weight': Malformed fixed-point format 'fixed<6>'; expected 2 to 4 "
     f"arguments <bits,int_bits[,quantization[,overflow]]>"),
    ("format gibberish", _set(["layers", 0, "bias"], "float32"),
     f"{LAYER0} field 'bias': Malformed fixed-point format 'float32'; expected e.g. "
     f"'fixed<16,6,RND_CONV,SAT>', 'ap_ufixed<8,0>' or 'Q5.10'"),
    ("unknown quantization", _set(["layers", 1, "output"], "ufixed<8,4,RND_EVEN,SAT>"),
     "layer 1 (relu) field 'output': Unknown quantization mode 'RND_EVEN'; expected one of "
     "TRN, TRN_ZERO, RND, RND_ZERO, RND_MIN_INF, RND_INF, RND_CONV"),
    ("zero-bit format", _set(["layers", 0, "output"], "fixed<0,0>"),
     f"{LAYER0} field 'output': Format bits must be at least 1, not 0"),
    ("format not a string", _set(["layers", 0, "weight"], 8),
     f"{LAYER0} field 'weight': expected a format string such as 'fixed<8,3,RND_CONV,SAT>', "
     f"'auto' or a mapping, not 8"),
    ("format mapping with an unknown key", _set(["layers", 0, "weight"],
                                                {"bits": 6, "int_bits": 1, "frac_bits": 5}),
     f"{LAYER0} field 'weight': unknown key 'frac_bits'; expected bits, int_bits, overflow, "
     f"quantization, signed"),
    ("format mapping without int_bits", _set(["layers", 0, "weight"], {"bits": 6}),
     f"{LAYER0} field 'weight': a format mapping needs 'bits' and 'int_bits'"),
    ("format mapping with auto bits", _set(["layers", 0, "weight"],
                                           {"bits": "auto", "int_bits": 1}),
     f"{LAYER0} field 'weight': Format bits must be an integer, not 'auto'"),
    ("format mapping with a string signed", _set(["layers", 0, "weight"],
                                                 {"bits": 6, "int_bits": "learn",
                                                  "signed": "yes"}),
     f"{LAYER0} field 'weight': Format signed must be a bool, not 'yes'"),
    ("WRAP_SM on an unsigned layer format", _set(["layers", 1, "output"],
                                                 "ufixed<8,4,TRN,WRAP_SM>"),
     "layer 1 (relu) field 'output': Overflow mode WRAP_SM needs a signed format, not "
     "ufixed<8,4>"),
    ("WRAP_SM on an unsigned learned format", _set(["layers", 1, "output"],
                                                   {"bits": 8, "int_bits": "learn",
                                                    "signed": False, "overflow": "WRAP_SM"}),
     "layer 1 (relu) field 'output': Overflow mode WRAP_SM needs a signed format, not "
     "ufixed<8,learn>"),
    ("SAT accumulator", _set(["layers", 0, "accumulator"], "fixed<24,10,TRN,SAT>"),
     f"{LAYER0} field 'accumulator': an accumulator must use WRAP overflow, not SAT (saturate "
     f"in the output format instead)"),
    ("WRAP_SM accumulator", _set(["layers", 2, "accumulator"], "fixed<24,10,TRN,WRAP_SM>"),
     "layer 2 (dense) field 'accumulator': an accumulator must use WRAP overflow, not WRAP_SM "
     "(saturate in the output format instead)"),
    ("SAT accumulator with auto int_bits", _set(["layers", 0, "accumulator"],
                                                {"bits": 24, "int_bits": "auto",
                                                 "overflow": "SAT_SYM"}),
     f"{LAYER0} field 'accumulator': an accumulator must use WRAP overflow, not SAT_SYM "
     f"(saturate in the output format instead)"),
    ("learned accumulator", _set(["layers", 0, "accumulator"], {"bits": 24, "int_bits": "learn"}),
     f"{LAYER0} field 'accumulator': int_bits 'learn' is not supported; use 'auto'"),
    ("batchnorm after relu", _insert_layer(2, {"type": "batchnorm"}),
     "layer 2 (batchnorm): batchnorm must follow a dense layer (it is folded into it)"),
    ("batchnorm first", _insert_layer(0, {"type": "batchnorm"}),
     "layer 0 (batchnorm): batchnorm must follow a dense layer (it is folded into it)"),
    ("batchnorm with zero eps", _insert_layer(1, {"type": "batchnorm", "eps": 0}),
     "layer 1 (batchnorm) field 'eps': expected a positive number, not 0"),
    ("argmax not last", _insert_layer(4, {"type": "relu", "output": "ufixed<4,4>"}),
     "layer 3 (argmax): argmax must be the last layer"),
    ("two argmax", _insert_layer(3, {"type": "argmax"}),
     "layer 3 (argmax): argmax must be the last layer"),
    ("table_bits zero", _insert_layer(2, {"type": "sigmoid", "output": "ufixed<8,0>",
                                          "table_bits": 0}),
     "layer 2 (sigmoid) field 'table_bits': expected an integer from 1 to 16, not 0"),
    ("table_bits too large", _insert_layer(2, {"type": "tanh", "output": "fixed<8,1>",
                                               "table_bits": 17}),
     "layer 2 (tanh) field 'table_bits': expected an integer from 1 to 16, not 17"),
    # train
    ("bad optimizer", _set(["train", "optimizer"], "rmsprop"),
     "train.optimizer: unknown optimizer 'rmsprop'; expected one of adam, sgd"),
    ("unknown train key", _set(["train", "epoch"], 3),
     "train: unknown key 'epoch'; expected one of a2q, batch, epochs, loss, lr, optimizer, qat, "
     "schedule, seed, weight_decay"),
    ("zero epochs", _set(["train", "epochs"], 0),
     "train.epochs: expected a positive integer, not 0"),
    ("float batch", _set(["train", "batch"], 64.0), "train.batch: expected int, not 64.0"),
    ("zero learning rate", _set(["train", "lr"], 0),
     "train.lr: expected a positive number, not 0"),
    ("qat not a bool", _set(["train", "qat"], "yes"), "train.qat: expected bool, not 'yes'"),
    ("train not a mapping", _set(["train"], "adam"), "train: expected a mapping, not 'adam'"),
    ("a2q accumulator_bits 1", _set(["train", "a2q"], {"accumulator_bits": 1}),
     "train.a2q.accumulator_bits: expected an integer >= 2, not 1"),
    ("a2q accumulator_bits a string", _set(["train", "a2q"], {"accumulator_bits": "16"}),
     "train.a2q.accumulator_bits: expected an integer >= 2, not '16'"),
    ("a2q accumulator_bits a bool", _set(["train", "a2q"], {"accumulator_bits": True}),
     "train.a2q.accumulator_bits: expected an integer >= 2, not True"),
    ("a2q without accumulator_bits", _set(["train", "a2q"], {}),
     "train.a2q: missing key 'accumulator_bits'"),
    ("a2q not a mapping", _set(["train", "a2q"], 16), "train.a2q: expected dict, not 16"),
    # hardware
    ("bad strategy", _set(["hardware", "strategy"], "dataflow"),
     "hardware.strategy: unknown strategy 'dataflow'; expected one of parallel, folded"),
    ("zero reuse", _set(["hardware", "reuse"], 0),
     "hardware.reuse: expected a positive integer, not 0"),
    ("unknown hardware key", _set(["hardware", "clock"], 100),
     "hardware: unknown key 'clock'; expected one of ip, layers, pipeline, reuse, strategy"),
    ("hardware not a mapping", _set(["hardware"], ["parallel"]),
     "hardware: expected a mapping, not ['parallel']"),
    ("negative pipeline", _set(["hardware", "pipeline"], -1),
     "hardware.pipeline: expected a non-negative integer, not -1"),
    ("per-layer settings on a relu", _set(["hardware", "layers"], {1: {"reuse": 2}}),
     "hardware.layers.1: 1 is not the index of a dense layer"),
    ("per-layer unknown key", _set(["hardware", "layers"], {0: {"reus": 2}}),
     "hardware.layers.0: unknown key 'reus'; expected one of pipeline, reuse, strategy"),
    ("per-layer bad strategy", _set(["hardware", "layers"], {2: {"strategy": "x"}}),
     "hardware.layers.2.strategy: unknown strategy 'x'; expected one of parallel, folded"),
    ("per-layer zero reuse", _set(["hardware", "layers"], {0: {"reuse": 0}}),
     "hardware.layers.0.reuse: expected a positive integer, not 0"),
    ("per-layer not a mapping", _set(["hardware", "layers"], [1]),
     "hardware.layers: expected a mapping of dense layer index to settings, not [1]"),
]


@pytest.mark.parametrize("mutate, message", [pytest.param(m, msg, id=i) for i, m, msg in BAD])
def test_bad_spec_messages(mutate, message):
    doc = example_doc()
    mutate(doc)
    with pytest.raises(SpecError) as err:
        parse_spec(doc)
    assert str(err.value) == message
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("doc, message", [
    (None, "spec: expected a mapping, not None"),
    ([1, 2], "spec: expected a mapping, not [1, 2]"),
    ("name: x", "spec: expected a mapping, not 'name: x'"),
])
def test_spec_not_a_mapping(doc, message):
    with pytest.raises(SpecError) as err:
        parse_spec(doc)
    assert str(err.value) == message


def test_spec_error_is_a_value_error():
    assert issubclass(SpecError, ValueError)


def test_parse_does_not_mutate_the_document():
    doc = rich_doc()
    before = copy.deepcopy(doc)
    parse_spec(doc)
    assert doc == before


# -- files ---------------------------------------------------------------------------------
def test_load_spec_from_file(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_text(load_spec(EXAMPLE).to_yaml())
    assert load_spec(p).dump() == load_spec(EXAMPLE).dump()
    assert load_spec(str(p)).dump() == load_spec(EXAMPLE).dump()


@pytest.mark.parametrize("text, message", [
    ("name: x\nlayers: [1, 2\n",
     "invalid YAML at line 3, column 1: expected ',' or ']', but got '<stream end>'"),
    ("name: x\n  bad: : indent\n",
     "invalid YAML at line 2, column 6: mapping values are not allowed here"),
    ("name: x\n\tinput: 1\n",
     "invalid YAML at line 2, column 1: found character '\\t' that cannot start any token"),
    ("name: [x\n", "invalid YAML at line 2, column 1: expected ',' or ']', but got "
                   "'<stream end>'"),
    ("name: a\ninput: {shape: [4], shape: [5]}\n",
     "invalid YAML at line 2, column 21: duplicate key 'shape'"),
])
def test_invalid_yaml_file(tmp_path, text, message):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(SpecError) as err:
        load_spec(p)
    assert str(err.value) == f"{p}: {message}"


def test_binary_file(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"name: \xff\xfe\x00x\n")
    with pytest.raises(SpecError) as err:
        load_spec(p)
    # PyYAML's wording (it reports the byte as a character)
    assert str(err.value) == (f"{p}: invalid YAML: unacceptable character #x00ff: invalid "
                              f"start byte")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("# nothing\n")
    with pytest.raises(SpecError) as err:
        load_spec(p)
    assert str(err.value) == "spec: expected a mapping, not None"


def test_missing_file(tmp_path):
    p = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as err:
        load_spec(p)
    assert str(err.value) == f"{p}: cannot read spec: No such file or directory"


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(tmp_path)
    assert str(err.value) == f"{tmp_path}: cannot read spec: Is a directory"


def test_invalid_spec_in_file_names_the_field(tmp_path):
    doc = example_doc()
    doc["layers"][0]["units"] = 0
    p = tmp_path / "net.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError) as err:
        load_spec(p)
    assert str(err.value) == f"{LAYER0} field 'units': expected a positive integer, not 0"


@pytest.mark.parametrize("where, name, message", [
    ("layer", "class", "layer 1 (relu) field 'name': 'class' is a C++ keyword"),
    ("layer", "w0", "layer 1 (relu) field 'name': 'w0' collides with an identifier of the "
                    "generated C++"),
    ("layer", "digits_mlp", "layer 1 (relu) field 'name': 'digits_mlp' collides with an "
                            "identifier of the generated C++"),
    ("layer", "acc_t", "layer 1 (relu) field 'name': 'acc_t' is reserved in the generated C++ "
                       "(POSIX reserves names ending in _t; the generated types use them)"),
    ("model", "int", "model name: 'int' is a C++ keyword"),
    ("model", "module", "model name 'module' is a Verilog keyword or a port name; rename the "
                        "model"),
    ("model", "clk", "model name 'clk' is a Verilog keyword or a port name; rename the model"),
])
def test_names_unusable_in_the_generated_code_fail_at_load(where, name, message):
    """Names are checked when the spec loads, not only at make hls / make rtl."""
    doc = example_doc()
    if where == "layer":
        doc["layers"][1]["name"] = name
    else:
        doc["name"] = name
    with pytest.raises(SpecError) as err:
        parse_spec(doc)
    assert str(err.value) == message
