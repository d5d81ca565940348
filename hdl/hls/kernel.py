"""What a layer type's HLS kernel entry gets and returns: KernelContext, Kernel, and helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fxp import FixedFormat
from fxp.nn import Model

__all__ = ["KernelContext", "Kernel", "raw_literal", "type_entry", "array_entry"]

_LINE = 96  # characters of values per line in weights.h


def raw_literal(raw: int) -> str:
    """A raw integer of at most 64 bits as a C++ ``long long`` expression.

    Examples
    --------
    >>> raw_literal(-11), raw_literal(-2**63)
    ('-11', '(-9223372036854775807 - 1)')
    """
    raw = int(raw)
    if not -2**63 <= raw < 2**63:
        raise ValueError(f"Raw integer {raw} does not fit 64 bits")
    return "(-9223372036854775807 - 1)" if raw == -2**63 else str(raw)


def type_entry(name, role, fmt) -> dict:
    """A typedef of the generated C++: its name, role (for the comment) and format."""
    return {"name": name, "role": role, "format": str(fmt), "c_type": fmt.c_type()}


def array_entry(index, label, role, name, type_name, fmt, raw, row="output") -> dict:
    """A constant array of ``weights.h`` (raw integers set with ``nnet::from_raw``); the rows
    of a 2-D one are commented ``// <row> <k>``."""
    if fmt.bits > 64:
        raise ValueError(f"layer {index} ({label}) {role}: {fmt} is wider than the 64 bits "
                         f"that nnet::from_raw sets")
    raw = np.asarray(raw)
    rows = raw.reshape(-1, raw.shape[-1])
    values = [[f"nnet::from_raw<{type_name}>({raw_literal(v)})" for v in row] for row in rows]
    width = max(len(v) for row in values for v in row) + 2
    return {"index": index, "label": label, "role": role, "name": name, "type": type_name,
            "format": str(fmt), "frac_bits": fmt.frac_bits, "size": raw.shape[-1],
            "rows": raw.shape[0] if raw.ndim == 2 else None,
            "entries": values if raw.ndim == 2 else values[0],
            "per_line": max(1, _LINE // width), "row": row}


@dataclass(frozen=True)
class KernelContext:
    """What a kernel entry gets for one layer.

    Attributes
    ----------
    model : fxp.nn.Model
    layer : the spec's layer
    in_fmt : FixedFormat
        The format of the layer's input array.
    n : int
        Its number of values (the product of ``shape``).
    label : str
        The layer's type and name, for comments.
    out_type : str
        The C++ type name of the layer's output (``layer<i>_t``).
    strategy, reuse : optional
        The hardware overrides of :func:`hdl.rtl.top.layer_config`.
    shape : tuple of int
        The input's shape: ``(n,)``, ``(L, C)`` or ``(H, W, C)`` (channels last; the C++ array
        holds it row-major, C fastest).
    """

    model: Model
    layer: Any
    in_fmt: FixedFormat
    n: int
    label: str
    out_type: str
    strategy: str | None = None
    reuse: int | None = None
    shape: tuple = ()


@dataclass(frozen=True)
class Kernel:
    """One layer's call of an ``nnet::`` kernel and what it needs declared.

    Attributes
    ----------
    name : str
        The kernel template (``nnet::<name>``).
    header : str
        The ``nnet/`` header that defines it.
    out_fmt : FixedFormat
    n_out : int
    types : list of dict
        Typedefs (name, role, format, c_type).
    config_types : list of (str, str)
        ``typedef <type> <member>;`` lines of the config struct.
    config_values : list of (str, int or bool)
        Constants of the config struct.
    args : list of str
        Arguments after the input and output arrays (weights, bias, table).
    arrays : list of dict
        Arrays of ``weights.h``.
    note : str
        Appended to the layer's comment (``, folded, reuse 4``).
    ii : int
        The initiation interval the layer needs.
    loop : int or None
        Cycles of the kernel's own pipelined loop (output pixels times its II): the top
        is then not pipelined around it. None: the kernel is fully unrolled.
    """

    name: str
    header: str
    out_fmt: FixedFormat
    n_out: int
    types: list
    config_values: list
    config_types: list = field(default_factory=list)
    args: list = field(default_factory=list)
    arrays: list = field(default_factory=list)
    note: str = ""
    ii: int = 1
    loop: int | None = None
