# amaranth: UnusedElaboratable=no
"""hdl.rtl.manifest: the typed manifest round-trips through JSON, and a wrong schema, a missing
field or a missing file is a one-line error naming the file and the field."""

import copy
import json

import numpy as np
import pytest
from amaranth.hdl import Fragment

from fxp.nn import Model, parse_spec
from hdl.rtl.emit import build_manifest, build_top, generate_rtl
from hdl.rtl.manifest import SCHEMA, Manifest, ManifestError, submodule_name

DOC = {"name": "net", "input": {"shape": [3], "format": "fixed<6,2>"},
       "layers": [{"type": "dense", "units": 2, "weight": "fixed<4,1>", "bias": "fixed<4,1>",
                   "accumulator": "fixed<14,6>", "output": "fixed<6,3>"},
                  {"type": "relu", "output": "ufixed<4,2>"},
                  {"type": "sigmoid", "output": "ufixed<6,0>", "table_bits": 4},
                  {"type": "argmax"}]}




def small_model():
    """The model of DOC with made-up integer parameters (no training)."""
    return Model(parse_spec(copy.deepcopy(DOC)), {
        "0.weight": np.array([[1, -2, 0], [3, 0, 4]], np.int64),
        "0.bias": np.zeros(2, np.int64), "2.table": np.arange(16, dtype=np.int64) * 4})


@pytest.fixture
def model():
    return small_model()


def elaborated(top):
    """``top`` after elaboration (its blocks count as used)."""
    Fragment.get(top, None)
    return top


@pytest.fixture
def manifest(model):
    return build_manifest(elaborated(build_top(model)))


def test_fields_of_a_generated_top(manifest):
    assert manifest.schema == SCHEMA == 1
    assert (manifest.name, manifest.top, manifest.verilog) == ("net", "net", "net.v")
    assert manifest.input.payload == "i__payload" and manifest.input.port.elements == 3
    assert manifest.output.valid == "o__valid" and manifest.output.port.elements == 1
    dense, relu, sig, argmax = manifest.layers
    assert dict(dense.params) == {"units": 2, "inputs": 3, "weight": "fixed<4,1>",
                                  "bias": "fixed<4,1>", "accumulator": "fixed<14,6>",
                                  "nonzero_weights": 4, "strategy": "parallel", "reuse": 1,
                                  "pipeline": 2}
    assert dict(relu.params) == {} and dict(argmax.params) == {}
    assert dict(sig.params) == {"table_bits": 4} and sig.output == "ufixed<6,0>"
    assert dense.module == "layer0_denseparallel" == submodule_name(0, "DenseParallel")


def test_round_trip(manifest, tmp_path):
    data = json.loads(manifest.to_json())
    assert data["schema"] == 1 and "params" not in data["layers"][0]
    assert data["layers"][0]["units"] == 2
    assert Manifest.from_dict(data) == manifest
    manifest.write(tmp_path / "manifest.json")
    assert Manifest.load(tmp_path / "manifest.json") == manifest
    assert Manifest.load(tmp_path) == manifest            # the folder holding it
    assert Manifest.load(tmp_path).to_json() == manifest.to_json()


def test_generate_rtl_writes_the_manifest(model, tmp_path):
    model_dir = tmp_path / "art"
    model_dir.mkdir()
    man = generate_rtl(model_dir, model=model)
    assert Manifest.load(model_dir / "rtl" / "manifest.json") == man


def _data(manifest):
    return json.loads(manifest.to_json())


def test_wrong_schema(manifest, tmp_path):
    data = _data(manifest)
    data["schema"] = 2
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=rf"^{path}: schema 2 is not 1; run python -m hdl "
                                            rf"rtl again$"):
        Manifest.load(path)


@pytest.mark.parametrize("drop, field", [
    (lambda d: d.pop("schema"), "schema"),
    (lambda d: d.pop("latency"), "latency"),
    (lambda d: d["ports"]["i__payload"].pop("width"), "ports.i__payload.width"),
    (lambda d: d["ports"]["o__payload"].pop("element_width"), "ports.o__payload.element_width"),
    (lambda d: d["layers"][1].pop("block"), "layers.1.block"),
    (lambda d: d["output_fifo"].pop("depth"), "output_fifo.depth"),
])
def test_missing_field_is_one_line_naming_file_and_field(manifest, tmp_path, drop, field):
    data = _data(manifest)
    drop(data)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError) as info:
        Manifest.load(path)
    assert str(info.value) == f"{path}: missing field {field!r}"


def test_wrong_type_and_bad_streams(manifest):
    data = _data(manifest)
    data["ii"] = "1"
    with pytest.raises(ManifestError, match=r"^m: field 'ii' must be int, not '1'$"):
        Manifest.from_dict(data, "m")
    data = _data(manifest)
    data["ports"]["i__payload"]["width"] = 17
    with pytest.raises(ManifestError, match=r"^m: i__payload is 17 bits, not 3 x 6$"):
        Manifest.from_dict(data, "m")
    data = _data(manifest)
    del data["ports"]["o__ready"]
    with pytest.raises(ManifestError, match=r"^m: stream 'o' has no o__ready port$"):
        Manifest.from_dict(data, "m")
    data = _data(manifest)
    del data["ports"]["i__payload"]
    with pytest.raises(ManifestError, match=r"^m: expected one input stream payload port, "
                                            r"found 0$"):
        Manifest.from_dict(data, "m")


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ManifestError, match=rf"^{tmp_path}/manifest.json: no such file$"):
        Manifest.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ManifestError, match=rf"^{tmp_path}/manifest.json: not JSON "):
        Manifest.load(tmp_path)
