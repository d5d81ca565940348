"""``sigmoid`` and ``tanh``: lookup tables stored in the artifact.

``index = (x.raw - x.fmt.raw_min) >> (x.fmt.bits - table_bits)``, ``out = table[index]``.
Entry ``k`` is ``quantize(f(c_k), output)`` for the centre ``c_k`` of the input bucket ``k``
(the exact input value when ``table_bits == x.fmt.bits``), with ``f`` evaluated in double
precision by the math module (``1 / (1 + exp(-c))``, ``tanh(c)``). The table is stored in the
artifact (``"<i>.table"``, ``2**table_bits`` entries) so that emulator, RTL and HLS use the
very same entries. ``table_bits`` defaults to the input's bits, at most 10.
"""

from __future__ import annotations

import math

import numpy as np

from ...array import FixedArray
from ...format import FixedFormat
from ...quantize import quantize
from ..fields import FormatSpec, SpecError
from .base import Layer
from .elementwise import ElementwiseTrainer
from .registry import register

__all__ = ["TableBitsLayer", "TableActivation", "Sigmoid", "Tanh", "make_table", "lut",
           "default_table_bits", "ACTIVATIONS"]


def _sigmoid(v: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-v))
    except OverflowError:  # exp(-v) past the double range: 1 / (1 + inf)
        return 0.0


def default_table_bits(in_fmt: FixedFormat) -> int:
    """Index width of a lookup table when the spec does not say: the input's bits, at most 10."""
    return min(in_fmt.bits, 10)


def make_table(kind: str, in_fmt: FixedFormat, output: FixedFormat, table_bits: int
               ) -> FixedArray:
    """The lookup table of ``sigmoid`` or ``tanh`` for inputs of ``in_fmt``.

    Returns a FixedArray of ``2**table_bits`` entries in ``output``.
    """
    if kind not in ACTIVATIONS:
        raise ValueError(f"Unknown table activation {kind!r}; expected "
                         f"{' or '.join(ACTIVATIONS)}")
    if not 1 <= table_bits <= in_fmt.bits:
        raise ValueError(f"Lookup table of {kind}: table_bits must be between 1 and the input's "
                         f"{in_fmt.bits} bits, not {table_bits}")
    drop = in_fmt.bits - table_bits
    k = np.arange(1 << table_bits, dtype=np.float64)
    # centre of bucket k, in raw units: raw_min + k * 2**drop + (2**drop - 1) / 2
    centre = in_fmt.raw_min + k * 2.0 ** drop + (2.0 ** drop - 1) / 2
    f = ACTIVATIONS[kind].table_function
    values = np.array([f(float(c)) for c in np.ldexp(centre, -in_fmt.frac_bits)],
                      dtype=np.float64)
    return quantize(values, output, label=f"{kind} table")


def lut(x: FixedArray, table: FixedArray, table_bits: int) -> FixedArray:
    """Look ``x`` up in ``table`` (see :func:`make_table`)."""
    drop = x.fmt.bits - table_bits
    # (raw - raw_min) >> drop without leaving int64: raw_min's low `drop` bits are zero
    idx = (x.raw >> drop) - (x.fmt.raw_min >> drop)
    idx = np.asarray(idx, dtype=np.int64)
    return FixedArray.trusted(table.raw[idx], table.fmt)


class TableBitsLayer(Layer):
    """A layer indexing lookup tables by the top ``table_bits`` bits of its input: the
    optional ``table_bits`` field (1..16, default :func:`default_table_bits`) and the required
    ``output`` format (``auto``: unsigned unless ``output_signed`` says otherwise)."""

    REQUIRED = frozenset({"output"})
    OPTIONAL = frozenset({"table_bits"})
    FORMATS = ("output",)
    output_signed = False
    table_bits = None

    def parse_fields(self, body):
        if "table_bits" in body:
            tb = body["table_bits"]
            if isinstance(tb, bool) or not isinstance(tb, int) or not 1 <= tb <= 16:
                raise SpecError(f"{self.label} field 'table_bits': expected an integer from 1 "
                                f"to 16, not {tb!r}")
            self.table_bits = tb

    def dump_fields(self):
        return {} if self.table_bits is None else {"table_bits": self.table_bits}

    def index_bits(self, in_fmt: FixedFormat) -> int:
        """The tables' index width for inputs of ``in_fmt`` (checked against them)."""
        tb = self.table_bits or default_table_bits(in_fmt)
        if tb > in_fmt.bits:
            raise SpecError(f"{self.label} field 'table_bits': {tb} exceeds the {in_fmt.bits} "
                            f"bits of its input {in_fmt}")
        return tb


class TableActivation(TableBitsLayer):
    """An activation computed by a lookup table (subclasses give the functions)."""

    # Table entries use the math module (libm), one double at a time: numpy's vectorised
    # loops are CPU-dependent and can be tens of ulps off (np.tanh(17.005) == 1.0, not
    # 1 - 3.4e-15). Subclasses set table_function (float -> float).

    @staticmethod
    def float_function(v: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def float_slope(v: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def tensors(self, shape, in_fmt):
        return {"table": ((1 << self.index_bits(in_fmt),), self.output.fmt)}

    def forward(self, x, tensors, label):
        return lut(x, tensors["table"], self.index_bits(x.fmt))

    def trainer(self, shape, rng, input_scale, previous):
        return TableTrainer(self, shape)


@register
class Sigmoid(TableActivation):
    """``1 / (1 + exp(-x))`` by lookup table."""

    type = "sigmoid"
    table_function = staticmethod(_sigmoid)

    @staticmethod
    def float_function(v):
        return 1.0 / (1.0 + np.exp(-v))

    @staticmethod
    def float_slope(v):
        s = 1.0 / (1.0 + np.exp(-v))
        return s * (1 - s)


@register
class Tanh(TableActivation):
    """``tanh(x)`` by lookup table."""

    type = "tanh"
    output_signed = True
    table_function = staticmethod(math.tanh)

    @staticmethod
    def float_function(v):
        return np.tanh(v)

    @staticmethod
    def float_slope(v):
        return 1.0 - np.tanh(v) ** 2


# The table activations by type name.
ACTIVATIONS = {cls.type: cls for cls in (Sigmoid, Tanh)}


class TableTrainer(ElementwiseTrainer):
    """QAT through the very table the artifact will hold; the float derivative passes the
    gradient back (the output format is trained as for the other element-wise layers)."""

    def __init__(self, layer: TableActivation, shape):
        super().__init__(layer, shape)
        self.tables = {}

    def table(self, in_fmt, out_fmt):
        """The table and its index width for these formats (cached)."""
        tb = self.layer.index_bits(in_fmt)
        key = (in_fmt, out_fmt, tb)
        if key not in self.tables:
            self.tables[key] = make_table(self.layer.type, in_fmt, out_fmt, tb)
        return self.tables[key], tb

    def forward(self, fx, val, in_fmt, mode, train):
        pre = self.layer.float_function(val)
        c = {"x": val}
        if mode == "float":
            return None, pre, None, c
        of = self.output
        if mode == "calibrate":
            of.calibrate(pre)
        table, tb = self.table(in_fmt, of.fmt())
        fx = lut(fx, table, tb)
        c["pre"] = pre
        return fx, fx.to_float(), of.fmt(), c

    def backward(self, c, grad, grads):
        return grad * self.layer.float_slope(c["x"])

    def resolve(self, in_fmt, a2q_bits):
        out = self.output.fmt()
        table, tb = self.table(in_fmt, out)
        new = self.layer.replace(output=FormatSpec(fmt=out), table_bits=tb)
        return new, {"table": table.raw}, out
