"""export: an fxp.torch Sequential written as a normal artifact (spec, raw weights, vectors)."""

from __future__ import annotations

from ..nn.artifact import channels_last, write_with_data
from ..nn.data import as_dataset
from ..nn.model import Model
from ..nn.spec import parse_spec
from ..nn.training import scores
from .layers import to_channels_first, to_channels_last
from .sequential import Sequential

__all__ = ["export", "to_model"]


def to_model(model: Sequential, *, name: str, hardware: dict | None = None,
             data: dict | None = None, loss: str | None = None) -> tuple[Model, dict]:
    """The bit-exact :class:`fxp.nn.Model` of ``model`` (its formats in force) and its float
    weights (keyed as ``fxp.nn``'s ``float_weights.npz``).

    ``auto`` accumulators are resolved by :func:`fxp.accumulator_format` of the quantized
    weights, bias and input format, as fxp.nn resolves them.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"export: model must be an fxp.torch.Sequential, not "
                        f"{type(model).__name__}")
    for layer in model.layers:
        for field in layer.fields():
            if not field.calibrated:
                raise ValueError(f"export: {layer.label} {field.kind} format "
                                 f"{field.spec.dump()!r} was never calibrated; call "
                                 f"model.calibrate(x_train) first")
    fmt = model.input.fmt
    entries, params, floats = [], {}, {}
    for layer in model.layers:
        entry, tensors, fw, fmt = layer.export(fmt)
        entries.append(entry)
        params.update({f"{layer.index}.{k}": v for k, v in tensors.items()})
        floats.update(fw)
    doc = {"name": name, "input": {"shape": list(model.input.spec_shape),
                                   "format": str(model.input.fmt)},
           "layers": entries}
    if data:
        doc["data"] = data
    if loss is not None:
        doc["train"] = {"loss": loss}
    if hardware is not None:
        doc["hardware"] = hardware
    return Model(parse_spec(doc), params), floats


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
    data : fxp.nn.data.Dataset, (x, y) or (x_train, y_train, x_test, y_test)
        Samples shaped as the Input (torch's layout, channels first) are moved to the
        artifact's channels-last layout; samples of any other shape holding as many values
        are read row-major as the channels-last shape, as a spec's ``data:`` is. As
        :func:`fxp.nn.data.as_dataset` takes it (``(x, y)`` is split as a spec's data
        would be: test fraction 0.2, seed 0). Its test set makes ``vectors.npz`` (quantized
        inputs, the model's outputs, the labels) and ``metrics.json`` (accuracies, or MSE and
        MAE for regression targets); the spec's ``data:`` records its section (a sha256 for
        arrays given in memory).
    hardware : dict, optional
        The spec's ``hardware:`` section (e.g. ``{"strategy": "parallel"}``).
    float_weights : bool, default True
        Also write ``float_weights.npz`` (for ``python -m fxp eval``).

    Returns
    -------
    fxp.nn.Model
        The bit-exact model written.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"export: model must be an fxp.torch.Sequential, not "
                        f"{type(model).__name__}")
    dataset = as_dataset(data)
    dataset = channels_last(dataset, model.input.shape, model.input.spec_shape)
    loss = "mse" if dataset.classes is None else None
    fxm, floats = to_model(model, name=name, hardware=hardware, data=dataset.section(),
                           loss=loss)
    logits = model.float_forward(to_channels_first(dataset.x_test)).detach().numpy()
    metrics = {f"float_{k}": v for k, v in scores(fxm.spec.loss, to_channels_last(logits),
                                                  dataset.y_test).items()}
    metrics["source"] = "fxp.torch"
    write_with_data(directory, fxm, dataset, metrics,
                    float_weights=floats if float_weights else None)
    return fxm
