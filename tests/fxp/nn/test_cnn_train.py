"""Training convolutional networks: float gradients against numerical ones, QAT of a tiny CNN on
digits as 8x8x1 images, PTQ with batchnorm folding, A2Q, learned binary points, the artifact."""

import math

import fxp
import numpy as np
import pytest
import yaml
from fxp.nn import Model, SpecError, parse_spec
from fxp.nn import training as train_mod
from fxp.nn.data import load_data
from fxp.nn.model import load_vectors, write_artifact
from fxp.nn.network import Network
from fxp.nn.training import post_training_quantize, train

AUTO = {"weight": "auto", "bias": "auto", "accumulator": "auto", "output": "auto"}


def _spec(shape, layers, **train_cfg):
    return parse_spec({"name": "c", "data": {"dataset": "sklearn_digits", "seed": 1},
                       "input": {"shape": list(shape), "format": "ufixed<5,5>"},
                       "layers": layers, "train": {"epochs": 2, "batch": 64, "lr": 0.01,
                                                   "seed": 3, **train_cfg}})


@pytest.fixture
def images(monkeypatch):
    """The digits as 8x8x1 images, split with seed 1 whatever the spec says."""
    img = load_data({"dataset": "sklearn_digits", "seed": 1}, (8, 8, 1))
    monkeypatch.setattr(train_mod, "load_data", lambda *a, **k: img)
    return img


# -- float gradients -----------------------------------------------------------------------
GRAD_2D = ((6, 6, 2), [
    {"type": "conv2d", "filters": 3, "kernel": [3, 3], "padding": "same", **AUTO},
    {"type": "batchnorm"},
    {"type": "relu", "output": "auto"},
    {"type": "conv2d", "filters": 2, "kernel": [2, 2], "stride": [2, 1], **AUTO},
    {"type": "maxpool2d", "pool": [2, 2], "stride": [1, 1]},
    {"type": "avgpool2d", "pool": [2, 1]},
    {"type": "flatten"},
    {"type": "dense", "units": 3, **AUTO},
    {"type": "softmax", "output": "auto"},
])
GRAD_1D = ((8, 2), [
    {"type": "conv1d", "filters": 3, "kernel": 3, "stride": 2, "padding": "same", **AUTO},
    {"type": "tanh", "output": "auto"},
    {"type": "maxpool1d", "pool": 2},
    {"type": "avgpool1d", "pool": 1},
    {"type": "conv1d", "filters": 2, "kernel": 1, **AUTO},
    {"type": "global_avgpool"},
    {"type": "dense", "units": 3, **AUTO},
])


@pytest.mark.parametrize("shape, layers", [GRAD_2D, GRAD_1D], ids=["2d", "1d"])
def test_float_backward_matches_numerical_gradients(shape, layers):
    spec = _spec(shape, layers)
    rng = np.random.default_rng(0)
    net = Network(spec, rng)
    for name, p in net.parameters():      # non-trivial biases and batchnorm parameters
        p += rng.normal(0, 0.3, p.shape)
    x = rng.normal(0, 1, (4, *shape))
    r = rng.normal(0, 1, (4, 3))

    def loss():
        return float(np.sum(net.forward(x, "float")[0] * r))

    _, caches = net.forward(x, "float")
    grads = net.backward(caches, r)
    checked = 0
    for name, p in net.parameters():
        flat = p.reshape(-1)
        for k in rng.choice(flat.size, min(flat.size, 6), replace=False):
            old = flat[k]
            flat[k] = old + 1e-6
            up = loss()
            flat[k] = old - 1e-6
            down = loss()
            flat[k] = old
            num = (up - down) / 2e-6
            assert grads[name].reshape(-1)[k] == pytest.approx(num, rel=1e-4, abs=1e-6), name
            checked += 1
    assert checked >= 26


def test_maxpool_ties_send_the_gradient_to_the_first_maximum():
    spec = _spec((2, 2, 1), [{"type": "maxpool2d", "pool": [2, 2]}, {"type": "flatten"}])
    net = Network(spec, np.random.default_rng(0))
    x = np.array([[[[1.0], [3.0]], [[3.0], [3.0]]]])
    out, caches = net.forward(x, "float")
    assert out.tolist() == [[3.0]]
    tr = net.layers[0]
    g = tr.backward(caches[0], np.array([[[[5.0]]]]), {})
    assert g.reshape(-1).tolist() == [0.0, 5.0, 0.0, 0.0]


# -- QAT, learned binary points, artifact ------------------------------------------------
TINY_CNN = [
    {"type": "conv2d", "filters": 8, "kernel": [3, 3],
     "weight": {"bits": 6, "int_bits": "learn", "quantization": "RND", "overflow": "SAT"},
     "bias": "auto", "accumulator": "auto", "output": "fixed<10,5,RND,SAT>"},
    {"type": "relu", "output": "ufixed<8,4,RND,SAT>"},
    {"type": "maxpool2d", "pool": [2, 2]},
    {"type": "flatten"},
    {"type": "dense", "units": 10, **AUTO},
    {"type": "argmax"},
]


def test_qat_tiny_cnn_on_digit_images(images, tmp_path):
    spec = _spec((8, 8, 1), TINY_CNN, epochs=4)
    result = train(spec, log=None)
    m = result.model
    assert m.spec.concrete and m.input_shape == (8, 8, 1)
    assert result.fixed_accuracy >= 0.9
    assert abs(result.fixed_accuracy - result.float_accuracy) < 0.05
    w = m.weight(0)
    assert w.shape == (8, 3, 3, 1) and w.fmt.bits == 6       # learned binary point resolved
    # the QAT forward is the bit-exact path
    net = result.network
    net.resolve(images.x_train)
    logits, _ = net.forward(images.x_test, "qat")
    xq = fxp.quantize(images.x_test, m.input_format)
    assert np.array_equal(logits, m.forward(xq)[-2].to_float())
    # artifact round trip with image vectors
    vec = result.vectors()
    assert vec["inputs"].shape == (len(images.x_test), 8, 8, 1)
    write_artifact(tmp_path / "a", m.spec, m.params, vec)
    back = Model.load(tmp_path / "a")
    v = load_vectors(tmp_path / "a")
    assert np.array_equal(back.predict_raw(v["inputs"]), v["outputs"])
    assert np.array_equal(v["outputs"], m.predict_raw(xq.raw))
    text = (tmp_path / "a" / "model.yaml").read_text()
    assert back.spec.to_yaml() == text
    assert yaml.safe_load(text)["input"]["shape"] == [8, 8, 1]
    assert back.predict_raw(v["inputs"][3]) == v["outputs"][3]       # no batch axis


def test_model_input_shape_errors(images):
    m = post_training_quantize(_spec((8, 8, 1), [{"type": "flatten"},
                                                 {"type": "dense", "units": 10, **AUTO}]),
                               {"1.weight": np.zeros((10, 64)), "1.bias": np.zeros(10)}).model
    for bad in (np.zeros((2, 64)), np.zeros((8, 8)), np.zeros((2, 8, 8, 2))):
        with pytest.raises(ValueError) as err:
            m.predict_raw(bad.astype(np.int64))
        assert str(err.value) == (f"Model c: inputs must be shaped (batch, 8, 8, 1) or "
                                  f"(8, 8, 1), not {bad.shape}")


# -- PTQ and batchnorm folding -------------------------------------------------------------
def test_ptq_folds_batchnorm_into_conv_per_filter(images):
    spec = _spec((8, 8, 1), [
        {"type": "conv2d", "filters": 4, "kernel": [3, 3], "stride": [2, 2], "padding": "same",
         "weight": "fixed<8,2,RND,SAT>", "bias": "fixed<12,6,RND,SAT>", "accumulator": "auto",
         "output": "fixed<12,6,RND,SAT>"},
        {"type": "batchnorm", "eps": 0.01},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "weight": "fixed<8,1,RND,SAT>",
         "bias": "fixed<12,6,RND,SAT>", "accumulator": "auto", "output": "fixed<12,6>"}])
    rng = np.random.default_rng(5)
    fw = {"0.weight": rng.normal(0, 0.2, (4, 3, 3, 1)), "0.bias": rng.normal(0, 1, 4),
          "1.gamma": rng.uniform(0.5, 2, 4), "1.beta": rng.normal(0, 1, 4),
          "1.mean": rng.normal(0, 1, 4), "1.var": rng.uniform(0.5, 2, 4),
          "3.weight": rng.normal(0, 0.1, (10, 64)), "3.bias": rng.normal(0, 0.5, 10)}
    m = post_training_quantize(spec, fw).model
    scale = fw["1.gamma"] / np.sqrt(fw["1.var"] + 0.01)
    want_w = fxp.quantize(fw["0.weight"] * scale[:, None, None, None], "fixed<8,2,RND,SAT>")
    want_b = fxp.quantize((fw["0.bias"] - fw["1.mean"]) * scale + fw["1.beta"],
                          "fixed<12,6,RND,SAT>")
    assert np.array_equal(m.weight(0).raw, want_w.raw)
    assert np.array_equal(m.bias(0).raw, want_b.raw)
    assert np.array_equal(m.weight(3).raw, fxp.quantize(fw["3.weight"], "fixed<8,1,RND,SAT>").raw)
    # an auto accumulator is the exact bound over each filter's 9 weights
    acc = m.spec.layers[0].accumulator.fmt
    assert acc == fxp.accumulator_format(want_w.reshape(4, 9), "ufixed<5,5>", bias=want_b)
    bad = dict(fw, **{"0.weight": np.zeros((4, 9))})
    with pytest.raises(SpecError) as err:
        post_training_quantize(spec, bad)
    assert str(err.value) == ("layer 0 (conv2d) field 'weight': expected shape (4, 3, 3, 1), "
                              "not (4, 9)")


# -- A2Q -----------------------------------------------------------------------------------
def test_a2q_conv_accumulator_never_overflows_on_worst_case_images(images):
    bits = 12
    layers = [dict(TINY_CNN[0], weight="fixed<6,1,RND,SAT>", bias="fixed<8,3,RND,SAT>",
                   padding="same"), *TINY_CNN[1:4],
              dict(TINY_CNN[4], weight="fixed<6,1,RND,SAT>", bias="fixed<8,3,RND,SAT>"),
              TINY_CNN[5]]
    spec = _spec((8, 8, 1), layers, a2q={"accumulator_bits": bits})
    m = train(spec, log=None).model
    acc = m.spec.layers[0].accumulator.fmt
    assert acc.bits <= bits
    w, b = m.weight(0).raw, m.bias(0).raw
    fin = m.input_format
    # per filter, the image whose centre window drives the sum to each extreme (Python ints)
    worst = []
    shift = acc.frac_bits - (m.weight(0).fmt.frac_bits + fin.frac_bits)
    bshift = acc.frac_bits - m.bias(0).fmt.frac_bits
    for f in range(w.shape[0]):
        for sign in (1, -1):
            win = np.where(sign * w[f, :, :, 0] > 0, fin.raw_max, fin.raw_min)
            img = np.zeros((8, 8, 1), dtype=np.int64)
            img[3:6, 3:6, 0] = win
            total = sum(int(a) * int(c) for a, c in zip(w[f].ravel(), win.ravel()))
            exact = total * 2 ** shift + int(b[f]) * 2 ** bshift
            assert acc.raw_min <= exact <= acc.raw_max
            worst.append(img)
    log = m.overflow_report(np.array(worst))
    name = "layer 0 conv2d accumulator"
    assert name in log and log[name].count == 0


def test_digits_reshaped_to_the_input_shape_row_major():
    from sklearn.datasets import load_digits
    flat = load_data({"dataset": "sklearn_digits"})
    img = load_data({"dataset": "sklearn_digits"}, (8, 8, 1))
    assert img.x_train.shape[1:] == (8, 8, 1)
    np.testing.assert_array_equal(img.x_train.reshape(len(img.x_train), 64), flat.x_train)
    # row-major like Keras: pixel (r, c) of the image is sklearn's images[:, r, c]
    d = load_digits()
    k = int(np.flatnonzero((d.data == flat.x_test[0]).all(axis=1))[0])
    np.testing.assert_array_equal(img.x_test[0, :, :, 0], d.images[k])


def test_an_input_shape_of_another_size_is_a_spec_error():
    with pytest.raises(SpecError, match=r"^input\.shape: \[8, 9, 1\] holds 72 values per "
                                        r"sample, but sklearn_digits has 64$"):
        load_data({"dataset": "sklearn_digits"}, (8, 9, 1))
