"""Fake quantization of torch tensors, bit-identical to :func:`fxp.quantize`; STE gradient."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import overflow as _ovf
from ..format import FixedFormat, Overflow, Quantization
from ..quantize import quantize as fxp_quantize

__all__ = ["quantize", "quantize_raw", "inside_range"]

# As fxp.quantize's float64 fast path: raw values exact in a double, 2**frac_bits a normal
# double. Other formats take fxp.quantize itself (numpy, exact integers).
_FAST_MAX_BITS = 53
_FAST_MAX_SCALE = 1000


def quantize(t: torch.Tensor, fmt, *, label: str | None = None) -> torch.Tensor:
    """Quantize a tensor to ``fmt`` and back to floats: fake quantization for training.

    The forward is bit-identical to ``fxp.quantize(t, fmt).to_float()`` (a cast from each
    value's exact binary value: round with the format's quantization, then apply its
    overflow mode), for every quantization and overflow mode, computed in float64 torch
    ops. The result has ``t``'s dtype: a float64 tensor gets exactly ``to_float()``; a
    float32 one gets it rounded to float32 (exact whenever the format's values are float32
    numbers, e.g. any format of at most 24 bits in float32's exponent range).

    The backward is the straight-through estimator of :mod:`fxp.nn`'s QAT: the gradient
    passes unchanged where ``fmt.min <= t <= fmt.max`` and is 0 elsewhere, whatever the
    overflow mode. For SAT* modes that is the derivative of the clipping; for WRAP and
    WRAP_SM an out-of-range value is wrapped in the forward but gets no gradient (the
    wrapped value is not a continuous function of the input there).

    WRAP overflows are reported to the overflow policy (:func:`fxp.overflow_policy`) and
    SAT* clipping to active logs, exactly as :func:`fxp.quantize` reports them. Formats of
    more than 53 bits or with a scale past ``2**+-1000`` are computed by :func:`fxp.quantize`
    itself (on numpy: exact, slower).

    Parameters
    ----------
    t : torch.Tensor
        A floating-point tensor (float16, bfloat16, float32 or float64).
    fmt : FixedFormat or str
        e.g. ``"fixed<8,3,RND_CONV,SAT>"``.
    label : str, optional
        Names the operation in overflow messages and logs (default ``"quantize to <fmt>"``).

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``t``.

    Raises
    ------
    TypeError
        If ``t`` is not a floating-point tensor or ``fmt`` not a format.
    ValueError
        On NaN, or on +-inf under a WRAP mode (as :func:`fxp.quantize`).
    """
    check_tensor(t, "quantize")
    fmt = FixedFormat.parse(fmt)
    return _Quantize.apply(t, fmt, label)


def check_tensor(t, what: str) -> None:
    """``t`` is a floating-point torch tensor; TypeError naming ``what`` otherwise."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor, not {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{what}: expected a floating-point tensor, not {t.dtype}")


class _Quantize(torch.autograd.Function):
    """Forward: the exact cast; backward: the straight-through estimator."""

    @staticmethod
    def forward(ctx, t, fmt, label):
        raw, inside = quantize_raw(t, fmt, label=label, mask=ctx.needs_input_grad[0])
        if inside is not None:
            ctx.save_for_backward(inside)
        return (raw * fmt.lsb).to(t.dtype) if fast(fmt) else raw.to(t.dtype)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside.to(grad.dtype), None, None


def fast(fmt: FixedFormat) -> bool:
    """True when ``fmt`` is computed in float64 torch ops (raw values exact in a double)."""
    return fmt.bits <= _FAST_MAX_BITS and abs(fmt.frac_bits) <= _FAST_MAX_SCALE


def inside_range(a: torch.Tensor, fmt: FixedFormat) -> torch.Tensor:
    """Where ``fmt.min <= a <= fmt.max`` (the straight-through estimator's mask)."""
    return (a >= fmt.min) & (a <= fmt.max)


def quantize_raw(t: torch.Tensor, fmt: FixedFormat, *, label: str | None = None,
                 mask: bool = True):
    """The raw integers of ``fxp.quantize(t, fmt)`` as a float64 tensor, and the STE mask
    (None unless ``mask``).

    For formats of more than 53 bits or a scale beyond ``2**+-1000`` (whose raw values do not
    all fit a double), the first result holds the values (``to_float()``), not raw integers,
    computed by :func:`fxp.quantize` itself.
    """
    op = label or f"quantize to {fmt}"
    with torch.no_grad():
        a = t.detach().to(torch.float64)
        inside = inside_range(a, fmt) if mask else None
        if not fast(fmt):
            x = fxp_quantize(a.cpu().numpy(), fmt, label=label).to_float()
            return torch.from_numpy(x).to(a.device), inside
        return _raw_fast(a, fmt, op), inside


def _round(v: torch.Tensor, q: Quantization) -> torch.Tensor:
    """Round scaled float64 values exactly (as fxp.quantize's _round_float)."""
    if q is Quantization.TRN:
        return torch.floor(v)
    if q is Quantization.TRN_ZERO:
        return torch.trunc(v)
    r = torch.round(v)          # ties to even
    if q is Quantization.RND_CONV:
        return r
    d = v - r                   # exact: |d| <= 0.5 (Sterbenz); inf - inf is NaN: no change
    if q is Quantization.RND:
        return r + (d == 0.5).to(r.dtype)
    if q is Quantization.RND_MIN_INF:
        return r - (d == -0.5).to(r.dtype)
    if q is Quantization.RND_ZERO:
        return r + ((d == 0.5) & (v < 0)).to(r.dtype) - ((d == -0.5) & (v > 0)).to(r.dtype)
    if q is Quantization.RND_INF:
        return r + ((d == 0.5) & (v > 0)).to(r.dtype) - ((d == -0.5) & (v < 0)).to(r.dtype)
    raise AssertionError(q)


def _scaled_round(a: torch.Tensor, fmt: FixedFormat, scale: float) -> torch.Tensor:
    v = _round(a * scale if fmt.frac_bits else a.clone(), fmt.quantization)
    if fmt.frac_bits < 0 and fmt.quantization is Quantization.TRN:
        # a negative value scaled below the smallest subnormal became -0.0: its floor is -1
        v = torch.where((v == 0) & (a < 0), -1.0, v)
    return v


def _check_special(a: torch.Tensor, fmt: FixedFormat, op: str) -> None:
    """NaN is an error; +-inf is one unless the overflow mode saturates (as fxp.quantize)."""
    if bool(torch.isfinite(a).all()):
        return
    nan = torch.isnan(a)
    n = int(nan.sum())
    if n:
        first = _ovf.first_index(nan.cpu().numpy())
        raise ValueError(f"{op}: {n} NaN value{'s' if n > 1 else ''} cannot be quantized; "
                         f"first at index {first}")
    if not fmt.overflow.saturates:
        inf = torch.isinf(a)
        n = int(inf.sum())
        if n:
            first = _ovf.first_index(inf.cpu().numpy())
            raise ValueError(f"{op}: {n} infinite value{'s' if n > 1 else ''} cannot be "
                             f"wrapped into {fmt} (overflow {fmt.overflow}); first at index "
                             f"{first}; use a SAT* overflow mode to saturate")


def _raw_fast(a: torch.Tensor, fmt: FixedFormat, op: str) -> torch.Tensor:
    _check_special(a, fmt, op)
    scale = math.ldexp(1.0, fmt.frac_bits)
    lo, hi = fmt.raw_min, fmt.raw_max
    mode = fmt.overflow
    if mode is Overflow.SAT_SYM and fmt.signed and fmt.bits > 1:
        lo = -hi
    v0 = _scaled_round(a, fmt, scale)
    if mode.saturates:
        if mode is Overflow.SAT_ZERO or _ovf.logging_active():
            out = (v0 < lo) | (v0 > hi)
            _report(op, "saturation", out, v0, fmt)
            if mode is Overflow.SAT_ZERO:
                return torch.where(out, 0.0, v0)
        return torch.clamp(v0, lo, hi)
    if v0.numel() == 0:
        return v0
    vmin, vmax = torch.aminmax(v0)
    if lo <= float(vmin) and float(vmax) <= hi:    # nothing wraps (inf and NaN fail this)
        if _ovf.logging_active():
            _ovf.report(op, "overflow", None, None, v0.numel(), fmt, fmt.frac_bits)
        return v0
    # WRAP, WRAP_SM: first drop multiples of 2**(bits + 1) (at fmt's scale) by an exact fmod
    # that keeps the sign, so every rounding mode rounds alike and the scaled values stay
    # below 2**54; the rounded value modulo 2**bits and the floor's bit `bits` (WRAP_SM)
    # are unchanged.
    e = fmt.bits + 1 - fmt.frac_bits
    v, big = v0, None
    if e <= 1023:
        period = math.ldexp(1.0, e)
        big = a.abs() >= period
        if bool(big.any()):
            a = torch.where(big, torch.fmod(a, period), a)
            v = _scaled_round(a, fmt, scale)
    out = (v < lo) | (v > hi)
    if big is not None:
        out = out | big
    q = v.to(torch.int64)
    w = fmt.bits
    mask = (1 << w) - 1
    if fmt.signed:
        off = 1 << (w - 1)
        wrapped = ((q + off) & mask) - off
    else:
        wrapped = q & mask
    if mode is Overflow.WRAP_SM:
        # ap_fixed_base::overflow_adjust for AP_WRAP_SM, as fxp.kernels: where the wrapped sign
        # bit differs from the dropped bit just above it, invert the bits, sign from that bit
        floor = torch.floor(a * scale).to(torch.int64)
        bits = wrapped & mask
        ro = (bits >> (w - 1)) & 1
        ld = (floor >> w) & 1
        flip = out & (ld != ro)
        inv = ((~bits) & ((1 << (w - 1)) - 1)) | (ld << (w - 1))
        new = torch.where(flip, inv, bits)
        wrapped = torch.where(((new >> (w - 1)) & 1) == 1, new - (1 << w), new)
    if _ovf.logging_active() or _ovf.policy() != "ignore":
        n = int(out.sum())
        if n or _ovf.logging_active():
            _report(op, "overflow", out, v0, fmt, count=n)
    return wrapped.to(torch.float64)


def _report(op, kind, out, v, fmt, count=None):
    """Report overflow or saturation as fxp does: to the policy (overflow) and to logs."""
    if kind == "saturation" and not _ovf.logging_active():
        return
    n = int(out.sum()) if count is None else count
    if not n:
        _ovf.report(op, kind, None, None, out.numel(), fmt, fmt.frac_bits)
        return
    mask = out.cpu().numpy()
    values = np.zeros(mask.shape, dtype=object)
    bad = v[out].cpu().numpy()
    values[mask] = [int(x) if math.isfinite(x) else (1 << 1100 if x > 0 else -(1 << 1100))
                    for x in bad.tolist()]
    _ovf.report(op, kind, mask, values, out.numel(), fmt, fmt.frac_bits)
