"""Trainable network: float parameters, a fake-quantized forward made of the very fxp casts,
a numpy backward with straight-through estimators, and resolution into a bit-exact Model.

Formats left open by the spec are resolved here:

- ``auto``: ``weight`` 8 bits, ``bias`` 16 bits, ``output`` 16 bits, RND_CONV/SAT; signed,
  except ReLU and sigmoid outputs. ``int_bits`` (also for ``{bits: .., int_bits: auto}``) is
  the fewest that hold the calibrated range (the largest magnitude seen on the training data).
- ``int_bits: learn`` (a trainable binary point): the fraction bits ``f`` are a parameter
  trained by gradient through the quantizer's step size ``2**-round(f)`` (LSQ-style), and
  initialised from calibration.
- ``accumulator: auto``: ``fxp.accumulator_format`` of the quantized weights, bias and input
  format: it can never overflow.
"""

from __future__ import annotations

import math

import numpy as np

from .. import overflow as _ovf
from ..array import FixedArray
from ..bounds import a2q_l1_bound, accumulator_format
from ..format import FixedFormat
from ..quantize import quantize
from . import layers as L
from .model import Model
from .spec import FormatSpec, Spec, SpecError

__all__ = ["Network", "fit_int_bits", "DEFAULT_BITS"]

DEFAULT_BITS = {"weight": 8, "bias": 16, "output": 16}
_LN2 = math.log(2.0)
_DERIV = {
    "sigmoid": lambda v: (lambda s: s * (1 - s))(1.0 / (1.0 + np.exp(-v))),
    "tanh": lambda v: 1.0 - np.tanh(v) ** 2,
}


def fit_int_bits(bits: int, signed: bool, max_abs: float) -> int:
    """Fewest integer bits for which a ``bits``-wide format holds ``[-max_abs, max_abs]``."""
    if not max_abs > 0 or not math.isfinite(max_abs):
        return int(signed)
    ib = math.ceil(math.log2(max_abs)) + int(signed) - bits
    while True:
        f = FixedFormat(bits, ib, signed)
        if f.max >= max_abs and (not signed or f.min <= -max_abs):
            break
        ib += 1
    while True:
        f = FixedFormat(bits, ib - 1, signed)
        if f.max >= max_abs and (not signed or f.min <= -max_abs):
            ib -= 1
        else:
            return ib


class Field:
    """One format of a layer while training: concrete, auto (calibrated) or learned."""

    def __init__(self, fs: FormatSpec, kind: str, signed: bool, where: str):
        self.fs, self.kind, self.where = fs, kind, where
        self.signed = fs.signed if not fs.auto and not fs.concrete else signed
        self.range = 0.0
        self.next_range = 0.0
        self.f = None       # learned fraction bits, as a 0-d float array (an optimizer param)
        self.frozen = None  # the resolved format, once the network is resolved

    @property
    def learn(self) -> bool:
        return self.fs.learn

    def _base(self):
        if self.fs.auto:
            return DEFAULT_BITS[self.kind], self.signed, "RND_CONV", "SAT"
        return self.fs.bits, self.fs.signed, self.fs.quantization, self.fs.overflow

    def fmt(self) -> FixedFormat:
        if self.frozen is not None:
            return self.frozen
        if self.fs.concrete:
            return self.fs.fmt
        bits, signed, q, o = self._base()
        if self.f is not None:
            ib = bits - int(round(float(self.f)))
        else:
            ib = fit_int_bits(bits, signed, self.range)
        return FixedFormat(bits, ib, signed, q, o)

    def calibrate(self, values: np.ndarray):
        """Set the range from values about to be quantized (a learned field starts here)."""
        if self.fs.concrete or self.frozen is not None:
            return
        self.range = float(np.max(np.abs(values))) if values.size else 0.0
        if self.learn and self.f is None:
            bits, signed, _, _ = self._base()
            self.f = np.array(float(bits - fit_int_bits(bits, signed, self.range)))

    def observe(self, values: np.ndarray):
        if values.size:
            self.next_range = max(self.next_range, float(np.max(np.abs(values))))

    def end_epoch(self):
        if self.next_range > 0:
            self.range = self.next_range
        self.next_range = 0.0

    def lsq_grad(self, v: np.ndarray, g: np.ndarray):
        """Accumulate dLoss/df for a learned binary point (quantizer input v, output grad g)."""
        if self.f is None:
            return 0.0
        fmt = self.fmt()
        s = fmt.lsb
        q = quantize(v, fmt.replace(overflow="SAT")).raw.astype(np.float64)
        dq_ds = np.where((v / s >= fmt.raw_min) & (v / s <= fmt.raw_max), q - v / s, q)
        return float(np.sum(g * dq_ds)) * (-s * _LN2)


class Network:
    """A spec's network with float parameters, trainable in float or with QAT.

    Parameters
    ----------
    spec : Spec
    rng : numpy.random.Generator
        Initialises the weights.
    input_scale : float
        Typical magnitude (RMS) of the inputs, to scale the first weights' initialisation.
    """

    def __init__(self, spec: Spec, rng: np.random.Generator, input_scale: float = 1.0):
        self.spec = spec
        self.layers = []
        n = spec.input_shape[0]
        scale = max(input_scale, 1e-12)
        for ls in spec.layers:
            where = ls.label
            st = {"spec": ls, "type": ls.type}
            if ls.type == "dense":
                std = math.sqrt(2.0 / n) / scale
                st["W"] = rng.normal(0.0, std, size=(ls.units, n))
                st["b"] = np.zeros(ls.units)
                st["weight"] = Field(ls.weight, "weight", True, f"{where} weight")
                st["bias"] = Field(ls.bias, "bias", True, f"{where} bias")
                st["output"] = Field(ls.output, "output", True, f"{where} output")
                st["acc"] = ls.accumulator
                n, scale = ls.units, 1.0
            elif ls.type == "batchnorm":
                prev = self.layers[-1]
                prev["bn"] = {"gamma": np.ones(n), "beta": np.zeros(n), "mean": np.zeros(n),
                              "var": np.ones(n), "eps": ls.eps}
            elif ls.type in ("relu", "sigmoid", "tanh"):
                st["output"] = Field(ls.output, "output", ls.type == "tanh",
                                     f"{where} output")
            self.layers.append(st)
        self.tables = {}

    # -- parameters -----------------------------------------------------------------------
    def parameters(self) -> list[tuple[str, np.ndarray]]:
        """Trainable arrays (updated in place by the optimizer)."""
        out = []
        for i, st in enumerate(self.layers):
            if st["type"] == "dense":
                out += [(f"{i}.W", st["W"]), (f"{i}.b", st["b"])]
                if "bn" in st:
                    out += [(f"{i}.gamma", st["bn"]["gamma"]), (f"{i}.beta", st["bn"]["beta"])]
            for k in ("weight", "bias", "output"):
                if k in st and st[k].f is not None:
                    out.append((f"{i}.{k}.f", st[k].f))
        return out

    def fields(self):
        for st in self.layers:
            for k in ("weight", "bias", "output"):
                if k in st:
                    yield st[k]

    def load_float(self, weights: dict):
        """Set float parameters from ``"<i>.weight"``/``".bias"``/batchnorm keys."""
        used = set()
        n = self.spec.input_shape[0]
        for i, st in enumerate(self.layers):
            where = st["spec"].label
            if st["type"] == "dense":
                for key, shape in (("weight", (st["spec"].units, n)), ("bias", (st["spec"].units,))):
                    k = f"{i}.{key}"
                    if k not in weights:
                        raise SpecError(f"{where}: float weights have no {k!r}")
                    a = np.asarray(weights[k], dtype=np.float64)
                    if a.shape != shape:
                        raise SpecError(f"{where} field {key!r}: expected shape {shape}, not "
                                        f"{a.shape}")
                    if not np.all(np.isfinite(a)):
                        raise SpecError(f"{where} field {key!r}: float weights must be finite")
                    st["W" if key == "weight" else "b"][...] = a
                    used.add(k)
                n = st["spec"].units
            elif st["type"] == "batchnorm":
                bn = self.layers[i - 1]["bn"]
                for key in ("gamma", "beta", "mean", "var"):
                    k = f"{i}.{key}"
                    if k not in weights:
                        raise SpecError(f"{where}: float weights have no {k!r}")
                    a = np.asarray(weights[k], dtype=np.float64)
                    if a.shape != (n,):
                        raise SpecError(f"{where} field {key!r}: expected shape ({n},), not "
                                        f"{a.shape}")
                    bn[key][...] = a
                    used.add(k)
                if np.any(bn["var"] < 0):
                    raise SpecError(f"{where} field 'var': variances must be non-negative")
        extra = sorted(set(weights) - used)
        if extra:
            raise SpecError(f"float weights: unexpected key {extra[0]!r}")

    # -- forward --------------------------------------------------------------------------
    def _folded(self, st, x_val, train):
        W, b = st["W"], st["b"]
        if "bn" not in st:
            return W, b, None
        bn = st["bn"]
        if train:
            z = x_val @ W.T + b
            mu, var = z.mean(axis=0), z.var(axis=0)
            bn["mean"] = 0.9 * bn["mean"] + 0.1 * mu
            bn["var"] = 0.9 * bn["var"] + 0.1 * var
        else:
            mu, var = bn["mean"], bn["var"]
        inv = 1.0 / np.sqrt(var + bn["eps"])
        scale = bn["gamma"] * inv
        return W * scale[:, None], (b - mu) * scale + bn["beta"], (scale, inv, mu)

    def forward(self, x: np.ndarray, mode: str = "qat", train: bool = False):
        """Run float inputs through the network.

        ``mode``: ``"float"`` (no quantization), ``"qat"`` (every cast through fxp: the
        bit-exact path) or ``"calibrate"`` (``"qat"`` that first sets each open format's range
        from the values it is about to quantize). Returns ``(logits, caches)``; logits are the
        last layer's values before any argmax.
        """
        quant = mode != "float"
        cal = mode == "calibrate"
        in_fmt = self.spec.input_format
        if quant:
            fx = quantize(x, in_fmt, label="model input")
            val = fx.to_float()
        else:
            fx, val = None, np.asarray(x, dtype=np.float64)
        caches = []
        for i, st in enumerate(self.layers):
            t = st["type"]
            c = {"type": t, "x": val}
            if t == "dense":
                W_eff, b_eff, bnc = self._folded(st, val, train)
                c.update(W_eff=W_eff, b_eff=b_eff, bn=bnc)
                if quant:
                    wf, bf, of = st["weight"], st["bias"], st["output"]
                    if cal:
                        wf.calibrate(W_eff)
                        bf.calibrate(b_eff)
                    wq = quantize(W_eff, wf.fmt(), label=f"layer {i} weight")
                    bq = quantize(b_eff, bf.fmt(), label=f"layer {i} bias")
                    acc_fmt = st["acc"].fmt if st["acc"].concrete else None
                    acc = _matmul_acc(fx, wq, bq, acc_fmt, i)
                    acc_val = acc.to_float()
                    if cal:
                        of.calibrate(acc_val)
                    of.observe(acc_val)
                    fx = acc.cast(of.fmt(), label=f"layer {i} dense output")
                    out_fmt, w_fmt, b_fmt = of.fmt(), wf.fmt(), bf.fmt()
                    c.update(W_used=wq.to_float(), pre=acc_val,
                             mask=_inside(acc_val, out_fmt), mask_w=_inside(W_eff, w_fmt),
                             mask_b=_inside(b_eff, b_fmt), in_fmt=in_fmt)
                    val = fx.to_float()
                    in_fmt = out_fmt
                else:
                    c.update(W_used=W_eff)
                    val = val @ W_eff.T + b_eff
            elif t == "relu":
                if quant:
                    of = st["output"]
                    pre = np.maximum(val, 0.0)
                    if cal:
                        of.calibrate(pre)
                    of.observe(pre)
                    fx = L.relu(fx, of.fmt(), label=f"layer {i} relu")
                    c.update(pre=pre, mask=(val > 0) & (val <= of.fmt().max))
                    val = fx.to_float()
                    in_fmt = of.fmt()
                else:
                    c["mask"] = val > 0
                    val = np.maximum(val, 0.0)
            elif t in L.ACTIVATIONS:
                pre = L.ACTIVATIONS[t](val)
                if quant:
                    of = st["output"]
                    if cal:
                        of.calibrate(pre)
                    table, tb = self._table(t, st["spec"], in_fmt, of.fmt())
                    fx = L.lut(fx, table, tb)
                    val = fx.to_float()
                    in_fmt = of.fmt()
                    c["pre"] = pre
                else:
                    val = pre
            caches.append(c)
        return val, caches

    def _table(self, kind, ls, in_fmt, out_fmt):
        tb = ls.table_bits or L.default_table_bits(in_fmt)
        if tb > in_fmt.bits:
            raise SpecError(f"{ls.label} field 'table_bits': {tb} exceeds the {in_fmt.bits} bits "
                            f"of its input {in_fmt}")
        key = (kind, in_fmt, out_fmt, tb)
        if key not in self.tables:
            self.tables[key] = L.make_table(kind, in_fmt, out_fmt, tb)
        return self.tables[key], tb

    # -- backward -------------------------------------------------------------------------
    def backward(self, caches, grad: np.ndarray) -> dict:
        """Gradients of every parameter given dLoss/dlogits (straight-through estimators)."""
        grads = {}
        for i in range(len(self.layers) - 1, -1, -1):
            st, c = self.layers[i], caches[i]
            t = c["type"]
            if t == "dense":
                if "pre" in c and st["output"].f is not None:
                    grads[f"{i}.output.f"] = st["output"].lsq_grad(c["pre"], grad)
                dz = grad * c["mask"] if "mask" in c else grad
                dWu = dz.T @ c["x"]
                dbu = dz.sum(axis=0)
                new_grad = dz @ c["W_used"]
                if "mask_w" in c:
                    if st["weight"].f is not None:
                        grads[f"{i}.weight.f"] = st["weight"].lsq_grad(c["W_eff"], dWu)
                    if st["bias"].f is not None:
                        grads[f"{i}.bias.f"] = st["bias"].lsq_grad(c["b_eff"], dbu)
                    dWu, dbu = dWu * c["mask_w"], dbu * c["mask_b"]
                if c["bn"] is not None:
                    scale, inv, mu = c["bn"]
                    grads[f"{i}.gamma"] = (dWu * st["W"]).sum(axis=1) * inv + \
                        dbu * (st["b"] - mu) * inv
                    grads[f"{i}.beta"] = dbu
                    dWu, dbu = dWu * scale[:, None], dbu * scale
                grads[f"{i}.W"], grads[f"{i}.b"] = dWu, dbu
                grad = new_grad
            elif t == "relu":
                if "pre" in c and st["output"].f is not None:
                    grads[f"{i}.output.f"] = st["output"].lsq_grad(c["pre"], grad)
                grad = grad * c["mask"]
            elif t in L.ACTIVATIONS:
                grad = grad * _DERIV[t](c["x"])
        return grads

    # -- A2Q ------------------------------------------------------------------------------
    def a2q_project(self, acc_bits: int):
        """Shrink each dense row until its accumulator fits a signed ``acc_bits`` register.

        Per output: ``||q_w||_1 <= a2q_l1_bound(P, input) - |bias| / 2**(N - signed)`` in raw
        units (the A2Q bound, with room kept for the bias); checked on the quantized weights.
        """
        in_fmt = self.spec.input_format
        for st in self.layers:
            if st["type"] == "dense":
                if "bn" in st:
                    raise SpecError(f"{st['spec'].label}: train.a2q does not support batchnorm")
                wf, bf = st["weight"].fmt(), st["bias"].fmt()
                prod_frac = wf.frac_bits + in_fmt.frac_bits
                if bf.frac_bits > prod_frac:
                    raise SpecError(f"{st['spec'].label} field 'bias': train.a2q needs at most "
                                    f"{prod_frac} fraction bits (the products'), not {bf}")
                bound = a2q_l1_bound(acc_bits, in_fmt)
                per_unit = 2.0 ** (in_fmt.bits - int(in_fmt.signed))
                b_raw = np.abs(quantize(st["b"], bf).raw) * 2.0 ** (prod_frac - bf.frac_bits)
                if np.any(b_raw / per_unit > bound / 2):   # a bias may use half the range
                    lim = (bound / 2) * per_unit * 2.0 ** -(prod_frac - bf.frac_bits)
                    st["b"][...] = np.clip(st["b"], -lim * bf.lsb, lim * bf.lsb)
                    b_raw = np.abs(quantize(st["b"], bf).raw) * 2.0 ** (prod_frac - bf.frac_bits)
                budget = np.floor(bound - b_raw / per_unit)
                for _ in range(20):
                    l1 = np.abs(quantize(st["W"], wf).raw).sum(axis=1)
                    over = l1 > budget
                    if not over.any():
                        break
                    st["W"][over] *= (budget[over] / l1[over] * 0.98)[:, None]
                in_fmt = st["output"].fmt()
            elif st["type"] in ("relu", "sigmoid", "tanh"):
                in_fmt = st["output"].fmt()

    # -- resolution -----------------------------------------------------------------------
    def resolve(self, x_calib: np.ndarray, a2q_bits: int | None = None) -> Model:
        """Freeze every format (calibrating ``auto`` on ``x_calib``) and build the Model."""
        for f in self.fields():
            f.frozen = None
        with _ovf.overflow_policy("ignore"):
            self.forward(x_calib, "calibrate", train=False)
        for f in self.fields():
            f.frozen = f.fmt()
        params, layers = {}, []
        in_fmt = self.spec.input_format
        for i, st in enumerate(self.layers):
            ls = st["spec"]
            new = _copy_layer(ls)
            if st["type"] == "dense":
                W_eff, b_eff, _ = self._folded(st, None, train=False)
                wq = quantize(W_eff, st["weight"].fmt(), label=f"layer {i} weight")
                bq = quantize(b_eff, st["bias"].fmt(), label=f"layer {i} bias")
                acc = st["acc"].fmt if st["acc"].concrete else \
                    accumulator_format(wq, in_fmt, bias=bq)
                if a2q_bits is not None and acc.bits > a2q_bits:
                    raise SpecError(f"{ls.label}: the A2Q constraint left a {acc.bits}-bit "
                                    f"accumulator, more than {a2q_bits}")
                params[f"{i}.weight"], params[f"{i}.bias"] = wq.raw, bq.raw
                new.weight, new.bias = _fs(wq.fmt), _fs(bq.fmt)
                new.accumulator, new.output = _fs(acc), _fs(st["output"].fmt())
                in_fmt = st["output"].fmt()
            elif st["type"] == "relu":
                new.output = _fs(st["output"].fmt())
                in_fmt = st["output"].fmt()
            elif st["type"] in L.ACTIVATIONS:
                out = st["output"].fmt()
                table, tb = self._table(st["type"], ls, in_fmt, out)
                params[f"{i}.table"] = table.raw
                new.output, new.table_bits = _fs(out), tb
                in_fmt = out
            layers.append(new)
        spec = Spec(name=self.spec.name, input_shape=self.spec.input_shape,
                    input_format=self.spec.input_format, layers=layers,
                    data=dict(self.spec.data), train=dict(self.spec.train),
                    hardware=dict(self.spec.hardware))
        return Model(spec, params)

    def thaw(self):
        """Undo :meth:`resolve`'s freezing so training can go on."""
        for f in self.fields():
            f.frozen = None


def _fs(fmt: FixedFormat) -> FormatSpec:
    return FormatSpec(fmt=fmt)


def _copy_layer(ls):
    from dataclasses import replace
    return replace(ls)


def _inside(v: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    return (v >= fmt.min) & (v <= fmt.max)


def _matmul_acc(x: FixedArray, wq: FixedArray, bq: FixedArray, acc_fmt, i: int) -> FixedArray:
    from ..accumulate import matmul
    return matmul(x, wq.T, acc=acc_fmt, bias=bq, label=f"layer {i} dense accumulator")
