"""The 65 RR/HRV and beat-morphology statistics of one record, computed from its prepared beats
(``SignalConfig`` defaults: 96-sample beats at 100 Hz, R-peak at sample 32) and RR features.
They are the hand-made features of the gradient-boosting baseline (``ecgsl_keras.evaluation.baselines``)
and the ``baseline`` group of ``ecgsl_keras.data.record_features``."""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ecgsl_keras.errors import ConfigError

__all__ = ["FEATURE_NAMES", "RR_FEATURES", "MORPHOLOGY_FEATURES", "record_features"]

# Beat geometry of the prepared data (SignalConfig defaults): 100 Hz, 96 samples, R-peak at 32.
FS = 100.0
R_OFFSET = 32
# Regions of a beat, in samples (100 Hz) relative to the window start.
P_REGION = slice(R_OFFSET - 25, R_OFFSET - 7)     # 250 ms .. 70 ms before R
QRS_REGION = slice(R_OFFSET - 8, R_OFFSET + 9)    # R +- 80 ms
ST_REGION = slice(R_OFFSET + 9, R_OFFSET + 20)    # 90 .. 200 ms after R
T_REGION = slice(R_OFFSET + 20, R_OFFSET + 60)    # 200 .. 600 ms after R
MEDIAN_BEAT_BINS = 12                             # median beat averaged in 8-sample bins
IRREGULAR_THRESHOLD = 0.15                        # |successive RR difference| / mean RR

RR_FEATURES = (
    "mean_rr", "sd_rr", "cv_rr", "rmssd", "rmssd_norm", "pnn50", "pnn20", "sdsd_norm",
    "sd_entropy", "sample_entropy", "cosen", "irregular_fraction", "min_rr", "max_rr", "range_rr_norm",
    "median_rr", "p10_rr_norm", "p90_rr_norm", "madsd_norm", "heart_rate", "sd1_norm", "sd2_norm",
    "sd1_sd2", "turning_point_ratio", "rr_ratio_out_fraction", "local_irregularity", "max_rr_ratio",
)
MORPHOLOGY_FEATURES = (
    "r_amplitude", "qrs_min", "qrs_peak_to_peak", "beat_max", "beat_min", "qrs_area", "qrs_width",
    "p_energy", "p_peak", "p_sd_across_beats", "p_corr_mean", "t_max", "t_min", "t_energy", "st_level",
    "corr_mean", "corr_sd", "corr_min", "corr_low_fraction", "residual_energy", "r_amplitude_cv",
    "beat_sd_mean", "hf_energy", "beat_count", "duration_s", "beats_per_second",
) + tuple(f"median_beat_bin{i}" for i in range(MEDIAN_BEAT_BINS))
FEATURE_NAMES = RR_FEATURES + MORPHOLOGY_FEATURES



def _rr_intervals(rr: np.ndarray) -> np.ndarray:
    """Consecutive RR intervals (s) of a beat sequence: the first beat's previous RR, then every next RR.

    ``rr_features`` mirrors the one interval of the record's first and last R-peaks (previous RR =
    next RR there); such a mirrored copy is dropped so that no interval is counted twice.
    """
    rr = np.asarray(rr, np.float64)
    if rr.ndim != 2 or rr.shape[1] < 2 or rr.shape[0] == 0:
        return np.zeros((0,), np.float64)
    if rr.shape[0] == 1:
        intervals = rr[0, :1]
    else:
        head = rr[:1, 0] if not np.isclose(rr[0, 0], rr[0, 1]) else rr[:0, 0]
        tail = rr[:, 1] if not np.isclose(rr[-1, 1], rr[-1, 0]) else rr[:-1, 1]
        intervals = np.concatenate([head, tail])
    following = rr[:, 1]
    intervals = intervals[np.isfinite(intervals) & (intervals > 0)]
    return intervals if intervals.size else following[np.isfinite(following) & (following > 0)]


def sampen_counts(x: np.ndarray, m: int, tol: float) -> tuple:
    """(A, B): template matches (Chebyshev distance <= tol, no self-matches, each pair once) of lengths
    m + 1 and m over the same n - m templates (Richman & Moorman)."""
    x = np.asarray(x, np.float64)
    n = x.size
    out = []
    for length in (m + 1, m):
        templates = np.lib.stride_tricks.sliding_window_view(x, length)[: n - m]
        dist = np.abs(templates[:, None, :] - templates[None, :, :]).max(axis=2)
        out.append((np.count_nonzero(dist <= tol) - templates.shape[0]) / 2.0)
    return out[0], out[1]


def _sample_entropy(x: np.ndarray, m: int = 2, r: float = 0.2) -> float:
    """Sample entropy (Richman & Moorman) of ``x`` with tolerance ``r * sd``; capped when undefined."""
    x = np.asarray(x, np.float64)
    n = x.size
    if n < m + 3:
        return 0.0
    tol = r * x.std()
    if tol <= 0:
        return 0.0
    a, b = sampen_counts(x, m, tol)
    if a <= 0 or b <= 0:
        return float(np.log((n - m) * (n - m - 1) / 2.0))   # the largest finite value it could take
    return float(-np.log(a / b))


def _shannon_entropy(values: np.ndarray, bins: int = 16) -> float:
    """Shannon entropy (bits) of the histogram of ``values``, normalised by log2(bins)."""
    if values.size < 2 or np.ptp(values) <= 0:
        return 0.0
    counts, _ = np.histogram(values, bins=bins)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum() / np.log2(bins))


def _rr_stats(intervals: np.ndarray) -> dict:
    out = OrderedDict((name, 0.0) for name in RR_FEATURES)
    rr = intervals
    if rr.size == 0:
        return out
    mean = float(rr.mean())
    diff = np.diff(rr)
    abs_diff = np.abs(diff)
    out["mean_rr"] = mean
    out["sd_rr"] = float(rr.std())
    out["cv_rr"] = float(rr.std() / mean)
    out["min_rr"] = float(rr.min())
    out["max_rr"] = float(rr.max())
    out["range_rr_norm"] = float(np.ptp(rr) / mean)
    out["median_rr"] = float(np.median(rr))
    p10, p90 = np.percentile(rr, [10.0, 90.0])
    out["p10_rr_norm"] = float(p10 / mean)
    out["p90_rr_norm"] = float(p90 / mean)
    out["heart_rate"] = 60.0 / mean
    if diff.size:
        rmssd = float(np.sqrt(np.mean(diff ** 2)))
        out["rmssd"] = rmssd
        out["rmssd_norm"] = rmssd / mean
        out["pnn50"] = float(np.mean(abs_diff > 0.05))
        out["pnn20"] = float(np.mean(abs_diff > 0.02))
        out["sdsd_norm"] = float(diff.std() / mean)
        out["sd_entropy"] = _shannon_entropy(diff / mean)
        out["irregular_fraction"] = float(np.mean(abs_diff / mean > IRREGULAR_THRESHOLD))
        out["madsd_norm"] = float(np.median(abs_diff) / mean)
        sampen = _sample_entropy(rr)
        out["sample_entropy"] = sampen
        # Coefficient of sample entropy (Lake & Moorman 2011): SampEn + ln(2r) - ln(mean RR), r = 0.2 sd.
        r_abs = 0.2 * rr.std()
        out["cosen"] = sampen + (math.log(2 * r_abs) if r_abs > 0 else 0.0) - math.log(mean)
        # Poincare plot (RR_i, RR_i+1)
        x, y = rr[:-1], rr[1:]
        out["sd1_norm"] = float(np.std((y - x) / np.sqrt(2)) / mean)
        out["sd2_norm"] = float(np.std((y + x) / np.sqrt(2)) / mean)
        out["sd1_sd2"] = out["sd1_norm"] / out["sd2_norm"] if out["sd2_norm"] > 0 else 0.0
        ratio = y / x
        out["rr_ratio_out_fraction"] = float(np.mean((ratio < 0.85) | (ratio > 1.15)))
        out["max_rr_ratio"] = float(np.max(np.maximum(ratio, 1.0 / ratio)))
    if diff.size > 1:
        turning = (diff[:-1] * diff[1:]) < 0
        out["turning_point_ratio"] = float(np.mean(turning))
    return out


def _beat_correlations(beats: np.ndarray, template: np.ndarray) -> np.ndarray:
    centred = beats - beats.mean(axis=1, keepdims=True)
    t = template - template.mean()
    denom = np.linalg.norm(centred, axis=1) * np.linalg.norm(t)
    return np.divide(centred @ t, denom, out=np.zeros(len(beats)), where=denom > 0)


def _morphology_stats(beats: np.ndarray, rr: np.ndarray) -> dict:
    out = OrderedDict((name, 0.0) for name in MORPHOLOGY_FEATURES)
    beats = np.asarray(beats, np.float64)
    n = beats.shape[0]
    out["beat_count"] = float(n)
    if n == 0:
        return out
    median = np.median(beats, axis=0)
    r_amp = float(median[R_OFFSET])
    qrs = median[QRS_REGION]
    out["r_amplitude"] = r_amp
    out["qrs_min"] = float(qrs.min())
    out["qrs_peak_to_peak"] = float(np.ptp(qrs))
    out["beat_max"] = float(median.max())
    out["beat_min"] = float(median.min())
    out["qrs_area"] = float(np.abs(qrs).sum() / FS)
    # QRS width proxy: contiguous samples around R where |median beat| stays above half its R amplitude.
    level = 0.5 * abs(r_amp) if r_amp != 0 else 0.5 * np.abs(qrs).max()
    above = np.abs(median) >= level
    left = R_OFFSET
    while left > 0 and above[left - 1]:
        left -= 1
    right = R_OFFSET
    while right < len(median) - 1 and above[right + 1]:
        right += 1
    out["qrs_width"] = float((right - left + 1) / FS)
    p_med = median[P_REGION] - median[P_REGION].mean()
    out["p_energy"] = float(np.mean(p_med ** 2))
    out["p_peak"] = float(np.max(median[P_REGION]) - np.median(median[P_REGION]))
    out["p_sd_across_beats"] = float(beats[:, P_REGION].std(axis=0).mean())
    out["p_corr_mean"] = float(_beat_correlations(beats[:, P_REGION], median[P_REGION]).mean())
    t = median[T_REGION]
    out["t_max"] = float(t.max())
    out["t_min"] = float(t.min())
    out["t_energy"] = float(np.mean((t - t.mean()) ** 2))
    out["st_level"] = float(median[ST_REGION].mean())
    corr = _beat_correlations(beats, median)
    out["corr_mean"] = float(corr.mean())
    out["corr_sd"] = float(corr.std())
    out["corr_min"] = float(corr.min())
    out["corr_low_fraction"] = float(np.mean(corr < 0.8))
    energy = float(np.mean(median ** 2))
    out["residual_energy"] = float(np.mean((beats - median) ** 2) / energy) if energy > 0 else 0.0
    r_amps = beats[:, R_OFFSET]
    out["r_amplitude_cv"] = float(r_amps.std() / abs(r_amps.mean())) if abs(r_amps.mean()) > 1e-6 else 0.0
    out["beat_sd_mean"] = float(beats.std(axis=0).mean())
    second = np.diff(beats, n=2, axis=1)
    out["hf_energy"] = float(np.mean(second ** 2) / energy) if energy > 0 else 0.0
    rr = np.asarray(rr, np.float64)
    intervals = _rr_intervals(rr)
    duration = float(intervals.sum()) if intervals.size else 0.0
    out["duration_s"] = duration
    out["beats_per_second"] = float(n / duration) if duration > 0 else 0.0
    bins = median[: MEDIAN_BEAT_BINS * (len(median) // MEDIAN_BEAT_BINS)]
    bins = bins.reshape(MEDIAN_BEAT_BINS, -1).mean(axis=1)
    for i, value in enumerate(bins):
        out[f"median_beat_bin{i}"] = float(value)
    return out


def record_features(beats, rr) -> dict:
    """Features of one record: ``beats`` (n, 96) at 100 Hz with the R-peak at sample 32, ``rr`` (n, 3)
    (previous RR, next RR, local mean RR, seconds). Returns an ordered dict, keys ``FEATURE_NAMES``,
    every value a finite float (0.0 where a statistic is undefined, e.g. too few beats)."""
    beats = np.asarray(beats, np.float64)
    rr = np.asarray(rr, np.float64)
    if beats.ndim != 2:
        raise ValueError(f"beats must be (n, beat_len), got shape {beats.shape}")
    if rr.ndim != 2 or rr.shape[0] != beats.shape[0]:
        raise ValueError(f"rr must be (n, 3) with n = {beats.shape[0]}, got shape {rr.shape}")
    if beats.shape[1] <= T_REGION.stop:
        raise ConfigError(f"beats of {beats.shape[1]} samples; the features need the 96-sample beats of prepare")
    out = OrderedDict()
    out.update(_rr_stats(_rr_intervals(rr)))
    out.update(_morphology_stats(beats, rr))
    for key, value in out.items():
        if not math.isfinite(value):
            out[key] = 0.0
    return out


# --- data -------------------------------------------------------------------------------------------
