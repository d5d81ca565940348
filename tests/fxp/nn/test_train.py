"""Training, PTQ and the python -m fxp stages: QAT forward is the bit-exact path, examples
reach their accuracy, A2Q accumulators cannot overflow, artifacts are deterministic."""

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

import fxp
from fxp.nn import Model, SpecError, load_spec, parse_spec
from fxp.nn.training import post_training_quantize, train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EXAMPLE = os.path.join(ROOT, "examples", "digits_mlp.yaml")
A2Q_EXAMPLE = os.path.join(ROOT, "examples", "digits_mlp_a2q.yaml")


def _spec(layers, epochs=2, **train_cfg):
    doc = {"name": "t", "data": {"dataset": "sklearn_digits", "test_fraction": 0.2, "seed": 1},
           "input": {"shape": [64], "format": "ufixed<5,5>"}, "layers": layers,
           "train": {"epochs": epochs, "batch": 128, "lr": 0.01, "seed": 3, **train_cfg}}
    return parse_spec(doc)


ODD_LAYERS = [
    {"type": "dense", "units": 12, "weight": {"bits": 7, "int_bits": "learn",
                                              "quantization": "RND", "overflow": "SAT"},
     "bias": "auto", "accumulator": "auto", "output": "fixed<9,4,RND_INF,SAT_SYM>"},
    {"type": "batchnorm"},
    {"type": "tanh", "output": "fixed<8,1,RND_CONV,SAT>", "table_bits": 7},
    {"type": "dense", "units": 10, "weight": "auto", "bias": "fixed<10,3,TRN_ZERO,SAT_ZERO>",
     "accumulator": "auto", "output": {"bits": 10, "int_bits": "auto"}},
    {"type": "sigmoid", "output": "ufixed<8,0,RND_MIN_INF,SAT>"},
    {"type": "argmax"},
]


@pytest.mark.parametrize("layers", [
    load_spec(EXAMPLE).dump()["layers"],
    ODD_LAYERS,
], ids=["digits", "bn-tanh-sigmoid-learn-auto"])
def test_qat_forward_equals_bit_exact_path(layers):
    spec = _spec(layers)
    result = train(spec, log=None)
    model, net, data = result.model, result.network, result.data
    assert model.spec.concrete
    net.resolve(data.x_train)      # freeze the formats the model was built with
    logits, _ = net.forward(data.x_test, "qat")
    x = fxp.quantize(data.x_test, model.input_format)
    exact = model.forward(x)
    assert np.array_equal(logits, exact[-2].to_float())
    assert np.array_equal(model.predict_raw(x.raw), exact[-1].raw)


def test_learned_and_auto_formats_resolve_to_concrete_ones():
    result = train(_spec(ODD_LAYERS, epochs=3), log=None)
    names = [name for name, _ in result.network.parameters()]
    assert len(names) == len(set(names)), names   # the optimizer steps each array once
    layers = result.model.spec.layers
    w0 = layers[0].weight.fmt
    assert (w0.bits, w0.quantization.value, w0.overflow.value) == (7, "RND", "SAT")
    assert layers[0].bias.fmt.bits == 16 and layers[3].weight.fmt.bits == 8
    assert layers[3].output.fmt.bits == 10
    # the learned binary point is a trained parameter
    assert any(name == "0.weight.f" for name, _ in result.network.parameters())
    # and the dump is a valid spec that loads back into the same model
    again = Model(parse_spec(yaml.safe_load(result.model.spec.to_yaml())), result.model.params)
    assert np.array_equal(again.predict_raw(result.vectors()["inputs"]),
                          result.vectors()["outputs"])


def test_digits_example_accuracy_against_float_training():
    spec = load_spec(EXAMPLE)
    qat = train(spec, log=None)
    flt = train(spec, qat=False, log=None)
    fixed_acc, float_acc = qat.fixed_accuracy, flt.float_accuracy
    assert fixed_acc >= 0.95
    assert fixed_acc >= float_acc - 0.01, (fixed_acc, float_acc)


def test_a2q_example_accumulators_cannot_overflow():
    spec = load_spec(A2Q_EXAMPLE)
    result = train(spec, log=None)
    model = result.model
    assert result.fixed_accuracy >= 0.95
    dense = [layer for layer in model.spec.layers if layer.type == "dense"]
    assert all(layer.accumulator.fmt.bits <= 16 for layer in dense)
    # the bound holds for *any* input: every layer's extreme sums fit, checked by the
    # interval bound itself and by running extreme inputs with overflow raising
    fin = model.input_format
    n = model.n_inputs
    extremes = [np.full(n, fin.raw_min), np.full(n, fin.raw_max),
                np.resize([fin.raw_min, fin.raw_max], n), np.resize([fin.raw_max, fin.raw_min], n)]
    rng = np.random.default_rng(0)
    extremes += list(rng.choice([fin.raw_min, fin.raw_max], size=(200, n)))
    with fxp.overflow_policy("raise") as log:
        model.predict_raw(np.array(extremes))
    assert log.overflows == 0
    for layer in dense:
        lo, hi, _ = fxp.extreme_sums(model.weight(layer.index),
                                     fin if layer.index == 0 else model.shapes[layer.index - 1][1],
                                     bias=model.bias(layer.index))
        acc = layer.accumulator.fmt
        assert acc.raw_min <= min(lo) and max(hi) <= acc.raw_max


def test_post_training_quantization_is_deterministic(tmp_path):
    spec = load_spec(EXAMPLE)
    rng = np.random.default_rng(7)
    weights = {"0.weight": rng.normal(0, 0.05, (32, 64)), "0.bias": rng.normal(0, 0.1, 32),
               "2.weight": rng.normal(0, 0.3, (10, 32)), "2.bias": rng.normal(0, 0.1, 10)}
    np.savez(tmp_path / "w.npz", **weights)
    outs = []
    for d in ("a", "b"):
        out = tmp_path / d
        r = subprocess.run([sys.executable, "-m", "fxp", "quantize", EXAMPLE, "--weights",
                            str(tmp_path / "w.npz"), "-o", str(out)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        outs.append(out)
    for name in ("model.yaml",):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
    wa, wb = np.load(outs[0] / "weights.npz"), np.load(outs[1] / "weights.npz")
    assert sorted(wa.files) == sorted(wb.files)
    assert all(np.array_equal(wa[k], wb[k]) for k in wa.files)
    # the quantized weights are the float weights cast with the spec's formats
    w0 = fxp.quantize(weights["0.weight"], "fixed<6,1,RND_CONV,SAT>").raw
    assert np.array_equal(wa["0.weight"], w0)
    res = post_training_quantize(spec, weights)
    assert np.array_equal(res.model.params["2.bias"],
                          fxp.quantize(weights["2.bias"], "fixed<12,5,RND_CONV,SAT>").raw)


def test_ptq_rejects_bad_weights_naming_layer_and_field():
    spec = load_spec(EXAMPLE)
    good = {"0.weight": np.zeros((32, 64)), "0.bias": np.zeros(32),
            "2.weight": np.zeros((10, 32)), "2.bias": np.zeros(10)}
    bad = dict(good, **{"2.weight": np.zeros((10, 31))})
    with pytest.raises(ValueError) as info:
        post_training_quantize(spec, bad)
    assert str(info.value) == "layer 2 (dense) field 'weight': expected shape (10, 32), not (10, 31)"
    with pytest.raises(ValueError, match="layer 0 \\(dense\\): float weights have no '0.bias'"):
        post_training_quantize(spec, {k: v for k, v in good.items() if k != "0.bias"})
    with pytest.raises(ValueError, match="float weights: unexpected key '5.weight'"):
        post_training_quantize(spec, dict(good, **{"5.weight": np.zeros(3)}))


def test_cli_train_eval_and_errors(tmp_path):
    spec = load_spec(EXAMPLE).dump()
    spec["train"]["epochs"] = 3
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "art"
    r = subprocess.run([sys.executable, "-m", "fxp", "train", str(tmp_path / "s.yaml"), "-o",
                        str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("epoch ") == 3 and "fixed acc" in r.stderr and "float acc" in r.stderr
    assert sorted(os.listdir(out)) == ["float_weights.npz", "metrics.json", "model.yaml",
                                       "vectors.npz", "weights.npz"]
    model = Model.load(out)
    vec = np.load(out / "vectors.npz")
    assert np.array_equal(model.predict_raw(vec["inputs"]), vec["outputs"])
    assert load_spec(out / "model.yaml").concrete
    e = subprocess.run([sys.executable, "-m", "fxp", "eval", str(out)], capture_output=True,
                       text=True)
    assert e.returncode == 0, e.stderr
    assert "bit-exact accuracy" in e.stdout and "vectors.npz         matches" in e.stdout
    # a bad spec: one line, exit 2, no artifact
    bad = copy.deepcopy(spec)
    bad["layers"][0]["weigth"] = bad["layers"][0].pop("weight")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    r = subprocess.run([sys.executable, "-m", "fxp", "train", str(tmp_path / "bad.yaml"), "-o",
                        str(tmp_path / "none")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: layer 0 (dense)")
    assert "weigth" in r.stderr
    assert not (tmp_path / "none").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


@pytest.mark.parametrize("p", [16, 12])
def test_a2q_projection_bounds_every_accumulator(p):
    spec = load_spec(A2Q_EXAMPLE)
    spec.train["epochs"] = 2
    spec.train["a2q"] = {"accumulator_bits": p}
    model = train(spec, log=None).model
    for layer in model.spec.layers:
        if layer.type == "dense":
            assert layer.accumulator.fmt.bits <= p


@pytest.mark.parametrize("units, tail", [(7, [{"type": "argmax"}]),
                                         (7, [{"type": "relu", "output": "ufixed<6,3>"}]),
                                         (9, [])])
def test_fewer_outputs_than_classes_is_one_line_naming_the_layer(tmp_path, units, tail):
    layers = [{"type": "dense", "units": units, "weight": "fixed<4,1>", "bias": "fixed<6,3>",
               "accumulator": "auto", "output": "fixed<8,4>"}] + tail
    spec = _spec(layers)
    message = (f"layer 0 (dense): the model ends with {units} outputs, fewer than the 10 "
               f"classes of sklearn_digits")
    with pytest.raises(SpecError) as err:
        train(spec, log=None)
    assert str(err.value) == message
    with pytest.raises(SpecError) as err:
        post_training_quantize(spec, {"0.weight": np.zeros((units, 64)),
                                      "0.bias": np.zeros(units)})
    assert str(err.value) == message
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec.dump()))
    r = subprocess.run([sys.executable, "-m", "fxp", "train", str(tmp_path / "s.yaml"), "-o",
                        str(tmp_path / "out")], capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (2, f"error: {message}\n")
    assert not (tmp_path / "out").exists()
