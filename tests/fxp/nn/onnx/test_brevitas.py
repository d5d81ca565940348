"""Brevitas models exported by Brevitas' own exporters (QONNX with both torch exporters, and
QCDQ) import bit-exactly: our predict_raw equals Brevitas' torch output, qonnx's execution
and onnxruntime's, value x 2**f, on the test set and random inputs."""

import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")
pytest.importorskip("onnx")
pytest.importorskip("qonnx")
ort = pytest.importorskip("onnxruntime")

from fxp import quantize  # noqa: E402
from fxp.nn import Model, import_onnx, load_vectors  # noqa: E402

N_RANDOM = 200

# Brevitas and the torch exporters warn about their own deprecations and fallbacks
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]


def _digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 8.0 - 1.0).astype(np.float32)
    return x, d.target


def _mlp(nn, qnn, q):
    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=q.Int8ActPerTensorFixedPoint,
                                         return_quant_tensor=True)
            self.fc1 = qnn.QuantLinear(64, 16, weight_quant=q.Int8WeightPerTensorFixedPoint,
                                       weight_bit_width=6, bias_quant=q.Int32Bias,
                                       return_quant_tensor=True)
            self.r1 = qnn.QuantReLU(act_quant=q.Uint8ActPerTensorFixedPoint,
                                    return_quant_tensor=True)
            self.fc2 = qnn.QuantLinear(16, 10, weight_quant=q.Int8WeightPerTensorFixedPoint,
                                       bias_quant=q.Int8BiasPerTensorFixedPointInternalScaling)

        def forward(self, x):
            return self.fc2(self.r1(self.fc1(self.inp(x))))
    return MLP()


def _cnn(nn, qnn, q):
    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=q.Int8ActPerTensorFixedPoint,
                                         return_quant_tensor=True)
            self.c1 = qnn.QuantConv2d(2, 4, 3, padding=1,
                                      weight_quant=q.Int8WeightPerTensorFixedPoint,
                                      weight_bit_width=6, bias_quant=q.Int32Bias,
                                      return_quant_tensor=True)
            self.r1 = qnn.QuantReLU(act_quant=q.Uint8ActPerTensorFixedPoint,
                                    return_quant_tensor=True)
            self.pool = nn.MaxPool2d(2)
            self.fc = qnn.QuantLinear(4 * 4 * 4, 10, weight_quant=q.Int8WeightPerTensorFixedPoint,
                                      bias_quant=q.Int8BiasPerTensorFixedPointInternalScaling)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.r1(self.c1(self.inp(x)))), 1))
    return CNN()


def _trained(kind):
    import brevitas.nn as qnn
    import brevitas.quant as q
    from torch import nn
    torch.manual_seed(0)
    x, y = _digits()
    if kind == "cnn":   # two channels: the image and its mirror (channel order matters)
        img = x.reshape(-1, 1, 8, 8)
        x = np.concatenate([img, img[..., ::-1]], axis=1).copy()
    model = (_mlp if kind == "mlp" else _cnn)(nn, qnn, q)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x[:1400]), torch.from_numpy(y[:1400])
    model.train()
    for step in range(20):
        idx = slice(step % 10 * 128, step % 10 * 128 + 128)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
        opt.step()
    model.eval()
    return model, (x[:1400], y[:1400], x[1400:], y[1400:])


_TRAINED = {}


def _model(kind):
    """The trained model of ``kind`` and its data (trained once per session)."""
    if kind not in _TRAINED:
        _TRAINED[kind] = _trained(kind)
    return _TRAINED[kind]


def _probe(model_fx: Model, data, shape):
    """Raw test inputs then random ones (extremes included), in fxp's layout, and the same
    values as float32 in ONNX's layout."""
    rng = np.random.default_rng(1)
    fmt = model_fx.input_format
    x_test = data[2]
    if x_test.ndim > 2:
        x_test = np.moveaxis(x_test, 1, -1)
    raw_test = quantize(x_test.astype(np.float64), fmt).raw
    raw_rand = rng.integers(fmt.raw_min, fmt.raw_max + 1, size=(N_RANDOM, *model_fx.input_shape))
    raw_rand[0], raw_rand[1] = fmt.raw_min, fmt.raw_max
    raw = np.concatenate([raw_test, raw_rand])
    x = (raw * 2.0 ** -fmt.frac_bits).astype(np.float32)
    return raw, (np.moveaxis(x, -1, 1) if x.ndim > 2 else x)


# QONNX through torch.export (dynamo) is the slowest exporter: the CNN takes it (its graph
# also lists the initializers as inputs and flattens with a Reshape to the batch size);
# examples/onnx_brevitas.py runs every model through every exporter.
CASES = [("mlp", "qonnx-torchscript"), ("mlp", "qcdq"), ("cnn", "qonnx"),
         ("cnn", "qonnx-torchscript"), ("cnn", "qcdq")]


@pytest.mark.parametrize("kind, export", CASES)
def test_brevitas_export_imports_bit_exactly(kind, export, tmp_path):
    from brevitas.export import export_onnx_qcdq, export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model
    model, data = _model(kind)
    n = len(data[2]) + N_RANDOM
    example = torch.zeros(n, *data[0].shape[1:])
    path = str(tmp_path / f"{kind}.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if export == "qcdq":
            export_onnx_qcdq(model, example, path, dynamo=False)
        else:
            export_qonnx(model, example, path, dynamo=export == "qonnx")
    art = str(tmp_path / "art")
    fx = import_onnx(path, art, name=kind, data=data)
    raw, x = _probe(fx, data, data[0].shape[1:])
    ours = fx.predict_raw(raw)
    scale = 2.0 ** fx.output_format.frac_bits
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy().astype(np.float64) * scale
    assert np.array_equal(ours, ref)
    mw = cleanup_model(ModelWrapper(path))
    got = execute_onnx(mw, {mw.graph.input[0].name: x})[mw.graph.output[0].name]
    assert np.array_equal(ours, got.astype(np.float64) * scale)
    if export == "qcdq":
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        assert np.array_equal(ours, got.astype(np.float64) * scale)
    # the artifact on disk: the same model and its test vectors
    loaded = Model.load(art)
    assert loaded.spec.dump() == fx.spec.dump()
    vec = load_vectors(art)
    assert np.array_equal(vec["inputs"], raw[:len(data[2])])
    assert np.array_equal(vec["outputs"], ours[:len(data[2])])
    assert sorted(os.listdir(art)) == ["metrics.json", "model.yaml", "vectors.npz",
                                       "weights.npz"]
    _check_formats(fx)


def _check_formats(fx):
    """6-bit and 8-bit narrow weights, the Int32 bias at 32 bits and the internally scaled one
    at 8, ROUND -> RND_CONV with SAT on activations, ReLU's quantizer unsigned; accumulators
    (fxp.accumulator_format) no wider than Brevitas' own assumed widths."""
    from brevitas.quant_tensor.int_torch_handler import (max_acc_bit_width_convNd,
                                                         max_acc_bit_width_linear)
    weighted = [(i, layer) for i, layer in enumerate(fx.spec.layers) if layer.weight is not None]
    assert [layer.weight.fmt.bits for _, layer in weighted] == [6, 8]
    assert [layer.bias.fmt.bits for _, layer in weighted] == [32, 8]
    for f in (fx.input_format, fx.spec.layers[1].output.fmt):
        assert (f.quantization.value, f.overflow.value, f.bits) == ("RND_CONV", "SAT", 8)
    assert not fx.spec.layers[1].output.fmt.signed
    for i, layer in weighted:
        w = fx.params[f"{i}.weight"].shape                 # fxp's (F, [kh, kw,] C)
        fn = max_acc_bit_width_linear if len(w) == 2 else max_acc_bit_width_convNd
        theirs = fn(torch.tensor(float(fx.inputs[i][1].bits)),
                    torch.tensor(float(layer.weight.fmt.bits)), (w[0], w[-1], *w[1:-1]))
        assert layer.accumulator.fmt.bits <= int(theirs)


def test_trunc_avg_pool_imports_bit_exactly(tmp_path):
    """Brevitas' TruncAvgPool2d exports AveragePool -> Trunc (QONNX) or a QuantizeLinear/
    DequantizeLinear pair (QCDQ): an avgpool2d whose output is the Trunc's quantizer."""
    import brevitas.nn as qnn
    import brevitas.quant as q
    from brevitas.export import export_onnx_qcdq, export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model
    from torch import nn
    torch.manual_seed(3)
    model = nn.Sequential(
        qnn.QuantIdentity(act_quant=q.Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        qnn.QuantConv2d(2, 4, 3, padding=1, weight_quant=q.Int8WeightPerTensorFixedPoint,
                        bias_quant=q.Int32Bias, return_quant_tensor=True),
        qnn.QuantReLU(act_quant=q.Uint8ActPerTensorFixedPoint, return_quant_tensor=True),
        qnn.TruncAvgPool2d(2, return_quant_tensor=True), nn.Flatten(),
        qnn.QuantLinear(64, 3, weight_quant=q.Int8WeightPerTensorFixedPoint,
                        bias_quant=q.Int32Bias)).eval()
    rng = np.random.default_rng(4)
    raw = rng.integers(-128, 128, size=(N_RANDOM, 8, 8, 2))
    x = np.moveaxis(raw / 128.0, -1, 1).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy().astype(np.float64)
    for export in ("qonnx", "qcdq"):
        path = str(tmp_path / f"{export}.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if export == "qcdq":
                export_onnx_qcdq(model, torch.from_numpy(x), path, dynamo=False)
            else:
                export_qonnx(model, torch.from_numpy(x), path, dynamo=False)
        fx = import_onnx(path)
        assert [layer.type for layer in fx.spec.layers][2:4] == ["avgpool2d", "flatten"]
        ours = fx.predict_raw(raw)
        scale = 2.0 ** fx.output_format.frac_bits
        assert np.array_equal(ours, ref * scale)
        mw = cleanup_model(ModelWrapper(path))
        got = execute_onnx(mw, {mw.graph.input[0].name: x})[mw.graph.output[0].name]
        assert np.array_equal(ours, got.astype(np.float64) * scale)
