# amaranth: UnusedElaboratable=no
"""hdl.rtl.blocks: one entry per layer type the spec knows, and an unknown type is a one-line
error naming the layer (the HLS table, hdl.hls.kernels, has the same keys)."""

import copy

import pytest

from fxp import FixedFormat
from fxp.nn import Model, SpecError, parse_spec
from fxp.nn.layers import LAYERS
from hdl.hls.kernels import KERNELS
from hdl.rtl.activation import LUT, Argmax, ReLU
from hdl.rtl.blocks import BLOCKS, block_kind, fused_relu
from hdl.rtl.dense import DenseFolded, DenseParallel
from hdl.rtl.top import ModelTop

from .test_manifest import DOC, elaborated, small_model




# Layer types the emulator and trainer have but no RTL block or HLS kernel yet (issue 14):
# hdl refuses them by name (test_unknown_layer_type_is_one_line, hls/test_kernels); each type
# leaves its set when its block or kernel lands.
NO_RTL_YET = set()
NO_HLS_YET = set()


def test_tables_cover_the_spec_layer_types():
    assert set(BLOCKS) == set(LAYERS) - NO_RTL_YET
    assert set(KERNELS) == set(LAYERS) - NO_HLS_YET
    assert BLOCKS["batchnorm"] is None and KERNELS["batchnorm"] is None


def test_blocks_of_asmall_model():
    top = elaborated(ModelTop(model=small_model()))
    assert [(i, type(b)) for i, b in top.blocks] == [(0, DenseParallel), (1, ReLU), (2, LUT),
                                                     (3, Argmax)]
    assert top.contexts[1].in_fmt == top.blocks[0][1].out_fmt and top.contexts[1].n == 2
    assert top.contexts[0].config == {"strategy": "parallel", "reuse": 1, "pipeline": 2}
    assert top.contexts[1].config is None
    folded = elaborated(ModelTop(model=small_model(), strategy="folded", reuse=3))
    assert isinstance(folded.blocks[0][1], DenseFolded) and folded.blocks[0][1].reuse == 3
    with pytest.raises(SpecError, match=r"^layer 0 \(dense\): reuse 8 exceeds the layer's 3 "
                                        r"inputs"):
        ModelTop(model=small_model(), strategy="folded", reuse=8)


def test_a_parallel_dense_computes_its_relu():
    """A saturating ReLU after a parallel dense layer is computed by the dense block (no ReLU
    block, one cycle less); after a folded one, or with a wrapping dense output, it is not."""
    doc = copy.deepcopy(DOC)
    doc["layers"][0]["output"] = "fixed<6,3,RND_CONV,SAT>"
    doc["layers"][1]["output"] = "ufixed<4,2,RND_CONV,SAT>"
    model = Model(parse_spec(doc), small_model().params)
    top = elaborated(ModelTop(model=model))
    assert [(i, type(b)) for i, b in top.blocks] == [(0, DenseParallel), (2, LUT), (3, Argmax)]
    dense = top.blocks[0][1]
    assert dense.relu_fmt == model.spec.layers[1].output.fmt == dense.out_fmt
    assert block_kind(model.spec.layers[0]).fields(top.contexts[0], dense)["relu_output"] == \
        "ufixed<4,2,RND_CONV,SAT>"
    assert fused_relu(model, top.configs, 1) and not fused_relu(model, top.configs, 2)
    unfused = elaborated(ModelTop(model=small_model()))      # fixed<6,3>: TRN, WRAP
    assert type(unfused.blocks[1][1]) is ReLU and unfused.blocks[0][1].relu_fmt is None
    assert unfused.latency == top.latency + 1
    folded = elaborated(ModelTop(model=model, strategy="folded", reuse=3))
    assert type(folded.blocks[1][1]) is ReLU


def test_unknown_layer_type_is_one_line():
    model = small_model()
    model.spec.layers[2].type = "conv"
    with pytest.raises(ValueError) as info:
        block_kind(model.spec.layers[2])
    assert str(info.value) == "layer 2 (conv): no RTL block for layer type 'conv'"
    with pytest.raises(ValueError, match=r"^layer 2 \(conv\): no RTL block for layer type "
                                         r"'conv'$"):
        ModelTop(model=model)      # before any block is built
