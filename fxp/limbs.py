"""Wide integers as int64 pieces: exact limb matmul on float64 BLAS, results kept as int64 words."""

from __future__ import annotations

import numpy as np

__all__ = ["limb_matmul", "Words", "wide_add", "wide_mul"]

_F64_BITS = 53
_U64 = np.uint64
_DIGIT = 28   # element-wise digits: a product of two is below 2**56, 64 of them fit an int64


def _limbs(x: np.ndarray, width: int, count: int) -> list[np.ndarray]:
    """``x = sum(limb[i] << (i * width))``: unsigned low limbs, a signed top limb, as float64."""
    mask = (1 << width) - 1
    out = [((x >> (i * width)) & mask).astype(np.float64) for i in range(count - 1)]
    out.append((x >> ((count - 1) * width)).astype(np.float64))
    return out


def limb_matmul(a: np.ndarray, b: np.ndarray, a_bits: int, b_bits: int) -> Words | None:
    """Exact ``a @ b`` of int64 arrays as int64 :class:`Words`, or None when limbs would be
    too narrow.

    Each operand is split into limbs of ``w`` bits with ``K * 2**(2w) <= 2**53``, so every
    limb product is an exact float64 BLAS matmul; all of them come from one BLAS call on the
    stacked limbs when ``b`` is a matrix. The products are summed per shift in int64, carried
    into base ``2**w`` digits and packed into words of up to 62 bits.

    Parameters
    ----------
    a, b : numpy.ndarray of int64
        Shapes as :func:`numpy.matmul`.
    a_bits, b_bits : int
        Every ``|a|`` is below ``2**a_bits`` (likewise ``b``).
    """
    k = a.shape[-1]
    w = (_F64_BITS - max(k - 1, 0).bit_length()) // 2    # K * 2**(2w) <= 2**53
    if w < 8:
        return None
    na, nb = -(-(a_bits + 1) // w), -(-(b_bits + 1) // w)
    vec_a, vec_b = a.ndim == 1, b.ndim == 1
    a2 = a[None, :] if vec_a else a
    b2 = b[:, None] if vec_b else b
    la, lb = _limbs(a2, w, na), _limbs(b2, w, nb)
    groups = [None] * (na + nb - 1)
    if b2.ndim == 2:   # one BLAS call: (na*M, K) @ (K, nb*N) holds every limb product
        m, n = a2.shape[-2], b2.shape[-1]
        big = np.matmul(np.concatenate(la, axis=-2), np.concatenate(lb, axis=-1))
        big = big.astype(np.int64)           # each block < K * 2**(2w) <= 2**53: exact
        for i in range(na):
            for j in range(nb):
                p = big[..., i * m:(i + 1) * m, j * n:(j + 1) * n]
                groups[i + j] = p if groups[i + j] is None else groups[i + j] + p
    else:
        for i, x in enumerate(la):
            for j, y in enumerate(lb):
                p = np.matmul(x, y).astype(np.int64)
                groups[i + j] = p if groups[i + j] is None else groups[i + j] + p
    if vec_a:
        groups = [g[..., 0, :] for g in groups]
    if vec_b:
        groups = [g[..., 0] for g in groups]
    return _pack(groups, w, a_bits + b_bits + k.bit_length() + 1)


def _pack(groups: list[np.ndarray], w: int, bits: int) -> Words:
    """``sum(g << (i * w))`` of int64 arrays (each below 2**62) as Words, ``bits`` bits wide.

    Carried into base ``2**w`` digits (the last carry is the sign, 0 or -1), ``62 // w``
    digits to an int64 word.
    """
    mask = (1 << w) - 1
    per_word = 62 // w
    count = max(len(groups), -(-bits // w))
    digits, carry = [], 0
    for i in range(count):
        t = carry if i >= len(groups) else groups[i] + carry
        digits.append(t & mask)
        carry = t >> w
    words = []
    for start in range(0, count, per_word):
        chunk = digits[start:start + per_word]
        word = chunk[0]
        for j, d in enumerate(chunk[1:], 1):
            word = word + (d << (j * w))
        words.append(word)
    words[-1] = words[-1] + (carry << (len(chunk) * w))   # the sign: -2**62 at most
    while len(words) > 1 and not words[-1].any():        # positive results: fewer words
        words.pop()
    return Words(words, per_word * w)


class Words:
    """Wide integers as int64 words: ``sum(words[j] << (j * base))``.

    Every word but the last lies in ``[0, 2**base)``; the last carries the sign and may be
    wider than ``base`` (up to an int64). A wide
    result stays in this form until its Python ints are needed (:meth:`to_object`); a cast
    to an int64 format reads floors and rounding codes straight from the words
    (:meth:`split`), so an accumulate-then-cast never builds a Python int.

    Parameters
    ----------
    words : list of numpy.ndarray of int64
        Same shape, lowest word first.
    base : int
        Bits per word, at most 62.
    """

    __slots__ = ("words", "base")

    def __init__(self, words: list[np.ndarray], base: int):
        self.words = words
        self.base = base

    @property
    def shape(self) -> tuple:
        return self.words[0].shape

    @property
    def size(self) -> int:
        return self.words[0].size

    def to_object(self) -> np.ndarray:
        """The values as an object array of Python ints (one shift and add per extra word)."""
        out = self.words[-1].astype(object)
        for word in reversed(self.words[:-1]):   # object shift and add: cheaper than * and +
            out = (out << self.base) + word.astype(object)
        return np.asarray(out, dtype=object)     # 0-d operations give a Python int

    def plus(self, b: np.ndarray, shift: int) -> Words:
        """``self + (b << shift)`` for int64 ``b`` broadcast to this shape (a bias)."""
        base, mask = self.base, (1 << self.base) - 1
        j, o = divmod(shift, base)
        shape = np.broadcast_shapes(self.shape, np.shape(b))
        words = [np.broadcast_to(w, shape) for w in self.words]
        while len(words) < j + 2:   # the old top's sign is carried up by the loop below
            words.append(np.zeros(shape, dtype=np.int64))
        words[j] = words[j] + ((b & ((1 << (base - o)) - 1)) << o)
        words[j + 1] = words[j + 1] + (b >> (base - o))
        carry = 0
        for i in range(len(words) - 1):   # back to [0, 2**base) digits; the top keeps the sign
            t = words[i] + carry
            words[i] = t & mask
            carry = t >> base
        words[-1] = words[-1] + carry
        return Words(words, base)

    def _bits_from(self, p: int) -> np.ndarray:
        """``value >> p`` modulo 2**64 as int64 (exact when it fits an int64)."""
        j, o = divmod(p, self.base)
        if j >= len(self.words):   # within (or past) the last word, which may be wider
            top = len(self.words) - 1
            return self.words[-1] >> min(p - top * self.base, 63)
        out = self.words[j] >> o
        for k in range(j + 1, len(self.words)):
            sh = (k - j) * self.base - o
            if sh < 64:
                out = out + (self.words[k] << sh)
        return out

    def _low_nonzero(self, p: int) -> np.ndarray:
        """Whether ``value mod 2**p`` is not zero (``p >= 1``)."""
        j, o = divmod(p, self.base)
        top = len(self.words) - 1
        if j > top:   # the last word may be wider than the base
            j, o = top, p - top * self.base
        nz = np.zeros(self.shape, dtype=bool)
        for k in range(j):
            nz |= self.words[k] != 0
        if o:
            nz |= (self.words[j] & ((1 << min(o, 63)) - 1)) != 0 if o < 64 else \
                self.words[j] != 0
        return nz

    def split(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """``(value >> s, code)`` for a cast dropping ``s >= 1`` bits whose floors fit an int64.

        ``code`` is 0 when the dropped bits are zero, 1 below half, 2 at half, 3 above:
        ``2 * bit(s - 1) + (low s - 1 bits != 0)``.
        """
        floor = np.asarray(self._bits_from(s))
        code = np.asarray((self._bits_from(s - 1) & 1) << 1)
        if s > 1:
            code = code + self._low_nonzero(s - 1)
        return floor, code


# -- element-wise + - * past 62 bits: int64 digits, results as Words ------------------------

def _bits(x, p: int) -> np.ndarray:
    """``x >> p`` modulo 2**64 as int64, for int64 arrays or :class:`Words`; ``p < 0`` shifts
    left."""
    if isinstance(x, Words):
        if p >= 0:
            return np.asarray(x._bits_from(p))
        x = np.asarray(x._bits_from(0))
    if p >= 0:
        return x >> min(p, 63)
    return (x.view(_U64) << _U64(min(-p, 63) if -p < 64 else 0)).view(np.int64) if -p < 64 \
        else np.zeros_like(x)


def _digits(x, shift: int, bits: int, d: int = _DIGIT) -> list[np.ndarray]:
    """``x << shift`` (``|x << shift| < 2**bits``) as base-``2**d`` digits: unsigned low
    digits, a signed top one."""
    count = max(1, -(-(bits + 1) // d))
    mask = (1 << d) - 1
    out = [_bits(x, k * d - shift) & mask for k in range(count - 1)]
    out.append(_bits(x, (count - 1) * d - shift))
    return out


def _broadcast(words: list[np.ndarray]) -> list[np.ndarray]:
    shape = np.broadcast_shapes(*(np.shape(w) for w in words))
    return [w if np.shape(w) == shape else np.broadcast_to(w, shape).copy() for w in words]


def wide_add(a, a_shift: int, a_bits: int, b, b_shift: int, b_bits: int, bits: int,
             subtract: bool = False) -> Words:
    """Exact ``(a << a_shift) + (b << b_shift)`` (or ``-``) as :class:`Words`.

    Two int64 operands, one of them not shifted, the other by ``1 <= d <= 62`` bits: the
    unshifted one's low ``d`` bits are the low word, its high part plus the other the high
    word (base ``d``). Otherwise base-``2**28`` digits added with carries.

    Parameters
    ----------
    a, b : numpy.ndarray of int64 or Words
        Broadcastable; ``|a << a_shift| < 2**a_bits`` (likewise ``b``).
    bits : int
        Every ``|result| < 2**bits``.
    """
    d = max(a_shift, b_shift)
    if not isinstance(a, Words) and not isinstance(b, Words) and min(a_shift, b_shift) == 0 \
            and 1 <= d <= 62 and max(a_bits - a_shift, b_bits - b_shift) <= 62:
        return _split_add(a, b, d, a_shift == 0, subtract)
    if isinstance(a, Words) != isinstance(b, Words):   # words +- a shifted int64: carried in
        w, w_shift, x, x_shift, x_bits = (a, a_shift, b, b_shift, b_bits) \
            if isinstance(a, Words) else (b, b_shift, a, a_shift, a_bits)
        if w_shift == 0 and x_bits - x_shift <= 63:
            if subtract and w is b:    # x - w
                return Words([-v for v in w.words], w.base).plus(x, x_shift)
            return w.plus(-x if subtract else x, x_shift)
    da = _digits(a, a_shift, a_bits)
    db = _digits(b, b_shift, b_bits)
    zero = np.zeros((), dtype=np.int64)
    n = max(len(da), len(db))
    da += [zero] * (n - len(da))   # the top digits are signed: zeros above them
    db += [zero] * (n - len(db))
    groups = [x - y if subtract else x + y for x, y in zip(da, db)]
    return _pack(_broadcast(groups), _DIGIT, bits)


def _split_add(a: np.ndarray, b: np.ndarray, d: int, b_shifted: bool, subtract: bool) -> Words:
    """``a + (b << d)`` (``b_shifted``) or ``(a << d) + b``, ``-`` for ``subtract``, as Words
    of base ``d``: low word ``x & (2**d - 1)`` of the unshifted term ``x``, high word
    ``(x >> d) +- y`` of the shifted one ``y``; block by block into one preallocated array."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    fa = np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)
    fb = np.ascontiguousarray(np.broadcast_to(b, shape)).reshape(-1)
    x, y = (fa, fb) if b_shifted else (fb, fa)
    negate_x = subtract and not b_shifted     # (a << d) - b: the unshifted term is -b
    negate_y = subtract and b_shifted         # a - (b << d)
    n = x.size
    words = np.empty((2, n), dtype=np.int64)   # one allocation: the heap reuses it
    mask = (1 << d) - 1
    for s in range(0, n, _BLOCK):
        e = min(n, s + _BLOCK)
        lo, hi = words[0, s:e], words[1, s:e]
        if negate_x:
            np.negative(x[s:e], out=lo)
            np.right_shift(lo, d, out=hi)
        else:
            np.right_shift(x[s:e], d, out=hi)
            np.copyto(lo, x[s:e])
        lo &= mask
        if negate_y:
            hi -= y[s:e]
        else:
            hi += y[s:e]
    return Words([w.reshape(shape) for w in words], d)


_BLOCK = 1 << 15   # elements per block (256 KiB per array): stays in the cache


def _split_mul(a: np.ndarray, b: np.ndarray, w: int, limbs: int) -> Words:
    """``a * b`` as Words of base ``w``: ``b`` in ``limbs`` limbs of ``w`` bits, each times
    ``a`` in one int64 product, carried into ``[0, 2**w)`` words (the last signed).

    Works block by block into preallocated words: fresh whole-array temporaries would cost
    more in page faults than the arithmetic.
    """
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    fa = np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)
    fb = np.ascontiguousarray(np.broadcast_to(b, shape)).reshape(-1)
    n = fa.size
    words = np.empty((limbs, n), dtype=np.int64)   # one allocation: the heap reuses it
    mask = (1 << w) - 1
    scratch = np.empty(min(n, _BLOCK), dtype=np.int64)
    for s in range(0, n, _BLOCK):
        e = min(n, s + _BLOCK)
        x, y, carry = fa[s:e], fb[s:e], scratch[:e - s]
        for j in range(limbs):
            g = words[j][s:e]
            np.right_shift(y, j * w, out=g)
            if j < limbs - 1:
                g &= mask
            g *= x
            if j:
                g += carry
            if j < limbs - 1:
                np.right_shift(g, w, out=carry)
                g &= mask
    return Words([wd.reshape(shape) for wd in words], w)


def wide_mul(a, a_bits: int, b, b_bits: int) -> Words:
    """Exact ``a * b`` (int64 arrays or :class:`Words`, broadcastable) as :class:`Words`.

    ``|a| < 2**a_bits``, ``|b| < 2**b_bits``. Two int64 operands, one of at most 40 bits:
    the other is split into limbs of ``w = 61 - narrow_bits`` bits, each limb times the
    narrow operand is one int64 product, and one carry makes them words of base ``w`` (a few
    numpy passes). Otherwise schoolbook on 28-bit digits: every digit product is below
    2**56, so a group of up to 64 of them sums in an int64 (operands up to 1,792 bits).
    """
    if not isinstance(a, Words) and not isinstance(b, Words):
        if a_bits > b_bits:
            a, a_bits, b, b_bits = b, b_bits, a, a_bits
        w = 61 - a_bits
        if w >= 21:
            return _split_mul(a, b, w, -(-(b_bits + 1) // w))
    da = _digits(a, 0, a_bits)
    db = _digits(b, 0, b_bits)
    if len(da) + len(db) > 64:
        raise ValueError(f"operands of {a_bits} and {b_bits} bits are too wide for int64 digits")
    groups = [None] * (len(da) + len(db) - 1)
    for i, x in enumerate(da):
        for j, y in enumerate(db):
            p = x * y
            groups[i + j] = p if groups[i + j] is None else groups[i + j] + p
    return _pack(_broadcast(groups), _DIGIT, a_bits + b_bits)
