"""conv2d and conv1d against the naive per-element reference: every padding/stride/kernel
corner, every output mode, random shapes; spec errors."""

import itertools

import fxp
import numpy as np
import pytest
from fxp import FixedFormat
from fxp.nn.layers.conv2d import conv2d
from fxp.nn.spec import SpecError, parse_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from .. import reference as R
from . import cnn_reference as CR
from .helpers import OVF, QUANT, ff, fmts

FIN, FW, FB = R.Fmt(4, 2), R.Fmt(3, 1), R.Fmt(5, 2)
FACC = R.Fmt(9, 3)          # narrow: some windows wrap


def run(x, w, b, fin, fw, fb, facc, fout, stride, padding):
    """fxp's conv2d and the reference, with the overflow counts of both."""
    want, n_wrap, n_clip = CR.conv2d(x.tolist(), w.tolist(), b.tolist(), fin, fw, fb, facc,
                                     fout, stride, padding)
    with fxp.overflow_policy("log") as log:
        got = conv2d(fxp.from_raw(x, ff(fin)), fxp.from_raw(w, ff(fw)), fxp.from_raw(b, ff(fb)),
                     ff(facc), ff(fout), stride, padding, label="c")
    assert got.fmt == ff(fout)
    assert got.raw.tolist() == want
    assert (log["c accumulator"].count if "c accumulator" in log else 0) == n_wrap
    kind = "saturation" if fout.overflow != "WRAP" else "overflow"
    assert sum(r.count for r in log if r.operation == "c output" and r.kind == kind) == n_clip
    return n_wrap, n_clip


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_every_kernel_and_stride_corner(padding):
    """1x1, rectangular, square, kernel > input (same), stride > kernel, stride > input."""
    rng = np.random.default_rng(3)
    fout = R.Fmt(5, 2, True, "RND", "SAT")
    wraps = 0
    for (kh, kw), (sh, sw), (h, wd) in itertools.product(
            [(1, 1), (2, 3), (3, 3), (5, 6)], [(1, 1), (2, 1), (1, 3), (4, 4), (7, 5)],
            [(4, 5), (1, 1), (3, 2)]):
        if padding == "valid" and (kh > h or kw > wd):
            continue
        x = rng.integers(FIN.raw_min, FIN.raw_max, (2, h, wd, 2), endpoint=True)
        w = rng.integers(FW.raw_min, FW.raw_max, (3, kh, kw, 2), endpoint=True)
        b = rng.integers(FB.raw_min, FB.raw_max, 3, endpoint=True)
        wraps += run(x, w, b, FIN, FW, FB, FACC, fout, (sh, sw), padding)[0]
    assert wraps > 0    # the narrow accumulator did wrap somewhere, and it was logged


def test_conv2d_every_output_mode():
    rng = np.random.default_rng(4)
    x = rng.integers(FIN.raw_min, FIN.raw_max, (2, 4, 4, 2), endpoint=True)
    w = rng.integers(FW.raw_min, FW.raw_max, (2, 3, 3, 2), endpoint=True)
    b = rng.integers(FB.raw_min, FB.raw_max, 2, endpoint=True)
    clipped = 0
    for q, o in itertools.product(QUANT, OVF):
        fout = R.Fmt(4, 1, True, q, o)       # narrow: rounds and overflows
        clipped += run(x, w, b, FIN, FW, FB, R.Fmt(16, 8), fout, (1, 2), "same")[1]
    assert clipped > 0


def test_conv2d_exhaustive_tiny():
    """Every 2x2x1 image of 2-bit values against one 2x2 kernel, both paddings."""
    fin = R.Fmt(2, 1)
    x = np.array(list(itertools.product(fin.raws(), repeat=4))).reshape(-1, 2, 2, 1)
    w, b = np.array([[[[1], [-2]], [[-1], [1]]]]), np.array([3])
    for padding in ("valid", "same"):
        run(x, w, b, fin, FW, FB, R.Fmt(6, 2), R.Fmt(3, 1, True, "RND_CONV", "SAT_SYM"),
            (1, 1), padding)


def test_conv2d_wide_formats_take_the_object_path():
    rng = np.random.default_rng(5)
    fin, fw, fb = R.Fmt(40, 20), R.Fmt(36, 4), R.Fmt(50, 30)
    x = rng.integers(-2 ** 39, 2 ** 39, (1, 3, 3, 2))
    w = rng.integers(-2 ** 35, 2 ** 35, (2, 2, 2, 2))
    b = rng.integers(-2 ** 49, 2 ** 49, 2)
    run(x.astype(object), w.astype(object), b.astype(object), fin, fw, fb, R.Fmt(90, 30),
        R.Fmt(20, 12, True, "RND", "SAT"), (1, 1), "same")


@st.composite
def conv_case(draw):
    fin = draw(fmts(max_bits=6))
    fw = draw(fmts(max_bits=5, int_lo=-2, int_hi=4))
    fb = draw(fmts(max_bits=7, int_lo=-2, int_hi=8))
    frac = max(fw.frac + fin.frac, fb.frac) + draw(st.integers(0, 2))
    acc_bits = draw(st.integers(2, 16))
    facc = R.Fmt(acc_bits, acc_bits - frac, draw(st.booleans()))
    fout = draw(fmts(max_bits=10, int_lo=-4, int_hi=10, modes=True))
    h, w_, c, f = (draw(st.integers(1, 5)) for _ in range(4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["valid", "same"]))
    if padding == "valid":
        h, w_ = max(h, kh), max(w_, kw)
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    n = draw(st.integers(1, 2))
    rint = lambda f, shape: np.array(draw(st.lists(  # noqa: E731
        st.integers(f.raw_min, f.raw_max), min_size=int(np.prod(shape)),
        max_size=int(np.prod(shape))))).reshape(shape)
    return (rint(fin, (n, h, w_, c)), rint(fw, (f, kh, kw, c)), rint(fb, (f,)), fin, fw, fb,
            facc, fout, stride, padding)


@settings(max_examples=120, deadline=None)
@given(conv_case())
def test_conv2d_random_shapes(case):
    run(*case)


def test_conv1d_is_conv2d_of_a_column():
    """The conv1d layer of a model against the reference on (L, 1, C) images."""
    rng = np.random.default_rng(6)
    fout = R.Fmt(6, 3, True, "RND", "SAT")
    for k, s, padding in itertools.product([1, 3, 7], [1, 2, 5], ["valid", "same"]):
        doc = {"name": "c1", "input": {"shape": [6, 2], "format": str(ff(FIN))},
               "layers": [{"type": "conv1d", "filters": 3, "kernel": k, "stride": s,
                           "padding": padding, "weight": str(ff(FW)), "bias": str(ff(FB)),
                           "accumulator": str(ff(FACC)), "output": str(ff(fout))}]}
        if padding == "valid" and k > 6:
            with pytest.raises(SpecError, match=r"^layer 0 \(conv1d\): a 7x1 window does not "
                                                r"fit an input of 6x1 with padding 'valid'$"):
                parse_spec(doc)
            continue
        from fxp.nn.model import Model
        w = rng.integers(FW.raw_min, FW.raw_max, (3, k, 2), endpoint=True)
        b = rng.integers(FB.raw_min, FB.raw_max, 3, endpoint=True)
        m = Model(parse_spec(doc), {"0.weight": w, "0.bias": b})
        x = rng.integers(FIN.raw_min, FIN.raw_max, (3, 6, 2), endpoint=True)
        with fxp.overflow_policy("log") as log:
            got = m.predict_raw(x)
        want, n_wrap, _ = CR.conv2d(x[:, :, None].tolist(), w[:, :, None].tolist(),
                                    b.tolist(), FIN, FW, FB, FACC, fout, (s, 1), padding)
        acc = "layer 0 conv1d accumulator"
        assert (log[acc].count if acc in log else 0) == n_wrap
        assert got.shape == (3, CR.out_size(6, k, s, padding)[0], 3)
        assert got.tolist() == [[p[0] for p in img] for img in want]


# -- spec --------------------------------------------------------------------------------
def _doc(layer, shape=(8, 8, 1)):
    return {"name": "m", "input": {"shape": list(shape), "format": "ufixed<4,4>"},
            "layers": [layer]}


CONV = {"type": "conv2d", "filters": 2, "kernel": [3, 3], "weight": "fixed<4,1>",
        "bias": "fixed<6,3>", "accumulator": "auto", "output": "fixed<8,4>"}


def test_conv2d_shapes_and_defaults():
    s = parse_spec({**_doc(CONV), "layers": [CONV, {**CONV, "stride": [2, 3],
                                                    "padding": "same"}]})
    assert s.shapes == [(8, 8, 1), (6, 6, 2), (3, 2, 2)]
    assert (s.layers[0].stride, s.layers[0].padding) == ((1, 1), "valid")


@pytest.mark.parametrize("change, shape, msg", [
    ({"kernel": [3]}, (8, 8, 1), "layer 0 (conv2d) field 'kernel': expected a list of two "
                                 "positive integers, not [3]"),
    ({"kernel": [3, 0]}, (8, 8, 1), "layer 0 (conv2d) field 'kernel'[1]: expected a positive "
                                    "integer, not 0"),
    ({"stride": 2}, (8, 8, 1), "layer 0 (conv2d) field 'stride': expected a list of two "
                               "positive integers, not 2"),
    ({"padding": "full"}, (8, 8, 1), "layer 0 (conv2d) field 'padding': expected valid or "
                                     "same, not 'full'"),
    ({"filters": 0}, (8, 8, 1), "layer 0 (conv2d) field 'filters': expected a positive "
                                "integer, not 0"),
    ({"kernel": [9, 1]}, (8, 8, 1), "layer 0 (conv2d): a 9x1 window does not fit an input of "
                                    "8x8 with padding 'valid'"),
    ({}, (64,), "layer 0 (conv2d): expects an input shaped [H, W, C], not [64]"),
    ({"accumulator": "fixed<20,8,TRN,SAT>"}, (8, 8, 1),
     "layer 0 (conv2d) field 'accumulator': an accumulator must use WRAP overflow, not SAT "
     "(saturate in the output format instead)"),
])
def test_conv2d_spec_errors(change, shape, msg):
    with pytest.raises(SpecError) as err:
        parse_spec(_doc({**CONV, **change}, shape))
    assert str(err.value) == msg


def test_input_shape_errors_and_dense_needs_a_vector():
    dense = {"type": "dense", "units": 2, "weight": "auto", "bias": "auto",
             "accumulator": "auto", "output": "auto"}
    with pytest.raises(SpecError) as err:
        parse_spec(_doc(dense, (2, 2, 2, 2)))
    assert str(err.value) == ("input.shape: expected [N], [L, C] or [H, W, C] (one to three "
                              "positive integers), not [2, 2, 2, 2]")
    with pytest.raises(SpecError) as err:
        parse_spec(_doc(dense, (8, 0, 1)))
    assert str(err.value) == "input.shape[1]: expected a positive integer, not 0"
    with pytest.raises(SpecError) as err:
        parse_spec(_doc(dense))
    assert str(err.value) == ("layer 0 (dense): expects a vector input, not shape [8, 8, 1] "
                              "(add a flatten layer before it)")


def test_conv2d_model_yaml_dumps_the_fields():
    s = parse_spec(_doc({**CONV, "padding": "same", "name": "c0"}))
    d = s.dump()["layers"][0]
    assert list(d) == ["type", "name", "filters", "kernel", "stride", "padding", "weight",
                       "bias", "accumulator", "output"]
    assert (d["kernel"], d["stride"]) == ([3, 3], [1, 1])
    assert parse_spec(s.dump()).dump() == s.dump()
    one = parse_spec(_doc({**CONV, "type": "conv1d", "kernel": 3, "stride": 2}, (8, 2)))
    assert one.dump()["layers"][0]["kernel"] == 3 and one.shapes[-1] == (3, 2)
