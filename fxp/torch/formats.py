"""Format arguments of the fxp.torch modules: concrete, ``auto`` or a learned binary point."""

from __future__ import annotations

import math
import re

import torch

from ..format import FixedFormat, Overflow
from ..nn.fields import FormatSpec, parse_format
from ..nn.trainformat import DEFAULT_BITS, fit_int_bits
from .quantize import quantize, quantize_raw

__all__ = ["format_spec", "FormatField"]

_OPEN_RE = re.compile(r"^\s*(?P<kind>ap_fixed|ap_ufixed|fixed|ufixed)\s*<\s*(?P<bits>[^,<>]+),"
                      r"\s*(?P<ib>auto|learn)\s*(?P<rest>(,[^<>]*)?)>\s*$", re.IGNORECASE)
_LN2 = math.log(2.0)


def format_spec(value, where: str, *, allow_open: bool = True) -> FormatSpec:
    """A module's format argument as a spec field.

    Accepts a :class:`~fxp.FixedFormat`, a format string (``"fixed<8,3,RND_CONV,SAT>"``),
    ``"auto"``, a string whose int_bits is ``auto`` or ``learn`` (``"fixed<8,auto>"``,
    ``"ufixed<8,learn,RND_CONV,SAT>"``: quantization and overflow default to TRN and WRAP as
    in any format string) or a spec mapping (``{"bits": 8, "int_bits": "auto", ...}``).

    Raises
    ------
    TypeError
        For another type, naming ``where``.
    ValueError
        For a malformed format, naming ``where``.
    """
    if isinstance(value, FixedFormat):
        return FormatSpec(fmt=value)
    given = value
    if isinstance(value, str):
        m = _OPEN_RE.match(value)
        if m:
            rest = [r.strip() for r in m["rest"].split(",")[1:]]
            if len(rest) > 2:
                raise ValueError(f"{where}: malformed format {value!r}; expected "
                                 f"fixed<bits,auto|learn[,quantization[,overflow]]>")
            try:
                bits = int(m["bits"])
            except ValueError:
                raise ValueError(f"{where}: malformed format {value!r}; bits must be an "
                                 f"integer") from None
            mapping = {"bits": bits, "int_bits": m["ib"].lower(),
                       "signed": not m["kind"].lower().removeprefix("ap_").startswith("u")}
            for key, v in zip(("quantization", "overflow"), rest):
                mapping[key] = v
            value = mapping
    elif not isinstance(value, dict):
        raise TypeError(f"{where}: expected a format string, 'auto', a FixedFormat or a "
                        f"mapping, not {value!r}")
    fs = parse_format(value, where)
    if not allow_open and not fs.concrete:
        raise ValueError(f"{where}: must be a concrete format, not {given!r}")
    return fs


class FormatField:
    """One format of a module while training, as :class:`fxp.nn.trainformat.TrainedFormat`.

    Concrete; ``auto`` (``DEFAULT_BITS[kind]`` bits, RND_CONV/SAT, int_bits from the
    calibrated range); int_bits ``auto`` (from the range); or int_bits ``learn``: the
    fraction bits are the parameter :attr:`f`, trained through the quantizer's step size
    (LSQ-style) and initialised at calibration.

    The range is set by :meth:`calibrate` (or by the first training batch when it was never
    calibrated), and in training by the largest magnitude observed over an epoch
    (:meth:`end_epoch`). It lives in the tensor :attr:`state` (``[range, calibrated]``), which
    the owning module registers as a buffer: a ``state_dict`` keeps the formats in force.
    """

    def __init__(self, value, kind: str, signed: bool, where: str):
        self.spec = format_spec(value, where)
        self.kind, self.where = kind, where
        fs = self.spec
        self.signed = fs.signed if not fs.auto and not fs.concrete else signed
        self.state = torch.tensor([0.0, float(fs.concrete)], dtype=torch.float64)
        self.next_range = 0.0
        self.f = torch.nn.Parameter(torch.zeros((), dtype=torch.float64)) if fs.learn else None

    @property
    def concrete(self) -> bool:
        return self.spec.concrete

    @property
    def range(self) -> float:
        """The largest magnitude the format must hold (``auto`` int_bits)."""
        return float(self.state[0])

    @range.setter
    def range(self, value: float) -> None:
        self.state[0] = value

    @property
    def calibrated(self) -> bool:
        return bool(self.state[1])

    @calibrated.setter
    def calibrated(self, value: bool) -> None:
        self.state[1] = float(value)

    def _base(self):
        if self.spec.auto:
            return DEFAULT_BITS[self.kind], self.signed, "RND_CONV", "SAT"
        fs = self.spec
        return fs.bits, fs.signed, fs.quantization, fs.overflow

    def fmt(self) -> FixedFormat:
        """The format in force."""
        if self.spec.concrete:
            return self.spec.fmt
        bits, signed, q, o = self._base()
        if self.f is not None and self.calibrated:
            ib = bits - int(round(float(self.f.detach())))
        else:
            ib = fit_int_bits(bits, signed, self.range)
        return FixedFormat(bits, ib, signed, q, o)

    def calibrate(self, values: torch.Tensor) -> None:
        """Set the range from values about to be quantized (a learned field starts here)."""
        if self.spec.concrete:
            return
        self.range = float(values.detach().abs().max()) if values.numel() else 0.0
        if self.f is not None and not self.calibrated:
            bits, signed, _, _ = self._base()
            with torch.no_grad():
                self.f.fill_(float(bits - fit_int_bits(bits, signed, self.range)))
        self.calibrated = True

    def observe(self, values: torch.Tensor) -> None:
        if values.numel() and not self.spec.concrete:
            self.next_range = max(self.next_range, float(values.detach().abs().max()))

    def end_epoch(self) -> None:
        if self.next_range > 0:
            self.range = self.next_range
        self.next_range = 0.0

    def quantize(self, t: torch.Tensor, label: str) -> torch.Tensor:
        """Fake-quantize ``t`` (calibrating first if the field never was)."""
        if not self.calibrated:
            self.calibrate(t)
        fmt = self.fmt()
        if self.f is None:
            return quantize(t, fmt, label=label)
        return _LearnedQuantize.apply(t, self.f, fmt, label)


class _LearnedQuantize(torch.autograd.Function):
    """Quantize with a trained binary point: STE for the input, LSQ gradient for ``f``
    (as :meth:`fxp.nn.trainformat.TrainedFormat.lsq_grad`)."""

    @staticmethod
    def forward(ctx, t, f, fmt, label):
        raw, inside = quantize_raw(t, fmt, label=label)
        ctx.save_for_backward(t.detach().to(torch.float64), inside)
        ctx.fmt = fmt
        return (raw * fmt.lsb).to(t.dtype)

    @staticmethod
    def backward(ctx, grad):
        v, inside = ctx.saved_tensors
        fmt = ctx.fmt
        s = fmt.lsb
        q, _ = quantize_raw(v, fmt.replace(overflow=Overflow.SAT), label="learned binary point")
        vs = v / s
        dq_ds = torch.where((vs >= fmt.raw_min) & (vs <= fmt.raw_max), q - vs, q)
        g = grad.to(torch.float64)
        gf = (g * dq_ds).sum() * (-s * _LN2)
        return grad * inside.to(grad.dtype), gf.to(torch.float64), None, None

