"""Spec fields: SpecError, formats as a spec writes them, and the key and value checks."""

from __future__ import annotations

from dataclasses import dataclass

from ..format import FixedFormat
from . import names
from .names import IDENTIFIER

__all__ = ["SpecError", "FormatSpec", "parse_format", "check_keys", "check_types",
           "positive_int", "nonnegative_int", "check_identifier", "IDENTIFIER"]



class SpecError(ValueError):
    """A spec is invalid; the message names the layer index and field."""


@dataclass(frozen=True)
class FormatSpec:
    """A format in a spec: concrete, fully ``auto``, or with ``int_bits`` auto/learn.

    Attributes
    ----------
    fmt : FixedFormat or None
        The concrete format when nothing is left to resolve.
    auto : bool
        The whole format is ``auto``.
    bits, signed, quantization, overflow :
        For a partial format (``int_bits`` is ``"auto"`` or ``"learn"``).
    int_bits : int or str or None
    """

    fmt: FixedFormat | None = None
    auto: bool = False
    bits: int | None = None
    int_bits: int | str | None = None
    signed: bool = True
    quantization: str = "TRN"
    overflow: str = "WRAP"

    @property
    def concrete(self) -> bool:
        return self.fmt is not None

    @property
    def learn(self) -> bool:
        return self.int_bits == "learn"

    def with_int_bits(self, int_bits: int) -> FixedFormat:
        """The concrete format once ``int_bits`` is chosen."""
        return FixedFormat(self.bits, int_bits, self.signed, self.quantization, self.overflow)

    def dump(self):
        if self.fmt is not None:
            return str(self.fmt)
        if self.auto:
            return "auto"
        return {"bits": self.bits, "int_bits": self.int_bits, "signed": self.signed,
                "quantization": self.quantization, "overflow": self.overflow}


_FORMAT_KEYS = {"bits", "int_bits", "signed", "quantization", "overflow"}


def parse_format(value, where: str, allow_auto: bool = True) -> FormatSpec:
    """Parse a format field: a string, ``auto``, or a mapping with auto/learn int_bits."""
    if isinstance(value, str) and value.strip() == "auto":
        if not allow_auto:
            raise SpecError(f"{where}: must be a concrete format, not 'auto'")
        return FormatSpec(auto=True)
    if isinstance(value, str):
        try:
            return FormatSpec(fmt=FixedFormat.parse(value))
        except (TypeError, ValueError) as e:
            raise SpecError(f"{where}: {e}") from None
    if isinstance(value, dict):
        unknown = sorted(set(value) - _FORMAT_KEYS)
        if unknown:
            raise SpecError(f"{where}: unknown key {unknown[0]!r}; expected "
                            f"{', '.join(sorted(_FORMAT_KEYS))}")
        if "bits" not in value or "int_bits" not in value:
            raise SpecError(f"{where}: a format mapping needs 'bits' and 'int_bits'")
        ib = value["int_bits"]
        if ib in ("auto", "learn") and not allow_auto:
            raise SpecError(f"{where}: must be a concrete format, not int_bits {ib!r}")
        try:
            probe = FixedFormat(value["bits"], 0 if ib in ("auto", "learn") else ib,
                                value.get("signed", True), value.get("quantization", "TRN"),
                                value.get("overflow", "WRAP"))
        except (TypeError, ValueError) as e:
            msg = str(e)
            if ib in ("auto", "learn"):  # the probe's int_bits 0 stands for auto/learn
                msg = msg.replace(f"<{value['bits']},0>", f"<{value['bits']},{ib}>")
            raise SpecError(f"{where}: {msg}") from None
        if ib not in ("auto", "learn"):
            return FormatSpec(fmt=probe)
        return FormatSpec(bits=probe.bits, int_bits=ib, signed=probe.signed,
                          quantization=probe.quantization.value,
                          overflow=probe.overflow.value)
    raise SpecError(f"{where}: expected a format string such as 'fixed<8,3,RND_CONV,SAT>', "
                    f"'auto' or a mapping, not {value!r}")




def check_keys(obj, required, optional, where):
    """``obj`` is a mapping with every ``required`` key and no key outside ``optional``."""
    if not isinstance(obj, dict):
        raise SpecError(f"{where}: expected a mapping, not {obj!r}")
    allowed = required | optional
    unknown = sorted(set(obj) - allowed, key=str)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}; expected one of "
                        f"{', '.join(sorted(allowed))}")
    missing = sorted(required - set(obj))
    if missing:
        raise SpecError(f"{where}: missing key {missing[0]!r}")


def check_types(obj, types, where):
    """Each value of ``obj`` has the type ``types[key]`` (an int passes for a float)."""
    for k, v in obj.items():
        t = types[k]
        ok = isinstance(v, t) and not (t is int and isinstance(v, bool))
        if t is float and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if not ok:
            name = " or ".join(c.__name__ for c in t) if isinstance(t, tuple) else t.__name__
            raise SpecError(f"{where}.{k}: expected {name}, not {v!r}")


def positive_int(v, where):
    """``v`` itself when it is an integer >= 1 (not a bool)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise SpecError(f"{where}: expected a positive integer, not {v!r}")
    return v


def nonnegative_int(v, where):
    """``v`` itself when it is an integer >= 0 (not a bool)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise SpecError(f"{where}: expected a non-negative integer, not {v!r}")
    return v


def check_identifier(name, where) -> str:
    """Names reach C++ and Verilog: letters, digits and underscores, starting with a letter."""
    try:
        return names.check_identifier(name, where)
    except ValueError as e:
        raise SpecError(str(e)) from None
