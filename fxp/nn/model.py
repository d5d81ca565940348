"""Model: a resolved spec plus integer parameters; bit-exact inference and the artifact on disk.

The artifact (a directory) is the contract between stages:

``model.yaml``
    a valid spec with every format concrete;
``weights.npz``
    raw integers per tensor: ``"<layer index>.weight"`` ``(units, inputs)`` (conv2d
    ``(filters, kh, kw, channels)``),
    ``"<layer index>.bias"`` ``(units,)``, ``"<layer index>.table"`` for lookup tables;
``vectors.npz``
    ``inputs``: raw test inputs ``(n, *input shape)``; ``outputs``: the bit-exact model's raw
    outputs for them; ``labels``: their targets (class indices, or floats for a regression),
    so that an artifact is evaluated without its data.
"""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import yaml

from .. import overflow as _ovf
from ..array import FixedArray, from_raw
from ..files import atomic_directory
from ..format import FixedFormat
from ..quantize import quantize
from .spec import Spec, SpecError, load_spec, parse_spec

__all__ = ["Model", "ArtifactError", "write_artifact", "load_vectors"]


class ArtifactError(ValueError):
    """An artifact directory is missing, incomplete or inconsistent."""


class Model:
    """A quantized network with every format concrete: the golden model.

    Parameters
    ----------
    spec : Spec
        A resolved spec (no ``auto``/``learn`` left).
    params : dict of str to ndarray
        Raw integer tensors keyed ``"<layer index>.weight"``, ``".bias"``, ``".table"``.
    """

    def __init__(self, spec: Spec, params: dict):
        if not spec.concrete:
            raise SpecError(f"Model {spec.name}: every format must be concrete; resolve 'auto' "
                            f"and 'learn' with python -m fxp train or quantize first")
        self.spec = spec
        self.params = {}
        self._tensors = []    # per layer: {key: FixedArray}
        self.inputs = []      # per layer: (input shape, input format)
        self.shapes = []      # (features, format) after each layer
        shape, fmt = tuple(spec.input_shape), spec.input_format
        for layer in spec.layers:
            where = layer.label
            tensors = {k: self._tensor(params, f"{layer.index}.{k}", s, f, where)
                       for k, (s, f) in layer.tensors(shape, fmt).items()}
            layer.check_resolved(shape, fmt, tensors)
            self._tensors.append(tensors)
            self.inputs.append((shape, fmt))
            shape, fmt = layer.output_shape(shape), layer.output_format(shape, fmt, tensors)
            self.shapes.append((math.prod(shape), fmt))
        extra = sorted(set(params) - set(self.params))
        if extra:
            raise ArtifactError(f"weights: unexpected tensor {extra[0]!r}")

    def _tensor(self, params, key, shape, fmt, where) -> FixedArray:
        if key not in params:
            raise ArtifactError(f"{where}: missing tensor {key!r}")
        raw = np.asarray(params[key])
        if raw.shape != shape:
            raise ArtifactError(f"{where} tensor {key!r}: expected shape {shape}, not "
                                f"{raw.shape}")
        try:
            arr = from_raw(raw, fmt)
        except (TypeError, ValueError) as e:
            raise ArtifactError(f"{where} tensor {key!r}: {e}") from None
        self.params[key] = arr.raw
        return arr

    # -- properties -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def input_format(self) -> FixedFormat:
        return self.spec.input_format

    @property
    def output_format(self) -> FixedFormat:
        return self.shapes[-1][1]

    @property
    def input_shape(self) -> tuple:
        """One input's shape: ``(N,)``, ``(L, C)`` or ``(H, W, C)`` (channels last)."""
        return tuple(self.spec.input_shape)

    @property
    def n_inputs(self) -> int:
        """Values per input (the product of :attr:`input_shape`)."""
        return math.prod(self.spec.input_shape)

    @property
    def n_outputs(self) -> int:
        return self.shapes[-1][0]

    def tensors(self, index: int) -> dict:
        """Layer ``index``'s tensors (``{"weight": FixedArray, ...}``; empty if none)."""
        return dict(self._tensors[index])

    def weight(self, index: int) -> FixedArray:
        """Weights of layer ``index`` (dense: ``(units, inputs)``)."""
        return self._tensors[index]["weight"]

    def bias(self, index: int) -> FixedArray:
        """Bias of layer ``index``."""
        return self._tensors[index]["bias"]

    def table(self, index: int) -> tuple[FixedArray, int]:
        """Lookup table of activation layer ``index`` and its index width."""
        layer, fmt = self.spec.layers[index], self.inputs[index][1]
        return self._tensors[index]["table"], layer.index_bits(fmt)

    # -- inference ------------------------------------------------------------------------
    def forward(self, x: FixedArray) -> list[FixedArray]:
        """Every layer's output for inputs ``x`` (shape ``(batch, *input_shape)``), bit-exact.

        Operations are labelled ``"layer <i> <type> accumulator"``/``"... output"`` for
        overflow logs.
        """
        outs = []
        for layer, tensors in zip(self.spec.layers, self._tensors):
            x = layer.forward(x, tensors, f"layer {layer.index} {layer.type}")
            outs.append(x)
        return outs

    def _check_shape(self, x: np.ndarray):
        shape = self.input_shape
        if x.shape[1:] != shape and x.shape != shape:
            dims = ", ".join(map(str, shape))
            raise ValueError(f"Model {self.name}: inputs must be shaped (batch, {dims}) "
                             f"or ({dims}{',' if len(shape) == 1 else ''}), not {x.shape}")

    def _check_input(self, x_raw) -> FixedArray:
        x_raw = np.asarray(x_raw)
        self._check_shape(x_raw)
        try:  # checked in the caller's shape, so that the index shown is theirs
            x = from_raw(x_raw, self.input_format)
        except (TypeError, ValueError) as e:
            raise type(e)(f"Model {self.name} input: {e}") from None
        return x.reshape(-1, *self.input_shape)

    def predict_raw(self, x_raw) -> np.ndarray:
        """Bit-exact outputs as raw integers for raw inputs of the input format.

        Parameters
        ----------
        x_raw : array_like of int, shape (batch, *input_shape) or input_shape

        Returns
        -------
        numpy.ndarray
            ``(batch, *output shape)`` raw integers of the last layer's format, or
            ``(batch,)`` class indices when the model ends with argmax (an input without the
            batch axis drops it).
        """
        single = np.shape(x_raw) == self.input_shape
        y = self.forward(self._check_input(x_raw))[-1].raw
        return y[0] if single else y

    def predict(self, x) -> np.ndarray:
        """Quantize real inputs to the input format, then run :meth:`predict_raw`.

        Returns floats (the last layer's values) or class indices after argmax.
        """
        x = np.asarray(x, dtype=np.float64)
        self._check_shape(x)  # before quantizing, which would fail on odd shapes
        xq = quantize(x, self.input_format, label="model input")
        y = self.forward(self._check_input(xq.raw))[-1]
        out = y.raw if self.spec.layers[-1].returns_index else y.to_float()
        return out[0] if x.shape == self.input_shape else out

    def overflow_report(self, x_raw) -> _ovf.OverflowLog:
        """Run the inputs and return the overflow/saturation log per layer operation."""
        with _ovf.overflow_policy("log") as log:
            self.forward(self._check_input(x_raw))
        return log

    # -- artifact -------------------------------------------------------------------------
    def save(self, directory, vectors: dict | None = None):
        """Write the artifact atomically (a failed write leaves no half artifact)."""
        write_artifact(directory, self.spec, self.params, vectors)

    @classmethod
    def load(cls, directory) -> Model:
        """Load an artifact directory (``model.yaml`` + ``weights.npz``)."""
        path = os.path.join(directory, "model.yaml")
        if not os.path.isfile(path):
            raise ArtifactError(f"{directory}: not an artifact (no model.yaml)")
        spec = load_spec(path)
        wpath = os.path.join(directory, "weights.npz")
        if not os.path.isfile(wpath):
            raise ArtifactError(f"{directory}: artifact has no weights.npz")
        with np.load(wpath, allow_pickle=False) as z:
            params = {k: z[k] for k in z.files}
        return cls(spec, params)



def load_vectors(directory) -> dict:
    """An artifact's ``vectors.npz`` (``inputs``, ``outputs``) as a dict of arrays."""
    path = os.path.join(directory, "vectors.npz")
    if not os.path.isfile(path):
        raise ArtifactError(f"{directory}: artifact has no vectors.npz")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _npz_ready(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        v = np.asarray(v)
        if v.dtype == object:
            raise ArtifactError(f"weights: tensor {k!r} is wider than 64 bits; artifacts store "
                                f"int64 raw values")
        out[k] = v.astype(np.int64)
    return out


def write_artifact(directory, spec: Spec, params: dict, vectors: dict | None = None,
                   extra_files: dict | None = None, float_weights: dict | None = None):
    """Write ``model.yaml``, ``weights.npz`` (and ``vectors.npz``, ``float_weights.npz``,
    extra text files) into ``directory`` atomically.

    Everything is written to a temporary sibling directory first and swapped in at the end.
    A relative ``data.path`` is recorded relative to ``directory``.
    """
    from .data import rebase_section
    if spec.data:
        spec = copy.copy(spec)
        spec.data = rebase_section(spec.data, spec.base_dir, directory)
    # the spec must round-trip before anything is written
    text = spec.to_yaml()
    parse_spec(yaml.safe_load(text))
    # replaced whole: RTL/HLS generated from old weights would be stale
    with atomic_directory(directory) as tmp:
        with open(os.path.join(tmp, "model.yaml"), "w") as f:
            f.write(text)
        np.savez(os.path.join(tmp, "weights.npz"), **_npz_ready(params))
        if vectors is not None:
            np.savez(os.path.join(tmp, "vectors.npz"), **{
                k: np.asarray(v, dtype=np.float64 if np.asarray(v).dtype.kind == "f"
                              else np.int64) for k, v in vectors.items()})
        if float_weights is not None:
            np.savez(os.path.join(tmp, "float_weights.npz"),
                     **{k: np.asarray(v, dtype=np.float64) for k, v in float_weights.items()})
        for name, content in (extra_files or {}).items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(content)
