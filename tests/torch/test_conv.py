"""fxp.torch Conv1d/Conv2d, pools and Flatten: NCHW in torch, the artifact's channels-last layers
exactly (0 mismatches against fxp.nn's im2col model), QAT, A2Q, learned binary points, errors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fxp  # noqa: E402
import fxp.torch as ft  # noqa: E402
from fxp.nn import Model, load_vectors  # noqa: E402

from .models import digits  # noqa: E402

W = dict(weight="fixed<6,1,RND_CONV,SAT>", bias="fixed<10,4,RND_CONV,SAT>")


def _multichannel_model():
    """Three input channels on a non-square image: same padding with stride 2 (uneven pads),
    a 3x2 kernel, max and average pools, a global average pool, a table, every mode in some
    output."""
    torch.manual_seed(3)
    return ft.Sequential(
        ft.Input((3, 7, 6), "fixed<6,2>"),
        ft.Conv2d(3, 4, (3, 2), stride=2, padding="same", **W,
                  output="fixed<10,5,RND_INF,SAT_SYM>"),
        ft.LeakyReLU(0.25, output="fixed<8,4,RND_CONV,SAT>"),
        ft.Conv2d(4, 5, 2, accumulator_bits=16, **W, output="fixed<9,4,RND_ZERO,WRAP_SM>"),
        ft.Tanh(output="fixed<6,1,RND_CONV,SAT>", table_bits=7),
        ft.MaxPool2d((1, 2), stride=1),
        ft.AvgPool2d((2, 1), stride=1, output="fixed<7,2,RND_MIN_INF,SAT_ZERO>"),
        ft.Conv2d(5, 4, 1, weight={"bits": 5, "int_bits": "learn", "quantization": "RND_CONV",
                                   "overflow": "SAT"}, bias="auto", output="fixed<8,3,TRN,WRAP>"),
        ft.GlobalAvgPool(),
        ft.Linear(4, 3, **W, output="fixed<10,4,RND,SAT>"))


def _signal_model():
    torch.manual_seed(4)
    return ft.Sequential(
        ft.Input((2, 12), "ufixed<5,2>"),
        ft.Conv1d(2, 3, 3, stride=2, padding="same", **W, output="fixed<9,4,RND_CONV,SAT>"),
        ft.ReLU(output="ufixed<6,3,RND_CONV,SAT>"),
        ft.MaxPool1d(2),
        ft.AvgPool1d(2, stride=1),
        ft.Flatten(),
        ft.Linear(6, 4, **W, output="fixed<10,4,RND_CONV,SAT>"),
        ft.Argmax())


def _qat(model, x, y, steps=5):
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    with fxp.overflow_policy("ignore"):
        model.calibrate(x)
        model.train()
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.a2q_project()
        model.end_epoch()
        model.calibrate(x)
    return model.eval()


def _raw(fmt, shape, n, seed):
    """``n`` raw samples (torch layout): the extremes first, then uniform raw values."""
    rng = np.random.default_rng(seed)
    ext = [np.full(shape, fmt.raw_min), np.full(shape, fmt.raw_max),
           np.where(np.indices(shape).sum(axis=0) % 2, fmt.raw_min, fmt.raw_max)]
    rand = rng.integers(fmt.raw_min, fmt.raw_max + 1, size=(n - len(ext), *shape))
    return np.concatenate([np.array(ext), rand]).astype(np.int64)


@pytest.mark.parametrize("make,classes", [(_multichannel_model, 3), (_signal_model, 4)])
def test_eval_forward_equals_the_exported_channels_last_artifact(make, classes, tmp_path):
    model = make()
    shape = model.input.shape
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1.5, size=(160, *shape))
    y = rng.integers(0, classes, size=160)
    model = _qat(model, torch.from_numpy(x), torch.from_numpy(y))
    with fxp.overflow_policy("ignore"):
        fxm = ft.export(model, tmp_path / "a", name="cnn", data=(x, y))
    loaded = Model.load(tmp_path / "a")
    assert loaded.spec.input_shape == (*shape[1:], shape[0])
    raw = _raw(model.input.fmt, shape, 2000, 1)
    nhwc = np.moveaxis(raw, 1, -1)
    with fxp.overflow_policy("ignore"):
        want = loaded.predict_raw(nhwc)
        got = model.predict_raw(raw)
    assert got.shape == want.shape
    assert np.count_nonzero(got != want) == 0
    # the test vectors are the channels-last test set
    vec = load_vectors(tmp_path / "a")
    assert vec["inputs"].shape[1:] == loaded.spec.input_shape
    assert np.array_equal(vec["outputs"], fxm.predict_raw(vec["inputs"]))
    with fxp.overflow_policy("ignore"):
        given = {r.tobytes() for r in fxp.quantize(x, model.input.fmt).raw}
    assert len(vec["inputs"]) == 32
    assert all(r.tobytes() in given for r in np.ascontiguousarray(np.moveaxis(vec["inputs"],
                                                                              -1, 1)))


def test_multichannel_weights_are_written_channels_last(tmp_path):
    model = _multichannel_model()
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 1, size=(64, 3, 7, 6)))
    with fxp.overflow_policy("ignore"):
        model.calibrate(x)
        model.eval()
        fxm, _ = ft.to_model(model, name="cnn")
    conv = model.layers[0]
    wq = fxp.quantize(conv.weight.detach().numpy(), conv.weight_format.fmt()).raw
    assert fxm.params["0.weight"].shape == (4, 3, 2, 3)          # (filters, kh, kw, C)
    assert np.array_equal(fxm.params["0.weight"], np.transpose(wq, (0, 2, 3, 1)))
    spec = fxm.spec.layers[0]
    assert (spec.type, spec.kernel, spec.stride, spec.padding) == \
        ("conv2d", (3, 2), (2, 2), "same")


def test_same_padding_matches_tensorflow_not_torch_symmetric_padding():
    """TensorFlow's 'same' on a 6-wide input, kernel 2, stride 1: one zero, on the right."""
    m = ft.Sequential(ft.Input((1, 1, 6), "fixed<8,8>"),
                      ft.Conv2d(1, 1, (1, 2), padding="same", weight="fixed<8,8>",
                                bias="fixed<8,8>", output="fixed<16,16>"))
    with torch.no_grad():
        m.layers[0].weight.copy_(torch.tensor([[[[1.0, 10.0]]]]))
    m.calibrate(torch.zeros(1, 1, 1, 6))
    y = m.eval().predict_raw(np.arange(1, 7).reshape(1, 1, 1, 6))
    assert y.tolist() == [[[[21, 32, 43, 54, 65, 6]]]]


def test_digits_cnn_qat_learns_and_exports_an_artifact_hdl_takes(tmp_path):
    import subprocess
    import sys
    data = digits()
    torch.manual_seed(0)
    model = ft.Sequential(
        ft.Input((1, 8, 8), "ufixed<5,5>"),
        ft.Conv2d(1, 6, 3, **W, output="fixed<10,5,RND_CONV,SAT>"),
        ft.ReLU(output="ufixed<8,4,RND_CONV,SAT>"),
        ft.MaxPool2d(2),
        ft.Flatten(),
        ft.Linear(54, 10, **W, output="fixed<12,6,RND_CONV,SAT>"),
        ft.Argmax())
    x = torch.from_numpy(data.x_train.reshape(-1, 1, 8, 8))
    y = torch.from_numpy(data.y_train)
    with torch.no_grad():   # inputs of RMS ~7
        model.layers[0].weight /= 7.0
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    with fxp.overflow_policy("ignore"):
        model.calibrate(x)
        for _ in range(4):
            model.train()
            for s in range(0, len(x), 64):
                loss = torch.nn.functional.cross_entropy(model(x[s:s + 64]), y[s:s + 64])
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.end_epoch()
        model.calibrate(x)
    model.eval()
    with fxp.overflow_policy("ignore"):
        fxm = ft.export(model, tmp_path / "cnn", name="digits_cnn_torch", data=data)
    acc = float(np.mean(fxm.predict(data.x_test.reshape(-1, 8, 8, 1)) == data.y_test))
    assert acc > 0.85
    r = subprocess.run([sys.executable, "-m", "hdl", "rtl", str(tmp_path / "cnn")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cnn" / "rtl" / "digits_cnn_torch.v").is_file()


def test_a2q_bounds_each_filter():
    model = _multichannel_model()
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 2, size=(64, 3, 7, 6)))
    with torch.no_grad():
        model.layers[2].weight.mul_(50.0)
    with fxp.overflow_policy("ignore"):
        model.calibrate(x)
        model.a2q_project()
        fxm, _ = ft.to_model(model.eval(), name="cnn")
    assert fxm.spec.layers[2].accumulator.fmt.bits <= 16


def test_learned_binary_point_of_a_conv_weight_gets_a_gradient():
    model = _multichannel_model()
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 1, size=(32, 3, 7, 6)))
    with fxp.overflow_policy("ignore"):
        model.calibrate(x)
        model.train()
        model(x).sum().backward()
    f = model.layers[6].weight_frac_bits
    assert f.grad is not None and float(f.grad) != 0.0


W8 = dict(weight="fixed<6,1>", bias="fixed<8,3>", output="fixed<8,3>")


@pytest.mark.parametrize("make,exc,message", [
    (lambda: ft.Conv2d(1, 2, 3, padding="full", **W8), ValueError,
     "Conv2d padding: expected 'valid' or 'same', not 'full'"),
    (lambda: ft.Conv2d(1, 2, (3, 3, 3), **W8), TypeError,
     "Conv2d kernel_size: expected a positive integer or a pair of them, not (3, 3, 3)"),
    (lambda: ft.Conv1d(1, 0, 3, **W8), ValueError,
     "Conv1d out_channels: expected a positive integer, not 0"),
    (lambda: ft.AvgPool2d(3), ValueError,
     "AvgPool2d kernel_size: average pooling needs a power-of-two window (the mean is an "
     "exact shift), not 9 values"),
    (lambda: ft.Sequential(ft.Input((2, 8, 8), "fixed<8,3>"), ft.Conv2d(3, 2, 3, **W8)),
     ValueError, "layer 0 (conv2d): in_channels 3 does not match the 2 channels of its input"),
    (lambda: ft.Sequential(ft.Input((2, 8, 8), "fixed<8,3>"), ft.Linear(128, 2, **W8)),
     ValueError, "layer 0 (dense): a Linear takes vectors, not samples shaped [2, 8, 8] (put "
                 "a Flatten before it)"),
    (lambda: ft.Sequential(ft.Input((2, 8), "fixed<8,3>"), ft.Conv2d(2, 2, 3, **W8)),
     ValueError, "layer 0 (conv2d): expects samples shaped (C, H, W), not [2, 8]"),
    (lambda: ft.Sequential(ft.Input((2, 4, 4), "fixed<8,3>"), ft.MaxPool2d(5)), ValueError,
     "layer 0 (maxpool2d): a 5x5 window does not fit an input of 4x4 with padding 'valid'"),
    (lambda: ft.Sequential(ft.Input((2, 3, 4), "fixed<8,3>"), ft.GlobalAvgPool()), ValueError,
     "layer 0 (global_avgpool): average pooling needs a power-of-two window (the mean is an "
     "exact shift), not 12 values ([3, 4])"),
    (lambda: ft.Sequential(ft.Input((2, 8, 8), "fixed<8,3>"), ft.Conv2d(2, 2, 3, **W8),
                           ft.BatchNorm1d(2)), ValueError,
     "layer 0 (conv2d): a BatchNorm1d cannot follow a Conv2d in fxp.torch (fold it before, "
     "or use fxp.nn's batchnorm)"),
    (lambda: ft.Sequential(ft.Input((2, 8, 8), "fixed<8,3>"), ft.Argmax()), ValueError,
     "layer 0 (argmax): Argmax takes vectors, not samples shaped [2, 8, 8]"),
])
def test_bad_conv_arguments_are_one_line_errors(make, exc, message):
    with pytest.raises(exc) as e:
        make()
    assert str(e.value) == message
