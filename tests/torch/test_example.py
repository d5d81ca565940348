"""examples/torch_digits.py runs (two epochs, no hardware) and writes a loadable artifact."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from fxp.nn import Model, load_vectors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_torch_digits_example(tmp_path):
    out = tmp_path / "torch_digits"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "torch_digits.py"),
                        "-o", str(out), "--epochs", "2", "--no-hardware"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    m = re.search(r"torch_digits: bit-exact test accuracy (0\.\d+), [\d.]+ s per epoch "
                  r"\(2 epochs\)", r.stdout)
    assert m and float(m[1]) > 0.85, r.stdout
    vec = load_vectors(out)
    assert np.array_equal(Model.load(out).predict_raw(vec["inputs"]), vec["outputs"])
