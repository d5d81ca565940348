"""The leaky_relu model the cocotb and the C-simulation tests share: two slopes, negative and
saturating inputs, rounding and overflow modes in the leaky outputs."""

LEAKY = {
    "name": "leaky_mix", "data": {"dataset": "sklearn_digits", "test_fraction": 0.1, "seed": 4},
    "input": {"shape": [64], "format": "ufixed<5,5>"},
    "layers": [
        {"type": "dense", "units": 12, "weight": "fixed<5,1,RND_CONV,SAT>",
         "bias": "fixed<8,4,RND,SAT>", "accumulator": "auto",
         "output": "fixed<10,6,RND_CONV,SAT>"},
        {"type": "leaky_relu", "alpha": "0.125", "output": "fixed<7,3,RND_INF,SAT_SYM>"},
        {"type": "dense", "units": 10, "weight": "fixed<5,2,TRN_ZERO,SAT>",
         "bias": "fixed<6,2>", "accumulator": "auto", "output": "fixed<9,4,RND,SAT>"},
        {"type": "leaky_relu", "alpha": 0.03125, "output": "fixed<6,1,RND_MIN_INF,WRAP_SM>"},
        {"type": "dense", "units": 10, "weight": "fixed<6,3,RND_CONV,SAT>",
         "bias": "fixed<6,3,RND_CONV,SAT>", "accumulator": "auto",
         "output": "fixed<8,2,RND,SAT>"},
    ],
    "train": {"epochs": 3, "batch": 64, "lr": 0.01, "seed": 0},
    "hardware": {"strategy": "parallel", "pipeline": 2},
}
