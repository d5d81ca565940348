"""fxp.nn: the golden model: YAML specs, bit-exact quantized layers, QAT/PTQ training."""

from .spec import Spec, SpecError, load_spec, parse_spec
from .model import ArtifactError, Model, load_vectors, write_artifact

__all__ = ["Spec", "SpecError", "load_spec", "parse_spec", "Model", "ArtifactError",
           "load_vectors", "write_artifact"]
