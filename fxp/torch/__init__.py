"""fxp.torch: the PyTorch bridge: fake quantization, modules mirroring the spec's layers (MLP and CNN), export."""

from .quantize import quantize
from .layers import Argmax, BatchNorm1d, Input, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .conv import (AvgPool1d, AvgPool2d, Conv1d, Conv2d, Flatten, GlobalAvgPool, MaxPool1d,
                   MaxPool2d)
from .sequential import Sequential
from .export import export, to_model
from .ptq import from_float

__all__ = ["quantize", "Input", "Linear", "BatchNorm1d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Argmax", "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
           "GlobalAvgPool", "Flatten", "Sequential", "export", "to_model", "from_float"]
