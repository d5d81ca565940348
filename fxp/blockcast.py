"""Casts to int64 formats in cache-sized blocks: round, apply the overflow mode, count exactly.

Working block by block keeps every intermediate in cache, so the several numpy passes that
exact rounding and each overflow mode need cost about one pass over memory, whatever the
saturation rate. Log statistics (count, first index, exact min/max) come from cheap
reductions on the block, only when something overflowed.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from . import overflow as _ovf
from .format import FixedFormat, Overflow, Quantization
from .rounding import EXACT_BELOW, round_float, round_fraction, round_to_int64

__all__ = ["BLOCK", "limits", "quantize_float64", "IntStage", "cast_int64", "round_shift_into",
           "check_nan", "check_inf"]

BLOCK = 1 << 17
# 128K values: the working set stays in the L3 cache and numpy's per-call overhead is small.
_U64 = np.uint64


def limits(fmt: FixedFormat) -> tuple[int, int]:
    """Raw range the overflow mode keeps: ``[raw_min, raw_max]``, ``-raw_max`` under SAT_SYM."""
    lo, hi = fmt.raw_min, fmt.raw_max
    if fmt.overflow is Overflow.SAT_SYM and fmt.signed and fmt.bits > 1:
        lo = -hi
    return lo, hi


class IntStage:
    """Applies ``fmt``'s overflow mode to int64 blocks in place and gathers the statistics.

    Parameters
    ----------
    fmt : FixedFormat
        Destination; its raw values fit an int64.
    stats : bool
        Count offending values (needed for a WRAP overflow or an active log).
    extremes : bool
        Also find their exact min and max (an active log).
    """

    def __init__(self, fmt: FixedFormat, *, stats: bool, extremes: bool):
        self.fmt = fmt
        self.lo, self.hi = limits(fmt)
        self.mode = fmt.overflow
        self.stats = stats
        self.extremes = extremes
        self.count = 0
        self.first = None
        self.first_raw = 0
        self.raw_min = None
        self.raw_max = None
        self._mask = self._tmp = self._zero = self._zin = self._flip = self._bits = None
        self._dense = False   # the last block had many offending values (WRAP_SM)

    def add(self, count, first, first_raw, raw_min, raw_max):
        """Merge statistics of a block whose first offending value has flat index ``first``."""
        if not count:
            return
        if self.first is None:
            self.first, self.first_raw = first, first_raw
        self.count += count
        if raw_min is not None:
            self.raw_min = raw_min if self.raw_min is None else min(self.raw_min, raw_min)
            self.raw_max = raw_max if self.raw_max is None else max(self.raw_max, raw_max)

    @property
    def dense(self) -> bool:
        """Whether the last WRAP_SM block had many offending values (likely again)."""
        return self._dense

    def _scratch(self, n: int):
        if self._mask is None or self._mask.size < n:
            self._mask = np.empty(n, dtype=bool)
            self._tmp = np.empty(n, dtype=bool)
            self._zero = np.empty(n, dtype=bool)
            self._zin = np.empty(n, dtype=bool)
            self._flip = np.empty(n, dtype=np.int64)
            self._bits = np.empty(n, dtype=np.int64)

    def __call__(self, q: np.ndarray, offset: int, floor_at=None, extremes=None, bias=0):
        """Handle overflow of the rounded int64 block ``q`` (flat index ``offset``) in place.

        ``floor_at(idx)`` gives the unrounded floor at block indices ``idx`` (an index array
        or a slice; WRAP_SM only; default ``q``: nothing was rounded); ``extremes``, when
        known, is ``(q.min(), q.max())``. Few offending values (at most 1/16 of the block)
        are fixed by index; many, by whole-block passes. ``bias`` (with ``extremes``): ``q``
        holds the values plus ``2**(bits-1)`` (WRAP_SM) or minus ``raw_min`` (SAT_ZERO).
        """
        lo, hi, mode = self.lo, self.hi, self.mode
        qmin, qmax = extremes if extremes is not None else (int(q.min()), int(q.max()))
        if lo <= qmin and qmax <= hi:
            if bias:
                np.subtract(q, bias, out=q)
            return
        if not self.stats and (mode is Overflow.SAT or mode is Overflow.SAT_SYM):
            np.clip(q, lo, hi, out=q)
            return
        n = q.size
        self._scratch(n)
        mask = self._mask[:n]
        if mode is Overflow.WRAP_SM and self.fmt.bits <= 62:
            self._wrap_sm(q, offset, floor_at, qmin, qmax, bias != 0)
            return
        if bias:   # SAT_ZERO: q holds q - lo
            np.greater(q.view(_U64), _U64(hi - lo), out=mask)
            np.subtract(q, bias, out=q)
        elif qmin < lo and qmax > hi:
            # lo <= q <= hi exactly when q - lo, as an unsigned integer, is <= hi - lo
            tmp = self._flip[:n]
            np.subtract(q, lo, out=tmp)
            np.greater(tmp.view(_U64), _U64(hi - lo), out=mask)
        elif qmin < lo:
            np.less(q, lo, out=mask)
        else:
            np.greater(q, hi, out=mask)
        count = int(np.count_nonzero(mask))
        if self.stats:
            self._gather(q, offset, mask, count, qmin, qmax)
        if count * 16 <= n or mode is Overflow.WRAP_SM:
            idx = np.flatnonzero(mask)
            q[idx] = self._handle(q[idx], idx, floor_at)
        elif mode is Overflow.SAT or mode is Overflow.SAT_SYM:
            np.clip(q, lo, hi, out=q)
        elif mode is Overflow.SAT_ZERO:
            np.logical_not(mask, out=mask)   # a multiply: a masked copy branches per value
            np.multiply(q, mask, out=q)
        else:
            _wrap(q, self.fmt)

    def _handle(self, v: np.ndarray, idx: np.ndarray, floor_at) -> np.ndarray:
        """The overflow mode applied to a few offending values ``v`` at block indices ``idx``."""
        mode = self.mode
        if mode is Overflow.SAT or mode is Overflow.SAT_SYM:
            return np.clip(v, self.lo, self.hi)
        if mode is Overflow.SAT_ZERO:
            return np.zeros_like(v)
        wr = v.copy()
        _wrap(wr, self.fmt)
        if mode is Overflow.WRAP_SM:
            # ap_fixed_base overflow_adjust, AP_WRAP_SM with N = 0: invert every bit where the
            # wrapped sign bit (w-1) differs from the dropped bit w of the floor
            w = self.fmt.bits
            fl = v if floor_at is None else floor_at(idx)
            flip = ((fl >> w) ^ (wr >> (w - 1))) & 1
            wr ^= -flip
        return wr

    def _gather(self, q, offset, mask, count, qmin, qmax, bias=0):
        """Record the block's ``count`` offending values (``mask``): first, exact min and max.

        ``q`` holds the values plus ``bias``.
        """
        lo, hi = self.lo, self.hi
        i = int(np.argmax(mask))
        raw_min = raw_max = None
        if self.extremes:
            # min over values > hi: (q - (hi + 1)) is smallest there as an unsigned int
            raw_min = qmin if qmin < lo else \
                hi + 1 + int(np.min(np.subtract(q, hi + 1 + bias).view(_U64)))
            raw_max = qmax if qmax > hi else \
                lo - 1 - int(np.min(np.subtract(lo - 1 + bias, q).view(_U64)))
        self.add(count, offset + i, int(q[i]) - bias, raw_min, raw_max)

    def _wrap_sm(self, q, offset, floor_at, qmin, qmax, biased=False):
        """WRAP_SM of a block of a signed format of at most 62 bits, with its statistics.

        ap_fixed_base overflow_adjust (AP_WRAP_SM, N = 0) inverts the wrapped value where its
        sign (bit w-1) differs from the floor's dropped bit w. Of the rounded ``q`` that is a
        triangle wave of period ``2**(w+1)``: with ``h = 2**(w-1)`` and
        ``n = ((q + h) mod 4h) - h`` (in ``[-h, 3h)``), the result is ``min(n, 2h - 1 - n)``,
        and ``q`` overflowed exactly when ``q + h``, unsigned, exceeds ``2h - 1``.
        Bit w of ``q`` is the floor's except where rounding carried into it: then ``q`` is a
        multiple of ``2**w`` (``n`` is 0 or 2h) and the floor's low w bits are all ones;
        those results invert (0 and -1 swap). ``biased``: ``q`` holds ``q + h`` already.
        """
        n, w = q.size, self.fmt.bits
        h = 1 << (w - 1)
        mask = self._mask[:n]
        if biased:
            y = q
        else:   # after a block with many offending values, work in place (cheaper passes)
            y = q if self._dense else self._flip[:n]
            np.add(q, h, out=y)
        np.greater(y.view(_U64), _U64(2 * h - 1), out=mask)
        count = int(np.count_nonzero(mask))
        if self.stats:
            self._gather(y, offset, mask, count, qmin, qmax, bias=h)
        self._dense = count * 16 > n
        if not self._dense:
            if y is q:
                np.subtract(q, h, out=q)
            idx = np.flatnonzero(mask)
            q[idx] = self._handle(q[idx], idx, floor_at)
            return
        np.bitwise_and(y, 4 * h - 1, out=y)
        np.subtract(y, h, out=y)
        carry = flip = None
        if floor_at is not None:
            # overflowed multiples of 2**w, where a rounding carry may lie: n == 2h, or n == 0
            # but for q == 0 (in range; every other multiple of 2**w with n == 0 overflowed)
            cand, zero, zin = self._tmp[:n], self._zero[:n], self._zin[:n]
            np.equal(y, 2 * h, out=cand)
            np.equal(y, 0, out=zero)
            np.logical_and(zero, mask, out=zin)
            np.logical_or(cand, zin, out=cand)
            idx = _few_true(cand, 16)
            if idx is None:
                # many (values pinned near multiples of 2**w, e.g. clipped inputs): from the
                # block's floor, invert where its bit w differs from q's (the bit w of n); in
                # range that happens only at q == 0 (floor -1), which never inverts
                flip = floor_at(slice(None))
                np.bitwise_xor(flip, y, out=flip)
                np.left_shift(flip.view(_U64), _U64(63 - w), out=flip.view(_U64))
                np.right_shift(flip, 63, out=flip)
                np.logical_not(mask, out=zin)
                np.logical_and(zin, zero, out=zin)
            elif idx.size:
                carry = idx[(floor_at(idx) & (2 * h - 1)) != 0]
        t = self._bits[:n]
        np.subtract(2 * h - 1, y, out=t)
        np.minimum(y, t, out=q)
        if flip is not None:
            np.bitwise_xor(q, flip, out=q)
            np.copyto(q, 0, where=zin)
        elif carry is not None:
            q[carry] = ~q[carry]

    def report(self, operation: str, total: int, shape):
        """Record the gathered statistics (and apply the policy) once for the whole cast."""
        kind = "saturation" if self.mode.saturates else "overflow"
        if not self.count:
            if _ovf.logging_active():
                _ovf.record(operation, kind, 0, total, None, 0, 0, 0, self.fmt,
                            self.fmt.frac_bits)
            return
        first = tuple(int(j) for j in np.unravel_index(self.first, shape))
        rmin = self.raw_min if self.raw_min is not None else 0
        rmax = self.raw_max if self.raw_max is not None else 0
        _ovf.record(operation, kind, self.count, total, first, rmin, rmax, self.first_raw,
                    self.fmt, self.fmt.frac_bits)


def _few_true(mask: np.ndarray, limit: int) -> np.ndarray | None:
    """Indices of the True values of ``mask`` if there are at most ``limit``, else None.

    Each is found by an ``argmax`` from the previous one (it stops at the first True): about
    one scan of the mask in all, cheaper than counting and then ``flatnonzero``.
    """
    found, start, n = [], 0, mask.size
    while start < n:
        i = start + int(np.argmax(mask[start:]))
        if not mask[i]:
            break
        if len(found) == limit:
            return None
        found.append(i)
        start = i + 1
    return np.array(found, dtype=np.intp)


def _wrap(q: np.ndarray, fmt: FixedFormat):
    """Two's complement wrap of int64 ``q`` into ``fmt``'s bits, in place."""
    if fmt.signed:
        s = 64 - fmt.bits
        if s:
            u = q.view(_U64)
            np.left_shift(u, _U64(s), out=u)
            np.right_shift(q, s, out=q)
    else:
        np.bitwise_and(q, (1 << fmt.bits) - 1, out=q)


# -- float64 -> fixed (fxp.quantize) -----------------------------------------------------------

class _Fallback(Exception):
    """A value needs the exact integer path (|value| >= 2**62 under a WRAP mode)."""


def quantize_float64(a: np.ndarray, fmt: FixedFormat, operation: str):
    """Raw int64 integers of float64 ``a`` cast to ``fmt``, or None for the exact path.

    ``fmt`` must keep every rounding threshold exact in a double: raw range within
    ``+-2**51`` and ``|frac_bits| <= 1000``. NaN raises; +-inf raises unless SAT*.
    """
    shape = a.shape
    flat = np.ascontiguousarray(a).reshape(-1)
    n = flat.size
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out.reshape(shape)
    f = fmt.frac_bits
    scale = float(np.ldexp(1.0, f))
    q = fmt.quantization
    mode = fmt.overflow
    logging = _ovf.logging_active()
    stage = IntStage(fmt, stats=logging or not mode.saturates, extremes=logging)
    lo, hi = stage.lo, stage.hi
    clip_only = mode.saturates and not logging   # no statistics: clip the floats first
    clip_lo, clip_hi = (lo - 1, hi + 1) if mode is Overflow.SAT_ZERO else (lo, hi)
    trn_sub = f < 0 and q is Quantization.TRN
    buf = np.empty(min(n, BLOCK), dtype=np.float64)
    # (TRN_ZERO and RND_INF leave fractions for the conversion to truncate: no gain there)
    sm_bias = 1 << (fmt.bits - 1) if mode is Overflow.WRAP_SM and fmt.bits <= 51 and \
        q not in (Quantization.TRN_ZERO, Quantization.RND_INF) else 0
    floor_at = None
    if mode is Overflow.WRAP_SM and q is not Quantization.TRN:
        def floor_at(idx):   # of the current block, whose values are below 2**62: exact
            return np.floor(flat[s:e][idx] * scale).astype(np.int64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for s in range(0, n, BLOCK):
            e = min(n, s + BLOCK)
            ab, v, qb = flat[s:e], buf[:e - s], out[s:e]
            np.multiply(ab, scale, out=v)
            if trn_sub:  # a negative value scaled below the subnormals became -0.0: floor is -1
                tiny = (v == 0) & (ab < 0)
                if tiny.any():
                    v[tiny] = -0.5
            vmin, vmax = float(v.min()), float(v.max())
            if vmin != vmin or vmax != vmax:
                check_nan(a, operation)
            if lo <= vmin and vmax <= hi:   # rounding is monotone: the block is in range
                round_to_int64(v, q, large=False, out=qb)
                continue
            if clip_only and mode is Overflow.SAT_ZERO and max(-vmin, vmax) < 2.0 ** 51:
                # no clip needed below 2**51; the conversion subtracts raw_min for free
                bias = -lo if lo and q not in (Quantization.TRN_ZERO, Quantization.RND_INF) else 0
                round_to_int64(v, q, large=False, out=qb, offset=bias)
                stage(qb, s, extremes=(round_float(vmin, q), round_float(vmax, q)), bias=bias)
                continue
            if clip_only:
                # rounding is monotone and keeps integers: round(clip(v)) = clip(round(v))
                np.clip(v, clip_lo, clip_hi, out=v)
                round_to_int64(v, q, large=False, out=qb)
                if mode is Overflow.SAT_ZERO:
                    stage(qb, s, extremes=(round_float(min(max(vmin, clip_lo), clip_hi), q),
                                           round_float(min(max(vmax, clip_lo), clip_hi), q)))
                continue
            if vmin <= -EXACT_BELOW or vmax >= EXACT_BELOW:
                if not mode.saturates:
                    check_inf(a, fmt, operation)
                    return None
                _huge_block(ab, qb, s, fmt, stage)
                continue
            extremes = (round_float(vmin, q), round_float(vmax, q))   # rounding is monotone
            big = max(-vmin, vmax)
            # WRAP_SM after a dense block: the conversion adds 2**(bits-1) for free
            bias = sm_bias if sm_bias and stage.dense and big < 2.0 ** 51 else 0
            round_to_int64(v, q, large=big >= 2.0 ** 52, out=qb, offset=bias)
            stage(qb, s, floor_at, extremes, bias)
    stage.report(operation, n, shape)
    return out.reshape(shape)


def _huge_block(ab, qb, offset, fmt, stage):
    """A saturating block with values past 2**62 (or inf), with exact statistics: slow, rare."""
    f = fmt.frac_bits
    lo, hi = stage.lo, stage.hi
    q = fmt.quantization
    big = 1 << (1100 + max(f, 0))   # raw_to_float of this is inf
    exact = [round_fraction(Fraction(float(x)) * Fraction(2) ** f, q) if np.isfinite(x)
             else (big if x > 0 else -big) for x in ab.tolist()]
    bad = [i for i, r in enumerate(exact) if r < lo or r > hi]
    vals = [exact[i] for i in bad]
    stage.add(len(bad), offset + bad[0], vals[0], min(vals), max(vals))
    if fmt.overflow is Overflow.SAT_ZERO:
        res = [r if lo <= r <= hi else 0 for r in exact]
    else:
        res = [lo if r < lo else hi if r > hi else r for r in exact]
    qb[:] = res


def check_nan(a, op):
    """ValueError naming the count and first index of the NaN values in ``a``."""
    nan = np.isnan(a)
    n = int(np.count_nonzero(nan))
    first = _ovf.first_index(nan)
    raise ValueError(f"{op}: {n} NaN value{'s' if n > 1 else ''} cannot be quantized; "
                     f"first at index {first}")


def check_inf(a, fmt, op):
    """ValueError naming the count and first index of +-inf in ``a`` unless ``fmt`` is SAT*."""
    inf = np.isinf(a)
    n = int(np.count_nonzero(inf))
    if n and not fmt.overflow.saturates:
        first = _ovf.first_index(inf)
        raise ValueError(f"{op}: {n} infinite value{'s' if n > 1 else ''} cannot be "
                         f"wrapped into {fmt} (overflow {fmt.overflow}); first at index "
                         f"{first}; use a SAT* overflow mode to saturate")


# -- int64 -> fixed (FixedArray.cast, accumulators) ----------------------------------------------

def cast_int64(raw: np.ndarray, shift: int, quantization: Quantization, fmt: FixedFormat,
               operation: str) -> np.ndarray:
    """Cast int64 raws: rounded ``block >> shift`` (shift > 0) or ``block << -shift``.

    The caller guarantees every intermediate fits an int64.
    """
    shape = raw.shape
    flat = np.ascontiguousarray(raw).reshape(-1)
    n = flat.size
    out = np.empty(n, dtype=np.int64)
    logging = _ovf.logging_active()
    stage = IntStage(fmt, stats=logging or not fmt.overflow.saturates, extremes=logging)
    tmp = np.empty(min(n, BLOCK), dtype=np.int64) if shift > 0 else None
    for s in range(0, n, BLOCK):
        e = min(n, s + BLOCK)
        rb, qb = flat[s:e], out[s:e]
        floor_at = None
        if shift > 0:
            round_shift_into(rb, shift, quantization, qb, tmp[:e - s])
            floor_at = (lambda idx, rb=rb: rb[idx] >> shift)
        elif shift < 0:
            np.left_shift(rb, -shift, out=qb)
        else:
            qb[...] = rb
        stage(qb, s, floor_at)
    stage.report(operation, n, shape)
    return out.reshape(shape)


def round_shift_into(x: np.ndarray, s: int, q: Quantization, out: np.ndarray,
                     tmp: np.ndarray) -> None:
    """``out = x / 2**s`` rounded under ``q`` (int64, ``1 <= s <= 62``), in place: no allocation.

    The same formulas as :func:`fxp.kernels.round_shift`, with the sign of ``x`` as
    ``x >> 63`` (0 or -1) instead of a boolean array; ``tmp`` is scratch of ``x``'s size.
    """
    half = 1 << (s - 1)
    if q is Quantization.TRN:
        np.right_shift(x, s, out=out)
        return
    if q is Quantization.RND:
        np.add(x, half, out=out)
    elif q is Quantization.RND_MIN_INF:
        np.add(x, half - 1, out=out)
    elif q is Quantization.RND_CONV:      # x + half - 1 + (floor's lowest bit)
        np.right_shift(x, s, out=tmp)
        np.bitwise_and(tmp, 1, out=tmp)
        np.add(x, half - 1, out=out)
        out += tmp
    elif q is Quantization.RND_ZERO:      # x + half - 1 + (x < 0)
        np.right_shift(x, 63, out=tmp)
        np.add(x, half - 1, out=out)
        out -= tmp
    elif q is Quantization.RND_INF:       # x + half - (x < 0)
        np.right_shift(x, 63, out=tmp)
        np.add(x, half, out=out)
        out += tmp
    elif q is Quantization.TRN_ZERO:      # x + (x < 0) * (2**s - 1)
        np.right_shift(x, 63, out=tmp)
        np.bitwise_and(tmp, (1 << s) - 1, out=tmp)
        np.add(x, tmp, out=out)
    else:
        raise AssertionError(q)
    np.right_shift(out, s, out=out)
