"""An artifact with its test set: channels-first samples moved to channels last, the test
vectors (``vectors.npz``) and the metrics (``metrics.json``) of a model written beside it.

Shared by the writers that produce a :class:`~fxp.nn.model.Model` from elsewhere
(``fxp.torch.export``, ``fxp.nn.onnx.import_onnx``).
"""

from __future__ import annotations

import json

import numpy as np

from ..quantize import quantize
from .data import Dataset
from .model import Model, write_artifact
from .training import scores

__all__ = ["channels_last", "write_with_data"]


def _moved(x: np.ndarray) -> np.ndarray:
    return x if x.ndim < 3 else np.moveaxis(x, 1, -1)


def channels_last(dataset: Dataset, source_shape, shape) -> Dataset:
    """``dataset`` reshaped to the artifact's input ``shape`` (channels last).

    Samples shaped ``source_shape`` (a framework's channels-first ``(C, ...)``) are moved to
    channels last first; samples of any other shape holding as many values are read
    row-major as ``shape``, as a spec's ``data:`` is.
    """
    source_shape, shape = tuple(source_shape), tuple(shape)
    if dataset.x_train.shape[1:] == source_shape and source_shape != shape:
        dataset = Dataset(_moved(dataset.x_train), dataset.y_train, _moved(dataset.x_test),
                          dataset.y_test, dataset.classes, dataset.source)
    return dataset.reshaped(shape)


def write_with_data(directory, model: Model, dataset: Dataset, metrics: dict | None = None,
                    float_weights: dict | None = None) -> dict:
    """Write ``model`` as an artifact with ``dataset``'s test set.

    ``vectors.npz`` holds the quantized test inputs, the model's raw outputs and the labels;
    ``metrics.json`` the bit-exact metrics (``fixed_accuracy``, or ``fixed_mse`` and
    ``fixed_mae``), ``loss``, ``test_vectors`` and ``metrics`` (e.g. float ones, a source).
    The spec's ``data:`` records the dataset's section and a regression sets
    ``train.loss: mse``. Returns the metrics written.
    """
    spec = model.spec
    spec.data = dataset.section()
    if dataset.classes is None and spec.loss != "mse":
        spec.train = {**spec.train, "loss": "mse"}
    x_raw = quantize(dataset.x_test, model.input_format, label="test inputs").raw
    outputs = model.predict_raw(x_raw)
    out = dict(metrics or {})
    out.update({f"fixed_{k}": v for k, v in scores(spec.loss, model.predict(dataset.x_test),
                                                   dataset.y_test).items()})
    out.update({"loss": spec.loss, "test_vectors": int(len(x_raw))})
    write_artifact(directory, spec, model.params,
                   {"inputs": x_raw, "outputs": outputs, "labels": dataset.y_test},
                   extra_files={"metrics.json": json.dumps(out, indent=1, sort_keys=True)
                                + "\n"},
                   float_weights=float_weights)
    return out
