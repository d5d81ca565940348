"""Training (float or quantization-aware, optionally accumulator-aware) and post-training
quantization, producing the bit-exact Model and its metrics.

``train.loss`` is ``cross_entropy`` (softmax over the last values, labels are class indices;
metrics: accuracy) or ``mse`` (a regression: the output vector is the result; metrics: mean
squared and mean absolute error, in float and bit-exact).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

from .. import overflow as _ovf
from .data import Dataset, as_dataset, load_data
from .model import Model, write_artifact
from .network import Network
from .spec import Spec, SpecError, load_spec, parse_spec

__all__ = ["Adam", "SGD", "train", "quantize", "post_training_quantize", "accuracy", "scores",
           "mse", "mae", "TrainResult", "check_classes", "spec_data"]


class Adam:
    """Adam (Kingma & Ba) over a list of ``(name, array)`` parameters, updated in place."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, *betas, eps
        self.m = {n: np.zeros_like(p) for n, p in params}
        self.v = {n: np.zeros_like(p) for n, p in params}
        self.t = 0

    def step(self, grads: dict):
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for n, p in self.params:
            g = grads.get(n)
            if g is None:
                continue
            self.m[n] = self.b1 * self.m[n] + (1 - self.b1) * g
            self.v[n] = self.b2 * self.v[n] + (1 - self.b2) * g * g
            p -= self.lr * (self.m[n] / c1) / (np.sqrt(self.v[n] / c2) + self.eps)


class SGD:
    """SGD with momentum 0.9 over ``(name, array)`` parameters, updated in place."""

    def __init__(self, params, lr=1e-2, momentum=0.9):
        self.params, self.lr, self.mu = params, lr, momentum
        self.vel = {n: np.zeros_like(p) for n, p in params}

    def step(self, grads: dict):
        for n, p in self.params:
            g = grads.get(n)
            if g is None:
                continue
            self.vel[n] = self.mu * self.vel[n] + g
            p -= self.lr * self.vel[n]


def _softmax_xent(logits: np.ndarray, y: np.ndarray):
    logits = logits.reshape(len(logits), -1)
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -float(np.mean(np.log(p[np.arange(n), y] + 1e-12)))
    g = p.copy()
    g[np.arange(n), y] -= 1.0
    return loss, g / n


def _mse_loss(out: np.ndarray, y: np.ndarray):
    d = out.reshape(len(out), -1) - np.asarray(y, dtype=np.float64).reshape(len(out), -1)
    return float(np.mean(d * d)), (2.0 / d.size) * d.reshape(out.shape)


_LOSSES = {"cross_entropy": _softmax_xent, "mse": _mse_loss}


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Fraction of predictions (class indices or logits) equal to the labels."""
    pred = np.asarray(pred)
    if pred.ndim >= 2:
        pred = pred.reshape(len(pred), -1).argmax(axis=1)
    return float(np.mean(pred == y))


def _errors(pred, y) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    return pred.reshape(len(pred), -1) - np.asarray(y, dtype=np.float64).reshape(len(pred), -1)


def mse(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error over every sample and target."""
    return float(np.mean(_errors(pred, y) ** 2))


def mae(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean absolute error over every sample and target."""
    return float(np.mean(np.abs(_errors(pred, y))))


def scores(loss: str, pred, y) -> dict:
    """The test metrics of predictions ``pred`` (class indices, logits or values) against
    targets ``y`` for ``loss``: ``{accuracy}`` (cross_entropy) or ``{mse, mae}`` (mse)."""
    if loss == "mse":
        return {"mse": mse(pred, y), "mae": mae(pred, y)}
    return {"accuracy": accuracy(pred, y)}


class TrainResult:
    """A trained Model, its float network, the data, and the per-epoch history.

    Attributes
    ----------
    model : Model
        The bit-exact model.
    network : Network
        The float network it was resolved from.
    data : Dataset
    history : list of dict
    seconds : float
    """

    def __init__(self, model: Model, network: Network, data: Dataset, history: list,
                 seconds: float):
        self.model, self.network, self.data = model, network, data
        self.history, self.seconds = history, seconds

    @property
    def loss(self) -> str:
        return self.model.spec.loss

    def fixed_scores(self) -> dict:
        """The bit-exact model's test metrics."""
        return scores(self.loss, self.model.predict(self.data.x_test), self.data.y_test)

    def float_scores(self) -> dict:
        """The float network's test metrics."""
        out, _ = self.network.forward(self.data.x_test, "float")
        return scores(self.loss, out, self.data.y_test)

    @property
    def fixed_accuracy(self) -> float:
        return self.fixed_scores()["accuracy"]

    @property
    def float_accuracy(self) -> float:
        return self.float_scores()["accuracy"]

    def vectors(self) -> dict:
        """Raw test inputs, the bit-exact model's raw outputs for them, and their labels."""
        from ..quantize import quantize as _quantize
        x = _quantize(self.data.x_test, self.model.input_format, label="test inputs").raw
        return {"inputs": x, "outputs": self.model.predict_raw(x), "labels": self.data.y_test}

    def metrics(self) -> dict:
        """``float_*``/``fixed_*`` test metrics, seconds, epochs and the history."""
        out = {f"float_{k}": v for k, v in self.float_scores().items()}
        out.update({f"fixed_{k}": v for k, v in self.fixed_scores().items()})
        out.update({"loss": self.loss, "train_seconds": round(self.seconds, 3),
                    "epochs": len(self.history), "history": self.history})
        return out

    def save(self, directory) -> dict:
        """Write the artifact (model.yaml, weights.npz, vectors.npz, float_weights.npz,
        metrics.json) atomically; returns the metrics."""
        metrics = self.metrics()
        extra = {"metrics.json": json.dumps(metrics, indent=1, sort_keys=True) + "\n"}
        write_artifact(directory, self.model.spec, self.model.params, self.vectors(),
                       extra_files=extra, float_weights=self.network.float_weights())
        return metrics


def _outputs(spec: Spec) -> tuple[int, int]:
    """``(k, n)``: the last layer before any argmax and its number of values."""
    shapes, k = spec.shapes, len(spec.layers) - 1
    while k >= 0 and spec.layers[k].returns_index:
        k -= 1
    n = math.prod(shapes[k + 1])
    j = k
    while j > 0 and shapes[j + 1] == shapes[j]:
        j -= 1
    return j, n


def check_classes(spec: Spec, data: Dataset) -> None:
    """The data's targets suit the loss and the model's outputs.

    ``cross_entropy``: targets are class indices and the logits (the values before an argmax)
    cover every class. ``mse``: one output per target.

    Raises
    ------
    SpecError
        Naming the data and the last layer that sets the width.
    """
    j, n = _outputs(spec)
    if spec.loss == "mse":
        targets = 1 if data.y_train.ndim == 1 else math.prod(data.y_train.shape[1:])
        if n != targets:
            raise SpecError(f"{spec.layers[j].label}: the model ends with {n} outputs, but "
                            f"{data.name} has {targets} target{'s' * (targets != 1)} per "
                            f"sample")
        return
    if data.classes is None:
        y = np.concatenate([data.y_train.reshape(-1), data.y_test.reshape(-1)])
        bad = y[(y < 0) | (y != np.round(y))] if data.y_train.ndim == 1 else y
        what = f"e.g. {bad.min():g}" if data.y_train.ndim == 1 and len(bad) else \
            f"shaped {data.y_train.shape[1:]} per sample"
        raise SpecError(f"data: {data.name} holds targets that are not class indices 0..K-1 "
                        f"({what}); a regression needs train.loss: mse")
    if n >= data.classes:
        return
    raise SpecError(f"{spec.layers[j].label}: the model ends with {n} outputs, fewer than the "
                    f"{data.classes} classes of {data.name}")


def _as_spec(spec) -> Spec:
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, dict):
        return parse_spec(spec)
    if isinstance(spec, (str, os.PathLike)):
        return load_spec(spec)
    raise TypeError(f"spec: expected a Spec, a spec mapping or a YAML path, not "
                    f"{type(spec).__name__}")


def spec_data(spec: Spec, data=None) -> Dataset:
    """The spec's data (``data`` given in memory overrides the ``data:`` section), reshaped
    to ``input.shape`` and checked against the loss and the model's outputs."""
    if data is not None:
        ds = as_dataset(data, test_fraction=spec.data.get("test_fraction", 0.2),
                        seed=spec.data.get("seed", 0))
        ds = ds.reshaped(spec.input_shape)
    elif not spec.data:
        raise SpecError("data: the spec names no data; add a data: section or pass data=")
    else:
        ds = load_data(spec.data, spec.input_shape, base_dir=spec.base_dir)
    check_classes(spec, ds)
    return ds


def _with_data(model: Model, spec: Spec, data: Dataset) -> Model:
    model.spec.data = data.section()
    model.spec.base_dir = spec.base_dir
    return model


def train(spec, data=None, *, qat: bool | None = None, log=sys.stderr) -> TrainResult:
    """Train a spec's network on its data and resolve it into a bit-exact Model.

    Parameters
    ----------
    spec : Spec, dict or path
        ``train:`` gives epochs, batch, optimizer (adam|sgd), lr, schedule (constant|cosine:
        the learning rate follows half a cosine from ``lr`` to 0 over the epochs), qat, seed,
        loss (cross_entropy|mse) and optional ``a2q: {accumulator_bits: P}``.
    data : Dataset, (x, y) or (x_train, y_train, x_test, y_test), optional
        Data in memory instead of the spec's ``data:`` section (recorded in the artifact as
        ``{source: arrays, sha256: ...}``); ``(x, y)`` is split by the section's
        ``test_fraction`` and ``seed``.
    qat : bool, optional
        Override ``train.qat`` (False trains the same network in float: the baseline).
    log : file or None
        Progress per epoch (loss, float and fixed test metrics).

    Returns
    -------
    TrainResult
        ``.save(directory)`` writes the artifact the CLI writes.
    """
    spec = _as_spec(spec)
    cfg = spec.train
    epochs, batch = cfg.get("epochs", 20), cfg.get("batch", 64)
    lr, seed = cfg.get("lr", 1e-3), cfg.get("seed", 0)
    qat = cfg.get("qat", True) if qat is None else qat
    a2q = cfg.get("a2q", {}).get("accumulator_bits")
    data = spec_data(spec, data)
    loss_fn = _LOSSES[spec.loss]
    rng = np.random.default_rng(seed)
    rms = float(np.sqrt(np.mean(data.x_train ** 2)))
    net = Network(spec, rng, input_scale=rms)
    if spec.loss == "mse":
        net.layers[_outputs(spec)[0]].init_output_bias(
            np.mean(np.asarray(data.y_train, dtype=np.float64).reshape(len(data.y_train), -1),
                    axis=0))
    with _ovf.overflow_policy("ignore"):
        net.forward(data.x_train, "calibrate")
    opt_cls = SGD if cfg.get("optimizer", "adam") == "sgd" else Adam
    opt = opt_cls(net.parameters(), lr=lr)
    mode = "qat" if qat else "float"
    history = []
    start = time.perf_counter()
    with _ovf.overflow_policy("ignore"):
        if a2q:
            net.a2q_project(a2q)
        for epoch in range(epochs):
            if cfg.get("schedule") == "cosine":     # lr from lr down to 0 over the epochs
                opt.lr = lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
            order = rng.permutation(len(data.x_train))
            losses = []
            for s in range(0, len(order), batch):
                idx = order[s:s + batch]
                out, caches = net.forward(data.x_train[idx], mode, train=True)
                loss, g = loss_fn(out, data.y_train[idx])
                opt.step(net.backward(caches, g))
                if a2q:
                    net.a2q_project(a2q)
                losses.append(loss)
            for f in net.fields():
                f.end_epoch()
            flt = scores(spec.loss, net.forward(data.x_test, "float")[0], data.y_test)
            model = net.resolve(data.x_train, a2q)
            fix = scores(spec.loss, model.predict(data.x_test), data.y_test)
            net.thaw()
            row = {"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 6)}
            row.update({f"float_{k}": v for k, v in flt.items()})
            row.update({f"fixed_{k}": v for k, v in fix.items()})
            history.append(row)
            if log is not None:
                shown = "  ".join(f"{w} {k} {v:.4f}" for w, d in (("float", flt), ("fixed", fix))
                                  for k, v in d.items() if k != "mae")
                print(f"epoch {epoch + 1:3d}/{epochs}  loss {np.mean(losses):.4f}  {shown}  "
                      f"{time.perf_counter() - start:6.1f}s", file=log, flush=True)
        model = net.resolve(data.x_train, a2q)
    return TrainResult(_with_data(model, spec, data), net, data, history,
                       time.perf_counter() - start)


def post_training_quantize(spec, weights: dict, data=None) -> TrainResult:
    """Quantize given float weights, calibrating ``auto`` formats on the training data.

    Parameters
    ----------
    spec : Spec, dict or path
    weights : dict of str to ndarray
        ``"<i>.weight"`` (units, inputs), ``"<i>.bias"`` and batchnorm ``"<i>.gamma"``,
        ``".beta"``, ``".mean"``, ``".var"``.
    data : optional
        As for :func:`train`. Deterministic.
    """
    spec = _as_spec(spec)
    data = spec_data(spec, data)
    net = Network(spec, np.random.default_rng(0))
    net.load_float(weights)
    start = time.perf_counter()
    with _ovf.overflow_policy("ignore"):
        model = net.resolve(data.x_train)
    return TrainResult(_with_data(model, spec, data), net, data, [],
                       time.perf_counter() - start)


def quantize(spec, weights: dict, data=None) -> TrainResult:
    """Post-training quantization (:func:`post_training_quantize`): ``fxp.nn.quantize``."""
    return post_training_quantize(spec, weights, data)
