"""ONNX import: QONNX and QCDQ graphs (Brevitas, QKeras, HGQ exports) into bit-exact artifacts.

Only :mod:`fxp.nn.onnx.graph` and :mod:`fxp.nn.onnx.reference` import ``onnx`` (the ``onnx``
extra), and only when a model is read: importing this package does not.

Modules: :mod:`.graph` (reading, constant folding), :mod:`.quantizers` (quantizer parameters
-> formats), :mod:`.state` (the walk's tensors and model), :mod:`.quantizer_ops`,
:mod:`.dense`, :mod:`.elementwise`, :mod:`.pools`, :mod:`.layout` (the ops), :mod:`.convert`
(the walk), :mod:`.importer` (files and artifacts), :mod:`.reference` (the graph's own
execution, for ``dyadic``).
"""

from .errors import OnnxImportError
from .importer import import_onnx, read_data, to_model

__all__ = ["import_onnx", "to_model", "read_data", "OnnxImportError"]
