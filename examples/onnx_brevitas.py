"""Brevitas -> ONNX -> fxpga: a quantized MLP and CNN trained in Brevitas on digits, exported
by Brevitas' own exporters (QONNX with the dynamo and the TorchScript exporter, QCDQ), imported
with ``fxp.nn.import_onnx`` and compared, value x 2**f, with Brevitas' torch output, qonnx's
``execute_onnx`` and (QCDQ) onnxruntime on the test set and random inputs; then the
accumulator widths, ours (``fxp.accumulator_format``) against Brevitas' assumed
``ceil(log2(max|x| * max|w| * fan-in))`` ones.

Run: .venv/bin/python examples/onnx_brevitas.py [-o build/onnx] [--steps 300] [--random 2000]
then e.g. ``python -m hdl rtl build/onnx/mlp_qcdq && python -m sim build/onnx/mlp_qcdq --sim
verilator`` and ``python -m hdl hls build/onnx/cnn_qcdq && python -m hdl csim
build/onnx/cnn_qcdq``.
"""

import argparse
import os
import warnings

import numpy as np
import torch

warnings.simplefilter("ignore")     # Brevitas' and the exporters' deprecation notices

import brevitas.nn as qnn  # noqa: E402
import brevitas.quant as q  # noqa: E402
import onnxruntime as ort  # noqa: E402
from brevitas.export import export_onnx_qcdq, export_qonnx  # noqa: E402
from brevitas.quant_tensor.int_torch_handler import (  # noqa: E402
    max_acc_bit_width_convNd, max_acc_bit_width_linear)
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.core.onnx_exec import execute_onnx  # noqa: E402
from qonnx.util.cleanup import cleanup_model  # noqa: E402
from torch import nn  # noqa: E402

from fxp.nn import import_onnx  # noqa: E402
from fxp.nn.data import load_data  # noqa: E402


def mlp():
    return nn.Sequential(
        qnn.QuantIdentity(act_quant=q.Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        qnn.QuantLinear(64, 32, weight_quant=q.Int8WeightPerTensorFixedPoint,
                        weight_bit_width=6, bias_quant=q.Int32Bias, return_quant_tensor=True),
        qnn.QuantReLU(act_quant=q.Uint8ActPerTensorFixedPoint, return_quant_tensor=True),
        qnn.QuantLinear(32, 10, weight_quant=q.Int8WeightPerTensorFixedPoint,
                        bias_quant=q.Int8BiasPerTensorFixedPointInternalScaling))


def cnn():
    return nn.Sequential(
        qnn.QuantIdentity(act_quant=q.Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        qnn.QuantConv2d(1, 8, 3, padding=1, weight_quant=q.Int8WeightPerTensorFixedPoint,
                        weight_bit_width=6, bias_quant=q.Int32Bias, return_quant_tensor=True),
        qnn.QuantReLU(act_quant=q.Uint8ActPerTensorFixedPoint, return_quant_tensor=True),
        nn.MaxPool2d(2), nn.Flatten(),
        qnn.QuantLinear(8 * 4 * 4, 10, weight_quant=q.Int8WeightPerTensorFixedPoint,
                        bias_quant=q.Int8BiasPerTensorFixedPointInternalScaling))


def train(model, x, y, steps):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(x), (64,))
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
        opt.step()
    return model.eval()


def brevitas_widths(model, fx):
    """Per weighted layer: (ours, Brevitas' assumed) accumulator bits."""
    rows, mods = [], [m for m in model if isinstance(m, (qnn.QuantLinear, qnn.QuantConv2d))]
    weighted = [(i, layer) for i, layer in enumerate(fx.spec.layers) if layer.weight is not None]
    for mod, (i, layer) in zip(mods, weighted):
        bi = torch.tensor(float(fx.inputs[i][1].bits))
        bw = torch.tensor(float(mod.quant_weight().bit_width))
        fn = max_acc_bit_width_linear if isinstance(mod, qnn.QuantLinear) else \
            max_acc_bit_width_convNd
        rows.append((f"{i} {layer.type}", layer.accumulator.fmt,
                     int(fn(bi, bw, tuple(mod.weight.shape)))))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="build/onnx")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--random", type=int, default=2000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_data({"dataset": "sklearn_digits"})
    rng = np.random.default_rng(0)
    for kind, make in (("mlp", mlp), ("cnn", cnn)):
        shape = (64,) if kind == "mlp" else (1, 8, 8)
        scale = lambda a: (a / 8.0 - 1.0).astype(np.float32).reshape(-1, *shape)  # noqa: E731
        data = (scale(ds.x_train), ds.y_train, scale(ds.x_test), ds.y_test)
        model = train(make(), data[0], data[1], args.steps)
        for export in ("qonnx", "qonnx-torchscript", "qcdq"):
            name = f"{kind}_{export.replace('-', '_')}"
            n = len(data[2]) + args.random
            path = os.path.join(args.output, f"{name}.onnx")
            os.makedirs(args.output, exist_ok=True)
            example = torch.zeros(n, *shape)
            if export == "qcdq":
                export_onnx_qcdq(model, example, path, dynamo=False)
            else:
                export_qonnx(model, example, path, dynamo=export == "qonnx")
            fx = import_onnx(path, os.path.join(args.output, name), name=name, data=data)
            fmt = fx.input_format
            x_ours = data[2] if kind == "mlp" else np.moveaxis(data[2], 1, -1)
            raw = np.rint(np.clip(x_ours * 2.0 ** fmt.frac_bits, fmt.raw_min, fmt.raw_max))
            raw = np.concatenate([raw.astype(np.int64), rng.integers(
                fmt.raw_min, fmt.raw_max + 1, size=(args.random, *fx.input_shape))])
            x = (raw * 2.0 ** -fmt.frac_bits).astype(np.float32)
            x_onnx = x if kind == "mlp" else np.moveaxis(x, -1, 1)
            ours = fx.predict_raw(raw)
            s = 2.0 ** fx.output_format.frac_bits
            with torch.no_grad():
                refs = {"brevitas": model(torch.from_numpy(x_onnx)).numpy()}
            mw = cleanup_model(ModelWrapper(path))
            refs["qonnx"] = execute_onnx(mw, {mw.graph.input[0].name: x_onnx})[
                mw.graph.output[0].name]
            if export == "qcdq":
                sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                refs["onnxruntime"] = sess.run(None, {sess.get_inputs()[0].name: x_onnx})[0]
            acc = np.mean(ours[:len(data[3])].argmax(axis=1) == data[3])
            diffs = ", ".join(f"{k} {int(np.sum(ours != r.astype(np.float64) * s))}"
                              for k, r in refs.items())
            print(f"{name}: {len(raw)} inputs ({len(data[2])} test + {args.random} random), "
                  f"mismatches: {diffs}; bit-exact test accuracy {acc:.4f}")
        for layer, ours_fmt, theirs in brevitas_widths(model, fx):
            print(f"  {kind} layer {layer}: accumulator {ours_fmt} ({ours_fmt.bits} bits), "
                  f"Brevitas assumes {theirs} bits")


if __name__ == "__main__":
    main()
