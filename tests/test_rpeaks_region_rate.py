"""The rate-robust region rule of the "neurokit" detector (run s39-region): ``SignalConfig.rpeak_region_interpolated``
(region lengths between interpolated threshold crossings) and ``rpeak_region_gradient_step_s`` (the slope over a fixed
step on the cubic spline). A synthetic beat train with a T wave 0.32 s after each R: at 100 Hz neurokit2's sample-grid
rules make each T wave a region long enough to keep, at 360 Hz not; with the options the two rates decide alike. Run
s40-slope: the fixed-step slope alone (``rpeak_region_gradient_step_s`` without the interpolated lengths), on that train
and on the MIT-BIH fixture records."""
import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.bench.rpeaks import read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeaks
from ecgsl_keras.data.filters import resample
from ecgsl_keras.errors import ConfigError

RR_S, FIRST_S, T_DELAY_S = 0.8, 0.5, 0.32
ON = dict(region_interpolated=True, gradient_step=1.0 / 360.0)
MITDB_FIXTURE = Path(__file__).parent / "fixtures" / "mitdb"
# run s40-slope's point: the guarded detector's contest with the fixed-step slope alone
STEP = SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_region_gradient_step_s=1.0 / 360.0)


def beat_train(fs, seconds=20.0):
    """Narrow R waves (sd 10 ms) every 0.8 s, each followed 0.32 s later by a T wave half as tall, sd 40 ms."""
    t = np.arange(int(seconds * fs)) / fs
    x = np.zeros_like(t)
    for beat in np.arange(FIRST_S, seconds - 0.5, RR_S):
        x += np.exp(-0.5 * ((t - beat) / 0.010) ** 2) + 0.5 * np.exp(-0.5 * ((t - beat - T_DELAY_S) / 0.040) ** 2)
    return x


def t_wave_peaks(fs, **options):
    """How many peaks the detector ("prominent" contest) puts on T waves (0.2-0.5 s after an R)."""
    peaks = rpeaks._findpeaks_neurokit(beat_train(fs), fs, keep="prominent", **options) / fs
    phase = (peaks - FIRST_S) % RR_S
    return int(np.sum((phase > 0.2) & (phase < 0.5)))


def test_off_keeps_t_waves_at_100_hz_only():
    # the rate gap the options remove: neurokit2's rules on the 10 ms grid keep every T wave, on the native one none
    assert t_wave_peaks(360.0) == 0
    assert t_wave_peaks(100.0) > 20


@pytest.mark.parametrize("fs", [100.0, 360.0])
def test_the_options_decide_alike_at_100_and_360_hz(fs):
    assert t_wave_peaks(fs, **ON) == 0


def test_the_fixed_step_slope_alone_drops_the_t_waves_at_100_hz():
    # run s40-slope's variant: the slope over 1/360 s without the interpolated lengths; at 100 Hz np.gradient's
    # one-sample difference is what lets the T waves through here, at 360 Hz the step is np.gradient's own
    assert t_wave_peaks(100.0, region_interpolated=True) > 20
    assert t_wave_peaks(100.0, gradient_step=1.0 / 360.0) == 0
    assert t_wave_peaks(360.0, gradient_step=1.0 / 360.0) == 0


@pytest.mark.parametrize("rid", ["119", "208"])
def test_the_fixed_step_slope_on_mitdb_fixture_records(rid):
    # natively (360 Hz) a 1/360 s step on the spline is np.gradient's central difference: the same peaks as off; at
    # 100 Hz (the graph's rate) it keeps every annotated beat the detector found without it
    signal, fs, reference = read_mitdb(str(MITDB_FIXTURE), rid)[:3]
    off = dataclasses.replace(STEP, rpeak_region_gradient_step_s=0.0)
    native = rpeaks.find_rpeaks(signal, fs, STEP)
    assert native.size > 300
    np.testing.assert_array_equal(native, rpeaks.find_rpeaks(signal, fs, off))
    tolerance = int(round(0.15 * fs))
    found = {}
    for name, config in (("off", off), ("step", STEP)):
        peaks = rpeaks.find_rpeaks(resample(signal, fs, 100.0), 100.0, config) * (fs / 100.0)
        found[name] = rpeaks.match_peaks(reference, np.rint(peaks).astype(np.int64), tolerance)
    assert found["step"]["tp"] >= found["off"]["tp"] >= 0.99 * len(reference)
    assert found["step"]["fp"] <= found["off"]["fp"] + 1


def test_off_is_neurokit2s_detector():
    # keep="first" without the options is neurokit2's ecg_findpeaks, peak for peak, at both rates
    import neurokit2 as nk

    for fs in (100.0, 360.0):
        x = beat_train(fs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = nk.ecg_findpeaks(x, sampling_rate=int(fs), method="neurokit")["ECG_R_Peaks"]
        ours = rpeaks._findpeaks_neurokit(x, fs, keep="first", region_interpolated=False, gradient_step=0.0)
        np.testing.assert_array_equal(ours, theirs)


def test_interpolated_lengths_leave_the_regions_of_a_clean_train():
    # sub-sample lengths change the length rule only near its threshold: the R waves stay, at both rates
    for fs in (100.0, 360.0):
        peaks = rpeaks._findpeaks_neurokit(beat_train(fs), fs, keep="prominent", region_interpolated=True)
        np.testing.assert_array_equal(peaks, rpeaks._findpeaks_neurokit(beat_train(fs), fs, keep="prominent"))


def test_find_rpeaks_hands_the_detector_the_options():
    config = SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_region_interpolated=True,
                          rpeak_region_gradient_step_s=1.0 / 360.0)
    fs = 100.0
    x = beat_train(fs)
    off = rpeaks.find_rpeaks(x, fs, dataclasses.replace(config, rpeak_region_interpolated=False,
                                                       rpeak_region_gradient_step_s=0.0))
    on = rpeaks.find_rpeaks(x, fs, config)
    assert on.size >= 20 and on.size <= off.size


@pytest.mark.parametrize("options", [dict(rpeak_region_interpolated=True),
                                     dict(rpeak_mindelay_keep="first", rpeak_region_gradient_step_s=0.01),
                                     dict(rpeak_mindelay_keep="prominent", rpeak_region_gradient_step_s=-0.01),
                                     dict(rpeak_mindelay_keep="prominent", rpeak_region_interpolated=True,
                                          rpeak_region_gradient_step_s=-0.01)])
def test_bad_region_options_are_refused(options):
    with pytest.raises(ConfigError):
        SignalConfig(**options).validate()
