"""Run s40-slope2 (issue 21): the fixed-step slope (``rpeak_guard.fixed_step_slope``, the region rule's) for the guard's
slope feature (``SignalConfig.rpeak_guard_slope_step_s``: the search back's and the second proposer's candidates) and its
sharpness (``GuardConstants.sharpness_step_s``: ``qrs_shapes``). At the step's own rate both are the one-sample
differences; at 100 Hz they stay near the native values where the one-sample ones fall. On the MIT-BIH fixture records."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.bench.rpeaks import read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard, rpeaks
from ecgsl_keras.data.filters import clean, resample
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.serving import edge

MITDB_FIXTURE = Path(__file__).parent / "fixtures" / "mitdb"
STEP_S = 1.0 / 360.0
# a guarded point with the search back and the second proposer on (the two users of the slope feature)
GUARDED = SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_region_gradient_step_s=STEP_S,
                       rpeak_searchback=1.5, rpeak_second_proposer=0.5)


def _record(rid):
    signal, fs, reference = read_mitdb(str(MITDB_FIXTURE), rid)[:3]
    return signal, float(fs), np.asarray(reference, np.int64)


@pytest.mark.parametrize("rid", ["119", "208"])
def test_at_360_hz_a_1_360_s_step_is_the_one_sample_slope(rid):
    signal, fs, reference = _record(rid)
    x = clean(signal, fs, "neurokit")
    off, on = rpeak_guard.slope_feature(x, fs), rpeak_guard.slope_feature(x, fs, STEP_S)
    assert off.shape == on.shape == x.shape
    inner = slice(40, -40)      # the spline's ends are not np.gradient's one-sided differences
    np.testing.assert_allclose(on[inner], off[inner], rtol=1e-9, atol=1e-9 * np.abs(off).max())
    shapes_off = rpeak_guard.qrs_shapes(x, reference[5:-5], fs)
    step = dataclasses.replace(rpeak_guard.GUARD, sharpness_step_s=STEP_S)
    shapes_on = rpeak_guard.qrs_shapes(x, reference[5:-5], fs, step)
    for a, b in zip(shapes_off, shapes_on):
        np.testing.assert_allclose(b, a, rtol=1e-9)


def test_at_100_hz_the_fixed_step_keeps_the_native_qrs_slope():
    # the one-sample difference damps a QRS's slope at 100 Hz; over a 1/360 s step on the spline the feature and
    # the sharpness at the annotated beats stay nearer their native values
    signal, fs, reference = _record("119")
    x = clean(signal, fs, "neurokit")
    low = resample(x, fs, 100.0)
    at = np.clip(np.rint(reference[5:-5] * 100.0 / fs).astype(np.int64), 0, low.size - 1)
    native = np.median(rpeak_guard.slope_feature(x, fs)[reference[5:-5]])
    # per-sample slopes summed over 0.1 s: the integral of |slope| over 0.1 s, on one scale at every rate
    off = np.median(rpeak_guard.slope_feature(low, 100.0)[at])
    on = np.median(rpeak_guard.slope_feature(low, 100.0, STEP_S)[at])
    assert abs(on - native) < abs(off - native)
    sharp_native = np.median(rpeak_guard.qrs_shapes(x, reference[5:-5], fs)[1])
    sharp_off = np.median(rpeak_guard.qrs_shapes(low, at, 100.0)[1])
    step = dataclasses.replace(rpeak_guard.GUARD, sharpness_step_s=STEP_S)
    sharp_on = np.median(rpeak_guard.qrs_shapes(low, at, 100.0, step)[1])
    assert sharp_off < sharp_on
    assert abs(sharp_on - sharp_native) < abs(sharp_off - sharp_native)


@pytest.mark.parametrize("rid", ["119", "208"])
def test_find_rpeaks_with_the_step_natively_and_at_100_hz(rid):
    signal, fs, reference = _record(rid)
    on = dataclasses.replace(GUARDED, rpeak_guard_slope_step_s=STEP_S,
                             rpeak_guard_constants={"sharpness_step_s": STEP_S})
    native = rpeaks.find_rpeaks(signal, fs, on)
    assert native.size > 300
    np.testing.assert_array_equal(native, rpeaks.find_rpeaks(signal, fs, GUARDED))   # natively the same peaks
    tolerance = int(round(0.15 * fs))
    peaks = np.rint(rpeaks.find_rpeaks(resample(signal, fs, 100.0), 100.0, on) * fs / 100.0).astype(np.int64)
    found = rpeaks.match_peaks(reference, peaks, tolerance)
    assert found["tp"] >= 0.99 * len(reference)
    assert found["fp"] <= 0.01 * len(reference)


@pytest.mark.parametrize("value", [-0.001, 0.06, float("nan"), float("inf")])
def test_bad_slope_steps_are_refused(value):
    with pytest.raises(ConfigError, match="rpeak_guard_slope_step_s"):
        SignalConfig(rpeak_guard_slope_step_s=value).validate()
    with pytest.raises(ConfigError, match="sharpness_step_s"):
        SignalConfig(rpeak_guard_constants={"sharpness_step_s": value}).validate()


def test_the_graph_refuses_the_python_only_steps():
    assert "rpeak_guard_slope_step_s" in edge.PYTHON_ONLY_RPEAK_OPTIONS
    assert "sharpness_step_s" not in edge.GRAPH_GUARD_CONSTANTS
    for config in (SignalConfig(rpeak_guard_slope_step_s=STEP_S),
                   SignalConfig(rpeak_guard_constants={"sharpness_step_s": STEP_S})):
        with pytest.raises(ConfigError):
            edge.check_config(config, edge.EdgeConfig())


def test_the_last_signals_slope_is_reused_only_for_an_equal_signal():
    # the region rule and the guard's feature ask for the same signal's slope: the second gets the first's array
    signal, fs, _ = _record("119")
    x = clean(signal, fs, "neurokit")[:20000]
    first = rpeak_guard.fixed_step_slope(x, fs, STEP_S)
    assert not first.flags.writeable
    assert rpeak_guard.fixed_step_slope(x.copy(), fs, STEP_S) is first
    other = x.copy()
    other[5000] += 1.0
    changed = rpeak_guard.fixed_step_slope(other, fs, STEP_S)
    assert changed is not first and not np.array_equal(changed, first)
    assert rpeak_guard.fixed_step_slope(x, fs, 2 * STEP_S) is not first
    np.testing.assert_allclose(rpeak_guard.fixed_step_slope(x, fs, STEP_S)[1:-1] / fs, np.gradient(x)[1:-1],
                               rtol=1e-9, atol=1e-12)
