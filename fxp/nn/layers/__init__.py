"""The layer registry: one module per layer type, each registering a :class:`Layer` class.

Adding a layer type is a new module here and one import line below; nothing outside the
registry compares a layer's type with a string. The bit-exact semantics of each type (what
hdl/ and the HLS kernels implement) are in its module's docstring; the functions on
FixedArrays live there too (``fxp.nn.layers.dense.dense``, ``.relu.relu``, ...).
"""

from .base import Layer, Shape, Trainer
from .registry import LAYERS, layer_class, register

# Registration: importing a layer module registers its type(s), one line per module.
from . import dense  # noqa: E402,F401
from . import relu  # noqa: E402,F401
from . import batchnorm  # noqa: E402,F401
from . import table  # noqa: E402,F401
from . import argmax  # noqa: E402,F401
from . import leaky_relu  # noqa: E402,F401
from . import conv2d  # noqa: E402,F401
from . import conv1d  # noqa: E402,F401
from . import pool  # noqa: E402,F401
from . import flatten  # noqa: E402,F401
from . import softmax  # noqa: E402,F401

from .argmax import argmax_format  # noqa: E402
from .table import ACTIVATIONS, default_table_bits, lut, make_table  # noqa: E402

__all__ = ["Layer", "Trainer", "Shape", "LAYERS", "register", "layer_class", "argmax_format",
           "lut", "make_table", "default_table_bits", "ACTIVATIONS"]
