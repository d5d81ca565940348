"""fxp.torch: the PyTorch bridge: fake quantization, modules mirroring the spec's layers, export."""

from .quantize import quantize
from .layers import Argmax, BatchNorm1d, Input, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .sequential import Sequential
from .export import export, to_model
from .ptq import from_float

__all__ = ["quantize", "Input", "Linear", "BatchNorm1d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Argmax", "Sequential", "export", "to_model", "from_float"]
