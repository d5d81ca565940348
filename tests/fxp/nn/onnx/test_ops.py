"""The ops beyond Brevitas' MLP and CNN, on small QCDQ graphs run by onnxruntime: MatMul +
Add, LeakyRelu, Sigmoid/Tanh tables, Conv1d, AveragePool, GlobalAveragePool, the NCHW ->
channels-last Transpose, an exactly foldable BatchNormalization, per-channel weight scales;
our predict_raw equals onnxruntime's output x 2**f on every input of a small input format
(exhaustive where it fits) or on random ones."""

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from fxp.nn import import_onnx  # noqa: E402

from .graphs import G  # noqa: E402


def _ort(path, x):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]


def _check(path, x_onnx, channels_first=False):
    """Our output on x (ONNX layout, values on the input grid) equals onnxruntime's."""
    fx = import_onnx(path)
    x_ours = np.moveaxis(x_onnx, 1, -1) if channels_first else x_onnx
    raw = np.rint(x_ours * 2.0 ** fx.input_format.frac_bits).astype(np.int64)
    ours = fx.predict_raw(raw)
    ref = _ort(path, x_onnx).astype(np.float64)
    if channels_first and ref.ndim > 2:
        ref = np.moveaxis(ref, 1, -1)
    assert np.array_equal(ours, ref * 2.0 ** fx.output_format.frac_bits)
    return fx


def test_matmul_add_leaky_relu_and_tables(tmp_path):
    rng = np.random.default_rng(0)
    g = G()
    x = g.qdq(g.input([6]), 4)                                   # fixed<8,4>: every input below
    h = g.op("MatMul", x, g.qweight(rng.normal(size=(6, 5)), 6, bits=6))
    h = g.op("Add", h, g.qweight(rng.normal(size=5), 7, bits=8, narrow=False))
    h = g.qdq(g.op("LeakyRelu", h, alpha=0.125), 3)
    s = g.qdq(g.op("Sigmoid", h), 7, 0, 255, np.uint8)
    h = g.qdq(g.op("MatMul", s, g.qweight(rng.normal(size=(5, 3)), 5)), 4)
    y = g.qdq(g.op("Tanh", h), 6)
    path = g.save(tmp_path / "m.onnx", y)
    xs = rng.integers(-128, 128, size=(3000, 6)) / 16.0
    fx = _check(path, xs)
    assert [layer.type for layer in fx.spec.layers] == ["dense", "leaky_relu", "sigmoid",
                                                        "dense", "tanh"]
    assert fx.spec.layers[2].table_bits == 8


def test_conv1d_pools_transpose_batchnorm_and_per_channel_scales(tmp_path):
    rng = np.random.default_rng(1)
    g = G()
    x = g.qdq(g.input([2, 16]), 5)                               # (C, L) = (2, 16)
    w = np.round(rng.normal(size=(4, 2, 3)) * 32) / 32
    # per-channel power-of-two weight scales: filter k at 2**-(4 + k)
    scale = g.const((2.0 ** -np.arange(4, 8)).astype(np.float32))
    q = np.clip(np.round(w * 2.0 ** np.arange(4, 8)[:, None, None]), -127, 127)
    wq = g.op("DequantizeLinear", g.const(q, np.int8), scale, g.const(np.zeros(4), np.int8),
              axis=0)
    h = g.op("Conv", x, wq, kernel_shape=[3], pads=[1, 1])
    bn = [g.const(np.array(v, dtype=np.float32)) for v in
          ([0.5, -2.0, 1.0, 0.25], [0.25, 0.0, -0.5, 1.0], [0.0, 0.5, 0.0, -0.25],
           [1.0 - 1e-5, 1.0 - 1e-5, 1.0 - 1e-5, 1.0 - 1e-5])]
    h = g.op("BatchNormalization", h, *bn, epsilon=1e-5)
    h = g.qdq(g.op("Relu", h), 4, 0, 255, np.uint8)
    h = g.qdq(g.op("AveragePool", h, kernel_shape=[2], strides=[2]), 4, 0, 255, np.uint8)
    h = g.op("GlobalAveragePool", h)                             # (4, 1): exact mean
    y = g.op("Flatten", h)
    path = g.save(tmp_path / "m.onnx", y)
    xs = rng.integers(-128, 128, size=(500, 2, 16)) / 32.0
    fx = _check(path, xs, channels_first=True)
    # the batch norm is folded into the conv: no layer of its own
    assert [layer.type for layer in fx.spec.layers] == ["conv1d", "relu", "avgpool1d",
                                                        "global_avgpool"]


def test_transpose_to_channels_last_then_flatten(tmp_path):
    rng = np.random.default_rng(2)
    g = G()
    x = g.qdq(g.input([3, 4, 4]), 5)
    w = g.qweight(rng.normal(size=(2, 3, 3, 3)), 5)
    h = g.qdq(g.op("Conv", x, w, kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1]), 3)
    h = g.op("Flatten", g.op("Transpose", h, perm=[0, 2, 3, 1]))
    y = g.op("Gemm", h, g.qweight(rng.normal(size=(3, 8)), 5), transB=1)
    path = g.save(tmp_path / "m.onnx", y)
    xs = rng.integers(-128, 128, size=(300, 3, 4, 4)) / 32.0
    fx = _check(path, xs, channels_first=True)
    assert fx.spec.layers[0].padding == "same"


def test_a_second_quantizer_becomes_an_identity_layer_with_its_cast(tmp_path):
    """Requantizing an already quantized tensor: a relu (unsigned), a 1x1 average pool
    (image) or an identity dense (vector) carries the cast, double rounding included."""
    rng = np.random.default_rng(3)
    g = G()
    x = g.qdq(g.qdq(g.input([2, 4, 4]), 5), 3, -32, 31)          # image: fixed<8,3> -> <6,3>
    h = g.qdq(g.op("Conv", x, g.qweight(rng.normal(size=(3, 2, 3, 3)), 5),
                   kernel_shape=[3, 3]), 4)
    h = g.qdq(g.qdq(g.op("Relu", h), 5, 0, 255, np.uint8), 2, 0, 15, np.uint8)   # unsigned
    h = g.op("Flatten", h)
    y = g.qdq(g.qdq(g.op("Gemm", h, g.qweight(rng.normal(size=(4, 12)), 5), transB=1), 4),
              1, -8, 7)                                          # vector
    path = g.save(tmp_path / "m.onnx", y)
    xs = rng.integers(-128, 128, size=(1000, 2, 4, 4)) / 32.0
    fx = _check(path, xs, channels_first=True)
    assert [layer.type for layer in fx.spec.layers] == ["avgpool2d", "conv2d", "relu", "relu",
                                                        "flatten", "dense", "dense"]


def test_dyadic_approximates_other_scales_and_counts_the_differences(tmp_path):
    """Scales that are not powers of two (here 0.1, 0.013...): rejected by default; with
    dyadic=16 each multiplication by a ratio of scales is m / 2**c, and metrics.json counts
    the outputs that differ from onnxruntime (counted again here)."""
    import json

    from fxp import quantize
    from fxp.nn import Model, OnnxImportError

    rng = np.random.default_rng(5)

    def qdq(g, x, scale, dtype=np.int8):
        s, z = g.const(np.float32(scale)), g.const(0, dtype)
        return g.op("DequantizeLinear", g.op("QuantizeLinear", x, s, z), s, z)

    def weights(g, shape, scale):
        q = rng.integers(-127, 128, size=shape).astype(np.int8)
        return g.op("DequantizeLinear", g.const(q), g.const(np.float32(scale)),
                    g.const(0, np.int8))

    g = G()
    x = qdq(g, g.input([8]), 0.1)
    h = g.op("Gemm", x, weights(g, (6, 8), 0.013), transB=1)
    h = qdq(g, g.op("Relu", h), 0.07, np.uint8)
    y = qdq(g, g.op("Gemm", h, weights(g, (3, 6), 0.011), transB=1), 0.03)
    path = g.save(tmp_path / "m.onnx", y)
    with pytest.raises(OnnxImportError, match=r"^node 0 \(QuantizeLinear\): scale "
                       r"0\.10000000149011612 is not a power of two"):
        import_onnx(path)
    xs = rng.normal(size=(400, 8)) * 4
    ys = rng.integers(0, 3, size=400)
    fx = import_onnx(path, tmp_path / "art", data=(xs, ys), dyadic=16)
    m = json.loads((tmp_path / "art" / "metrics.json").read_text())["dyadic"]
    assert (m["bits"], m["outputs"]) == (16, 80 * 3)
    assert m["input_scale"] == np.float32(0.1) / 2.0 ** -4 and \
        m["output_scale"] == np.float32(0.03) / 2.0 ** -6
    assert len(m["approximations"]) == 2           # the two requantizations
    # the same count, independently: onnxruntime on the test inputs vs the artifact
    vec = np.load(tmp_path / "art" / "vectors.npz")
    x_test = vec["inputs"] * 2.0 ** -4 * m["input_scale"]     # the quantizer's values
    ref = _ort(path, x_test) / np.float32(0.03)
    ours = Model.load(tmp_path / "art").predict_raw(vec["inputs"])
    assert np.array_equal(ours, vec["outputs"])
    differ = int(np.sum(ours != np.rint(ref)))
    assert differ == m["differ"] and differ <= 0.05 * ours.size
    assert np.array_equal(quantize(x_test / m["input_scale"], fx.input_format).raw,
                          vec["inputs"])
