"""Identifier rules of the generated C++ and Verilog: keywords, reserved names, checks."""

from __future__ import annotations

import re

__all__ = ["IDENTIFIER", "CPP_KEYWORDS", "CPP_RESERVED", "VERILOG_KEYWORDS",
           "check_identifier", "check_cpp_name", "check_verilog_name", "generated_cpp_names",
           "check_model_names", "VERILOG_PORTS"]

# Names reach C++ and Verilog: a letter, then letters, digits or underscores (63 at most).
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}\Z")

# C++20 keywords and alternative tokens (C++ keeps growing; reject the newest too).
CPP_KEYWORDS = frozenset("""
    alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t
    char16_t char32_t class compl concept const consteval constexpr constinit const_cast
    continue co_await co_return co_yield decltype default delete do double dynamic_cast else
    enum explicit export extern false float for friend goto if inline int long mutable
    namespace new noexcept not not_eq nullptr operator or or_eq private protected public
    register reinterpret_cast requires return short signed sizeof static static_assert
    static_cast struct switch template this thread_local throw true try typedef typeid
    typename union unsigned using virtual void volatile wchar_t while xor xor_eq
""".split())

# Names the generated files use from their includes (the testbench's main, namespaces) and
# lower-case macros of the C library headers that ap_fixed.h and the testbench include
# (glibc: checked against g++ -dM by tests/hdl/hls).
CPP_RESERVED = frozenset("""
    main argc argv std nnet hls
    alloca assert assert_perror errno math_errhandling offsetof stderr stdin stdout strdupa
    strndupa issubnormal sched_priority pthread_cleanup_push pthread_cleanup_pop
    pthread_cleanup_push_defer_np pthread_cleanup_pop_restore_np
    be16toh be32toh be64toh htobe16 htobe32 htobe64 htole16 htole32 htole64
    le16toh le32toh le64toh
""".split())

_RESERVED_PREFIXES = ("ap_", "AP_", "ssdm_", "hls_", "nnet_")
_MACRO_STYLE = re.compile(r"[A-Z][A-Z0-9_]*|[A-Z]_\w*")

# Verilog-2005 and SystemVerilog-2017 keywords a module name must not be.
VERILOG_KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic
before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle
checker class clocking cmos config const constraint context continue cover covergroup
coverpoint cross deassign default defparam design disable dist do edge else end endcase
endchecker endclass endclocking endconfig endfunction endgenerate endgroup endinterface
endmodule endpackage endprimitive endprogram endproperty endspecify endsequence endtable
endtask enum event eventually expect export extends extern final first_match for force
foreach forever fork forkjoin function generate genvar global highz0 highz1 if iff ifnone
ignore_bins illegal_bins implements implies import incdir include initial inout input inside
instance int integer interconnect interface intersect join join_any join_none large let
liblist library local localparam logic longint macromodule matches medium modport module
nand negedge nettype new nexttime nmos nor noshowcancelled not notif0 notif1 null or output
package packed parameter pmos posedge primitive priority program property protected pull0
pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase
randsequence rcmos real realtime ref reg reject_on release repeat restrict return rnmos
rpmos rtran rtranif0 rtranif1 s_always s_eventually s_nexttime s_until s_until_with
scalared sequence shortint shortreal showcancelled signed small soft solve specify
specparam static string strong strong0 strong1 struct super supply0 supply1 sync_accept_on
sync_reject_on table tagged task this throughout time timeprecision timeunit tran tranif0
tranif1 tri tri0 tri1 triand trior trireg type typedef union unique unique0 unsigned until
until_with untyped use uwire var vectored virtual void wait wait_order wand weak weak0 weak1
while wildcard wire with within wor xnor xor
""".split())


def check_identifier(name, where: str) -> str:
    """A name that is safe in C++ and Verilog: a letter, then letters, digits or underscores.

    Raises
    ------
    ValueError
        Naming ``where`` when ``name`` is not such a string.
    """
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise ValueError(f"{where}: {name!r} is not a safe identifier (a letter, then letters, "
                         f"digits or underscores, at most 63 characters)")
    return name


def check_cpp_name(name, where: str, taken=()) -> str:
    """A model or layer name that is safe as a C++ identifier in the generated code.

    Parameters
    ----------
    name : str
    where : str
        What is named, for the message (``"model name"``, ``"layer 2 (relu) name"``).
    taken : collection of str
        Identifiers the generated code already uses.

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    ValueError
        When ``name`` is not a safe identifier, is a C++ keyword, is reserved (a leading or
        double underscore, a ``_t`` suffix, a macro-style name, a name of the headers the
        generated code includes) or collides with ``taken``.
    """
    check_identifier(name, where)
    if name in CPP_KEYWORDS:
        raise ValueError(f"{where}: {name!r} is a C++ keyword")
    reason = None
    if name.startswith("_") or "__" in name:
        reason = "C++ reserves names with a leading or a double underscore"
    elif name.endswith("_t"):
        reason = "POSIX reserves names ending in _t; the generated types use them"
    elif _MACRO_STYLE.fullmatch(name):
        reason = "all-capital names and a capital then an underscore are left to macros"
    elif name in CPP_RESERVED or name.startswith(_RESERVED_PREFIXES):
        reason = "the generated code or its headers use it"
    if reason:
        raise ValueError(f"{where}: {name!r} is reserved in the generated C++ ({reason})")
    if name in taken:
        raise ValueError(f"{where}: {name!r} collides with an identifier of the generated C++")
    return name


def check_verilog_name(name, where: str, taken=()) -> str:
    """A model name that is safe as the generated Verilog module's name.

    Parameters
    ----------
    name : str
    where : str
        What is named, for the message (``"model name"``).
    taken : collection of str
        Names the module already uses (its port names).

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    ValueError
        When ``name`` is not a safe identifier, is a Verilog or SystemVerilog keyword or is
        in ``taken``.
    """
    check_identifier(name, where)
    if name in VERILOG_KEYWORDS or name in taken:
        raise ValueError(f"{where} {name!r} is a Verilog keyword or a port name; rename "
                         f"the model")
    return name


# The generated C++'s own identifiers: fixed ones, and per layer index i (hdl.hls follows this).
_CPP_FIXED = ("input_t", "output_t", "N_IN", "N_OUT", "in", "out")
_CPP_PER_LAYER = ("layer{i}_t", "weight{i}_t", "bias{i}_t", "accum{i}_t", "config{i}", "w{i}",
                  "b{i}", "table{i}", "layer{i}_out", "exp_table{i}", "recip_table{i}")
# The ports of the generated Verilog top besides the streams' (hdl.rtl's clock and reset).
VERILOG_PORTS = ("clk", "rst")


def generated_cpp_names(layers: int) -> frozenset:
    """The identifiers the generated C++ declares for a model of ``layers`` layers, besides
    the model and layer names."""
    return frozenset(_CPP_FIXED) | {p.format(i=i) for i in range(layers)
                                    for p in _CPP_PER_LAYER}


def check_model_names(model: str, layers: list) -> None:
    """The model name and the layer names (``(where, name)`` pairs, None for unnamed) as the
    generated C++ and Verilog need them: checked when a spec loads.

    Raises
    ------
    ValueError
        The first name that is unusable, naming it.
    """
    taken = generated_cpp_names(len(layers))
    check_cpp_name(model, "model name", taken)
    check_verilog_name(model, "model name", VERILOG_PORTS)
    for where, name in layers:
        if name is not None:
            check_cpp_name(name, where, taken | {model})
