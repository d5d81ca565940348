"""The layer interface: what every layer type of the registry defines, at every stage."""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np

from ...array import FixedArray
from ...format import FixedFormat
from ..fields import FormatSpec, SpecError, check_identifier, check_keys, parse_format

__all__ = ["Layer", "Trainer", "Shape", "float_param"]

Shape = tuple  # a tensor's shape without the batch axis: (features,) for a vector


class Layer:
    """One layer of a spec, of one registered type.

    A subclass is a layer type: it owns its spec keys and their validation, shape
    inference, its resolved formats, the bit-exact forward on raw integers (the definition the
    RTL and HLS implement) and its training state (:class:`Trainer`).

    Class attributes
    ----------------
    type : str
        The spec's ``type``.
    REQUIRED, OPTIONAL : frozenset of str
        Spec keys besides ``type`` (``name`` is always optional).
    FORMATS : tuple of str
        The format fields, in spec order; absent ones read as None.
    folded : bool
        The layer is folded into the one before it when quantized (batchnorm): in a resolved
        model it is the identity and has no hardware.
    configurable : bool
        ``hardware.layers.<index>`` may set its strategy, reuse and pipeline (dense, and the
        convolutions: a dense over each window).
    returns_index : bool
        Its output is a class index, not a value (argmax).
    folds_batchnorm : bool
        A batchnorm may follow it (its trainer implements :meth:`Trainer.fold`).
    """

    type: ClassVar[str] = ""
    REQUIRED: ClassVar[frozenset] = frozenset()
    OPTIONAL: ClassVar[frozenset] = frozenset()
    FORMATS: ClassVar[tuple] = ()
    folded: ClassVar[bool] = False
    configurable: ClassVar[bool] = False
    returns_index: ClassVar[bool] = False
    folds_batchnorm: ClassVar[bool] = False

    # Format fields a layer type does not have read as None.
    units = weight = bias = accumulator = output = None

    def __init__(self, index: int, name: str | None = None):
        self.index = index
        self.name = name

    # -- spec -----------------------------------------------------------------------------
    @classmethod
    def parse(cls, body: dict, index: int) -> Layer:
        """Validate a layer's spec mapping (without ``type``) into a layer.

        Raises
        ------
        SpecError
            One line naming the layer index and the field.
        """
        layer = cls(index)
        where = layer.label
        check_keys(body, set(cls.REQUIRED), set(cls.OPTIONAL) | {"name"}, where)
        if "name" in body:
            layer.name = check_identifier(body["name"], f"{where} field 'name'")
        for k in cls.FORMATS:
            if k in body:
                setattr(layer, k, parse_format(body[k], f"{where} field {k!r}"))
        layer.parse_fields(body)
        return layer

    def parse_fields(self, body: dict) -> None:
        """Validate and set the type's own fields (not name or formats)."""

    def check_position(self, layers: list[Layer]) -> None:
        """Structural rules against the other layers (e.g. argmax comes last)."""

    @property
    def label(self) -> str:
        return f"layer {self.index} ({self.type})"

    def formats(self) -> dict[str, FormatSpec]:
        """The format fields this layer has."""
        return {k: getattr(self, k) for k in self.FORMATS if getattr(self, k) is not None}

    def dump_fields(self) -> dict:
        """The type's own fields as plain data (type, name, units and formats are dumped by
        :meth:`dump`)."""
        return {}

    def dump(self) -> dict:
        """The layer as plain data (YAML-ready), formats in canonical form."""
        out = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        if self.units is not None:
            out["units"] = self.units
        for k, v in self.formats().items():
            out[k] = v.dump()
        out.update(self.dump_fields())
        return out

    def replace(self, **fields) -> Layer:
        """A copy with some fields replaced."""
        new = copy.copy(self)
        for k, v in fields.items():
            setattr(new, k, v)
        return new

    def output_shape(self, shape: Shape) -> Shape:
        """The output's shape for an input of ``shape`` (default: unchanged)."""
        return shape

    def check_vector_input(self, shape: Shape) -> None:
        """For layers taking vectors only: another input shape is a SpecError naming the
        layer."""
        if len(shape) != 1:
            raise SpecError(f"{self.label}: expects a vector input, not shape {list(shape)} "
                            f"(add a flatten layer before it)")

    def fold_inputs(self, shape: Shape) -> int:
        """The inputs of each of a configurable layer's sums (the bound on its reuse: a
        folded layer takes at most one input per cycle); default: the features ``shape[-1]``."""
        return shape[-1]

    # -- resolved model -------------------------------------------------------------------
    def output_format(self, shape: Shape, in_fmt: FixedFormat, tensors: dict) -> FixedFormat:
        """The output's format in a resolved model (default: the ``output`` field)."""
        return self.output.fmt

    def tensors(self, shape: Shape, in_fmt: FixedFormat) -> dict[str, tuple]:
        """The artifact tensors this layer needs: ``{key: (shape, format)}``, keys without the
        ``"<index>."`` prefix (default: none)."""
        return {}

    def check_resolved(self, shape: Shape, in_fmt: FixedFormat, tensors: dict) -> None:
        """Checks that need the input format and the tensors (e.g. accumulator width)."""

    def forward(self, x: FixedArray, tensors: dict, label: str) -> FixedArray:
        """The bit-exact output for ``x`` (``(batch, *shape)``); ``label`` prefixes overflow
        records (``"<label> accumulator"``, ``"<label> output"``)."""
        raise NotImplementedError

    # -- training -------------------------------------------------------------------------
    def trainer(self, shape: Shape, rng: np.random.Generator, input_scale: float,
                previous: Trainer | None) -> Trainer:
        """The layer's training state for an input of ``shape``."""
        raise NotImplementedError


class Trainer:
    """A layer's state while training: float parameters, formats being trained, forward and
    backward (straight-through estimators) and resolution into the concrete layer.

    Parameters
    ----------
    layer : Layer
    shape : tuple
        The input's shape.
    """

    def __init__(self, layer: Layer, shape: Shape):
        self.layer = layer
        self.shape = shape
        self.out_shape = layer.output_shape(shape)
        # typical magnitude of the output (None: the input's), to initialise the next weights
        self.output_scale = None

    @property
    def index(self) -> int:
        return self.layer.index

    def parameters(self) -> list[tuple[str, np.ndarray]]:
        """Trainable arrays (updated in place by the optimizer), named ``"<index>.<key>"``."""
        return []

    def trained_formats(self) -> list:
        """The layer's :class:`~fxp.nn.trainformat.TrainedFormat` fields."""
        return []

    def float_weights(self) -> dict[str, np.ndarray]:
        """Float parameters keyed as :meth:`load_float` reads them."""
        return {}

    def load_float(self, weights: dict) -> set:
        """Set the float parameters from ``weights``; returns the keys used."""
        return set()

    def forward(self, fx: FixedArray | None, val: np.ndarray, in_fmt: FixedFormat | None,
                mode: str, train: bool):
        """One step of :meth:`fxp.nn.network.Network.forward`.

        ``fx`` is the quantized input (None in float mode), ``val`` its float values,
        ``in_fmt`` its format. Returns ``(fx, val, out_fmt, cache)`` (default: the identity,
        as for a layer that only acts at inference, like argmax).
        """
        return fx, val, in_fmt, {}

    def backward(self, cache: dict, grad: np.ndarray, grads: dict) -> np.ndarray:
        """Add this layer's parameter gradients to ``grads``; return dLoss/dinput."""
        return grad

    def a2q_project(self, in_fmt: FixedFormat, acc_bits: int) -> FixedFormat:
        """Project the weights so the accumulator fits ``acc_bits`` (A2Q); return the output
        format (default: nothing to project)."""
        return self.out_format(in_fmt)

    def out_format(self, in_fmt: FixedFormat) -> FixedFormat:
        """The output format while training (default: the trained ``output`` field)."""
        return in_fmt

    def resolve(self, in_fmt: FixedFormat, a2q_bits: int | None):
        """Freeze into ``(layer, tensors, out_fmt)``: a concrete layer and its raw tensors
        (keys without the index prefix)."""
        return self.layer.replace(), {}, self.out_format(in_fmt)

    def init_output_bias(self, mean: np.ndarray) -> None:
        """Start the output at the regression targets' mean (a layer with a bias; default:
        nothing to set)."""

    def fold(self, other: Trainer) -> None:
        """Fold a following layer's trainer (batchnorm) into this one."""
        raise SpecError(f"{other.layer.label}: cannot be folded into {self.layer.label}")


def float_param(where: str, key: str, array: np.ndarray, shape: tuple) -> np.ndarray:
    """A float parameter's array, checked for shape and finiteness."""
    a = np.asarray(array, dtype=np.float64)
    if a.shape != shape:
        raise SpecError(f"{where} field {key!r}: expected shape {shape}, not {a.shape}")
    if not np.all(np.isfinite(a)):
        raise SpecError(f"{where} field {key!r}: float weights must be finite")
    return a
