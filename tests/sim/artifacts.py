"""Artifacts for the bench tests: a trained model copied once per hardware configuration, with its RTL."""

from __future__ import annotations

import os
import shutil

import fxp
from fxp.nn import parse_spec, write_artifact
from fxp.nn.training import train
from hdl.rtl.emit import generate_rtl

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Every quantization and every overflow mode in an output format the hardware requantizes to,
# both lookup-table activations, and a last layer whose every output bit is compared.
MIXED = {
    "name": "mixed_modes", "data": {"dataset": "sklearn_digits", "test_fraction": 0.1, "seed": 3},
    "input": {"shape": [64], "format": "ufixed<5,5>"},
    "layers": [
        {"type": "dense", "units": 8, "weight": "fixed<4,1,RND_CONV,SAT>",
         "bias": "fixed<8,4,RND,SAT>", "accumulator": "auto",
         "output": "fixed<9,7,RND_INF,SAT_SYM>"},
        {"type": "tanh", "output": "fixed<6,1,RND_CONV,SAT>", "table_bits": 9},
        {"type": "dense", "units": 6, "weight": "fixed<5,2,TRN_ZERO,SAT>",
         "bias": "fixed<6,2>", "accumulator": "auto", "output": "fixed<6,2,RND_ZERO,WRAP_SM>"},
        {"type": "relu", "output": "ufixed<3,0,RND_MIN_INF,SAT_ZERO>"},
        {"type": "dense", "units": 10, "weight": "fixed<5,1,RND_CONV,SAT>",
         "bias": "fixed<8,3,RND_CONV,SAT>", "accumulator": "auto",
         "output": "fixed<6,0,TRN,WRAP>"},
        {"type": "sigmoid", "output": "ufixed<7,0,TRN_ZERO,SAT>", "table_bits": 6},
        {"type": "dense", "units": 10, "weight": "fixed<6,3,RND_CONV,SAT>",
         "bias": "fixed<6,3,RND_CONV,SAT>", "accumulator": "auto",
         "output": "fixed<6,0,RND,SAT>"},
    ],
    "train": {"epochs": 3, "batch": 64, "lr": 0.01, "seed": 0},
    "hardware": {"strategy": "parallel", "pipeline": 2},
}


def trained(spec, directory):
    """Train ``spec`` (wrapping is intended: overflow is ignored) and write its artifact."""
    with fxp.overflow_policy("ignore"):
        result = train(spec, log=None)
        vectors = result.vectors()
    write_artifact(directory, result.model.spec, result.model.params, vectors)
    return directory


def with_rtl(artifact, directory, **overrides):
    """A copy of ``artifact`` in ``directory`` with RTL generated with ``overrides``."""
    shutil.copytree(artifact, directory)
    generate_rtl(directory, **overrides)
    return directory


def diabetes(directory, epochs=5):
    """The bundled regression example (``train.loss: mse``), briefly trained, as an artifact."""
    from fxp.nn import load_spec
    spec = load_spec(os.path.join(ROOT, "examples", "diabetes_mlp.yaml"))
    spec.train["epochs"] = epochs
    train(spec, log=None).save(directory)
    return directory


def mixed_spec():
    return parse_spec(MIXED)
