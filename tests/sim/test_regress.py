"""python -m sim --regress: artifacts x simulators on the sweep engine's process pool, one table,
exit 1 on a mismatch (an artifact whose weights no longer match its RTL), 0 when all pass,
one-line errors. Icarus only, a tiny model, few vectors."""

import re
import shutil

import numpy as np
import pytest

from fxp.nn import parse_spec
from hdl.rtl.emit import generate_rtl
from sim.__main__ import main

from .artifacts import trained

TINY = {
    "name": "tiny_reg", "data": {"dataset": "sklearn_digits", "test_fraction": 0.03, "seed": 0},
    "input": {"shape": [64], "format": "ufixed<5,5>"},
    "layers": [
        {"type": "dense", "units": 4, "weight": "fixed<4,1,RND_CONV,SAT>",
         "bias": "fixed<8,4,RND_CONV,SAT>", "accumulator": "auto",
         "output": "fixed<8,4,RND_CONV,SAT>"},
        {"type": "relu", "output": "ufixed<6,3,RND_CONV,SAT>"},
        {"type": "dense", "units": 10, "weight": "fixed<4,1,RND_CONV,SAT>",
         "bias": "fixed<8,4,RND_CONV,SAT>", "accumulator": "auto",
         "output": "fixed<8,4,RND_CONV,SAT>"},
    ],
    "train": {"epochs": 3, "batch": 64, "lr": 0.01, "seed": 0},
    "hardware": {"strategy": "parallel"},
}
ROW = r"(\S+)\s+icarus\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+(\S+)"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A good artifact and a copy whose last biases were raised by one LSB after its RTL was
    generated: the emulator's outputs are one LSB above the RTL's (short of saturation)."""
    root = tmp_path_factory.mktemp("regress")
    good = trained(parse_spec(TINY), root / "good")
    generate_rtl(good)
    broken = root / "broken"
    shutil.copytree(good, broken)
    with np.load(broken / "weights.npz") as f:
        params = dict(f)
    params["2.bias"] = np.clip(params["2.bias"] + 1, -128, 126)     # fixed<8,4>: one LSB
    np.savez(broken / "weights.npz", **params)
    return good, broken


def test_regress_table_and_exit_code(artifacts, capfd):
    good, broken = artifacts
    assert main(["--regress", str(good), str(broken), "--sim", "icarus", "--vectors", "10",
                 "--jobs", "2"]) == 1
    out, err = capfd.readouterr()
    lines = out.splitlines()
    assert re.fullmatch(r"artifact\s+simulator\s+vectors\s+mismatches\s+cycles\s+seconds\s+"
                        r"result", lines[0])
    rows = [re.fullmatch(ROW, line).groups() for line in lines[1:]]
    assert [(r[0], r[5]) for r in rows] == [(str(good), "pass"), (str(broken), "MISMATCH")]
    assert rows[0][1] == rows[1][1] and int(rows[0][1]) > 10      # test vectors + 10 random
    assert rows[0][2] == "0" and int(rows[1][2]) > 0
    assert re.search(rf"\[\d/2\] {re.escape(str(broken))} icarus: \d+ vectors, {rows[1][2]} "
                     rf"mismatches", err)
    assert f"{broken} icarus: vector " in err                     # its first mismatch report

    # the good one alone passes (its build is reused)
    assert main(["--regress", str(good), "--sim", "icarus", "--vectors", "10", "--jobs",
                 "1"]) == 0
    out, _ = capfd.readouterr()
    assert re.fullmatch(ROW, out.splitlines()[1]).group(3) == "0"


@pytest.mark.parametrize("argv, message", [
    (["--regress", "{tmp}/none"], "{tmp}/none: not an artifact (no model.yaml)"),
    (["--regress", "{good}", "--sim", "icarus,vhdl"], "--sim: 'vhdl' is not icarus or "
                                                      "verilator"),
    (["--regress", "{good}", "{good}"], "--regress: {good} is given twice"),
    (["--regress", "{good}", "--scheduler", "nowhere"], "--scheduler: 'nowhere' is not "
                                                        "tcp://HOST:PORT, local or local:N"),
    (["{good}", "--sim", "icarus,verilator"], "--sim: 'icarus,verilator': one simulator "
                                              "without --regress"),
    (["{good}", "--scheduler", "local"], "--scheduler needs --regress"),
], ids=["missing", "sim", "twice", "scheduler", "one-sim", "needs-regress"])
def test_bad_input_is_a_one_line_error(artifacts, tmp_path, capfd, argv, message):
    sub = {"tmp": str(tmp_path), "good": str(artifacts[0])}
    assert main([a.format(**sub) for a in argv]) == 2
    out, err = capfd.readouterr()
    assert (out, err) == ("", "error: " + message.format(**sub) + "\n")
