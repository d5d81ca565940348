"""Exact wide integer arithmetic from int64 / float64 pieces (limbs): matmul, and the split of
wide integers for casts to int64 formats."""

from __future__ import annotations

import numpy as np

__all__ = ["limb_matmul"]

_F64_BITS = 53


def _limbs(x: np.ndarray, width: int, count: int) -> list[np.ndarray]:
    """``x = sum(limb[i] << (i * width))``: unsigned low limbs, a signed top limb, as float64."""
    mask = (1 << width) - 1
    out = [((x >> (i * width)) & mask).astype(np.float64) for i in range(count - 1)]
    out.append((x >> ((count - 1) * width)).astype(np.float64))
    return out


def limb_matmul(a: np.ndarray, b: np.ndarray, a_bits: int, b_bits: int) -> np.ndarray | None:
    """Exact ``a @ b`` of int64 arrays as Python ints, or None when limbs would be too narrow.

    Each operand is split into limbs of ``w`` bits with ``K * 2**(2w) <= 2**53``, so every
    limb product is an exact float64 BLAS matmul; all of them come from one BLAS call on the
    stacked limbs when ``b`` is a matrix. The products are summed per shift in int64, carried
    into base ``2**w`` digits and packed into 62-bit words; only those words become Python
    ints (one shift and one add per extra word).

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
    out = _pack(groups, w, a_bits + b_bits + k.bit_length() + 1)
    if vec_a:
        out = out[..., 0, :]
    if vec_b:
        out = out[..., 0]
    return out


def _pack(groups: list[np.ndarray], w: int, bits: int) -> np.ndarray:
    """``sum(g << (i * w))`` of int64 arrays (each below 2**62) as Python ints of ``bits`` bits.

    Carried into base ``2**w`` digits (the last carry is the sign, 0 or -1), ``62 // w``
    digits to an int64 word; the words are joined as Python ints.
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
    out = words[-1].astype(object)
    for word in reversed(words[:-1]):   # object shift and add: cheaper than * and int64 +
        out = (out << (per_word * w)) + word.astype(object)
    return out
