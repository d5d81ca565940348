"""Model and layer names that reach the generated C++: checked against C++ and our identifiers."""

from __future__ import annotations

import re

from fxp.nn.spec import SpecError, check_identifier

__all__ = ["CPP_KEYWORDS", "RESERVED", "check_cpp_name"]

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
# (glibc: checked against g++ -dM by tests/hls).
RESERVED = frozenset("""
    main argc argv std nnet hls
    alloca assert assert_perror errno math_errhandling offsetof stderr stdin stdout strdupa
    strndupa issubnormal sched_priority pthread_cleanup_push pthread_cleanup_pop
    pthread_cleanup_push_defer_np pthread_cleanup_pop_restore_np
    be16toh be32toh be64toh htobe16 htobe32 htobe64 htole16 htole32 htole64
    le16toh le32toh le64toh
""".split())

_RESERVED_PREFIXES = ("ap_", "AP_", "ssdm_", "hls_", "nnet_")
_MACRO_STYLE = re.compile(r"[A-Z][A-Z0-9_]*|[A-Z]_\w*")


def check_cpp_name(name, where: str, taken=frozenset()) -> str:
    """A model or layer name that is safe as a C++ identifier in the generated code.

    Parameters
    ----------
    name : str
    where : str
        What is named, for the message (``"model name"``, ``"layer 2 (relu) name"``).
    taken : set of str
        Identifiers the generated code already uses.

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    SpecError
        When ``name`` is not a safe identifier, is a C++ keyword, is reserved (a leading or
        double underscore, a ``_t`` suffix, a macro-style name, a name of the headers the
        generated code includes) or collides with ``taken``.
    """
    check_identifier(name, where)
    if name in CPP_KEYWORDS:
        raise SpecError(f"{where}: {name!r} is a C++ keyword")
    reason = None
    if name.startswith("_") or "__" in name:
        reason = "C++ reserves names with a leading or a double underscore"
    elif name.endswith("_t"):
        reason = "POSIX reserves names ending in _t; the generated types use them"
    elif _MACRO_STYLE.fullmatch(name):
        reason = "all-capital names and a capital then an underscore are left to macros"
    elif name in RESERVED or name.startswith(_RESERVED_PREFIXES):
        reason = "the generated code or its headers use it"
    if reason:
        raise SpecError(f"{where}: {name!r} is reserved in the generated C++ ({reason})")
    if name in taken:
        raise SpecError(f"{where}: {name!r} collides with an identifier of the generated C++")
    return name
