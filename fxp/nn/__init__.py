"""fxp.nn: the golden model: YAML specs, bit-exact quantized layers, QAT/PTQ training."""

from .spec import Spec, SpecError, load_spec, parse_spec
from .model import ArtifactError, Model, load_vectors, write_artifact
from .data import Dataset, DataUnavailable, as_dataset, load_data
from .training import TrainResult, quantize, train
from .onnx import OnnxImportError, import_onnx

__all__ = ["Spec", "SpecError", "load_spec", "parse_spec", "Model", "ArtifactError",
           "load_vectors", "write_artifact", "Dataset", "DataUnavailable", "as_dataset",
           "load_data", "TrainResult", "train", "quantize", "import_onnx", "OnnxImportError"]
