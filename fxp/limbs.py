"""Wide integers as int64 pieces: exact limb matmul on float64 BLAS, results kept as int64 words."""

from __future__ import annotations

import numpy as np

__all__ = ["limb_matmul", "Words"]

_F64_BITS = 53


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

    Every word but the last lies in ``[0, 2**base)``; the last carries the sign. A wide
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
        if j >= len(self.words):
            return self.words[-1] >> 63    # only sign bits are left
        out = self.words[j] >> o
        for k in range(j + 1, len(self.words)):
            sh = (k - j) * self.base - o
            if sh < 64:
                out = out + (self.words[k] << sh)
        return out

    def _low_nonzero(self, p: int) -> np.ndarray:
        """Whether ``value mod 2**p`` is not zero (``p >= 1``)."""
        j, o = divmod(p, self.base)
        nz = np.zeros(self.shape, dtype=bool)
        for k in range(min(j, len(self.words))):
            nz |= self.words[k] != 0
        if o and j < len(self.words):
            nz |= (self.words[j] & ((1 << o) - 1)) != 0
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
