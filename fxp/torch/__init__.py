"""fxp.torch: the PyTorch bridge: fake quantization, modules mirroring the spec's layers, export."""

from .quantize import quantize

__all__ = ["quantize"]
