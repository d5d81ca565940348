"""Model and layer names that reach the generated C++ (the rules live in :mod:`fxp.nn.names`)."""

from __future__ import annotations

from fxp.nn.names import CPP_KEYWORDS, CPP_RESERVED, check_cpp_name

__all__ = ["CPP_KEYWORDS", "CPP_RESERVED", "check_cpp_name"]
