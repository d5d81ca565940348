"""Training (float or quantization-aware, optionally accumulator-aware) and post-training
quantization, producing the bit-exact Model and its metrics."""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from .. import overflow as _ovf
from .data import Dataset, load_data
from .model import Model
from .network import Network
from .spec import Spec, SpecError

__all__ = ["Adam", "SGD", "train", "post_training_quantize", "accuracy", "TrainResult",
           "check_classes"]


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
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -float(np.mean(np.log(p[np.arange(n), y] + 1e-12)))
    g = p.copy()
    g[np.arange(n), y] -= 1.0
    return loss, g / n


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Fraction of predictions (class indices or logits) equal to the labels."""
    pred = np.asarray(pred)
    if pred.ndim == 2:
        pred = pred.argmax(axis=1)
    return float(np.mean(pred == y))


class TrainResult:
    """A trained Model, its float counterpart's accuracy and the per-epoch history."""

    def __init__(self, model: Model, network: Network, data: Dataset, history: list,
                 seconds: float):
        self.model, self.network, self.data = model, network, data
        self.history, self.seconds = history, seconds

    @property
    def fixed_accuracy(self) -> float:
        return accuracy(self.model.predict(self.data.x_test), self.data.y_test)

    @property
    def float_accuracy(self) -> float:
        logits, _ = self.network.forward(self.data.x_test, "float")
        return accuracy(logits, self.data.y_test)

    def vectors(self) -> dict:
        """Raw test inputs and the bit-exact model's raw outputs for them."""
        from ..quantize import quantize
        x = quantize(self.data.x_test, self.model.input_format, label="test inputs").raw
        return {"inputs": x, "outputs": self.model.predict_raw(x)}

    def metrics(self) -> dict:
        return {"float_accuracy": self.float_accuracy, "fixed_accuracy": self.fixed_accuracy,
                "train_seconds": round(self.seconds, 3), "epochs": len(self.history),
                "history": self.history}


def check_classes(spec: Spec, data: Dataset) -> None:
    """The model's logits (the values before an argmax) cover every class of the data.

    Raises
    ------
    SpecError
        Naming the last layer that sets the width.
    """
    shapes, k = spec.shapes, len(spec.layers) - 1
    while k >= 0 and spec.layers[k].returns_index:
        k -= 1
    n = math.prod(shapes[k + 1])
    if n >= data.classes:
        return
    j = k
    while j > 0 and shapes[j + 1] == shapes[j]:
        j -= 1
    name = (spec.data or {}).get("dataset", "sklearn_digits")
    raise SpecError(f"{spec.layers[j].label}: the model ends with {n} outputs, fewer than the "
                    f"{data.classes} classes of {name}")


def train(spec: Spec, *, qat: bool | None = None, log=sys.stderr) -> TrainResult:
    """Train a spec's network on its data and resolve it into a bit-exact Model.

    Parameters
    ----------
    spec : Spec
        ``train:`` gives epochs, batch, optimizer (adam|sgd), lr, qat, seed and optional
        ``a2q: {accumulator_bits: P}``.
    qat : bool, optional
        Override ``train.qat`` (False trains the same network in float: the baseline).
    log : file or None
        Progress per epoch (loss, float and fixed test accuracy).
    """
    cfg = spec.train
    epochs, batch = cfg.get("epochs", 20), cfg.get("batch", 64)
    lr, seed = cfg.get("lr", 1e-3), cfg.get("seed", 0)
    qat = cfg.get("qat", True) if qat is None else qat
    a2q = cfg.get("a2q", {}).get("accumulator_bits")
    data = load_data(spec.data or {"dataset": "sklearn_digits"}, spec.input_shape)
    check_classes(spec, data)
    rng = np.random.default_rng(seed)
    rms = float(np.sqrt(np.mean(data.x_train ** 2)))
    net = Network(spec, rng, input_scale=rms)
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
            order = rng.permutation(len(data.x_train))
            losses = []
            for s in range(0, len(order), batch):
                idx = order[s:s + batch]
                logits, caches = net.forward(data.x_train[idx], mode, train=True)
                loss, g = _softmax_xent(logits, data.y_train[idx])
                opt.step(net.backward(caches, g))
                if a2q:
                    net.a2q_project(a2q)
                losses.append(loss)
            for f in net.fields():
                f.end_epoch()
            float_acc = accuracy(net.forward(data.x_test, "float")[0], data.y_test)
            model = net.resolve(data.x_train, a2q)
            fixed_acc = accuracy(model.predict(data.x_test), data.y_test)
            net.thaw()
            history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 6),
                            "float_accuracy": float_acc, "fixed_accuracy": fixed_acc})
            if log is not None:
                print(f"epoch {epoch + 1:3d}/{epochs}  loss {np.mean(losses):.4f}  "
                      f"float acc {float_acc:.4f}  fixed acc {fixed_acc:.4f}  "
                      f"{time.perf_counter() - start:6.1f}s", file=log, flush=True)
        model = net.resolve(data.x_train, a2q)
    return TrainResult(model, net, data, history, time.perf_counter() - start)


def post_training_quantize(spec: Spec, weights: dict) -> TrainResult:
    """Quantize given float weights, calibrating ``auto`` formats on the spec's training data.

    ``weights`` keys: ``"<i>.weight"`` (units, inputs), ``"<i>.bias"`` and batchnorm
    ``"<i>.gamma"``, ``".beta"``, ``".mean"``, ``".var"``. Deterministic.
    """
    data = load_data(spec.data or {"dataset": "sklearn_digits"}, spec.input_shape)
    check_classes(spec, data)
    net = Network(spec, np.random.default_rng(0))
    net.load_float(weights)
    start = time.perf_counter()
    with _ovf.overflow_policy("ignore"):
        model = net.resolve(data.x_train)
    return TrainResult(model, net, data, [], time.perf_counter() - start)
