"""ecgsl_keras.data.signal: quality checks, resampling, normalisation, RR features, segmentation, the chain."""
import dataclasses
import math

import numpy as np
import pytest

from ecgsl_keras.data import signal as sig
from ecgsl_keras.config import ExperimentConfig, ModelConfig, SignalConfig
from ecgsl_keras.errors import ConfigError, SignalQualityError


def synthetic_ecg(beat_times_s, fs, duration_s, noise_mv=0.005, seed=0):
    """A P-QRS-T train with R apexes exactly at ``beat_times_s`` (Gaussian waves, mV)."""
    t = np.arange(int(round(duration_s * fs))) / fs
    x = np.zeros_like(t)
    for beat in beat_times_s:
        x += 0.15 * np.exp(-0.5 * ((t - beat + 0.16) / 0.025) ** 2)   # P
        x += 1.20 * np.exp(-0.5 * ((t - beat) / 0.010) ** 2)          # R
        x -= 0.20 * np.exp(-0.5 * ((t - beat - 0.03) / 0.010) ** 2)   # S
        x += 0.30 * np.exp(-0.5 * ((t - beat - 0.28) / 0.045) ** 2)   # T
    return x + np.random.default_rng(seed).normal(0.0, noise_mv, t.shape)


def known_beats(n=24, start=0.6, seed=1):
    rng = np.random.default_rng(seed)
    rr = rng.uniform(0.65, 1.05, n - 1)
    return start + np.concatenate([[0.0], np.cumsum(rr)])


# --------------------------------------------------------------------------------------------
# RR features


def test_rr_features_exact_values():
    fs = 250.0
    peaks = np.array([100, 300, 550, 750, 1050, 1300])        # RR in samples: 200 250 200 300 250
    rr = sig.rr_features(peaks, fs, local_window=3)
    intervals = np.array([200, 250, 200, 300, 250]) / fs
    assert rr.shape == (6, 3)
    # previous RR: the first beat takes its next RR; next RR: the last beat takes its previous RR
    np.testing.assert_allclose(rr[:, 0], np.r_[intervals[0], intervals])
    np.testing.assert_allclose(rr[:, 1], np.r_[intervals, intervals[-1]])
    # local mean over 3 beats centred on the beat (2 intervals), sliding inward at the edges
    expected_local = np.array([
        intervals[0:2].mean(), intervals[0:2].mean(), intervals[1:3].mean(),
        intervals[2:4].mean(), intervals[3:5].mean(), intervals[3:5].mean()])
    np.testing.assert_allclose(rr[:, 2], expected_local)


def test_rr_features_window_longer_than_record_and_clipping():
    rr = sig.rr_features(np.array([0, 100, 250]), 100.0, local_window=9)
    np.testing.assert_allclose(rr[:, 2], [1.25, 1.25, 1.25])      # all beats: mean of 1.0 and 1.5
    clipped = sig.rr_features(np.array([0, 100, 1100]), 100.0, local_window=9, max_rr_s=3.0)
    np.testing.assert_allclose(clipped[:, 1], [1.0, 3.0, 3.0])   # a 10 s gap becomes 3 s
    with pytest.raises(ValueError):
        sig.rr_features(np.array([5]), 100.0, 9)


# --------------------------------------------------------------------------------------------
# segmentation


@pytest.mark.parametrize("mode", ["window", "rr"])
def test_segment_centres_impulses_exactly_with_fixed_length(mode):
    config = SignalConfig(segment_mode=mode)
    x = np.zeros(1000, np.float32)
    peaks = np.array([10, 120, 230, 400, 520, 700, 980])
    x[peaks] = np.arange(1, peaks.size + 1)      # impulse heights identify the beats
    beats, kept = sig.segment(x, peaks, config)
    assert beats.dtype == np.float32 and beats.shape[1] == config.beat_len
    assert beats.shape[0] == kept.size
    assert np.all(np.argmax(beats, axis=1) == config.r_offset)
    np.testing.assert_array_equal(beats[:, config.r_offset], x[peaks[kept]])
    if mode == "window":
        # peak 10 (< r_offset) and peak 980 (window past the end) do not fit: dropped
        np.testing.assert_array_equal(kept, [1, 2, 3, 4, 5])
    else:
        np.testing.assert_array_equal(kept, np.arange(peaks.size))


def test_segment_rr_mode_zero_pads_outside_rr_midpoints():
    config = SignalConfig(segment_mode="rr")
    r, after = config.r_offset, config.beat_len - config.r_offset - 1
    x = np.ones(600, np.float32)
    peaks = np.array([100, 160, 200, 400, 590])
    beats, kept = sig.segment(x, peaks, config)
    assert beats.shape == (5, config.beat_len)

    def span(i):
        nonzero = np.flatnonzero(beats[i])
        return int(nonzero[0]) - r, int(nonzero[-1]) - r   # first / last sample kept, relative to R

    # beat 1 (R at 160): from the midpoint 130 up to (not including) the midpoint 180
    assert span(1) == (-30, 19)
    # beat 0 mirrors its one RR interval (60 samples) on the left: 30 samples before R
    assert span(0) == (-30, 29)
    # beat 3 (R at 400): midpoints 300 and 495 lie beyond the window, which bounds it
    assert span(3) == (-r, after)
    # beat 4 (R at 590): the signal ends 9 samples after R; zero-padded past the end
    assert span(4) == (-r, 9)


# --------------------------------------------------------------------------------------------
# resampling and normalisation


@pytest.mark.parametrize("fs", [360.0, 300.0, 500.0, 128.0, 250.0])
def test_resample_rate_conversion(fs):
    duration, target = 10.0, 100.0
    t = np.arange(int(duration * fs)) / fs
    out = sig.resample(np.sin(2 * np.pi * 3.0 * t), fs, target)
    ratio = (target / fs)
    assert out.shape[0] == math.ceil(t.size * ratio - 1e-9)
    t_out = np.arange(out.shape[0]) / target
    inner = slice(100, -100)                   # away from the filter's edge effects
    np.testing.assert_allclose(out[inner], np.sin(2 * np.pi * 3.0 * t_out[inner]), atol=0.02)


def test_resample_same_rate_is_a_copy():
    x = np.arange(50.0)
    out = sig.resample(x, 100.0, 100.0)
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_robust_normalisation_statistics():
    rng = np.random.default_rng(0)
    x = 3.0 + 2.5 * rng.standard_normal(5000)
    y = sig.normalize(x, "robust")
    q25, median, q75 = np.percentile(y, [25, 50, 75])
    assert abs(median) < 1e-9 and abs((q75 - q25) - 1.0) < 1e-9
    np.testing.assert_array_equal(sig.normalize(x, "none"), x)
    # mostly constant: IQR is 0, falls back to std, never divides by zero
    z = np.zeros(100)
    z[5] = 4.0
    assert np.all(np.isfinite(sig.normalize(z, "robust")))
    assert np.all(sig.normalize(np.ones(10), "robust") == 0.0)
    with pytest.raises(ConfigError):
        sig.normalize(x, "zscore")


# --------------------------------------------------------------------------------------------
# the chain on signals with known beats


def test_preprocess_synthetic_known_beats():
    fs = 360.0
    times = known_beats()
    x = synthetic_ecg(times, fs, duration_s=times[-1] + 0.8)
    config = SignalConfig()
    beats = sig.preprocess(x, fs, config, path="synthetic")
    true_native = np.rint(times * fs).astype(np.int64)
    # every detected peak is a true beat (within 3 samples = 8 ms), only edge beats are missing
    nearest = np.abs(beats.rpeaks_native[:, None] - true_native[None, :]).min(axis=1)
    assert nearest.max() <= 3
    assert len(beats) >= len(times) - 2
    assert beats.beats.shape == (len(beats), config.beat_len) and beats.beats.dtype == np.float32
    assert beats.rr.shape == (len(beats), 3) and beats.rr.dtype == np.float32
    assert beats.rpeaks.dtype == np.int64 and beats.rpeaks_native.dtype == np.int64
    assert beats.fs == config.target_fs
    np.testing.assert_array_equal(beats.rpeaks, np.rint(beats.rpeaks_native * 100.0 / fs))
    # R apex at r_offset (at most one 10 ms sample off after the 360 -> 100 Hz mapping)
    assert np.all(np.abs(np.argmax(beats.beats, axis=1) - config.r_offset) <= 1)
    # RR features: the true intervals of the matched beats (to detection precision)
    index = np.abs(beats.rpeaks_native[:, None] - true_native[None, :]).argmin(axis=1)
    true_rr = sig.rr_features(times * fs, fs, config.rr_local_window)
    np.testing.assert_allclose(beats.rr, true_rr[index], atol=6 / fs)
    # the signal the beats were cut from: target rate, robust-normalised
    assert beats.signal.dtype == np.float32
    assert beats.signal.shape[0] == math.ceil(x.size * 100 / fs)
    np.testing.assert_array_equal(beats.beats[0], beats.signal[beats.rpeaks[0] - config.r_offset:
                                                              beats.rpeaks[0] - config.r_offset + config.beat_len])


def test_preprocess_options_rr_mode_no_rr_features_detect_at_target_rate():
    fs = 300.0
    times = known_beats(n=20, seed=3)
    x = synthetic_ecg(times, fs, duration_s=times[-1] + 0.8, seed=3)
    config = SignalConfig(segment_mode="rr", rr_features=False, detect_at_native_rate=False, normalize="none")
    beats = sig.preprocess(x, fs, config)
    assert beats.rr.shape == (len(beats), 0)
    assert len(beats) == len(times)                       # rr mode keeps the edge beats
    true_native = np.rint(times * fs)
    assert np.abs(beats.rpeaks_native - true_native).max() <= 3   # detection at 100 Hz, mapped back
    assert np.all(np.abs(np.argmax(beats.beats, axis=1) - config.r_offset) <= 1)


def test_preprocess_real_mitdb_beats_centred(fixtures_dir):
    wfdb = pytest.importorskip("wfdb")
    record = wfdb.rdrecord(str(fixtures_dir / "mitdb" / "119"))
    x = record.p_signal[:, record.sig_name.index("MLII")]
    config = SignalConfig()
    beats = sig.preprocess(x, record.fs, config, path="119")
    assert beats.beats.shape[1] == config.beat_len and len(beats) > 200
    peak_index = np.argmax(np.abs(beats.beats[:, config.r_offset - 8:config.r_offset + 9]), axis=1) - 8
    assert np.median(peak_index) == 0
    assert np.mean(np.abs(peak_index) <= 1) > 0.95
    # per-record (not per-beat) normalisation: robust statistics of the whole signal
    q25, median, q75 = np.percentile(beats.signal, [25, 50, 75])
    assert abs(median) < 1e-4 and abs(q75 - q25 - 1.0) < 1e-3
    assert np.all((beats.rr > 0.2) & (beats.rr <= config.max_rr_s))


# --------------------------------------------------------------------------------------------
# quality rejections


def _reason(signal, fs=360.0, config=SignalConfig(), path="rec/A00042.mat"):
    with pytest.raises(SignalQualityError) as info:
        sig.preprocess(signal, fs, config, path=path)
    assert "rec/A00042.mat" in str(info.value)
    return info.value.reason


def test_quality_rejections_name_the_path():
    fs = 360.0
    good = synthetic_ecg(known_beats(n=12), fs, duration_s=10.0)
    with_nan = good.copy()
    with_nan[100] = np.nan
    with_inf = good.copy()
    with_inf[7] = np.inf
    assert _reason(with_nan) == "nan"
    assert _reason(with_inf) == "nan"
    assert _reason(np.full(3600, 0.2)) == "flat"
    clipped = np.clip(good, -0.05, 0.05)           # most of the trace sits on the rails
    assert _reason(clipped) == "clipped"
    assert _reason(good, fs=20.0) == "bad_rate"
    assert _reason(good, fs=5000.0) == "bad_rate"
    assert _reason(np.stack([good, good], axis=1)) == "bad_shape"
    assert _reason(good[:360]) == "too_short"
    # 8 s with two beats. Adaptive detectors lower their threshold in long pauses and pick noise
    # peaks, but min_rr_s bounds the count at 8 s / 0.2 s = 40 peaks: 41 beats cannot be reached.
    two_beats = synthetic_ecg([2.0, 5.0], fs, duration_s=8.0)
    assert _reason(two_beats, config=SignalConfig(min_beats=41)) == "too_few_beats"
    assert _reason(two_beats[:int(2.5 * fs)], config=SignalConfig(min_beats=41)) == "too_few_beats"
    # the same checks are callable alone, and a good signal passes
    sig.check_quality(good, fs, SignalConfig(), path="ok")


def test_refine_rpeaks_moves_peaks_to_the_r_apex_of_either_polarity():
    fs = 360.0
    times = known_beats(n=12)
    x = sig.clean(synthetic_ecg(times, fs, duration_s=times[-1] + 0.8), fs, "neurokit")
    apex = np.rint(times * fs).astype(np.int64)
    late = apex + np.tile([9, -7, 12, 0], 3)      # a detector's filter delay / jitter, within 40 ms
    # to the apex sample (at most 1 sample off: the true apex falls between samples, plus noise)
    assert np.abs(sig.refine_rpeaks(x, late, fs, 0.08) - apex).max() <= 1
    assert np.abs(sig.refine_rpeaks(-x, late, fs, 0.08) - apex).max() <= 1    # inverted lead
    np.testing.assert_array_equal(sig.refine_rpeaks(x, late, fs, 0.0), late)     # 0 = off


def test_find_rpeaks_every_configured_detector_path():
    fs = 250.0
    times = known_beats(n=16, seed=5)
    x = synthetic_ecg(times, fs, duration_s=times[-1] + 0.8, seed=5)
    apex = np.rint(times * fs)
    for config in (SignalConfig(), SignalConfig(rpeak_method="khamis2016"), SignalConfig(rpeak_clean_method=""),
                   SignalConfig(detect_at_native_rate=False)):
        peaks = sig.find_rpeaks(x, fs, config)
        assert peaks.dtype == np.int64
        assert peaks.size == times.size, config
        assert np.abs(peaks - apex).max() <= 1


def test_unknown_rpeak_method_is_a_config_error():
    with pytest.raises(ConfigError):
        sig.detect_rpeaks(np.zeros(1000), 100.0, method="no-such-detector", cleaned=True)


# --------------------------------------------------------------------------------------------
# config round trip


def test_signal_config_json_round_trip(tmp_path):
    config = SignalConfig(segment_mode="rr", rpeak_method="pantompkins1985", rpeak_correct_artifacts=True,
                          supported_fs=(100.0, 1000.0), min_duration_s=4.0)
    config.save(tmp_path / "signal.json")
    assert SignalConfig.load(tmp_path / "signal.json") == config
    experiment = ExperimentConfig(signal=dataclasses.replace(config, rr_features=False),
                                  model=ModelConfig(n_rr_features=0))
    experiment.save(tmp_path / "experiment.json")
    loaded = ExperimentConfig.load(tmp_path / "experiment.json")
    assert loaded == experiment and loaded.signal.n_rr_features == 0
    assert ExperimentConfig.from_dict(experiment.to_dict()).signal == experiment.signal
    with pytest.raises(ConfigError):
        SignalConfig.from_dict({"segment_mode": "beats"})


def test_signal_reexports_the_split_modules_names_as_the_same_objects():
    """signal.py re-exports what moved to filters / rpeaks / rpeak_guard: each name is the object the code uses, and
    the guard reads rpeak_guard.GUARD (rebinding signal.GUARD would not reach it, so nothing in experiments/ does)."""
    import re
    from pathlib import Path

    from ecgsl_keras.data import filters, rpeak_guard, rpeaks

    homes = {name: module for module in (filters, rpeaks, rpeak_guard) for name in module.__all__}
    assert set(homes) <= set(sig.__all__)
    for name, module in homes.items():
        assert getattr(sig, name) is getattr(module, name), name
    assert sig.GUARD is rpeak_guard.GUARD and sig.preprocess.__module__ == "ecgsl_keras.data.signal"
    root = Path(__file__).resolve().parents[1]
    rebinds = [str(p.relative_to(root)) for p in sorted((root / "experiments").rglob("*.py"))
               if re.search(r"\b(S|signal|signal_lib)\.GUARD\s*=[^=]", p.read_text())]
    assert not rebinds, f"rebind rpeak_guard.GUARD, not the re-export signal.GUARD: {rebinds}"
    # the API page documents signal's own names only (the re-exports have their modules' sections)
    listed = re.search(r"::: ecgsl_keras\.data\.signal\n(?:.*\n)*?\s+members: \[(.*)\]", (root / "docs/api/data.md").read_text())
    assert [n.strip() for n in listed.group(1).split(",")] == [n for n in sig.__all__ if n not in homes]


def test_guard_constants_patched_in_rpeak_guard_reach_find_rpeaks(monkeypatch):
    """The guard reads its constants from rpeak_guard at call time: every third beat at 40% is under the amplitude
    check (0.6) but shaped like its neighbours, so the shape rescue keeps it; patched off in rpeak_guard.GUARD
    (rescue_amplitude 1.0), find_rpeaks drops those beats."""
    from ecgsl_keras.data import rpeak_guard

    fs = 360.0
    times = np.arange(0.5, 19.5, 0.8)
    x = synthetic_ecg(times, fs, 20.0)
    for k in range(0, times.size, 3):            # every third beat at 40%: the amplitude check drops them
        r = int(round(times[k] * fs))
        x[r - 30:r + 30] *= 0.4
    config = SignalConfig(rpeak_guard_amplitude=0.6, rpeak_searchback=0.0)
    assert sig.find_rpeaks(x, fs, config).size == times.size
    monkeypatch.setattr(rpeak_guard, "GUARD", dataclasses.replace(rpeak_guard.GUARD, rescue_amplitude=1.0))
    assert sig.find_rpeaks(x, fs, config).size == times.size - len(range(0, times.size, 3))
