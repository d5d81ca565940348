"""The importer's one error type: a graph it cannot turn into a bit-exact artifact."""

from __future__ import annotations

__all__ = ["OnnxImportError"]


class OnnxImportError(ValueError):
    """An ONNX graph the importer cannot make exact: one line naming the node (its index in
    the graph, its name when it has one, its op) and what was expected instead."""
