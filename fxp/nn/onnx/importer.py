"""``import_onnx``: a QONNX or QCDQ ONNX file as a bit-exact fxp.nn model and artifact."""

from __future__ import annotations

import os
import re

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
                label: str | None = None) -> Model:
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

    Returns
    -------
    fxp.nn.Model

    Raises
    ------
    OnnxImportError
        One line naming the node, its op and what was expected; nothing is written.
    """
    model = to_model(path, name=name)
    if directory is None:
        return model
    if data is None:
        write_artifact(directory, model.spec, model.params)
        return model
    ds = read_data(data, label)
    onnx_shape = (model.input_shape[-1], *model.input_shape[:-1])
    write_with_data(directory, model, channels_last(ds, onnx_shape, model.input_shape),
                    {"source": "onnx"})
    return model
