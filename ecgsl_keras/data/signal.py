"""Signal processing: a raw single-lead ECG -> fixed-length beats and RR features.

Pure numpy in, numpy out (neurokit2 and scipy underneath, no TensorFlow), so it runs in worker
processes. The chain ``preprocess`` runs, in order:

1. ``check_quality`` on the raw signal: 1-D, long enough, finite, not flat, not clipped, a
   supported sampling rate; otherwise ``SignalQualityError`` naming the file and the problem.
2. ``clean`` at the native rate (``neurokit2.ecg_clean``, ``config.clean_method``).
3. R-peaks (``find_rpeaks``): the detector (``neurokit2.ecg_peaks``, ``config.rpeak_method``)
   runs on a copy cleaned for detection (``config.rpeak_clean_method``), at the native rate by
   default (``config.detect_at_native_rate``: more precise peak times); peaks closer than
   ``config.min_rr_s`` to a stronger neighbour are dropped (a detector firing twice on one wide
   QRS would otherwise make a 50 ms "beat"); each peak is then moved to the R apex of the step-2
   signal within ``config.rpeak_refine_s`` (``wfdb.processing.correct_peaks``), so beats are
   centred on R whatever delay the detector's own filter has. Last, ``guard_rpeaks`` drops
   detections far smaller than the QRS complexes around them (non-conducted P waves in 2:1 AV
   block, noise in sinus pauses) unless they are shaped like them (small beats in bigeminy), and searches back in RR gaps for missed beats
   (``config.rpeak_guard_amplitude``, ``config.rpeak_searchback*``).
4. ``resample`` of the cleaned signal to ``config.target_fs``; each native peak ``p`` maps to
   ``round(p * target_fs / fs)``.
5. ``normalize`` per record (robust: ``(x - median) / IQR``), never per beat, so the relative
   amplitude of beats (a large ventricular beat next to normal ones) is kept.
6. ``rr_features`` from the native-rate peak times (previous RR, next RR, local mean RR).
7. ``segment`` into ``config.beat_len``-sample beats with the R-peak at ``config.r_offset``.
   Window mode drops the beats whose window does not fit inside the signal (in practice the
   first and/or last beat of a record); RR mode keeps every beat (zero-padded). With
   ``config.beat_reference="median"`` each beat then also carries itself minus the record's median beat
   (``with_reference``), laid after it: (n, 2 * beat_len); with ``"tq"`` the stretch before its QRS
   (``tq_stretch``) instead.

Example::

    import neurokit2 as nk
    from ecgsl_keras.data.signal import preprocess
    ecg = nk.ecg_simulate(duration=20, sampling_rate=360, random_state=0)
    beats = preprocess(ecg, 360.0)
    beats.beats.shape   # (n, 96) at 100 Hz, R-peak at sample 32
    beats.rr.shape      # (n, 3) seconds

Modules (imports go one way, ``filters`` <- ``rpeak_guard`` <- ``rpeaks`` <- ``signal``):
``filters`` (``clean``, ``resample``, ``resampled_length``), ``rpeaks`` (detection: ``detect_rpeaks``,
``refine_rpeaks``, ``find_rpeaks``, ``find_rpeaks_at_rate``, ``match_peaks``), ``rpeak_guard`` (the guard and its options:
``GuardConstants``, ``GUARD``, ``guard_rpeaks``, ``guard_keep``, ``second_proposer``, ``p_wave_like``, ...) and this
module (quality, window helpers, normalisation, RR features, segmentation and the chain ``preprocess``).
``rpeak_points`` (named detector points: a config's detector fields and where they were measured) sits beside this
module, above ``rpeaks``.

Re-exports: every public name of ``filters``, ``rpeaks`` and ``rpeak_guard`` is also reachable here
(``signal.clean``, ``signal.find_rpeaks``, ``signal.GUARD``, ...; the second part of ``__all__``), the names code, experiments and
tests have always used. ``signal.GUARD`` is the same object as ``rpeak_guard.GUARD`` until someone rebinds one of
them: the guard reads ``rpeak_guard.GUARD``, so constants are patched there (``rpeak_guard.GUARD = ...``), not here;
the documented way is the signal config's ``rpeak_guard_constants`` (``rpeak_guard.constants_for``).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from ecgsl_keras.config import BEAT_REFERENCES, SignalConfig
from ecgsl_keras.data.filters import clean, resample, resampled_length
from ecgsl_keras.data.rpeak_guard import (GUARD, GuardConstants, after_wide_beat, amplitude_reference, blocked_p_wave,
                                          candidates_p_wave_like, cluster_like, constants_for, correct_apex,
                                          fixed_step_slope, guard_keep, guard_rpeaks, p_wave_like, p_wave_match,
                                          p_wave_shaped, pvc_run_like, qrs_amplitudes, qrs_residual, qrs_shapes,
                                          qrs_windows, record_p_wave, record_templates, second_proposer, sign_changes,
                                          slope_feature, small_noisy, small_wide, splits_two_beats, t_wave_like,
                                          template_like, template_sample, unlike_kept_beat, wide_p_wave_like,
                                          wide_restrict, without_own_t_wave)
from ecgsl_keras.data.rpeaks import detect_rpeaks, find_rpeaks, find_rpeaks_at_rate, match_peaks, refine_rpeaks
from ecgsl_keras.errors import ConfigError, SignalQualityError

__all__ = ["Beats", "check_quality", "record_window_starts", "merge_window_peaks", "normalize", "rr_features", "segment",
           "with_reference", "tq_stretch", "tq_against_median", "own_beats", "preprocess"] + [
    # re-exports (module docstring): the names that live in filters / rpeaks / rpeak_guard
    "clean", "resample", "resampled_length", "detect_rpeaks", "find_rpeaks", "find_rpeaks_at_rate", "refine_rpeaks",
    "match_peaks",
    "GuardConstants", "GUARD", "guard_rpeaks", "guard_keep", "p_wave_like", "qrs_residual", "second_proposer",
    "fixed_step_slope",
    "slope_feature", "qrs_amplitudes", "qrs_shapes", "qrs_windows", "cluster_like", "t_wave_like", "splits_two_beats",
    "record_p_wave", "blocked_p_wave", "without_own_t_wave", "sign_changes", "small_noisy", "small_wide", "pvc_run_like",
    "correct_apex", "record_templates", "template_like", "template_sample", "after_wide_beat", "wide_restrict",
    "p_wave_match", "wide_p_wave_like", "amplitude_reference", "constants_for", "unlike_kept_beat",
    "p_wave_shaped", "candidates_p_wave_like"]


@dataclass
class Beats:
    """The beats of one record and everything needed to put them back in time."""

    beats: np.ndarray          # float32 (n, config.beat_width), R-peak at config.r_offset of each channel
    rr: np.ndarray             # float32 (n, n_rr) seconds: previous RR, next RR, local mean RR; (n, 0) when off
    rpeaks: np.ndarray         # int64 (n,) R-peaks at config.target_fs (index into ``signal``)
    rpeaks_native: np.ndarray  # int64 (n,) the same peaks at the input rate
    fs: float                  # config.target_fs
    signal: np.ndarray         # float32 the cleaned, resampled, normalised signal the beats were cut from

    def __len__(self) -> int:
        return int(self.beats.shape[0])


# ----------------------------------------------------------------------------------------------
# quality


def check_quality(signal, fs, config: SignalConfig = SignalConfig(), path="<signal>") -> None:
    """Raise ``SignalQualityError`` (``reason`` tag, message naming ``path``) for an unusable signal.

    Reasons: ``bad_shape`` (not 1-D), ``bad_rate`` (fs not in ``config.supported_fs``),
    ``too_short`` (under ``config.min_duration_s``), ``nan`` (NaN or inf samples), ``flat``
    (standard deviation under ``config.flat_std_mv``), ``clipped`` (more than
    ``config.clip_fraction`` of the samples sit at the minimum or maximum value).
    """
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise SignalQualityError(path, "bad_shape",
                                 f"expected a 1-D single-lead signal, got shape {signal.shape}")
    if not np.issubdtype(signal.dtype, np.number) or np.iscomplexobj(signal):
        raise SignalQualityError(path, "bad_shape", f"expected a real-valued signal, got dtype {signal.dtype}")
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise SignalQualityError(path, "bad_rate", f"sampling rate {fs!r} is not a number") from None
    low, high = config.supported_fs
    if not (np.isfinite(fs) and low <= fs <= high):
        raise SignalQualityError(path, "bad_rate", f"sampling rate {fs} Hz outside the supported {low}-{high} Hz")
    duration = signal.shape[0] / fs
    if duration < config.min_duration_s:
        raise SignalQualityError(path, "too_short",
                                 f"signal lasts {duration:.2f} s ({signal.shape[0]} samples at {fs} Hz), "
                                 f"under the minimum {config.min_duration_s} s")
    finite = np.isfinite(signal)
    if not finite.all():
        raise SignalQualityError(path, "nan", f"{int((~finite).sum())} NaN/inf samples of {signal.shape[0]}")
    x = signal.astype(np.float64, copy=False)
    std = float(x.std())
    if std < config.flat_std_mv:
        raise SignalQualityError(path, "flat", f"flat line: standard deviation {std:.2e} mV < {config.flat_std_mv} mV")
    lo, hi = float(x.min()), float(x.max())
    # Quantised signals repeat their extreme values exactly; a small tolerance covers float noise.
    tol = 1e-6 * (hi - lo)
    at_extremes = int(np.count_nonzero(x >= hi - tol) + np.count_nonzero(x <= lo + tol))
    fraction = at_extremes / x.shape[0]
    if fraction > config.clip_fraction:
        raise SignalQualityError(path, "clipped",
                                 f"clipped: {fraction:.1%} of the samples sit at the extreme values "
                                 f"({lo:.3g}, {hi:.3g}) mV, over the {config.clip_fraction:.0%} limit")


def record_window_starts(n_samples: int, window: int) -> list:
    """Start samples of the signal windows that cover a record: every ``window`` samples plus one
    ending at the end (a record no longer than a window: one window, used as it is). The windows of
    the end-to-end TFLite file (``serving.edge.classify_record``) and of ``predict_signal`` with
    ``TrainConfig.predict_window_s``."""
    if n_samples <= window:
        return [0]
    last = n_samples - window
    return list(range(0, last, window)) + [last]


def merge_window_peaks(kept: np.ndarray, peaks: np.ndarray, tolerance: int) -> np.ndarray:
    """Boolean mask over ``peaks`` (record samples) of those farther than ``tolerance`` samples from
    every peak in ``kept``: windows overlap (the last one), a beat two windows found is kept once,
    from the earlier window."""
    peaks = np.asarray(peaks, np.int64)
    kept = np.asarray(kept, np.int64)
    if not kept.size or not peaks.size:
        return np.ones(peaks.size, bool)
    return np.abs(peaks[:, None] - kept[None, :]).min(axis=1) > tolerance


def normalize(signal, mode="robust") -> np.ndarray:
    """Per-record amplitude scaling. ``"robust"``: ``(x - median) / IQR``; ``"none"``: unchanged.

    When the IQR is zero (a signal that is mostly one value) the standard deviation is used, and
    when that is zero too, 1.
    """
    x = np.asarray(signal, dtype=np.float64)
    if mode == "none":
        return x.copy()
    if mode != "robust":
        raise ConfigError("<config>", "bad_config", f"normalize must be 'robust' or 'none', got {mode!r}")
    q25, median, q75 = np.percentile(x, [25.0, 50.0, 75.0])
    scale = q75 - q25
    if not scale > 0:
        scale = x.std()
    if not scale > 0:
        scale = 1.0
    return (x - median) / scale


def rr_features(rpeaks, fs, local_window=9, max_rr_s=None) -> np.ndarray:
    """Per beat: previous RR, next RR, local mean RR, in seconds (float64, shape (n, 3)).

    The first beat's previous RR is its next RR and the last beat's next RR is its previous RR.
    The local mean is the mean RR interval over ``local_window`` consecutive beats centred on the
    beat (the window slides inward at the record edges, and covers all beats of a shorter record).
    ``max_rr_s`` clips intervals first, so a gap left by missed detections (noise) does not
    produce a 10 s "RR".
    """
    peaks = np.asarray(rpeaks, dtype=np.float64)
    n = peaks.shape[0]
    if n < 2:
        raise ValueError(f"RR features need at least 2 R-peaks, got {n}")
    intervals = np.diff(peaks) / float(fs)
    if max_rr_s is not None:
        intervals = np.minimum(intervals, float(max_rr_s))
    previous = np.concatenate([intervals[:1], intervals])
    following = np.concatenate([intervals, intervals[-1:]])
    width = int(min(max(2, local_window), n))          # beats in the window
    first = np.clip(np.arange(n) - (width - 1) // 2, 0, n - width)
    cumulative = np.concatenate([[0.0], np.cumsum(intervals)])
    local_mean = (cumulative[first + width - 1] - cumulative[first]) / (width - 1)
    return np.stack([previous, following, local_mean], axis=1)


def segment(signal, rpeaks, config: SignalConfig = SignalConfig()) -> tuple:
    """Cut beats of ``config.beat_len`` samples with the R-peak at index ``config.r_offset``.

    Returns ``(beats float32 (k, beat_len), kept int64 (k,))``: ``kept`` indexes ``rpeaks``.

    ``"window"`` mode: ``signal[p - r_offset : p - r_offset + beat_len]``; beats whose window
    does not lie entirely inside the signal are dropped. ``"rr"`` mode: each beat spans from the
    midpoint with the previous R-peak to the midpoint with the next one (the first and last
    beats mirror their one RR interval), is cut to the window above and zero-padded outside its
    span and outside the signal; every beat is kept.
    """
    x = np.asarray(signal, dtype=np.float32)
    peaks = np.asarray(rpeaks, dtype=np.int64)
    beat_len, r_offset = int(config.beat_len), int(config.r_offset)
    n_samples = x.shape[0]
    if peaks.size == 0:
        return np.zeros((0, beat_len), np.float32), np.zeros((0,), np.int64)
    if config.segment_mode == "window":
        starts = peaks - r_offset
        kept = np.flatnonzero((starts >= 0) & (starts + beat_len <= n_samples)).astype(np.int64)
        index = starts[kept, None] + np.arange(beat_len)[None, :]
        return x[index] if kept.size else np.zeros((0, beat_len), np.float32), kept
    if config.segment_mode != "rr":
        raise ConfigError("<config>", "bad_config", f"segment_mode must be 'window' or 'rr', got {config.segment_mode!r}")
    # Boundaries between consecutive beats; the segments tile the signal without overlap.
    if peaks.size > 1:
        middles = (peaks[:-1] + peaks[1:] + 1) // 2
        left = np.concatenate([[peaks[0] - (middles[0] - peaks[0])], middles])
        right = np.concatenate([middles, [peaks[-1] + (peaks[-1] - middles[-1]) + 1]])
    else:
        left, right = np.array([0]), np.array([n_samples])
    beats = np.zeros((peaks.size, beat_len), np.float32)
    for i, p in enumerate(peaks):
        start = max(int(left[i]), int(p) - r_offset, 0)
        stop = min(int(right[i]), int(p) - r_offset + beat_len, n_samples)
        if stop > start:
            beats[i, start - (p - r_offset):stop - (p - r_offset)] = x[start:stop]
    return beats, np.arange(peaks.size, dtype=np.int64)


# tq_stretch: where the stretch before a QRS starts and ends. The T wave ends about QT after the previous R peak;
# QT from Bazett's formula at a normal QTc (QT = TQ_QTC_S * sqrt(RR in s)); the QRS starts about TQ_QRS_ONSET_S
# before its R peak. A stretch shorter than TQ_MIN_S (fast rates, where T and the next P wave merge) is widened
# backwards to TQ_MIN_S, so every beat shows at least what precedes its P wave.
TQ_QTC_S = 0.40
TQ_QRS_ONSET_S = 0.05
TQ_MIN_S = 0.10


def tq_stretch(signal, rpeaks, kept, beat_len: int, fs: float, with_mask: bool = False):
    """The stretch before each kept beat's QRS (``SignalConfig.beat_reference="tq"``), (k, ``beat_len``) float32.

    For the beat at ``rpeaks[i]`` (``i`` in ``kept``): the ``beat_len`` samples of ``signal`` that end at its QRS
    onset (``TQ_QRS_ONSET_S`` before R), on the record's own time scale (no resampling, so P and f waves keep their
    shape and rate), with every sample before the previous beat's estimated T end (previous R + Bazett QT at
    ``TQ_QTC_S``, at least ``TQ_MIN_S`` before the QRS onset) set to 0, the record's baseline after ``normalize``:
    what remains is the T-to-QRS interval, the atrial activity of that RR interval (a P wave, f waves, or neither).
    The first beat's previous R is mirrored from its next RR interval; samples outside the signal are 0.
    ``with_mask``: also the (k, ``beat_len``) bool array of the samples that hold the stretch (the rest are the 0s)."""
    x = np.asarray(signal, np.float32)
    peaks = np.asarray(rpeaks, np.int64)
    kept = np.asarray(kept, np.int64)
    out = np.zeros((kept.size, int(beat_len)), np.float32)
    mask = np.zeros(out.shape, bool)
    if not kept.size:
        return (out, mask) if with_mask else out
    if peaks.size < 2:
        raise ValueError(f"tq_stretch needs at least 2 R-peaks, got {peaks.size}")
    previous = np.where(kept > 0, peaks[np.maximum(kept - 1, 0)], 2 * peaks[0] - peaks[1])
    here = peaks[kept]
    rr_s = np.maximum(here - previous, 1) / float(fs)
    stop = here - int(round(TQ_QRS_ONSET_S * fs))                       # QRS onset (exclusive)
    t_end = previous + np.rint(TQ_QTC_S * np.sqrt(rr_s) * fs).astype(np.int64)
    start = np.minimum(t_end, stop - int(round(TQ_MIN_S * fs)))         # at least TQ_MIN_S of stretch
    for j in range(kept.size):
        lo, hi = max(int(start[j]), int(stop[j]) - int(beat_len), 0), min(int(stop[j]), x.shape[0])
        if hi > lo:
            span = slice(int(beat_len) - (int(stop[j]) - lo), int(beat_len) - (int(stop[j]) - hi))
            out[j, span], mask[j, span] = x[lo:hi], True
    return (out, mask) if with_mask else out


def tq_against_median(stretch, mask) -> np.ndarray:
    """``beat_reference="tq_median"``'s third channel: each beat's stretch (``tq_stretch``) less its own mean (the
    baseline wander between beats, which the stretch channel carries at full size), minus the record's median of
    those, sample by sample over the beats whose stretch covers that sample (0 where the beat's own stretch does not,
    or no beat's does). A P wave at a steady PR interval is in the median and cancels; f waves, whose phase differs
    from beat to beat, and a P wave that comes and goes do not."""
    s = np.asarray(stretch, np.float32)
    if not len(s):
        return s.copy()
    covered = np.where(mask, s, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # a beat whose stretch is empty (outside the signal)
        covered = covered - np.nan_to_num(np.nanmean(covered, axis=1, keepdims=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # a sample no beat's stretch covers: all NaN
        median = np.nanmedian(covered, axis=0)
    return np.where(mask, covered - np.nan_to_num(median), 0.0).astype(np.float32)


def with_reference(beats, reference: str = "none", signal=None, rpeaks=None, kept=None, fs=None) -> np.ndarray:
    """``SignalConfig.beat_reference``: ``"none"`` the beats (n, L) as they are; ``"median"`` each beat followed by
    itself minus the median beat of ``beats`` (sample by sample over all of them: the record's usual beat), (n, 2L).
    The difference is what makes the input patient-relative: a record whose normal beats are all wide (bundle branch
    block) has small differences, while an ectopic beat differs from its own record's usual beat. ``"tq"`` each beat
    followed by the stretch before its QRS (``tq_stretch`` of the normalised ``signal``, its R-peak indices ``rpeaks``,
    the beats' indices into them ``kept`` (``segment``'s) and its rate ``fs``), (n, 2L): the atrial activity beyond the
    beat window. ``"tq_median"`` (n, 3L): the beat, the stretch, and the stretch minus the record's median stretch
    (``tq_against_median``)."""
    x = np.asarray(beats, np.float32)
    if reference == "none":
        return x
    if reference not in BEAT_REFERENCES:
        raise ConfigError("<config>", "bad_config",
                          f"beat_reference must be one of {tuple(BEAT_REFERENCES)}, got {reference!r}")
    if not len(x):
        return np.zeros((0, BEAT_REFERENCES[reference] * x.shape[1]), np.float32)
    if reference in ("tq", "tq_median"):
        if signal is None or rpeaks is None or kept is None or fs is None:
            raise ValueError(f"beat_reference {reference!r} needs the signal, its R peaks, the kept beats and the rate")
        if len(kept) != len(x):
            raise ValueError(f"beat_reference {reference!r}: {len(kept)} kept indices for {len(x)} beats")
        stretch, mask = tq_stretch(signal, rpeaks, kept, x.shape[1], fs, with_mask=True)
        parts = [x, stretch] + ([tq_against_median(stretch, mask)] if reference == "tq_median" else [])
        return np.concatenate(parts, axis=1).astype(np.float32)
    return np.concatenate([x, x - np.median(x, axis=0, keepdims=True)], axis=1).astype(np.float32)


def own_beats(beats, config: SignalConfig) -> np.ndarray:
    """(n, ``config.beat_len``): each beat's own samples, without the reference channel ``with_reference`` lays
    after it (``config.beat_reference``): what per-beat features (``data.per_beat_features``) are computed from."""
    x = np.asarray(beats)
    if x.ndim != 2 or x.shape[1] != config.beat_len * config.beat_channels:
        raise ValueError(f"beats must be (n, {config.beat_len * config.beat_channels}) for beat_reference "
                         f"{config.beat_reference!r}, got {x.shape}")
    return x[:, :config.beat_len]


# ----------------------------------------------------------------------------------------------
# the chain


class _StageClock:
    """Adds the seconds since the previous lap to ``timings[stage]`` (does nothing without a dict)."""

    def __init__(self, timings):
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is None:
            return
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + (now - self.last)
        self.last = now


def preprocess(signal, fs, config: SignalConfig = SignalConfig(), path="<signal>", timings=None) -> Beats:
    """The whole chain (module docstring): raw 1-D signal in mV at ``fs`` Hz -> ``Beats``.

    Raises ``SignalQualityError`` naming ``path`` for an unusable signal, with reason
    ``too_few_beats`` when fewer than ``config.min_beats`` beats (and fewer than 2 R-peaks) remain,
    ``rpeak_failed`` when the neurokit2 detector raises on the signal.
    ``timings``, a dict, receives the seconds spent in each stage (added to what it holds):
    ``quality``, ``clean``, ``detect``, ``resample``, ``segment`` (normalise, cut, RR features).
    """
    clock = _StageClock(timings)
    check_quality(signal, fs, config, path)
    clock.lap("quality")
    fs = float(fs)
    target_fs = float(config.target_fs)
    cleaned = clean(signal, fs, config.clean_method)
    clock.lap("clean")
    try:
        peaks_native = find_rpeaks(signal, fs, config, cleaned=cleaned)
    except (ValueError, TypeError, IndexError, ZeroDivisionError, FloatingPointError) as exc:
        # neurokit2 detectors can fail on odd signals (e.g. no candidate QRS at all): skip the record.
        raise SignalQualityError(path, "rpeak_failed",
                                 f"R-peak detector {config.rpeak_method!r} failed on this signal: {exc}") from exc
    clock.lap("detect")
    resampled = resample(cleaned, fs, target_fs)
    peaks = np.rint(peaks_native * (target_fs / fs)).astype(np.int64)
    clock.lap("resample")
    keep = peaks < resampled.shape[0]
    peaks, peaks_native = peaks[keep], peaks_native[keep]
    min_beats = max(int(config.min_beats), 2)
    if peaks.size < min_beats:
        raise SignalQualityError(path, "too_few_beats",
                                 f"found {peaks.size} R-peaks, fewer than the minimum {config.min_beats} beats")
    normalised = normalize(resampled, config.normalize).astype(np.float32)
    beats, kept = segment(normalised, peaks, config)
    if kept.size < config.min_beats:
        raise SignalQualityError(path, "too_few_beats",
                                 f"{kept.size} beats fit in the signal, fewer than the minimum {config.min_beats}")
    if config.rr_features:
        # From the native-rate peak times (finer than target_fs) and before dropping edge beats,
        # so a kept beat next to a dropped one still has its real neighbour interval.
        rr = rr_features(peaks_native, fs, config.rr_local_window, config.max_rr_s)[kept].astype(np.float32)
    else:
        rr = np.zeros((kept.size, 0), np.float32)
    beats = with_reference(beats, config.beat_reference, signal=normalised, rpeaks=peaks, kept=kept, fs=target_fs)
    clock.lap("segment")
    return Beats(beats=beats.astype(np.float32, copy=False), rr=rr, rpeaks=peaks[kept],
                 rpeaks_native=peaks_native[kept], fs=target_fs, signal=normalised)
