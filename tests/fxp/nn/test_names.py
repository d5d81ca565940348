"""fxp.nn.names: the C++ and Verilog identifier rules, with hdl's messages, importable by fxp."""

import subprocess
import sys

import pytest

from fxp.nn.names import (CPP_KEYWORDS, VERILOG_KEYWORDS, check_cpp_name, check_identifier,
                          check_verilog_name)


def test_keywords():
    assert {"class", "co_await", "xor_eq"} <= CPP_KEYWORDS
    assert {"module", "always_ff", "wire"} <= VERILOG_KEYWORDS


@pytest.mark.parametrize("name, message", [
    ("class", "x: 'class' is a C++ keyword"),
    ("net_t", "x: 'net_t' is reserved in the generated C++ (POSIX reserves names ending in _t; "
              "the generated types use them)"),
    ("a__b", "x: 'a__b' is reserved in the generated C++ (C++ reserves names with a leading "
             "or a double underscore)"),
    ("fc1", "x: 'fc1' collides with an identifier of the generated C++"),
    ("1a", "x: '1a' is not a safe identifier (a letter, then letters, digits or underscores, "
           "at most 63 characters)"),
])
def test_cpp_names(name, message):
    with pytest.raises(ValueError) as info:
        check_cpp_name(name, "x", taken={"fc1"})
    assert str(info.value) == message
    assert check_cpp_name("hidden", "x") == "hidden"


def test_verilog_names():
    with pytest.raises(ValueError) as info:
        check_verilog_name("module", "model name", taken=("clk", "rst"))
    assert str(info.value) == ("model name 'module' is a Verilog keyword or a port name; "
                               "rename the model")
    with pytest.raises(ValueError, match=r"^model name: 3 is not a safe identifier "):
        check_verilog_name(3, "model name")
    assert check_verilog_name("net", "model name", taken=("clk",)) == "net"
    assert check_identifier("a_1", "x") == "a_1"


def test_pure_python():

    r = subprocess.run([sys.executable, "-c", "import importlib.util, sys; "
                        "s = importlib.util.spec_from_file_location('n', 'fxp/nn/names.py'); "
                        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
                        "print(sorted(k for k in sys.modules if k.startswith(('hdl', 'numpy', "
                        "'fxp'))))"], capture_output=True, text=True, check=True)
    assert r.stdout == "[]\n"

