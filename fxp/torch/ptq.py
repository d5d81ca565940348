"""from_float: post-training quantization of a float torch.nn.Sequential through fxp.nn."""

from __future__ import annotations

import numpy as np
import torch

from .. import overflow as _ovf
from ..nn.network import Network
from ..nn.spec import parse_spec
from .formats import format_spec
from .layers import MODULES, Input
from .sequential import Sequential

__all__ = ["from_float"]

_ACTIVATIONS = {torch.nn.ReLU: "relu", torch.nn.Sigmoid: "sigmoid", torch.nn.Tanh: "tanh",
                torch.nn.LeakyReLU: "leaky_relu"}


def _array(t) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


def from_float(module, *, input_format, calibration, weight="fixed<8,auto>", bias="auto",
               output="auto", accumulator="auto", table_bits: int | None = None,
               argmax: bool = False) -> Sequential:
    """Post-training quantization of a float ``torch.nn.Sequential``.

    The module's layers become a spec (``dense``, ``batchnorm``, ``relu``, ``leaky_relu``,
    ``sigmoid``, ``tanh``) whose formats are the arguments; fxp.nn's post-training
    quantization (:meth:`fxp.nn.network.Network.resolve`, as ``python -m fxp quantize``)
    calibrates every ``auto`` format on ``calibration`` and folds batchnorms. The result is
    an fxp.torch :class:`Sequential` with those concrete formats and the float weights, in
    eval mode: it computes exactly the resolved model, and :func:`fxp.torch.export` writes
    its artifact (it can also be fine-tuned with QAT).

    Parameters
    ----------
    module : torch.nn.Sequential
        Of ``Linear``, ``BatchNorm1d`` (after a Linear), ``ReLU``, ``LeakyReLU`` (a
        power-of-two slope), ``Sigmoid`` and ``Tanh``.
    input_format : str or FixedFormat
        The concrete input format.
    calibration : array_like or torch.Tensor
        Float inputs ``(n, in_features)`` that set the ``auto`` ranges (the training data).
    weight, bias, output : str, FixedFormat or mapping
        Formats of every Linear's weights and bias and of every layer's output (``auto`` or
        int_bits ``auto`` as in specs; int_bits ``learn`` needs training, not PTQ).
    accumulator : "auto" or str
        Every Linear's accumulator.
    table_bits : int, optional
        Index width of the sigmoid/tanh tables (default the input's bits, at most 10).
    argmax : bool, default False
        End with an Argmax (class indices).

    Raises
    ------
    TypeError
        If ``module`` is not a torch.nn.Sequential of the layers above (naming the index).
    ValueError
        For a bad format or an unsupported setting (naming the argument).
    """
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"from_float: module must be a torch.nn.Sequential, not "
                        f"{type(module).__name__}")
    children = list(module)
    if not children or not isinstance(children[0], torch.nn.Linear):
        raise ValueError("from_float: module must start with a torch.nn.Linear")
    formats = {}
    for key, value in (("weight", weight), ("bias", bias), ("output", output),
                       ("accumulator", accumulator)):
        fs = format_spec(value, f"from_float {key}")
        if fs.learn:
            raise ValueError(f"from_float {key}: int_bits 'learn' needs training; use 'auto'")
        formats[key] = fs.dump()
    in_fmt = format_spec(input_format, "from_float input_format", allow_open=False).fmt
    layers, weights = [], {}
    for i, child in enumerate(children):
        if isinstance(child, torch.nn.Linear):
            layers.append({"type": "dense", "units": child.out_features,
                           "weight": formats["weight"], "bias": formats["bias"],
                           "accumulator": formats["accumulator"], "output": formats["output"]})
            weights[f"{i}.weight"] = _array(child.weight)
            weights[f"{i}.bias"] = _array(child.bias) if child.bias is not None else \
                np.zeros(child.out_features)
        elif isinstance(child, torch.nn.BatchNorm1d):
            if child.running_mean is None:
                raise ValueError(f"from_float module[{i}]: BatchNorm1d needs running "
                                 f"statistics (track_running_stats=True)")
            n = child.num_features
            layers.append({"type": "batchnorm", "eps": float(child.eps)})
            weights[f"{i}.gamma"] = _array(child.weight) if child.affine else np.ones(n)
            weights[f"{i}.beta"] = _array(child.bias) if child.affine else np.zeros(n)
            weights[f"{i}.mean"] = _array(child.running_mean)
            weights[f"{i}.var"] = _array(child.running_var)
        elif type(child) in _ACTIVATIONS:
            entry = {"type": _ACTIVATIONS[type(child)], "output": formats["output"]}
            if isinstance(child, torch.nn.LeakyReLU):
                entry["alpha"] = float(child.negative_slope)
            if table_bits is not None and entry["type"] in ("sigmoid", "tanh"):
                entry["table_bits"] = table_bits
            layers.append(entry)
        else:
            raise TypeError(f"from_float module[{i}]: unsupported layer "
                            f"{type(child).__module__}.{type(child).__name__}; expected "
                            f"Linear, BatchNorm1d, ReLU, LeakyReLU, Sigmoid or Tanh")
    if argmax:
        layers.append({"type": "argmax"})
    features = children[0].in_features
    spec = parse_spec({"name": "from_float", "input": {"shape": [features],
                                                     "format": str(in_fmt)},
                       "layers": layers})
    net = Network(spec, np.random.default_rng(0))
    net.load_float(weights)
    x = calibration.detach().to("cpu", torch.float64).numpy() \
        if isinstance(calibration, torch.Tensor) else np.asarray(calibration, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != features:
        raise ValueError(f"from_float calibration: expected shape (n, {features}), not "
                         f"{x.shape}")
    with _ovf.overflow_policy("ignore"):
        resolved = net.resolve(x)
    return _sequential(resolved.spec, in_fmt, weights)


def _sequential(spec, in_fmt, weights) -> Sequential:
    """The fxp.torch network of a resolved spec, with the float weights loaded."""
    mods = [Input(spec.input_shape, in_fmt)]
    shape = mods[0].shape
    for layer in spec.layers:
        m = MODULES[layer.type].from_spec(layer, shape, weights)
        m.index = layer.index
        shape = m.shape_out(shape)
        mods.append(m)
    return Sequential(*mods).eval()
