"""Model specs: load, validate and dump the YAML that describes a quantized network.

A spec names the data, the input, the layers with their formats, training and hardware
settings. Any format may be ``auto`` (resolved by calibration or by
``fxp.accumulator_format``) or a mapping whose ``int_bits`` is ``auto`` or ``learn``. The
artifact's ``model.yaml`` is the same schema with every format concrete.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import yaml

from ..format import FixedFormat

__all__ = ["SpecError", "FormatSpec", "LayerSpec", "Spec", "load_spec", "parse_spec",
           "LAYER_TYPES", "IDENTIFIER"]

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}\Z")


class SpecError(ValueError):
    """A spec is invalid; the message names the layer index and field."""


@dataclass(frozen=True)
class FormatSpec:
    """A format in a spec: concrete, fully ``auto``, or with ``int_bits`` auto/learn.

    Attributes
    ----------
    fmt : FixedFormat or None
        The concrete format when nothing is left to resolve.
    auto : bool
        The whole format is ``auto``.
    bits, signed, quantization, overflow :
        For a partial format (``int_bits`` is ``"auto"`` or ``"learn"``).
    int_bits : int or str or None
    """

    fmt: FixedFormat | None = None
    auto: bool = False
    bits: int | None = None
    int_bits: int | str | None = None
    signed: bool = True
    quantization: str = "TRN"
    overflow: str = "WRAP"

    @property
    def concrete(self) -> bool:
        return self.fmt is not None

    @property
    def learn(self) -> bool:
        return self.int_bits == "learn"

    def with_int_bits(self, int_bits: int) -> FixedFormat:
        """The concrete format once ``int_bits`` is chosen."""
        return FixedFormat(self.bits, int_bits, self.signed, self.quantization, self.overflow)

    def dump(self):
        if self.fmt is not None:
            return str(self.fmt)
        if self.auto:
            return "auto"
        return {"bits": self.bits, "int_bits": self.int_bits, "signed": self.signed,
                "quantization": self.quantization, "overflow": self.overflow}


_FORMAT_KEYS = {"bits", "int_bits", "signed", "quantization", "overflow"}


def parse_format(value, where: str, allow_auto: bool = True) -> FormatSpec:
    """Parse a format field: a string, ``auto``, or a mapping with auto/learn int_bits."""
    if isinstance(value, str) and value.strip() == "auto":
        if not allow_auto:
            raise SpecError(f"{where}: must be a concrete format, not 'auto'")
        return FormatSpec(auto=True)
    if isinstance(value, str):
        try:
            return FormatSpec(fmt=FixedFormat.parse(value))
        except (TypeError, ValueError) as e:
            raise SpecError(f"{where}: {e}") from None
    if isinstance(value, dict):
        unknown = sorted(set(value) - _FORMAT_KEYS)
        if unknown:
            raise SpecError(f"{where}: unknown key {unknown[0]!r}; expected "
                            f"{', '.join(sorted(_FORMAT_KEYS))}")
        if "bits" not in value or "int_bits" not in value:
            raise SpecError(f"{where}: a format mapping needs 'bits' and 'int_bits'")
        ib = value["int_bits"]
        if ib in ("auto", "learn") and not allow_auto:
            raise SpecError(f"{where}: must be a concrete format, not int_bits {ib!r}")
        try:
            probe = FixedFormat(value["bits"], 0 if ib in ("auto", "learn") else ib,
                                value.get("signed", True), value.get("quantization", "TRN"),
                                value.get("overflow", "WRAP"))
        except (TypeError, ValueError) as e:
            msg = str(e)
            if ib in ("auto", "learn"):  # the probe's int_bits 0 stands for auto/learn
                msg = msg.replace(f"<{value['bits']},0>", f"<{value['bits']},{ib}>")
            raise SpecError(f"{where}: {msg}") from None
        if ib not in ("auto", "learn"):
            return FormatSpec(fmt=probe)
        return FormatSpec(bits=probe.bits, int_bits=ib, signed=probe.signed,
                          quantization=probe.quantization.value,
                          overflow=probe.overflow.value)
    raise SpecError(f"{where}: expected a format string such as 'fixed<8,3,RND_CONV,SAT>', "
                    f"'auto' or a mapping, not {value!r}")


@dataclass
class LayerSpec:
    """One layer of a spec (``type`` plus its fields, validated)."""

    index: int
    type: str
    units: int | None = None
    weight: FormatSpec | None = None
    bias: FormatSpec | None = None
    accumulator: FormatSpec | None = None
    output: FormatSpec | None = None
    eps: float = 1e-3
    table_bits: int | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return f"layer {self.index} ({self.type})"

    def formats(self) -> dict[str, FormatSpec]:
        """The format fields this layer has."""
        return {k: getattr(self, k) for k in ("weight", "bias", "accumulator", "output")
                if getattr(self, k) is not None}

    def dump(self) -> dict:
        out = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        if self.units is not None:
            out["units"] = self.units
        for k, v in self.formats().items():
            out[k] = v.dump()
        if self.type == "batchnorm":
            out["eps"] = self.eps
        if self.table_bits is not None:
            out["table_bits"] = self.table_bits
        return out


# type -> (required keys, optional keys)
LAYER_TYPES = {
    "dense": ({"units", "weight", "bias", "accumulator", "output"}, {"name"}),
    "relu": ({"output"}, {"name"}),
    "batchnorm": (set(), {"eps", "name"}),
    "sigmoid": ({"output"}, {"table_bits", "name"}),
    "tanh": ({"output"}, {"table_bits", "name"}),
    "argmax": (set(), {"name"}),
}

_TOP_KEYS = ({"name", "input", "layers"}, {"data", "train", "hardware"})
_DATA_KEYS = {"dataset": str, "test_fraction": float, "seed": int}
_TRAIN_KEYS = {"epochs": int, "batch": int, "optimizer": str, "lr": float, "qat": bool,
               "seed": int, "a2q": dict, "weight_decay": float}
_DATASETS = ("sklearn_digits",)
_OPTIMIZERS = ("adam", "sgd")
_STRATEGIES = ("parallel", "folded")


@dataclass
class Spec:
    """A validated model spec."""

    name: str
    input_shape: tuple
    input_format: FixedFormat
    layers: list[LayerSpec]
    data: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    hardware: dict = field(default_factory=dict)

    @property
    def concrete(self) -> bool:
        """Every format is resolved."""
        return all(f.concrete for layer in self.layers for f in layer.formats().values())

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
            out["hardware"] = copy.deepcopy(self.hardware)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.dump(), sort_keys=False, default_flow_style=None, width=100)


def _check_keys(obj, required, optional, where):
    if not isinstance(obj, dict):
        raise SpecError(f"{where}: expected a mapping, not {obj!r}")
    allowed = required | optional
    unknown = sorted(set(obj) - allowed, key=str)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}; expected one of "
                        f"{', '.join(sorted(allowed))}")
    missing = sorted(required - set(obj))
    if missing:
        raise SpecError(f"{where}: missing key {missing[0]!r}")


def _typed(obj, types, where):
    for k, v in obj.items():
        t = types[k]
        ok = isinstance(v, t) and not (t is int and isinstance(v, bool))
        if t is float and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if not ok:
            raise SpecError(f"{where}.{k}: expected {t.__name__}, not {v!r}")


def _positive_int(v, where):
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise SpecError(f"{where}: expected a positive integer, not {v!r}")
    return v


def _nonneg_int(v, where):
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise SpecError(f"{where}: expected a non-negative integer, not {v!r}")
    return v


def check_identifier(name, where) -> str:
    """Names reach C++ and Verilog: letters, digits and underscores, starting with a letter."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise SpecError(f"{where}: {name!r} is not a safe identifier (a letter, then letters, "
                        f"digits or underscores, at most 63 characters)")
    return name


def _section(doc, key) -> dict:
    """An optional top-level mapping (absent or null: empty), copied."""
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{key}: expected a mapping, not {value!r}")
    return dict(value)


def parse_spec(doc) -> Spec:
    """Validate a spec given as plain data (from YAML)."""
    _check_keys(doc, *_TOP_KEYS, "spec")
    name = check_identifier(doc["name"], "spec.name")

    data = _section(doc, "data")
    if doc.get("data") is not None:
        _check_keys(data, {"dataset"}, set(_DATA_KEYS) - {"dataset"}, "data")
        _typed(data, _DATA_KEYS, "data")
        if data["dataset"] not in _DATASETS:
            raise SpecError(f"data.dataset: unknown dataset {data['dataset']!r}; expected one "
                            f"of {', '.join(_DATASETS)}")
        tf = data.get("test_fraction", 0.2)
        if not 0 < tf < 1:
            raise SpecError(f"data.test_fraction: expected a number between 0 and 1, not "
                            f"{tf!r}")

    inp = doc["input"]
    _check_keys(inp, {"shape", "format"}, set(), "input")
    shape = inp["shape"]
    if not isinstance(shape, list) or len(shape) != 1:
        raise SpecError(f"input.shape: expected a list of one positive integer, not {shape!r}")
    _positive_int(shape[0], "input.shape[0]")
    in_fmt = parse_format(inp["format"], "input.format", allow_auto=False).fmt

    layers_doc = doc["layers"]
    if not isinstance(layers_doc, list) or not layers_doc:
        raise SpecError("layers: expected a non-empty list of layers")
    layers = []
    for i, ld in enumerate(layers_doc):
        where = f"layer {i}"
        if not isinstance(ld, dict) or "type" not in ld:
            raise SpecError(f"{where}: expected a mapping with a 'type', not {ld!r}")
        t = ld["type"]
        if not isinstance(t, str) or t not in LAYER_TYPES:
            raise SpecError(f"{where}: unknown type {t!r}; expected one of "
                            f"{', '.join(LAYER_TYPES)}")
        where = f"layer {i} ({t})"
        req, opt = LAYER_TYPES[t]
        body = {k: v for k, v in ld.items() if k != "type"}
        _check_keys(body, req, opt, where)
        layer = LayerSpec(index=i, type=t)
        if "name" in body:
            layer.name = check_identifier(body["name"], f"{where} field 'name'")
        if "units" in body:
            layer.units = _positive_int(body["units"], f"{where} field 'units'")
        for k in ("weight", "bias", "accumulator", "output"):
            if k in body:
                setattr(layer, k, parse_format(body[k], f"{where} field {k!r}"))
        acc = layer.accumulator
        ovf = None if acc is None or acc.auto else \
            acc.fmt.overflow.value if acc.concrete else acc.overflow
        if ovf not in (None, "WRAP"):
            raise SpecError(f"{where} field 'accumulator': an accumulator must use WRAP "
                            f"overflow, not {ovf} (saturate in the output format instead)")
        if layer.accumulator is not None and layer.accumulator.learn:
            raise SpecError(f"{where} field 'accumulator': int_bits 'learn' is not supported; "
                            f"use 'auto'")
        if "eps" in body:
            eps = body["eps"]
            if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
                raise SpecError(f"{where} field 'eps': expected a positive number, not {eps!r}")
            layer.eps = float(eps)
        if "table_bits" in body:
            tb = body["table_bits"]
            if isinstance(tb, bool) or not isinstance(tb, int) or not 1 <= tb <= 16:
                raise SpecError(f"{where} field 'table_bits': expected an integer from 1 to 16, "
                                f"not {tb!r}")
            layer.table_bits = tb
        layers.append(layer)
    _check_structure(layers)

    train = _section(doc, "train")
    _check_keys(train, set(), set(_TRAIN_KEYS), "train")
    _typed(train, _TRAIN_KEYS, "train")
    if "optimizer" in train and train["optimizer"] not in _OPTIMIZERS:
        raise SpecError(f"train.optimizer: unknown optimizer {train['optimizer']!r}; expected "
                        f"one of {', '.join(_OPTIMIZERS)}")
    for k in ("epochs", "batch"):
        if k in train:
            _positive_int(train[k], f"train.{k}")
    if "lr" in train and not train["lr"] > 0:
        raise SpecError(f"train.lr: expected a positive number, not {train['lr']!r}")
    if "a2q" in train:
        _check_keys(train["a2q"], {"accumulator_bits"}, set(), "train.a2q")
        p = train["a2q"]["accumulator_bits"]
        if isinstance(p, bool) or not isinstance(p, int) or p < 2:
            raise SpecError(f"train.a2q.accumulator_bits: expected an integer >= 2, not {p!r}")

    hw = _section(doc, "hardware")
    _check_keys(hw, set(), {"strategy", "reuse", "pipeline", "layers"}, "hardware")
    if "strategy" in hw and hw["strategy"] not in _STRATEGIES:
        raise SpecError(f"hardware.strategy: unknown strategy {hw['strategy']!r}; expected one "
                        f"of {', '.join(_STRATEGIES)}")
    if "reuse" in hw:
        _positive_int(hw["reuse"], "hardware.reuse")
    if "pipeline" in hw:
        _nonneg_int(hw["pipeline"], "hardware.pipeline")
    if "layers" in hw:
        per = hw["layers"]
        if not isinstance(per, dict):
            raise SpecError(f"hardware.layers: expected a mapping of dense layer index to "
                            f"settings, not {per!r}")
        for idx, cfg in per.items():
            where = f"hardware.layers.{idx}"
            if isinstance(idx, bool) or not isinstance(idx, int) or not \
                    0 <= idx < len(layers) or layers[idx].type != "dense":
                raise SpecError(f"{where}: {idx!r} is not the index of a dense layer")
            _check_keys(cfg, set(), {"strategy", "reuse", "pipeline"}, where)
            if "strategy" in cfg and cfg["strategy"] not in _STRATEGIES:
                raise SpecError(f"{where}.strategy: unknown strategy {cfg['strategy']!r}; "
                                f"expected one of {', '.join(_STRATEGIES)}")
            if "reuse" in cfg:
                _positive_int(cfg["reuse"], f"{where}.reuse")
            if "pipeline" in cfg:
                _nonneg_int(cfg["pipeline"], f"{where}.pipeline")
    return Spec(name=name, input_shape=(shape[0],), input_format=in_fmt, layers=layers,
                data=dict(data), train=train, hardware=hw)


def _check_structure(layers: list[LayerSpec]):
    for layer in layers:
        if layer.type == "batchnorm":
            prev = layers[layer.index - 1] if layer.index else None
            if prev is None or prev.type != "dense":
                raise SpecError(f"{layer.label}: batchnorm must follow a dense layer (it is "
                                f"folded into it)")
        if layer.type == "argmax" and layer.index != len(layers) - 1:
            raise SpecError(f"{layer.label}: argmax must be the last layer")
    names = [layer.name for layer in layers if layer.name]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"layers: duplicate layer name {dup[0]!r}")


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
    return parse_spec(doc)
