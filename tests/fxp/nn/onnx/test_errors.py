"""Every graph the importer cannot make exact: one line naming the node, its op and what was
expected; nothing written (the library and python -m fxp import)."""

import json
import os

import numpy as np
import pytest

pytest.importorskip("onnx")

from fxp.cli import main  # noqa: E402
from fxp.nn import Model, OnnxImportError, import_onnx, load_vectors  # noqa: E402

from .graphs import G  # noqa: E402


def _mlp(g, x, rng=None):
    rng = rng or np.random.default_rng(0)
    return g.op("Gemm", x, g.qweight(rng.normal(size=(3, 4)), 5), transB=1)


def _case(name):
    g = G()
    if name == "scale":
        y = _mlp(g, g.quant(g.input([4]), 0, 8, scale=np.float32(0.1)))
    elif name == "zero_point":
        y = _mlp(g, g.quant(g.input([4]), 4, 8, zp=3.0))
    elif name == "op":
        y = g.op("Softplus", _mlp(g, g.quant(g.input([4]), 4, 8)))
    elif name == "dynamic":
        y = _mlp(g, g.quant(g.input([4], dims=["N", "F"]), 4, 8))
    elif name == "bipolar":
        y = _mlp(g, g.op("BipolarQuant", g.input([4]), g.const(np.float32(1.0)),
                         domain="qonnx.custom_op.general"))
    elif name == "rounding":
        y = _mlp(g, g.quant(g.input([4]), 4, 8, rounding="CEIL"))
    elif name == "unsigned_narrow":
        y = _mlp(g, g.quant(g.input([4]), 4, 8, signed=0, narrow=1))
    elif name == "per_channel_act":
        y = _mlp(g, g.quant(g.input([4]), 4, 8, scale=np.full(4, 0.0625, np.float32)))
    elif name == "leaky_alpha":
        y = g.op("LeakyRelu", _mlp(g, g.quant(g.input([4]), 4, 8)), alpha=0.1)
    elif name == "avgpool_window":
        x = g.qdq(g.input([1, 6, 6]), 4)
        y = g.op("AveragePool", x, kernel_shape=[3, 3], strides=[3, 3])
    elif name == "transpose":
        x = g.qdq(g.input([1, 6, 6]), 4)
        y = g.op("Transpose", x, perm=[0, 1, 3, 2])
    elif name == "conv_group":
        x = g.qdq(g.input([2, 6, 6]), 4)
        y = g.op("Conv", x, g.qweight(np.ones((2, 1, 3, 3)) / 8, 4), kernel_shape=[3, 3],
                 group=2)
    elif name == "conv_pads":
        x = g.qdq(g.input([1, 6, 6]), 4)
        y = g.op("Conv", x, g.qweight(np.ones((2, 1, 3, 3)) / 8, 4), kernel_shape=[3, 3],
                 pads=[0, 0, 2, 2])
    elif name == "float_weight":
        y = g.op("Gemm", g.qdq(g.input([4]), 4), g.const(np.ones((3, 4), np.float32)),
                 transB=1)
    elif name == "float_input":
        y = _mlp(g, g.input([4]))
    elif name == "fan_out":
        x = g.qdq(g.input([4]), 4)
        y = g.op("Add", g.op("Relu", x), g.op("Relu", x))
    elif name == "table_output":
        y = g.op("Sigmoid", g.qdq(_mlp(g, g.qdq(g.input([4]), 4)), 4))
    elif name == "table_input":
        x = g.qdq(g.input([16]), 4)
        h = g.op("Gemm", x, g.qweight(np.ones((3, 16)) / 2, 7), transB=1)
        y = g.qdq(g.op("Tanh", h), 6)
    elif name == "batchnorm":
        x = g.qdq(g.input([1, 4, 4]), 4)
        h = g.op("Conv", x, g.qweight(np.ones((2, 1, 1, 1)) / 4, 4), kernel_shape=[1, 1])
        bn = [g.const(np.array(v, np.float32)) for v in ([0.3, 1], [0, 0], [0, 0], [1, 1])]
        y = g.op("BatchNormalization", h, *bn)
    elif name == "trunc":
        x = g.quant(g.input([4]), 4, 8)
        c = [g.const(np.float32(v)) for v in (2.0 ** -4, 0.0, 8.0, 6.0)]
        y = g.op("Trunc", x, *c, domain="qonnx.custom_op.general")
    elif name == "trunc_grid":
        x = g.quant(g.input([4]), 4, 8)
        c = [g.const(np.float32(v)) for v in (2.0 ** -2, 0.0, 8.0, 2.0 ** -2, 6.0)]
        y = g.op("Trunc", x, *c, domain="qonnx.custom_op.general")
    elif name == "clip_range":
        y = _mlp(g, g.qdq(g.input([4]), 4, -100, 100))
    elif name == "gemm_conv_input":
        y = _mlp(g, g.qdq(g.input([1, 2, 2]), 4))
    elif name == "reshape":
        x = g.qdq(g.input([1, 2, 2]), 4)
        y = g.op("Reshape", x, g.const(np.array([1, 2, 2], np.int64)))
    return g, y


CASES = {
    "scale": "node 0 (Quant): scale 0.10000000149011612 is not a power of two; expected "
             "scales 2**-f (fixed-point quantizers, e.g. Brevitas' *FixedPoint ones)",
    "zero_point": "node 0 (Quant): zero point 3.0 is not 0; expected symmetric quantizers "
                  "(zero point 0)",
    "op": "node 3 (Softplus): unsupported op Softplus; expected one of Quant, "
          "QuantizeLinear, DequantizeLinear, Clip, Gemm, MatMul, Add (bias), Conv, "
          "BatchNormalization, Relu, LeakyRelu, Sigmoid, Tanh, MaxPool, AveragePool, "
          "GlobalAveragePool, Flatten, Reshape, Transpose",
    "dynamic": "graph input 'x': dimension 1 is dynamic (F); expected a fixed size (only the "
               "batch may vary)",
    "bipolar": "node 0 (BipolarQuant): binary (+1/-1) quantizers are not supported; expected "
               "Quant with a bit width of at least 2",
    "rounding": "node 0 (Quant): rounding_mode 'CEIL' has no fixed-point equivalent; "
                "expected one of ROUND, HALF_EVEN, HALF_UP, HALF_DOWN, FLOOR, DOWN",
    "unsigned_narrow": "node 0 (Quant): an unsigned narrow range (0 .. 2**b - 2) has no "
                       "fixed-point equivalent; expected narrow=0 for unsigned quantizers",
    "per_channel_act": "node 0 (Quant): per-channel scales on a dynamic tensor; expected one "
                       "scale per tensor",
    "leaky_alpha": "node 3 (LeakyRelu): alpha 0.10000000149011612; expected a power of two "
                   "from 2**-32 to 0.5 such as 0.125 (an exact shift)",
    "avgpool_window": "node 2 (AveragePool): a 9-value window; expected a power-of-two "
                      "window (the mean is an exact shift)",
    "transpose": "node 2 (Transpose): perm [0, 1, 3, 2] on a channels-first tensor shaped "
                 "[1, 6, 6]; expected only channels first to channels last ([0, 2, 3, 1])",
    "conv_group": "node 3 (Conv): group=2; expected 1",
    "conv_pads": "node 3 (Conv): pads [0, 0, 2, 2] for a 3x3 window, stride 1x1 on 6x6; "
                 "expected none (valid) or [1, 1, 1, 1] (same)",
    "float_weight": "node 2 (Gemm): the weight is not quantized; expected a constant through "
                    "Quant or Clip/DequantizeLinear with a power-of-two scale",
    "float_input": "node 1 (Gemm): its input is not quantized (the graph input is float); "
                   "expected a Quant or QuantizeLinear/DequantizeLinear before it",
    "fan_out": "node 2 (Relu): its input feeds 2 nodes; expected a chain (each tensor used "
               "once)",
    "table_output": "node 6 (Sigmoid): no quantizer after it; expected a Quant or "
                    "QuantizeLinear/DequantizeLinear (a lookup table needs an output format)",
    "table_input": "node 4 (Tanh): input fixed<18,7> has 18 bits; expected at most 16 (an "
                   "exact lookup table has 2**bits entries): quantize its input",
    "batchnorm": "node 4 (BatchNormalization): scale gamma / sqrt(var + eps) is not a power "
                 "of two per channel; expected an exactly foldable batch norm (fold it "
                 "before export)",
    "trunc": "node 1 (Trunc): Trunc v1 dropping 2 bits divides the value by 2**2 at the "
             "same scale; expected the v2 form (with an output scale) or equal bit widths",
    "trunc_grid": "node 1 (Trunc): input fixed<8,4,RND_CONV,SAT> is finer than its scale "
                  "2**-2; expected the input on the scale's grid",
    "clip_range": "node 2 (DequantizeLinear): integer range -100 .. 100 is not a b-bit "
                  "range; expected 0 .. 2**b - 1, -2**(b-1) .. 2**(b-1) - 1 or -(2**(b-1) - "
                  "1) .. 2**(b-1) - 1",
    "gemm_conv_input": "node 3 (Gemm): input shaped [1, 2, 2]; expected a vector (add a "
                       "Flatten before it)",
    "reshape": "node 2 (Reshape): target shape [1, 2, 2]; expected a flatten to (batch, 4)",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unsupported_graph_is_one_line_and_writes_nothing(case, tmp_path):
    g, y = _case(case)
    path = g.save(tmp_path / "m.onnx", y)
    with pytest.raises(OnnxImportError) as e:
        import_onnx(path, tmp_path / "art")
    assert str(e.value) == CASES[case]
    assert not os.path.exists(tmp_path / "art")


def test_cli_imports_and_reports_errors_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    g, y = _case("scale")
    bad = g.save(tmp_path / "bad.onnx", y)
    assert main(["import", bad, "-o", "art"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"error: {CASES['scale']}\n")
    assert main(["import", "missing.onnx", "-o", "art"]) == 2
    assert capsys.readouterr().err == "error: missing.onnx: no such file\n"
    (tmp_path / "junk.onnx").write_bytes(b"\x00not a protobuf\xff" * 3)
    assert main(["import", "junk.onnx", "-o", "art"]) == 2
    assert capsys.readouterr().err.startswith("error: junk.onnx: not an ONNX model (")
    assert sorted(os.listdir(tmp_path)) == ["bad.onnx", "junk.onnx"]
    g = G()
    x = g.qdq(g.input([4]), 4)
    g.save(tmp_path / "good.onnx", _mlp(g, x))
    assert main(["name", "good.onnx"]) == 0          # the Makefile's name for build/<name>/
    assert capsys.readouterr().out == "good\n"
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(50, 4)), y=rng.integers(0, 3, size=50))
    assert main(["import", "good.onnx", "-o", "art", "--name", "tiny", "--data", "d.npz"]) == 0
    out, err = capsys.readouterr()
    model, vec = Model.load("art"), load_vectors("art")
    acc = np.mean(model.predict_raw(vec["inputs"]).argmax(axis=1) == vec["labels"])
    assert (out, err) == (f"tiny: 1 layers, output {model.output_format}, 10 test vectors, "
                          f"fixed accuracy {acc:.4f} -> art\n", "")
    assert sorted(os.listdir("art")) == ["metrics.json", "model.yaml", "vectors.npz",
                                         "weights.npz"]
    # --dyadic takes the graph with a 0.1 scale; the line says how many outputs differ
    assert main(["import", "bad.onnx", "-o", "dy", "--dyadic", "--data", "d.npz"]) == 0
    out, err = capsys.readouterr()
    d = json.loads((tmp_path / "dy" / "metrics.json").read_text())["dyadic"]
    assert (d["bits"], d["outputs"], err) == (16, 30, "")
    assert out.endswith(f", dyadic: {d['differ']} of 30 outputs differ from the graph -> dy\n")
    assert main(["import", "bad.onnx", "-o", "dy2", "--dyadic", "1"]) == 2
    assert capsys.readouterr().err == "error: dyadic: expected multiplier bits from 2 to 32, " \
        "not 1\n"
