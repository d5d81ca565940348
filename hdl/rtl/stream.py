"""Pixel-stream blocks of the convolutional layers: sliding windows, pooling, flatten.

An image ``(H, W, C)`` travels as ``H * W`` beats of ``C`` values in raster order (row by
row, channel 0 in the low bits of a beat), frames back to back; a 1-D ``(L, C)`` input is
``L`` beats (``W = 1``). Every block here counts its input beats to know where a frame
starts, takes one beat per cycle when its consumer is ready, and registers its output (a
one-deep pipeline: ``i.ready = ~o.valid | o.ready``), so a chain of them streams one pixel per
cycle. :meth:`beat_times` maps the cycles the beats of one frame arrive in to the cycles
the block's output beats leave in (at full rate, never stalled): the top's latency comes from
chaining them.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from fxp import FixedFormat

from .common import as_format, fmt_shape, positive_int, vector_layout
from .requantize import requantize

__all__ = ["Pad", "SlidingWindow", "PoolReduce", "GlobalAvgPool", "Flatten", "Chain", "frame_beats",
           "beat_times"]


def frame_beats(shape) -> int:
    """Beats per frame of a tensor of ``shape`` streamed as pixels (``(N,)``: one vector)."""
    return 1 if len(shape) <= 1 else shape[0] * (shape[1] if len(shape) == 3 else 1)


def beat_times(block, times) -> list:
    """The cycles ``block``'s output beats leave in for input beats arriving at ``times`` (at
    full rate): its own ``beat_times``, or each beat delayed by its latency (a vector or
    per-pixel block)."""
    if hasattr(block, "beat_times"):
        return block.beat_times(times)
    return [t + block.latency for t in times]


def _pair(value, what):
    a, b = value
    return positive_int(a, f"{what}[0]"), positive_int(b, f"{what}[1]")


def _one_hot_rows(n: int, hit) -> Const:
    """A constant of ``n`` bits, bit ``k`` set when ``hit(k)``: a position test as one bit
    select instead of a comparator and a modulo."""
    return Const(sum(1 << k for k in range(n) if hit(k)), n)


class _Registered(wiring.Component):
    """The one-deep output register shared by the blocks: ``o.valid`` is a register, the
    block's own registers load only on an accepted input beat."""

    def _handshake(self, m, emit):
        """Drive ``i.ready``; set ``o.valid`` when an accepted beat ``emit``\\s an output.
        Returns the accept signal."""
        take = Signal(name=f"{type(self).__name__.lower()}_take")
        valid = Signal(name=f"{type(self).__name__.lower()}_valid")
        m.d.comb += [self.i.ready.eq(~valid | self.o.ready),
                     take.eq(self.i.valid & self.i.ready), self.o.valid.eq(valid)]
        with m.If(take):
            m.d.sync += valid.eq(emit)
        with m.Elif(self.o.ready):
            m.d.sync += valid.eq(0)
        return take

    @property
    def latency(self) -> int:
        return 1

    @property
    def ii(self) -> int:
        return 1


class Pad(wiring.Component):
    """The zeros of padding ``same`` inserted into a raster pixel stream.

    The output is the padded image ``(H + top + bottom, W + left + right)`` in raster order:
    an image pixel is passed on when it is taken; a padding pixel is a zero beat the block
    makes itself. A padding beat that comes before an image pixel of the same frame is made
    only while that pixel is offered (``i.valid``) when ``gated``, so that every frame, the
    first one after reset included, keeps the same timing (for a pad fed one pixel per cycle:
    the model's input); ungated, it goes out as soon as it can, so that a pad fed by windows
    (whose pixels come with gaps) has its zeros out before the next pixel comes and does not
    stall the blocks before it. The padding after the frame's last pixel goes out at once.
    The block takes at most one pixel per cycle and needs ``ii`` = padded pixels cycles per
    frame (the image pixels wait while padding goes out). Registered output.

    Parameters
    ----------
    fmt : FixedFormat or str
    channels : int
    size : tuple of int
        ``(H, W)`` of the image.
    pads : tuple of (int, int)
        ``((top, bottom), (left, right))``, as :attr:`fxp.nn.layers.window.Window.pads`.
    gated : bool, default True
        Padding before a pixel waits for that pixel to be offered.

    Attributes
    ----------
    i, o : stream of ``vector_layout(fmt, channels)``
    out_size : tuple of int
        The padded ``(H', W')``.
    """

    def __init__(self, *, fmt, channels, size, pads, gated: bool = True):
        self._gated = bool(gated)
        self._fmt = as_format(fmt, "Pad format")
        self._c = positive_int(channels, "Pad channels")
        self._size = _pair(size, "Pad size")
        try:
            (t, b), (lf, r) = pads
        except (TypeError, ValueError):
            raise TypeError(f"Pad pads must be ((top, bottom), (left, right)), not "
                            f"{pads!r}") from None
        for v in (t, b, lf, r):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"Pad pads must be non-negative integers, not {pads!r}")
        self._pads = ((t, b), (lf, r))
        layout = vector_layout(self._fmt, self._c)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    @property
    def out_fmt(self) -> FixedFormat:
        return self._fmt

    @property
    def out_size(self) -> tuple:
        (h, w), ((t, b), (lf, r)) = self._size, self._pads
        return h + t + b, w + lf + r

    @property
    def latency(self) -> int:
        return 1

    @property
    def ii(self) -> int:
        ph, pw = self.out_size
        return ph * pw

    def _inside(self, y: int, x: int) -> bool:
        (h, w), ((t, _), (lf, _)) = self._size, self._pads
        return t <= y < t + h and lf <= x < lf + w

    def beat_times(self, times) -> list:
        ph, pw = self.out_size
        out, prev, k = [], -1, 0          # k: the next image pixel
        for y in range(ph):
            for x in range(pw):
                if self._inside(y, x):
                    prev = max(prev + 1, times[k] + 1)
                    k += 1
                elif self._gated and k < len(times):   # waits for the next pixel
                    prev = max(prev + 1, times[k] + 1)
                else:                                   # at once
                    prev += 1
                out.append(prev)
        return out

    def elaborate(self, platform):
        m = Module()
        (h, w), ((t, _), (lf, _)) = self._size, self._pads
        ph, pw = self.out_size
        row = Signal(range(ph), name="pad_row") if ph > 1 else Const(0, 1)
        col = Signal(range(pw), name="pad_col") if pw > 1 else Const(0, 1)
        in_row = _one_hot_rows(ph, lambda y: t <= y < t + h).bit_select(row, 1)
        in_col = _one_hot_rows(pw, lambda x: lf <= x < lf + w).bit_select(col, 1)
        past_row = _one_hot_rows(ph, lambda y: y >= t + h).bit_select(row, 1)
        last_row = _one_hot_rows(ph, lambda y: y == t + h - 1).bit_select(row, 1)
        past_col = _one_hot_rows(pw, lambda x: x >= lf + w).bit_select(col, 1)
        inside = Signal(name="pad_inside")
        tail = Signal(name="pad_tail")
        valid = Signal(name="pad_valid")
        step = Signal(name="pad_step")
        data = Signal(vector_layout(self._fmt, self._c), name="pad_data")
        free = ~valid | self.o.ready
        m.d.comb += [inside.eq(in_row & in_col), tail.eq(past_row | (last_row & past_col)),
                     self.i.ready.eq(free & inside),
                     step.eq(free & (self.i.valid | ~inside) if not self._gated else
                             free & (self.i.valid | (tail & ~inside))),
                     self.o.valid.eq(valid), self.o.payload.eq(data)]
        with m.If(step):
            m.d.sync += [valid.eq(1),
                         data.eq(Mux(inside, self.i.payload.as_value(), 0))]
            if pw > 1:
                with m.If(col == pw - 1):
                    m.d.sync += col.eq(0)
                    if ph > 1:
                        m.d.sync += row.eq(Mux(row == ph - 1, 0, row + 1))
                with m.Else():
                    m.d.sync += col.eq(col + 1)
            elif ph > 1:
                m.d.sync += row.eq(Mux(row == ph - 1, 0, row + 1))
        with m.Elif(self.o.ready):
            m.d.sync += valid.eq(0)
        return m


class SlidingWindow(_Registered):
    """Every ``kh x kw`` window (stride ``sh, sw``, no padding) of a raster pixel stream.

    The window registers hold the ``kh x kw`` pixels whose bottom right corner is the newest
    pixel; the block emits them when that corner is a window position: row ``r >= kh - 1``
    with ``(r - kh + 1) % sh == 0``, the same for columns. The rows above the newest wait in
    line buffers: one :class:`~amaranth.lib.memory.Memory` word per column holding that
    column's last ``kh - 1`` pixels, read and rewritten as each pixel comes (an image only as
    wide as the window needs no line buffer: the window registers shift through the rows).
    The output beat is the window flattened ``(kh, kw, C)`` row-major, the order of a conv
    weight's ``(kh, kw, C)`` axes and of :meth:`fxp.nn.layers.window.Window.patches`.

    Parameters
    ----------
    fmt : FixedFormat or str
    channels : int
    size, kernel, stride : tuple of int
        ``(H, W)``, ``(kh, kw)``, ``(sh, sw)``.

    Attributes
    ----------
    i : In(stream.Signature(vector_layout(fmt, channels)))
    o : Out(stream.Signature(vector_layout(fmt, kh * kw * channels)))
    out_size : tuple of int
        ``(oh, ow)``.
    """

    def __init__(self, *, fmt, channels, size, kernel, stride):
        self._fmt = as_format(fmt, "SlidingWindow format")
        self._c = positive_int(channels, "SlidingWindow channels")
        self._size = _pair(size, "SlidingWindow size")
        self._kernel = _pair(kernel, "SlidingWindow kernel")
        self._stride = _pair(stride, "SlidingWindow stride")
        (h, w), (kh, kw) = self._size, self._kernel
        if kh > h or kw > w:
            raise ValueError(f"SlidingWindow: a {kh}x{kw} window does not fit {h}x{w}")
        super().__init__({
            "i": In(stream.Signature(vector_layout(self._fmt, self._c))),
            "o": Out(stream.Signature(vector_layout(self._fmt, kh * kw * self._c)))})

    @property
    def out_fmt(self) -> FixedFormat:
        return self._fmt

    @property
    def out_size(self) -> tuple:
        (h, w), (kh, kw), (sh, sw) = self._size, self._kernel, self._stride
        return (h - kh) // sh + 1, (w - kw) // sw + 1

    @property
    def line_buffered(self) -> bool:
        """Whether the rows above the window wait in line buffers (the image is wider than
        the window and the window has more than one row)."""
        (_, w), (kh, kw) = self._size, self._kernel
        return kh > 1 and w > kw

    def _hit(self, axis):
        k, s = self._kernel[axis], self._stride[axis]
        return lambda r: r >= k - 1 and (r - k + 1) % s == 0

    def beat_times(self, times) -> list:
        (h, w) = self._size
        rows, cols = self._hit(0), self._hit(1)
        return [times[r * w + c] + 1 for r in range(h) for c in range(w)
                if rows(r) and cols(c)]

    def elaborate(self, platform):
        m = Module()
        (h, w), (kh, kw) = self._size, self._kernel
        pixel = vector_layout(self._fmt, self._c)
        # a 1-pixel axis (a 1-D stream's columns) has no counter: it is always 0
        row = Signal(range(h), name="win_row") if h > 1 else Const(0, 1)
        col = Signal(range(w), name="win_col") if w > 1 else Const(0, 1)
        row_hit, col_hit = _one_hot_rows(h, self._hit(0)), _one_hot_rows(w, self._hit(1))
        take = self._handshake(m, row_hit.bit_select(row, 1) & col_hit.bit_select(col, 1))
        with m.If(take):
            next_row = Mux(row == h - 1, 0, row + 1)
            if w > 1:
                with m.If(col == w - 1):
                    m.d.sync += col.eq(0)
                    if h > 1:
                        m.d.sync += row.eq(next_row)
                with m.Else():
                    m.d.sync += col.eq(col + 1)
            elif h > 1:
                m.d.sync += row.eq(next_row)
        if self.line_buffered:
            window = self._line_buffers(m, take, col, pixel)
        else:
            window = self._shift_register(m, take, pixel)
        c = self._c
        for a in range(kh):
            for b in range(kw):
                for ch in range(c):
                    m.d.comb += self.o.payload[(a * kw + b) * c + ch].eq(window[a][b][ch])
        return m

    def _shift_register(self, m, take, pixel):
        """The last ``(kh - 1) * W + kw`` pixels in registers: ``window[a][b]``."""
        (_, w), (kh, kw) = self._size, self._kernel
        taps = [Signal(pixel, name=f"win_tap{d}")
                for d in range((kh - 1) * w + kw)]          # taps[0]: the newest pixel
        with m.If(take):
            m.d.sync += taps[0].eq(self.i.payload)
            m.d.sync += [taps[d].eq(taps[d - 1]) for d in range(1, len(taps))]
        return [[taps[(kh - 1 - a) * w + (kw - 1 - b)] for b in range(kw)] for a in range(kh)]

    def _line_buffers(self, m, take, col, pixel):
        """A ``kh x kw`` window of registers shifted left by a column per pixel; its new right
        column is the pixel under the ``kh - 1`` pixels above it from the line buffers."""
        (_, w), (kh, kw) = self._size, self._kernel
        m.submodules.lines = lines = Memory(shape=data.ArrayLayout(pixel, kh - 1), depth=w,
                                            init=[])
        rd = lines.read_port(domain="comb")
        wr = lines.write_port()
        above = rd.data            # above[k]: the pixel k + 1 rows up in this column
        m.d.comb += [rd.addr.eq(col), wr.addr.eq(col), wr.en.eq(take),
                     wr.data[0].eq(self.i.payload)]
        m.d.comb += [wr.data[k].eq(above[k - 1]) for k in range(1, kh - 1)]
        window = [[Signal(pixel, name=f"win_{a}_{b}") for b in range(kw)] for a in range(kh)]
        with m.If(take):
            for a in range(kh):
                m.d.sync += [window[a][b].eq(window[a][b + 1]) for b in range(kw - 1)]
                new = self.i.payload if a == kh - 1 else above[kh - 2 - a]
                m.d.sync += window[a][kw - 1].eq(new)
        return window


class PoolReduce(wiring.Component):
    """Each channel's maximum or exact mean over a window beat ``(n, C)`` (position-major).

    ``max``: the largest raw value, in the input format. ``avg`` (``n`` a power of two): the
    exact sum read as the mean format (``fxp.nn.layers.pool.mean_format``), then cast to
    ``out_fmt`` exactly as :meth:`fxp.FixedArray.cast`. Combinational (latency 0).

    Parameters
    ----------
    op : {"max", "avg"}
    n, channels : int
    in_fmt : FixedFormat or str
    mean_fmt, out_fmt : FixedFormat or None
        ``avg`` only: the exact mean's format and the output's (None: the exact mean).
    """

    def __init__(self, *, op, n, channels, in_fmt, mean_fmt=None, out_fmt=None):
        if op not in ("max", "avg"):
            raise ValueError(f"PoolReduce op must be max or avg, not {op!r}")
        self._op = op
        self._n = positive_int(n, "PoolReduce window n")
        self._c = positive_int(channels, "PoolReduce channels")
        self._in_fmt = as_format(in_fmt, "PoolReduce input format")
        self._mean_fmt = mean_fmt
        self._out_fmt = self._in_fmt if op == "max" else (out_fmt or mean_fmt)
        super().__init__({
            "i": In(stream.Signature(vector_layout(self._in_fmt, self._n * self._c))),
            "o": Out(stream.Signature(vector_layout(self._out_fmt, self._c)))})

    @property
    def out_fmt(self) -> FixedFormat:
        return self._out_fmt

    latency = 0
    ii = 1

    def beat_times(self, times) -> list:
        return list(times)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.o.valid.eq(self.i.valid), self.i.ready.eq(self.o.ready)]
        for ch in range(self._c):
            vals = [self.i.payload[p * self._c + ch] for p in range(self._n)]
            if self._op == "max":
                while len(vals) > 1:
                    vals = [Mux(vals[k + 1] > vals[k], vals[k + 1], vals[k])
                            if k + 1 < len(vals) else vals[k] for k in range(0, len(vals), 2)]
                m.d.comb += self.o.payload[ch].eq(vals[0])
            else:
                while len(vals) > 1:
                    vals = [vals[k] + vals[k + 1] if k + 1 < len(vals) else vals[k]
                            for k in range(0, len(vals), 2)]
                total = Signal(fmt_shape(self._mean_fmt), name=f"pool_sum{ch}")
                m.d.comb += total.eq(vals[0])
                m.d.comb += self.o.payload[ch].eq(
                    requantize(total, self._mean_fmt, self._out_fmt))
        return m


class GlobalAvgPool(_Registered):
    """Each channel's exact mean over a whole frame of ``beats`` pixels (a power of two),
    cast to ``out_fmt``: one output beat of ``C`` values per frame.

    The running sums are registers of the mean format (the exact sum cannot overflow it);
    the frame's last beat adds into the output register directly.
    """

    def __init__(self, *, beats, channels, in_fmt, mean_fmt, out_fmt=None):
        self._beats = positive_int(beats, "GlobalAvgPool beats")
        self._c = positive_int(channels, "GlobalAvgPool channels")
        self._in_fmt = as_format(in_fmt, "GlobalAvgPool input format")
        self._mean_fmt = mean_fmt
        self._out_fmt = out_fmt or mean_fmt
        super().__init__({
            "i": In(stream.Signature(vector_layout(self._in_fmt, self._c))),
            "o": Out(stream.Signature(vector_layout(self._out_fmt, self._c)))})

    @property
    def out_fmt(self) -> FixedFormat:
        return self._out_fmt

    def beat_times(self, times) -> list:
        return [times[-1] + 1]

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self._beats), name="gap_count")
        last = count == self._beats - 1
        take = self._handshake(m, last)
        shape = fmt_shape(self._mean_fmt)
        sums = [Signal(shape, name=f"gap_sum{ch}") for ch in range(self._c)]
        out = Signal(vector_layout(self._out_fmt, self._c), name="gap_out")
        with m.If(take):
            m.d.sync += count.eq(Mux(last, 0, count + 1))
            for ch in range(self._c):
                total = Signal(shape, name=f"gap_total{ch}")
                m.d.comb += total.eq(Mux(count == 0, 0, sums[ch]) + self.i.payload[ch])
                m.d.sync += sums[ch].eq(total)
                with m.If(last):
                    m.d.sync += out[ch].eq(requantize(total, self._mean_fmt, self._out_fmt))
        m.d.comb += self.o.payload.eq(out)
        return m


class Flatten(_Registered):
    """A frame of ``beats`` pixels of ``C`` values as one vector, row-major (pixel 0 in the
    low bits: ``(y, x, c)`` at ``(y * W + x) * C + c``, as :mod:`fxp.nn.layers.flatten`).

    A shift register of the frame's pixels, loaded only on accepted beats: after the last
    beat it holds the frame in order, and holds it until the vector is taken.
    """

    def __init__(self, *, beats, channels, fmt):
        self._beats = positive_int(beats, "Flatten beats")
        self._c = positive_int(channels, "Flatten channels")
        self._fmt = as_format(fmt, "Flatten format")
        super().__init__({
            "i": In(stream.Signature(vector_layout(self._fmt, self._c))),
            "o": Out(stream.Signature(vector_layout(self._fmt, self._beats * self._c)))})

    @property
    def out_fmt(self) -> FixedFormat:
        return self._fmt

    def beat_times(self, times) -> list:
        return [times[-1] + 1]

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self._beats), name="flat_count")
        last = count == self._beats - 1
        take = self._handshake(m, last)
        pixels = [Signal(vector_layout(self._fmt, self._c), name=f"flat_px{k}")
                  for k in range(self._beats)]           # pixels[-1]: the newest
        with m.If(take):
            m.d.sync += count.eq(Mux(last, 0, count + 1))
            m.d.sync += pixels[-1].eq(self.i.payload)
            m.d.sync += [pixels[k].eq(pixels[k + 1]) for k in range(self._beats - 1)]
        for k, px in enumerate(pixels):
            for ch in range(self._c):
                m.d.comb += self.o.payload[k * self._c + ch].eq(px[ch])
        return m


class Chain(wiring.Component):
    """Blocks connected in order (each ``o`` to the next ``i``) as one block: a conv layer is
    a :class:`SlidingWindow` then a dense over each window, a pool a window then its
    :class:`PoolReduce`.

    Parameters
    ----------
    parts : list of (str, Component)
        Submodule names and blocks (each with ``i``, ``o``, ``out_fmt``, ``latency``,
        ``beat_times``).
    """

    def __init__(self, parts):
        self._parts = list(parts)
        first, last = self._parts[0][1], self._parts[-1][1]
        super().__init__({"i": In(first.i.signature.flip()), "o": Out(last.o.signature)})

    @property
    def parts(self) -> list:
        return [blk for _, blk in self._parts]

    @property
    def out_fmt(self) -> FixedFormat:
        return self._parts[-1][1].out_fmt

    @property
    def latency(self) -> int:
        return sum(blk.latency for blk in self.parts)

    @property
    def ii(self) -> int:
        return max(blk.ii for blk in self.parts)

    def beat_times(self, times) -> list:
        for blk in self.parts:
            times = beat_times(blk, times)
        return times

    def elaborate(self, platform):
        m = Module()
        for name, blk in self._parts:
            m.submodules[name] = blk
        wiring.connect(m, wiring.flipped(self.i), self._parts[0][1].i)
        for (_, a), (_, b) in zip(self._parts, self._parts[1:]):
            wiring.connect(m, a.o, b.i)
        wiring.connect(m, self._parts[-1][1].o, wiring.flipped(self.o))
        return m
