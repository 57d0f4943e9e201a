"""Record-level features of a single-lead ECG, computed from the signal (issue 18, deliverable 1).

One module, one table: ``FEATURES`` lists every feature as ``(name, unit, group, meaning)``; that
table is the only place where a feature is described, and ``record_features`` returns exactly its
names, in its order.

    from ecgsl_keras.data.record_features import record_features, feature_names, to_vector
    feats = record_features(signal_mv, 300.0)        # dict name -> float (NaN where undefined)
    x = to_vector(feats, nan_policy="keep")           # for LightGBM (takes NaN natively)

Groups (``GROUPS``):

- ``baseline``: the 65 RR/HRV and beat-morphology statistics of ``ecgsl_keras.data.beat_features.record_features``
  computed on the same 96-sample beats at 100 Hz that ``ecgsl_keras.data.signal.preprocess`` cuts (same
  cleaning, R-peaks, resampling and per-record robust normalisation), so they equal the features of the
  package's features baseline. Amplitudes of that group are in robust-normalised units ("norm":
  ``(x - median) / IQR`` of the record), not mV.
- ``quality``: signal-quality indices for the noisy class (kurtosis, skewness, bSQI, pSQI, basSQI,
  flat and clipped fractions, template SNR, high-frequency power).
- ``af``: atrial-fibrillation evidence: Lorenz-plot AFEv (Sarkar et al. 2008), P-wave presence and
  power before each QRS, f-wave (4-9 Hz) power in the TQ segments and after QRST cancellation.
- ``morphology``: QRS width, QT, QT/RR, Bazett QTc, T-wave amplitude / variability, in s and mV on the
  cleaned signal at the native rate.
- ``hrv``: neurokit2's time-domain HRV indices (``nk.hrv_time``) not already in ``baseline``.
- ``ectopy`` and ``rhythm``: AF-versus-other-rhythm evidence from the RR series alone (``rhythm_features``
  gives both): ``ectopy``, the irregularity left once the ectopic beats are removed (``ectopic_mask``:
  premature, compensatory and pause intervals) and per sliding window (paroxysms); ``rhythm``, COSEn as
  Lake & Moorman define it (m = 1, r from 30 ms), fuzzy entropy, RR autocorrelation (bigeminy,
  trigeminy), 1-D k-means spread and Poincare-plot cluster counts (AF scatters, ectopic patterns cluster).
- ``atrial``: P-wave evidence on the dominant beats only (both RR intervals around the beat unflagged)
  and the spectrum of the signal after cancelling their QRST template (peak, organisation, f-wave band).
- ``nonlinear``: 17 of neurokit2's nonlinear HRV indices (``nk.hrv_nonlinear`` of the same R-peaks, read, not
  recomputed): heart-rate fragmentation (Costa et al. 2017), heart-rate asymmetry (Guzik, slope, area and Porta
  indices, deceleration contributions), DFA alpha1, approximate entropy, Lempel-Ziv complexity and symbolic
  dynamics (Cysarz et al. 2013): structured (ectopic) against random (AF) irregularity, and noise. NaN for the whole
  group when neurokit2 cannot compute them (e.g. a constant RR series); DFA alpha1 needs 12 RR intervals.
- ``tq``: record-level summaries of the stretch before each QRS (af41): ``signal.tq_stretch`` of the beats
  ``signal.preprocess`` cuts (the same 100 Hz robust-normalised signal, R-peaks and kept beats as the ``baseline``
  group; the T-to-QRS interval, where a P wave or f waves show) and ``signal.tq_against_median`` (each stretch less
  its mean minus the record's median stretch): how much of each stretch the record's usual stretch explains (a P
  wave at a steady PR interval: most of it; f waves or a P wave that comes and goes: little). NaN for the whole
  group with fewer than ``MIN_BEATS`` beats whose stretch holds at least ``signal.TQ_MIN_S`` of signal; a beat
  whose stretch is flat (no power) is left out of the per-beat ratios. Amplitudes in robust-normalised units
  ("norm", as ``baseline``).
- ``paroxysm`` (af44, RR series only): AF evidence per sliding window rather than over the whole record, for an AF
  paroxysm inside a record: Lorenz-plot AFEv per point (free of the beat count, which makes ``af_afev`` low for slow
  AF) over the record and over windows of ``AFEV_WINDOW`` intervals, the most regular window of ``RR_WINDOW``
  intervals, and the longest run of irregular windows.
- ``block`` (af44, RR series only): atrial flutter with variable AV block is "regularly irregular": its RR intervals
  are integer multiples (2:1, 3:1, 4:1 ...) of one atrial cycle of 0.16-0.36 s, so they cluster at a few values whose
  ratios are 4/3, 3/2 or 2; AF's intervals spread continuously. The best multiple fit over atrial cycles, successive
  RR ratios near those of a conduction change, and the RR histogram's modes.

``feature_names()`` without groups gives ``DEFAULT_GROUPS`` (the first five: the 111 features the
shipped models were trained on, which ``prepare --record-features`` stores; ``nonlinear`` is in no shipped
preset: ``experiments/cinc2017/af_lever.py``'s step ``extra`` measured it); ``record_features``
returns every group but ``ON_REQUEST_GROUPS`` (``nonlinear``, ``tq``, ``paroxysm``, ``block``) unless ``groups`` names them, in table order, and a
stacked preset picks its columns by name (and asks for their groups, ``groups_of``).

Missing values. A feature that cannot be computed (too few beats or RR intervals for the
statistic, no T wave, no R-peak at all) is returned as NaN on purpose, never as a made-up number.
LightGBM (and scikit-learn's HistGradientBoosting) take NaN natively and learn which branch missing
values go to, so ``to_vector(..., nan_policy="keep")`` is the right input for them. Models that cannot
take NaN (a Keras model, a linear model) use ``nan_policy="fill"`` (NaN -> a fill value: the training
medians from ``fit_fill_values`` or, without them, ``DEFAULT_FILL_VALUE`` = 0.0) or
``nan_policy="indicator"`` (the same, plus one 0/1 ``<name>__missing`` column per feature, see
``vector_names``). The minimum counts are ``MIN_BEATS`` (R-peaks) for beat statistics and
``MIN_RR`` RR intervals for rhythm statistics. The ``baseline`` group keeps its own convention
(0.0 for an undefined statistic, as the existing baseline was trained) when at least
``ecgsl_keras.config.SignalConfig.min_beats`` beats fit; with fewer, the whole group is NaN.

Bad input: an empty, non 1-D, non-finite or too short signal, or a bad sampling rate, raises
``ecgsl_keras.errors.SignalQualityError`` (a ``RecordError``) whose message names the problem (reasons
``empty``, ``bad_shape``, ``bad_rate``, ``too_short``, ``nan``; bad ``rpeaks``: ``bad_rpeaks``).
A flat or clipped signal is *not* an error here (flat and clipped fractions are quality features);
``strict=True`` applies ``ecgsl_keras.data.signal.check_quality`` in full, so a features model refuses
the same signals as the deep model (``flat``, ``clipped``).

Speed: about 20-30 ms for a 30 s record at 300 Hz on one core (``experiments/cinc2017/FEATURES.md``); the
``ectopy``, ``rhythm`` and ``atrial`` groups add about 4 ms of it. The ``nonlinear`` group adds about half again
to the other groups' time (``nk.hrv_nonlinear`` computes all its indices, multiscale entropies and multifractal DFA
included, to return the 17 read here; ``experiments/cinc2017/af_lever.py --steps library`` measures it on the
package's CinC sample, ``af28_results.json``).
"""
from __future__ import annotations

import math
import warnings
from collections import OrderedDict, namedtuple

import numpy as np
import scipy.signal
import scipy.stats

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import beat_features as baselines  # the baseline group
from ecgsl_keras.data.filters import clean, resample
from ecgsl_keras.data.rpeaks import detect_rpeaks, find_rpeaks
from ecgsl_keras.data.signal import (TQ_MIN_S, check_quality, normalize, rr_features, segment, tq_against_median,
                                     tq_stretch)
from ecgsl_keras.errors import SignalQualityError

__all__ = ["Feature", "FEATURES", "GROUPS", "DEFAULT_GROUPS", "ON_REQUEST_GROUPS", "groups_of", "MIN_BEATS", "MIN_RR", "DEFAULT_FILL_VALUE",
           "feature_names", "record_features", "rhythm_features", "ectopic_mask", "to_vector", "to_matrix",
           "vector_names", "fit_fill_values", "rr_pattern_features"]

Feature = namedtuple("Feature", "name unit group meaning")

GROUPS = ("baseline", "quality", "af", "morphology", "hrv", "ectopy", "rhythm", "atrial", "nonlinear", "tq", "paroxysm",
          "block")
# the groups of the models trained before the rhythm / atrial groups existed (the 111 features of the
# cinc2017 and cinc2017-keras presets): ``feature_names()`` without groups, so that ``prepare
# --record-features`` and the hybrid Keras model keep their 111 columns. A stacked preset selects its
# columns by name (``stacking.json``), so it computes the same values whatever the default.
DEFAULT_GROUPS = ("baseline", "quality", "af", "morphology", "hrv")
# computed only when asked for (``record_features(groups=...)``): no shipped model reads them (``nonlinear`` would
# add about half again to every record's feature time; ``tq`` is af41's experiment, off by default)
ON_REQUEST_GROUPS = ("nonlinear", "tq", "paroxysm", "block")
TQ_RESIDUAL_HIGH = 0.5     # tq_residual_high_fraction: a stretch whose residual keeps over half its power
MIN_BEATS = 3              # R-peaks needed for beat templates (P, QRS, T statistics)
MIN_RR = 4                 # RR intervals needed for rhythm statistics (AFEv, HRV)
DEFAULT_FILL_VALUE = 0.0   # nan_policy "fill"/"indicator" without fitted fill values

# --- the table ---------------------------------------------------------------------------------------

_BASELINE_DOC = {
    "mean_rr": ("s", "mean RR interval"),
    "sd_rr": ("s", "standard deviation of the RR intervals"),
    "cv_rr": ("1", "sd_rr / mean_rr"),
    "rmssd": ("s", "root mean square of successive RR differences"),
    "rmssd_norm": ("1", "rmssd / mean_rr"),
    "pnn50": ("fraction", "fraction of successive RR differences over 50 ms"),
    "pnn20": ("fraction", "fraction of successive RR differences over 20 ms"),
    "sdsd_norm": ("1", "standard deviation of successive RR differences / mean_rr"),
    "sd_entropy": ("1", "Shannon entropy of the histogram (16 bins) of successive RR differences / mean_rr, "
                        "divided by log2(16)"),
    "sample_entropy": ("nat", "sample entropy of the RR series (m = 2, r = 0.2 sd)"),
    "cosen": ("nat", "coefficient of sample entropy (Lake & Moorman 2011): SampEn + ln(2r) - ln(mean RR)"),
    "irregular_fraction": ("fraction", "fraction of |successive RR difference| / mean_rr over 0.15"),
    "min_rr": ("s", "shortest RR interval"),
    "max_rr": ("s", "longest RR interval"),
    "range_rr_norm": ("1", "(max_rr - min_rr) / mean_rr"),
    "median_rr": ("s", "median RR interval"),
    "p10_rr_norm": ("1", "10th percentile of RR / mean_rr"),
    "p90_rr_norm": ("1", "90th percentile of RR / mean_rr"),
    "madsd_norm": ("1", "median |successive RR difference| / mean_rr"),
    "heart_rate": ("bpm", "60 / mean_rr"),
    "sd1_norm": ("1", "Poincare SD1 (short-term variability) / mean_rr"),
    "sd2_norm": ("1", "Poincare SD2 (long-term variability) / mean_rr"),
    "sd1_sd2": ("1", "sd1_norm / sd2_norm"),
    "turning_point_ratio": ("fraction", "fraction of successive RR differences that change sign"),
    "rr_ratio_out_fraction": ("fraction", "fraction of RR(i+1)/RR(i) outside 0.85-1.15"),
    "local_irregularity": ("1", "listed by ecgsl_keras.evaluation.baselines but never computed there: always 0"),
    "max_rr_ratio": ("1", "largest ratio between consecutive RR intervals (>= 1)"),
    "r_amplitude": ("norm", "median beat at the R-peak (beats at 100 Hz, robust-normalised signal)"),
    "qrs_min": ("norm", "minimum of the median beat within R +- 80 ms"),
    "qrs_peak_to_peak": ("norm", "peak-to-peak of the median beat within R +- 80 ms"),
    "beat_max": ("norm", "maximum of the median beat (R - 320 ms to R + 640 ms)"),
    "beat_min": ("norm", "minimum of the median beat"),
    "qrs_area": ("norm*s", "area of |median beat| within R +- 80 ms"),
    "qrs_width": ("s", "width of the run around R where |median beat| stays above half its R value"),
    "p_energy": ("norm^2", "variance of the median beat 250-70 ms before R (P region)"),
    "p_peak": ("norm", "maximum minus median of the median beat in the P region"),
    "p_sd_across_beats": ("norm", "standard deviation across beats in the P region, averaged over samples"),
    "p_corr_mean": ("1", "mean correlation of each beat's P region with the median beat's"),
    "t_max": ("norm", "maximum of the median beat 200-600 ms after R"),
    "t_min": ("norm", "minimum of the median beat 200-600 ms after R"),
    "t_energy": ("norm^2", "variance of the median beat 200-600 ms after R"),
    "st_level": ("norm", "mean of the median beat 90-200 ms after R"),
    "corr_mean": ("1", "mean correlation of each beat with the median beat"),
    "corr_sd": ("1", "standard deviation of the beat-to-median-beat correlations"),
    "corr_min": ("1", "smallest beat-to-median-beat correlation"),
    "corr_low_fraction": ("fraction", "fraction of beats correlating under 0.8 with the median beat"),
    "residual_energy": ("1", "mean squared deviation of the beats from the median beat / its energy"),
    "r_amplitude_cv": ("1", "coefficient of variation of the beats' R amplitudes"),
    "beat_sd_mean": ("norm", "standard deviation across beats, averaged over the 96 samples"),
    "hf_energy": ("1", "mean squared second difference of the beats / median beat energy"),
    "beat_count": ("count", "beats that fit in the record"),
    "duration_s": ("s", "sum of the RR intervals"),
    "beats_per_second": ("1/s", "beat_count / duration_s"),
}
for _i in range(baselines.MEDIAN_BEAT_BINS):
    _BASELINE_DOC[f"median_beat_bin{_i}"] = (
        "norm", f"mean of the median beat over samples {8 * _i}-{8 * _i + 7} "
                f"({(8 * _i - baselines.R_OFFSET) * 10} to {(8 * _i + 7 - baselines.R_OFFSET) * 10} ms from R)")

_NEW = (
    # quality
    ("sqi_kurtosis", "1", "quality", "kurtosis (Pearson, normal = 3) of the cleaned signal (kSQI; clean ECG >> 5)"),
    ("sqi_skewness", "1", "quality", "skewness of the cleaned signal (sSQI)"),
    ("sqi_bsqi", "fraction", "quality", "bSQI: agreement of two R-peak detectors (the package's find_rpeaks and "
                                        "neurokit2 'hamilton2002'), 2 x matched / (n1 + n2), match within 150 ms"),
    ("sqi_psqi", "fraction", "quality", "pSQI: power 5-15 Hz / power 5-40 Hz of the cleaned signal (QRS band share)"),
    ("sqi_bassqi", "fraction", "quality", "basSQI: 1 - power 0-1 Hz / power 0-40 Hz of the raw signal "
                                          "(1 = no baseline wander)"),
    ("sqi_hf_ratio", "fraction", "quality", "power above 40 Hz / total power of the raw signal (muscle noise)"),
    ("sqi_flat_fraction", "fraction", "quality", "fraction of samples in runs of >= 50 ms of a constant value "
                                                 "(flat line, lead off)"),
    ("sqi_clipped_fraction", "fraction", "quality", "fraction of samples in runs of >= 2 samples at the "
                                                    "signal's minimum or maximum value (saturation)"),
    ("sqi_template_snr_db", "dB", "quality", "power of the median-beat (QRST template) reconstruction / power of "
                                             "what is left after subtracting it, in dB"),
    ("sqi_rpeak_rate_ratio", "1", "quality", "R-peaks of hamilton2002 / R-peaks of find_rpeaks"),
    # af
    ("af_afev", "count", "af", "AFEv (Sarkar et al. 2008): IrrEv - OriginCount - 2 x PACEv of the Lorenz plot "
                               "of successive RR differences (30 x 30 bins of 40 ms, 13 segments), whole record"),
    ("af_irrev_norm", "1", "af", "IrrEv (non-empty Lorenz-plot bins outside the origin) / Lorenz-plot points"),
    ("af_pacev_norm", "1", "af", "PACEv (premature-beat evidence) / Lorenz-plot points"),
    ("af_origin_fraction", "fraction", "af", "Lorenz-plot points with both RR differences within 20 ms"),
    ("af_p_presence", "fraction", "af", "fraction of beats whose P window (300-80 ms before R) correlates >= 0.6 "
                                        "with the record's median P window, times 1 if that median P wave is "
                                        "at least 0.03 mV (else 0)"),
    ("af_p_amplitude", "mV", "af", "largest deflection of the detrended median P window"),
    ("af_p_power_ratio", "1", "af", "power of the detrended median P window / power of the median QRS (R +- 50 ms)"),
    ("af_p_corr", "1", "af", "mean correlation of the beats' P windows with the median P window"),
    ("af_fwave_ratio", "fraction", "af", "power 4-9 Hz / power 1-40 Hz in the TQ segments (end of T to 100 ms "
                                         "before the next R), f-wave band"),
    ("af_fwave_centroid_hz", "Hz", "af", "power-weighted mean frequency of the TQ segments within 3-12 Hz"),
    ("af_tq_rms", "mV", "af", "root mean square of the detrended TQ segments (f-wave / baseline activity)"),
    ("af_residual_fwave_ratio", "fraction", "af", "power 4-9 Hz / power 1-40 Hz of the signal after QRST "
                                                  "cancellation (median-beat subtraction)"),
    ("af_residual_rms", "mV", "af", "root mean square of the signal after QRST cancellation"),
    # morphology
    ("morph_qrs_width_s", "s", "morphology", "QRS onset to offset of the median beat (slope threshold 15% of "
                                             "the largest QRS slope)"),
    ("morph_qrs_amplitude", "mV", "morphology", "peak-to-peak of the median beat within the QRS"),
    ("morph_r_amplitude", "mV", "morphology", "median beat at R minus the isoelectric level (QRS onset)"),
    ("morph_qt_s", "s", "morphology", "QRS onset to T end of the median beat (T end: the T wave falls under 25% "
                                      "of its peak); NaN without a T wave of >= 0.03 mV"),
    ("morph_qt_rr", "1", "morphology", "morph_qt_s / median RR"),
    ("morph_qtc_bazett_s", "s", "morphology", "morph_qt_s / sqrt(median RR in s)"),
    ("morph_st_level", "mV", "morphology", "median beat 60 ms after the QRS offset minus the isoelectric level"),
    ("morph_t_amplitude", "mV", "morphology", "signed T-wave peak of the median beat from the isoelectric level"),
    ("morph_t_r_ratio", "1", "morphology", "morph_t_amplitude / morph_r_amplitude"),
    ("morph_t_amp_cv", "1", "morphology", "coefficient of variation of the beats' T amplitudes (at the median "
                                          "T peak)"),
    ("morph_t_corr", "1", "morphology", "mean correlation of the beats' T windows with the median T window"),
    ("morph_pr_s", "s", "morphology", "median P peak to R interval (NaN when af_p_amplitude < 0.03 mV)"),
    # hrv (neurokit2 hrv_time)
    ("hrv_madnn", "ms", "hrv", "neurokit2 HRV_MadNN: median absolute deviation of the RR intervals"),
    ("hrv_mcvnn", "1", "hrv", "neurokit2 HRV_MCVNN: MadNN / MedianNN"),
    ("hrv_iqrnn", "ms", "hrv", "neurokit2 HRV_IQRNN: interquartile range of the RR intervals"),
    ("hrv_sdrmssd", "1", "hrv", "neurokit2 HRV_SDRMSSD: SDNN / RMSSD"),
    ("hrv_prc20nn", "ms", "hrv", "neurokit2 HRV_Prc20NN: 20th percentile of the RR intervals"),
    ("hrv_prc80nn", "ms", "hrv", "neurokit2 HRV_Prc80NN: 80th percentile of the RR intervals"),
    ("hrv_minnn", "ms", "hrv", "neurokit2 HRV_MinNN"),
    ("hrv_maxnn", "ms", "hrv", "neurokit2 HRV_MaxNN"),
    ("hrv_hti", "1", "hrv", "neurokit2 HRV_HTI: HRV triangular index (RR count / height of the 1/128 s histogram)"),
    ("hrv_tinn", "ms", "hrv", "neurokit2 HRV_TINN: base width of the RR histogram's triangular fit"),
    ("hrv_cvsd", "1", "hrv", "neurokit2 HRV_CVSD: RMSSD / MeanNN"),
    # ectopy and rhythm (RR series only): irregularity with the ectopic beats removed and per window (ectopy);
    # entropy, autocorrelation and cluster measures of the RR pattern (rhythm)
    ("rhy_ectopic_fraction", "fraction", "ectopy", "RR intervals flagged as ectopic: premature (< 0.85 x the local "
                                                   "median RR of the 11 intervals around it), the long interval "
                                                   "after a premature one (> 1.10 x local median), or a pause "
                                                   "(> 1.6 x local median)"),
    ("rhy_clean_cv", "1", "ectopy", "sd / mean of the RR intervals not flagged ectopic (NaN: fewer than MIN_RR left)"),
    ("rhy_clean_rmssd_norm", "1", "ectopy", "RMSSD / mean RR over successive pairs of unflagged RR intervals"),
    ("rhy_clean_pnn50", "fraction", "ectopy", "fraction of successive differences > 50 ms over successive pairs of "
                                              "unflagged RR intervals"),
    ("rhy_clean_madsd_norm", "1", "ectopy", "median |successive difference| / mean RR over successive pairs of "
                                            "unflagged RR intervals"),
    ("rhy_window_madsd_max", "1", "ectopy", "largest median |successive RR difference| / median RR over sliding "
                                           "windows of 8 RR intervals (a paroxysm of AF)"),
    ("rhy_irregular_window_fraction", "fraction", "ectopy", "windows of 8 RR intervals whose median |successive "
                                                            "difference| / median RR exceeds 0.08"),
    ("rhy_cosen_lm", "nat", "rhythm", "COSEn as defined by Lake & Moorman (2011): SampEn(m = 1, r) + ln(2r) - "
                                      "ln(mean RR), r in s starting at 30 ms and raised by 10 ms until >= 5 "
                                      "matches of length 2 (NaN when r would pass 0.5 s)"),
    ("rhy_sampen_lm", "nat", "rhythm", "the SampEn(m = 1, r) of rhy_cosen_lm (absolute tolerance r, not r x sd)"),
    ("rhy_fuzzy_entropy", "nat", "rhythm", "fuzzy entropy (Chen et al. 2007) of the RR series: m = 2, r = 0.2 sd, "
                                           "membership exp(-d^2 / r), templates mean-removed"),
    ("rhy_acf1", "1", "rhythm", "autocorrelation of the RR series at lag 1 (bigeminy: near -1; AF: near 0)"),
    ("rhy_acf2", "1", "rhythm", "autocorrelation of the RR series at lag 2"),
    ("rhy_acf3", "1", "rhythm", "autocorrelation of the RR series at lag 3 (trigeminy: positive)"),
    ("rhy_kmeans2_cv", "1", "rhythm", "pooled within-cluster sd / mean RR of the best split of the RR intervals "
                                      "into 2 groups (1-D k-means, exact): small for two-level (ectopic) rhythms"),
    ("rhy_kmeans3_cv", "1", "rhythm", "the same with 3 groups"),
    ("rhy_poincare_clusters", "count", "rhythm", "clusters of the Poincare plot (RR(i), RR(i+1)) / median RR: "
                                                 "8-connected occupied cells of 0.06 x 0.06 holding >= 10% of "
                                                 "the points"),
    ("rhy_poincare_top3_fraction", "fraction", "rhythm", "points in the 3 largest 8-connected cell clusters of that "
                                                         "plot (AF: scattered, low; ectopic patterns: high)"),
    ("rhy_poincare_cell_fraction", "1", "rhythm", "occupied cells of that plot / points"),
    # atrial (signal at the native rate, on the dominant beats: neither RR interval around them flagged ectopic)
    ("atr_dominant_fraction", "fraction", "atrial", "beats whose RR intervals before and after are both unflagged "
                                                    "(rhy_ectopic_fraction)"),
    ("atr_p_snr_db", "dB", "atrial", "power of the dominant beats' median P window (300-80 ms before R, detrended) "
                                     "/ mean power of each beat's deviation from it, in dB (P wave: high; "
                                     "f waves or noise: low)"),
    ("atr_p_presence", "fraction", "atrial", "fraction of dominant beats whose P window correlates >= 0.6 with "
                                             "their median P window, times 1 if it is at least 0.03 mV (else 0)"),
    ("atr_p_amplitude", "mV", "atrial", "largest deflection of the dominant beats' detrended median P window"),
    ("atr_residual_peak_hz", "Hz", "atrial", "frequency of the largest 3-12 Hz peak of the Welch spectrum of the "
                                             "signal after QRST cancellation (dominant-beat median template)"),
    ("atr_residual_organization", "fraction", "atrial", "power within 1 Hz of that peak / power 3-12 Hz "
                                                        "(organised f waves or flutter: high)"),
    ("atr_residual_fwave_ratio", "fraction", "atrial", "power 4-9 Hz / power 1-40 Hz after that QRST cancellation"),
    # nonlinear (neurokit2 hrv_nonlinear of the R-peaks; RR series d(i) = RR(i+1) - RR(i))
    ("nl_pip", "fraction", "nonlinear", "neurokit2 HRV_PIP: inflection points of the RR series (sign changes of "
                                        "d) / number of RR intervals (fragmentation, Costa et al. 2017)"),
    ("nl_ials", "1/interval", "nonlinear", "neurokit2 HRV_IALS: 1 / mean length of the runs of successive "
                                           "accelerations or decelerations"),
    ("nl_pss", "fraction", "nonlinear", "neurokit2 HRV_PSS: differences d in acceleration / deceleration runs "
                                        "shorter than 3 / all of them"),
    ("nl_pas", "fraction", "nonlinear", "neurokit2 HRV_PAS: runs of successive inflection points (alternation) "
                                        "at least 4 long / all such runs"),
    ("nl_dfa_alpha1", "1", "nonlinear", "neurokit2 HRV_DFA_alpha1: short-term (4-11 beats) detrended fluctuation "
                                        "scaling exponent of the RR series (NaN below 12 RR intervals)"),
    ("nl_apen", "nat", "nonlinear", "neurokit2 HRV_ApEn: approximate entropy of the RR series (m = 2, r = 0.2 sd)"),
    ("nl_lzc", "1", "nonlinear", "neurokit2 HRV_LZC: normalised Lempel-Ziv complexity of the RR series "
                                 "binarised at its mean"),
    ("nl_gi", "%", "nonlinear", "neurokit2 HRV_GI: Guzik's index, distances to the identity line of the Poincare "
                                "points above it (decelerations) / of all points"),
    ("nl_si", "%", "nonlinear", "neurokit2 HRV_SI: slope index, phase angles to the identity line of the points "
                                "above it / of all points"),
    ("nl_ai", "%", "nonlinear", "neurokit2 HRV_AI: area index, sector areas to the identity line of the points "
                                "above it / of all points"),
    ("nl_pi", "%", "nonlinear", "neurokit2 HRV_PI: Porta's index, points below the identity line (accelerations) "
                                "/ points off it"),
    ("nl_c1d", "fraction", "nonlinear", "neurokit2 HRV_C1d: share of decelerations in the short-term (SD1) "
                                        "variance (Piskorski & Guzik 2011)"),
    ("nl_c2d", "fraction", "nonlinear", "neurokit2 HRV_C2d: share of decelerations in the long-term (SD2) variance"),
    ("nl_sym_0v", "fraction", "nonlinear", "neurokit2 HRV_Symbolic_EqualProb4_0V: 3-symbol words of the RR series "
                                           "(4 equal-probability levels) with no variation"),
    ("nl_sym_1v", "fraction", "nonlinear", "neurokit2 HRV_Symbolic_EqualProb4_1V: such words with one variation"),
    ("nl_sym_2lv", "fraction", "nonlinear", "neurokit2 HRV_Symbolic_EqualProb4_2LV: such words with two like "
                                            "(monotone) variations"),
    ("nl_sym_2uv", "fraction", "nonlinear", "neurokit2 HRV_Symbolic_EqualProb4_2UV: such words with two unlike "
                                            "variations (peak or valley: alternans, bigeminy)"),
    # tq (signal.tq_stretch of the kept 100 Hz beats; "residual": signal.tq_against_median; "ratio": per beat, the
    # residual's power / the power of the stretch less its mean, over the samples the stretch holds)
    ("tq_residual_ratio_median", "fraction", "tq", "median over beats of the stretch's power that the record's "
                                                   "median stretch leaves unexplained (steady P wave: low; f waves, "
                                                   "no or intermittent P wave: near 1)"),
    ("tq_residual_ratio_iqr", "fraction", "tq", "interquartile range over beats of that ratio"),
    ("tq_residual_high_fraction", "fraction", "tq", "fraction of beats whose ratio exceeds TQ_RESIDUAL_HIGH (0.5)"),
    ("tq_median_corr", "1", "tq", "median over beats of the correlation of the stretch (less its mean) with the "
                                  "record's median stretch on the samples it holds (P-wave consistency)"),
    ("tq_median_rms", "norm", "tq", "RMS of the record's median stretch over the samples at least half the beats "
                                    "hold (the size of the repeated atrial wave)"),
    ("tq_residual_rms_median", "norm", "tq", "median over beats of the residual's RMS (the size of the atrial "
                                             "activity that does not repeat: f waves, noise)"),
    # paroxysm (RR series; AFEv per point: af_afev's AFEv / its Lorenz-plot points, dRR pairs)
    ("pax_afev_norm", "1", "paroxysm", "AFEv of the whole record / its Lorenz-plot points (af_afev without its "
                                       "growth with the number of beats)"),
    ("pax_afev_window_max", "1", "paroxysm", "largest AFEv per point over windows of AFEV_WINDOW (16) RR intervals, "
                                             "every AFEV_STEP (4) intervals and the last (NaN: fewer than 16)"),
    ("pax_afev_window_min", "1", "paroxysm", "smallest AFEv per point over those windows (AF all through: high)"),
    ("pax_madsd_window_min", "1", "paroxysm", "smallest median |successive RR difference| / median RR over sliding "
                                              "windows of RR_WINDOW (8) intervals (the most regular stretch; NaN: "
                                              "fewer than 8)"),
    ("pax_irregular_run_fraction", "fraction", "paroxysm", "longest run of consecutive irregular windows of 8 "
                                                           "intervals (that ratio > IRREGULAR_MADSD, 0.08): the RR "
                                                           "time it spans / the record's RR time (NaN: fewer than 8)"),
    # block (RR series; an atrial cycle T of MULTIPLE_PERIODS, 0.16-0.36 s by 2 ms)
    ("blk_multiple_excess", "fraction", "block", "largest, over atrial cycles T whose fitted intervals use at least "
                                                 "two multiples each holding >= 20% of them, of the share of RR "
                                                 "intervals within 20 ms of k x T (k = 2..6) minus 2 x 20 ms / T "
                                                 "(what evenly spread intervals would fit); 0 when no T has two"),
    ("blk_multiple_period_s", "s", "block", "the atrial cycle T of blk_multiple_excess (NaN when no T has two "
                                            "multiples)"),
    ("blk_ratio_fraction", "fraction", "block", "successive RR pairs whose ratio (longer / shorter) is above 1.2 and "
                                                "within 0.05 of 4/3, 3/2 or 2 (a change of conduction ratio) / "
                                                "the pairs above 1.2 (NaN: fewer than 3 such pairs)"),
    ("blk_cluster_count", "count", "block", "modes of the RR histogram (Gaussian kernel, sd 15 ms; modes at least "
                                            "60 ms apart) holding >= 15% of the intervals within +-30 ms"),
    ("blk_cluster_fraction", "fraction", "block", "RR intervals within +-30 ms of one of those modes (tight "
                                                  "clusters: high; AF's spread: low)"),
)
_NK_HRV = {"hrv_madnn": "HRV_MadNN", "hrv_mcvnn": "HRV_MCVNN", "hrv_iqrnn": "HRV_IQRNN",
           "hrv_sdrmssd": "HRV_SDRMSSD", "hrv_prc20nn": "HRV_Prc20NN", "hrv_prc80nn": "HRV_Prc80NN",
           "hrv_minnn": "HRV_MinNN", "hrv_maxnn": "HRV_MaxNN", "hrv_hti": "HRV_HTI", "hrv_tinn": "HRV_TINN",
           "hrv_cvsd": "HRV_CVSD"}

# the nonlinear group's columns of nk.hrv_nonlinear (af_lever.py's NK_FOCUS)
_NK_NONLINEAR = {"nl_pip": "HRV_PIP", "nl_ials": "HRV_IALS", "nl_pss": "HRV_PSS", "nl_pas": "HRV_PAS",
                 "nl_dfa_alpha1": "HRV_DFA_alpha1", "nl_apen": "HRV_ApEn", "nl_lzc": "HRV_LZC", "nl_gi": "HRV_GI",
                 "nl_si": "HRV_SI", "nl_ai": "HRV_AI", "nl_pi": "HRV_PI", "nl_c1d": "HRV_C1d", "nl_c2d": "HRV_C2d",
                 "nl_sym_0v": "HRV_Symbolic_EqualProb4_0V", "nl_sym_1v": "HRV_Symbolic_EqualProb4_1V",
                 "nl_sym_2lv": "HRV_Symbolic_EqualProb4_2LV", "nl_sym_2uv": "HRV_Symbolic_EqualProb4_2UV"}

FEATURES = tuple(Feature(name, _BASELINE_DOC[name][0], "baseline", _BASELINE_DOC[name][1])
                 for name in baselines.FEATURE_NAMES) + tuple(Feature(*row) for row in _NEW)
_BY_NAME = {f.name: f for f in FEATURES}
assert len(_BY_NAME) == len(FEATURES), "duplicate feature names"
assert set(_NK_HRV) == {f.name for f in FEATURES if f.group == "hrv"}
assert set(_NK_NONLINEAR) == {f.name for f in FEATURES if f.group == "nonlinear"}


def groups_of(names) -> tuple:
    """The groups (in ``GROUPS`` order) of the feature ``names``; ValueError naming an unknown feature."""
    unknown = [n for n in names if n not in _BY_NAME]
    if unknown:
        raise ValueError(f"unknown record feature(s) {unknown[:5]}")
    wanted = {_BY_NAME[n].group for n in names}
    return tuple(g for g in GROUPS if g in wanted)


def feature_names(groups=None) -> tuple:
    """Names of the features of ``groups`` (a name or an iterable of ``GROUPS``; None: ``DEFAULT_GROUPS``,
    the 111 features of the shipped models), in table order. ``feature_names(GROUPS)``: every feature."""
    if groups is None:
        groups = DEFAULT_GROUPS
    elif isinstance(groups, str):
        groups = (groups,)
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown feature group(s) {unknown}; the groups are {list(GROUPS)}")
    return tuple(f.name for f in FEATURES if f.group in set(groups))


# --- helpers -----------------------------------------------------------------------------------------

def _bandpower(freqs, psd, lo, hi) -> float:
    sel = (freqs >= lo) & (freqs < hi)
    return float(psd[sel].sum())


def _ratio(num, den) -> float:
    return float(num / den) if den > 0 and np.isfinite(den) else math.nan


def _welch(x, fs, seconds=4.0):
    n = int(min(x.size, round(seconds * fs)))
    return scipy.signal.welch(x, fs=fs, nperseg=n, detrend="constant")


def _run_fraction(mask: np.ndarray, min_len: int) -> float:
    """Fraction of samples in runs of True of at least ``min_len`` samples."""
    if mask.size == 0:
        return math.nan
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = stops - starts
    return float(lengths[lengths >= min_len].sum() / mask.size)


def _corr_rows(rows: np.ndarray, template: np.ndarray) -> np.ndarray:
    a = rows - rows.mean(axis=1, keepdims=True)
    t = template - template.mean()
    denom = np.linalg.norm(a, axis=1) * np.linalg.norm(t)
    return np.divide(a @ t, denom, out=np.full(len(rows), np.nan), where=denom > 0)


def _detrend_rows(rows: np.ndarray) -> np.ndarray:
    """Remove the straight line through each row's first and last samples."""
    n = rows.shape[1]
    ramp = np.linspace(0.0, 1.0, n)[None, :]
    return rows - (rows[:, :1] + (rows[:, -1:] - rows[:, :1]) * ramp)


def _windows(x: np.ndarray, peaks: np.ndarray, lo: int, hi: int):
    """Rows ``x[p + lo : p + hi]`` for the peaks whose window lies inside ``x``; (rows, kept index)."""
    keep = np.flatnonzero((peaks + lo >= 0) & (peaks + hi <= x.size))
    if keep.size == 0:
        return np.zeros((0, hi - lo)), keep
    return x[peaks[keep, None] + np.arange(lo, hi)[None, :]], keep


def _match_fraction(a: np.ndarray, b: np.ndarray, tol: int) -> float:
    """2 x matched / (len(a) + len(b)), each peak of ``a`` matched to at most one of ``b`` within ``tol``."""
    if a.size + b.size == 0:
        return math.nan
    if a.size == 0 or b.size == 0:
        return 0.0
    matched, j = 0, 0
    for p in a:
        while j < b.size and b[j] < p - tol:
            j += 1
        if j < b.size and abs(int(b[j]) - int(p)) <= tol:
            matched += 1
            j += 1
    return 2.0 * matched / (a.size + b.size)


# --- groups ------------------------------------------------------------------------------------------

def _quality(raw, cleaned, fs, peaks, peaks_b, out) -> None:
    with np.errstate(all="ignore"):
        out["sqi_kurtosis"] = float(scipy.stats.kurtosis(cleaned, fisher=False)) if cleaned.std() > 0 else math.nan
        out["sqi_skewness"] = float(scipy.stats.skew(cleaned)) if cleaned.std() > 0 else math.nan
    out["sqi_bsqi"] = _match_fraction(peaks, peaks_b, int(round(0.15 * fs)))
    out["sqi_rpeak_rate_ratio"] = _ratio(float(peaks_b.size), float(peaks.size))
    f, p = _welch(cleaned, fs)
    out["sqi_psqi"] = _ratio(_bandpower(f, p, 5, 15), _bandpower(f, p, 5, 40))
    f, p = _welch(raw - raw.mean(), fs, seconds=10.0)
    out["sqi_bassqi"] = 1.0 - _ratio(_bandpower(f, p, 0, 1), _bandpower(f, p, 0, 40))
    out["sqi_hf_ratio"] = _ratio(_bandpower(f, p, 40, fs), _bandpower(f, p, 0, fs))
    span = float(raw.max() - raw.min())
    tol = max(1e-9, 1e-6 * span)
    out["sqi_flat_fraction"] = _run_fraction(np.abs(np.diff(raw)) <= tol, max(1, int(round(0.05 * fs))))
    if span > 0:
        extreme = (raw >= raw.max() - tol) | (raw <= raw.min() + tol)
        out["sqi_clipped_fraction"] = _run_fraction(extreme, 2)
    else:
        out["sqi_clipped_fraction"] = 0.0


def _afev(rr: np.ndarray) -> dict:
    """Lorenz-plot AF evidence (Sarkar, Ritscher & Mehra 2008), on the whole record.

    Points (dRR(i), dRR(i-1)) of successive RR differences (s) go into a 30 x 30 histogram of
    40 ms bins over +-0.6 s. OriginCount: points with both coordinates within 20 ms. Segments
    9-12: the bins on and next to (+-2 bins) the diagonals of each quadrant; 5-8: the four
    axis bands (|coordinate| < 80 ms) outside them; 1-4: the rest of each quadrant. IrrEv: the
    non-empty bins of segments 1-12; PACEv: points minus non-empty bins of segments 1-6 and 10
    minus those of 7, 8 and 12; AFEv = IrrEv - OriginCount - 2 PACEv.
    """
    d = np.diff(rr)
    if d.size < 3:
        return {}
    pts = np.stack([d[1:], d[:-1]], axis=1)         # (dRR(i), dRR(i-1))
    origin = int(np.count_nonzero(np.all(np.abs(pts) <= 0.02, axis=1)))
    pts = pts[np.all(np.abs(pts) < 1.5, axis=1)]
    edges = np.linspace(-0.6, 0.6, 31)
    z, _, _ = np.histogram2d(np.clip(pts[:, 0], -0.5999, 0.5999), np.clip(pts[:, 1], -0.5999, 0.5999),
                             bins=[edges, edges])
    idx = np.arange(30)
    centre = edges[:-1] + 0.02
    neg, pos = centre < 0, centre > 0
    band = np.abs(centre) < 0.08                    # the 4 bins around 0
    # distance to the diagonals, in bins (from the origin corner of each quadrant)
    ii, jj = np.meshgrid(idx, idx, indexing="ij")
    ri = np.where(ii < 15, 14 - ii, ii - 15)
    rj = np.where(jj < 15, 14 - jj, jj - 15)
    diag = np.abs(ri - rj) <= 2
    x_neg, x_pos = neg[:, None], pos[:, None]
    y_neg, y_pos = neg[None, :], pos[None, :]
    quad = {9: x_neg & y_pos, 10: x_neg & y_neg, 11: x_pos & y_neg, 12: x_pos & y_pos}
    seg = {}
    for k, q in quad.items():
        seg[k] = q & diag
    off = ~diag
    bx, by = band[:, None] & np.ones((1, 30), bool), np.ones((30, 1), bool) & band[None, :]
    seg[5] = off & x_neg & by & ~bx
    seg[7] = off & x_pos & by & ~bx
    seg[6] = off & bx & y_neg & ~by
    seg[8] = off & bx & y_pos & ~by
    rest = off & ~bx & ~by
    seg[2] = rest & x_neg & y_neg
    seg[1] = rest & x_neg & y_pos
    seg[3] = rest & x_pos & y_neg
    seg[4] = rest & x_pos & y_pos
    bc = {k: int(np.count_nonzero(z[m])) for k, m in seg.items()}
    pc = {k: int(z[m].sum()) for k, m in seg.items()}
    irr = sum(bc.values())
    pac = sum(pc[k] - bc[k] for k in (1, 2, 3, 4, 5, 6, 10)) - sum(pc[k] - bc[k] for k in (7, 8, 12))
    n = max(1, d.size - 1)
    return {"af_afev": float(irr - origin - 2 * pac), "af_irrev_norm": irr / n, "af_pacev_norm": pac / n,
            "af_origin_fraction": origin / n}


def _template_features(cleaned, fs, peaks, rr, out) -> None:
    """P-wave, f-wave, QRST-cancellation and morphology features from the median beat at the native rate."""
    s = lambda sec: int(round(sec * fs))     # noqa: E731 seconds -> samples
    lo, hi = -s(0.30), s(0.60)
    rows, kept = _windows(cleaned, peaks, lo, hi)
    if rows.shape[0] < MIN_BEATS:
        return
    median_rr = float(np.median(rr)) if rr.size else math.nan
    tpl = np.median(rows, axis=0)
    r0 = -lo                                   # index of R in the template
    # QRS onset / offset from the smoothed slope
    k = max(1, s(0.01))
    slope = np.abs(np.convolve(np.gradient(tpl), np.ones(k) / k, mode="same"))
    qrs_zone = slice(r0 - s(0.08), r0 + s(0.08) + 1)
    thr = 0.15 * slope[qrs_zone].max()
    onset = r0
    while onset > r0 - s(0.12) and not (slope[onset] < thr and slope[onset - 1] < thr):
        onset -= 1
    offset = r0
    while offset < r0 + s(0.16) and not (slope[offset] < thr and slope[offset + 1] < thr):
        offset += 1
    iso = float(tpl[onset])
    out["morph_qrs_width_s"] = (offset - onset) / fs
    out["morph_qrs_amplitude"] = float(np.ptp(tpl[onset:offset + 1]))
    r_amp = float(tpl[r0] - iso)
    out["morph_r_amplitude"] = r_amp
    st = offset + s(0.06)
    out["morph_st_level"] = float(tpl[st] - iso) if st < tpl.size else math.nan
    # T wave
    t_lo = offset + s(0.06)
    t_hi = r0 + int(min(s(0.6), s(0.7 * median_rr) if np.isfinite(median_rr) else s(0.6)))
    t_hi = min(t_hi, tpl.size)
    if t_hi - t_lo > s(0.08):
        seg = tpl[t_lo:t_hi] - iso
        ip = int(np.argmax(np.abs(seg)))
        t_amp = float(seg[ip])
        out["morph_t_amplitude"] = t_amp
        out["morph_t_r_ratio"] = _ratio(t_amp, abs(r_amp)) if abs(r_amp) > 1e-6 else math.nan
        t_rows = rows[:, t_lo:t_hi] - rows[:, onset:onset + 1]
        beat_t = t_rows[:, ip]
        out["morph_t_amp_cv"] = float(beat_t.std() / abs(beat_t.mean())) if abs(beat_t.mean()) > 1e-6 else math.nan
        out["morph_t_corr"] = float(np.nanmean(_corr_rows(t_rows, seg))) if np.ptp(seg) > 0 else math.nan
        if abs(t_amp) >= 0.03:
            below = np.flatnonzero(np.abs(seg[ip:]) < 0.25 * abs(t_amp))
            t_end = t_lo + ip + (int(below[0]) if below.size else seg.size - ip - 1)
            qt = (t_end - onset) / fs
            out["morph_qt_s"] = qt
            if np.isfinite(median_rr) and median_rr > 0:
                out["morph_qt_rr"] = qt / median_rr
                out["morph_qtc_bazett_s"] = qt / math.sqrt(median_rr)
    # P wave: 300-80 ms before R
    p_sl = slice(r0 - s(0.30), r0 - s(0.08))
    p_rows = _detrend_rows(rows[:, p_sl])
    p_tpl = _detrend_rows(tpl[None, p_sl])[0]
    ip = int(np.argmax(np.abs(p_tpl)))
    p_amp = float(abs(p_tpl[ip]))
    out["af_p_amplitude"] = p_amp
    qrs = tpl[r0 - s(0.05):r0 + s(0.05) + 1]
    out["af_p_power_ratio"] = _ratio(float(np.mean(p_tpl ** 2)), float(np.mean((qrs - qrs.mean()) ** 2)))
    corr = _corr_rows(p_rows, p_tpl) if np.ptp(p_tpl) > 0 else np.full(len(p_rows), np.nan)
    out["af_p_corr"] = float(np.nanmean(corr)) if np.isfinite(corr).any() else math.nan
    out["af_p_presence"] = float(np.mean(np.nan_to_num(corr) >= 0.6)) if p_amp >= 0.03 else 0.0
    out["morph_pr_s"] = (r0 - (p_sl.start + ip)) / fs if p_amp >= 0.03 else math.nan
    # QRST cancellation: subtract the template around each beat (no overlap between neighbours)
    residual, recon = _qrst_cancel(cleaned, peaks, tpl, r0, lo, hi)
    out["sqi_template_snr_db"] = 10.0 * math.log10(max(float(np.mean(recon ** 2)), 1e-12)
                                                   / max(float(np.mean(residual ** 2)), 1e-12))
    out["af_residual_rms"] = float(np.sqrt(np.mean(residual ** 2)))
    f, pw = _welch(residual, fs)
    out["af_residual_fwave_ratio"] = _ratio(_bandpower(f, pw, 4, 9), _bandpower(f, pw, 1, 40))
    # TQ segments: from T end (about R + 0.4 sqrt(RR)) to 100 ms before the next R
    nfft = int(2 ** math.ceil(math.log2(max(8, s(2.0)))))
    spec = np.zeros(nfft // 2 + 1)
    sq, count = 0.0, 0
    for p, q in zip(peaks[:-1], peaks[1:]):
        rr_s = (q - p) / fs
        a, b = p + s(0.4 * math.sqrt(rr_s) + 0.02), q - s(0.10)
        if b - a < s(0.08):
            continue
        seg = _detrend_rows(cleaned[None, a:b])[0]
        sq += float((seg ** 2).sum())
        count += seg.size
        spec += np.abs(np.fft.rfft(seg * np.hanning(seg.size), nfft)) ** 2
    if count:
        freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
        out["af_tq_rms"] = math.sqrt(sq / count)
        out["af_fwave_ratio"] = _ratio(_bandpower(freqs, spec, 4, 9), _bandpower(freqs, spec, 1, 40))
        band = (freqs >= 3) & (freqs <= 12)
        out["af_fwave_centroid_hz"] = _ratio(float((freqs[band] * spec[band]).sum()), float(spec[band].sum()))


# --- rhythm and atrial groups ------------------------------------------------------------------------

ECTOPIC_WINDOW = 5          # local median RR over the 2 x 5 + 1 intervals around each one
RR_WINDOW = 8               # RR intervals per sliding window (rhy_window_madsd_max)


def ectopic_mask(rr: np.ndarray) -> np.ndarray:
    """True for the RR intervals (s) that ``rhy_ectopic_fraction`` flags: premature (< 0.85 x the local
    median of the 11 intervals around it), the long interval right after a premature one (> 1.10 x local
    median), or a pause (> 1.6 x local median). An empty array for an empty ``rr``."""
    rr = np.asarray(rr, np.float64)
    n = rr.size
    if n == 0:
        return np.zeros((0,), bool)
    ref = np.array([np.median(rr[max(0, i - ECTOPIC_WINDOW): i + ECTOPIC_WINDOW + 1]) for i in range(n)])
    premature = rr < 0.85 * ref
    flag = premature | (rr > 1.6 * ref)
    flag[1:] |= premature[:-1] & (rr[1:] > 1.10 * ref[1:])
    return flag


def cosen_lm(rr: np.ndarray):
    """(COSEn, SampEn, r) of Lake & Moorman (2011): m = 1, r = 30 ms raised by 10 ms until at least 5
    matches of length 2; (NaN, NaN, NaN) for fewer than ``MIN_RR`` intervals or r past 0.5 s."""
    rr = np.asarray(rr, np.float64)
    if rr.size < MIN_RR:
        return math.nan, math.nan, math.nan
    r = 0.03
    while r <= 0.5 + 1e-9:
        a, b = baselines.sampen_counts(rr, 1, r)
        if a >= 5 and b > 0:
            sampen = -math.log(a / b)
            return sampen + math.log(2 * r) - math.log(float(rr.mean())), sampen, r
        r += 0.01
    return math.nan, math.nan, math.nan


def fuzzy_entropy(x: np.ndarray, m: int = 2, r: float = 0.2) -> float:
    """Fuzzy entropy (Chen et al. 2007): ln phi_m - ln phi_(m+1), phi = mean over template pairs of
    exp(-d^2 / (r sd)), d the Chebyshev distance of mean-removed templates; NaN when undefined
    (fewer than m + 3 values, or a constant series: sd under 1e-6)."""
    x = np.asarray(x, np.float64)
    n = x.size
    sd = float(x.std()) if n else 0.0
    tol = r * sd
    if n < m + 3 or sd < 1e-6:             # too short, or constant up to rounding
        return math.nan
    phi = []
    for length in (m, m + 1):
        t = np.lib.stride_tricks.sliding_window_view(x, length)[: n - m]
        t = t - t.mean(axis=1, keepdims=True)
        d = np.abs(t[:, None, :] - t[None, :, :]).max(axis=2)
        sim = np.exp(-(d ** 2) / tol)
        k = t.shape[0]
        phi.append((sim.sum() - k) / (k * (k - 1)))
    return float(math.log(phi[0]) - math.log(phi[1])) if phi[0] > 0 and phi[1] > 0 else math.nan


def _kmeans_cv(rr: np.ndarray, k: int) -> float:
    """Pooled within-group sd / mean of the best (least squares) split of the sorted ``rr`` into k groups."""
    x = np.sort(rr)
    n = x.size
    if n < 2 * k:
        return math.nan
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])

    def sse(i, j):        # within sum of squares of x[i:j] (arrays of i, j)
        cnt = j - i
        s = c1[j] - c1[i]
        return c2[j] - c2[i] - s * s / cnt

    if k == 2:
        cut = np.arange(1, n)
        best = float(np.min(sse(np.zeros_like(cut), cut) + sse(cut, np.full_like(cut, n))))
    else:                 # k == 3
        i, j = np.triu_indices(n - 1, k=1)
        i, j = i + 1, j + 1                      # cuts 1 <= i < j <= n - 1
        best = float(np.min(sse(np.zeros_like(i), i) + sse(i, j) + sse(j, np.full_like(j, n))))
    return math.sqrt(max(best, 0.0) / n) / float(x.mean())


def _poincare_clusters(rr: np.ndarray) -> dict:
    import scipy.ndimage

    x = rr / float(np.median(rr))
    cells = np.floor(np.stack([x[:-1], x[1:]], axis=1) / 0.06).astype(np.int64)
    cells -= cells.min(axis=0)
    shape = tuple(cells.max(axis=0) + 1)
    grid = np.zeros(shape, np.int64)
    np.add.at(grid, (cells[:, 0], cells[:, 1]), 1)
    labels, count = scipy.ndimage.label(grid > 0, structure=np.ones((3, 3), bool))
    sizes = np.sort(np.bincount(labels[grid > 0], weights=grid[grid > 0], minlength=count + 1)[1:])[::-1]
    npts = float(cells.shape[0])
    return {"rhy_poincare_clusters": float(np.count_nonzero(sizes >= 0.1 * npts)),
            "rhy_poincare_top3_fraction": float(sizes[:3].sum() / npts),
            "rhy_poincare_cell_fraction": float(np.count_nonzero(grid) / npts)}


def _rhythm(rr: np.ndarray, out) -> np.ndarray:
    """The ``ectopy`` and ``rhythm`` groups from the RR intervals (s) of the record; returns the ectopic flags."""
    rr = np.asarray(rr, np.float64)
    flag = ectopic_mask(rr)
    out["rhy_ectopic_fraction"] = float(flag.mean())
    clean = rr[~flag]
    if clean.size >= MIN_RR:
        out["rhy_clean_cv"] = float(clean.std() / clean.mean())
    pair = ~flag[:-1] & ~flag[1:]
    if np.count_nonzero(pair) >= MIN_RR - 1:
        d = np.abs(np.diff(rr))[pair]
        mean = float(clean.mean())
        out["rhy_clean_rmssd_norm"] = float(np.sqrt(np.mean(d ** 2)) / mean)
        out["rhy_clean_pnn50"] = float(np.mean(d > 0.05))
        out["rhy_clean_madsd_norm"] = float(np.median(d) / mean)
    out["rhy_cosen_lm"], out["rhy_sampen_lm"], _ = cosen_lm(rr)
    out["rhy_fuzzy_entropy"] = fuzzy_entropy(rr)
    dev = rr - rr.mean()
    var = float(np.sum(dev ** 2))
    constant = float(rr.std()) < 1e-6          # below 1 us: a constant series (up to rounding)
    for lag in (1, 2, 3):
        defined = not constant and rr.size > lag + 2
        out[f"rhy_acf{lag}"] = float(np.sum(dev[:-lag] * dev[lag:]) / var) if defined else math.nan
    out["rhy_kmeans2_cv"] = _kmeans_cv(rr, 2)
    out["rhy_kmeans3_cv"] = _kmeans_cv(rr, 3)
    out.update(_poincare_clusters(rr))
    if rr.size >= RR_WINDOW:
        w = np.lib.stride_tricks.sliding_window_view(rr, RR_WINDOW)
        madsd = np.median(np.abs(np.diff(w, axis=1)), axis=1) / np.median(w, axis=1)
        out["rhy_window_madsd_max"] = float(madsd.max())
        out["rhy_irregular_window_fraction"] = float(np.mean(madsd > 0.08))
    return flag


def rhythm_features(rr) -> "OrderedDict[str, float]":
    """The ``ectopy`` and ``rhythm`` groups of an RR series (s) alone: ordered dict name -> float, in table order.

    NaN: everything with fewer than ``MIN_RR`` intervals; the ``rhy_clean_*`` statistics when fewer than
    ``MIN_RR`` unflagged intervals (or ``MIN_RR - 1`` unflagged successive pairs) are left; the
    autocorrelations and the fuzzy entropy of a constant series; ``rhy_cosen_lm`` / ``rhy_sampen_lm``
    when no r up to 0.5 s gives 5 matches; the window statistics with fewer than ``RR_WINDOW``
    intervals; ``rhy_kmeans<k>_cv`` with fewer than 2k intervals."""
    out = OrderedDict((name, math.nan) for name in feature_names(("ectopy", "rhythm")))
    rr = np.asarray(rr, np.float64).reshape(-1)
    if rr.size >= MIN_RR and np.all(np.isfinite(rr)) and np.all(rr > 0):
        _rhythm(rr, out)
    return OrderedDict((k, float(v) if math.isfinite(float(v)) else math.nan) for k, v in out.items())


# --- paroxysm and block groups (af44) ----------------------------------------------------------------

AFEV_WINDOW = 16            # RR intervals per window of pax_afev_window_* (about 12 s at 80 bpm)
AFEV_STEP = 4               # their step, in intervals
IRREGULAR_MADSD = 0.08      # a window of RR_WINDOW intervals is irregular above this median |dRR| / median RR
MULTIPLE_PERIODS = np.round(np.arange(0.16, 0.36 + 1e-9, 0.002), 3)   # atrial cycles tried (flutter 170-375 bpm)
MULTIPLE_K = (2, 6)         # conduction ratios k:1 fitted
MULTIPLE_TOL = 0.02         # s, an interval fits k x T within this
MULTIPLE_MIN_SHARE = 0.2    # each of two multiples holds at least this share of the fitted intervals
BLOCK_RATIOS = (4 / 3, 1.5, 2.0)   # successive RR ratios of a conduction change 3:4, 2:3, 2:4 (or 1:2)
BLOCK_RATIO_MIN, BLOCK_RATIO_TOL = 1.2, 0.05
MODE_SD, MODE_HALF_WIDTH, MODE_MIN_SHARE = 0.015, 0.03, 0.15  # s, s, share of the intervals


def _afev_per_point(rr: np.ndarray) -> float:
    """AFEv / Lorenz-plot points of ``_afev`` (NaN below its 3 successive differences)."""
    ev = _afev(rr)
    return ev["af_irrev_norm"] - ev["af_origin_fraction"] - 2 * ev["af_pacev_norm"] if ev else math.nan


def _paroxysm(rr: np.ndarray, out) -> None:
    """The ``paroxysm`` group from the RR intervals (s) of the record."""
    out["pax_afev_norm"] = _afev_per_point(rr)
    n = rr.size
    if n >= AFEV_WINDOW:
        starts = sorted(set(range(0, n - AFEV_WINDOW + 1, AFEV_STEP)) | {n - AFEV_WINDOW})
        ev = [_afev_per_point(rr[i: i + AFEV_WINDOW]) for i in starts]
        out["pax_afev_window_max"], out["pax_afev_window_min"] = float(max(ev)), float(min(ev))
    if n >= RR_WINDOW:
        w = np.lib.stride_tricks.sliding_window_view(rr, RR_WINDOW)
        madsd = np.median(np.abs(np.diff(w, axis=1)), axis=1) / np.median(w, axis=1)
        out["pax_madsd_window_min"] = float(madsd.min())
        irregular = np.concatenate([[False], madsd > IRREGULAR_MADSD, [False]]).astype(np.int8)
        edges = np.diff(irregular)
        longest = 0.0
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):   # windows a..b-1
            longest = max(longest, float(rr[a: b - 1 + RR_WINDOW].sum()))
        out["pax_irregular_run_fraction"] = longest / float(rr.sum())


def _block(rr: np.ndarray, out) -> None:
    """The ``block`` group from the RR intervals (s) of the record."""
    n = rr.size
    T = MULTIPLE_PERIODS[:, None]
    k = np.rint(rr[None, :] / T)
    fit = (k >= MULTIPLE_K[0]) & (k <= MULTIPLE_K[1]) & (np.abs(rr[None, :] - k * T) <= MULTIPLE_TOL)
    best, period = 0.0, math.nan
    for i in range(T.shape[0]):
        ks = k[i][fit[i]]
        if ks.size < 4:
            continue
        counts = np.bincount(ks.astype(np.int64))
        if np.count_nonzero(counts >= max(2, MULTIPLE_MIN_SHARE * ks.size)) < 2:
            continue
        excess = ks.size / n - 2 * MULTIPLE_TOL / float(T[i, 0])
        if math.isnan(period) or excess > best:
            best, period = excess, float(T[i, 0])
    out["blk_multiple_excess"], out["blk_multiple_period_s"] = best, period
    q = np.maximum(rr[1:], rr[:-1]) / np.minimum(rr[1:], rr[:-1])
    q = q[q > BLOCK_RATIO_MIN]
    if q.size >= 3:
        near = np.min(np.abs(q[:, None] - np.asarray(BLOCK_RATIOS)[None, :]), axis=1) <= BLOCK_RATIO_TOL
        out["blk_ratio_fraction"] = float(near.mean())
    grid = np.arange(rr.min() - 3 * MODE_SD, rr.max() + 3 * MODE_SD, 0.001)
    density = np.exp(-0.5 * ((grid[:, None] - rr[None, :]) / MODE_SD) ** 2).sum(axis=1)
    peaks = np.flatnonzero((density[1:-1] > density[:-2]) & (density[1:-1] >= density[2:])) + 1
    modes = []
    for j in peaks[np.argsort(-density[peaks])]:              # highest first; a lower peak near one is its shoulder
        if all(abs(grid[j] - m) >= 2 * MODE_HALF_WIDTH for m in modes):
            if np.mean(np.abs(rr - grid[j]) <= MODE_HALF_WIDTH) >= MODE_MIN_SHARE:
                modes.append(float(grid[j]))
    out["blk_cluster_count"] = float(len(modes))
    near = np.zeros(n, bool)
    for m in modes:
        near |= np.abs(rr - m) <= MODE_HALF_WIDTH
    out["blk_cluster_fraction"] = float(near.mean())


def rr_pattern_features(rr) -> "OrderedDict[str, float]":
    """The ``paroxysm`` and ``block`` groups of an RR series (s) alone: ordered dict name -> float, in table order.
    ``record_features(..., groups=("paroxysm", "block"))`` gives the same on the record's own R-peaks.

    NaN: everything with fewer than ``MIN_RR`` intervals (or a non-finite or non-positive one); the
    ``pax_afev_window_*`` columns with fewer than ``AFEV_WINDOW`` intervals, ``pax_madsd_window_min`` and
    ``pax_irregular_run_fraction`` with fewer than ``RR_WINDOW``; ``blk_multiple_period_s`` when no atrial cycle
    has two multiples (``blk_multiple_excess`` is then 0); ``blk_ratio_fraction`` with fewer than 3 successive
    pairs whose ratio exceeds ``BLOCK_RATIO_MIN``."""
    out = OrderedDict((name, math.nan) for name in feature_names(("paroxysm", "block")))
    rr = np.asarray(rr, np.float64).reshape(-1)
    if rr.size >= MIN_RR and np.all(np.isfinite(rr)) and np.all(rr > 0):
        _paroxysm(rr, out)
        _block(rr, out)
    return OrderedDict((k, float(v) if math.isfinite(float(v)) else math.nan) for k, v in out.items())


def _qrst_cancel(cleaned, peaks, tpl, r0, lo, hi) -> tuple:
    """(residual, reconstruction): ``tpl`` (R at index ``r0``, window ``lo..hi`` samples around R)
    subtracted around each beat, cut at 40% of the RR interval before and 60% after (no overlap)."""
    residual = cleaned.copy()
    recon = np.zeros_like(cleaned)
    prev_rr = np.concatenate([[np.inf], np.diff(peaks)])
    next_rr = np.concatenate([np.diff(peaks), [np.inf]])
    for p, a, b in zip(peaks, prev_rr, next_rr):
        left = int(min(-lo, 0.4 * a))
        right = int(min(hi, 0.6 * b))
        i0, i1 = max(0, p - left), min(cleaned.size, p + right)
        if i1 > i0:
            piece = tpl[r0 - (p - i0): r0 + (i1 - p)]
            residual[i0:i1] -= piece
            recon[i0:i1] += piece
    return residual, recon


def _atrial(cleaned, fs, peaks, flag, out) -> None:
    """The ``atrial`` group: P-wave evidence and QRST-cancelled atrial activity on the dominant beats
    (``flag``: the ectopic flags of the RR intervals, ``ectopic_mask``)."""
    s = lambda sec: int(round(sec * fs))     # noqa: E731 seconds -> samples
    n = peaks.size
    before = np.concatenate([[True], ~flag]) if flag.size == n - 1 else np.ones(n, bool)
    after = np.concatenate([~flag, [True]]) if flag.size == n - 1 else np.ones(n, bool)
    dominant = before & after          # the first / last beat: judged by its one RR interval
    out["atr_dominant_fraction"] = float(dominant.mean())
    lo, hi = -s(0.30), s(0.60)
    rows, kept = _windows(cleaned, peaks[dominant], lo, hi)
    if rows.shape[0] < MIN_BEATS:
        return
    tpl = np.median(rows, axis=0)
    r0 = -lo
    p_sl = slice(r0 - s(0.30), r0 - s(0.08))
    p_rows = _detrend_rows(rows[:, p_sl])
    p_tpl = np.median(p_rows, axis=0)
    p_amp = float(np.abs(p_tpl).max())
    out["atr_p_amplitude"] = p_amp
    noise = float(np.mean((p_rows - p_tpl) ** 2))
    out["atr_p_snr_db"] = 10.0 * math.log10(max(float(np.mean(p_tpl ** 2)), 1e-12) / max(noise, 1e-12))
    if p_amp >= 0.03 and np.ptp(p_tpl) > 0:
        out["atr_p_presence"] = float(np.mean(np.nan_to_num(_corr_rows(p_rows, p_tpl)) >= 0.6))
    else:
        out["atr_p_presence"] = 0.0
    residual, _ = _qrst_cancel(cleaned, peaks, tpl, r0, lo, hi)
    f, pw = _welch(residual, fs)
    out["atr_residual_fwave_ratio"] = _ratio(_bandpower(f, pw, 4, 9), _bandpower(f, pw, 1, 40))
    band = (f >= 3) & (f <= 12)
    if np.any(band) and pw[band].sum() > 0:
        peak = float(f[band][int(np.argmax(pw[band]))])
        out["atr_residual_peak_hz"] = peak
        near = band & (np.abs(f - peak) <= 1.0)
        out["atr_residual_organization"] = float(pw[near].sum() / pw[band].sum())


def _neurokit(function, columns, peaks, fs, out) -> None:
    """``out[name] = function(peaks, sampling_rate=fs)[column]`` for ``columns`` (name -> column); the names stay
    NaN when neurokit2 cannot compute them (a constant RR series divides by zero) or gives a non-finite value."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = function(peaks, sampling_rate=fs)
        except (ValueError, IndexError, ZeroDivisionError, FloatingPointError):
            return
    for name, column in columns.items():
        if column in table:
            value = float(table[column].iloc[0])
            out[name] = value if math.isfinite(value) else math.nan


def _hrv(peaks, fs, out) -> None:
    import neurokit2 as nk

    _neurokit(nk.hrv_time, _NK_HRV, peaks, fs, out)


def _nonlinear(peaks, fs, out) -> None:
    import neurokit2 as nk

    _neurokit(nk.hrv_nonlinear, _NK_NONLINEAR, peaks, fs, out)


def _tq(normalised, peaks, kept, fs, beat_len, out) -> None:
    """The ``tq`` group from the stretches before the ``kept`` beats' QRS (``normalised``: the 100 Hz signal,
    ``peaks`` its R-peaks, as ``signal.preprocess`` has them)."""
    stretch, mask = tq_stretch(normalised, peaks, kept, beat_len, fs, with_mask=True)
    usable = mask.sum(axis=1) >= int(round(TQ_MIN_S * fs))
    if usable.sum() < MIN_BEATS:
        return
    stretch, mask = stretch[usable].astype(np.float64), mask[usable]
    residual = tq_against_median(stretch, mask).astype(np.float64)
    n_held = mask.sum(axis=1)
    # centred here again, in float64: tq_against_median centres in float32 (the model channel's dtype), and its
    # centring would move these features by up to ~1e-7 relative (17 fixture records, run s35)
    centred = np.where(mask, stretch - (np.where(mask, stretch, 0).sum(axis=1) / n_held)[:, None], 0.0)
    median = np.where(mask, centred - residual, 0.0)         # the record's median stretch where each beat holds it
    power = (centred ** 2).sum(axis=1)
    ok = power > 1e-12
    if ok.sum() >= MIN_BEATS:
        ratio = (residual[ok] ** 2).sum(axis=1) / power[ok]
        out["tq_residual_ratio_median"] = float(np.median(ratio))
        q75, q25 = np.percentile(ratio, [75, 25])
        out["tq_residual_ratio_iqr"] = float(q75 - q25)
        out["tq_residual_high_fraction"] = float(np.mean(ratio > TQ_RESIDUAL_HIGH))
        m_power = (median[ok] ** 2).sum(axis=1)
        good = m_power > 1e-12
        if good.sum() >= MIN_BEATS:
            corr = (centred[ok][good] * median[ok][good]).sum(axis=1) / np.sqrt(power[ok][good] * m_power[good])
            out["tq_median_corr"] = float(np.median(corr))
    out["tq_residual_rms_median"] = float(np.median(np.sqrt((residual ** 2).sum(axis=1) / n_held)))
    common = mask.sum(axis=0) * 2 >= mask.shape[0]
    if common.any():
        held = np.where(mask[:, common], centred[:, common], np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out["tq_median_rms"] = float(np.sqrt(np.mean(np.nanmedian(held, axis=0) ** 2)))


def _baseline(cleaned, fs, peaks, config, out, tq=False) -> None:
    """The 65 features of ``baselines.record_features`` on the beats ``signal.preprocess`` would cut (and with
    ``tq`` the ``tq`` group on the stretches before them)."""

    target = float(config.target_fs)
    resampled = resample(cleaned, fs, target)
    p100 = np.rint(peaks * (target / fs)).astype(np.int64)
    keep = p100 < resampled.shape[0]
    p100, pn = p100[keep], peaks[keep]
    if p100.size < max(int(config.min_beats), 2):
        return
    normalised = normalize(resampled, config.normalize).astype(np.float32)
    beats, kept = segment(normalised, p100, config)
    if kept.size < config.min_beats:
        return
    rr = rr_features(pn, fs, config.rr_local_window, config.max_rr_s)[kept].astype(np.float32)
    out.update(baselines.record_features(beats, rr))
    if tq:
        _tq(normalised, p100, kept, target, int(config.beat_len), out)


# --- public API --------------------------------------------------------------------------------------

def _check_input(signal_mv, fs, config, path, strict):
    x = np.asarray(signal_mv)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.size == 0:
        raise SignalQualityError(path, "empty", "empty signal (0 samples): nothing to compute features from")
    if x.ndim != 1:
        raise SignalQualityError(path, "bad_shape", f"expected a 1-D single-lead signal, got shape {x.shape}")
    if strict:

        check_quality(x, fs, config, path)
    else:
        from dataclasses import replace

        # everything check_quality checks except flat and clipped (features here, not errors)
        check_quality(x, fs, replace(config, flat_std_mv=-1.0, clip_fraction=math.inf), path)
    return x.astype(np.float64), float(fs)


def record_features(signal_mv, fs, rpeaks=None, *, config: SignalConfig | None = None, strict: bool = False,
                    path: str = "<signal>", groups=None) -> "OrderedDict[str, float]":
    """The features of ``groups`` (default: every group but ``ON_REQUEST_GROUPS``; ``GROUPS``: all of them;
    ``groups_of(names)`` for the columns of a model) for one single-lead record: ordered dict name -> float,
    in table order.

    ``signal_mv``: 1-D raw signal in mV (a (n, 1) array is accepted); ``fs``: its sampling rate (Hz).
    ``rpeaks``: R-peak sample indices at ``fs`` when the caller has them (else the package's
    ``rpeaks.find_rpeaks`` finds them, with ``config``'s detector settings). NaN marks a feature
    that cannot be computed for this record (module docstring). Raises ``SignalQualityError``
    naming ``path`` and the problem for an empty, non-1-D, non-finite or too short signal or a bad
    rate; ``strict=True`` also for a flat or clipped one (``signal.check_quality``).
    """

    config = config or SignalConfig()
    groups = tuple(g for g in GROUPS if g not in ON_REQUEST_GROUPS) if groups is None else (groups,) \
        if isinstance(groups, str) else tuple(groups)
    wanted = set(feature_names(groups))             # ValueError naming an unknown group
    raw, fs = _check_input(signal_mv, fs, config, path, strict)
    out = OrderedDict((f.name, math.nan) for f in FEATURES)
    cleaned = clean(raw, fs, config.clean_method)
    if rpeaks is None:
        try:
            peaks = find_rpeaks(raw, fs, config, cleaned=cleaned)
        except (ValueError, TypeError, IndexError, ZeroDivisionError, FloatingPointError):
            peaks = np.zeros((0,), np.int64)
    else:
        peaks = np.asarray(rpeaks)
        if peaks.ndim != 1 or (peaks.size and (not np.issubdtype(peaks.dtype, np.number)
                                               or not np.all(np.isfinite(peaks)))):
            raise SignalQualityError(path, "bad_rpeaks", f"rpeaks must be a 1-D array of sample indices, "
                                                         f"got shape {peaks.shape} dtype {peaks.dtype}")
        peaks = np.unique(peaks.astype(np.int64))
        if peaks.size and (peaks[0] < 0 or peaks[-1] >= raw.size):
            raise SignalQualityError(path, "bad_rpeaks", f"rpeaks outside the signal's {raw.size} samples "
                                                         f"({peaks[0]}..{peaks[-1]})")
    try:
        peaks_b = detect_rpeaks(clean(raw, fs, "hamilton2002"), fs, "hamilton2002", cleaned=True)
    except (ValueError, TypeError, IndexError, ZeroDivisionError, FloatingPointError):
        peaks_b = np.zeros((0,), np.int64)
    _quality(raw, cleaned, fs, peaks, peaks_b, out)
    rr = np.diff(peaks) / fs
    flag = None
    if rr.size >= MIN_RR:
        out.update(_afev(rr))
        _hrv(peaks, fs, out)
        if "nonlinear" in groups:
            _nonlinear(peaks, fs, out)
        flag = _rhythm(rr, out)
        if "paroxysm" in groups:
            _paroxysm(rr, out)
        if "block" in groups:
            _block(rr, out)
    if peaks.size >= MIN_BEATS:
        _template_features(cleaned, fs, peaks, rr, out)
        _baseline(cleaned, fs, peaks, config, out, tq="tq" in groups)
        if flag is not None:
            _atrial(cleaned, fs, peaks, flag, out)
    return OrderedDict((key, float(out[key]) if out[key] is not None and math.isfinite(float(out[key])) else math.nan)
                       for key in out if key in wanted)


# --- vectors for models ------------------------------------------------------------------------------

NAN_POLICIES = ("keep", "fill", "indicator")


def vector_names(names=None, nan_policy: str = "keep") -> tuple:
    """Column names of ``to_vector(..., names, nan_policy)``: the features, then (``indicator``) one
    ``<name>__missing`` column per feature."""
    names = tuple(names) if names is not None else feature_names()
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    return names + tuple(f"{n}__missing" for n in names) if nan_policy == "indicator" else names


def fit_fill_values(X, names=None) -> dict:
    """Per-feature fill values from a TRAINING matrix (rows = records, columns = ``names``): the
    median of the finite values, ``DEFAULT_FILL_VALUE`` for a column with none."""
    names = tuple(names) if names is not None else feature_names()
    X = np.asarray(X, np.float64)
    out = {}
    for j, name in enumerate(names):
        col = X[:, j]
        col = col[np.isfinite(col)]
        out[name] = float(np.median(col)) if col.size else DEFAULT_FILL_VALUE
    return out


def to_vector(features: dict, names=None, nan_policy: str = "keep", fill_values: dict | None = None) -> np.ndarray:
    """float64 vector of ``features`` (a ``record_features`` dict) in the order of ``names`` (default all).

    ``nan_policy``: ``"keep"`` leaves NaN (LightGBM / HistGradientBoosting handle it natively);
    ``"fill"`` replaces NaN by ``fill_values[name]`` (``fit_fill_values`` on the training split; a
    name it lacks, or no ``fill_values``, gets ``DEFAULT_FILL_VALUE``); ``"indicator"`` fills the
    same way and appends a 0/1 missing indicator per feature (``vector_names``). A missing key is NaN.
    """
    names = tuple(names) if names is not None else feature_names()
    vector_names(names, nan_policy)                      # validates the policy
    x = np.array([features.get(n, math.nan) for n in names], np.float64)
    x[~np.isfinite(x)] = np.nan
    if nan_policy == "keep":
        return x
    missing = np.isnan(x)
    fill = np.array([(fill_values or {}).get(n, DEFAULT_FILL_VALUE) for n in names], np.float64)
    x = np.where(missing, fill, x)
    return np.concatenate([x, missing.astype(np.float64)]) if nan_policy == "indicator" else x


def to_matrix(rows, names=None, nan_policy: str = "keep", fill_values: dict | None = None) -> np.ndarray:
    """``to_vector`` of each dict in ``rows``, stacked (n_records, n_columns)."""
    names = tuple(names) if names is not None else feature_names()
    cols = len(vector_names(names, nan_policy))
    return np.array([to_vector(r, names, nan_policy, fill_values) for r in rows], np.float64).reshape(-1, cols)
