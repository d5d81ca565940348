"""fxp.torch modules: bad arguments are one-line ValueError/TypeError naming the argument."""

import pytest

torch = pytest.importorskip("torch")

import fxp.torch as ft  # noqa: E402

W = dict(weight="fixed<6,1>", bias="fixed<8,3>", output="fixed<8,3>")


@pytest.mark.parametrize("make,exc,message", [
    (lambda: ft.Input("64", "fixed<8,3>"), TypeError,
     "Input shape: expected a positive integer or a tuple of them, not '64'"),
    (lambda: ft.Input((2, 8, 8, 1), "fixed<8,3>"), ValueError,
     "Input shape: expected (features,), (C, L) or (C, H, W), not [2, 8, 8, 1]"),
    (lambda: ft.Input(0, "fixed<8,3>"), ValueError,
     "Input shape: expected a positive integer, not 0"),
    (lambda: ft.Input(4, "fixed<8,auto>"), ValueError,
     "Input fmt: must be a concrete format, not 'fixed<8,auto>'"),
    (lambda: ft.Linear(4, 2.5, **W), TypeError,
     "Linear out_features: expected a positive integer, not 2.5"),
    (lambda: ft.Linear(4, 2, weight=8, bias="auto", output="auto"), TypeError,
     "Linear weight: expected a format string, 'auto', a FixedFormat or a mapping, not 8"),
    (lambda: ft.Linear(4, 2, weight="fixed<8>", bias="auto", output="auto"), ValueError,
     "Linear weight: Malformed fixed-point format 'fixed<8>'; expected 2 to 4 arguments "
     "<bits,int_bits[,quantization[,overflow]]>"),
    (lambda: ft.Linear(4, 2, weight="fixed<8,auto,RND_SOMETIMES>", bias="auto",
                       output="auto"), ValueError,
     "Linear weight: Unknown quantization mode 'RND_SOMETIMES'; expected one of TRN, "
     "TRN_ZERO, RND, RND_ZERO, RND_MIN_INF, RND_INF, RND_CONV"),
    (lambda: ft.Linear(4, 2, accumulator="fixed<20,8,TRN,SAT>", **W), ValueError,
     "Linear accumulator: an accumulator must use WRAP overflow, not SAT (saturate in the "
     "output format instead)"),
    (lambda: ft.Linear(4, 2, accumulator="fixed<20,learn>", **W), ValueError,
     "Linear accumulator: expected 'auto' or a concrete WRAP format, not 'fixed<20,learn>'"),
    (lambda: ft.Linear(4, 2, accumulator_bits=1, **W), ValueError,
     "Linear accumulator_bits: expected an integer >= 2, not 1"),
    (lambda: ft.LeakyReLU(0.3, output="auto"), ValueError,
     "LeakyReLU alpha: expected a power of two from 2**-32 to 0.5 such as 0.125, not 0.3"),
    (lambda: ft.Sigmoid(output="auto", table_bits=0), ValueError,
     "Sigmoid table_bits: expected an integer from 1 to 16, not 0"),
    (lambda: ft.BatchNorm1d(4, eps=0), ValueError,
     "BatchNorm1d eps: expected a positive number, not 0"),
    (lambda: ft.ReLU(output="auto", name=3), TypeError, "ReLU name: expected a string, not 3"),
    (lambda: ft.Sequential(ft.ReLU(output="auto")), TypeError,
     "Sequential: the first layer must be fxp.torch.Input(shape, fmt), not ReLU"),
    (lambda: ft.Sequential(ft.Input(4, "fixed<8,3>"), torch.nn.ReLU()), TypeError,
     "Sequential layer 0: expected an fxp.torch layer (Linear, ReLU, ...), not "
     "torch.nn.modules.activation.ReLU"),
    (lambda: ft.Sequential(ft.Input(4, "fixed<8,3>"), ft.Linear(5, 2, **W)), ValueError,
     "layer 0 (dense): in_features 5 does not match the 4 features of its input"),
    (lambda: ft.Sequential(ft.Input(4, "fixed<8,3>"), ft.BatchNorm1d(4)), ValueError,
     "layer 0 (batchnorm): BatchNorm1d must follow a Linear (it is folded into it)"),
    (lambda: ft.Sequential(ft.Input(4, "fixed<8,3>"), ft.Argmax(), ft.ReLU(output="auto")),
     ValueError, "layer 0 (argmax): Argmax must be the last layer"),
])
def test_bad_arguments_are_one_line_errors(make, exc, message):
    with pytest.raises(exc) as e:
        make()
    assert type(e.value) is exc or issubclass(type(e.value), exc)
    assert str(e.value) == message


def test_bad_inputs_and_table_bits_past_the_input():
    m = ft.Sequential(ft.Input(4, "fixed<8,3>"), ft.Sigmoid(output="auto", table_bits=12))
    with pytest.raises(ValueError, match=r"^Sequential input: expected shape \(batch, 4\), "
                                         r"not \(3, 5\)$"):
        m(torch.zeros(3, 5))
    with pytest.raises(TypeError, match=r"^Sequential input: expected a torch.Tensor or numpy "
                                        r"array, not list$"):
        m([[0.0] * 4])
    with pytest.raises(ValueError, match=r"^layer 0 \(sigmoid\) table_bits: 12 exceeds the 8 "
                                         r"bits of its input fixed<8,3>$"):
        m(torch.zeros(3, 4))


def test_a_too_wide_accumulator_is_refused_not_computed_inexactly():
    m = ft.Sequential(ft.Input(4, "fixed<40,20>"),
                      ft.Linear(4, 2, weight="fixed<30,10>", bias="fixed<8,3>",
                                output="fixed<8,3,TRN,SAT>"))
    with torch.no_grad():
        m.layers[0].weight.fill_(100.0)
    with pytest.raises(ValueError, match=r"^layer 0 \(dense\): the accumulator needs more "
                                         r"than 52 bits, past what fxp.torch computes exactly "
                                         r"in float64$"):
        m.eval()(torch.ones(1, 4))
