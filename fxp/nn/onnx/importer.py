"""``import_onnx``: a QONNX or QCDQ ONNX file as a bit-exact fxp.nn model and artifact."""

from __future__ import annotations

import os
import re

import numpy as np

from ..artifact import channels_last, write_with_data
from ..data import DATASETS, as_dataset, load_data
from ..model import Model, write_artifact
from ..spec import parse_spec

__all__ = ["import_onnx", "read_data", "to_model", "default_name"]


def default_name(path) -> str:
    """The model name of an imported file when none is given: its stem, as an identifier."""
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(os.fspath(path)))[0])
    return stem if re.match(r"[A-Za-z]", stem) else f"m_{stem}"


def to_model(path, *, name: str | None = None) -> Model:
    """The bit-exact :class:`fxp.nn.Model` of the ONNX graph at ``path`` (see
    :func:`import_onnx`)."""
    return convert_file(path, name=name)[0]


def convert_file(path, *, name: str | None = None, dyadic: int | None = None) -> tuple:
    """``(Model, info)`` of the ONNX graph at ``path`` (``info``: see
    :func:`fxp.nn.onnx.convert.convert`)."""
    try:
        from .graph import load_graph
    except ImportError as e:
        raise ImportError(f"importing ONNX needs the onnx extra (pip install 'fxpga[onnx]'): "
                          f"{e}") from None
    from .convert import convert
    shape, in_fmt, layers, params, info = convert(load_graph(path), dyadic)
    doc = {"name": name or default_name(path),
           "input": {"shape": list(shape), "format": str(in_fmt)}, "layers": layers}
    return Model(parse_spec(doc), params), info


def read_data(data, label=None):
    """A dataset name, an .npz/.csv path (``label``: the CSV's target column) or in-memory
    data (a :class:`fxp.nn.data.Dataset`, ``(x, y)``, ``(x_train, y_train, x_test, y_test)``)
    as a Dataset."""
    if isinstance(data, (str, os.PathLike)):
        data = os.fspath(data)
        if data in DATASETS:
            return load_data({"dataset": data})
        section = {"path": os.path.abspath(data)}
        if label is not None:
            section["label"] = label
        return load_data(section)
    return as_dataset(data)


def import_onnx(path, directory=None, *, name: str | None = None, data=None,
                label: str | None = None, dyadic: int | None = None) -> Model:
    """Read a QONNX or QCDQ ONNX model into a bit-exact :class:`fxp.nn.Model`.

    Every quantizer must be fixed point (scale ``2**-f``, zero point 0); see the README's
    "Import from ONNX" for the ops and the format mapping. The model's ``predict_raw`` on
    raw inputs equals the ONNX graph's output times ``2**f`` of the output format.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.onnx`` file.
    directory : str or os.PathLike, optional
        Write the artifact there (atomically: ``model.yaml``, ``weights.npz``, and with
        ``data`` ``vectors.npz`` and ``metrics.json``).
    name : str, optional
        The model's name (default: the file's stem).
    data : str, Dataset or tuple, optional
        A dataset name (``sklearn_digits``...), an ``.npz``/``.csv`` file, or arrays. Samples
        shaped as the ONNX input (channels first) are moved to channels last; others are
        read row-major as the artifact's channels-last input shape.
    label : str, optional
        The target column of a CSV file.
    dyadic : int, optional
        Accept scales that are not powers of two: each value is then the quantizer's integer
        at a power-of-two scale (real value = value x the scale's mantissa) and every
        multiplication by a ratio of mantissas becomes a dyadic number ``m / 2**c`` with
        ``m`` of ``dyadic`` bits (HAWQ-V3), folded into the layer's weights. No longer exact:
        with ``data``, ``metrics.json``'s ``dyadic`` says how many test outputs differ from
        the graph's own execution (onnxruntime or qonnx).

    Returns
    -------
    fxp.nn.Model

    Raises
    ------
    OnnxImportError
        One line naming the node, its op and what was expected; nothing is written.
    """
    if dyadic is not None and (isinstance(dyadic, bool) or not isinstance(dyadic, int)
                               or not 2 <= dyadic <= 32):
        raise ValueError(f"dyadic: expected multiplier bits from 2 to 32, not {dyadic!r}")
    model, info = convert_file(path, name=name, dyadic=dyadic)
    if directory is None:
        return model
    if data is None:
        write_artifact(directory, model.spec, model.params)
        return model
    ds = read_data(data, label)
    onnx_shape = (model.input_shape[-1], *model.input_shape[:-1])
    ds = channels_last(ds, onnx_shape, model.input_shape)
    metrics = {"source": "onnx"}
    if dyadic is not None:
        metrics["dyadic"] = _dyadic_report(path, model, ds, info, dyadic)
        m = info["input_scale"]          # the model's inputs: the quantizer's integers
        ds = type(ds)(ds.x_train / m, ds.y_train, ds.x_test / m, ds.y_test, ds.classes,
                      ds.source)
    write_with_data(directory, model, ds, metrics)
    return model


def _dyadic_report(path, model: Model, ds, info: dict, bits: int) -> dict:
    """How many test outputs of the dyadic model differ from the graph's execution."""
    from ...quantize import quantize
    from .reference import run_graph
    x = ds.x_test
    x_raw = quantize(x / info["input_scale"], model.input_format, label="test inputs").raw
    ours = np.asarray(model.predict_raw(x_raw))
    x_onnx = x if x.ndim == 2 else np.moveaxis(x, -1, 1)
    ref = np.asarray(run_graph(path, x_onnx), dtype=np.float64)
    if ref.ndim > 2:
        ref = np.moveaxis(ref, 1, -1)
    unit = info["output_scale"] * 2.0 ** -model.output_format.frac_bits
    theirs = np.rint(ref / unit).reshape(ours.shape)
    return {"bits": bits, "input_scale": info["input_scale"],
            "output_scale": info["output_scale"], "approximations": info["approximations"],
            "outputs": int(ours.size), "differ": int(np.sum(ours != theirs))}
