"""fxp.torch.from_float: a float torch.nn.Sequential quantized by fxp.nn's PTQ, exact in eval."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fxp  # noqa: E402
import fxp.torch as ft  # noqa: E402
from fxp.nn import Model, parse_spec  # noqa: E402
from fxp.nn.network import Network  # noqa: E402

from .models import digits, probe_inputs, raw_outputs  # noqa: E402


def _float_module():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(64, 24), torch.nn.BatchNorm1d(24), torch.nn.ReLU(),
                            torch.nn.Linear(24, 16), torch.nn.Tanh(), torch.nn.Linear(16, 12),
                            torch.nn.Sigmoid(), torch.nn.Linear(12, 10))
    with torch.no_grad():
        m[0].weight /= 7.0
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
        m[1].weight.uniform_(0.5, 1.5)
        m[1].bias.uniform_(-0.2, 0.2)
    return m.eval()


def _dense(units):
    return {"type": "dense", "units": units, "weight": {"bits": 8, "int_bits": "auto"},
            "bias": "auto", "accumulator": "auto", "output": "auto"}


def test_from_float_is_fxp_nns_post_training_quantization(tmp_path):
    data = digits()
    m = _float_module()
    q = ft.from_float(m, input_format="ufixed<5,5>", calibration=data.x_train, argmax=True)
    fxm = ft.export(q, tmp_path / "ptq", name="ptq", data=data)
    # the same spec and weights through fxp.nn (as python -m fxp quantize does)
    spec = parse_spec({"name": "ptq", "input": {"shape": [64], "format": "ufixed<5,5>"},
                       "layers": [
                           _dense(24),
                           {"type": "batchnorm", "eps": m[1].eps},
                           {"type": "relu", "output": "auto"},
                           _dense(16),
                           {"type": "tanh", "output": "auto"},
                           _dense(12),
                           {"type": "sigmoid", "output": "auto"},
                           _dense(10),
                           {"type": "argmax"}]})
    net = Network(spec, np.random.default_rng(0))
    w = {}
    for i in (0, 3, 5, 7):
        w[f"{i}.weight"] = m[i].weight.detach().double().numpy()
        w[f"{i}.bias"] = m[i].bias.detach().double().numpy()
    for key, t in (("gamma", m[1].weight), ("beta", m[1].bias), ("mean", m[1].running_mean),
                   ("var", m[1].running_var)):
        w[f"1.{key}"] = t.detach().double().numpy()
    net.load_float(w)
    with fxp.overflow_policy("ignore"):
        want = net.resolve(data.x_train)
    assert [la.dump() for la in fxm.spec.layers] == [la.dump() for la in want.spec.layers]
    assert sorted(fxm.params) == sorted(want.params)
    for k in want.params:
        assert np.array_equal(fxm.params[k], want.params[k]), k
    # eval forward == the artifact, test set and probe inputs
    loaded = Model.load(tmp_path / "ptq")
    x = np.concatenate([fxp.quantize(data.x_test, "ufixed<5,5>").raw,
                        probe_inputs("ufixed<5,5>", 64, 2000)])
    assert int(np.count_nonzero(raw_outputs(q, x) != loaded.predict_raw(x))) == 0
    # and the float module's own predictions mostly agree with the quantized ones
    flt = m(torch.from_numpy(data.x_test).float()).argmax(dim=1).numpy()
    assert np.mean(flt == loaded.predict(data.x_test)) > 0.8


def test_bad_from_float_arguments():
    x = np.zeros((4, 8))
    with pytest.raises(TypeError, match=r"^from_float: module must be a torch.nn.Sequential, "
                                        r"not Linear$"):
        ft.from_float(torch.nn.Linear(8, 2), input_format="fixed<8,3>", calibration=x)
    with pytest.raises(TypeError, match=r"^from_float module\[1\]: unsupported layer "
                                        r"torch.nn.modules.dropout.Dropout; expected Linear"):
        ft.from_float(torch.nn.Sequential(torch.nn.Linear(8, 2), torch.nn.Dropout()),
                      input_format="fixed<8,3>", calibration=x)
    with pytest.raises(ValueError, match=r"^from_float weight: int_bits 'learn' needs "
                                         r"training; use 'auto'$"):
        ft.from_float(torch.nn.Sequential(torch.nn.Linear(8, 2)), input_format="fixed<8,3>",
                      calibration=x, weight="fixed<8,learn>")
    with pytest.raises(ValueError, match=r"^from_float input_format: must be a concrete "
                                         r"format, not 'auto'$"):
        ft.from_float(torch.nn.Sequential(torch.nn.Linear(8, 2)), input_format="auto",
                      calibration=x)
    with pytest.raises(ValueError, match=r"^from_float calibration: expected shape \(n, 8\), "
                                         r"not \(4, 3\)$"):
        ft.from_float(torch.nn.Sequential(torch.nn.Linear(8, 2)), input_format="fixed<8,3>",
                      calibration=np.zeros((4, 3)))
