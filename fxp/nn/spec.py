"""Model specs: load, validate and dump the YAML that describes a quantized network.

A spec names the data, the input, the layers with their formats, training and hardware
settings. Any format may be ``auto`` (resolved by calibration or by
``fxp.accumulator_format``) or a mapping whose ``int_bits`` is ``auto`` or ``learn``. The
artifact's ``model.yaml`` is the same schema with every format concrete. Each layer's keys are
validated by its class in the layer registry (:mod:`fxp.nn.layers`).
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field

import yaml

from ..format import FixedFormat
from .fields import (IDENTIFIER, FormatSpec, SpecError, check_identifier, check_keys,
                     check_types, parse_format, positive_int)
from .hardware import Hardware, parse_hardware
from .layers import Layer, layer_class
from .names import check_model_names

__all__ = ["SpecError", "FormatSpec", "Spec", "load_spec", "parse_spec", "parse_format",
           "check_identifier", "IDENTIFIER"]

_TOP_KEYS = ({"name", "input", "layers"}, {"data", "train", "hardware"})
_DATA_KEYS = {"dataset": str, "path": str, "label": (str, list), "source": str,
              "sha256": str, "test_fraction": float, "seed": int}
_TRAIN_KEYS = {"epochs": int, "batch": int, "optimizer": str, "lr": float, "qat": bool,
               "seed": int, "a2q": dict, "weight_decay": float, "loss": str,
               "schedule": str}
_OPTIMIZERS = ("adam", "sgd")
_LOSSES = ("cross_entropy", "mse")
_SCHEDULES = ("constant", "cosine")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class Spec:
    """A validated model spec.

    Attributes
    ----------
    name : str
    input_shape : tuple of int
    input_format : FixedFormat
    layers : list of Layer
    data, train : dict
        The ``data:`` and ``train:`` sections as given (validated).
    hardware : Hardware
    base_dir : str or None
        The directory the spec was read from: a relative ``data.path`` is relative to it.
    """

    name: str
    input_shape: tuple
    input_format: FixedFormat
    layers: list[Layer]
    data: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    hardware: Hardware = field(default_factory=Hardware)
    base_dir: str | None = None

    @property
    def loss(self) -> str:
        """``train.loss``: ``cross_entropy`` (classes) or ``mse`` (regression)."""
        return self.train.get("loss", "cross_entropy")

    @property
    def concrete(self) -> bool:
        """Every format is resolved."""
        return all(f.concrete for layer in self.layers for f in layer.formats().values())

    @property
    def shapes(self) -> list[tuple]:
        """Each layer's input shape, then the model's output shape (``len(layers) + 1``)."""
        out = [tuple(self.input_shape)]
        for layer in self.layers:
            out.append(layer.output_shape(out[-1]))
        return out

    def dump(self) -> dict:
        """The spec as plain data (YAML-ready), with formats in canonical form."""
        out = {"name": self.name}
        if self.data:
            out["data"] = copy.deepcopy(self.data)
        out["input"] = {"shape": list(self.input_shape), "format": str(self.input_format)}
        out["layers"] = [layer.dump() for layer in self.layers]
        if self.train:
            out["train"] = copy.deepcopy(self.train)
        if self.hardware:
            out["hardware"] = self.hardware.dump()
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.dump(), sort_keys=False, default_flow_style=None, width=100)


def _section(doc, key) -> dict:
    """An optional top-level mapping (absent or null: empty), copied."""
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{key}: expected a mapping, not {value!r}")
    return dict(value)


def _parse_data(doc) -> dict:
    from .data import DATASETS
    data = _section(doc, "data")
    if doc.get("data") is None:
        return data
    kinds = [k for k in ("dataset", "path", "source") if k in data]
    if len(kinds) != 1:
        raise SpecError("data: expected exactly one of 'dataset', 'path' or 'source', not "
                        + (" and ".join(repr(k) for k in kinds) or "none"))
    check_keys(data, set(), set(_DATA_KEYS), "data")
    check_types(data, _DATA_KEYS, "data")
    if "dataset" in data and data["dataset"] not in DATASETS:
        raise SpecError(f"data.dataset: unknown dataset {data['dataset']!r}; expected one "
                        f"of {', '.join(DATASETS)}")
    if "source" in data:
        if data["source"] != "arrays":
            raise SpecError(f"data.source: expected 'arrays' (data given in memory), not "
                            f"{data['source']!r}")
        if "sha256" not in data:
            raise SpecError("data.source: arrays needs the arrays' 'sha256'")
    if "path" in data:
        ext = os.path.splitext(data["path"])[1].lower()
        if ext not in (".npz", ".csv"):
            raise SpecError(f"data.path: expected an .npz or .csv file, not {data['path']!r}")
        if ext == ".csv" and "label" not in data:
            raise SpecError(f"data.label: {data['path']} is a CSV file: name its label column "
                            f"with data.label")
    if "label" in data:
        if "path" not in data or not data["path"].lower().endswith(".csv"):
            raise SpecError("data.label: only a CSV file (data.path: FILE.csv) has a label "
                            "column")
        lab = data["label"]
        if isinstance(lab, list) and (not lab or not all(isinstance(c, str) for c in lab)):
            raise SpecError(f"data.label: expected a column name or a list of them, not "
                            f"{lab!r}")
    if "sha256" in data and not _SHA256.fullmatch(data["sha256"]):
        raise SpecError(f"data.sha256: expected 64 lowercase hex digits, not "
                        f"{data['sha256']!r}")
    tf = data.get("test_fraction", 0.2)
    if not 0 < tf < 1:
        raise SpecError(f"data.test_fraction: expected a number between 0 and 1, not "
                        f"{tf!r}")
    return data


def _parse_train(doc) -> dict:
    train = _section(doc, "train")
    check_keys(train, set(), set(_TRAIN_KEYS), "train")
    check_types(train, _TRAIN_KEYS, "train")
    if "loss" in train and train["loss"] not in _LOSSES:
        raise SpecError(f"train.loss: unknown loss {train['loss']!r}; expected one of "
                        f"{', '.join(_LOSSES)}")
    if "schedule" in train and train["schedule"] not in _SCHEDULES:
        raise SpecError(f"train.schedule: unknown schedule {train['schedule']!r}; expected "
                        f"one of {', '.join(_SCHEDULES)}")
    if "optimizer" in train and train["optimizer"] not in _OPTIMIZERS:
        raise SpecError(f"train.optimizer: unknown optimizer {train['optimizer']!r}; expected "
                        f"one of {', '.join(_OPTIMIZERS)}")
    for k in ("epochs", "batch"):
        if k in train:
            positive_int(train[k], f"train.{k}")
    if "lr" in train and not train["lr"] > 0:
        raise SpecError(f"train.lr: expected a positive number, not {train['lr']!r}")
    if "a2q" in train:
        check_keys(train["a2q"], {"accumulator_bits"}, set(), "train.a2q")
        p = train["a2q"]["accumulator_bits"]
        if isinstance(p, bool) or not isinstance(p, int) or p < 2:
            raise SpecError(f"train.a2q.accumulator_bits: expected an integer >= 2, not {p!r}")
    return train


def parse_layers(layers_doc) -> list[Layer]:
    """Validate the ``layers:`` list: each entry by its registered class, then the rules
    between layers (position, unique names)."""
    if not isinstance(layers_doc, list) or not layers_doc:
        raise SpecError("layers: expected a non-empty list of layers")
    layers = []
    for i, ld in enumerate(layers_doc):
        where = f"layer {i}"
        if not isinstance(ld, dict) or "type" not in ld:
            raise SpecError(f"{where}: expected a mapping with a 'type', not {ld!r}")
        cls = layer_class(ld["type"], where)
        layers.append(cls.parse({k: v for k, v in ld.items() if k != "type"}, i))
    for layer in layers:
        layer.check_position(layers)
    names = [layer.name for layer in layers if layer.name]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"layers: duplicate layer name {dup[0]!r}")
    return layers


def parse_spec(doc, base_dir=None) -> Spec:
    """Validate a spec given as plain data (from YAML).

    Parameters
    ----------
    doc : dict
    base_dir : path, optional
        What a relative ``data.path`` is relative to (:func:`load_spec`: the file's directory).
    """
    check_keys(doc, *_TOP_KEYS, "spec")
    name = check_identifier(doc["name"], "spec.name")
    data = _parse_data(doc)
    inp = doc["input"]
    check_keys(inp, {"shape", "format"}, set(), "input")
    shape = inp["shape"]
    if not isinstance(shape, list) or not 1 <= len(shape) <= 3:
        raise SpecError(f"input.shape: expected [N], [L, C] or [H, W, C] (one to three "
                        f"positive integers), not {shape!r}")
    for k, n in enumerate(shape):
        positive_int(n, f"input.shape[{k}]")
    in_fmt = parse_format(inp["format"], "input.format", allow_auto=False).fmt
    layers = parse_layers(doc["layers"])
    train = _parse_train(doc)
    spec = Spec(name=name, input_shape=tuple(shape), input_format=in_fmt, layers=layers,
                data=dict(data), train=train,
                base_dir=None if base_dir is None else os.path.abspath(base_dir))
    if spec.loss == "mse" and layers[-1].returns_index:
        raise SpecError(f"train.loss: mse trains a regression: the output vector is the "
                        f"result, so the model must not end with {layers[-1].type}")
    try:
        check_model_names(name, [(f"{layer.label} field 'name'", layer.name) for layer in layers])
    except ValueError as e:
        raise SpecError(str(e)) from None
    spec.hardware = parse_hardware(doc.get("hardware"), layers, spec.shapes)
    return spec


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that rejects duplicate keys (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                dup = key in seen
            except TypeError:
                continue
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_spec(path) -> Spec:
    """Load and validate a spec (or an artifact's ``model.yaml``) from a YAML file."""
    try:
        with open(path, "rb") as f:
            doc = yaml.load(f, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
    except OSError as e:
        raise SpecError(f"{path}: cannot read spec: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
        if mark is not None and problem:
            raise SpecError(f"{path}: invalid YAML at line {mark.line + 1}, column "
                            f"{mark.column + 1}: {problem}") from None
        first = str(e).splitlines()[0] if str(e) else "invalid YAML"
        raise SpecError(f"{path}: invalid YAML: {first}") from None
    return parse_spec(doc, base_dir=os.path.dirname(os.path.abspath(path)))
