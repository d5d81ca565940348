"""Model: bit-exact inference against a per-layer naive reference; the artifact on disk."""

import copy
import os
from fractions import Fraction

import numpy as np
import pytest
import yaml

import fxp
from fxp import FixedFormat
from fxp.nn import ArtifactError, Model, SpecError, load_spec, load_vectors, parse_spec

from . import reference as R

MLP = {
    "name": "tiny_mlp",
    "input": {"shape": [5], "format": "fixed<6,3,RND,SAT>"},
    "layers": [
        # the accumulator is narrow: some inputs wrap it
        {"type": "dense", "units": 4, "weight": "fixed<4,1,RND_CONV,SAT>", "bias": "fixed<6,3>",
         "accumulator": "fixed<10,4>", "output": "fixed<6,3,RND,SAT>"},
        {"type": "relu", "output": "fixed<5,2,RND_INF,SAT>"},  # signed: not a mere cast
        {"type": "dense", "units": 3, "weight": "fixed<4,1>", "bias": "fixed<8,4>",
         "accumulator": "fixed<12,6>", "output": "fixed<8,4,RND_CONV,SAT_SYM>"},
        {"type": "argmax"},
    ],
}

ACT = {
    "name": "tiny_act",
    "input": {"shape": [4], "format": "ufixed<6,2,RND_CONV>"},
    "layers": [
        {"type": "dense", "units": 6, "weight": "fixed<5,1>", "bias": "fixed<6,2>",
         "accumulator": "fixed<14,6>", "output": "fixed<8,3,RND,SAT>"},
        {"type": "sigmoid", "output": "ufixed<8,0,RND,SAT>", "table_bits": 6},
        {"type": "dense", "units": 3, "weight": "fixed<5,1>", "bias": "fixed<6,2>",
         "accumulator": "fixed<17,5>", "output": "fixed<8,2,RND_CONV,SAT>"},
        {"type": "batchnorm", "name": "bn"},
        {"type": "tanh", "output": "fixed<8,1,RND,SAT>"},  # default table_bits: all 8
    ],
}


def ff(f: R.Fmt) -> FixedFormat:
    return FixedFormat(*f)


def random_params(spec, rng, tables="make"):
    """Random raw weights and biases; lookup tables built by fxp (or random raws)."""
    from fxp.nn import layers as L
    params = {}
    fmt = spec.input_format
    for layer in spec.layers:
        i = layer.index
        if layer.type == "dense":
            for key, f, shape in (("weight", layer.weight.fmt, (layer.units, _n_in(spec, i))),
                                  ("bias", layer.bias.fmt, (layer.units,))):
                lo, hi = max(f.raw_min, -2 ** 62), min(f.raw_max, 2 ** 62)
                params[f"{i}.{key}"] = rng.integers(lo, hi, shape, endpoint=True)
            fmt = layer.output.fmt
        elif layer.type == "relu":
            fmt = layer.output.fmt
        elif layer.type in ("sigmoid", "tanh"):
            tb = layer.table_bits or min(fmt.bits, 10)
            out = layer.output.fmt
            if tables == "make" and tb <= fmt.bits:
                params[f"{i}.table"] = L.make_table(layer.type, fmt, out, tb).raw
            else:
                params[f"{i}.table"] = rng.integers(out.raw_min, out.raw_max, 2 ** tb,
                                                    endpoint=True)
            fmt = out
    return params


def _n_in(spec, index):
    n = spec.input_shape[0]
    for layer in spec.layers[:index]:
        if layer.type == "dense":
            n = layer.units
    return n


def reference_forward(spec, params, rows):
    """Every layer's raw outputs, per element with Python ints (tests/fxp/nn/reference.py)."""
    f = R.of(spec.input_format)
    x = [[int(v) for v in row] for row in rows]
    outs, wraps = [], 0
    for layer in spec.layers:
        i = layer.index
        if layer.type == "dense":
            w = [[int(v) for v in r] for r in params[f"{i}.weight"]]
            b = [int(v) for v in params[f"{i}.bias"]]
            fout = R.of(layer.output.fmt)
            x, _, n_wrap, _ = R.dense(x, w, b, f, R.of(layer.weight.fmt), R.of(layer.bias.fmt),
                                      R.of(layer.accumulator.fmt), fout)
            wraps += n_wrap
            f = fout
        elif layer.type == "relu":
            fout = R.of(layer.output.fmt)
            x = [[R.relu(v, f, fout) for v in row] for row in x]
            f = fout
        elif layer.type in ("sigmoid", "tanh"):
            table = [int(v) for v in params[f"{i}.table"]]
            tb = len(table).bit_length() - 1
            x = [[table[R.bucket(v, f, tb)] for v in row] for row in x]
            f = R.of(layer.output.fmt)
        elif layer.type == "argmax":
            x = [R.argmax(row) for row in x]
        outs.append(x)
    return outs, wraps


def edge_and_random_inputs(model, rng, n=40):
    f = model.input_format
    x = rng.integers(f.raw_min, f.raw_max, (n, model.n_inputs), endpoint=True)
    x[0], x[1], x[2] = f.raw_min, f.raw_max, 0
    return x


@pytest.fixture(params=[MLP, ACT], ids=["mlp", "act"])
def doc(request):
    return copy.deepcopy(request.param)


@pytest.fixture
def built(doc):
    rng = np.random.default_rng(1234)
    spec = parse_spec(doc)
    params = random_params(spec, rng)
    return Model(spec, params), params, rng


# -- inference -----------------------------------------------------------------------------
def test_properties():
    spec = parse_spec(MLP)
    m = Model(spec, random_params(spec, np.random.default_rng(0)))
    assert (m.name, m.n_inputs, m.n_outputs) == ("tiny_mlp", 5, 1)
    assert m.input_format == FixedFormat(6, 3, True, "RND", "SAT")
    assert m.output_format == FixedFormat(2, 2, False)  # 3 classes
    assert [n for n, _ in m.shapes] == [4, 4, 3, 1]
    assert m.weight(0).shape == (4, 5) and m.bias(2).fmt == FixedFormat(8, 4)
    spec = parse_spec(ACT)
    m = Model(spec, random_params(spec, np.random.default_rng(0)))
    assert (m.n_outputs, m.output_format) == (3, FixedFormat(8, 1, True, "RND", "SAT"))
    table, tb = m.table(4)
    assert (tb, table.shape) == (8, (256,))
    assert m.table(1)[1] == 6


def test_tables_match_the_reference():
    """The tables fxp builds for the activation model are the reference's."""
    spec = parse_spec(ACT)
    m = Model(spec, random_params(spec, np.random.default_rng(0)))
    assert m.table(1)[0].raw.tolist() == R.table("sigmoid", R.Fmt(8, 3), R.of(
        FixedFormat(8, 0, False, "RND", "SAT")), 6)
    assert m.table(4)[0].raw.tolist() == R.table("tanh", R.Fmt(8, 2, True, "RND_CONV", "SAT"),
                                                 R.of(FixedFormat(8, 1, True, "RND", "SAT")), 8)


@pytest.mark.parametrize("tables", ["make", "random"])
def test_predict_raw_matches_reference_per_layer(doc, tables):
    rng = np.random.default_rng(7)
    spec = parse_spec(doc)
    for _ in range(5):
        params = random_params(spec, rng, tables)
        m = Model(spec, params)
        x = edge_and_random_inputs(m, rng)
        want, wraps = reference_forward(spec, params, x.tolist())
        with fxp.overflow_policy("log") as log:
            outs = m.forward(fxp.from_raw(x, m.input_format))
            got = m.predict_raw(x)
        assert len(outs) == len(spec.layers)
        for layer, o, w in zip(spec.layers, outs, want):
            assert o.raw.tolist() == w, layer.label
        assert got.tolist() == want[-1]
        assert log.overflows == 2 * wraps  # forward and predict_raw: every wrap is logged
        assert m.overflow_report(x).overflows == wraps


def test_mlp_accumulator_wraps_somewhere():
    """The hand-built MLP's narrow accumulator does wrap (the reference comparison bites)."""
    spec = parse_spec(MLP)
    rng = np.random.default_rng(3)
    total = 0
    for _ in range(5):
        params = random_params(spec, rng)
        m = Model(spec, params)
        log = m.overflow_report(edge_and_random_inputs(m, rng))
        total += log["layer 0 dense accumulator"].count
    assert total > 0


def test_predict_raw_single_and_batch(built):
    m, params, rng = built
    x = edge_and_random_inputs(m, rng, 6)
    with fxp.overflow_policy("ignore"):
        batch = m.predict_raw(x)
        for row, y in zip(x, batch):
            single = m.predict_raw(row)
            assert np.ndim(single) == np.ndim(y) and np.array_equal(single, y)
        assert np.array_equal(m.predict_raw(x.tolist()), batch)  # lists work too


def test_predict_quantizes_floats_first(built):
    m, params, rng = built
    f = m.input_format
    x = rng.uniform(f.min - 2, f.max + 2, (30, m.n_inputs))  # some saturate or wrap
    x[2, 2] = f.lsb / 2  # a tie
    if f.overflow.saturates:
        x[0, 0], x[1, 1] = np.inf, -np.inf
    xq = [[R.cast(Fraction(v), R.of(f)) if np.isfinite(v) else
           (f.raw_max if v > 0 else f.raw_min) for v in row] for row in x.tolist()]
    want = reference_forward(m.spec, params, xq)[0][-1]
    with fxp.overflow_policy("ignore"):
        got = m.predict(x)
        single = m.predict(x[3])
    if m.spec.layers[-1].type == "argmax":
        assert got.dtype == np.int64 and got.tolist() == want
        assert int(single) == want[3]
    else:
        assert got.dtype == np.float64
        out = R.of(m.output_format)
        assert got.tolist() == [[float(R.value(r, out)) for r in row] for row in want]
        assert single.tolist() == got[3].tolist()


def test_predict_quantizes_with_the_input_format():
    """A relu-only model shows the quantized inputs themselves (rounding, ties, saturation)."""
    fin, fout = R.Fmt(6, 3, True, "RND_MIN_INF", "SAT_SYM"), R.Fmt(7, 4)
    m = Model(parse_spec({"name": "r", "input": {"shape": [3], "format": str(ff(fin))},
                          "layers": [{"type": "relu", "output": str(ff(fout))}]}), {})
    x = np.array([[0.0625, -0.0625, 0.1875], [3.9, 4.0, -4.0], [np.inf, -np.inf, 1e300],
                  [0.3, 1.0624, 2.0]])
    want = [[float(R.value(R.relu(R.cast(Fraction(v), fin) if np.isfinite(v) else
                                  (fin.raw_max if v > 0 else -fin.raw_max), fin, fout), fout))
             for v in row] for row in x.tolist()]
    assert want[0] == [0.0, 0.0, 0.125]  # ties go toward minus infinity
    assert m.predict(x).tolist() == want
    assert m.predict(x[1]).tolist() == want[1]


def test_predict_input_errors(built):
    m, _, _ = built
    n, name = m.n_inputs, m.name
    shape_msg = f"Model {name}: inputs must be shaped (batch, {n}) or ({n},), not "
    for bad in (np.zeros((2, n + 1), dtype=np.int64), np.zeros((1, 2, n), dtype=np.int64),
                np.int64(3), np.zeros((0,), dtype=np.int64)):
        with pytest.raises(ValueError) as err:
            m.predict_raw(bad)
        assert str(err.value) == shape_msg + str(bad.shape)
        with pytest.raises(ValueError) as err:
            m.predict(bad.astype(np.float64))
        assert str(err.value) == shape_msg + str(bad.shape)
    f = m.input_format
    x = np.zeros((3, n), dtype=np.int64)
    x[2, 1] = f.raw_max + 1
    with pytest.raises(ValueError) as err:
        m.predict_raw(x)
    assert str(err.value) == (f"Model {name} input: Raw value {f.raw_max + 1} at index (2, 1) "
                              f"is outside the raw range [{f.raw_min}, {f.raw_max}] of {f}")
    with pytest.raises(ValueError) as err:
        m.predict_raw(x[2])
    assert str(err.value) == (f"Model {name} input: Raw value {f.raw_max + 1} at index (1,) "
                              f"is outside the raw range [{f.raw_min}, {f.raw_max}] of {f}")
    with pytest.raises(TypeError) as err:
        m.predict_raw(np.full(n, 0.5))
    assert str(err.value) == (f"Model {name} input: Raw values must be integers, not an array "
                              f"of float64; use fxp.quantize for real values")
    with pytest.raises(ValueError) as err:
        m.predict(np.array([0.0] * (n - 1) + [np.nan]))
    assert str(err.value) == (f"model input: 1 NaN value cannot be quantized; first at index "
                              f"({n - 1},)")


def test_batchnorm_is_the_identity():
    spec = parse_spec(ACT)
    m = Model(spec, random_params(spec, np.random.default_rng(5)))
    outs = m.forward(fxp.from_raw(edge_and_random_inputs(m, np.random.default_rng(6)),
                                  m.input_format))
    assert outs[3].fmt == outs[2].fmt and np.array_equal(outs[3].raw, outs[2].raw)


# -- construction errors -------------------------------------------------------------------
def _model_error(doc, mutate_params=None, mutate_doc=None):
    doc = copy.deepcopy(doc)
    if mutate_doc:
        mutate_doc(doc)
    spec = parse_spec(doc)
    params = random_params(spec, np.random.default_rng(0))
    if mutate_params:
        mutate_params(params)
    return lambda: Model(spec, params)


def _set_param(key, value):
    return lambda p: p.__setitem__(key, value)


def _del_param(key):
    return lambda p: p.pop(key)


MODEL_ERRORS = [
    ("missing weight", MLP, _del_param("0.weight"), None, ArtifactError,
     "layer 0 (dense): missing tensor '0.weight'"),
    ("missing bias", MLP, _del_param("2.bias"), None, ArtifactError,
     "layer 2 (dense): missing tensor '2.bias'"),
    ("missing table", ACT, _del_param("4.table"), None, ArtifactError,
     "layer 4 (tanh): missing tensor '4.table'"),
    ("transposed weight", MLP, _set_param("0.weight", np.zeros((5, 4), np.int64)), None,
     ArtifactError, "layer 0 (dense) tensor '0.weight': expected shape (4, 5), not (5, 4)"),
    ("short table", ACT, _set_param("1.table", np.zeros(32, np.int64)), None, ArtifactError,
     "layer 1 (sigmoid) tensor '1.table': expected shape (64,), not (32,)"),
    ("out-of-range bias", MLP, _set_param("2.bias", np.array([0, 128, 0])), None,
     ArtifactError, "layer 2 (dense) tensor '2.bias': Raw value 128 at index (1,) is outside "
     "the raw range [-128, 127] of fixed<8,4>"),
    ("negative unsigned table entry", ACT, _set_param("1.table", np.full(64, -1)), None,
     ArtifactError, "layer 1 (sigmoid) tensor '1.table': Raw value -1 at index (0,) is outside "
     "the raw range [0, 255] of ufixed<8,0,RND,SAT>"),
    ("float weights", MLP, _set_param("2.weight", np.zeros((3, 4))), None, ArtifactError,
     "layer 2 (dense) tensor '2.weight': Raw values must be integers, not an array of float64; "
     "use fxp.quantize for real values"),
    ("unexpected tensor", MLP, _set_param("1.weight", np.zeros((4, 4), np.int64)), None,
     ArtifactError, "weights: unexpected tensor '1.weight'"),
    ("accumulator short of the products", MLP, None,
     lambda d: d["layers"][0].update(accumulator="fixed<10,5>"), SpecError,
     "layer 0 (dense) field 'accumulator': fixed<10,5> has 5 fraction bits, fewer than the 6 "
     "of the weights"),
    ("accumulator short of the bias", MLP, None,
     lambda d: d["layers"][2].update(bias="fixed<8,1>"), SpecError,
     "layer 2 (dense) field 'accumulator': fixed<12,6> has 6 fraction bits, fewer than the 7 "
     "of the bias"),
    ("table wider than its input", ACT, None,
     lambda d: d["layers"][1].update(table_bits=9), SpecError,
     "layer 1 (sigmoid) field 'table_bits': 9 exceeds the 8 bits of its input "
     "fixed<8,3,RND,SAT>"),
]


@pytest.mark.parametrize("doc, mutate_params, mutate_doc, exc, message",
                         [pytest.param(*case[1:], id=case[0]) for case in MODEL_ERRORS])
def test_model_construction_errors(doc, mutate_params, mutate_doc, exc, message):
    make = _model_error(doc, mutate_params, mutate_doc)
    with pytest.raises(exc) as err:
        make()
    assert type(err.value) is exc
    assert str(err.value) == message


def test_model_needs_a_concrete_spec():
    doc = copy.deepcopy(MLP)
    doc["layers"][0]["accumulator"] = "auto"
    with pytest.raises(SpecError) as err:
        Model(parse_spec(doc), {})
    assert str(err.value) == ("Model tiny_mlp: every format must be concrete; resolve 'auto' "
                              "and 'learn' with python -m fxp train or quantize first")


# -- artifact ------------------------------------------------------------------------------
def _entries(path):
    return sorted(os.listdir(path))


def _snapshot(directory):
    out = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            out[name] = f.read()
    return out


def test_save_load_round_trip(built, tmp_path):
    m, params, rng = built
    x = edge_and_random_inputs(m, rng)
    with fxp.overflow_policy("ignore"):
        y = m.predict_raw(x)
    target = tmp_path / "art"
    m.save(target, vectors={"inputs": x, "outputs": y})
    assert _entries(tmp_path) == ["art"]  # no temp dirs left behind
    assert _entries(target) == ["model.yaml", "vectors.npz", "weights.npz"]
    loaded = Model.load(target)
    assert loaded.spec.dump() == m.spec.dump()
    assert load_spec(target / "model.yaml").concrete
    assert sorted(loaded.params) == sorted(params)
    for k, v in params.items():
        assert loaded.params[k].dtype == np.int64 and np.array_equal(loaded.params[k], v), k
    with fxp.overflow_policy("ignore"):
        assert np.array_equal(loaded.predict_raw(x), y)
        xf = rng.uniform(-3, 3, (10, m.n_inputs))
        assert np.array_equal(loaded.predict(xf), m.predict(xf))
    vec = load_vectors(target)
    assert sorted(vec) == ["inputs", "outputs"]
    assert np.array_equal(vec["inputs"], x) and np.array_equal(vec["outputs"], y)


def test_save_replaces_an_existing_artifact(tmp_path):
    spec = parse_spec(MLP)
    rng = np.random.default_rng(11)
    first, second = Model(spec, random_params(spec, rng)), Model(spec, random_params(spec, rng))
    target = tmp_path / "art"
    first.save(target, vectors={"inputs": np.zeros((1, 5)), "outputs": np.zeros(1)})
    second.save(target)  # no vectors this time: the old vectors.npz must not survive
    assert _entries(tmp_path) == ["art"]
    assert _entries(target) == ["model.yaml", "weights.npz"]
    loaded = Model.load(target)
    for k, v in second.params.items():
        assert np.array_equal(loaded.params[k], v)


def _failing_savez(real, when):
    """np.savez that raises when writing ``when``, after checking model.yaml is in place."""
    def savez(file, *args, **kwds):
        if os.path.basename(str(file)).startswith(when):
            tmp = os.path.dirname(str(file))
            assert os.path.isfile(os.path.join(tmp, "model.yaml"))
            raise OSError(28, "No space left on device")
        return real(file, *args, **kwds)
    return savez


@pytest.mark.parametrize("when", ["weights", "vectors"])
def test_failed_write_leaves_no_artifact(tmp_path, monkeypatch, when):
    spec = parse_spec(MLP)
    m = Model(spec, random_params(spec, np.random.default_rng(2)))
    monkeypatch.setattr(np, "savez", _failing_savez(np.savez, when))
    with pytest.raises(OSError, match="No space left on device"):
        m.save(tmp_path / "art", vectors={"inputs": np.zeros((1, 5)), "outputs": np.zeros(1)})
    assert _entries(tmp_path) == []  # no target, no temp dir


@pytest.mark.parametrize("when", ["weights", "vectors"])
def test_failed_write_keeps_the_old_artifact(tmp_path, monkeypatch, when):
    spec = parse_spec(MLP)
    rng = np.random.default_rng(4)
    old, new = Model(spec, random_params(spec, rng)), Model(spec, random_params(spec, rng))
    target = tmp_path / "art"
    old.save(target, vectors={"inputs": np.ones((1, 5)), "outputs": np.ones(1)})
    before = _snapshot(target)
    monkeypatch.setattr(np, "savez", _failing_savez(np.savez, when))
    with pytest.raises(OSError, match="No space left on device"):
        new.save(target, vectors={"inputs": np.zeros((1, 5)), "outputs": np.zeros(1)})
    assert _entries(tmp_path) == ["art"]
    assert _snapshot(target) == before


def test_interrupted_write_cleans_up(tmp_path, monkeypatch):
    spec = parse_spec(MLP)
    m = Model(spec, random_params(spec, np.random.default_rng(2)))

    def interrupted(*args, **kwds):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        m.save(tmp_path / "art")
    assert _entries(tmp_path) == []


def test_failed_swap_restores_the_old_artifact(tmp_path, monkeypatch):
    """If moving the new artifact in fails, the old one is put back."""
    spec = parse_spec(MLP)
    rng = np.random.default_rng(8)
    old, new = Model(spec, random_params(spec, rng)), Model(spec, random_params(spec, rng))
    target = tmp_path / "art"
    old.save(target)
    before = _snapshot(target)
    real_rename = os.rename

    def rename(src, dst):
        if str(dst) == str(target) and os.path.basename(str(src)).startswith(".art."):
            raise OSError(5, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="Input/output error"):
        new.save(target)
    monkeypatch.undo()
    assert _entries(tmp_path) == ["art"]
    assert _snapshot(target) == before


def test_unserialisable_spec_writes_nothing(tmp_path):
    spec = parse_spec(MLP)
    m = Model(spec, random_params(spec, np.random.default_rng(2)))
    m.spec.name = "bad name"  # mutated after validation
    with pytest.raises(SpecError) as err:
        m.save(tmp_path / "art")
    assert str(err.value) == ("spec.name: 'bad name' is not a safe identifier (a letter, then "
                              "letters, digits or underscores, at most 63 characters)")
    assert _entries(tmp_path) == []


def test_wide_tensors_are_refused(tmp_path):
    doc = copy.deepcopy(MLP)
    doc["layers"][2]["bias"] = "fixed<70,4>"
    doc["layers"][2]["accumulator"] = "fixed<80,6>"
    spec = parse_spec(doc)
    params = random_params(spec, np.random.default_rng(2))
    params["2.bias"] = np.array([1 << 68, 0, -1], dtype=object)
    m = Model(spec, params)
    with pytest.raises(ArtifactError) as err:
        m.save(tmp_path / "art")
    assert str(err.value) == ("weights: tensor '2.bias' is wider than 64 bits; artifacts store "
                              "int64 raw values")
    assert _entries(tmp_path) == []


# -- loading broken artifacts --------------------------------------------------------------
@pytest.fixture
def artifact(tmp_path):
    spec = parse_spec(ACT)
    m = Model(spec, random_params(spec, np.random.default_rng(9)))
    target = tmp_path / "art"
    m.save(target)
    with np.load(target / "weights.npz") as z:
        weights = {k: z[k] for k in z.files}
    return target, weights


def _rewrite(target, weights):
    np.savez(target / "weights.npz", **weights)


def test_load_missing_tensor(artifact):
    target, weights = artifact
    del weights["2.bias"]
    _rewrite(target, weights)
    with pytest.raises(ArtifactError) as err:
        Model.load(target)
    assert str(err.value) == "layer 2 (dense): missing tensor '2.bias'"


def test_load_wrong_shape(artifact):
    target, weights = artifact
    weights["0.weight"] = weights["0.weight"][:, :3]
    _rewrite(target, weights)
    with pytest.raises(ArtifactError) as err:
        Model.load(target)
    assert str(err.value) == "layer 0 (dense) tensor '0.weight': expected shape (6, 4), not (6, 3)"


def test_load_out_of_range_raw(artifact):
    target, weights = artifact
    weights["4.table"] = weights["4.table"].copy()
    weights["4.table"][200] = 128
    _rewrite(target, weights)
    with pytest.raises(ArtifactError) as err:
        Model.load(target)
    assert str(err.value) == ("layer 4 (tanh) tensor '4.table': Raw value 128 at index (200,) "
                              "is outside the raw range [-128, 127] of fixed<8,1,RND,SAT>")


def test_load_unexpected_tensor(artifact):
    target, weights = artifact
    weights["7.weight"] = np.zeros(3, np.int64)
    _rewrite(target, weights)
    with pytest.raises(ArtifactError) as err:
        Model.load(target)
    assert str(err.value) == "weights: unexpected tensor '7.weight'"


def test_load_not_an_artifact(tmp_path, artifact):
    target, _ = artifact
    with pytest.raises(ArtifactError) as err:
        Model.load(tmp_path / "nothing")
    assert str(err.value) == f"{tmp_path / 'nothing'}: not an artifact (no model.yaml)"
    os.remove(target / "weights.npz")
    with pytest.raises(ArtifactError) as err:
        Model.load(target)
    assert str(err.value) == f"{target}: artifact has no weights.npz"
    with pytest.raises(ArtifactError) as err:
        load_vectors(target)
    assert str(err.value) == f"{target}: artifact has no vectors.npz"


def test_load_invalid_model_yaml(artifact):
    target, _ = artifact
    doc = yaml.safe_load((target / "model.yaml").read_text())
    doc["layers"][0]["units"] = 0
    (target / "model.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError) as err:
        Model.load(target)
    assert str(err.value) == "layer 0 (dense) field 'units': expected a positive integer, not 0"
