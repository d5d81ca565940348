"""QAT in fxp.torch is fxp.nn's QAT: the same forward and the same (straight-through) gradients."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fxp  # noqa: E402
import fxp.torch as ft  # noqa: E402
from fxp.nn import parse_spec  # noqa: E402
from fxp.nn.network import Network  # noqa: E402

from .models import digits  # noqa: E402

LEARN_W = {"bits": 6, "int_bits": "learn", "quantization": "RND_CONV", "overflow": "SAT"}
LEARN_OUT = {"bits": 8, "int_bits": "learn", "signed": False, "quantization": "RND_CONV",
             "overflow": "SAT"}
SPEC = {"name": "qat", "input": {"shape": [64], "format": "ufixed<5,5>"},
        "layers": [{"type": "dense", "units": 16, "weight": LEARN_W, "bias": "auto",
                    "accumulator": "auto", "output": "fixed<10,5,RND_CONV,SAT>"},
                   {"type": "batchnorm"},
                   {"type": "relu", "output": LEARN_OUT},
                   {"type": "dense", "units": 12, "weight": "fixed<6,1,RND_CONV,SAT>",
                    "bias": "fixed<12,5,RND_CONV,SAT>", "accumulator": "auto",
                    "output": {"bits": 8, "int_bits": "auto", "quantization": "RND",
                               "overflow": "SAT"}},
                   {"type": "tanh", "output": "fixed<8,1,RND_CONV,SAT>"},
                   {"type": "dense", "units": 10, "weight": "fixed<6,2,RND_CONV,SAT>",
                    "bias": "fixed<12,5,RND_CONV,SAT>", "accumulator": "auto",
                    "output": "auto"},
                   {"type": "argmax"}]}


def _torch_model():
    return ft.Sequential(
        ft.Input(64, "ufixed<5,5>"),
        ft.Linear(64, 16, weight=LEARN_W, bias="auto", output="fixed<10,5,RND_CONV,SAT>"),
        ft.BatchNorm1d(16),
        ft.ReLU(output=LEARN_OUT),
        ft.Linear(16, 12, weight="fixed<6,1,RND_CONV,SAT>", bias="fixed<12,5,RND_CONV,SAT>",
                  output="fixed<8,auto,RND,SAT>"),
        ft.Tanh(output="fixed<8,1,RND_CONV,SAT>"),
        ft.Linear(12, 10, weight="fixed<6,2,RND_CONV,SAT>", bias="fixed<12,5,RND_CONV,SAT>",
                  output="auto"),
        ft.Argmax())


def test_forward_and_gradients_equal_fxp_nns_qat():
    data = digits()
    net = Network(parse_spec(SPEC), np.random.default_rng(0), input_scale=7.0)
    model = _torch_model()
    weights = net.float_weights()
    with torch.no_grad():
        for i in (0, 3, 5):
            model.layers[i].weight.copy_(torch.from_numpy(weights[f"{i}.weight"]))
            model.layers[i].bias.copy_(torch.from_numpy(np.full(weights[f"{i}.bias"].shape,
                                                                0.1)))
    net.load_float({k: (np.full(v.shape, 0.1) if k.endswith(".bias") else v)
                    for k, v in weights.items()})
    x, y = data.x_train[:128], data.y_train[:128]
    with fxp.overflow_policy("ignore"):
        net.forward(data.x_train, "calibrate")
        model.calibrate(data.x_train)
        logits, caches = net.forward(x, "qat", train=True)
        model.train()
        out = model(torch.from_numpy(x))
    assert np.array_equal(out.detach().numpy(), logits)     # the very same fake-quantized values
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    with fxp.overflow_policy("ignore"):
        grads = net.backward(caches, p / len(y))
    torch.nn.functional.cross_entropy(out, torch.from_numpy(y)).backward()
    pairs = {"0.W": model.layers[0].weight, "0.b": model.layers[0].bias,
             "0.weight.f": model.layers[0].weight_frac_bits,
             "1.gamma": model.layers[1].weight, "1.beta": model.layers[1].bias,
             "2.output.f": model.layers[2].output_frac_bits,
             "3.W": model.layers[3].weight, "3.b": model.layers[3].bias,
             "5.W": model.layers[5].weight, "5.b": model.layers[5].bias}
    assert set(pairs) == set(grads)
    for k, param in pairs.items():
        np.testing.assert_allclose(param.grad.numpy(), grads[k], rtol=1e-9, atol=1e-12,
                                   err_msg=k)
    np.testing.assert_allclose(model.layers[1].running_mean.numpy(), net.layers[1].mean,
                               rtol=1e-12)
