"""Constant matrix-vector multiply without multipliers: signed digits, shared subexpressions, adder trees.

:func:`solve` turns an integer matrix into an adder graph (pure Python, deterministic): every
weight becomes a minimal signed-digit form, digit pairs ``x_a + -(x_b << s)`` that recur across
outputs (and within one) are built once and reused, greedily by the LUTs they save
(:func:`adder_luts`: a per-adder estimate calibrated on yosys' ECP5 and Xilinx mapping), never
deeper than the plain trees (rounded up to the next register stage: no latency added), and each
output's remaining terms go into an adder tree that adds its narrowest terms first while it
still fits the depth limit (delay-aware). The graph is built from two minimal digit forms of
the weights (leaning toward, or against, each weight's sign) and the one of fewest estimated
LUTs is kept (ECP5 LUT4s plus 4x Xilinx LUT6s: a LUT6 holds four LUT4s' truth table); then,
within a fixed amount of work, the most frequent weight values try their other minimal forms
(:func:`minimal_forms`), one graph each, a form kept when the estimate drops; for a small
matrix, the greedy sharing runs again with seeded jitter on its scores (which pairs it shares
decides most of the gap to the best graph), the graph of fewest estimated LUTs kept; last, the
winner's trees are improved by rotations ``A + (C + D) -> (A + C) + D`` (and, for a small
matrix, exchanges of any two subtrees) that lower the estimate within the depth limit (on
Xilinx only the overlapping bits of an adder's operands cost, so adding a narrow term into a
wider sum can save LUTs). The depth limit is the plain trees' depth
(plus ``depth_slack``) or an absolute ``max_depth`` (e.g. another CMVM's depth, to compare at
equal depth). Every node carries the exact interval of its value (from its integer coefficients
on the inputs), so each adder is exactly as wide as the values it can produce. :func:`emit`
describes the graph in Amaranth with a register stage every ``pipeline`` adder levels;
:class:`ConstMatVec` is the bare component (used by the benchmark).
"""

from __future__ import annotations

import bisect
import functools
import heapq
import random
from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .common import check_bool, extend, nonnegative_int

__all__ = ["csd", "signed_digits", "minimal_forms", "range_bits", "adder_luts", "solve", "emit",
           "evaluate", "CMVMGraph", "ConstMatVec"]


def csd(value: int) -> list[tuple[int, int]]:
    """Canonical signed-digit form of an integer: ``[(sign, shift), ...]`` with
    ``value == sum(sign << shift)`` and no two adjacent nonzero digits (fewest adders)."""
    digits, k = [], 0
    while value:
        if value & 1:
            d = 2 - (value & 3)          # +1 when value % 4 == 1, -1 when value % 4 == 3
            digits.append((d, k))
            value -= d
        value >>= 1
        k += 1
    return digits


@functools.lru_cache(maxsize=4096)
def _msd(m: int, prefer: int) -> tuple:
    """``(digits, -prefer * negative digits, ((sign, shift), ...))``: a signed-digit form of
    ``m >= 0`` with the fewest digits, and of those the fewest (``prefer`` 1) or the most
    (``prefer`` -1) negative ones."""
    if m <= 1:
        return (m, 0, ((1, 0),) * m)
    if not m & 1:
        n, neg, d = _msd(m >> 1, prefer)
        return n, neg, tuple((e, k + 1) for e, k in d)
    n1, g1, d1 = _msd((m - 1) >> 1, prefer)
    n2, g2, d2 = _msd((m + 1) >> 1, prefer)
    plus = (n1 + 1, g1, ((1, 0),) + tuple((e, k + 1) for e, k in d1))
    minus = (n2 + 1, g2 + prefer, ((-1, 0),) + tuple((e, k + 1) for e, k in d2))
    return min(plus, minus, key=lambda o: o[:2])


@functools.lru_cache(maxsize=4096)
def _all_msd(m: int) -> tuple:
    """``(digits, forms)``: every signed-digit form of ``m >= 0`` with the fewest digits,
    each ``((sign, shift), ...)`` from the lowest shift, in a fixed order."""
    if m <= 1:
        return m, (((1, 0),) * m,)
    if not m & 1:
        n, forms = _all_msd(m >> 1)
        return n, tuple(tuple((e, k + 1) for e, k in f) for f in forms)
    n1, f1 = _all_msd((m - 1) >> 1)
    n2, f2 = _all_msd((m + 1) >> 1)
    n = min(n1, n2) + 1
    forms = [((1, 0),) + tuple((e, k + 1) for e, k in f) for f in f1 if n1 + 1 == n]
    forms += [((-1, 0),) + tuple((e, k + 1) for e, k in f) for f in f2 if n2 + 1 == n]
    return n, tuple(forms)


def signed_digits(value: int, prefer: int = 0) -> list[tuple[int, int]]:
    """A minimal signed-digit form of an integer.

    Parameters
    ----------
    value : int
    prefer : {0, 1, -1}
        0: the canonical form (:func:`csd`); 1: of the forms with as few digits, the one
        with the fewest digits against the sign of ``value`` (23 = 16 + 8 - 1, not
        32 - 8 - 1); -1: the one with the most.

    Returns
    -------
    list of (int, int)
        ``[(sign, shift), ...]`` with ``value == sum(sign << shift)``.
    """
    if not prefer:
        return csd(value)
    sign = 1 if value > 0 else -1
    return [(sign * e, k) for e, k in _msd(abs(value), prefer)[2]]


def minimal_forms(value: int) -> list[list[tuple[int, int]]]:
    """Every signed-digit form of an integer with the fewest digits (:func:`solve` tries a
    few of them for the most frequent weights), each ``[(sign, shift), ...]`` from the
    lowest shift, in a fixed order."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"minimal_forms needs an integer, not {value!r}")
    sign = 1 if value > 0 else -1
    return [[(sign * e, k) for e, k in f] for f in _all_msd(abs(value))[1]]


def _grow(la: int, lb: int) -> int:
    """How much an adder of two terms at levels ``la`` and ``lb`` adds to a tree's Kraft sum
    (``sum 2**level`` of its terms, at most ``2**depth``): the sum at ``max + 1`` replaces them."""
    return (1 << (max(la, lb) + 1)) - (1 << la) - (1 << lb)


def range_bits(lo: int, hi: int) -> tuple[int, bool]:
    """``(width, signed)`` of the narrowest two's complement integer holding ``[lo, hi]``."""
    if lo >= 0:
        return max(hi.bit_length(), 1), False
    return max((-lo - 1).bit_length(), hi.bit_length()) + 1, True


def adder_luts(a, b, s, r) -> tuple[int, int]:
    """Estimated LUTs of the adder ``r = a +- (b << s)``, calibrated on yosys' flattened
    synthesis (``templates/flow``).

    The bits below ``s`` are ``a``'s wires. On ECP5 every result bit from ``s`` up is half a
    CCU2C carry cell (two LUT4 positions per cell, the last one half used when the count is
    odd). On Xilinx a bit costs a LUT only where both operands have a bit that is not
    constant: above an unsigned operand's top it is a wire into the CARRY4 (or an inverter,
    not a LUT, for a subtraction), and above both operands' tops it repeats the LUT below.

    Parameters
    ----------
    a, b, r : (int, int)
        Exact ``(lo, hi)`` intervals of the operands and of the result.
    s : int
        Left shift of ``b``.

    Returns
    -------
    (int, int)
        ``(ecp5, xilinx)`` LUTs.
    """
    wa, sa = range_bits(*a)
    wb, sb = range_bits(*b)
    wr = range_bits(*r)[0]
    n = max(wr - s, 1)
    # Xilinx: the bits from s up where both operands are real or one is a sign extension
    xil = max(min(wa, s + wb, wr) - s, 0)             # both real
    if sb:
        xil += max(min(wa, wr) - (s + wb), 0)         # a real above b's top: b's sign
    if sa:
        xil += max(min(wr, s + wb) - max(wa, s), 0)   # b real above a's top: a's sign
    return 2 * -(-n // 2), xil


@dataclass(frozen=True)
class CMVMGraph:
    """An adder graph computing ``y[u] = sum_j M[u, j] * x[j] (+ const[u])`` exactly.

    Attributes
    ----------
    nodes : tuple
        ``(op, a, b, shift, sub, lo, hi, level)`` per node. ``op`` is ``"in"`` (input ``a``),
        ``"const"`` (the integer ``a``), ``"add"`` (``a + (b << shift)``, or ``-`` when
        ``sub``; node indices) or ``"neg"`` (``-a``, an output whose terms all came out
        negative; it keeps its operand's level, like the negated root of a plain tree).
        ``[lo, hi]`` is the exact range of the value, ``level`` its adder depth.
    outputs : tuple
        Per output ``(node, shift)``: ``y[u] = value(node) << shift``, or None (``y[u] = 0``).
    """

    nodes: tuple
    outputs: tuple

    @property
    def depth(self) -> int:
        """Adder levels from the inputs to the deepest output."""
        return max([self.nodes[n][7] for n, _ in filter(None, self.outputs)] or [0])

    def stages(self, pipeline: int) -> int:
        """Register stages from the inputs to the outputs with a register every ``pipeline``
        adder levels and after the last level: ``ceil(depth / pipeline)`` (0 when
        ``pipeline`` is 0)."""
        return -(-self.depth // pipeline) if pipeline else 0

    @property
    def adders(self) -> int:
        """Adders and subtractors (a negation counts as one)."""
        return sum(n[0] in ("add", "neg") for n in self.nodes)

    @property
    def adder_bits(self) -> int:
        """Total width of the adders (bits that pass through below an operand's shift
        excluded): a proxy for LUTs."""
        total = 0
        for op, a, b, s, sub, lo, hi, level in self.nodes:
            if op == "add":
                total += max(range_bits(lo, hi)[0] - s, 1)
            elif op == "neg":
                total += range_bits(lo, hi)[0]
        return total

    @property
    def luts(self) -> dict:
        """Estimated LUTs of the adders per target, ``{"ecp5": n, "xilinx": n}`` (see
        :func:`adder_luts`; a negation counts as an adder from zero)."""
        ecp5 = xil = 0
        for op, a, b, s, sub, lo, hi, level in self.nodes:
            if op == "add":
                e, x = adder_luts(self.nodes[a][5:7], self.nodes[b][5:7], s, (lo, hi))
            elif op == "neg":
                w = range_bits(lo, hi)[0]
                e, x = 2 * -(-w // 2), w
            else:
                continue
            ecp5 += e
            xil += x
        return {"ecp5": ecp5, "xilinx": xil}


class _Builder:
    """The graph under construction: nodes with exact coefficient vectors, deduplicated."""

    def __init__(self, ranges):
        self.ranges = ranges
        self.nodes = []
        self.coef = []           # per node: {input index (-1: constant): coefficient}
        self.index = {}          # (op, a, b, shift, sub) -> node

    def _new(self, key, coef, level):
        if key in self.index:
            return self.index[key]
        self.nodes.append(key + _interval(coef, self.ranges) + (level,))
        self.coef.append(coef)
        self.index[key] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def input(self, j):
        return self._new(("in", j, 0, 0, False), {j: 1}, 0)

    def const(self, value):
        return self._new(("const", value, 0, 0, False), {-1: value}, 0)

    def add(self, a, b, shift, sub):
        coef = _merge(self.coef[a], self.coef[b], -(1 << shift) if sub else 1 << shift)
        coef = {j: c for j, c in sorted(coef.items()) if c}
        level = max(self.nodes[a][7], self.nodes[b][7]) + 1
        return self._new(("add", a, b, shift, sub), coef, level)

    def neg(self, a):
        coef = {j: -c for j, c in self.coef[a].items()}
        # as in a plain tree's root, the negation shares the last adder level's stage
        return self._new(("neg", a, 0, 0, False), coef, self.nodes[a][7])

    def top(self, t):
        """The bit above the highest bit of the term ``t = (sign, node, shift)``."""
        return t[2] + self.width(t[1])

    def width(self, n):
        return range_bits(self.nodes[n][5], self.nodes[n][6])[0]

    def combine(self, t1, t2):
        """The term ``t1 + t2`` of two terms ``(sign, node, shift)``: one adder, the term with
        the lower shift (then the positive one) as its first operand, so no negation."""
        (e1, n1, p1), (e2, n2, p2) = sorted((t1, t2), key=lambda t: (t[2], -t[0], t[1]))
        return e1, self.add(n1, n2, p2 - p1, e1 != e2), p1


def _pair_key(t1, t2):
    """The pattern of two terms ``(sign, node, shift)``, the same wherever the pair sits and
    whichever its overall sign: ``(node_a, node_b, s, sub)`` for ``node_a +- (node_b << s)``,
    ``node_a`` the term with the lower shift (then the lower node)."""
    if (t1[2], t1[1]) > (t2[2], t2[1]):
        t1, t2 = t2, t1
    return t1[1], t2[1], t2[2] - t1[2], t1[0] != t2[0]


def solve(matrix, ranges, *, consts=None, shift=0, cse=True, depth_slack=0,
          max_depth=None, pipeline=0) -> CMVMGraph:
    """The adder graph of ``y[u] = sum_j (matrix[u][j] * x[j]) << shift + consts[u]``.

    Parameters
    ----------
    matrix : list of list of int
        ``(outputs, inputs)`` integer weights.
    ranges : list of (int, int)
        ``(lo, hi)`` of each integer input.
    consts : list of int, optional
        A constant added to each output (a bias), at shift 0.
    shift : int
        Left shift of every product (e.g. aligning products to an accumulator).
    cse : bool
        Share recurring digit pairs (False: each output is a tree of its own digits).
    depth_slack : int or None
        Levels the sharing may add to the depth of the plain trees (the deepest output's
        balanced tree of its digits): a shared term is used in an output only while that
        output's tree still fits (None: no limit).
    max_depth : int, optional
        An absolute adder-depth limit instead of ``depth_slack`` (which must then be 0), not
        rounded up to ``pipeline``: sharing and trees may use every level up to it (e.g.
        another CMVM's depth, to compare LUTs at equal depth). At least the plain trees'
        depth, else ValueError.
    pipeline : int
        Registers every ``pipeline`` levels: the ``depth_slack`` limit is rounded up to a
        multiple of it, since levels up to the next register cost no latency.

    Returns
    -------
    CMVMGraph
        With ``cse``, the one of fewest estimated LUTs (:attr:`CMVMGraph.luts`, ECP5 plus
        4x Xilinx) of two built from different minimal digit forms of the weights
        (:func:`signed_digits` ``prefer`` 1 and -1): which digits recur across outputs
        depends on the form (e.g. unsigned inputs favour digits of the weight's sign, whose
        sums stay unsigned); then up to ``_FORM_TRIES`` graphs (fewer for large matrices) in
        which one of the most frequent weight magnitudes takes another of its
        :func:`minimal_forms` everywhere, each kept when it lowers the estimate. The canonical
        form (``cse=False``) lost to one of them on every matrix of ``make bench-rtl``.
        For a matrix of at most ``_SMALL`` digits, ``_JITTER_RUNS`` more graphs from the
        greedy sharing with seeded jitter on its scores, the one of fewest estimated LUTs
        after rotation kept. Its trees are then rotated (``_rotate``; for a small matrix also
        any two subtrees exchanged, ``_swap``), which may spend up to 4 ECP5 LUT4s per
        Xilinx LUT6 saved; the rotated graph is kept only if its estimate is no worse.
    """
    pipeline = nonnegative_int(pipeline, "solve pipeline")
    if depth_slack is not None:
        depth_slack = nonnegative_int(depth_slack, "solve depth_slack")
    if max_depth is not None:
        max_depth = nonnegative_int(max_depth, "solve max_depth")
        if depth_slack not in (0, None):
            raise ValueError(f"give depth_slack ({depth_slack!r}) or max_depth "
                             f"({max_depth!r}), not both")
        depth_slack = 0
        least = _plain_depth(matrix, consts)
        if max_depth < least:
            raise ValueError(f"max_depth {max_depth} is below {least}, the least adder depth "
                             f"of this matrix (a balanced tree of its longest output's digits)")
    # the same weights solved once per process (a model's layers are built again by each
    # test, report and simulator build that elaborates them)
    return _cached(tuple(tuple(int(w) for w in row) for row in matrix),
                   tuple((int(lo), int(hi)) for lo, hi in ranges),
                   None if consts is None else tuple(int(c) for c in consts), int(shift),
                   bool(cse), depth_slack, max_depth, pipeline)


@functools.lru_cache(maxsize=64)
def _cached(matrix, ranges, consts, shift, cse, depth_slack, max_depth, pipeline) -> CMVMGraph:
    """:func:`solve` after its checks, on hashable arguments."""
    args = (matrix, ranges, consts, shift, cse, depth_slack, max_depth, pipeline)
    best = None
    for prefer in (1, -1) if cse else (0,):
        g, trees = _solve(*args, prefer)
        if best is None or _weighted(g) < _weighted(best):
            best, best_prefer, best_trees = g, prefer, trees
    if not cse:
        return best
    # then the most frequent weight magnitudes with several minimal forms try their other
    # forms (everywhere they occur), one graph each, keeping a form when the estimate drops;
    # as many graphs as a fixed amount of work allows (the solver's time grows with digits)
    count, digits = {}, 0
    for row in matrix:
        for w in row:
            m = abs(int(w))
            digits += _all_msd(m)[0]
            if len(_all_msd(m)[1]) > 1:
                count[m] = count.get(m, 0) + 1
    budget = min(_FORM_TRIES, _FORM_WORK // max(digits, 1))
    forms = {}
    tries = [(m, form) for m in sorted(count, key=lambda m: (-count[m], m))
             for form in _all_msd(m)[1] if form != _msd(m, best_prefer)[2]]
    for m, form in tries[:budget]:
        g, trees = _solve(*args, best_prefer, {**forms, m: form})
        if _weighted(g) < _weighted(best):
            best, best_trees, forms = g, trees, {**forms, m: form}
    small = digits <= _SMALL
    if small:
        # small matrices: the greedy sharing again with its scores jittered (seeded), each
        # graph judged with rotated trees; the gap to the best sharing is in which pairs it
        # shares, which no local change of the greedy's ranking found
        base = best_trees(True)
        for seed in range(1, _JITTER_RUNS + 1):
            trees = _solve(*args, best_prefer, forms, seed)[1]
            g = trees(True)
            if _weighted(g) < _weighted(base):
                base, best_trees = g, trees
    # the winner's trees rotated (_rotate; subtree exchanges too, for a small matrix): once,
    # as it takes longer than the greedy
    final = best_trees(True, small)
    return final if _weighted(final) <= _weighted(best) else best


_FORM_TRIES = 6       # at most this many graphs with other digit forms (solve)
_FORM_WORK = 5000     # ... and at most this many over the matrix's digits
_SMALL = 1000         # up to this many digits: jittered sharing runs and subtree exchanges
_JITTER_RUNS = 20     # sharing runs with jittered scores (solve, small matrices)
_JITTER = 0.2         # ... each pattern's score scaled by a seeded factor in 1 +- _JITTER / 2


def _plain_depth(matrix, consts) -> int:
    """The depth of the plain trees: a balanced tree of the longest output's digits (and
    constant)."""
    sizes = [sum(len(csd(int(w))) for w in row) + bool(consts is not None and int(consts[u]))
             for u, row in enumerate(matrix)]
    return max([max(n - 1, 0).bit_length() for n in sizes] or [0])


def _solve(matrix, ranges, consts, shift, cse, depth_slack, max_depth, pipeline,
           prefer, forms=None, jitter=0):
    """``(graph, trees)``: the graph of :func:`solve` from the weights' :func:`signed_digits`
    ``prefer`` forms (``forms``: ``{magnitude: digits}`` instead, where given; ``jitter``:
    the seed of :func:`_share`'s score jitter, 0 none), and ``trees(rotate, swap=False)``,
    which builds its trees again (rotated: :func:`_rotate`)."""
    b = _Builder([(int(lo), int(hi)) for lo, hi in ranges])
    inputs = [b.input(j) for j in range(len(ranges))]
    outs = len(matrix)
    terms = []                       # per output: {term id: (sign, node, shift)}
    tid = 0
    for u, row in enumerate(matrix):
        t = {}
        for j, w in enumerate(row):
            w = int(w)
            if forms and abs(w) in forms:
                digits = [(e if w > 0 else -e, k) for e, k in forms[abs(w)]]
            else:
                digits = signed_digits(w, prefer)
            for sign, k in digits:
                t[tid] = (sign, inputs[j], k + shift)
                tid += 1
        terms.append(t)
    sizes = [len(t) + bool(consts is not None and int(consts[u])) for u, t in enumerate(terms)]
    limit = max_depth
    if cse and max_depth is None and depth_slack is not None:
        limit = max([(n - 1).bit_length() for n in sizes] or [0]) + depth_slack
        if pipeline:
            limit = -(-limit // pipeline) * pipeline
    if cse:
        tid = _share(b, terms, tid, limit, [n - len(t) for n, t in zip(sizes, terms)], jitter)
    outputs, all_ts = [], []
    for u in range(outs):
        ts = list(terms[u].values())
        c = int(consts[u]) if consts is not None else 0
        if c:
            tz = (c & -c).bit_length() - 1
            ts.append((1, b.const(c >> tz), tz))
        all_ts.append(ts)
    budget = max(_least_depth([b.nodes[t[1]][7] for t in ts]) for ts in all_ts) if outs else 0
    if limit is not None:
        budget = max(budget, limit)      # levels up to the limit cost no latency
    trees = functools.partial(_trees, b, all_ts, budget)
    return trees(False), trees


def _trees(b, all_ts, budget, rotate, swap=False) -> CMVMGraph:
    """The graph of each output's tree of its terms ``all_ts[u]`` within ``budget`` levels."""
    outputs = []
    for ts in all_ts:
        if not ts:
            outputs.append(None)
            continue
        sign, node, sh = _tree(b, ts, budget, rotate, swap)
        if sign < 0:
            node = b.neg(node)
        outputs.append((node, sh))
    return _prune(b.nodes, outputs)


_TREE_WINDOW = 8      # the tree picks its next adder among pairs of this many narrowest terms


def _pair_cost(b, t1, t2):
    """``(top bit of the sum, its LUTs)`` of adding the terms ``t1`` and ``t2``."""
    # the adder combine() would build: n1 +- (n2 << s)
    (e1, n1, p1), (e2, n2, p2) = sorted((t1, t2), key=lambda t: (t[2], -t[0], t[1]))
    lo1, hi1 = b.nodes[n1][5:7]
    lo2, hi2 = b.nodes[n2][5:7]
    s = p2 - p1
    if e1 != e2:
        r = (lo1 - (hi2 << s), hi1 - (lo2 << s))
    else:
        r = (lo1 + (lo2 << s), hi1 + (hi2 << s))
    return p1 + range_bits(*r)[0], sum(adder_luts((lo1, hi1), (lo2, hi2), s, r))


def _tree(b, ts, budget, rotate=False, swap=False):
    """One output's adder tree within ``budget`` levels: repeatedly add, of the pairs of
    the few narrowest terms (lowest top bit) whose sum still lets the tree finish in time
    (Kraft: terms ready at levels l_i fit a tree of depth D iff sum(2**l_i) <= 2**D), the
    one with the lowest top bit, then the fewest LUTs; else the two earliest-ready; so an
    output shallower than the deepest one spends its slack on narrower adders, and the
    deepest one gets a delay-aware (Huffman on levels) tree."""
    cap = 1 << budget
    shape = {}                        # combined term -> its two operand terms
    items = sorted(((b.top(t), b.nodes[t[1]][7], seq, t) for seq, t in enumerate(
        sorted(ts, key=lambda t: (b.nodes[t[1]][7], t[2], t[1], -t[0])))))
    kraft = sum(1 << it[1] for it in items)
    seq = len(items)
    while len(items) > 1:
        pick = best = None
        for i in range(min(len(items), _TREE_WINDOW)):
            for k in range(i + 1, min(len(items), _TREE_WINDOW)):
                la, lb = items[i][1], items[k][1]
                grow = _grow(la, lb)
                if kraft + grow <= cap:
                    key = _pair_cost(b, items[i][3], items[k][3])
                    if best is None or key < best:
                        best, pick = key, (i, k, grow)
        for i in range(len(items) if pick is None else 0):
            for k in range(i + 1, len(items)):
                la, lb = items[i][1], items[k][1]
                grow = _grow(la, lb)
                if kraft + grow <= cap:
                    pick = (i, k, grow)
                    break
            if pick:
                break
        if pick is None:
            order = sorted(range(len(items)), key=lambda k: (items[k][1], items[k][0], k))
            i, k = sorted(order[:2])
            la, lb = items[i][1], items[k][1]
            pick = (i, k, _grow(la, lb))
        i, k, grow = pick
        t = b.combine(items[i][3], items[k][3])
        shape[t] = (items[i][3], items[k][3])
        kraft += grow
        del items[k], items[i]
        bisect.insort(items, (b.top(t), b.nodes[t[1]][7], seq, t))
        seq += 1
    return _rotate(b, items[0][3], shape, budget, swap) if rotate else items[0][3]


_XILINX_WEIGHT = 4    # the cost solve minimises: ECP5 LUT4s + this many Xilinx LUT6s


def _rotate(b, root, shape, budget, swap=False):
    """The tree ``shape`` of ``root`` improved by rotations, ``A + (C + D)`` to
    ``(A + C) + D`` or ``(A + D) + C``, and exchanges, ``(A + B) + (C + D)`` to
    ``(A + C) + (B + D)`` or ``(A + D) + (B + C)``, while one lowers the estimated LUTs
    (:func:`_weighted`) of the adders it changes (the sum's value, and so every adder above
    it, is unchanged) and the tree still fits ``budget`` levels; then built. The greedy tree
    adds narrow terms first; a rotation can instead add a narrow term into a wider sum (on
    Xilinx only the overlapping bits cost LUTs) where the depth allows."""
    ranges = b.ranges

    # a node: [left, right, (sign, shift, coefficients, (lo, hi)), level, leaf's term or
    # LUTs of the node's adder]
    def adder(left, right):
        v, luts, lv = _join(left, right, ranges)
        return [left, right, v, lv, luts]

    def build(t):
        if t not in shape:
            e, n, p = t
            return [None, None, (e, p, b.coef[n], tuple(b.nodes[n][5:7])), b.nodes[n][7], t]
        return adder(build(shape[t][0]), build(shape[t][1]))

    def level(node):
        return node[3] if node[0] is None else max(level(node[0]), level(node[1])) + 1

    def regroup(node, left, right, luts):
        """Give ``node`` (its value unchanged) the operands ``left`` and ``right`` if the
        tree then still fits ``budget``; False, and ``node`` as it was, otherwise."""
        saved = node[:2] + node[4:]
        node[0], node[1], node[4] = left, right, luts
        if level(top) <= budget:
            return True
        node[0], node[1], node[4] = saved
        return False

    top = build(root)
    if top[0] is None:
        return root
    changed = True
    while changed:
        changed = False
        todo, inner = [top], []
        while todo:
            node = todo.pop()
            if node[0] is not None:
                inner.append(node)
                todo += [node[0], node[1]]
        for node in inner:
            again = True
            while again:
                again = False
                for side in (0, 1):
                    a, bc = node[1 - side], node[side]
                    if bc[0] is None:
                        continue
                    old = node[4] + bc[4]
                    for keep, move in ((bc[0], bc[1]), (bc[1], bc[0])):
                        joined = adder(a, move)
                        v2, c2, _ = _join(joined, keep, ranges)
                        # only where the sum keeps its sign and shift (the adder above it
                        # unchanged)
                        if joined[4] + c2 < old and v2[:2] == node[2][:2] and \
                                regroup(node, joined, keep, c2):
                            again = changed = True
                            break
                    if again:
                        break
                lt, rt = node[0], node[1]
                if again or lt[0] is None or rt[0] is None:
                    continue
                old = node[4] + lt[4] + rt[4]
                # (a + b) + (c + d) -> (a + c) + (b + d) or (a + d) + (b + c)
                for x, y in ((rt[0], rt[1]), (rt[1], rt[0])):
                    n1, n2 = adder(lt[0], x), adder(lt[1], y)
                    v3, c3, _ = _join(n1, n2, ranges)
                    if n1[4] + n2[4] + c3 < old and v3[:2] == node[2][:2] and \
                            regroup(node, n1, n2, c3):
                        again = changed = True
                        break
        if not changed and swap:
            changed = _swap(top, ranges, budget, level)

    def make(node):
        return node[4] if node[0] is None else b.combine(make(node[0]), make(node[1]))

    return make(top)


def _swap(top, ranges, budget, level) -> bool:
    """Exchange two subtrees of the tree ``top`` (neither inside the other), ``(A + B) +
    (C + (D + E)) -> (A + D) + (C + (B + E))``, wherever one lowers the estimate of the
    adders it changes (those on the paths from the two to their lowest common ancestor,
    whose value is unchanged) and the tree still fits ``budget`` levels; True when one did.
    Nodes as in :func:`_rotate`."""

    def index():
        order, parent, anc = [], {}, {id(top): ()}
        stack = [top]
        while stack:
            n = stack.pop()
            order.append(n)
            if n[0] is not None:
                for k in (0, 1):
                    parent[id(n[k])] = (n, k)
                    anc[id(n[k])] = anc[id(n)] + (id(n),)
                    stack.append(n[k])
        return order, parent, anc

    changed, again = False, True
    while again:
        again = False
        order, parent, anc = index()
        i = 1
        while i < len(order):
            x, moved = order[i], False
            ax = set(anc[id(x)])
            for y in order[i + 1:]:
                ay = anc[id(y)]
                (px, kx), (py, ky) = parent[id(x)], parent[id(y)]
                if id(x) in ay or px is py:
                    continue
                lca = next(a for a in reversed(ay) if a in ax)
                path = []                 # the adders whose operands change, bottom up
                for n in (px, py):
                    while id(n) != lca:
                        path.append(n)
                        n = parent[id(n)][0]
                path.append(n)
                old = sum(n[4] for n in path)
                saved = [(n[2], n[3], n[4]) for n in path]
                px[kx], py[ky] = y, x
                for n in path:
                    n[2], n[4], n[3] = _join(n[0], n[1], ranges)
                if sum(n[4] for n in path) < old and path[-1][2][:2] == saved[-1][0][:2] \
                        and level(top) <= budget:
                    moved = again = changed = True
                    break
                px[kx], py[ky] = x, y
                for n, sv in zip(path, saved):
                    n[2], n[3], n[4] = sv
            if moved:
                order, parent, anc = index()
            else:
                i += 1
    return changed


def _join(n1, n2, ranges):
    """``(value, LUTs, level)`` of the adder :meth:`_Builder.combine` would build from the
    tree nodes ``n1`` and ``n2`` of :func:`_rotate` (LUTs weighted as it weighs them)."""
    (e1, p1, c1, r1), (e2, p2, c2, r2) = sorted((n1[2], n2[2]), key=lambda v: (v[1], -v[0]))
    s = p2 - p1
    k = -(1 << s) if e1 != e2 else 1 << s
    coef = _merge(c1, c2, k)
    lo, hi = _interval(coef, ranges)
    ecp5, xil = adder_luts(r1, r2, s, (lo, hi))
    return (e1, p1, coef, (lo, hi)), ecp5 + _XILINX_WEIGHT * xil, max(n1[3], n2[3]) + 1


def _merge(c1, c2, k) -> dict:
    """The coefficients on the inputs (``-1``: the constant) of ``v1 + k * v2``."""
    coef = dict(c1)
    for j, c in c2.items():
        coef[j] = coef.get(j, 0) + k * c
    return coef


def _interval(coef, ranges) -> tuple:
    """The exact ``(lo, hi)`` of ``coef[-1] + sum(coef[j] * x_j)`` over the inputs' ranges."""
    lo = hi = coef.get(-1, 0)
    for j, c in coef.items():
        if j >= 0:
            r0, r1 = ranges[j]
            lo += min(c * r0, c * r1)
            hi += max(c * r0, c * r1)
    return lo, hi


def _least_depth(levels) -> int:
    """The least depth of an adder tree over terms ready at ``levels`` (Huffman on levels)."""
    heap = sorted(levels) or [0]
    while len(heap) > 1:
        a, c = heapq.heappop(heap), heapq.heappop(heap)
        heapq.heappush(heap, max(a, c) + 1)
    return heap[0]


def _share(b, terms, tid, depth, extra, jitter=0):
    """Greedy common-subexpression elimination over the outputs' terms (in place); an output
    takes a shared term only while its tree fits in ``depth`` levels (``extra[u]`` more
    terms at level 0 will join it); ``jitter`` (nonzero) seeds a factor on each pattern's
    score (``1 +- _JITTER / 2``, from the seed and the pattern only: deterministic)."""
    # Kraft: terms ready at levels l_i fit a tree of depth D iff sum(2**l_i) <= 2**D
    kraft = [len(t) + e for t, e in zip(terms, extra)]
    cap = None if depth is None else 1 << depth
    count = {}                       # pattern -> pairs over all outputs
    where = {}                       # pattern -> {output: pairs}
    by_node = [dict() for _ in terms]   # output -> node -> set of term ids
    heap = []
    width_of = {}
    true = {}                        # pattern -> adders it saves (pairs that do not overlap)

    def score(key):
        if key not in width_of:
            a, n2, s, sub = key
            lo1, hi1 = b.nodes[a][5:7]
            lo2, hi2 = b.nodes[n2][5:7]
            lo = lo1 + ((-(hi2 << s)) if sub else lo2 << s)
            hi = hi1 + ((-(lo2 << s)) if sub else hi2 << s)
            # the LUTs of the adder each further use of the pattern saves
            width_of[key] = sum(adder_luts((lo1, hi1), (lo2, hi2), s, (lo, hi)))
            if jitter:
                width_of[key] *= 1 + _JITTER * (random.Random(f"{jitter} {key}").random() - 0.5)
        return (true.get(key, count[key]) - 1) * width_of[key]

    def bump(key, u, d):
        c = count.get(key, 0) + d
        count[key] = c
        true.pop(key, None)
        wu = where.setdefault(key, {})
        wu[u] = wu.get(u, 0) + d
        if not wu[u]:
            del wu[u]
        if d > 0 and c >= 2:
            heapq.heappush(heap, (-score(key), key))

    def pairs(u, t_id, d):
        t = terms[u][t_id]
        for o_id, o in terms[u].items():
            if o_id != t_id and not (o[1] == t[1] and o[2] == t[2]):
                bump(_pair_key(t, o), u, d)

    for u, ts in enumerate(terms):
        ids = sorted(ts)
        for k, i in enumerate(ids):
            by_node[u].setdefault(ts[i][1], set()).add(i)
            for o in ids[k + 1:]:
                if not (ts[i][1] == ts[o][1] and ts[i][2] == ts[o][2]):
                    bump(_pair_key(ts[i], ts[o]), u, 1)
    blocked = set()
    while heap:
        neg, key = heapq.heappop(heap)
        if key in blocked or count.get(key, 0) < 2 or -neg != score(key):
            continue
        n1, n2, s, sub = key
        grow = _grow(b.nodes[n1][7], b.nodes[n2][7])
        # the pairs actually present, without overlap, in each output
        matches = []
        for u in sorted(where[key]):
            ts, used = terms[u], set()
            room = kraft[u]
            for i in sorted(by_node[u].get(n1, ())):
                e1, _, p1 = ts[i]
                for o in sorted(by_node[u].get(n2, ())):
                    if o == i or o in used or i in used:
                        continue
                    e2, _, p2 = ts[o]
                    if p2 - p1 == s and (e1 != e2) == sub and \
                            (cap is None or room + grow <= cap):
                        used.update((i, o))
                        matches.append((u, i, o))
                        room += grow
        if len(matches) < 2:
            blocked.add(key)       # overlapping pairs only, or no room: no saving
            continue
        if len(matches) < count[key]:
            # overlapping pairs counted: rank it again by the pairs it can really replace
            true[key] = len(matches)
            if heap and score(key) < -heap[0][0]:
                heapq.heappush(heap, (-score(key), key))
                continue
        node = b.add(n1, n2, s, sub)
        for u, i, o in matches:
            e1, _, p1 = terms[u][i]
            for t_id in (i, o):
                pairs(u, t_id, -1)
                bn = by_node[u][terms[u][t_id][1]]
                bn.discard(t_id)
                del terms[u][t_id]
            terms[u][tid] = (e1, node, p1)
            kraft[u] += grow
            by_node[u].setdefault(node, set()).add(tid)
            pairs(u, tid, 1)
            tid += 1
    return tid


def _prune(nodes, outputs) -> CMVMGraph:
    """Only the nodes the outputs use, renumbered in creation order."""
    live = set()
    todo = [n for n, _ in filter(None, outputs)]
    while todo:
        n = todo.pop()
        if n in live:
            continue
        live.add(n)
        op, a, bb = nodes[n][:3]
        if op in ("add", "neg"):
            todo.append(a)
        if op == "add":
            todo.append(bb)
    order = sorted(live)
    new = {n: k for k, n in enumerate(order)}
    out_nodes = []
    for n in order:
        op, a, bb, s, sub, lo, hi, level = nodes[n]
        if op == "add":
            a, bb = new[a], new[bb]
        elif op == "neg":
            a = new[a]
        out_nodes.append((op, a, bb, s, sub, lo, hi, level))
    return CMVMGraph(nodes=tuple(out_nodes),
                     outputs=tuple(None if o is None else (new[o[0]], o[1]) for o in outputs))


def evaluate(graph: CMVMGraph, x) -> list[int]:
    """The outputs of ``graph`` for integer inputs ``x`` (Python integers, exact); checks that
    every node stays within its interval."""
    vals = []
    for op, a, b, s, sub, lo, hi, level in graph.nodes:
        if op == "in":
            v = int(x[a])
        elif op == "const":
            v = a
        elif op == "add":
            v = vals[a] - (vals[b] << s) if sub else vals[a] + (vals[b] << s)
        else:
            v = -vals[a]
        if not lo <= v <= hi:
            raise AssertionError(f"node {len(vals)} = {v} outside [{lo}, {hi}]")
        vals.append(v)
    return [0 if o is None else vals[o[0]] << o[1] for o in graph.outputs]


def _node_value(graph, n, vals):
    """The Amaranth value of node ``n`` from its operands' values, exactly its width."""
    op, a, b, s, sub, lo, hi, level = graph.nodes[n]
    width, sgn = range_bits(lo, hi)
    if op == "const":
        return Const(a, signed(width) if sgn else unsigned(width))
    if op == "neg":
        v = (-vals[a])[:width]
    elif s:
        # the low s bits are a's: only the bits above them go through the adder
        va, vb = vals[a], vals[b]
        low = extend(va, s)[:s]
        high = (va >> s) - vb if sub else (va >> s) + vb
        v = Cat(low, high[:max(width - s, 1)])[:width]
    else:
        v = (vals[a] - vals[b] if sub else vals[a] + vals[b])[:width]
    return v.as_signed() if sgn else v


def emit(m: Module, graph: CMVMGraph, inputs, *, pipeline: int = 0, stage=None,
         name: str = "cmvm", wires: bool = True):
    """Describe ``graph`` in ``m``; returns each output's value (``y[u]``, exact, or None for
    zero) at the last stage.

    Parameters
    ----------
    inputs : list of Value
        The integer inputs.
    pipeline : int
        A register stage after every ``pipeline`` adder levels of the graph and after the
        last level (0: combinational). A node of level ``L`` is computed in stage
        ``(L - 1) // pipeline``; a value used in a later stage is carried through one register
        per stage boundary; the outputs come out registered, after
        ``graph.stages(pipeline)`` boundaries (so logic after them starts a new cycle).
    stage : callable
        ``stage(list of Value) -> list of Signal``: one register stage (e.g.
        :meth:`~hdl.rtl.common.StallPipeline.stage`); called exactly
        ``graph.stages(pipeline)`` times.
    wires : bool, default True
        A named wire per adder (for the netlist: each node written once, kept by yosys);
        False: inline expressions, which Amaranth's simulator evaluates in one pass instead of
        settling one delta cycle per adder level.
    """
    nodes = graph.nodes
    p = pipeline
    where = [0 if not p or n[7] == 0 else (n[7] - 1) // p for n in nodes]
    last = graph.stages(p)
    need = list(where)               # the last stage in which a node's value is read
    for k, (op, a, b, *_rest) in enumerate(nodes):
        if op in ("add", "neg"):
            need[a] = max(need[a], where[k])
        if op == "add":
            need[b] = max(need[b], where[k])
    for o in filter(None, graph.outputs):
        need[o[0]] = last
    vals = {}
    order = sorted(range(len(nodes)), key=lambda k: (where[k], k))
    pos = 0
    for st in range(last + 1):
        while pos < len(order) and where[order[pos]] == st:
            k = order[pos]
            op = nodes[k][0]
            if op == "in":
                vals[k] = inputs[nodes[k][1]]
            elif op == "const" or not wires:
                vals[k] = _node_value(graph, k, vals)
            else:
                # a named wire per adder: every reader shares it (an inlined expression would
                # be written out again at each use), and `keep` stops yosys' alumacc from
                # merging a chain of adders into one $macc, which maccmap rebuilds with every
                # adder as wide as the chain's result instead of its exact width
                v = _node_value(graph, k, vals)
                vals[k] = Signal(v.shape(), name=f"{name}_n{k}", attrs={"keep": 1})
                m.d.comb += vals[k].eq(v)
            pos += 1
        if st < last:
            carry = [k for k in sorted(vals) if need[k] > st]
            regs = stage([vals[k] for k in carry]) if carry else stage([Const(0, 1)])
            vals = dict(zip(carry, regs))
    return [None if o is None else vals[o[0]] for o in graph.outputs]


class ConstMatVec(wiring.Component):
    """``y = M x`` for a constant integer matrix, with no multipliers (the bare CMVM).

    Parameters
    ----------
    matrix : list of list of int
        ``(outputs, inputs)``.
    in_bits : int
        Width of each input.
    in_signed : bool
    pipeline : int
        Registers every ``pipeline`` adder levels (0: combinational; no enable, II = 1).
    cse : bool
        Share common subexpressions.
    depth_slack : int or None, default 0
        Adder levels the sharing may add to the plain trees' depth (see :func:`solve`;
        None: no limit).
    max_depth : int or None, default None
        An absolute adder-depth limit instead (see :func:`solve`; ``depth_slack`` must then
        be 0; ValueError below the plain trees' depth).

    Attributes
    ----------
    x : In(ArrayLayout(in, inputs))
    y : Out(ArrayLayout(signed(out_bits), outputs))
    """

    def __init__(self, *, matrix, in_bits, in_signed, pipeline=0, cse=True, depth_slack=0,
                 max_depth=None):
        self._pipeline = nonnegative_int(pipeline, "ConstMatVec pipeline")
        if depth_slack is not None:
            depth_slack = nonnegative_int(depth_slack, "ConstMatVec depth_slack")
        if max_depth is not None:
            max_depth = nonnegative_int(max_depth, "ConstMatVec max_depth")
        in_signed = check_bool(in_signed, "ConstMatVec in_signed")
        self._matrix = [[int(w) for w in row] for row in matrix]
        lo, hi = (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1) if in_signed \
            else (0, (1 << in_bits) - 1)
        n_in = len(self._matrix[0])
        self._graph = solve(self._matrix, [(lo, hi)] * n_in, cse=check_bool(cse, "cse"),
                            depth_slack=depth_slack, max_depth=max_depth,
                            pipeline=self._pipeline)
        out_lo = min([0] + [sum(min(w * lo, w * hi) for w in row) for row in self._matrix])
        out_hi = max([0] + [sum(max(w * lo, w * hi) for w in row) for row in self._matrix])
        self._out_bits = range_bits(out_lo, out_hi)[0] + (out_lo >= 0)
        in_shape = signed(in_bits) if in_signed else unsigned(in_bits)
        super().__init__({"x": In(data.ArrayLayout(in_shape, n_in)),
                          "y": Out(data.ArrayLayout(signed(self._out_bits),
                                                    len(self._matrix)))})

    @property
    def graph(self) -> CMVMGraph:
        """The adder graph."""
        return self._graph

    @property
    def latency(self) -> int:
        """Register stages from ``x`` to ``y``."""
        return self._graph.stages(self._pipeline)

    def elaborate(self, platform):
        m = Module()
        count = [0]

        def stage(values):
            count[0] += 1
            regs = [Signal(v.shape(), name=f"cmvm_s{count[0]}_{k}")
                    for k, v in enumerate(values)]
            m.d.sync += [r.eq(v) for r, v in zip(regs, values)]
            return regs

        outs = emit(m, self._graph, [self.x[j] for j in range(len(self._matrix[0]))],
                    pipeline=self._pipeline, stage=stage)
        for u, v in enumerate(outs):
            m.d.comb += self.y[u].eq(0 if v is None else v << self._graph.outputs[u][1])
        return m


def _weighted(g) -> int:
    """The LUT estimate :func:`solve` minimises: ECP5 LUT4s plus ``_XILINX_WEIGHT`` times
    Xilinx LUT6s."""
    return g.luts["ecp5"] + _XILINX_WEIGHT * g.luts["xilinx"]
