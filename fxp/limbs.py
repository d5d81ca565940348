"""Exact wide integer matmul from float64 BLAS products of small limbs (results past 64 bits)."""

from __future__ import annotations

import numpy as np

__all__ = ["limb_matmul"]


def _limbs(x: np.ndarray, width: int, count: int) -> list[np.ndarray]:
    """``x = sum(limb[i] << (i * width))``: unsigned low limbs, a signed top limb, as float64."""
    mask = (1 << width) - 1
    out = [((x >> (i * width)) & mask).astype(np.float64) for i in range(count - 1)]
    out.append((x >> ((count - 1) * width)).astype(np.float64))
    return out


def limb_matmul(a: np.ndarray, b: np.ndarray, a_bits: int, b_bits: int) -> np.ndarray | None:
    """Exact ``a @ b`` of int64 arrays as Python ints, or None when limbs would be too narrow.

    Each operand is split into limbs of ``w`` bits with ``K * 2**(2w) < 2**53``, so every
    limb product matrix is an exact float64 BLAS matmul; the products are summed per shift in
    int64, carried into base ``2**w`` digits and packed into at most two Python-int operations
    per word.

    Parameters
    ----------
    a, b : numpy.ndarray of int64
        Shapes as :func:`numpy.matmul`.
    a_bits, b_bits : int
        Every ``|a|`` is below ``2**a_bits`` (likewise ``b``).
    """
    if a.ndim == 1 and b.ndim == 1:   # a scalar result: keep every step an array
        out = limb_matmul(a[None, :], b[:, None], a_bits, b_bits)
        return None if out is None else out.reshape(())
    k = a.shape[-1]
    w = (52 - max(k, 1).bit_length()) // 2
    if w < 8:
        return None
    na, nb = -(-(a_bits + 1) // w), -(-(b_bits + 1) // w)
    la, lb = _limbs(a, w, na), _limbs(b, w, nb)
    groups = [None] * (na + nb - 1)
    for i, x in enumerate(la):
        for j, y in enumerate(lb):
            p = np.asarray(np.matmul(x, y)).astype(np.int64)   # < K * 2**(2w) < 2**53: exact
            groups[i + j] = p if groups[i + j] is None else groups[i + j] + p
    mask = (1 << w) - 1
    digits, carry = [], 0
    for g in groups:   # base 2**w digits; the carry stays small (groups < 2**62)
        t = g + carry
        digits.append(t & mask)
        carry = t >> w
    digits[-1] = digits[-1] + (carry << w)    # the signed top: a few bits past w
    per_word = 62 // w - 1                      # leaves room for the top digit's carry
    words = []
    for start in range(0, len(digits), per_word):
        chunk = digits[start:start + per_word]
        word = chunk[0]
        for j, d in enumerate(chunk[1:], 1):
            word = word + (d << (j * w))
        words.append(word)
    # Python ints only at the end: one multiply-add per word (numpy converts the int64 addend)
    out = words[-1].astype(object)
    for word in reversed(words[:-1]):
        out = out * (1 << (per_word * w)) + word
    return out
