"""Tiny ONNX graphs built with onnx.helper for the importer's tests (QONNX Quant nodes and
QCDQ chains); nothing here is a name the importer may rely on."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class G:
    """A graph under construction: ``x = g.input(shape)``, ``y = g.op("Relu", x)``, ...,
    ``g.save(path, y)``."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0
        self.inp = None

    def name(self):
        self.n += 1
        return f"t{self.n}"

    def input(self, shape, dims=None):
        self.inp = helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, dims if dims is not None else [None, *shape])
        return "x"

    def const(self, value, dtype=None):
        name = self.name()
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op, *inputs, n_out=1, domain="", **attrs):
        outs = [self.name() for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, domain=domain, **attrs))
        return outs[0] if n_out == 1 else outs

    # QONNX
    def quant(self, x, f, bits, signed=1, narrow=0, rounding="ROUND", zp=0.0, scale=None):
        s = self.const(np.float32(2.0 ** -f) if scale is None else scale, np.float32)
        return self.op("Quant", x, s, self.const(np.float32(zp)), self.const(np.float32(bits)),
                       domain="qonnx.custom_op.general", signed=signed, narrow=narrow,
                       rounding_mode=rounding)

    # QCDQ
    def qdq(self, x, f, lo=-128, hi=127, dtype=np.int8):
        s = self.const(np.float32(2.0 ** -f), np.float32)
        z = self.const(0, dtype)
        q = self.op("QuantizeLinear", x, s, z)
        info = np.iinfo(dtype)
        if (lo, hi) != (info.min, info.max):
            q = self.op("Clip", q, self.const(lo, dtype), self.const(hi, dtype))
        return self.op("DequantizeLinear", q, s, z)

    def qweight(self, w_float, f, bits=8, narrow=True):
        """Integer weights -> Clip -> DequantizeLinear, as Brevitas' QCDQ exports them."""
        m = 2 ** (bits - 1) - 1
        q = np.clip(np.round(np.asarray(w_float) * 2.0 ** f), -m if narrow else -m - 1, m)
        dtype = np.int8 if bits <= 8 else np.int32
        c = self.const(q, dtype)
        if bits < 8:
            c = self.op("Clip", c, self.const(-m, dtype), self.const(m, dtype))
        return self.op("DequantizeLinear", c, self.const(np.float32(2.0 ** -f), np.float32),
                       self.const(0, dtype))

    def save(self, path, out, opset=19):
        outv = helper.make_tensor_value_info(out, TensorProto.FLOAT, None)
        graph = helper.make_graph(self.nodes, "g", [self.inp], [outv], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                        helper.make_opsetid(
                                                            "qonnx.custom_op.general", 1)])
        model.ir_version = 9
        onnx.save(model, str(path))
        return str(path)
