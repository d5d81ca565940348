"""Pooling and flatten against the naive reference: every window/stride corner, every output
mode of avgpool, ties, power-of-two errors, 1-D and global variants."""

import itertools

import fxp
import numpy as np
import pytest
from fxp.nn.model import Model
from fxp.nn.spec import SpecError, parse_spec

from .. import reference as R
from . import cnn_reference as CR
from .helpers import OVF, QUANT, ff

FIN = R.Fmt(5, 2, True)


def model(layers, shape, fin=FIN):
    return Model(parse_spec({"name": "p", "input": {"shape": list(shape), "format": str(ff(fin))},
                             "layers": layers}), {})


def images(rng, shape, n=3, fin=FIN):
    x = rng.integers(fin.raw_min, fin.raw_max, (n, *shape), endpoint=True)
    x[0] = fin.raw_max        # every window tied at the extremes
    x[1] = fin.raw_min
    return x


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d_every_window_and_stride(kind):
    rng = np.random.default_rng(7)
    shape = (5, 6, 2)
    for pool, stride in itertools.product([(1, 1), (2, 2), (1, 4), (4, 2), (4, 4)],
                                          [None, (1, 1), (3, 1), (5, 6)]):
        layer = {"type": f"{kind}pool2d", "pool": list(pool)}
        if stride is not None:
            layer["stride"] = list(stride)
        m = model([layer], shape)
        x = images(rng, shape)
        want = CR.pool2d(x.tolist(), pool, stride or pool, kind, FIN, None)
        assert m.predict_raw(x).tolist() == want
        if kind == "max":
            assert m.output_format == ff(FIN)
        else:   # the exact mean: k more fraction bits
            k = (pool[0] * pool[1]).bit_length() - 1
            assert m.output_format == fxp.FixedFormat(FIN.bits + k, FIN.int_bits, True)


def test_avgpool_every_output_mode():
    rng = np.random.default_rng(8)
    x = images(rng, (4, 4, 3))
    for q, o in itertools.product(QUANT, OVF):
        fout = R.Fmt(4, 1, True, q, o)
        m = model([{"type": "avgpool2d", "pool": [2, 2], "output": str(ff(fout))}], (4, 4, 3))
        with fxp.overflow_policy("log") as log:
            got = m.predict_raw(x)
        assert got.tolist() == CR.pool2d(x.tolist(), (2, 2), (2, 2), "avg", FIN, fout)
        assert "layer 0 avgpool2d output" in log


def test_pool1d_and_global():
    rng = np.random.default_rng(9)
    x = images(rng, (8, 3))
    for kind, p, s in itertools.product(["max", "avg"], [1, 2, 4], [1, 3]):
        m = model([{"type": f"{kind}pool1d", "pool": p, "stride": s}], (8, 3))
        want = CR.pool2d(x[:, :, None].tolist(), (p, 1), (s, 1), kind, FIN, None)
        assert m.predict_raw(x).tolist() == [[q[0] for q in img] for img in want]
    fout = R.Fmt(6, 2, True, "RND_CONV", "SAT")
    for shape in ((8, 3), (2, 4, 3), (1, 1, 2)):
        g = model([{"type": "global_avgpool", "output": str(ff(fout))}], shape)
        x = images(rng, shape)
        x4 = x.reshape(len(x), shape[0], -1, shape[-1])
        want = CR.pool2d(x4.tolist(), x4.shape[1:3], x4.shape[1:3], "avg", FIN, fout)
        assert g.spec.shapes[-1] == (shape[-1],)
        assert g.predict_raw(x).tolist() == [img[0][0] for img in want]


@pytest.mark.parametrize("layer, shape, msg", [
    ({"type": "avgpool2d", "pool": [3, 1]}, (6, 6, 1),
     "layer 0 (avgpool2d) field 'pool': average pooling needs a power-of-two window (the mean "
     "is an exact shift), not 3 values"),
    ({"type": "avgpool1d", "pool": 6}, (12, 1),
     "layer 0 (avgpool1d) field 'pool': average pooling needs a power-of-two window (the mean "
     "is an exact shift), not 6 values"),
    ({"type": "global_avgpool"}, (3, 4, 2),
     "layer 0 (global_avgpool): average pooling needs a power-of-two window (the mean is an "
     "exact shift), not 12 values ([3, 4])"),
    ({"type": "maxpool2d", "pool": [2, 2]}, (8, 2),
     "layer 0 (maxpool2d): expects an input shaped [H, W, C], not [8, 2]"),
    ({"type": "maxpool1d", "pool": [2]}, (8, 2),
     "layer 0 (maxpool1d) field 'pool': expected a positive integer, not [2]"),
    ({"type": "maxpool2d", "pool": [4, 4]}, (3, 8, 1),
     "layer 0 (maxpool2d): a 4x4 window does not fit an input of 3x8 with padding 'valid'"),
])
def test_pool_errors(layer, shape, msg):
    with pytest.raises(SpecError) as err:
        model([layer], shape)
    assert str(err.value) == msg


def test_flatten_is_row_major_like_keras():
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5) % 16 - 8
    m = model([{"type": "flatten"}], (3, 4, 5))
    got = m.predict_raw(x)
    assert got.shape == (2, 60) and m.spec.shapes[-1] == (60,)
    for n, y, xx, c in itertools.product(range(2), range(3), range(4), range(5)):
        assert got[n, (y * 4 + xx) * 5 + c] == x[n, y, xx, c]
    assert m.output_format == ff(FIN)


def test_elementwise_layers_on_images():
    """relu, leaky_relu, sigmoid and tanh act per element on any shape."""
    rng = np.random.default_rng(10)
    x = images(rng, (3, 2, 2))
    fout, fsig = R.Fmt(4, 2, False, "RND", "SAT"), R.Fmt(6, 0, False)
    layers = [{"type": "relu", "output": str(ff(fout))},
              {"type": "leaky_relu", "alpha": 0.5, "output": "fixed<6,3>"},
              {"type": "sigmoid", "output": str(ff(fsig)), "table_bits": 3},
              {"type": "tanh", "output": "fixed<6,1>", "table_bits": 5}]
    tables = {"2.table": rng.integers(0, 63, 8), "3.table": rng.integers(-32, 31, 32)}
    spec = parse_spec({"name": "e", "input": {"shape": [3, 2, 2], "format": str(ff(FIN))},
                       "layers": layers})
    m = Model(spec, tables)
    outs = m.forward(fxp.from_raw(x, ff(FIN)))
    assert outs[0].raw.tolist() == [[[[R.relu(v, FIN, fout) for v in px] for px in row]
                                     for row in img] for img in x.tolist()]
    fl = R.of(m.inputs[2][1])
    assert outs[2].raw.tolist() == [[[[int(tables["2.table"][R.bucket(v, fl, 3)]) for v in px]
                                      for px in row] for row in img]
                                    for img in outs[1].raw.tolist()]
    for layer_out in outs:
        assert layer_out.shape == x.shape
    flat = Model(parse_spec({**spec.dump(), "layers": [*layers, {"type": "flatten"}]}), tables)
    assert flat.predict_raw(x).tolist() == outs[-1].raw.reshape(3, -1).tolist()
