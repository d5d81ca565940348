"""The overflow policy: raise, warn (default), log, ignore; SAT* clipping always counted."""

import warnings

import numpy as np
import pytest

import fxp

X = np.array([[1.0, 100.0], [-1000.0, 3.0]])


def test_default_policy_warns_once_per_operation_and_wraps():
    assert fxp.DEFAULT_POLICY == "warn"
    with pytest.warns(fxp.OverflowWarning) as rec:
        y = fxp.quantize(X, "fixed<8,4>")
    assert len(rec) == 1
    assert str(rec[0].message) == ("quantize to fixed<8,4>: 2 of 4 values overflow fixed<8,4> "
                                   "(range -8..7.9375); first at index (0, 1): 100")
    assert rec[0].filename == __file__   # points at the caller, not inside fxp
    assert y.raw.tolist() == [[16, (1600 + 128) % 256 - 128], [(-16000 + 128) % 256 - 128, 48]]


def test_raise_policy():
    x = fxp.from_raw([5, 40, -3], "fixed<8,8>")
    with pytest.raises(fxp.OverflowError) as info:
        with fxp.overflow_policy("raise"):
            x.cast("fixed<4,4>", label="relu out")
    assert str(info.value) == ("relu out: 1 of 3 values overflow fixed<4,4> (range -8..7); "
                               "first at index (1,): 40")


def test_log_policy_records_overflow_and_saturation():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fxp.overflow_policy("log") as log:
            fxp.quantize(X, "fixed<8,4>")
            fxp.quantize(X, "fixed<8,4>")
            fxp.quantize(X, "fixed<8,4,RND,SAT>", label="sat")
            fxp.quantize(np.zeros(5), "fixed<8,4,RND,SAT>", label="sat")
    rec = log["quantize to fixed<8,4>"]
    assert (rec.kind, rec.count, rec.total, rec.first_index, rec.min, rec.max, rec.calls) == \
        ("overflow", 4, 8, (0, 1), -1000.0, 100.0, 2)
    sat = log["sat"]
    assert (sat.kind, sat.count, sat.total, sat.first_index) == ("saturation", 2, 9, (0, 1))
    assert log.overflows == 4 and log.saturations == 2 and len(log) == 2
    assert "quantize to fixed<8,4>" in str(log) and "sat" in log


def test_saturation_is_never_raised():
    with fxp.overflow_policy("raise") as log:
        y = fxp.quantize(X, "fixed<8,4,RND,SAT>")
        z = fxp.from_raw([1000], "fixed<12,12>").cast("fixed<4,4,TRN,SAT_ZERO>")
    assert y.raw.tolist() == [[16, 127], [-128, 48]] and z.raw.tolist() == [0]
    assert log.saturations == 3 and log.overflows == 0


def test_ignore_and_nesting():
    with fxp.overflow_policy("raise") as outer:
        with fxp.overflow_policy("ignore") as inner:
            fxp.quantize(X, "fixed<8,4>")
        with pytest.raises(fxp.OverflowError):
            fxp.quantize(X, "fixed<8,4>")
    assert inner.overflows == 2 and outer.overflows == 4


def test_shared_log_and_bad_policy():
    log = fxp.OverflowLog()
    for _ in range(2):
        with fxp.overflow_policy("log", log=log):
            fxp.quantize(X, "fixed<8,4>")
    assert log.overflows == 4
    with pytest.raises(ValueError) as info:
        with fxp.overflow_policy("silent"):
            pass
    assert str(info.value) == ("Overflow policy must be one of raise, warn, log, ignore, "
                               "not 'silent'")


def test_wide_overflow_reported_with_exact_first_value():
    x = fxp.from_raw([2 ** 100], "fixed<110,110>")
    with pytest.raises(fxp.OverflowError, match=r"first at index \(0,\): 1.26765e\+30"):
        with fxp.overflow_policy("raise"):
            x.cast("fixed<70,70>")


def test_first_index_is_the_first_true_element_in_c_order():
    from fxp.overflow import first_index
    mask = np.zeros((3, 4), dtype=bool)
    mask[2, 0] = mask[1, 3] = True
    assert first_index(mask) == (1, 3)
    assert all(type(i) is int for i in first_index(mask))
