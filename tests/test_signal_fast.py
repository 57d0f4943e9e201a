"""The vectorised internals of the R-peak detector give the numbers of the per-item code they replace (issue 21's
speed limit; experiments/rpeaks/fast_same_peaks.py checks whole detections on MIT-BIH DS1)."""
import dataclasses

import numpy as np
import scipy.signal

from ecgsl_keras.bench.rpeaks import read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeaks as R
from ecgsl_keras.data import signal as S


def test_most_prominent_matches_find_peaks_per_region():
    rng = np.random.default_rng(0)
    for trial in range(400):
        n = int(rng.integers(20, 200))
        x = rng.normal(size=n)
        if trial % 3 == 0:
            x = np.round(x, 1)              # plateaus: find_peaks' own handling
        if trial % 7 == 0:
            x[rng.integers(0, n)] = np.nan
        k = int(rng.integers(1, 6))
        cuts = np.sort(rng.choice(n, size=2 * k, replace=False))
        beg, end = cuts[0::2], cuts[1::2]
        for negate in (False, True):
            offset, prominence = R._most_prominent(x, beg, end, negate, longest=int(rng.integers(2, 80)))
            for i, (b, e) in enumerate(zip(beg, end)):
                data = -x[b:e] if negate else x[b:e]
                local, props = scipy.signal.find_peaks(data, prominence=(None, None))
                if local.size == 0:
                    assert offset[i] == -1 and np.isnan(prominence[i])
                else:
                    best = int(np.argmax(props["prominences"]))
                    assert offset[i] == local[best]
                    np.testing.assert_array_equal(prominence[i], props["prominences"][best])


def _findpeaks_per_region(x, fs, keep):
    """The detector's region loop as it was (one find_peaks call per region): the reference."""
    from neurokit2.signal import signal_smooth

    smoothgrad = signal_smooth(np.abs(np.gradient(x)), kernel="boxcar", size=int(np.rint(0.1 * fs)))
    avggrad = signal_smooth(smoothgrad, kernel="boxcar", size=int(np.rint(0.75 * fs)))
    qrs = smoothgrad > 1.5 * avggrad
    beg = np.flatnonzero(~qrs[:-1] & qrs[1:])
    end = np.flatnonzero(qrs[:-1] & ~qrs[1:])
    end = end[end > beg[0]]
    n = min(beg.size, end.size)
    min_len = np.mean(end[:n] - beg[:n]) * 0.4
    delay = int(np.rint(fs * 0.3))
    last = keep == "prominent_negative_last"
    peaks, prominences, minima = [0], [np.inf], [False]
    for b, e in zip(beg[:n], end[:n]):
        if e - b < min_len:
            continue
        local, props = scipy.signal.find_peaks(x[b:e], prominence=(None, None))
        minimum = False
        if local.size == 0 and keep != "prominent":
            local, props = scipy.signal.find_peaks(-x[b:e], prominence=(None, None))
            minimum = True
        if local.size == 0:
            continue
        best = int(np.argmax(props["prominences"]))
        peak, prominence = int(b + local[best]), float(props["prominences"][best])
        if peak - peaks[-1] > delay:
            peaks.append(peak)
            prominences.append(prominence)
            minima.append(minimum)
        elif last and minimum:
            continue
        elif (prominence > prominences[-1] or (last and minima[-1])) and (len(peaks) < 2 or peak - peaks[-2] > delay):
            peaks[-1], prominences[-1], minima[-1] = peak, prominence, minimum
    return np.asarray(peaks[1:], dtype=np.int64)


def test_findpeaks_neurokit_matches_the_region_loop(fixtures_dir):
    for rid in ("119", "208"):
        signal, fs = read_mitdb(fixtures_dir / "mitdb", rid)[:2]
        x = S.clean(signal, fs, "pantompkins1985")
        for keep in ("prominent", "prominent_negative", "prominent_negative_last"):
            np.testing.assert_array_equal(R._findpeaks_neurokit(x, fs, keep=keep), _findpeaks_per_region(x, fs, keep))


def test_slope_feature_matches_gradient_cumsum():
    rng = np.random.default_rng(1)
    for n, fs in ((1000, 360.0), (37, 360.0), (36, 360.0), (5, 50.0), (2, 10.0), (5000, 250.0)):
        x = rng.normal(size=n).cumsum()
        smooth = max(1, int(round(0.1 * fs)))
        cumulative = np.concatenate([[0.0], np.cumsum(np.abs(np.gradient(x)))])
        expected = np.concatenate([np.zeros(smooth // 2), cumulative[smooth:] - cumulative[:-smooth],
                                   np.zeros(smooth - smooth // 2 - 1)])
        np.testing.assert_array_equal(S.slope_feature(x, fs), expected)


def test_run_s33_like_guard_keeps_its_fixture_peaks(fixtures_dir):
    """Every option of run s33's point on (the guard's cheap paths must not lose what the exhaustive ones find):
    the detector still finds the fixture records' beats."""
    config = dataclasses.replace(
        SignalConfig(), rpeak_mindelay_keep="prominent_negative_last", rpeak_rescue_deep=0.2, rpeak_guard_p_wave=1.0,
        rpeak_second_proposer=0.5, rpeak_rescue_cluster=0.9, rpeak_guard_t_wave=0.9, rpeak_guard_residual=0.3,
        rpeak_guard_noise=1.7, rpeak_second_run=0.97)
    for rid in ("119", "208"):
        signal, fs, beats = read_mitdb(fixtures_dir / "mitdb", rid)[:3]
        peaks = S.find_rpeaks(signal, fs, config)
        m = S.match_peaks(beats, peaks, int(round(0.15 * fs)))
        assert m["tp"] / beats.size > 0.99 and m["tp"] / peaks.size > 0.99
