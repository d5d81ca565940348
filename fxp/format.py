"""Fixed-point formats: FixedFormat, its quantization/overflow modes, parsing and growth rules."""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Quantization", "Overflow", "FixedFormat", "raw_to_float"]


class Quantization(enum.Enum):
    """How a cast drops fraction bits (ap_fixed ``AP_*`` quantization modes).

    ==========  ==========================================================
    TRN         truncate toward minus infinity (floor); the default
    TRN_ZERO    truncate toward zero
    RND         round to nearest, ties toward plus infinity
    RND_ZERO    round to nearest, ties toward zero
    RND_MIN_INF round to nearest, ties toward minus infinity
    RND_INF     round to nearest, ties away from zero
    RND_CONV    round to nearest, ties to even (convergent)
    ==========  ==========================================================
    """

    TRN = "TRN"
    TRN_ZERO = "TRN_ZERO"
    RND = "RND"
    RND_ZERO = "RND_ZERO"
    RND_MIN_INF = "RND_MIN_INF"
    RND_INF = "RND_INF"
    RND_CONV = "RND_CONV"

    def __str__(self) -> str:
        return self.value


class Overflow(enum.Enum):
    """What a cast does with a value outside the destination range (ap_fixed ``AP_*`` modes).

    ========  ============================================================
    WRAP      keep the low bits (two's complement wrap-around); the default
    SAT       clamp to the closest of min/max
    SAT_ZERO  replace by zero
    SAT_SYM   clamp to +-max (signed: the minimum is -max, not -max-1)
    WRAP_SM   sign-magnitude wrap (signed formats only)
    ========  ============================================================
    """

    WRAP = "WRAP"
    SAT = "SAT"
    SAT_ZERO = "SAT_ZERO"
    SAT_SYM = "SAT_SYM"
    WRAP_SM = "WRAP_SM"

    def __str__(self) -> str:
        return self.value

    @property
    def saturates(self) -> bool:
        """True for the SAT* modes, whose clipping is intended behaviour."""
        return self in (Overflow.SAT, Overflow.SAT_ZERO, Overflow.SAT_SYM)


def _mode(enum_cls, value, what):
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        name = value.strip().upper()
        if name.startswith("AP_"):
            name = name[3:]
        try:
            return enum_cls(name)
        except ValueError:
            pass
        names = ", ".join(m.value for m in enum_cls)
        raise ValueError(f"Unknown {what} mode {value!r}; expected one of {names}")
    raise TypeError(f"{what.capitalize()} mode must be a string or fxp.{enum_cls.__name__}, "
                    f"not {value!r}")


def _int(value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        if hasattr(value, "__index__") and not isinstance(value, bool):
            return int(value.__index__())
        raise TypeError(f"{what} must be an integer, not {value!r}")
    return value


_AP_RE = re.compile(
    r"^\s*(?P<kind>ap_fixed|ap_ufixed|fixed|ufixed)\s*<\s*(?P<args>[^<>]*)>\s*$", re.IGNORECASE)
_Q_RE = re.compile(r"^\s*(?P<u>U?)Q(?P<m>\d*)\.(?P<n>\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FixedFormat:
    """A fixed-point format, exactly ``ap_[u]fixed<bits, int_bits, quantization, overflow>``.

    Parameters
    ----------
    bits : int
        Total width W, at least 1.
    int_bits : int
        Integer bits I, counting the sign bit of a signed format. May be negative or exceed
        ``bits``.
    signed : bool, default True
    quantization : str or Quantization, default "TRN"
        Applied when a cast drops fraction bits.
    overflow : str or Overflow, default "WRAP"
        Applied when a cast result is out of range. WRAP_SM needs a signed format.

    Attributes
    ----------
    frac_bits : int
        ``bits - int_bits``; a raw integer ``r`` stands for ``r * 2**-frac_bits``.

    Examples
    --------
    >>> f = FixedFormat(16, 6, quantization="RND_CONV", overflow="SAT")
    >>> str(f), f.frac_bits, f.max
    ('fixed<16,6,RND_CONV,SAT>', 10, 31.9990234375)
    """

    bits: int
    int_bits: int
    signed: bool = True
    quantization: Quantization = Quantization.TRN
    overflow: Overflow = Overflow.WRAP

    def __post_init__(self):
        bits = _int(self.bits, "Format bits")
        if bits < 1:
            raise ValueError(f"Format bits must be at least 1, not {bits}")
        int_bits = _int(self.int_bits, "Format int_bits")
        if not isinstance(self.signed, bool):
            raise TypeError(f"Format signed must be a bool, not {self.signed!r}")
        q = _mode(Quantization, self.quantization, "quantization")
        o = _mode(Overflow, self.overflow, "overflow")
        if o is Overflow.WRAP_SM and not self.signed:
            raise ValueError(f"Overflow mode WRAP_SM needs a signed format, not "
                             f"ufixed<{bits},{int_bits}>")
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "int_bits", int_bits)
        object.__setattr__(self, "quantization", q)
        object.__setattr__(self, "overflow", o)

    # -- parsing and printing -------------------------------------------------------------
    @classmethod
    def parse(cls, text) -> FixedFormat:
        """Parse ``fixed<W,I[,Q[,O]]>``, ``ufixed<...>``, ``ap_[u]fixed<...>`` (``AP_`` mode
        prefixes allowed, a fifth saturation-bits argument only if 0), ``Qm.n`` (signed, m
        integer bits not counting the sign) or ``UQm.n``.

        A FixedFormat is returned unchanged.
        """
        if isinstance(text, FixedFormat):
            return text
        if not isinstance(text, str):
            raise TypeError(f"Fixed-point format must be a string or FixedFormat, not {text!r}")
        m = _Q_RE.match(text)
        if m:
            ibits = int(m["m"] or 0)
            frac = int(m["n"])
            if m["u"]:
                if ibits + frac < 1:
                    raise ValueError(f"Fixed-point format {text!r} has no bits")
                return cls(ibits + frac, ibits, False)
            return cls(1 + ibits + frac, 1 + ibits, True)
        m = _AP_RE.match(text)
        if not m:
            raise ValueError(f"Malformed fixed-point format {text!r}; expected e.g. "
                             f"'fixed<16,6,RND_CONV,SAT>', 'ap_ufixed<8,0>' or 'Q5.10'")
        args = [a.strip() for a in m["args"].split(",")]
        if not 2 <= len(args) <= 5 or any(a == "" for a in args):
            raise ValueError(f"Malformed fixed-point format {text!r}; expected 2 to 4 arguments "
                             f"<bits,int_bits[,quantization[,overflow]]>")
        try:
            bits, int_bits = int(args[0]), int(args[1])
        except ValueError:
            raise ValueError(f"Malformed fixed-point format {text!r}; bits and int_bits must be "
                             f"integers") from None
        if len(args) == 5 and args[4] != "0":
            raise ValueError(f"Fixed-point format {text!r}: saturation bits (N) other than 0 are "
                             f"not supported")
        signed = not m["kind"].lower().removeprefix("ap_").startswith("u")
        q = args[2] if len(args) > 2 else Quantization.TRN
        o = args[3] if len(args) > 3 else Overflow.WRAP
        return cls(bits, int_bits, signed, q, o)

    def __str__(self) -> str:
        s = f"{'' if self.signed else 'u'}fixed<{self.bits},{self.int_bits}"
        if self.overflow is not Overflow.WRAP:
            s += f",{self.quantization},{self.overflow}"
        elif self.quantization is not Quantization.TRN:
            s += f",{self.quantization}"
        return s + ">"

    def __repr__(self) -> str:
        return f"FixedFormat.parse({str(self)!r})"

    def c_type(self) -> str:
        """The ap_fixed C++ type, e.g. ``ap_fixed<16,6,AP_RND_CONV,AP_SAT>``."""
        return (f"ap_{'' if self.signed else 'u'}fixed<{self.bits},{self.int_bits},"
                f"AP_{self.quantization},AP_{self.overflow}>")

    def replace(self, **changes) -> FixedFormat:
        """A copy with some fields changed (``bits``, ``int_bits``, ``signed``, modes)."""
        fields = dict(bits=self.bits, int_bits=self.int_bits, signed=self.signed,
                      quantization=self.quantization, overflow=self.overflow)
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"FixedFormat has no field {sorted(unknown)[0]!r}")
        fields.update(changes)
        return FixedFormat(**fields)

    # -- derived quantities ---------------------------------------------------------------
    @property
    def frac_bits(self) -> int:
        """Fraction bits, ``bits - int_bits`` (may be negative)."""
        return self.bits - self.int_bits

    @property
    def raw_min(self) -> int:
        """Smallest raw integer."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        """Largest raw integer."""
        return (1 << (self.bits - self.signed)) - 1

    @property
    def lsb(self) -> float:
        """Value of one raw step, ``2**-frac_bits``."""
        return math.ldexp(1.0, -self.frac_bits)

    @property
    def min(self) -> float:
        """Smallest representable value (as a float; exact when it fits a double)."""
        return raw_to_float(self.raw_min, self.frac_bits)

    @property
    def max(self) -> float:
        """Largest representable value (as a float; exact when it fits a double)."""
        return raw_to_float(self.raw_max, self.frac_bits)

    def to_fraction(self, raw: int) -> Fraction:
        """The exact value of one raw integer."""
        return Fraction(int(raw)) * Fraction(2) ** -self.frac_bits

    @property
    def fits_int64(self) -> bool:
        """True when every raw value of the format fits in an int64."""
        return self.bits <= (64 if self.signed else 63)

    # -- growth rules (ap_fixed RType) ----------------------------------------------------
    def mul(self, other) -> FixedFormat:
        """Full-precision product format: W1+W2 bits, I1+I2 integer bits, TRN/WRAP."""
        other = FixedFormat.parse(other)
        return FixedFormat(self.bits + other.bits, self.int_bits + other.int_bits,
                           self.signed or other.signed)

    def add(self, other) -> FixedFormat:
        """Full-precision sum format (ap_fixed ``plus``), TRN/WRAP."""
        other = FixedFormat.parse(other)
        i = max(self.int_bits + (other.signed and not self.signed),
                other.int_bits + (self.signed and not other.signed)) + 1
        f = max(self.frac_bits, other.frac_bits)
        return FixedFormat(i + f, i, self.signed or other.signed)

    def sub(self, other) -> FixedFormat:
        """Full-precision difference format (ap_fixed ``minus``): always signed, TRN/WRAP."""
        other = FixedFormat.parse(other)
        i = max(self.int_bits + (other.signed and not self.signed),
                other.int_bits + (self.signed and not other.signed)) + 1
        f = max(self.frac_bits, other.frac_bits)
        return FixedFormat(i + f, i, True)

    def join(self, other) -> FixedFormat:
        """Smallest TRN/WRAP format holding every value of both formats exactly.

        The result format of :func:`numpy.maximum`, :func:`numpy.where`,
        :func:`numpy.concatenate` and the like on FixedArrays of the two formats.

        Examples
        --------
        >>> str(FixedFormat(8, 3).join(FixedFormat(6, 4, False)))
        'fixed<10,5>'
        """
        other = FixedFormat.parse(other)
        f = max(self.frac_bits, other.frac_bits)
        lo = min(self.raw_min << (f - self.frac_bits), other.raw_min << (f - other.frac_bits))
        hi = max(self.raw_max << (f - self.frac_bits), other.raw_max << (f - other.frac_bits))
        return FixedFormat.holding(lo, hi, f, signed=self.signed or other.signed)

    def neg(self) -> FixedFormat:
        """Format of ``-x``: one more bit, signed (ap_fixed unary minus)."""
        return FixedFormat(self.bits + 1, self.int_bits + 1, True)

    def sum(self, count: int) -> FixedFormat:
        """Exact format for the sum of ``count`` values of this format (a WRAP accumulator).

        The smallest format holding ``count * raw_min`` and ``count * raw_max`` exactly.
        """
        count = _int(count, "Sum count")
        if count < 0:
            raise ValueError(f"Sum count must be non-negative, not {count}")
        return FixedFormat.holding(count * self.raw_min, count * self.raw_max, self.frac_bits,
                                   signed=self.signed)

    @classmethod
    def holding(cls, lo: int, hi: int, frac_bits: int, *, signed: bool | None = None
                ) -> FixedFormat:
        """Smallest TRN/WRAP format with ``frac_bits`` fraction bits holding raw ``lo..hi``.

        Parameters
        ----------
        lo, hi : int
            Smallest and largest raw integer (at ``2**-frac_bits``) the format must hold.
        frac_bits : int
        signed : bool, optional
            Unsigned when ``lo >= 0`` unless ``signed`` is True; always signed when
            ``lo < 0``.

        Examples
        --------
        >>> str(FixedFormat.holding(-5, 12, 2))
        'fixed<5,3>'
        """
        signed = bool(signed) or lo < 0
        if signed:
            bits = max((-lo - 1).bit_length() if lo < 0 else 0,
                       hi.bit_length() if hi > 0 else 0) + 1
        else:
            bits = max(hi.bit_length(), 1)
        return cls(bits, bits - frac_bits, signed)


def raw_to_float(raw: int, frac_bits: int) -> float:
    """Nearest double to ``raw * 2**-frac_bits`` (inf past the double range).

    Parameters
    ----------
    raw : int
        One raw integer (a Python int of any size).
    frac_bits : int
    """
    try:
        return float(Fraction(raw) * Fraction(2) ** -frac_bits) if raw else 0.0
    except OverflowError:
        return math.inf if raw > 0 else -math.inf
