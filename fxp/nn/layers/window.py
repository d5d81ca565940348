"""Sliding windows over channels-last tensors: output sizes, padding, im2col and col2im.

Shared by the convolution and pooling layers. Tensors are ``(batch, H, W, C)``; 1-D layers
view ``(batch, L, C)`` as ``(batch, L, 1, C)``. Padding follows TensorFlow: ``valid`` keeps the
windows that fit (``out = (in - k) // s + 1``); ``same`` gives ``out = ceil(in / s)`` with
``max((out - 1) * s + k - in, 0)`` zeros in total, the smaller half before (top/left).
Everything works on raw integers (int64 or object) and on floats alike.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..fields import SpecError, positive_int

__all__ = ["Window", "parse_pair", "layer_window", "PADDINGS"]

PADDINGS = ("valid", "same")


def parse_pair(value, where: str, one_d: bool) -> tuple:
    """A kernel, pool or stride field: ``[a, b]`` for 2-D layers, ``a`` for 1-D ones."""
    if one_d:
        return (positive_int(value, where), 1)
    if not isinstance(value, list) or len(value) != 2:
        raise SpecError(f"{where}: expected a list of two positive integers, not {value!r}")
    return tuple(positive_int(v, f"{where}[{k}]") for k, v in enumerate(value))


def layer_window(shape, kernel, stride, padding: str, one_d: bool, where: str) -> "Window":
    """The windows of a conv or pool layer over an input of ``shape`` (``[L, C]`` for 1-D
    layers, ``[H, W, C]`` for 2-D ones; any other rank is an error naming ``where``)."""
    if len(shape) != (2 if one_d else 3):
        want = "[L, C]" if one_d else "[H, W, C]"
        raise SpecError(f"{where}: expects an input shaped {want}, not {list(shape)}")
    size = (shape[0], 1) if one_d else shape[:2]
    return Window(size, kernel, stride, padding, where)


def _axis(n: int, k: int, s: int, padding: str):
    """``(out, before, after)`` along one axis, or None when no window fits."""
    if padding == "same":
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        return out, total // 2, total - total // 2
    if n < k:
        return None
    return (n - k) // s + 1, 0, 0


class Window:
    """The windows of a kernel ``(kh, kw)`` with stride ``(sh, sw)`` over an ``(H, W)`` input.

    Parameters
    ----------
    size : tuple of int
        ``(H, W)``.
    kernel, stride : tuple of int
    padding : str
        ``"valid"`` or ``"same"``.
    where : str
        Names the layer in the error raised when no window fits.
    """

    def __init__(self, size, kernel, stride, padding, where: str):
        self.size, self.kernel, self.stride = tuple(size), tuple(kernel), tuple(stride)
        axes = [_axis(n, k, s, padding) for n, k, s in zip(self.size, self.kernel, self.stride)]
        if None in axes:
            raise SpecError(f"{where}: a {'x'.join(map(str, self.kernel))} window does not fit "
                            f"an input of {'x'.join(map(str, self.size))} with padding "
                            f"'valid'")
        self.out = tuple(a[0] for a in axes)
        self.pads = tuple(a[1:] for a in axes)

    @property
    def count(self) -> int:
        """Values per window and channel (``kh * kw``)."""
        return self.kernel[0] * self.kernel[1]

    def _padded(self, x: np.ndarray) -> np.ndarray:
        (t, b), (lf, r) = self.pads
        if not (t or b or lf or r):
            return x
        out = np.zeros((x.shape[0], x.shape[1] + t + b, x.shape[2] + lf + r, x.shape[3]),
                       dtype=x.dtype)
        out[:, t:t + x.shape[1], lf:lf + x.shape[2]] = x  # object arrays get Python int 0
        return out

    def patches(self, x: np.ndarray) -> np.ndarray:
        """``(batch, oh, ow, kh, kw, C)``: every window of ``x`` ``(batch, H, W, C)``, padded
        with zeros (raw 0 is the value 0 in any format)."""
        v = sliding_window_view(self._padded(x), self.kernel, axis=(1, 2))
        sh, sw = self.stride
        v = v[:, ::sh, ::sw][:, :self.out[0], :self.out[1]]
        return v.transpose(0, 1, 2, 4, 5, 3)

    def unpatch(self, g: np.ndarray) -> np.ndarray:
        """The adjoint of :meth:`patches` on floats: ``(batch, H, W, C)`` sums of ``g``
        ``(batch, oh, ow, kh, kw, C)`` over the windows holding each input."""
        (t, b), (lf, r) = self.pads
        n, c = g.shape[0], g.shape[-1]
        out = np.zeros((n, self.size[0] + t + b, self.size[1] + lf + r, c))
        (oh, ow), (sh, sw) = self.out, self.stride
        for i in range(self.kernel[0]):        # loops over the kernel, not over pixels
            for j in range(self.kernel[1]):
                out[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw] += g[:, :, :, i, j]
        return out[:, t:t + self.size[0], lf:lf + self.size[1]]
