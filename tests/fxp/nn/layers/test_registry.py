"""The layer registry: every type registered once, unknown types a one-line spec error."""

import pytest

from fxp.nn import SpecError, parse_spec
from fxp.nn.layers import LAYERS, Layer, layer_class, register


def test_every_registered_class_names_its_type():
    assert {"dense", "relu", "batchnorm", "sigmoid", "tanh", "argmax"} <= set(LAYERS)
    for name, cls in LAYERS.items():
        assert issubclass(cls, Layer) and cls.type == name
        assert not (cls.REQUIRED & cls.OPTIONAL)
        assert set(cls.FORMATS) <= cls.REQUIRED | cls.OPTIONAL


def test_unknown_type_is_one_line_naming_the_layer():
    with pytest.raises(SpecError) as err:
        layer_class("conv9d", "layer 3")
    assert str(err.value) == f"layer 3: unknown type 'conv9d'; expected one of " \
                             f"{', '.join(LAYERS)}"
    doc = {"name": "n", "input": {"shape": [2], "format": "fixed<4,1>"},
           "layers": [{"type": ["dense"]}]}
    with pytest.raises(SpecError, match=r"^layer 0: unknown type \['dense'\]; expected one of "):
        parse_spec(doc)


def test_register_rejects_duplicates_and_non_layers():
    with pytest.raises(ValueError, match="^layer type 'dense' is registered twice$"):
        register(type("Again", (Layer,), {"type": "dense"}))
    with pytest.raises(TypeError, match="^register expects a Layer subclass with a type"):
        register(object)
    with pytest.raises(TypeError, match="^register expects a Layer subclass with a type"):
        register(type("Untyped", (Layer,), {}))
    assert LAYERS["dense"].__name__ == "Dense"
