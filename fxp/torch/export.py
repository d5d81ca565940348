"""export: an fxp.torch Sequential written as a normal artifact (spec, raw weights, vectors)."""

from __future__ import annotations

import json

import numpy as np

from ..nn.data import Dataset
from ..nn.model import Model, write_artifact
from ..nn.spec import parse_spec
from ..nn.train import accuracy
from ..quantize import quantize as fxp_quantize
from .sequential import Sequential

__all__ = ["export", "to_model"]


def to_model(model: Sequential, *, name: str, hardware: dict | None = None,
             data: dict | None = None) -> tuple[Model, dict]:
    """The bit-exact :class:`fxp.nn.Model` of ``model`` (its formats in force) and its float
    weights (keyed as ``fxp.nn``'s ``float_weights.npz``).

    ``auto`` accumulators are resolved by :func:`fxp.accumulator_format` of the quantized
    weights, bias and input format, as fxp.nn resolves them.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"export: model must be an fxp.torch.Sequential, not "
                        f"{type(model).__name__}")
    fmt = model.input.fmt
    entries, params, floats = [], {}, {}
    for layer in model.layers:
        entry, tensors, fw, fmt = layer.export(fmt)
        entries.append(entry)
        params.update({f"{layer.index}.{k}": v for k, v in tensors.items()})
        floats.update(fw)
    doc = {"name": name, "input": {"shape": list(model.input.shape),
                                   "format": str(model.input.fmt)},
           "layers": entries}
    if data:
        doc["data"] = data
    if hardware is not None:
        doc["hardware"] = hardware
    return Model(parse_spec(doc), params), floats


def test_set(data):
    """``(x_test, y_test, data section or None)`` of a Dataset or an ``(x, y)`` pair (all of
    which is the test set)."""
    if isinstance(data, Dataset):
        section = data.section() if hasattr(data, "section") else None
        return np.asarray(data.x_test), np.asarray(data.y_test), section
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = (np.asarray(a) for a in data)
        if x.ndim < 1 or y.shape[:1] != x.shape[:1]:
            raise ValueError(f"data: x and y must hold the same number of samples, not "
                             f"{x.shape[:1]} and {y.shape[:1]}")
        return x, y, None
    raise TypeError(f"data: expected a fxp.nn.data.Dataset or an (x, y) pair of arrays, not "
                    f"{type(data).__name__}")


def export(model: Sequential, directory, *, name: str, data, hardware: dict | None = None,
           float_weights: bool = True) -> Model:
    """Write ``model`` as an artifact that ``python -m hdl rtl``, ``hdl hls`` and ``sim`` take.

    The artifact holds the formats in force (calibrate with :meth:`Sequential.calibrate`
    first to resolve ``auto`` formats on the training data, as fxp.nn does); in eval mode
    ``model`` computes exactly what the artifact's :class:`fxp.nn.Model` computes.

    Parameters
    ----------
    model : Sequential
    directory : str or os.PathLike
        Written atomically (replaced whole).
    name : str
        The model's name (an identifier: it names the RTL and HLS tops).
    data : fxp.nn.data.Dataset or (x, y)
        The test data: ``vectors.npz`` holds its quantized inputs and the model's outputs,
        ``metrics.json`` its accuracies. A Dataset's test set is used.
    hardware : dict, optional
        The spec's ``hardware:`` section (e.g. ``{"strategy": "parallel"}``).
    float_weights : bool, default True
        Also write ``float_weights.npz`` (for ``python -m fxp eval``).

    Returns
    -------
    fxp.nn.Model
        The bit-exact model written.
    """
    x, y, section = test_set(data)
    fxm, floats = to_model(model, name=name, hardware=hardware, data=section)
    x_raw = fxp_quantize(np.asarray(x, dtype=np.float64).reshape(len(x), *fxm.input_shape),
                         fxm.input_format, label="test inputs").raw
    outputs = fxm.predict_raw(x_raw)
    metrics = {"source": "fxp.torch", "test_vectors": int(len(x_raw))}
    if y.dtype.kind in "iu" and fxm.spec.layers[-1].returns_index:
        metrics["fixed_accuracy"] = accuracy(outputs, y)
        logits = model.float_forward(x).detach().numpy()
        metrics["float_accuracy"] = accuracy(logits, y)
    write_artifact(directory, fxm.spec, fxm.params, {"inputs": x_raw, "outputs": outputs},
                   extra_files={"metrics.json": json.dumps(metrics, indent=1, sort_keys=True)
                                + "\n"},
                   float_weights=floats if float_weights else None)
    return fxm
