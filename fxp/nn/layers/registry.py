"""The layer registry: layer type name -> Layer class."""

from __future__ import annotations

from ..fields import SpecError
from .base import Layer

__all__ = ["LAYERS", "register", "layer_class"]

LAYERS: dict[str, type[Layer]] = {}


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: add a layer type to the registry (its ``type`` must be new)."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)) or not cls.type:
        raise TypeError(f"register expects a Layer subclass with a type, not {cls!r}")
    if cls.type in LAYERS:
        raise ValueError(f"layer type {cls.type!r} is registered twice")
    LAYERS[cls.type] = cls
    return cls


def layer_class(type_name, where: str) -> type[Layer]:
    """The class of a spec's layer ``type``; a one-line SpecError for an unknown one."""
    if not isinstance(type_name, str) or type_name not in LAYERS:
        raise SpecError(f"{where}: unknown type {type_name!r}; expected one of "
                        f"{', '.join(LAYERS)}")
    return LAYERS[type_name]
