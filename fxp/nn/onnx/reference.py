"""The graph's own execution (onnxruntime, or qonnx for QONNX's custom ops): what --dyadic
compares the approximated model with."""

from __future__ import annotations

import numpy as np
import onnx

__all__ = ["run_graph"]


def run_graph(path, x: np.ndarray) -> np.ndarray:
    """The ONNX model at ``path`` on inputs ``x`` (ONNX's layout, a batch); a graph exported
    with a fixed batch size runs in chunks of it (the last one padded with zeros)."""
    model = onnx.load(path)
    custom = any(n.domain not in ("", "ai.onnx") for n in model.graph.node)
    inits = {t.name for t in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    d0 = inp.type.tensor_type.shape.dim[0]
    batch = d0.dim_value if d0.HasField("dim_value") and d0.dim_value > 0 else len(x)
    if custom:                  # qonnx runs at the declared batch size: declare one
        for v in (inp, *model.graph.output):
            dims = v.type.tensor_type.shape.dim
            if len(dims):
                dims[0].dim_value = batch
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.util.cleanup import cleanup_model
        mw = cleanup_model(ModelWrapper(model))
        out_name = mw.graph.output[0].name

        def run(chunk):
            return execute_onnx(mw, {inp.name: chunk})[out_name]
    else:
        import onnxruntime as ort
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

        def run(chunk):
            return sess.run(None, {inp.name: chunk})[0]
    x = np.asarray(x, dtype=np.float32)
    outs = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        pad = batch - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.zeros((pad, *x.shape[1:]), np.float32)])
        outs.append(np.asarray(run(chunk))[:batch - pad])
    return np.concatenate(outs)
