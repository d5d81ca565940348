"""The ``hardware:`` section: strategy, reuse and pipeline per model and per layer.

Validated once when the spec loads, and command-line overrides again with the same errors.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .fields import SpecError, check_keys, nonnegative_int, positive_int

__all__ = ["Hardware", "LayerHardware", "parse_hardware", "STRATEGIES", "DEFAULT_PIPELINE"]

STRATEGIES = ("parallel", "folded")
DEFAULT_PIPELINE = 2     # adder-tree (and comparator-tree) levels between registers
_KEYS = ("strategy", "reuse", "pipeline")


@dataclass(frozen=True)
class LayerHardware:
    """One layer's resolved settings.

    Attributes
    ----------
    strategy : str
        ``parallel`` (every product at once, II 1) or ``folded`` (``reuse`` cycles per vector).
    reuse : int
        Cycles per vector of a folded layer, at most its inputs (1 when parallel).
    pipeline : int
        Adder-tree levels between registers (0: none).
    """

    strategy: str
    reuse: int
    pipeline: int


def _check_value(key, value, where):
    if key == "strategy":
        if value not in STRATEGIES:
            raise SpecError(f"{where}: unknown strategy {value!r}; expected one of "
                            f"{', '.join(STRATEGIES)}")
    elif key == "reuse":
        positive_int(value, where)
    else:
        nonnegative_int(value, where)
    return value


@dataclass(frozen=True)
class Hardware:
    """A spec's ``hardware:`` section (see :func:`parse_hardware`).

    Attributes
    ----------
    settings : dict
        The model-wide keys as given (strategy, reuse, pipeline).
    layers : dict of int to dict
        Per-layer overrides as given (``hardware.layers.<index>``).
    inputs : dict of int to (str, int)
        Per configurable layer: its label and number of inputs (the bound on reuse).
    """

    settings: dict = field(default_factory=dict)
    layers: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)

    def dump(self) -> dict:
        """The section as the spec wrote it (empty when absent)."""
        out = copy.deepcopy(self.settings)
        if self.layers:
            out["layers"] = copy.deepcopy(self.layers)
        return out

    def __bool__(self) -> bool:
        return bool(self.settings or self.layers)

    def pipeline(self, override: int | None = None) -> int:
        """The model's pipeline setting (argmax comparators, ReLU output registers)."""
        if override is not None:
            return _check_value("pipeline", override, "pipeline")
        return self.settings.get("pipeline", DEFAULT_PIPELINE)

    def layer(self, index: int, *, strategy=None, reuse=None, pipeline=None) -> LayerHardware:
        """Layer ``index``'s settings: the model's, its overrides, then these arguments.

        Raises
        ------
        SpecError
            A bad argument, or a folded layer whose reuse exceeds its inputs, naming the layer.
        """
        if index not in self.inputs:
            raise SpecError(f"layer {index}: has no hardware settings")
        label, n_in = self.inputs[index]
        cfg = {"strategy": "parallel", "reuse": 1, "pipeline": DEFAULT_PIPELINE}
        cfg.update(self.settings)
        cfg.update(self.layers.get(index, {}))
        for key, value in (("strategy", strategy), ("reuse", reuse), ("pipeline", pipeline)):
            if value is not None:
                cfg[key] = _check_value(key, value, f"{label} {key}")
        if cfg["strategy"] == "parallel":
            return LayerHardware("parallel", 1, cfg["pipeline"])
        if cfg["reuse"] > n_in:
            raise SpecError(f"{label}: reuse {cfg['reuse']} exceeds the layer's {n_in} inputs "
                            f"(a folded layer takes at most one input per cycle); set "
                            f"hardware.layers.{index}.reuse")
        return LayerHardware("folded", cfg["reuse"], cfg["pipeline"])


def parse_hardware(doc, layers: list, shapes: list) -> Hardware:
    """Validate a spec's ``hardware:`` mapping.

    Parameters
    ----------
    doc : dict or None
        The section.
    layers : list of Layer
        The spec's layers; ``hardware.layers`` may only name configurable ones.
    shapes : list of tuple
        Each layer's input shape.
    """
    hw = {} if doc is None else doc
    if not isinstance(hw, dict):
        raise SpecError(f"hardware: expected a mapping, not {hw!r}")
    check_keys(hw, set(), set(_KEYS) | {"layers"}, "hardware")
    settings = {k: _check_value(k, v, f"hardware.{k}") for k, v in hw.items() if k != "layers"}
    kinds = " or ".join(sorted({cls.type for cls in map(type, layers) if cls.configurable})
                        or ["dense"])
    per = {}
    if "layers" in hw:
        if not isinstance(hw["layers"], dict):
            raise SpecError(f"hardware.layers: expected a mapping of {kinds} layer index to "
                            f"settings, not {hw['layers']!r}")
        for idx, cfg in hw["layers"].items():
            where = f"hardware.layers.{idx}"
            if isinstance(idx, bool) or not isinstance(idx, int) or not \
                    0 <= idx < len(layers) or not layers[idx].configurable:
                raise SpecError(f"{where}: {idx!r} is not the index of a {kinds} layer")
            check_keys(cfg, set(), set(_KEYS), where)
            per[idx] = {k: _check_value(k, v, f"{where}.{k}") for k, v in cfg.items()}
    inputs = {layer.index: (layer.label, layer.fold_inputs(shapes[layer.index]))
              for layer in layers if layer.configurable}
    out = Hardware(settings, per, inputs)
    for index in inputs:
        out.layer(index)        # a folded layer's reuse fits its inputs
    return out
