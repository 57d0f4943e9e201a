"""Per-beat hand-made features for beat classification (issue 18, deliverable 3): the RR context of each beat
relative to its own record, and its shape against the record's median beat.

    from ecgsl_keras.data.per_beat_features import per_beat_features, FEATURES
    X = per_beat_features(beats, rr)          # (n, len(FEATURES)), one row per beat, NaN where undefined

Inputs are what ``ecgsl_keras.data.prepare`` stores for one record, in beat order: ``beats`` (n, beat_len)
cut around each R-peak (``SignalConfig`` defaults: 96 samples at 100 Hz, R-peak at sample 32) and ``rr``
(n, >= 3) from ``signal.rr_features`` (previous, next and local mean RR, in seconds).

Why these: in inter-patient beat classification, supraventricular ectopic beats are told apart mostly by
prematurity relative to the patient's own rhythm (de Chazal et al. 2004; Mondéjar-Guerra et al. 2019 divide the
RR intervals by the record's average RR), and ventricular beats by a wide QRS that differs from the
patient's usual beat. Absolute RR values are kept too: a model may need them at very high or low rates.

NaN policy: a record with one beat has no RR context (``rr_features`` needs two R-peaks, so prepared data
never hold one); a beat whose correlation is undefined (a flat beat or a flat median beat) gets NaN for
``median_corr`` / ``median_corr_qrs``; amplitude ratios against a flat median beat are NaN. LightGBM routes
NaN by its learned direction (``modeling.stacking``, ``nan_policy="keep"``), so NaN is never filled.

Second set (issue 18, the published inter-patient recipe): ``rr_context_features`` divides the RR intervals
by a causal local average (the previous 10 RR) and by a 5-minute window (Lin & Yang 2014; de Chazal et al.
2004); ``morphology_features`` gives scale-free shape descriptors (Haar = db1 level-3 wavelet approximation of
the beat and of its difference from the record's median beat, both over the median beat's RMS; skewness and
kurtosis of five parts of the beat, Mondéjar-Guerra et al. 2019); ``lead_beats`` cuts another lead of the same
record (e.g. V1) at the R-peaks found on the first, with the same cleaning, resampling and per-record
normalisation, so ``per_beat_features`` and ``morphology_features`` apply to it unchanged.

Third set: ``window_context_features``, the atrial-fibrillation evidence of the 30 s window holding the beat.
Fourth set: ``population_features``, the beat among its record's shapes: how many beats within +-150 s share its
shape, its distance from the record's dominant shape, its RR against the beats of its own shape.
Fifth set: ``local_rhythm_features``, the rhythm of the RR intervals around the beat with its own two left out
(normalised RMSSD, pNN50, robust spread, Lorenz-plot cells) and its prematurity against their median.
Sixth set: ``t_wave_features``, the beat's T wave against its own QRS (discordance) and against the record's median
beat's T wave (polarity, area, width, correlation). Computed on request only: no shipped preset names them.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np

__all__ = ["FEATURES", "FEATURE_NAMES", "per_beat_features", "record_rr_s", "RR_CONTEXT_FEATURES",
           "RR_CONTEXT_FEATURE_NAMES", "rr_context_features", "MORPHOLOGY_FEATURES", "MORPHOLOGY_FEATURE_NAMES",
           "morphology_features", "SHAPE_FEATURE_NAMES", "lead_beats", "ALL_FEATURE_NAMES", "beat_feature_columns",
           "WINDOW_FEATURES", "WINDOW_FEATURE_NAMES", "window_context_features", "POPULATION_FEATURES",
           "POPULATION_FEATURE_NAMES", "population_features", "RHYTHM_FEATURES", "RHYTHM_FEATURE_NAMES",
           "local_rhythm_features", "T_WAVE_FEATURES", "T_WAVE_FEATURE_NAMES", "t_wave_features", "centred_beats",
           "template_corr", "p_wave_corr"]

# Beat geometry of the prepared data (SignalConfig defaults): 100 Hz, R-peak at sample 32.
FS = 100.0
R_OFFSET = 32
QRS_HALF = 12            # samples (120 ms) each side of R searched for the QRS
BASELINE = slice(R_OFFSET - 12, R_OFFSET - 7)   # PR segment, 120 .. 70 ms before R: the isoelectric level
P_REGION = slice(R_OFFSET - 25, R_OFFSET - 7)   # 250 .. 70 ms before R
QRS_REGION = slice(R_OFFSET - 8, R_OFFSET + 9)  # R +- 80 ms
T_REGION = slice(R_OFFSET + 20, R_OFFSET + 60)  # 200 .. 600 ms after R
QRS_LEVEL = 0.3          # a QRS sample deviates from the baseline by at least 30% of the QRS's largest deviation

# name -> (unit, meaning). The column order of per_beat_features.
FEATURES = OrderedDict([
    ("pre_rr_s", ("s", "RR interval before the beat")),
    ("post_rr_s", ("s", "RR interval after the beat")),
    ("local_rr_s", ("s", "mean RR over the 9 beats centred on the beat (signal.rr_features)")),
    ("record_rr_s", ("s", "the record's average RR interval (mean of the previous-RR column)")),
    ("pre_rr_norm", ("1", "pre_rr_s / record_rr_s: prematurity against the patient's own rhythm")),
    ("post_rr_norm", ("1", "post_rr_s / record_rr_s: a compensatory pause after an ectopic beat")),
    ("local_rr_norm", ("1", "local_rr_s / record_rr_s")),
    ("pre_local_ratio", ("1", "pre_rr_s / local_rr_s: prematurity against the beats around it")),
    ("post_pre_ratio", ("1", "post_rr_s / pre_rr_s")),
    ("qrs_width_ms", ("ms", "span of the contiguous samples around R deviating from the PR baseline by >= 30% of the "
                             "QRS's largest deviation (10 ms resolution at 100 Hz)")),
    ("qrs_width_norm", ("1", "qrs_width_ms / the record's median beat's")),
    ("median_corr", ("1", "Pearson correlation with the record's median beat, whole beat")),
    ("median_corr_qrs", ("1", "Pearson correlation with the record's median beat, R +- 80 ms")),
    ("r_amplitude_norm", ("1", "R amplitude above the PR baseline / the median beat's")),
    ("qrs_p2p_norm", ("1", "QRS peak-to-peak / the median beat's")),
    ("p_energy_norm", ("1", "energy 250..70 ms before R (P wave) / the median beat's")),
    ("t_energy_norm", ("1", "energy 200..600 ms after R (T wave) / the median beat's")),
    ("residual_norm", ("1", "RMS of (beat - median beat) / RMS of the median beat")),
    ("qrs_max_mv", ("mV", "largest QRS value, baseline removed")),
    ("qrs_min_mv", ("mV", "smallest QRS value, baseline removed")),
])
FEATURE_NAMES = tuple(FEATURES)


def record_rr_s(rr) -> float:
    """The record's average RR interval (s): the mean of the previous-RR column."""
    rr = np.asarray(rr, np.float64)
    values = rr[:, 0][np.isfinite(rr[:, 0]) & (rr[:, 0] > 0)]
    return float(values.mean()) if values.size else float("nan")


def _ratio(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    return np.where(np.isfinite(out), out, np.nan)


def _rowwise_corr(x: np.ndarray, template: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    tc = template - template.mean()
    den = np.sqrt((xc ** 2).sum(axis=1) * (tc ** 2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (xc @ tc) / den
    return np.where(den > 1e-12, out, np.nan)


def centred_beats(beats) -> np.ndarray:
    """(n, L) float64: each beat minus its isoelectric level (the median of its PR segment, ``BASELINE``), the form
    every correlation column of this module (``median_corr``, ``dominant_corr``) compares."""
    beats = np.asarray(beats, np.float64)
    return beats - np.median(beats[:, BASELINE], axis=1, keepdims=True)


def template_corr(centred: np.ndarray, template: np.ndarray) -> np.ndarray:
    """(n,) Pearson correlation of each row of ``centred`` (``centred_beats``) with ``template`` (L,), as
    ``median_corr`` computes it (NaN where a row or the template is flat)."""
    return _rowwise_corr(np.asarray(centred, np.float64), np.asarray(template, np.float64))


def p_wave_corr(centred: np.ndarray) -> np.ndarray:
    """(n,) Pearson correlation of each row of ``centred`` (``centred_beats``, one record's beats) over the P window
    (``P_REGION``: 250..70 ms before R) with the same window of their median beat. A beat led by the record's sinus P
    wave at its usual PR interval (a normal or a fusion beat) correlates highly; a ventricular ectopic beat has no P
    wave of its own there (noise, or the previous T wave). NaN where a window is flat."""
    c = np.asarray(centred, np.float64)
    return _rowwise_corr(c[:, P_REGION], np.median(c, axis=0)[P_REGION])


def _qrs_width_samples(centred: np.ndarray) -> np.ndarray:
    """Contiguous samples around R whose |deviation| >= QRS_LEVEL x the largest |deviation| within +-QRS_HALF."""
    lo, hi = R_OFFSET - QRS_HALF, R_OFFSET + QRS_HALF + 1
    window = np.abs(centred[:, lo:hi])
    peak = window.max(axis=1, keepdims=True)
    above = window >= QRS_LEVEL * np.maximum(peak, 1e-12)
    # grow from R, or from the largest deflection when R itself is below the level (a QS or notched complex)
    starts = np.where(above[:, QRS_HALF], QRS_HALF, np.argmax(window, axis=1))
    return _run_widths(above, starts)


def _run_widths(above: np.ndarray, starts) -> np.ndarray:
    """(n,) float: the length of each row's run of True in ``above`` (n, L) that contains its ``starts`` column (a
    start that is itself False counts 1)."""
    widths = np.zeros(len(above), np.float64)
    for i, row in enumerate(above):
        left = right = int(starts[i])
        while left > 0 and row[left - 1]:
            left -= 1
        while right < row.size - 1 and row[right + 1]:
            right += 1
        widths[i] = right - left + 1
    return widths


def per_beat_features(beats, rr) -> np.ndarray:
    """(n, len(FEATURE_NAMES)) float64 features of one record's beats (in beat order), NaN where undefined."""
    beats = np.asarray(beats, np.float64)
    rr = np.asarray(rr, np.float64)
    if beats.ndim != 2 or beats.shape[1] < R_OFFSET + 60:
        raise ValueError(f"beats must be (n, >= {R_OFFSET + 60}) samples at 100 Hz, got {beats.shape}")
    if rr.ndim != 2 or rr.shape[0] != beats.shape[0] or rr.shape[1] < 3:
        raise ValueError(f"rr must be (n, 3) previous/next/local RR for the {beats.shape[0]} beats, got {rr.shape}")
    n = beats.shape[0]
    if n == 0:
        return np.zeros((0, len(FEATURE_NAMES)), np.float64)
    centred = centred_beats(beats)
    median = np.median(centred, axis=0)
    pre, post, local = rr[:, 0], rr[:, 1], rr[:, 2]
    record_rr = record_rr_s(rr)
    width = _qrs_width_samples(centred) * (1000.0 / FS)
    median_width = _qrs_width_samples(median[None, :])[0] * (1000.0 / FS)
    qrs, median_qrs = centred[:, QRS_REGION], median[QRS_REGION]
    r_amp, median_r = centred[:, R_OFFSET], median[R_OFFSET]
    p2p, median_p2p = np.ptp(qrs, axis=1), np.ptp(median_qrs)
    p_energy, median_p = (centred[:, P_REGION] ** 2).mean(axis=1), (median[P_REGION] ** 2).mean()
    t_energy, median_t = (centred[:, T_REGION] ** 2).mean(axis=1), (median[T_REGION] ** 2).mean()
    residual = np.sqrt(((centred - median) ** 2).mean(axis=1))
    median_rms = np.sqrt((median ** 2).mean())
    columns = {
        "pre_rr_s": pre, "post_rr_s": post, "local_rr_s": local, "record_rr_s": np.full(n, record_rr),
        "pre_rr_norm": _ratio(pre, record_rr), "post_rr_norm": _ratio(post, record_rr),
        "local_rr_norm": _ratio(local, record_rr), "pre_local_ratio": _ratio(pre, local),
        "post_pre_ratio": _ratio(post, pre), "qrs_width_ms": width, "qrs_width_norm": _ratio(width, median_width),
        "median_corr": _rowwise_corr(centred, median), "median_corr_qrs": _rowwise_corr(qrs, median_qrs),
        "r_amplitude_norm": _ratio(r_amp, median_r if abs(median_r) > 1e-6 else np.nan),
        "qrs_p2p_norm": _ratio(p2p, median_p2p if median_p2p > 1e-6 else np.nan),
        "p_energy_norm": _ratio(p_energy, median_p if median_p > 1e-12 else np.nan),
        "t_energy_norm": _ratio(t_energy, median_t if median_t > 1e-12 else np.nan),
        "residual_norm": _ratio(residual, median_rms if median_rms > 1e-6 else np.nan),
        "qrs_max_mv": qrs.max(axis=1), "qrs_min_mv": qrs.min(axis=1),
    }
    return np.stack([np.asarray(columns[name], np.float64) for name in FEATURE_NAMES], axis=1)


# --- second set: local RR context, scale-free morphology, a second lead -------------------------------------

PAST_RR_BEATS = 10       # causal local average: the previous 10 RR intervals
RR_WINDOW_S = 300.0      # the 5-minute window (centred on the beat, shorter at the record's edges)
WAVELET_LEVEL = 3        # Haar (db1) approximation: 2**3 = 8 samples (80 ms at 100 Hz) per coefficient
IRREGULARITY_BEATS = 33  # the centred window of rr_irregularity
HOS_PARTS = 5            # skewness / kurtosis over 5 equal parts of the beat

RR_CONTEXT_FEATURES = OrderedDict([
    ("pre_rr_past10_ratio", ("1", "pre RR / mean of the previous 10 pre-RRs (causal local rhythm; the first beat: 1)")),
    ("post_rr_past10_ratio", ("1", "post RR / the same causal mean")),
    ("pre_rr_5min_ratio", ("1", "pre RR / mean pre-RR of the beats within +-150 s")),
    ("post_rr_5min_ratio", ("1", "post RR / mean pre-RR of the beats within +-150 s")),
    ("local_rr_5min_ratio", ("1", "local (9-beat) RR / mean pre-RR of the beats within +-150 s")),
    ("past10_rr_norm", ("1", "mean of the previous 10 pre-RRs / the record's average RR")),
    ("past10_rr_cv", ("1", "coefficient of variation (sd / mean) of the previous 10 pre-RRs: an irregular rhythm "
                           "(atrial fibrillation) makes a short RR less telling (the first beat: 0)")),
    ("window_rr_cv", ("1", "coefficient of variation of the pre-RRs within +-150 s")),
    ("pre_rr_past10_z", ("1", "(pre RR - mean of the previous 10) / their sd (sd floored at 2% of the mean): "
                              "prematurity against the local variability")),
    ("rr_irregularity", ("1", "the smallest over lags 1, 2, 3 of the median |RR_i - RR_(i-lag)| over the 33 beats "
                              "centred on the beat, / their mean RR: high in atrial fibrillation, low in a regular "
                              "rhythm with a few ectopic beats and in bigeminy (lag 2) or trigeminy (lag 3)")),
])
RR_CONTEXT_FEATURE_NAMES = tuple(RR_CONTEXT_FEATURES)

MORPHOLOGY_FEATURES = OrderedDict(
    [(f"wavelet_{i}", ("1", f"Haar level-3 approximation coefficient {i} (samples {8 * i}..{8 * i + 7}, R at 32) of "
                            "the baseline-removed beat / the record's median beat's RMS")) for i in range(12)]
    + [(f"wavelet_diff_{i}", ("1", "the same coefficient of (beat - the record's median beat) / median beat RMS"))
       for i in range(12)]
    + [(f"skewness_{i}", ("1", f"skewness of part {i} of 5 equal parts of the beat")) for i in range(HOS_PARTS)]
    + [(f"kurtosis_{i}", ("1", f"excess kurtosis of part {i} of 5 equal parts of the beat")) for i in range(HOS_PARTS)]
)
MORPHOLOGY_FEATURE_NAMES = tuple(MORPHOLOGY_FEATURES)

# The FEATURE_NAMES columns that describe the beat's shape only (no RR): what a second lead adds.
SHAPE_FEATURE_NAMES = FEATURE_NAMES[FEATURE_NAMES.index("qrs_width_ms"):]


def rr_context_features(rpeaks_s, rr) -> np.ndarray:
    """(n, len(RR_CONTEXT_FEATURE_NAMES)) RR context of one record's beats (in beat order).

    ``rpeaks_s``: (n,) R-peak times in seconds; ``rr``: (n, >= 3) previous / next / local RR (s) as for
    ``per_beat_features``. NaN where a ratio is undefined (zero denominators).
    """
    t = np.asarray(rpeaks_s, np.float64).reshape(-1)
    rr = np.asarray(rr, np.float64)
    if rr.ndim != 2 or rr.shape[0] != t.shape[0] or rr.shape[1] < 3:
        raise ValueError(f"rr must be (n, 3) previous/next/local RR for the {t.shape[0]} R-peaks, got {rr.shape}")
    n = t.shape[0]
    if n == 0:
        return np.zeros((0, len(RR_CONTEXT_FEATURE_NAMES)), np.float64)
    pre, post, local = rr[:, 0], rr[:, 1], rr[:, 2]
    cumulative = np.concatenate([[0.0], np.cumsum(pre)])
    squares = np.concatenate([[0.0], np.cumsum(pre ** 2)])
    index = np.arange(n)
    first = np.maximum(index - PAST_RR_BEATS, 0)
    count = np.maximum(index - first, 1)
    past = np.where(index > first, (cumulative[index] - cumulative[first]) / count, pre)
    past_sd = np.where(index > first, np.sqrt(np.maximum((squares[index] - squares[first]) / count - past ** 2, 0.0)),
                       0.0)
    lo = np.searchsorted(t, t - RR_WINDOW_S / 2, side="left")
    hi = np.searchsorted(t, t + RR_WINDOW_S / 2, side="right")
    width = np.maximum(hi - lo, 1)
    window = (cumulative[hi] - cumulative[lo]) / width
    window_sd = np.sqrt(np.maximum((squares[hi] - squares[lo]) / width - window ** 2, 0.0))
    half = IRREGULARITY_BEATS // 2
    irregular = np.full(n, np.inf)
    for lag in (1, 2, 3):
        diffs = np.full(n, np.nan)
        diffs[lag:] = np.abs(pre[lag:] - pre[:-lag])
        for i in range(n):
            lo_i, hi_i = max(i - half, 0), min(i + half + 1, n)
            window_diffs = diffs[lo_i:hi_i]
            if np.isfinite(window_diffs).any():
                irregular[i] = min(irregular[i], np.nanmedian(window_diffs) / max(pre[lo_i:hi_i].mean(), 1e-9))
    irregular[~np.isfinite(irregular)] = 0.0           # a record of fewer than 2 beats: nothing irregular
    columns = {
        "rr_irregularity": irregular,
        "pre_rr_past10_ratio": _ratio(pre, past), "post_rr_past10_ratio": _ratio(post, past),
        "pre_rr_5min_ratio": _ratio(pre, window), "post_rr_5min_ratio": _ratio(post, window),
        "local_rr_5min_ratio": _ratio(local, window), "past10_rr_norm": _ratio(past, record_rr_s(rr)),
        "past10_rr_cv": _ratio(past_sd, past), "window_rr_cv": _ratio(window_sd, window),
        "pre_rr_past10_z": _ratio(pre - past, np.maximum(past_sd, 0.02 * past)),
    }
    return np.stack([np.asarray(columns[name], np.float64) for name in RR_CONTEXT_FEATURE_NAMES], axis=1)


def _moments(parts: np.ndarray) -> tuple:
    """Skewness and excess kurtosis along the last axis; 0 for a flat part."""
    centred = parts - parts.mean(axis=-1, keepdims=True)
    var = (centred ** 2).mean(axis=-1)
    ok = var > 1e-12
    safe = np.where(ok, var, 1.0)
    skew = np.where(ok, (centred ** 3).mean(axis=-1) / safe ** 1.5, 0.0)
    kurt = np.where(ok, (centred ** 4).mean(axis=-1) / safe ** 2 - 3.0, 0.0)
    return skew, kurt


def _haar_approximation(x: np.ndarray) -> np.ndarray:
    """db1 level-``WAVELET_LEVEL`` approximation coefficients (pywt.wavedec(x, "db1", level=3)[0] for a length
    divisible by 8): the sum of each run of 8 samples times (1/sqrt 2)**3."""
    step = 2 ** WAVELET_LEVEL
    usable = (x.shape[1] // step) * step
    return x[:, :usable].reshape(len(x), -1, step).sum(axis=2) * (2.0 ** (-WAVELET_LEVEL / 2))


def morphology_features(beats) -> np.ndarray:
    """(n, len(MORPHOLOGY_FEATURE_NAMES)) scale-free shape descriptors of one record's beats (one lead).

    ``beats`` as for ``per_beat_features`` (n, 96) at 100 Hz, R at sample 32. Amplitudes are divided by the
    record's median beat's RMS (NaN for a flat median beat), so they compare across patients and leads.
    """
    beats = np.asarray(beats, np.float64)
    if beats.ndim != 2 or beats.shape[1] != 96:
        raise ValueError(f"beats must be (n, 96) samples at 100 Hz, got {beats.shape}")
    n = beats.shape[0]
    if n == 0:
        return np.zeros((0, len(MORPHOLOGY_FEATURE_NAMES)), np.float64)
    centred = beats - np.median(beats[:, BASELINE], axis=1, keepdims=True)
    median = np.median(centred, axis=0)
    rms = np.sqrt((median ** 2).mean())
    scale = rms if rms > 1e-6 else np.nan
    wavelet = _haar_approximation(centred) / scale
    wavelet_diff = _haar_approximation(centred - median) / scale
    parts = np.array_split(np.arange(beats.shape[1]), HOS_PARTS)
    skew, kurt = zip(*(_moments(centred[:, idx]) for idx in parts))
    return np.concatenate([wavelet, wavelet_diff, np.stack(skew, axis=1), np.stack(kurt, axis=1)], axis=1)


def lead_beats(signal, fs, rpeaks, config=None) -> np.ndarray:
    """Beats of another lead of a record cut at ``rpeaks`` (sample positions at ``config.target_fs``, as
    ``signal.preprocess`` returns them for the first lead): the same clean / resample / per-record
    normalise chain and the same window, so the beats line up with the first lead's one for one.
    Returns float32 (len(rpeaks), beat_len); raises ValueError if a window does not fit in the signal."""
    from ecgsl_keras.data import filters as filters_lib
    from ecgsl_keras.data import signal as signal_lib

    config = config or signal_lib.SignalConfig()
    cleaned = filters_lib.clean(np.asarray(signal, np.float64), float(fs), config.clean_method)
    resampled = filters_lib.resample(cleaned, float(fs), float(config.target_fs))
    normalised = signal_lib.normalize(resampled, config.normalize).astype(np.float32)
    beats, kept = signal_lib.segment(normalised, rpeaks, config)
    if kept.size != len(rpeaks):
        raise ValueError(f"{len(rpeaks) - kept.size} of {len(rpeaks)} R-peaks have no full window in this lead")
    return beats


# The other lead's columns (MIT-BIH: V1; V5 in 114, V4 in 124): SHAPE_FEATURE_NAMES without the absolute
# amplitudes (mV: they do not carry across patients), each against the OTHER lead's own median beat.
SECOND_LEAD_PREFIX = "lead2_"
SECOND_LEAD_FEATURE_NAMES = tuple(SECOND_LEAD_PREFIX + n for n in SHAPE_FEATURE_NAMES if not n.endswith("_mv"))


def second_lead_features(signal, fs, rpeaks, rr, config=None) -> np.ndarray:
    """(n, len(SECOND_LEAD_FEATURE_NAMES)) float64: the shape columns of a record's other lead ``signal`` (mV at
    ``fs``) at the first lead's ``rpeaks`` (samples at ``config.target_fs``, as ``signal.preprocess`` gives them;
    ``rr`` its (n, >= 3) RR columns): ``lead_beats`` cuts the beats, ``per_beat_features`` measures them against
    that lead's median beat. Pass every detected beat of the record (the median beat is theirs). ValueError as
    ``lead_beats``."""
    beats = lead_beats(signal, fs, rpeaks, config)
    take = [FEATURE_NAMES.index(n[len(SECOND_LEAD_PREFIX):]) for n in SECOND_LEAD_FEATURE_NAMES]
    return per_beat_features(beats, rr)[:, take]


# --- third set: the rhythm of the window around the beat ----------------------------------------------------
# A premature beat is evidence of an S beat in sinus rhythm, not in atrial fibrillation, where every RR is
# irregular (most S false positives on MIT-BIH DS1 are normal beats of records 201 and 203). These columns give
# each beat the AF evidence of the 30 s window that holds it, computed by ``record_features`` (the CinC 2017
# record features) on the raw signal of the window and the beats' own R-peaks.
CONTEXT_WINDOW_S = 30.0     # windows every 30 s from the record's start (the last one shorter), as CinC records
WINDOW_RECORD_FEATURES = ("af_afev", "af_irrev_norm", "af_origin_fraction", "cosen", "sample_entropy",
                          "irregular_fraction", "af_p_presence", "af_p_corr", "af_fwave_ratio")
WINDOW_PREFIX = "window_"


def _window_features_doc():
    from ecgsl_keras.data.record_features import FEATURES as RECORD_FEATURES

    doc = {f.name: f for f in RECORD_FEATURES}
    return OrderedDict((WINDOW_PREFIX + name, (doc[name].unit, f"{doc[name].meaning}; of the 30 s window holding "
                                                               "the beat (record_features on that window)"))
                       for name in WINDOW_RECORD_FEATURES)


WINDOW_FEATURES = _window_features_doc()
WINDOW_FEATURE_NAMES = tuple(WINDOW_FEATURES)


def window_context_features(signal, fs, rpeaks_native, config=None) -> np.ndarray:
    """(n, len(WINDOW_FEATURE_NAMES)): for each beat (R-peak ``rpeaks_native``, samples of the raw ``signal``
    at ``fs``), ``record_features``' AF-evidence columns of the ``CONTEXT_WINDOW_S`` window holding it, given
    that window's R-peaks (``config``: the record's ``SignalConfig``). NaN for a window the features cannot
    describe (too short, too few beats: ``record_features``' NaN policy, or a window it refuses)."""
    from ecgsl_keras.data.record_features import record_features
    from ecgsl_keras.errors import ECGSLError

    signal = np.asarray(signal, np.float64).reshape(-1)
    peaks = np.asarray(rpeaks_native, np.int64).reshape(-1)
    width = int(round(CONTEXT_WINDOW_S * float(fs)))
    window_of = np.minimum(peaks // width, max(len(signal) - 1, 0) // width)
    out = np.full((peaks.size, len(WINDOW_RECORD_FEATURES)), np.nan)
    for window in np.unique(window_of):
        start = int(window) * width
        inside = window_of == window
        try:
            values = record_features(signal[start:start + width], float(fs), rpeaks=peaks[inside] - start,
                                     config=config)
        except ECGSLError:      # a window the features refuse (e.g. too short): NaN, as a missing feature
            continue
        out[inside] = [float(values[name]) for name in WINDOW_RECORD_FEATURES]
    return out


# --- fourth set: the beat among its record's shapes (morphology population) ----------------------------------
# Inter-patient classifiers that cluster each record's beats (e.g. the "patient-adaptable" ones) rest on three
# facts that hold within a record whatever the patient's usual shape is: a ventricular beat's shape is rare in
# its record, a normal beat's shape is common (even when it is unusual across patients, which a booster trained
# on a few records learns badly), and a supraventricular ectopic beat has the common QRS but comes early. These
# columns compare each beat with the beats of its own record, within +-150 s (so they also work on short
# records and follow slow changes of shape): chunked, O(n x beats in 300 s), well under a second for a 30-minute
# record. Measured on MIT-BIH DS1 as a candidate column set of mitdb-beats and not kept there (the booster,
# trained on 11 records, lost more than it gained: experiments/mitdb/RESULTS.md).
POPULATION_WINDOW_S = 300.0      # the beats within +-150 s of the beat (fewer at the record's edges)
POPULATION_CHUNK = 256           # beats a block of the windowed correlation
SIMILAR_CORR = 0.9               # two beats "have the same shape": QRS correlation >= 0.9
DOMINANT_CORR = 0.95             # a beat of the dominant shape: QRS correlation >= 0.95 with the seed
POPULATION_SHIFTS = (-1, 0, 1)   # samples: the largest correlation over these shifts of the other beat
POPULATION_FEATURES = OrderedDict([
    ("similar_qrs_90", ("1", "fraction of the other beats within +-150 s whose correlation with this beat over "
                             "R +- 80 ms (the largest over shifts of the other beat by -1, 0, +1 sample) is >= 0.9 "
                             "(NaN: no other beat in the window)")),
    ("similar_qrs_95", ("1", "the same, correlation >= 0.95")),
    ("similar_beat_90", ("1", "the same over the whole beat (samples 1 .. 94: -310 .. +620 ms), correlation "
                              ">= 0.9")),
    ("similar_beat_95", ("1", "the same over the whole beat, correlation >= 0.95")),
    ("pre_rr_similar_ratio", ("1", "pre RR / median pre RR of the beats within +-150 s of the same QRS shape "
                                   "(QRS correlation >= 0.9, the beat itself included): an S beat has the common "
                                   "QRS but is premature against the beats that share it")),
    ("post_rr_similar_ratio", ("1", "post RR / median post RR of the same beats")),
    ("dominant_corr", ("1", "correlation with the template of the record's dominant shape (median of the beats "
                            "whose QRS correlates >= 0.95 with the seed, the beat most like the record's median "
                            "beat), whole beat")),
    ("dominant_corr_qrs", ("1", "the same over R +- 80 ms")),
    ("dominant_distance_z", ("1", "RMS of (beat - dominant template) / the median of that RMS over the dominant "
                                  "shape's beats: the distance in units of the dominant shape's own spread")),
    ("dominant_share", ("1", "fraction of the beats within +-150 s that belong to the dominant shape")),
    ("pre_rr_dominant_ratio", ("1", "pre RR / median pre RR of the dominant shape's beats within +-150 s (the "
                                    "record's when the window holds none): prematurity against the usual beat")),
    ("post_rr_dominant_ratio", ("1", "post RR / the same median pre RR")),
])
POPULATION_FEATURE_NAMES = tuple(POPULATION_FEATURES)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm (a flat row: zeros, so it correlates 0 with everything)."""
    xc = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt((xc ** 2).sum(axis=1, keepdims=True))
    return np.where(norm > 1e-12, xc / np.maximum(norm, 1e-12), 0.0)


def population_features(beats, rr, rpeaks_s) -> np.ndarray:
    """(n, len(POPULATION_FEATURE_NAMES)): each beat against the other beats of its record (``beats``, ``rr`` as
    for ``per_beat_features``, ``rpeaks_s`` (n,) R-peak times in seconds, in beat order). NaN where a fraction has
    no other beat in its window or a ratio a zero denominator."""
    beats = np.asarray(beats, np.float64)
    rr = np.asarray(rr, np.float64)
    t = np.asarray(rpeaks_s, np.float64).reshape(-1)
    if beats.ndim != 2 or beats.shape[1] < R_OFFSET + 60:
        raise ValueError(f"beats must be (n, >= {R_OFFSET + 60}) samples at 100 Hz, got {beats.shape}")
    n = beats.shape[0]
    if rr.ndim != 2 or rr.shape[0] != n or rr.shape[1] < 3 or t.shape[0] != n:
        raise ValueError(f"rr (n, 3) and rpeaks_s (n,) must match the {n} beats, got {rr.shape}, {t.shape}")
    if n == 0:
        return np.zeros((0, len(POPULATION_FEATURE_NAMES)), np.float64)
    centred = beats - np.median(beats[:, BASELINE], axis=1, keepdims=True)
    zq, zb = _unit_rows(centred[:, QRS_REGION]), _unit_rows(centred)
    # the other beat also shifted by +-1 sample (10 ms): R-peaks found at 100 Hz are off by a sample now and then
    lag_q = [_unit_rows(centred[:, QRS_REGION.start + s:QRS_REGION.stop + s]) for s in POPULATION_SHIFTS]
    lag_b = [_unit_rows(np.roll(centred, s, axis=1)[:, 1:-1]) for s in POPULATION_SHIFTS]
    zb_core = _unit_rows(centred[:, 1:-1])
    pre, post = rr[:, 0], rr[:, 1]
    lo = np.searchsorted(t, t - POPULATION_WINDOW_S / 2, side="left")
    hi = np.searchsorted(t, t + POPULATION_WINDOW_S / 2, side="right")
    counts = np.zeros((n, 4))
    similar_pre, similar_post = np.empty(n), np.empty(n)
    for a in range(0, n, POPULATION_CHUNK):
        b = min(a + POPULATION_CHUNK, n)
        c0, c1 = int(lo[a:b].min()), int(hi[a:b].max())
        cols = np.arange(c0, c1)
        rows = np.arange(a, b)[:, None]
        inside = (cols >= lo[a:b, None]) & (cols < hi[a:b, None])
        others = inside & (cols != rows)
        cq = np.max([zq[a:b] @ z[c0:c1].T for z in lag_q], axis=0)
        cb = np.max([zb_core[a:b] @ z[c0:c1].T for z in lag_b], axis=0)
        for k, (corr, level) in enumerate(((cq, 0.9), (cq, 0.95), (cb, 0.9), (cb, 0.95))):
            counts[a:b, k] = ((corr >= level) & others).sum(axis=1)
        same = (inside & (cq >= SIMILAR_CORR)) | (cols == rows)
        similar_pre[a:b] = np.nanmedian(np.where(same, pre[c0:c1], np.nan), axis=1)
        similar_post[a:b] = np.nanmedian(np.where(same, post[c0:c1], np.nan), axis=1)
    window_others = (hi - lo - 1).astype(np.float64)
    fractions = _ratio(counts, window_others[:, None])
    # the seed: the beat most like the record's median beat (whole beat); its shape: QRS correlation >= 0.95
    seed = int(np.argmax(zb @ _unit_rows(np.median(centred, axis=0)[None, :])[0]))
    dominant = zq @ zq[seed] >= DOMINANT_CORR
    dominant[seed] = True
    template = np.median(centred[dominant], axis=0)
    distance = np.sqrt(((centred - template) ** 2).mean(axis=1))
    spread = float(np.median(distance[dominant]))
    members = np.concatenate([[0], np.cumsum(dominant)])
    share = _ratio(members[hi] - members[lo], hi - lo)
    dominant_pre = np.empty(n)
    member_index = np.flatnonzero(dominant)
    member_t = t[member_index]
    m_lo = np.searchsorted(member_t, t - POPULATION_WINDOW_S / 2, side="left")
    m_hi = np.searchsorted(member_t, t + POPULATION_WINDOW_S / 2, side="right")
    record_dominant_pre = float(np.median(pre[dominant]))
    for i in range(n):
        dominant_pre[i] = (np.median(pre[member_index[m_lo[i]:m_hi[i]]]) if m_hi[i] > m_lo[i]
                           else record_dominant_pre)
    columns = {
        "similar_qrs_90": fractions[:, 0], "similar_qrs_95": fractions[:, 1],
        "similar_beat_90": fractions[:, 2], "similar_beat_95": fractions[:, 3],
        "pre_rr_similar_ratio": _ratio(pre, similar_pre), "post_rr_similar_ratio": _ratio(post, similar_post),
        "dominant_corr": _rowwise_corr(centred, template),
        "dominant_corr_qrs": _rowwise_corr(centred[:, QRS_REGION], template[QRS_REGION]),
        "dominant_distance_z": _ratio(distance, spread if spread > 1e-9 else np.nan),
        "dominant_share": share,
        "pre_rr_dominant_ratio": _ratio(pre, dominant_pre), "post_rr_dominant_ratio": _ratio(post, dominant_pre),
    }
    return np.stack([np.asarray(columns[name], np.float64) for name in POPULATION_FEATURE_NAMES], axis=1)


# --- fifth set: the local rhythm around the beat, from the R-peak series alone --------------------------------
# A short RR is evidence of a supraventricular ectopic beat in a regular rhythm, not in atrial fibrillation, where
# every RR is irregular (in AAMI / MIT-BIH convention the beats of a fibrillation are N). These columns describe the
# RR intervals around the beat with the beat's own two (its pre and post RR) left out, so that an isolated ectopic
# beat and its compensatory pause do not make a regular rhythm look irregular, and measure the beat's prematurity
# against the median of those neighbours rather than against the record's average. Centred (not causal) windows
# of RHYTHM_BEATS intervals on each side; successive differences are taken within each side, never across the
# beat. Vectorised: well under a second for a 30-minute record.
RHYTHM_BEATS = 8            # RR intervals on each side of the beat (its own pre and post RR left out)
RHYTHM_MIN_INTERVALS = 4    # fewer neighbour intervals (at a record's edges): NaN
PNN_S = 0.05                # pNN50: successive differences larger than 50 ms
LORENZ_BIN_S = 0.04         # the Lorenz plot of successive differences in 40 ms x 40 ms cells (AFEv's bin size)
RHYTHM_FEATURES = OrderedDict([
    ("rhythm_rmssd_norm", ("1", "RMS of the successive differences of the 8 RR intervals before and of the 8 after "
                                "the beat (its own pre and post RR left out; no difference across the beat) / the "
                                "median of those 16 intervals: normalised RMSSD, high in atrial fibrillation")),
    ("rhythm_pnn50", ("1", "fraction of the same successive differences larger than 50 ms")),
    ("rhythm_mad_norm", ("1", "median |RR - median RR| of the same 16 intervals / their median: robust spread, low "
                              "in sinus rhythm with a few ectopic beats")),
    ("rhythm_lorenz_cells", ("1", "(distinct 40 ms x 40 ms cells, centred on 0, occupied by the pairs of "
                                  "consecutive successive differences (dRR_j, dRR_j+1) within each side - 1) / "
                                  "(pairs - 1): an AFEv-like Lorenz-plot dispersion, 0 in a regular rhythm (one "
                                  "cell), 1 when every pair has a cell of its own (fibrillation)")),
    ("pre_rr_local_median_ratio", ("1", "pre RR / the median of the 16 neighbour intervals: prematurity against "
                                        "the local rhythm, not the record's average")),
    ("post_rr_local_median_ratio", ("1", "post RR / the same median: the compensatory pause")),
    ("pre_rr_local_z", ("1", "(pre RR - that median) / (1.4826 x the neighbours' median absolute deviation, "
                             "floored at 2% of the median): prematurity in units of the local variability, small "
                             "in fibrillation")),
])
RHYTHM_FEATURE_NAMES = tuple(RHYTHM_FEATURES)


def _neighbour_blocks(t: np.ndarray, k: int) -> tuple:
    """(left, right, pre, post): for each of the n beats at times ``t`` (s), the k RR intervals before its pre RR
    and the k after its post RR ((n, k), NaN beyond the record), and its pre / post RR (NaN at the edges)."""
    n = t.size
    r = np.diff(t)
    padded = np.concatenate([np.full(k + 1, np.nan), r, np.full(k + 1, np.nan)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, k)
    # interval j of r sits at padded[j + k + 1]; beat i's pre RR is r[i-1], its post RR r[i]
    index = np.arange(n)
    left = windows[index]                   # padded[i .. i+k-1] = r[i-1-k .. i-2]
    right = windows[index + k + 2]          # padded[i+k+2 .. i+2k+1] = r[i+1 .. i+k]
    pre = padded[index + k]
    post = padded[index + k + 1]
    return left, right, pre, post


def local_rhythm_features(rpeaks_s) -> np.ndarray:
    """(n, len(RHYTHM_FEATURE_NAMES)) the local rhythm of each beat (``rpeaks_s``: (n,) R-peak times in seconds,
    in beat order, every detected beat): the RR intervals around the beat with its own pre and post RR left out
    (``RHYTHM_FEATURES``). NaN where fewer than ``RHYTHM_MIN_INTERVALS`` neighbour intervals (or pairs of
    differences) exist, or a ratio has a zero denominator."""
    t = np.asarray(rpeaks_s, np.float64).reshape(-1)
    n = t.size
    if n == 0:
        return np.zeros((0, len(RHYTHM_FEATURE_NAMES)), np.float64)
    if np.any(np.diff(t) <= 0):
        raise ValueError("rpeaks_s must increase strictly")
    left, right, pre, post = _neighbour_blocks(t, RHYTHM_BEATS)
    both = np.concatenate([left, right], axis=1)
    count = np.isfinite(both).sum(axis=1)
    enough = count >= RHYTHM_MIN_INTERVALS
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)         # all-NaN rows (a record's edges): NaN, as documented
        median = np.nanmedian(both, axis=1)
        mad = np.nanmedian(np.abs(both - median[:, None]), axis=1)
        diffs = np.concatenate([np.diff(left, axis=1), np.diff(right, axis=1)], axis=1)
        n_diffs = np.isfinite(diffs).sum(axis=1)
        rmssd = np.sqrt(np.nanmean(diffs ** 2, axis=1))
        pnn = np.where(n_diffs > 0, (np.abs(np.nan_to_num(diffs)) > PNN_S).sum(axis=1) / np.maximum(n_diffs, 1),
                       np.nan)
    # Lorenz cells: pairs (d_j, d_j+1) of consecutive differences within one side, in cells centred on 0
    cells = np.round(diffs / LORENZ_BIN_S)
    half = RHYTHM_BEATS - 1
    a = np.stack([cells[:, s + j] for s in (0, half) for j in range(half - 1)], axis=1)
    b = np.stack([cells[:, s + j + 1] for s in (0, half) for j in range(half - 1)], axis=1)
    valid = np.isfinite(a) & np.isfinite(b)
    code = np.where(valid, np.nan_to_num(a) * 4096.0 + np.nan_to_num(b), np.inf)
    code.sort(axis=1)                                       # the valid codes first, the missing ones (inf) last
    n_pairs = valid.sum(axis=1)
    changes = (code[:, 1:] != code[:, :-1]) & np.isfinite(code[:, 1:])
    distinct = np.isfinite(code[:, 0]).astype(np.int64) + changes.sum(axis=1)
    lorenz = np.where(n_pairs >= RHYTHM_MIN_INTERVALS, (distinct - 1) / np.maximum(n_pairs - 1, 1), np.nan)
    scale = np.maximum(1.4826 * mad, 0.02 * median)
    columns = {
        "rhythm_rmssd_norm": _ratio(rmssd, median), "rhythm_pnn50": pnn, "rhythm_mad_norm": _ratio(mad, median),
        "rhythm_lorenz_cells": lorenz, "pre_rr_local_median_ratio": _ratio(pre, median),
        "post_rr_local_median_ratio": _ratio(post, median), "pre_rr_local_z": _ratio(pre - median, scale),
    }
    out = np.stack([np.asarray(columns[name], np.float64) for name in RHYTHM_FEATURE_NAMES], axis=1)
    out[~enough] = np.nan
    return out


# --- sixth set: the T wave, against the beat's own QRS and the record's median beat's T (run v50) -------------
# A ventricular beat repolarises abnormally: its T wave is secondary, typically opposite in sign to the QRS's main
# deflection (discordant), large and wide, and unlike the T wave of the record's own normal beats; an atrial
# ectopic beat keeps the normal QRS and usually the normal T. ``t_energy_norm`` (first set) measures the T's energy
# only: it ignores polarity, and v49 found about half of 106's and 207's PVCs with a T energy below their record's
# normal T. These columns add the sign and the shape. Regions are the first set's (baseline: the PR segment; QRS:
# R +- 80 ms; T: 200 .. 600 ms after R). The "dominant deflection" of a region is its sample of largest |value|
# (baseline removed), kept with its sign. A deflection below T_FLAT x the record's median beat's QRS deflection
# has no reliable sign: the sign columns are NaN there (flat T, or a flat record), never 0 by accident. Area and
# width are divided by the median of the record's beats' own values, not by the median beat's: the median beat is
# smoothed (averaging cancels noise and baseline drift), so its |T| area lies below almost every single beat's and
# the ratio of a normal beat would vary from record to record with the noise (1.6 on 119, 3.5 on 208).
T_FLAT = 0.02               # a T deflection under 2% of the median beat's QRS deflection counts as flat (no sign)
T_HALF = 0.5                # t_width: the contiguous T samples at >= half of the T's dominant |deflection|
T_WAVE_FEATURES = OrderedDict([
    ("qrs_t_discordance", ("1", "-sign(QRS dominant deflection) x sign(T dominant deflection): +1 when the T wave's "
                                "largest deflection is opposite to the QRS's (discordant, as a ventricular beat's "
                                "secondary T), -1 when it has the QRS's sign; NaN when the T deflection is flat "
                                "(< T_FLAT x the median beat's QRS deflection) or the QRS is")),
    ("qrs_t_product_norm", ("1", "QRS dominant deflection x T dominant deflection / (the median beat's QRS dominant "
                                 "deflection)^2: negative when discordant, large in magnitude when both are large; "
                                 "NaN when the median beat's QRS is flat")),
    ("t_polarity_median", ("1", "sign(T dominant deflection) x sign(the median beat's T dominant deflection): -1 "
                                "when the T wave is inverted against the record's usual T; NaN when either T is "
                                "flat")),
    ("t_area_norm", ("1", "mean |T| over 200 .. 600 ms after R / the median of that over the record's beats (the "
                          "area of the T wave against the record's usual T); NaN when the record's T is flat")),
    ("t_width_norm", ("1", "contiguous samples around the T's dominant deflection at >= half its |value| / the "
                           "median of that over the record's beats (a wide T wave); NaN when the record's T is "
                           "flat")),
    ("t_median_corr", ("1", "Pearson correlation of the T region (200 .. 600 ms after R) with the median beat's T "
                            "region; NaN when either is flat")),
    # run v50b: discordance is a record trait on one lead (bundle-branch-block normal beats are discordant), so this
    # column reads the beat's QRS-T relation against the record's usual one
    ("qrs_t_discordance_vs_median", ("1", "(qrs_t_discordance - the median beat's) / 2: +1 when the beat is "
                                          "discordant where the record's median beat is concordant, -1 the other "
                                          "way round, 0 when both relate QRS and T alike; NaN when either is "
                                          "undefined")),
])
T_WAVE_FEATURE_NAMES = tuple(T_WAVE_FEATURES)


def _dominant(x: np.ndarray) -> tuple:
    """(value, index) per row of the sample of largest |value| (its sign kept)."""
    at = np.argmax(np.abs(x), axis=1)
    return x[np.arange(len(x)), at], at


def _half_width(x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Contiguous samples around ``at`` (per row) whose |value| >= T_HALF x |x[at]|."""
    a = np.abs(x)
    return _run_widths(a >= T_HALF * a[np.arange(len(x)), at][:, None], at)


def t_wave_features(beats) -> np.ndarray:
    """(n, len(T_WAVE_FEATURE_NAMES)) the T wave of one record's beats (``beats`` as for ``per_beat_features``:
    (n, >= 92) at 100 Hz, R at sample 32) against each beat's own QRS and the record's median beat's T wave
    (``T_WAVE_FEATURES``). NaN where documented there (flat T or QRS)."""
    beats = np.asarray(beats, np.float64)
    if beats.ndim != 2 or beats.shape[1] < R_OFFSET + 60:
        raise ValueError(f"beats must be (n, >= {R_OFFSET + 60}) samples at 100 Hz, got {beats.shape}")
    n = beats.shape[0]
    if n == 0:
        return np.zeros((0, len(T_WAVE_FEATURE_NAMES)), np.float64)
    centred = beats - np.median(beats[:, BASELINE], axis=1, keepdims=True)
    median = np.median(centred, axis=0)[None, :]
    qrs, t = centred[:, QRS_REGION], centred[:, T_REGION]
    q_dom, _ = _dominant(qrs)
    t_dom, t_at = _dominant(t)
    mq_dom, _ = _dominant(median[:, QRS_REGION])
    mt_dom, _ = _dominant(median[:, T_REGION])
    scale = abs(float(mq_dom[0]))
    floor = T_FLAT * scale
    flat_record = scale <= 1e-6
    t_ok = (np.abs(t_dom) >= floor) & ~flat_record
    q_ok = (np.abs(q_dom) >= floor) & ~flat_record
    median_t_ok = abs(float(mt_dom[0])) >= floor and not flat_record
    area, width = np.abs(t).mean(axis=1), _half_width(t, t_at)
    usual_area, usual_width = float(np.median(area)), float(np.median(width))
    record_t_ok = usual_area > T_FLAT * scale and not flat_record
    nan = np.full(n, np.nan)
    columns = {
        "qrs_t_discordance": np.where(t_ok & q_ok, -np.sign(q_dom) * np.sign(t_dom), np.nan),
        "qrs_t_product_norm": nan if flat_record else q_dom * t_dom / scale ** 2,
        "t_polarity_median": np.where(t_ok, np.sign(t_dom) * np.sign(mt_dom[0]), np.nan) if median_t_ok else nan,
        "t_area_norm": _ratio(area, usual_area) if record_t_ok else nan,
        "t_width_norm": _ratio(width, usual_width) if record_t_ok else nan,
        "t_median_corr": _rowwise_corr(t, median[0, T_REGION]) if median_t_ok else nan,
    }
    median_discordance = -np.sign(mq_dom[0]) * np.sign(mt_dom[0]) if median_t_ok else np.nan
    columns["qrs_t_discordance_vs_median"] = (columns["qrs_t_discordance"] - median_discordance) / 2.0
    return np.stack([np.asarray(columns[name], np.float64) for name in T_WAVE_FEATURE_NAMES], axis=1)


# Every column this module computes (a per-beat booster names the ones it takes, in its order).
ALL_FEATURE_NAMES = (FEATURE_NAMES + RR_CONTEXT_FEATURE_NAMES + MORPHOLOGY_FEATURE_NAMES + WINDOW_FEATURE_NAMES
                     + POPULATION_FEATURE_NAMES + RHYTHM_FEATURE_NAMES + T_WAVE_FEATURE_NAMES)


def beat_feature_columns(beats, rr, rpeaks_s, names, *, signal=None, fs=None, rpeaks_native=None,
                         config=None) -> np.ndarray:
    """(n, len(names)) float64: the columns ``names`` (any of ``ALL_FEATURE_NAMES``, in that order) of one
    record's beats, computed from one lead as ``signal.preprocess`` gives them: ``beats`` (n, 96), ``rr``
    (n, >= 3) and ``rpeaks_s`` (n,) R-peak times in seconds; the ``window_`` columns also need the raw
    ``signal`` (mV) at ``fs`` and the beats' ``rpeaks_native`` (``window_context_features``). Only the groups
    that hold a requested column are computed. ValueError names the columns this module does not compute."""
    names = [str(n) for n in names]
    unknown = [n for n in names if n not in ALL_FEATURE_NAMES]
    if unknown:
        raise ValueError(f"per-beat features this package does not compute: {unknown[:5]}")
    if set(names) & set(WINDOW_FEATURE_NAMES) and (signal is None or fs is None or rpeaks_native is None):
        raise ValueError("the window_ columns need the raw signal, its rate and the beats' native R-peaks")
    groups = ((FEATURE_NAMES, lambda: per_beat_features(beats, rr)),
              (RR_CONTEXT_FEATURE_NAMES, lambda: rr_context_features(rpeaks_s, rr)),
              (MORPHOLOGY_FEATURE_NAMES, lambda: morphology_features(beats)),
              (WINDOW_FEATURE_NAMES, lambda: window_context_features(signal, fs, rpeaks_native, config)),
              (POPULATION_FEATURE_NAMES, lambda: population_features(beats, rr, rpeaks_s)),
              (RHYTHM_FEATURE_NAMES, lambda: local_rhythm_features(rpeaks_s)),
              (T_WAVE_FEATURE_NAMES, lambda: t_wave_features(beats)))
    columns = {}
    for group_names, compute in groups:
        if set(names) & set(group_names):
            columns.update(zip(group_names, compute().T))
    n = int(np.asarray(beats).shape[0])
    return np.stack([columns[name] for name in names], axis=1) if names else np.zeros((n, 0), np.float64)
