"""Training data: the sklearn datasets, npz and csv files, in-memory arrays; every bad file is
a one-line error naming the file and what is wrong; artifacts record the data and its sha256
and work without it."""

import hashlib
import os

import numpy as np
import pytest
import yaml

from fxp.cli import evaluate, main
from fxp.nn import (DataUnavailable, Dataset, Model, SpecError, as_dataset, load_data,
                    load_spec, parse_spec)
from fxp.nn import train as nn_train
from fxp.nn.data import rebase_section
from fxp.nn.training import spec_data

DIABETES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples",
                        "diabetes_mlp.yaml")
SHAPES = {"sklearn_digits": (1797, 64, 10), "sklearn_iris": (150, 4, 3),
          "sklearn_wine": (178, 13, 3), "sklearn_breast_cancer": (569, 30, 2),
          "sklearn_diabetes": (442, 10, None), "synthetic_waveforms": (1200, 32, 3)}


def _doc(data, n_in=4, units=3, loss=None, tail=True):
    layers = [{"type": "dense", "units": 6, "weight": "fixed<8,2,RND_CONV,SAT>",
               "bias": "fixed<10,4,RND_CONV,SAT>", "accumulator": "auto",
               "output": "fixed<10,4,RND_CONV,SAT>"},
              {"type": "relu", "output": "ufixed<8,4,RND_CONV,SAT>"},
              {"type": "dense", "units": units, "weight": "fixed<8,2,RND_CONV,SAT>",
               "bias": "fixed<10,4,RND_CONV,SAT>", "accumulator": "auto",
               "output": "fixed<12,6,RND_CONV,SAT>"}]
    if tail:
        layers.append({"type": "argmax"})
    train = {"epochs": 3, "batch": 16, "lr": 0.02, "seed": 0}
    if loss:
        train["loss"] = loss
    return {"name": "d", "data": data, "input": {"shape": [n_in], "format": "fixed<10,3>"},
            "layers": layers, "train": train}


def _blobs(n=120, seed=0):
    """Three separable clusters in 4-D: a file dataset nobody can mistake for a built-in."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 0.3, (n, 4)) + np.eye(3, 4)[y] * 2.0
    return x, y


def _write_csv(path, x, y, label="species"):
    cols = [f"f{j}" for j in range(x.shape[1])]
    lines = [",".join(cols[:2] + [label] + cols[2:])]
    for xi, yi in zip(x, y):
        vals = [repr(float(v)) for v in xi]
        lines.append(",".join(vals[:2] + [str(int(yi))] + vals[2:]))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_sklearn_datasets_have_their_sizes_classes_and_a_reproducible_split(name):
    n, features, classes = SHAPES[name]
    ds = load_data({"dataset": name, "test_fraction": 0.25, "seed": 4})
    assert ds.classes == classes
    assert len(ds.x_train) + len(ds.x_test) == n and len(ds.x_test) == round(n * 0.25)
    assert ds.x_train[0].size == features
    assert ds.y_train.dtype == (np.float64 if classes is None else np.int64)
    again = load_data({"dataset": name, "test_fraction": 0.25, "seed": 4})
    assert np.array_equal(ds.x_test, again.x_test) and np.array_equal(ds.y_test, again.y_test)
    other = load_data({"dataset": name, "test_fraction": 0.25, "seed": 5})
    assert not np.array_equal(ds.x_test, other.x_test)


def test_npz_x_y_is_split_and_four_arrays_are_used_as_given(tmp_path):
    x, y = _blobs()
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    ds = load_data({"path": "xy.npz", "test_fraction": 0.25, "seed": 2}, base_dir=tmp_path)
    assert (len(ds.x_train), len(ds.x_test), ds.classes) == (90, 30, 3)
    # every sample lands in exactly one set, with its own label
    rows = {tuple(r): int(c) for r, c in zip(x, y)}
    for xs, ys in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert all(rows[tuple(r)] == c for r, c in zip(xs, ys))
    assert len({tuple(r) for r in np.concatenate([ds.x_train, ds.x_test])}) == 120
    sha = hashlib.sha256((tmp_path / "xy.npz").read_bytes()).hexdigest()
    assert ds.section() == {"path": "xy.npz", "sha256": sha, "test_fraction": 0.25, "seed": 2}
    np.savez(tmp_path / "split.npz", x_train=x[:100], y_train=y[:100], x_test=x[100:],
             y_test=y[100:])
    ds = load_data({"path": "split.npz", "test_fraction": 0.5}, base_dir=tmp_path)
    assert np.array_equal(ds.x_test, x[100:]) and np.array_equal(ds.y_train, y[:100])
    assert "test_fraction" not in ds.section()


def test_csv_label_column_anywhere_features_in_file_order(tmp_path):
    x, y = _blobs(40)
    _write_csv(tmp_path / "b.csv", x, y)
    ds = load_data({"path": "b.csv", "label": "species", "test_fraction": 0.5},
                   base_dir=tmp_path)
    got = np.concatenate([ds.x_train, ds.x_test])
    labels = np.concatenate([ds.y_train, ds.y_test])
    order = np.lexsort(got.T[::-1])
    ref = np.lexsort(x.T[::-1])
    assert np.array_equal(got[order], x[ref]) and np.array_equal(labels[order], y[ref])
    assert ds.classes == 3 and ds.y_train.dtype == np.int64
    # several regression targets: a list of label columns
    (tmp_path / "r.csv").write_text("a,t1,b,t2\n1,0.5,2,-1\n3,1.5,4,2\n5,2,6,0.25\n7,8,9,10\n")
    ds = load_data({"path": "r.csv", "label": ["t1", "t2"], "test_fraction": 0.5},
                   base_dir=tmp_path)
    assert ds.y_train.shape == (2, 2) and ds.classes is None
    both = np.concatenate([np.hstack([ds.x_train, ds.y_train]),
                           np.hstack([ds.x_test, ds.y_test])])
    assert sorted(map(tuple, both)) == [(1, 2, 0.5, -1), (3, 4, 1.5, 2), (5, 6, 2, 0.25),
                                       (7, 9, 8, 10)]


BAD_FILES = [
    ("nan.npz", lambda p: np.savez(p, x=np.array([[1.0, np.nan]] * 4), y=np.arange(4)),
     {}, "data.path: nan.npz: the inputs holds NaN or inf (first in sample 0)"),
    ("inf.csv", lambda p: p.write_text("a,b,y\n1,2,0\n3,inf,1\n"), {"label": "y"},
     "data.path: inf.csv: the inputs holds NaN or inf (first in sample 1)"),
    ("ragged.csv", lambda p: p.write_text("a,b,y\n1,2,0\n3,1\n"), {"label": "y"},
     "data.path: ragged.csv line 3 has 2 columns, the header has 3"),
    ("word.csv", lambda p: p.write_text("a,b,y\n1,2,0\n3,x2,1\n"), {"label": "y"},
     "data.path: word.csv line 3 column 'b': 'x2' is not a number"),
    ("nolabel.csv", lambda p: p.write_text("a,b,c\n1,2,0\n"), {"label": "y"},
     "data.path: nolabel.csv has no column 'y' (data.label); its columns are a, b, c"),
    ("empty.csv", lambda p: p.write_text(""), {"label": "y"},
     "data.path: empty.csv is empty; expected a header row naming the columns"),
    ("header.csv", lambda p: p.write_text("a,y\n"), {"label": "y"},
     "data.path: header.csv has a header but no data rows"),
    ("keys.npz", lambda p: np.savez(p, a=np.zeros(3), b=np.zeros(3)), {},
     "data.path: keys.npz must hold arrays x, y or x_train, y_train, x_test, y_test; it holds "
     "a, b"),
    ("short.npz", lambda p: np.savez(p, x=np.zeros((5, 2)), y=np.zeros(4)), {},
     "data.path: short.npz: x has 5 samples but y has 4"),
    ("text.npz", lambda p: np.savez(p, x=np.array([["a", "b"]]), y=np.zeros(1)), {},
     "data.path: text.npz array 'x': expected numbers, not <U1 values"),
    ("junk.npz", lambda p: p.write_text("not a zip"), {},
     "data.path: junk.npz is not an .npz archive"),
]


@pytest.mark.parametrize("fname, make, extra, message", BAD_FILES,
                         ids=[b[0] for b in BAD_FILES])
def test_bad_data_files_are_one_line_errors_naming_the_file(tmp_path, fname, make, extra,
                                                            message):
    make(tmp_path / fname)
    with pytest.raises(SpecError) as err:
        load_data({"path": fname, **extra}, base_dir=tmp_path)
    assert str(err.value) == message


def test_a_missing_file_and_in_memory_data_are_unavailable_not_errors(tmp_path):
    with pytest.raises(DataUnavailable, match=r"^data\.path: gone\.npz: no such file$"):
        load_data({"path": "gone.npz"}, base_dir=tmp_path)
    with pytest.raises(DataUnavailable, match=r"^data\.source: this model was trained on "):
        load_data({"source": "arrays", "sha256": "0" * 64})
    os.mkdir(tmp_path / "d.npz")
    with pytest.raises(SpecError, match=r"^data\.path: d\.npz is a directory, not a data "):
        load_data({"path": "d.npz"}, base_dir=tmp_path)


def test_a_changed_file_is_refused_by_its_recorded_sha256(tmp_path):
    x, y = _blobs(20)
    np.savez(tmp_path / "a.npz", x=x, y=y)
    rec = load_data({"path": "a.npz"}, base_dir=tmp_path).section()
    assert load_data(rec, base_dir=tmp_path).section() == rec
    np.savez(tmp_path / "a.npz", x=x + 1, y=y)
    new = hashlib.sha256((tmp_path / "a.npz").read_bytes()).hexdigest()
    with pytest.raises(SpecError) as err:
        load_data(rec, base_dir=tmp_path)
    assert str(err.value) == (f"data.path: a.npz has changed since it was recorded (sha256 "
                              f"{new[:12]}..., recorded {rec['sha256'][:12]}...): restore it "
                              f"or train again")


@pytest.mark.parametrize("data, message", [
    ({"path": "a.txt"}, "data.path: expected an .npz or .csv file, not 'a.txt'"),
    ({"path": "a.csv"}, "data.label: a.csv is a CSV file: name its label column with "
                        "data.label"),
    ({"path": "a.npz", "label": "y"}, "data.label: only a CSV file (data.path: FILE.csv) has "
                                      "a label column"),
    ({"path": "a.csv", "label": []}, "data.label: expected a column name or a list of them, "
                                     "not []"),
    ({"path": "a.csv", "label": 3}, "data.label: expected str or list, not 3"),
    ({"dataset": "sklearn_iris", "path": "a.npz"},
     "data: expected exactly one of 'dataset', 'path' or 'source', not 'dataset' and 'path'"),
    ({"source": "memory", "sha256": "0" * 64},
     "data.source: expected 'arrays' (data given in memory), not 'memory'"),
    ({"source": "arrays"}, "data.source: arrays needs the arrays' 'sha256'"),
    ({"path": "a.npz", "sha256": "ABC"},
     "data.sha256: expected 64 lowercase hex digits, not 'ABC'"),
])
def test_data_section_errors(data, message):
    with pytest.raises(SpecError) as err:
        parse_spec(_doc(data))
    assert str(err.value) == message


def test_shape_labels_and_targets_must_suit_the_model(tmp_path):
    x, y = _blobs(30)
    with pytest.raises(SpecError) as err:       # 4 features, input.shape [5]
        spec_data(parse_spec(_doc({"source": "arrays", "sha256": "0" * 64}, n_in=5)), (x, y))
    assert str(err.value) == ("input.shape: [5] holds 5 values per sample, but the given "
                              "arrays has 4")
    np.savez(tmp_path / "five.npz", x=x, y=np.where(y == 2, 4, y))
    spec = load_spec_in(tmp_path, _doc({"path": "five.npz"}))
    with pytest.raises(SpecError) as err:       # labels 0..4 but 3 outputs
        spec_data(spec)
    assert str(err.value) == ("layer 2 (dense): the model ends with 3 outputs, fewer than the "
                              "5 classes of five.npz")
    np.savez(tmp_path / "frac.npz", x=x, y=y + 0.5)
    with pytest.raises(SpecError) as err:
        spec_data(load_spec_in(tmp_path, _doc({"path": "frac.npz"})))
    assert str(err.value) == ("data: frac.npz holds targets that are not class indices "
                              "0..K-1 (e.g. 0.5); a regression needs train.loss: mse")
    with pytest.raises(SpecError) as err:      # mse: one output per target
        spec_data(parse_spec(_doc({"dataset": "sklearn_diabetes"}, n_in=10, loss="mse",
                                  tail=False)))
    assert str(err.value) == ("layer 2 (dense): the model ends with 3 outputs, but "
                              "sklearn_diabetes has 1 target per sample")
    with pytest.raises(SpecError) as err:
        parse_spec(_doc({"dataset": "sklearn_iris"}, loss="mse"))
    assert str(err.value) == ("train.loss: mse trains a regression: the output vector is the "
                              "result, so the model must not end with argmax")


def load_spec_in(directory, doc):
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_spec(path)


def test_as_dataset_forms_and_their_identity():
    x, y = _blobs(50)
    ds = as_dataset((x, y), test_fraction=0.2, seed=1)
    assert (len(ds.x_test), ds.classes) == (10, 3)
    assert ds.section()["source"] == "arrays" and ds.section()["seed"] == 1
    assert as_dataset((x, y), test_fraction=0.2, seed=1).section() == ds.section()
    y2 = y.copy()
    y2[0] = (y2[0] + 1) % 3
    assert as_dataset((x, y2)).section()["sha256"] != ds.section()["sha256"]
    four = as_dataset((x[:40], y[:40], x[40:], y[40:]))
    assert np.array_equal(four.x_test, x[40:]) and "seed" not in four.section()
    assert as_dataset(four) is four and isinstance(four, Dataset)
    with pytest.raises(TypeError, match=r"^data: expected a Dataset, \(x, y\) or .* not tuple "
                                        r"of 3$"):
        as_dataset((x, y, x))
    with pytest.raises(SpecError, match=r"^data: 50 input samples but 49 targets$"):
        as_dataset((x, y[:-1]))


def test_paths_are_recorded_relative_to_the_artifact(tmp_path):
    sec = {"path": "../data/a.npz", "sha256": "0" * 64}
    out = rebase_section(sec, tmp_path / "specs", tmp_path / "build" / "m")
    assert out == {"path": "../../data/a.npz", "sha256": "0" * 64}
    assert rebase_section({"path": "/abs/a.npz"}, tmp_path, tmp_path / "x") == \
        {"path": "/abs/a.npz"}
    # sharing nothing but the root: absolute, not a climb to /
    assert rebase_section({"path": "a.npz"}, "/data", "/work/build/m") == \
        {"path": "/data/a.npz"}


def test_train_on_arrays_records_them_and_the_artifact_evaluates_without_them(tmp_path):
    x, y = _blobs(150)
    doc = _doc({"source": "arrays", "sha256": "0" * 64, "test_fraction": 0.2, "seed": 0})
    del doc["data"]
    result = nn_train(doc, data=(x, y), log=None)
    result.save(tmp_path / "art")
    model = Model.load(tmp_path / "art")
    assert model.spec.data == {"source": "arrays", "sha256": as_dataset((x, y)).section()
                               ["sha256"], "test_fraction": 0.2, "seed": 0}
    expect = float(np.mean(model.predict(result.data.x_test) == result.data.y_test))
    assert expect > 0.9
    r = evaluate(tmp_path / "art")
    assert r["data"].startswith("vectors (data.source: this model was trained on arrays")
    assert r["fixed_accuracy"] == expect and r["vectors_match"] and "float_accuracy" not in r


def test_csv_and_npz_specs_train_through_the_cli_and_eval_checks_the_file(tmp_path, capsys):
    x, y = _blobs(150, seed=3)
    (tmp_path / "data").mkdir()
    (tmp_path / "specs").mkdir()
    _write_csv(tmp_path / "data" / "b.csv", x, y)
    np.savez(tmp_path / "data" / "b.npz", x=x, y=y)
    for name, data in (("c", {"path": "../data/b.csv", "label": "species"}),
                       ("n", {"path": "../data/b.npz"})):
        spec = tmp_path / "specs" / f"{name}.yaml"
        spec.write_text(yaml.safe_dump(_doc(data), sort_keys=False))
        art = tmp_path / "build" / name
        assert main(["train", str(spec), "-o", str(art), "-q"]) == 0
        rec = yaml.safe_load((art / "model.yaml").read_text())["data"]
        fname = "b.csv" if name == "c" else "b.npz"
        assert rec["path"] == f"../../data/{fname}"
        assert rec["sha256"] == hashlib.sha256((tmp_path / "data" / fname).read_bytes()
                                               ).hexdigest()
        r = evaluate(art)
        assert r["data"] == "data" and r["fixed_accuracy"] > 0.9 and r["vectors_match"]
    capsys.readouterr()
    # the npz changes: eval says so, one line, exit 2
    np.savez(tmp_path / "data" / "b.npz", x=x[::-1], y=y[::-1])
    assert main(["eval", str(tmp_path / "build" / "n")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: data.path: b.npz has changed since it was recorded") \
        and err.count("\n") == 1
    # the csv is gone: eval works from the vectors
    acc = evaluate(tmp_path / "build" / "c")["fixed_accuracy"]
    os.remove(tmp_path / "data" / "b.csv")
    assert main(["eval", str(tmp_path / "build" / "c")]) == 0
    out = capsys.readouterr().out
    assert "test vectors from the vectors (data.path: ../../data/b.csv: no such file)" in out
    assert f"bit-exact accuracy  {acc:.4f}" in out


def test_a_bad_data_file_fails_train_before_any_output(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("a,b,c,d,y\n1,2,3,4,0\n1,2,3\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(_doc({"path": "bad.csv", "label": "y"})))
    assert main(["train", str(spec), "-o", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", "error: data.path: bad.csv line 3 has 3 columns, the header "
                              "has 5\n")
    assert not (tmp_path / "out").exists()


def test_regression_trains_with_mse_and_reports_exact_metrics(tmp_path):
    spec = load_spec(DIABETES)
    spec.train["epochs"] = 25
    result = nn_train(spec, log=None)
    m = result.metrics()
    pred = result.model.predict(result.data.x_test)          # floats: no argmax
    assert pred.shape == (len(result.data.x_test), 1)
    err = pred[:, 0] - result.data.y_test
    assert m["fixed_mse"] == pytest.approx(np.mean(err ** 2), rel=1e-12)
    assert m["fixed_mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-12)
    var = np.var(result.data.y_test)
    assert m["fixed_mse"] < 0.7 * var and m["float_mse"] < 0.7 * var   # it learned something
    assert m["loss"] == "mse" and "fixed_accuracy" not in m
    result.save(tmp_path / "art")
    r = evaluate(tmp_path / "art")
    assert r["fixed_mse"] == m["fixed_mse"] and r["float_mse"] == m["float_mse"]
