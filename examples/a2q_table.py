"""Accuracy of examples/digits_mlp_a2q.yaml trained at accumulator widths P = 16, 14, 12, 10.

Run: .venv/bin/python examples/a2q_table.py
"""

import os
import sys

from fxp.nn import load_spec
from fxp.nn.training import train


def main(widths=(16, 14, 12, 10)):
    spec = load_spec(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "digits_mlp_a2q.yaml"))
    print(f"{'P':>3}  {'bit-exact acc':>13}  {'float acc':>9}  accumulators")
    for p in widths:
        spec.train["a2q"] = {"accumulator_bits": p}
        r = train(spec, log=None)
        accs = ", ".join(str(layer.accumulator.fmt) for layer in r.model.spec.layers
                         if layer.type == "dense")
        print(f"{p:>3}  {r.fixed_accuracy:13.4f}  {r.float_accuracy:9.4f}  {accs}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
