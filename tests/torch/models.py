"""fxp.torch models for the tests: a digits MLP and one with every mode, trained a little."""

from __future__ import annotations

import math

import numpy as np
import torch

import fxp
import fxp.torch as ft
from fxp.nn.data import load_data

# These tensors are tiny: intra-op threads only add synchronisation (5-20x slower epochs on a
# busy 2-core machine).
torch.set_num_threads(1)


def digits():
    return load_data({"dataset": "sklearn_digits", "test_fraction": 0.2, "seed": 0})


def digits_model(batchnorm: bool = False):
    """examples/digits_mlp.yaml in fxp.torch (optionally with a folded batchnorm)."""
    torch.manual_seed(0)
    layers = [ft.Input(64, "ufixed<5,5>"),
              ft.Linear(64, 32, weight="fixed<6,1,RND_CONV,SAT>",
                        bias="fixed<12,5,RND_CONV,SAT>", output="fixed<10,5,RND_CONV,SAT>")]
    if batchnorm:
        layers.append(ft.BatchNorm1d(32))
    layers += [ft.ReLU(output="ufixed<8,4,RND_CONV,SAT>"),
               ft.Linear(32, 10, weight="fixed<6,1,RND_CONV,SAT>",
                         bias="fixed<12,5,RND_CONV,SAT>", output="fixed<12,6,RND_CONV,SAT>"),
               ft.Argmax()]
    return ft.Sequential(*layers)


def every_mode_model():
    """Every quantization and overflow mode in some output, both tables, leaky ReLU, a folded
    batchnorm, a concrete (wrapping) accumulator, auto and learned formats, no argmax."""
    torch.manual_seed(1)
    return ft.Sequential(
        ft.Input(64, "ufixed<5,5>"),
        ft.Linear(64, 8, weight="fixed<4,1,RND_CONV,SAT>", bias="fixed<8,4,RND,SAT>",
                  output="fixed<9,7,RND_INF,SAT_SYM>"),
        ft.BatchNorm1d(8),
        ft.Tanh(output="fixed<6,1,RND_CONV,SAT>", table_bits=9),
        ft.Linear(8, 6, weight="fixed<5,2,TRN_ZERO,SAT>", bias="fixed<6,2>",
                  accumulator="fixed<11,3>", output="fixed<6,2,RND_ZERO,WRAP_SM>"),
        ft.ReLU(output="ufixed<3,0,RND_MIN_INF,SAT_ZERO>"),
        ft.Linear(6, 10, weight={"bits": 5, "int_bits": "learn", "quantization": "RND_CONV",
                                 "overflow": "SAT"},
                  bias="auto", output="fixed<6,0,TRN,WRAP>"),
        ft.Sigmoid(output="ufixed<7,0,TRN_ZERO,SAT>", table_bits=6),
        ft.Linear(10, 12, weight="fixed<6,auto,RND_CONV,SAT>", bias="fixed<6,3,RND_CONV,SAT>",
                  output="fixed<8,2,RND,SAT>"),
        ft.LeakyReLU(0.125, output="fixed<8,3,TRN,WRAP>"),
        ft.Linear(12, 10, weight="fixed<6,2,RND_CONV,SAT>", bias="fixed<8,3,RND_CONV,SAT>",
                  output="auto"),
    )


def train(model, data, epochs: int, lr: float = 0.005, batch: int = 64):
    """A plain PyTorch QAT loop (Adam, cross-entropy); calibrated on the training data first
    and last, as fxp.nn does."""
    x = torch.from_numpy(data.x_train)
    y = torch.from_numpy(data.y_train)
    with torch.no_grad():   # the first weights see inputs of RMS ~7
        model.layers[0].weight /= float(np.sqrt(np.mean(data.x_train ** 2)))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    with fxp.overflow_policy("ignore"):
        model.calibrate(x)
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(x), generator=g)
            for s in range(0, len(x), batch):
                idx = order[s:s + batch]
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                model.a2q_project()
            model.end_epoch()
        model.calibrate(x)
    return model.eval()


def probe_inputs(fmt, features: int, n: int, seed: int = 0) -> np.ndarray:
    """``n`` raw inputs: the extremes first (all minimum, all maximum, alternating, one hot),
    then uniformly random raw values."""
    fmt = fxp.FixedFormat.parse(fmt)
    lo, hi = fmt.raw_min, fmt.raw_max
    ext = [np.full(features, lo), np.full(features, hi),
           np.where(np.arange(features) % 2, lo, hi), np.where(np.arange(features) % 2, hi, lo)]
    ext += [np.where(np.arange(features) == k, hi, lo) for k in range(min(features, 16))]
    rng = np.random.default_rng(seed)
    rand = rng.integers(lo, hi + 1, size=(n - len(ext), features))
    return np.concatenate([np.array(ext, dtype=np.int64), rand]).astype(np.int64)


def raw_outputs(model, x_raw: np.ndarray) -> np.ndarray:
    """The eval forward of ``model`` on raw inputs, as raw integers (or class indices)."""
    fmt = model.input.fmt
    y, out_fmt = model.run(torch.from_numpy(np.ldexp(x_raw.astype(np.float64),
                                                    -fmt.frac_bits)), "eval")
    y = y.detach().numpy()
    if y.dtype.kind in "iu":
        return y
    raw = np.ldexp(y, out_fmt.frac_bits)
    assert np.array_equal(raw, np.round(raw)) and math.isfinite(float(np.abs(raw).max()))
    return raw.astype(np.int64)
