"""python -m hdl: bad hardware overrides are one line naming the layer (exit 2, nothing
written); Ctrl-C is one line and exit 130."""

import importlib

import numpy as np
import pytest

import hdl.rtl.emit
from fxp.nn import Model, parse_spec, write_artifact

DOC = {"name": "tiny", "input": {"shape": [6], "format": "fixed<6,2>"},
       "layers": [{"type": "dense", "units": 4, "weight": "fixed<4,1>", "bias": "fixed<4,1>",
                   "accumulator": "fixed<16,8>", "output": "fixed<6,3,RND,SAT>"},
                  {"type": "leaky_relu", "alpha": 0.25, "output": "fixed<6,3,RND,SAT>"},
                  {"type": "dense", "units": 3, "weight": "fixed<4,1>", "bias": "fixed<4,1>",
                   "accumulator": "fixed<16,8>", "output": "fixed<6,3>"}]}


@pytest.fixture
def tiny(tmp_path):
    rng = np.random.default_rng(0)
    params = {"0.weight": rng.integers(-8, 8, (4, 6)), "0.bias": rng.integers(-8, 8, 4),
              "2.weight": rng.integers(-8, 8, (3, 4)), "2.bias": rng.integers(-8, 8, 3)}
    model = Model(parse_spec(DOC), params)
    write_artifact(tmp_path / "tiny", model.spec, model.params)
    return tmp_path / "tiny"


def main(argv):
    return importlib.import_module("hdl.__main__").main(argv)


@pytest.mark.parametrize("args, message", [
    (["--reuse", "0"], "layer 0 (dense) reuse: expected a positive integer, not 0"),
    (["--strategy", "folded", "--reuse", "5"],
     "layer 2 (dense): reuse 5 exceeds the layer's 4 inputs (a folded layer takes at most one "
     "input per cycle); set hardware.layers.2.reuse"),
    (["--pipeline", "-1"], "layer 0 (dense) pipeline: expected a non-negative integer, not -1"),
])
@pytest.mark.parametrize("command", ["rtl", "hls"])
def test_bad_overrides_are_one_line_naming_the_layer(tiny, capsys, monkeypatch, command, args,
                                                     message):
    monkeypatch.delenv("FXP_TRACEBACK", raising=False)
    if command == "hls" and args[0] == "--pipeline":
        args = ["--strategy", "folded", "--reuse", "9"]
        message = ("layer 0 (dense): reuse 9 exceeds the layer's 6 inputs (a folded layer "
                   "takes at most one input per cycle); set hardware.layers.0.reuse")
    code = main([command, str(tiny), *args])
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", f"error: {message}\n")
    assert not (tiny / command).exists()
    assert main([command, str(tiny), "--strategy", "folded", "--reuse", "4"]) == 0
    assert (tiny / command).is_dir()


def test_keyboard_interrupt_is_one_line_and_exit_130(tiny, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(hdl.rtl.emit, "generate_rtl", interrupted)
    monkeypatch.delenv("FXP_TRACEBACK", raising=False)
    try:
        code = main(["rtl", str(tiny)])
    except KeyboardInterrupt:
        raise AssertionError("KeyboardInterrupt escaped hdl.__main__.main") from None
    out, err = capsys.readouterr()
    assert (code, out, err) == (130, "", "interrupted\n")
    assert not (tiny / "rtl").exists()
