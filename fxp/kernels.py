"""Kernels on raw integers (int64, object ints past 62 bits): rounding, overflow, accumulation.

Every kernel is written once with operators that numpy int64 arrays and object arrays of
Python ints both support; callers pick int64 only when every intermediate fits in 62 bits.
They take and return raw integers and FixedFormats: :class:`fxp.FixedArray`,
:func:`fxp.quantize` and :mod:`fxp.accumulate` wrap them.
"""

from __future__ import annotations

import numpy as np

from . import blockcast, limbs
from . import overflow as _ovf
from .format import FixedFormat, Overflow, Quantization

INT64_SAFE_BITS = 62
_F64_EXACT = 1 << 53
_I64_EXACT = 1 << 62


def to_object(raw: np.ndarray) -> np.ndarray:
    """Raw integers as an object array of Python ints."""
    if raw.dtype == object:
        return raw
    out = np.empty(raw.shape, dtype=object)
    out[...] = raw.tolist() if raw.ndim else int(raw)
    return out


def to_storage(raw: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """Convert in-range raw integers to the storage dtype of ``fmt`` (int64 when it fits)."""
    if fmt.fits_int64:
        return raw if raw.dtype == np.int64 else raw.astype(np.int64)
    return to_object(raw)


def working(raw: np.ndarray, bits: int) -> np.ndarray:
    """``raw`` in a dtype where values of ``bits`` bits can be computed without overflow."""
    if bits <= INT64_SAFE_BITS and raw.dtype != object:
        return raw
    return to_object(raw)


def round_shift(x, s, quantization: Quantization):
    """Divide integers ``x`` by ``2**s`` (``s >= 1``, scalar or array) and round.

    Ties and directions follow the quantization mode; exact for any size of ``x``.
    """
    q = quantization
    one = 1
    if isinstance(s, np.ndarray):
        if x.dtype == object:
            s = to_object(s)
        else:
            one = np.int64(1)
    half = one << (s - 1)
    if q is Quantization.TRN:
        return x >> s
    if q is Quantization.RND:
        return (x + half) >> s
    if q is Quantization.RND_MIN_INF:
        return (x + (half - 1)) >> s
    if q is Quantization.RND_CONV:
        return (x + (half - 1) + ((x >> s) & 1)) >> s
    neg = x < 0
    neg = neg.astype(object) if x.dtype == object else neg.astype(x.dtype)
    if q is Quantization.RND_ZERO:
        return (x + (half - 1) + neg) >> s
    if q is Quantization.RND_INF:
        return (x + half - neg) >> s
    if q is Quantization.TRN_ZERO:
        return (x + neg * ((one << s) - 1)) >> s
    raise AssertionError(q)


def _clamp_shift(s, src_bits: int):
    # |x| <= 2**(src_bits-1) means |x / 2**s| <= 1/4 once s >= src_bits + 1: every larger
    # shift rounds the same way, and this keeps the masks inside int64.
    return np.minimum(s, src_bits + 1) if isinstance(s, np.ndarray) else min(s, src_bits + 1)


def cast_raw(raw: np.ndarray, src: FixedFormat, dst: FixedFormat, operation: str):
    """Cast raw integers of ``src`` to ``dst``: round the exact value, then handle overflow."""
    s = src.frac_bits - dst.frac_bits
    s_eff = _clamp_shift(s, src.bits) if s > 0 else s
    # the floor (src.bits - s_eff bits) fits an int64 with room: read from the words, or
    # split from each value once
    splittable = dst.fits_int64 and s_eff > 0 and src.bits - s_eff + 3 <= INT64_SAFE_BITS
    if isinstance(raw, limbs.Words):
        if splittable:
            return _cast_codes(*raw.split(s_eff), dst, operation)
        raw = raw.to_object()
    if raw.dtype != object and dst.fits_int64 and \
            max(src.bits + 1, dst.bits, src.bits - s) + 1 <= INT64_SAFE_BITS:
        return blockcast.cast_int64(raw, s_eff, dst.quantization, dst, operation)
    if np.ndim(raw) == 0:   # Python-int operations on 0-d arrays give bare ints
        return cast_raw(np.asarray(raw).reshape(1), src, dst, operation).reshape(())
    if splittable and (raw.dtype == object or s_eff < 64):
        return _cast_split(raw, s_eff, dst, operation)
    if s > 0:
        s = s_eff
        work = working(raw, max(src.bits + 1, dst.bits) + 1)
        q = round_shift(work, s, dst.quantization)
        floor = (lambda: work >> s)
        q_bits = max(src.bits - s + 1, 2) + (not src.signed)
    else:
        work = working(raw, max(src.bits - s, dst.bits) + 1)
        q = work << (-s) if s else work
        floor = (lambda: q)
        q_bits = src.bits - s + (not src.signed)
    return overflow(q, dst, operation, floor=floor, q_bits=q_bits)


def _cast_split(raw: np.ndarray, s: int, dst: FixedFormat, operation: str) -> np.ndarray:
    """Cast wide raws (Python ints, or int64 without room for the int64 kernels) to an int64
    format by splitting each into its floor ``raw >> s`` (which fits an int64) and remainder.

    Rounding reads only the floor (its sign and parity) and where the remainder lies against
    the half (zero, below, at, above): ``y = 4 * floor + code`` rounds by 2 bits exactly as
    ``raw`` rounds by ``s``, so the int64 blocked cast finishes the job. Python ints are
    touched twice each (a shift and a mask) instead of a dozen times on the exact path.
    """
    floor = raw >> s
    rem = raw & ((1 << s) - 1)
    if raw.dtype == object:
        floor = floor.astype(np.int64)
        if s <= INT64_SAFE_BITS:
            rem = rem.astype(np.int64)
    half = 1 << (s - 1)
    code = np.not_equal(rem, 0).astype(np.int64)
    code += rem >= half
    code += rem > half
    return _cast_codes(floor, code, dst, operation)


def _cast_codes(floor: np.ndarray, code: np.ndarray, dst: FixedFormat, operation: str):
    """Finish a split cast: ``4 * floor + code`` (code 0..3: the dropped bits are zero, below
    half, half, above) rounded by 2 bits in the blocked int64 cast."""
    y = (floor << 2) + code
    return blockcast.cast_int64(y, 2, dst.quantization, dst, operation)


def overflow(q: np.ndarray, dst: FixedFormat, operation: str, *, floor=None,
             q_bits: int | None = None):
    """Bring rounded integers ``q`` (at dst's scale) into dst's range with its overflow mode.

    Reports WRAP overflows to the policy and SAT* clipping to active logs. ``floor``
    returns the unrounded floor at dst's scale (for WRAP_SM); ``q_bits``, when given, says
    every ``q`` fits a signed integer of that width, so the range check can be skipped when
    no value can leave the range.
    """
    lo, hi = dst.raw_min, dst.raw_max
    mode = dst.overflow
    if mode is Overflow.SAT_SYM and dst.signed and dst.bits > 1:
        lo = -hi
    if q.size == 0:
        return to_storage(q, dst)
    if q_bits is not None and dst.signed and q_bits <= dst.bits and lo == dst.raw_min:
        in_range = True
    else:
        in_range = lo <= q.min() and q.max() <= hi
    if in_range:
        if _ovf.logging_active():
            _ovf.report(operation, "saturation" if mode.saturates else "overflow", None, q,
                        q.size, dst, dst.frac_bits)
        return to_storage(q, dst)
    if q.dtype != object and dst.fits_int64 and (floor is None or mode is not Overflow.WRAP_SM):
        return blockcast.cast_int64(q, 0, dst.quantization, dst, operation)
    kind = "saturation" if mode.saturates else "overflow"
    clip = mode is Overflow.SAT or mode is Overflow.SAT_SYM
    mask = None
    if not clip or _ovf.logging_active():  # clipping needs no mask unless it is logged
        mask = (q < lo) | (q > hi)
    if kind == "overflow" or _ovf.logging_active():
        _ovf.report(operation, kind, mask, q, q.size, dst, dst.frac_bits)
    if clip:
        out = np.clip(q, lo, hi) if q.dtype != object else \
            np.where(q < lo, lo, np.where(q > hi, hi, q))
    elif mode is Overflow.SAT_ZERO:
        out = np.where(mask, 0, q)
    else:
        out = wrap(q, dst)
        if mode is Overflow.WRAP_SM:
            out = _wrap_sm(out, floor(), mask, dst)
    return to_storage(out, dst)


def wrap(q: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """Two's complement wrap-around of integers into ``fmt``'s raw range."""
    if q.dtype != object and fmt.bits > INT64_SAFE_BITS:
        q = to_object(q)
    mask = (1 << fmt.bits) - 1
    if fmt.signed:
        off = 1 << (fmt.bits - 1)
        return ((q + off) & mask) - off
    return q & mask


def _wrap_sm(wrapped, floor, mask, fmt):
    # ap_fixed_base::overflow_adjust for AP_WRAP_SM, N = 0: when the wrapped sign bit Ro
    # differs from the dropped bit lD just above it, invert the bits and set the sign to lD.
    w = fmt.bits
    bits = wrapped & ((1 << w) - 1)
    ro = (bits >> (w - 1)) & 1
    ld = (floor >> w) & 1
    flip = mask & (ld != ro)
    if not np.any(flip):
        return wrapped
    inv = (~bits) & ((1 << (w - 1)) - 1)
    inv = inv | (ld << (w - 1))
    new = np.where(flip, inv, bits)
    return np.where(((new >> (w - 1)) & 1) == 1, new - (1 << w), new)


# -- exact accumulation (the core of fxp.matmul, fxp.sum, ``@`` and FixedArray.sum) ----------

def check_accumulator(acc, term: FixedFormat, what: str) -> FixedFormat:
    """Parse ``acc`` and check it can accumulate values of ``term`` exactly.

    Raises ValueError unless ``acc`` is WRAP with at least ``term``'s fraction bits;
    ``what`` names the terms in the message (``"products"``, ``"bias"``, ``"summands"``).
    """
    acc = FixedFormat.parse(acc)
    if acc.overflow is not Overflow.WRAP:
        raise ValueError(f"Accumulator {acc} must use WRAP overflow (an accumulator is exact "
                         f"modulo 2**bits); cast the result to saturate")
    if acc.frac_bits < term.frac_bits:
        raise ValueError(f"Accumulator {acc} has {acc.frac_bits} fraction bits, fewer than "
                         f"the {term.frac_bits} of the {what} {term}")
    return acc


def _absmax(raw: np.ndarray) -> int:
    if raw.size == 0:
        return 0
    return max(abs(int(raw.min())), abs(int(raw.max())))


def int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer matmul: float64 BLAS when a bound proves every partial sum < 2**53.

    Past 2**62, int64 operands are split into limbs (:func:`fxp.limbs.limb_matmul`) and the
    result is a :class:`fxp.limbs.Words`; only object operands use Python-int arithmetic
    throughout.
    """
    k = a.shape[-1]
    if a.dtype != object and b.dtype != object:
        pmax = _absmax(a) * _absmax(b)
        if k * pmax < _F64_EXACT:
            return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64)
        if k * pmax < _I64_EXACT:
            block = (_F64_EXACT - 1) // pmax
            if block >= 16 and b.ndim >= 2 and a.ndim >= 1:
                af, bf = a.astype(np.float64), b.astype(np.float64)
                out = None
                for s in range(0, k, block):
                    part = np.matmul(af[..., s:s + block], bf[..., s:s + block, :])
                    part = part.astype(np.int64)
                    out = part if out is None else out + part
                return out
            return np.matmul(a, b)
        wide = limbs.limb_matmul(a, b, _absmax(a).bit_length(), _absmax(b).bit_length())
        if wide is not None:
            return wide
    return np.matmul(to_object(a), to_object(b))


def matmul_raw(a: np.ndarray, a_fmt: FixedFormat, b: np.ndarray, b_fmt: FixedFormat,
               acc=None, *, bias: np.ndarray | None = None,
               bias_fmt: FixedFormat | None = None, label: str | None = None):
    """Exact ``a @ b (+ bias)`` of raw integers into a WRAP accumulator; see :func:`fxp.matmul`.

    Returns
    -------
    raw : numpy.ndarray
        In ``acc``'s storage dtype.
    acc : FixedFormat
        ``acc`` parsed, or by default the exact format of ``K`` products (plus the bias).
    """
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul operands must have at least one dimension")
    k = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k != kb:
        raise ValueError(f"matmul shapes {a.shape} and {b.shape} do not align: {k} != {kb}")
    prod = a_fmt.mul(b_fmt)
    if acc is None:
        acc = prod.sum(k)
        if bias is not None:
            acc = acc.add(bias_fmt)
    else:
        acc = check_accumulator(acc, prod, "products")
        if bias is not None:
            check_accumulator(acc, bias_fmt, "bias")
    s = int_matmul(a, b)
    raw = _accumulated(s, prod, acc, k, label or f"matmul accumulator {acc}", bias, bias_fmt)
    return raw, acc


def sum_raw(raw: np.ndarray, fmt: FixedFormat, axis=None, *, acc=None,
            label: str | None = None):
    """Exact sum of raw integers along ``axis`` into a WRAP accumulator; see :func:`fxp.sum`.

    Returns ``(raw, acc)`` as :func:`matmul_raw`.
    """
    count = raw.size if axis is None else int(np.prod([raw.shape[i]
                                                       for i in np.atleast_1d(axis)]))
    acc = fmt.sum(count) if acc is None else check_accumulator(acc, fmt, "summands")
    if raw.dtype != object and (count * max(_absmax(raw), 1)) >= _I64_EXACT:
        raw = to_object(raw)
    s = np.sum(raw, axis=axis)
    return _accumulated(s, fmt, acc, count, label or f"sum accumulator {acc}"), acc


def _accumulated(s, term: FixedFormat, acc: FixedFormat, count: int, op: str,
                 bias: np.ndarray | None = None, bias_fmt: FixedFormat | None = None):
    """Exact sums ``s`` of ``count`` terms (plus the bias) wrapped into ``acc``."""
    shift = acc.frac_bits - term.frac_bits
    exact = term.sum(count)
    if bias is not None:
        exact = exact.add(bias_fmt)
        shift = acc.frac_bits - exact.frac_bits
    if isinstance(s, limbs.Words):
        if not shift and acc.signed and not acc.fits_int64 and \
                exact.bits + (not exact.signed) <= acc.bits and \
                (bias is None or (bias.dtype != object and exact.frac_bits == term.frac_bits)):
            if bias is not None:   # the words keep the sum: it cannot overflow
                s = s.plus(bias, exact.frac_bits - bias_fmt.frac_bits)
            if _ovf.logging_active():
                _ovf.report(op, "overflow", None, None, s.size, acc, acc.frac_bits)
            return s
        s = s.to_object()
    s = np.asarray(s)
    s = working(s, exact.bits + shift + 1)
    if bias is not None:
        braw = working(bias, exact.bits + 1)
        if s.dtype != braw.dtype:
            s, braw = to_object(s), to_object(braw)
        s = (s << (exact.frac_bits - term.frac_bits)) + (braw << (exact.frac_bits -
                                                                  bias_fmt.frac_bits))
    if shift:
        s = s << shift
    q_bits = exact.bits + shift + (not exact.signed)
    return overflow(s, acc, op, q_bits=q_bits)
