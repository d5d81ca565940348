"""ONNX import: QONNX and QCDQ graphs (Brevitas, QKeras, HGQ exports) into bit-exact artifacts.

Only :mod:`fxp.nn.onnx.graph` imports ``onnx`` (the ``onnx`` extra), and only when a model is
read: importing this package does not.
"""

from .errors import OnnxImportError
from .importer import import_onnx, read_data, to_model

__all__ = ["import_onnx", "to_model", "read_data", "OnnxImportError"]
