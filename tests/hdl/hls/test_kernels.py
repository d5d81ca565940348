# amaranth: UnusedElaboratable=no
"""hdl.hls.kernels: each layer type's kernel call and config; an unknown type is a one-line
error naming the layer."""

import pytest

from fxp.nn.spec import SpecError
from hdl.hls.generate import render_hls
from hdl.hls.kernels import KernelContext, dense_kernel, kernel_of, lut_kernel

from ..rtl.test_manifest import small_model




def test_kernels_of_asmall_model():
    model = small_model()
    assert [kernel_of(layer).__name__ for layer in model.spec.layers] == [
        "dense_kernel", "relu_kernel", "lut_kernel", "argmax_kernel"]
    layer = model.spec.layers[0]
    ctx = KernelContext(model=model, layer=layer, in_fmt=model.input_format, n=3,
                        label="dense", out_type="layer0_t", strategy="folded", reuse=2)
    k = dense_kernel(ctx)
    assert (k.name, k.header, k.ii, k.note, k.n_out) == ("dense", "nnet_dense.h", 2,
                                                         ", folded, reuse 2", 2)
    assert dict(k.config_values) == {"n_in": 3, "n_out": 2, "reuse": 2, "block": 2,
                                     "multipliers": 4}
    assert k.args == ["w0", "b0"] and [a["name"] for a in k.arrays] == ["w0", "b0"]
    sig = lut_kernel(KernelContext(model=model, layer=model.spec.layers[2],
                                   in_fmt=layer.output.fmt, n=2, label="sigmoid",
                                   out_type="layer2_t"))
    assert dict(sig.config_values) == {"n": 2, "table_bits": 4, "in_signed": True}


def test_unknown_layer_type_is_one_line():
    model = small_model()
    model.spec.layers[3].type = "lstm"
    with pytest.raises(SpecError) as info:
        render_hls(model)
    assert str(info.value) == "layer 3 (lstm): no HLS kernel for layer type 'lstm'"
