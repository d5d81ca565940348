"""fxp.torch modules in eval mode against the artifact they export: 0 mismatches."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fxp  # noqa: E402
import fxp.torch as ft  # noqa: E402
from fxp.nn import Model, load_vectors  # noqa: E402

from .models import (digits, digits_model, every_mode_model, probe_inputs,  # noqa: E402
                     raw_outputs, train)


@pytest.fixture(scope="module")
def data():
    return digits()


@pytest.fixture(scope="module")
def digits_artifact(data, tmp_path_factory):
    model = train(digits_model(batchnorm=True), data, epochs=2)
    d = tmp_path_factory.mktemp("torch") / "digits_torch"
    ft.export(model, d, name="digits_torch", data=data, hardware={"strategy": "parallel"})
    return model, d


@pytest.fixture(scope="module")
def every_mode_artifact(data, tmp_path_factory):
    model = train(every_mode_model(), data, epochs=1, lr=0.01)
    d = tmp_path_factory.mktemp("torch") / "every_mode"
    with fxp.overflow_policy("ignore"):
        ft.export(model, d, name="every_mode", data=data)
    return model, d


def _mismatches(model, directory, data):
    loaded = Model.load(directory)
    x_test = fxp.quantize(data.x_test, loaded.input_format).raw
    x = np.concatenate([x_test, probe_inputs(loaded.input_format, 64, 2000)])
    with fxp.overflow_policy("ignore"):
        want = loaded.predict_raw(x)
        got = raw_outputs(model, x)
    assert got.shape == want.shape and len(x) == 359 + 2000
    return int(np.count_nonzero(got != want))


def test_digits_eval_forward_equals_the_artifact(digits_artifact, data):
    model, d = digits_artifact
    assert _mismatches(model, d, data) == 0
    assert np.array_equal(model(data.x_test).numpy(), Model.load(d).predict(data.x_test))
    assert Model.load(d).spec.layers[1].type == "batchnorm"


def test_every_mode_eval_forward_equals_the_artifact(every_mode_artifact, data):
    model, d = every_mode_artifact
    assert _mismatches(model, d, data) == 0
    spec = Model.load(d).spec
    formats = [str(layer.output.fmt) for layer in spec.layers if layer.output is not None]
    modes = "".join(formats)
    for mode in [q.value for q in fxp.Quantization] + [o.value for o in fxp.Overflow]:
        if mode not in ("TRN", "WRAP"):
            assert mode in modes, mode
    assert str(spec.layers[3].accumulator.fmt) == "fixed<11,3>"
    assert spec.layers[5].weight.fmt.bits == 5      # the learned binary point, resolved


def test_predict_raw_is_the_artifacts(every_mode_artifact, data):
    model, d = every_mode_artifact
    loaded = Model.load(d)
    x = probe_inputs(loaded.input_format, 64, 500, seed=5)
    with fxp.overflow_policy("ignore"):
        assert np.array_equal(model.predict_raw(x), loaded.predict_raw(x))
    with pytest.raises(ValueError, match=r"^predict_raw: raw inputs must lie in 0..31 \(the "
                                         r"input format ufixed<5,5>\)$"):
        model.predict_raw(x + 1)
    with pytest.raises(TypeError, match=r"^predict_raw: expected integer raw inputs, not "
                                        r"float64$"):
        model.predict_raw(x * 1.0)


def test_vectors_are_the_test_set_and_the_models_outputs(digits_artifact, data):
    _, d = digits_artifact
    vec = load_vectors(d)
    assert np.array_equal(vec["inputs"], fxp.quantize(data.x_test, "ufixed<5,5>").raw)
    assert np.array_equal(vec["outputs"], Model.load(d).predict_raw(vec["inputs"]))


def test_qat_forward_is_the_eval_forward_but_for_the_argmax(digits_artifact, data):
    model, _ = digits_artifact
    logits, _ = model.run(torch.from_numpy(data.x_test), "calibrate")
    model.calibrate(data.x_train)
    assert np.array_equal(logits.argmax(dim=1).numpy(), model(data.x_test).numpy())


def test_learned_binary_point_gets_a_gradient():
    model = every_mode_model()
    x = torch.from_numpy(digits().x_train[:64])
    with fxp.overflow_policy("ignore"):
        model.calibrate(x)
        model.train()
        model(x).sum().backward()
    f = model.layers[5].weight_frac_bits
    assert f.grad is not None and torch.isfinite(f.grad) and float(f.grad) != 0.0
    assert float(f.detach()) == round(float(f.detach()))   # whole bits from calibration


def test_a_state_dict_keeps_the_formats_in_force(every_mode_artifact, data):
    model, d = every_mode_artifact
    fresh = every_mode_model()
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    assert fresh.formats() == model.formats()
    with fxp.overflow_policy("ignore"):
        assert np.array_equal(fresh(data.x_test).detach().numpy(),
                              model(data.x_test).detach().numpy())
