"""fxp: a bit-accurate fixed-point (ap_fixed) emulator on numpy."""

from .format import FixedFormat, Overflow, Quantization
from .array import FixedArray, from_raw, zeros
from . import interop  # noqa: F401  (numpy protocols of FixedArray)
from .quantize import quantize
from .accumulate import matmul, sum
from .bounds import a2q_l1_bound, accumulator_format, extreme_sums
from .overflow import (DEFAULT_POLICY, OverflowError, OverflowLog, OverflowRecord,
                       OverflowWarning, overflow_policy)

__all__ = [
    "FixedFormat", "Quantization", "Overflow", "FixedArray", "from_raw", "zeros", "quantize",
    "matmul", "sum", "accumulator_format", "extreme_sums", "a2q_l1_bound", "overflow_policy",
    "OverflowError", "OverflowWarning", "OverflowLog", "OverflowRecord", "DEFAULT_POLICY",
]
