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
   first and/or last beat of a record); RR mode keeps every beat (zero-padded).

Example::

    import neurokit2 as nk
    from ecgsl_keras.data.signal import preprocess
    ecg = nk.ecg_simulate(duration=20, sampling_rate=360, random_state=0)
    beats = preprocess(ecg, 360.0)
    beats.beats.shape   # (n, 96) at 100 Hz, R-peak at sample 32
    beats.rr.shape      # (n, 3) seconds
"""
from __future__ import annotations

import bisect
import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.signal

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.errors import ConfigError, SignalQualityError

__all__ = ["Beats", "check_quality", "resample", "clean", "detect_rpeaks", "find_rpeaks", "refine_rpeaks",
           "guard_rpeaks", "guard_keep", "p_wave_like", "qrs_residual", "second_proposer", "slope_feature",
           "qrs_amplitudes", "qrs_shapes", "GuardConstants", "GUARD", "normalize",
           "rr_features", "segment", "preprocess"]

@dataclass
class Beats:
    """The beats of one record and everything needed to put them back in time."""

    beats: np.ndarray          # float32 (n, beat_len), R-peak at config.r_offset
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


# ----------------------------------------------------------------------------------------------
# the steps


def resample(signal, fs, target_fs) -> np.ndarray:
    """Resample to ``target_fs`` with a polyphase anti-aliasing filter (``scipy.signal.resample_poly``).

    The rate ratio is taken as a fraction (denominator at most 1000: 360 -> 100 Hz is 5/18), so
    sample ``k`` of the output lies at time ``k / target_fs`` and the output has
    ``ceil(len(signal) * up / down)`` samples. float64 out.
    """
    x = np.asarray(signal, dtype=np.float64)
    fs, target_fs = float(fs), float(target_fs)
    if fs <= 0 or target_fs <= 0:
        raise ValueError(f"sampling rates must be positive, got fs={fs}, target_fs={target_fs}")
    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    if ratio == 1:
        return x.copy()
    return scipy.signal.resample_poly(x, ratio.numerator, ratio.denominator)


def resampled_length(n_samples: int, fs, target_fs) -> int:
    """Length of ``resample(x, fs, target_fs)`` for ``len(x) == n_samples`` (without resampling)."""
    ratio = Fraction(float(target_fs) / float(fs)).limit_denominator(1000)
    if ratio == 1:
        return int(n_samples)
    return -(-int(n_samples) * ratio.numerator // ratio.denominator)


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


def _nk_rate(fs: float):
    # Some neurokit2 detectors build integer-sized windows from the rate; give an int when exact.
    fs = float(fs)
    return int(fs) if fs.is_integer() else fs


def clean(signal, fs, method="neurokit") -> np.ndarray:
    """Band-pass / baseline cleaning with ``neurokit2.ecg_clean(method=...)``. float64 out."""
    import neurokit2 as nk

    x = np.asarray(signal, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(nk.ecg_clean(x, sampling_rate=_nk_rate(fs), method=method), dtype=np.float64)


# neurokit2 detectors that come with their own cleaning in ecg_clean; the others get "neurokit".
_OWN_CLEANING = ("pantompkins1985", "hamilton2002", "elgendi2010", "engzeemod2012", "emrich2023")


def detect_rpeaks(signal, fs, method="neurokit", cleaned=False, correct_artifacts=False,
                  clean_method=None, **options) -> np.ndarray:
    """R-peak sample indices (int64, sorted, unique): the detector of ``neurokit2.ecg_peaks(method=...)``.

    ``cleaned=False`` cleans first with ``clean_method`` (default: the detector's own cleaning
    where neurokit2 has one, else ``"neurokit"``). ``correct_artifacts`` runs neurokit2's
    Lipponen & Tarvainen (2019) correction of missed / extra / misplaced beats. ``options`` go
    to the detector (e.g. ``mindelay`` of the ``"neurokit"`` method; ``mindelay_keep="prominent"`` or
    ``"prominent_negative"`` or ``"prominent_negative_last"`` runs ``_findpeaks_neurokit`` instead of neurokit2's).
    """
    import neurokit2 as nk

    x = np.asarray(signal, dtype=np.float64)
    if not cleaned:
        x = clean(x, fs, clean_method or (method if method in _OWN_CLEANING else "neurokit"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # ecg_findpeaks + signal_fixpeaks is what ecg_peaks runs, without building its per-sample
        # DataFrame (a third of the detection time on a 30 s record).
        try:
            keep = options.pop("mindelay_keep", "first")
            if method == "neurokit" and keep != "first":
                peaks = _findpeaks_neurokit(x, fs, keep=keep, **options)
            else:
                peaks = nk.ecg_findpeaks(x, sampling_rate=_nk_rate(fs), method=method, **options)["ECG_R_Peaks"]
        except ValueError as exc:
            if "not implemented" in str(exc):
                raise ConfigError("<config>", "bad_config", f"unknown R-peak method {method!r}") from None
            raise
        if correct_artifacts and len(peaks) > 1:
            _, peaks = nk.signal_fixpeaks(peaks, sampling_rate=_nk_rate(fs), method="Kubios")
    peaks = np.asarray(peaks, dtype=np.float64)
    peaks = peaks[np.isfinite(peaks)].astype(np.int64)
    return np.unique(peaks[(peaks >= 0) & (peaks < x.shape[0])])


def _most_prominent(x, beg, end, negate=False, longest=1024) -> tuple:
    """For each region ``[beg, end)`` of ``x`` (of ``-x`` with ``negate``): the offset in the region and the prominence
    of the local maximum ``scipy.signal.find_peaks(x[b:e], prominence=(None, None))`` gives the largest prominence
    (the first of equal ones), or -1 and nan where it finds none; the same numbers, all regions in one pass. A
    region with two equal neighbouring samples (a plateau, whose middle find_peaks takes), a non-finite one or over
    ``longest`` samples (memory) goes through find_peaks itself."""
    x = np.asarray(x, dtype=np.float64)
    beg, end = np.asarray(beg, np.int64), np.asarray(end, np.int64)
    offset, prominence = np.full(beg.size, -1, np.int64), np.full(beg.size, np.nan)
    length = end - beg
    odd = length > longest
    if beg.size and (~odd).any() and length[~odd].max() >= 3:
        cols = np.arange(int(length[~odd].max()))
        span = np.where(odd, 0, length)
        inside = cols[None, :] < span[:, None]
        v = x[np.minimum(beg[:, None] + cols[None, :], x.size - 1)]
        if negate:
            v = -v
        odd |= np.any(inside & ~np.isfinite(v), axis=1) | np.any(inside[:, 1:] & (v[:, 1:] == v[:, :-1]), axis=1)
        # without plateaus find_peaks' maxima are the strict ones, first and last sample excluded
        interior = np.zeros(v.shape, bool)
        interior[:, 1:-1] = ((v[:, :-2] < v[:, 1:-1]) & (v[:, 2:] < v[:, 1:-1])
                             & (cols[None, 1:-1] < span[:, None] - 1) & ~odd[:, None])
        row, col = np.nonzero(interior)    # row-major: by region, then by position
        peak_prominence = np.empty(row.size)
        batch = max(1, 2 ** 20 // cols.size)
        for start in range(0, row.size, batch):
            r, c = row[start:start + batch], col[start:start + batch]
            rows, value = v[r], v[r, c]
            higher = inside[r] & (rows > value[:, None])
            # find_peaks' prominence: from the peak out to the first higher sample (or the region's end) on each
            # side, the lowest sample; the higher of the two lows is the base
            left = np.where(higher & (cols[None, :] < c[:, None]), cols[None, :], -1).max(axis=1)
            right = np.where(higher & (cols[None, :] > c[:, None]), cols[None, :], span[r][:, None]).min(axis=1)
            left_min = np.where((cols[None, :] > left[:, None]) & (cols[None, :] <= c[:, None]), rows, np.inf).min(axis=1)
            right_min = np.where((cols[None, :] >= c[:, None]) & (cols[None, :] < right[:, None]), rows,
                                 np.inf).min(axis=1)
            peak_prominence[start:start + batch] = value - np.maximum(left_min, right_min)
        if row.size:
            new_region = np.diff(row, prepend=-1) != 0
            best = np.maximum.reduceat(peak_prominence, np.flatnonzero(new_region))
            is_best = peak_prominence == best[np.cumsum(new_region) - 1]
            regions, at = np.unique(row[is_best], return_index=True)   # the first of equal prominences (argmax)
            offset[regions] = col[is_best][at]
            prominence[regions] = peak_prominence[is_best][at]
    for r in np.flatnonzero(odd):
        data = x[beg[r]:end[r]]
        local, props = scipy.signal.find_peaks(-data if negate else data, prominence=(None, None))
        if local.size:
            best = int(np.argmax(props["prominences"]))
            offset[r], prominence[r] = local[best], props["prominences"][best]
    return offset, prominence


def _findpeaks_neurokit(x, fs, mindelay=0.3, keep="prominent", smoothwindow=0.1, avgwindow=0.75,
                        gradthreshweight=1.5, minlenweight=0.4) -> np.ndarray:
    """neurokit2's ``"neurokit"`` detector (``ecg_findpeaks``: QRS regions where the 0.1 s smoothed
    absolute gradient exceeds 1.5 x its 0.75 s running mean, regions under 0.4 x the mean region length
    dropped, the most prominent local maximum of each), with two changes (``SignalConfig.rpeak_mindelay_keep``):

    - ``"prominent"``: of two peaks closer than ``mindelay`` the more prominent is kept (neurokit2 keeps the
      first, so a P wave as large as the QRS, MIT-BIH 108, hides the QRS after it; a T wave or a P wave
      found first no longer blocks the beat);
    - ``"prominent_negative"``: also a region with no local maximum (a negative QRS: the signal falls and
      rises inside it, MIT-BIH 203's multiform PVCs) gives its most prominent local minimum;
    - ``"prominent_negative_last"``: as ``"prominent_negative"``, but such a minimum never wins the
      refractory contest: it is dropped within ``mindelay`` of a kept peak and gives way to any later peak
      from a region with a maximum (``"prominent_negative"`` lets a minimum before a QRS hide it, MIT-BIH 108).

    The end-to-end graph applies ``"prominent"`` in one pass over neighbouring peaks (``EndToEnd.refine``).
    """
    from neurokit2.signal import signal_smooth

    x = np.asarray(x, dtype=np.float64)
    fs = float(fs)
    smoothgrad = signal_smooth(np.abs(np.gradient(x)), kernel="boxcar", size=int(np.rint(smoothwindow * fs)))
    avggrad = signal_smooth(smoothgrad, kernel="boxcar", size=int(np.rint(avgwindow * fs)))
    qrs = smoothgrad > gradthreshweight * avggrad
    beg = np.flatnonzero(~qrs[:-1] & qrs[1:])
    end = np.flatnonzero(qrs[:-1] & ~qrs[1:])
    if beg.size == 0:
        return np.zeros(0, dtype=np.int64)
    end = end[end > beg[0]]
    n = min(beg.size, end.size)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    min_len = np.mean(end[:n] - beg[:n]) * minlenweight
    delay = int(np.rint(fs * mindelay))
    negative = keep in ("prominent_negative", "prominent_negative_last")
    last = keep == "prominent_negative_last"
    beg, end = beg[:n], end[:n]
    long_enough = end - beg >= min_len
    beg, end = beg[long_enough], end[long_enough]
    # each region's most prominent maximum (or minimum), all regions at once: a find_peaks call per region cost
    # a third of the detector
    offset, region_prominence = _most_prominent(x, beg, end)
    region_minimum = np.zeros(beg.size, bool)
    if negative:
        flat = np.flatnonzero(offset < 0)
        offset[flat], region_prominence[flat] = _most_prominent(x, beg[flat], end[flat], negate=True)
        region_minimum[flat] = True
    found = offset >= 0
    peaks, prominences, minima = [0], [np.inf], [False]
    for peak, prominence, minimum in zip((beg + offset)[found].tolist(), region_prominence[found].tolist(),
                                         region_minimum[found].tolist()):
        if peak - peaks[-1] > delay:
            peaks.append(peak)
            prominences.append(prominence)
            minima.append(minimum)
        elif last and minimum:
            continue
        elif ((prominence > prominences[-1] or (last and minima[-1]))
              and (len(peaks) < 2 or peak - peaks[-2] > delay)):
            peaks[-1], prominences[-1], minima[-1] = peak, prominence, minimum
    return np.asarray(peaks[1:], dtype=np.int64)


def _drop_close_peaks(peaks: np.ndarray, signal: np.ndarray, min_distance: int) -> np.ndarray:
    """Of two peaks closer than ``min_distance`` samples keep the one with the larger |amplitude|."""
    if peaks.size < 2 or min_distance <= 1 or np.diff(peaks).min() >= min_distance:
        return peaks
    kept = [int(peaks[0])]
    for p in peaks[1:]:
        p = int(p)
        if p - kept[-1] >= min_distance:
            kept.append(p)
        elif abs(signal[p]) > abs(signal[kept[-1]]):
            kept[-1] = p
    return np.asarray(kept, dtype=np.int64)


def refine_rpeaks(cleaned, rpeaks, fs, radius_s) -> np.ndarray:
    """Move each peak to the R apex within ``radius_s`` (``wfdb.processing.correct_peaks``).

    The apex is the local extremum after removing a moving average; its direction (up or down)
    is chosen once per record, the one with the larger mean deflection, so an inverted lead is
    aligned on its dominant (negative) QRS deflection. Sorted, unique int64 out.
    """
    from wfdb.processing import correct_peaks

    peaks = np.asarray(rpeaks, dtype=np.int64)
    radius = int(round(float(radius_s) * float(fs)))
    if peaks.size == 0 or radius < 1:
        return peaks
    cleaned = np.asarray(cleaned, dtype=np.float64)
    shifted = correct_peaks(cleaned, peaks, search_radius=radius, smooth_window_size=2 * radius, peak_dir="compare")
    shifted = np.asarray(shifted, dtype=np.int64)
    return np.unique(np.clip(shifted, 0, cleaned.shape[0] - 1))


def find_rpeaks(signal, fs, config: SignalConfig = SignalConfig(), cleaned=None) -> np.ndarray:
    """R-peaks (int64 sample indices at ``fs``) of a raw signal with the config's detector settings.

    The detector (``config.rpeak_method``, ``config.rpeak_correct_artifacts``, and
    ``config.rpeak_mindelay_s`` for the ``neurokit`` method) runs on a copy
    cleaned with ``config.rpeak_clean_method`` (a detector's own band-pass finds QRS complexes
    best), at ``fs`` or, when ``config.detect_at_native_rate`` is off, at ``config.target_fs``
    with the peaks mapped back. Peaks closer than ``config.min_rr_s`` to a stronger one are
    dropped, and each peak is moved to the R apex of the ``config.clean_method`` signal (the one
    beats are cut from) within ``config.rpeak_refine_s``; then ``guard_rpeaks`` checks them.
    ``cleaned``: that signal, when the caller already has it. ``preprocess`` and ``bench rpeaks``
    both use this.
    """
    fs = float(fs)
    raw = np.asarray(signal, dtype=np.float64)
    if cleaned is None:
        cleaned = clean(raw, fs, config.clean_method)
    cleaned = np.asarray(cleaned, dtype=np.float64)
    detect_clean = config.rpeak_clean_method or config.clean_method
    detect_signal = cleaned if detect_clean == config.clean_method else clean(raw, fs, detect_clean)
    options = ({"mindelay": float(config.rpeak_mindelay_s), "mindelay_keep": config.rpeak_mindelay_keep}
               if config.rpeak_method == "neurokit" else {})
    if config.detect_at_native_rate:
        peaks = detect_rpeaks(detect_signal, fs, config.rpeak_method, cleaned=True,
                              correct_artifacts=config.rpeak_correct_artifacts, **options)
    else:
        target_fs = float(config.target_fs)
        peaks = detect_rpeaks(resample(detect_signal, fs, target_fs), target_fs, config.rpeak_method,
                              cleaned=True, correct_artifacts=config.rpeak_correct_artifacts, **options)
        peaks = np.unique(np.clip(np.rint(peaks * (fs / target_fs)).astype(np.int64), 0, raw.shape[0] - 1))
    min_distance = int(round(config.min_rr_s * fs))
    peaks = _drop_close_peaks(peaks, cleaned, min_distance)
    if config.rpeak_refine_s > 0:
        # Two peaks refined onto one apex collapse (unique); a pair moved closer than min_rr_s is re-checked.
        peaks = _drop_close_peaks(refine_rpeaks(cleaned, peaks, fs, config.rpeak_refine_s), cleaned, min_distance)
    return guard_rpeaks(peaks, cleaned, detect_signal, fs, config)


# ----------------------------------------------------------------------------------------------
# the guard: a physiological check of the detections and a search back in long RR gaps

@dataclass(frozen=True)
class GuardConstants:
    """The guard's fixed constants, in one place for the Python detector (``guard_rpeaks``) and the
    in-graph one (``ecgsl_keras.serving.edge``). The tunable thresholds are ``SignalConfig`` fields
    (``rpeak_guard_amplitude``, ``rpeak_searchback*``)."""

    neighbours: int = 8             # peaks each side that make the reference amplitude
    percentile: float = 75.0        # of their QRS amplitudes (a QRS value while under 75% of them are false)
    qrs_half_width_s: float = 0.05  # QRS amplitude and slope: within +-50 ms of R (cleaned signal)
    shape_half_width_s: float = 0.15  # QRS width: samples within +-150 ms of R over half the largest deflection
    # shape rescue (issue 21): a peak under rpeak_guard_amplitude x the reference is kept when it is
    # still over ``rescue_amplitude`` x the reference and shaped like the QRS complexes around it:
    # sharpness (largest slope / amplitude) at least ``rescue_sharpness`` x their median and width at
    # most ``rescue_width`` x their median ("their": the neighbours over the amplitude threshold).
    # Small normal beats between large ectopic ones (bigeminy, trigeminy) are such peaks; P waves
    # (2:1 AV block) are wider and blunter, noise is smaller.
    rescue_amplitude: float = 0.25
    rescue_sharpness: float = 0.85
    rescue_width: float = 1.5
    # deep rescue (SignalConfig.rpeak_rescue_deep > 0; off by default): down to that x the reference when
    # sharper (``deep_sharpness``) and narrower (``deep_width``) than the QRS complexes around it: the
    # normal beats of bigeminy where the ectopic ones are 4-5 times larger (their median width is a PVC's).
    # 1.0 / 0.8 (with rpeak_rescue_deep 0.2): chosen leave-one-record-out on DS1 (experiments/rpeaks/deep.py)
    deep_sharpness: float = 1.0
    deep_width: float = 0.8
    searchback_rounds: int = 3      # a gap holding several missed beats gets one more per round
    # shape-checked search back (SignalConfig.rpeak_searchback_shape > 0; off by default): in an RR gap
    # longer than rpeak_searchback_shape x the local median RR, a candidate is also kept when its QRS
    # amplitude is at least ``searchback_shape_amplitude`` x the reference and it is as sharp (at least
    # ``searchback_shape_sharpness`` x) and no wider (at most ``searchback_shape_width`` x) than the
    # median of the kept peaks around it. For irregular fast rhythms (atrial fibrillation with multiform
    # PVCs, MIT-BIH 203), where a missed beat leaves a gap of only 1.1-1.4 x the local median; T waves,
    # the candidates of such short gaps in a regular rhythm, are blunter and wider than a QRS.
    searchback_shape_amplitude: float = 0.35
    searchback_shape_sharpness: float = 0.85
    searchback_shape_width: float = 1.5
    # search back in irregular rhythm (SignalConfig.rpeak_searchback_irregular > 0; off by default): where the
    # 9 RR intervals around a gap have an interquartile range of at least ``searchback_irregular_spread`` x
    # their median, gaps from rpeak_searchback_irregular x the local median are searched (same acceptance)
    searchback_irregular_spread: float = 0.2
    # P-wave check (SignalConfig.rpeak_guard_p_wave > 0; off by default): where the record's P waves are
    # large (the P template, the median of the windows ``p_wave_half_width_s`` around the apex found
    # ``p_wave_lag_s`` before the peaks over ``p_wave_confident`` x the record's 75th percentile, spans at least
    # ``p_wave_min_size`` of their QRS amplitude; MIT-BIH 108), a kept peak is dropped when it matches that
    # template in shape and size (distance under rpeak_guard_p_wave x the template's norm, best of shifts up
    # to ``p_wave_shift_s``) and has no P wave of its own a PR interval before it (correlation with the
    # template there under ``p_wave_own``): a non-conducted P wave of a 2:1 block. A small QRS (bigeminy)
    # has its own P wave before it; a QRS of atrial fibrillation has none, but then the template is flat.
    p_wave_lag_s: tuple = (0.08, 0.3)
    p_wave_half_width_s: float = 0.08
    p_wave_shift_s: float = 0.02
    p_wave_confident: float = 0.7
    p_wave_min_size: float = 0.15
    p_wave_own: float = 0.6         # (rpeak_guard_p_wave: leave-one-record-out chose 0.8 alone, 1.0 with the
    #                                   deep rescue and prominent_negative_last; experiments/rpeaks/deep.py)
    p_wave_template_beats: int = 200
    p_wave_consistency: float = 0.8  # median correlation of the confident beats' P windows with the template
    # second proposer (SignalConfig.rpeak_second_proposer > 0; off by default): candidates are the local maxima of
    # the smoothed |slope| (``slope_feature``, on a ~100 Hz grid), at least min_rr_s apart, whose value reaches
    # rpeak_second_proposer x the ``second_level_percentile``-th percentile at the kept peaks around them (the
    # median; a lower percentile is a small beat's slope where small and large beats alternate, as in bigeminy),
    # and lie between two kept peaks (at a record's edges the slope maxima of filter transients and cut beats
    # would be candidates: CinC's 30 s records). After the move to the R apex a candidate
    # is added when it lies at least ``second_spacing`` x the local median RR (and min_rr_s) from both kept
    # neighbours, its QRS amplitude is at least ``second_amplitude`` x the reference (the guard's 75th
    # percentile of the neighbours), its width (``qrs_shapes``) at most ``second_width`` x their median and,
    # when ``second_correlation`` > 0, its QRS (+-``second_window_s``, mean removed) correlates at least that much
    # with one of the ``neighbours`` kept QRS complexes on each side. Candidates are taken strongest first.
    # 25 / 0.2 / 0.5 / 0 (with rpeak_second_proposer 0.5): chosen leave-one-record-out on DS1 with run s27's
    # recommended settings (experiments/rpeaks/second.py); width 4.0 was not gridded
    second_level_percentile: float = 25.0
    second_amplitude: float = 0.2
    second_width: float = 4.0
    second_spacing: float = 0.5
    second_correlation: float = 0.0
    second_window_s: float = 0.1
    # wide-peak check (SignalConfig.rpeak_guard_wide > 0; off by default): the last step of guard_rpeaks drops a
    # kept peak whose QRS amplitude is under ``wide_amplitude`` x the reference (the 75th percentile of the
    # ``neighbours`` each side) and whose width (``qrs_shapes``) is over rpeak_guard_wide x their median width.
    # A PVC is wide but large; a small normal beat of bigeminy is small but no wider than its neighbours.
    # 0.4 (with rpeak_guard_wide 2.0): chosen by 21 of 22 folds on run s28's choice (experiments/rpeaks/block.py),
    # but held out it adds more errors than it removes: not recommended
    wide_amplitude: float = 0.4
    # cluster rescue (SignalConfig.rpeak_rescue_cluster > 0; off by default): a peak the amplitude check (and the
    # rescues) drop is kept when at least ``cluster_min`` of the kept peaks among the ``neighbours`` each side have a
    # QRS window (+-``cluster_window_s``, mean removed) that correlates at least rpeak_rescue_cluster with its own,
    # and its QRS amplitude is at least ``cluster_amplitude`` x the 75th percentile of theirs and ``cluster_floor``
    # x the reference of all neighbours. Bigeminy where the ectopic beats are several times larger (MIT-BIH 203 built):
    # the small normal beats are compared with the normal beats around them, not with the PVCs. 0.3 / 16 / 0 / off
    # (with rpeak_rescue_cluster 0.9): chosen by 20 of 22 folds on run s28's point (experiments/rpeaks/cluster.py, run
    # s29), but 203's fold turns it off and held out it does not reach 0.997 on bigeminy: not recommended yet
    cluster_amplitude: float = 0.3
    cluster_min: int = 2
    cluster_window_s: float = 0.06
    cluster_floor: float = 0.1
    cluster_rounds: int = 2         # a rescued peak joins the pool of the next round (runs of small beats)
    cluster_second: bool = False    # the second proposer's candidates too (under its slope level or amplitude)
    cluster_neighbours: int = 16    # kept peaks each side that may form the cluster (8: a PVC-rich stretch leaves too few)
    cluster_sharpness: float = 0.0  # > 0: and at least this x the cluster's median sharpness (qrs_shapes)
    cluster_spacing: float = 0.5    # with cluster_second: a candidate the cluster keeps may lie this x the local RR
    #                                 from a kept neighbour (second_spacing for the others)
    # T-wave veto (SignalConfig.rpeak_guard_t_wave > 0; off by default): a peak the second proposer would add that lies
    # ``t_wave_lag_s`` after the kept beat before it (and under ``t_wave_rr`` x the local median RR) is dropped when
    # its wave (+-``t_wave_window_s``, mean removed) correlates at least rpeak_guard_t_wave with that beat's T-wave
    # template and spans at most ``t_wave_size`` x the template: the median of the same stretch (same lag) after the
    # kept beats among the ``cluster_neighbours`` each side whose QRS (+-``cluster_window_s``) correlates at least
    # ``t_wave_cluster`` with that beat's and whose next kept beat comes over ``t_wave_clear_s`` after it (at least
    # ``cluster_min`` of them). A PVC's T wave (MIT-BIH 208) repeats after every PVC of its shape at the same lag; a
    # small normal beat in atrial fibrillation (203 built bigeminy) does not. ``t_wave_all``: every kept peak too, last.
    # 0.9 / all / size 4 (with the cluster rescue on the second proposer's candidates): chosen by 19 of 22 folds on run
    # s28's point (experiments/rpeaks/t_wave.py, run s30): fewer false beats, but 203's fold keeps the cluster rescue
    # off, so bigeminy Se held out does not reach 0.997: not recommended yet
    t_wave_lag_s: tuple = (0.15, 0.45)
    t_wave_rr: float = 0.6
    t_wave_window_s: float = 0.1
    t_wave_size: float = 2.0
    t_wave_cluster: float = 0.9
    t_wave_clear_s: float = 0.1
    t_wave_all: bool = False
    # QRS residual (SignalConfig.rpeak_guard_residual > 0; off by default): a candidate the cluster rescue keeps closer
    # than second_spacing x the local RR to the kept beat before it (cluster_spacing) is added when the peak-to-peak of
    # its window (+-cluster_window_s, mean removed) minus the template (the median of the same windows at the same lag
    # after the kept beats around that beat shaped like it, chosen as for the T-wave template) is at least
    # rpeak_guard_residual x its own peak-to-peak. Without a template (fewer than cluster_min such beats):
    # ``residual_strict`` drops the candidate, otherwise it is added. 0.3 / strict with cluster_close_min 4,
    # cluster_loose_only and cluster_floor 0.15, at cluster_spacing 0.4 (T-wave veto 0.9 / all / 4): chosen by 20 of
    # 22 folds (experiments/rpeaks/residual.py, run s31), the fewest errors on all 22, but more held out than run s30
    # and 203's fold still keeps the cluster rescue off: not recommended yet. The residual alone is a no-op after the veto.
    residual_strict: bool = False
    # with cluster_second: a candidate the cluster keeps only at the closer spacing (under second_spacing x the local
    # RR from a kept neighbour) needs at least this many beats of its shape around it (cluster_min for the others;
    # <= cluster_min: the same). Run s31 chose 4 (of 4 / 6 / 8) with the two options around it
    cluster_close_min: int = 0
    # with cluster_second and cluster_spacing < second_spacing: a candidate only the closer spacing lets in (before
    # its move to the R apex) is added through the cluster rescue only, and counts as closer for cluster_close_min and
    # the residual (False: the move can carry it past second_spacing, and the usual size check then adds it;
    # run s31 found a T wave after a PVC of 208 added that way)
    cluster_loose_only: bool = False
    # noise check (SignalConfig.rpeak_guard_noise > 0; off by default): the last step of guard_rpeaks drops a kept peak
    # whose QRS amplitude is under ``noise_amplitude`` x the reference (the 75th percentile of the ``neighbours`` each
    # side) and whose count of slope-sign changes of the cleaned signal within +-``noise_window_s`` is over
    # rpeak_guard_noise x the median count at the kept peaks (run s32: block21's false beats are mostly peaks in the
    # noise put in place of the blocked beats, 108's and 203's; ``small_noisy``)
    noise_amplitude: float = 0.6
    noise_window_s: float = 0.3
    noise_typical_beats: int = 200  # the record's median count from at most this many kept peaks spread over it
    # > 0: a peak the noise check flags stays when at least cluster_min of the cluster_neighbours kept peaks each side
    # have QRS windows (+-cluster_window_s) correlating this much with its own (the small beats of bigeminy, scaled
    # down in a noisy stretch, repeat their shape; a peak of noise does not). 0: no such exception
    noise_correlation: float = 0.0
    # own T-wave check (SignalConfig.rpeak_guard_own_t > 0; off by default): the last step of guard_rpeaks drops a kept
    # peak under ``own_t_amplitude`` x the reference whose stretch ``own_t_window_s`` after it (mean removed)
    # correlates rpeak_guard_own_t with the same stretch after fewer than cluster_min of the cluster_neighbours kept
    # peaks each side (``without_own_t_wave``)
    own_t_amplitude: float = 0.6
    own_t_window_s: tuple = (0.12, 0.4)
    # PVC-run spacing (SignalConfig.rpeak_second_run > 0; off by default): a second-proposer candidate at least
    # ``run_spacing`` x the local median RR (and min_rr_s) from both kept neighbours but under the usual spacing is
    # added when it passes the slope level, amplitude and width checks and its QRS (+-second_window_s, mean removed)
    # correlates at least rpeak_second_run with at least ``run_min`` of the ``neighbours`` kept peaks each side that are
    # wide (width, ``qrs_shapes``, at least ``run_wide`` x their median): a PVC inside a run of PVCs (run s33: block21's
    # missed PVCs of 203 and 205 sit 0.3-0.5 x the local RR from a kept beat)
    run_spacing: float = 0.35
    run_min: int = 2
    run_wide: float = 1.3
    # blocked-P-wave check (SignalConfig.rpeak_guard_blocked_p > 0; off by default): the last step of guard_rpeaks drops
    # a kept peak (not the first or last) whose QRS amplitude is under ``blocked_p_amplitude`` x the reference (the 75th
    # percentile of the ``neighbours`` each side) in a gap between its kept neighbours of at most ``blocked_p_gap`` x
    # their local median RR (one beat is expected in it, not two as around a small beat of bigeminy), one PR interval
    # before the gap's middle (peak + the record's R-to-P lag within ``blocked_p_mid`` x the gap of the middle, where
    # the blocked beat's QRS would be), shaped like the record's P wave (template as in ``p_wave_like``, without its
    # size gate: ``record_p_wave``; correlation at least rpeak_guard_blocked_p within +-p_wave_shift_s, peak-to-peak
    # within 1 / ``blocked_p_size`` .. ``blocked_p_size`` x the template's), with no P wave of its own a lag before it
    # (correlation under ``blocked_p_own``) and no sharper than ``blocked_p_sharpness`` x the neighbours' median
    # (a QRS's slope). Records without consistent P windows (atrial fibrillation) are left alone. Run s34: of
    # block21's 121 false beats at run s33's point 20 lie within 60 ms of the blocked beat's P-wave position; in 108
    # they match the P template (distance 0.07-0.4 x its norm) but the T wave before them looks like a P wave
    # (correlation 0.57-0.89), so p_wave_like's own-P test (0.6) keeps them (experiments/rpeaks/blocked_p_diag.py).
    # Leave one record out on run s33's point (experiments/rpeaks/blocked_p.py): 0.8 / 0.95 / 0.06 alone changes only
    # 108 (block21 FP -11); with blocked_p_unlike 0.9 / blocked_p_after 0.5 (second grid) 875 errors held out against
    # 895, but Se falls by 1-5 beats per rhythm: not recommended
    blocked_p_amplitude: float = 0.6
    blocked_p_gap: float = 1.5
    blocked_p_mid: float = 0.06
    blocked_p_size: float = 2.0
    blocked_p_own: float = 0.95
    blocked_p_sharpness: float = 1.5
    # > 0: also a small peak anywhere in such a gap whose QRS window (+-cluster_window_s) correlates this much with
    # fewer than cluster_min of the cluster_neighbours kept peaks each side (the noise left in a blocked beat's cut
    # span: 51 of the 121; but an isolated small PVC between two conducted beats is such a peak too). 0: no such branch
    blocked_p_unlike: float = 0.0
    # with blocked_p_unlike: only peaks at least this fraction of the gap after the kept peak before them (0: anywhere).
    # The noise of a cut span lies where the blocked beat's QRS-T was, after the gap's middle (run s34: 0.45-0.75 of
    # the gap); a premature beat between two conducted ones (the small PVCs of 223 the branch dropped) lies before it.
    # Added after run s34's first grid's held-out figures were seen
    blocked_p_after: float = 0.0
    # P-wave check's gap exception (SignalConfig.rpeak_guard_p_wave_gap): True takes the neighbours and the local RR from
    # the peaks the check keeps (splits_two_beats ``beats``); False from every peak, where the blocked P waves of 2:1
    # block, proposed in numbers (108), make the local RR short and pass as beats (run s34: block21 FP 121 -> 664).
    # Added after that grid's figures were seen
    p_wave_gap_kept: bool = False


GUARD = GuardConstants()
_GUARD_NEIGHBOURS = GUARD.neighbours
_GUARD_PERCENTILE = GUARD.percentile
_QRS_HALF_WIDTH_S = GUARD.qrs_half_width_s
_SEARCHBACK_ROUNDS = GUARD.searchback_rounds


def qrs_amplitudes(cleaned, peaks, fs, half_width_s=_QRS_HALF_WIDTH_S) -> np.ndarray:
    """Peak-to-peak amplitude of ``cleaned`` within ``half_width_s`` of each peak (float64, (n,))."""
    x = np.asarray(cleaned, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    half = max(1, int(round(half_width_s * float(fs))))
    index = np.clip(peaks[:, None] + np.arange(-half, half + 1)[None, :], 0, x.shape[0] - 1)
    window = x[index]
    return window.max(axis=1) - window.min(axis=1) if peaks.size else np.zeros(0)


def qrs_shapes(cleaned, peaks, fs, constants: GuardConstants | None = None) -> tuple:
    """``(amplitude, sharpness, width)`` of each peak (float64, (n,) each): the QRS amplitude
    (``qrs_amplitudes``), the largest absolute slope within the same +-``qrs_half_width_s`` (mV/s)
    over that amplitude (1/s: scale-free, high for a QRS, low for a P or T wave), and the seconds
    within +-``shape_half_width_s`` where the signal minus its window mean exceeds half its largest
    absolute deviation there (QRS duration-like; scale-free)."""
    constants = constants or GUARD
    x = np.asarray(cleaned, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    fs = float(fs)
    if peaks.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    half = max(1, int(round(constants.qrs_half_width_s * fs)))
    window = x[np.clip(peaks[:, None] + np.arange(-half, half + 1)[None, :], 0, x.shape[0] - 1)]
    amplitude = window.max(axis=1) - window.min(axis=1)
    slope = np.abs(np.diff(window, axis=1)).max(axis=1) * fs
    sharpness = slope / np.maximum(amplitude, 1e-12)
    wide = max(1, int(round(constants.shape_half_width_s * fs)))
    around = x[np.clip(peaks[:, None] + np.arange(-wide, wide + 1)[None, :], 0, x.shape[0] - 1)]
    deviation = np.abs(around - around.mean(axis=1, keepdims=True))
    width = np.count_nonzero(deviation > 0.5 * deviation.max(axis=1, keepdims=True), axis=1) / fs
    return amplitude, sharpness, width


def qrs_windows(cleaned, peaks, fs, half_width_s) -> np.ndarray:
    """Each peak's QRS window of ``cleaned`` (+-``half_width_s``), mean removed, unit norm (float64, (n, w))."""
    x = np.asarray(cleaned, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    half = max(1, int(round(half_width_s * float(fs))))
    w = x[np.clip(peaks[:, None] + np.arange(-half, half + 1)[None, :], 0, x.shape[0] - 1)]
    w = w - w.mean(axis=1, keepdims=True)
    return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)


def cluster_like(positions, amplitude, windows, at, at_amplitude, at_windows, correlation,
                 constants: GuardConstants | None = None, sharpness=None, at_sharpness=None) -> np.ndarray:
    """Boolean mask over the peaks ``at`` (with their QRS amplitudes and unit ``qrs_windows``): the ones the cluster
    rescue keeps (``GuardConstants.cluster_*``). A peak's morphology cluster: the kept peaks (sorted ``positions``,
    their ``amplitude`` and ``windows``) among the ``cluster_neighbours`` each side whose windows correlate at least
    ``correlation`` with its own; at least ``cluster_min`` of them, an amplitude of at least ``cluster_amplitude`` x
    the cluster's 75th percentile and, when ``cluster_sharpness`` > 0 and sharpness (``qrs_shapes``) is given, a
    sharpness of at least that x the cluster's median."""
    constants = constants or GUARD
    at = np.asarray(at, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    if at.size == 0 or positions.size == 0:
        return np.zeros(at.size, bool)
    n = constants.cluster_neighbours
    index = np.searchsorted(positions, at)[:, None] + np.arange(-n, n)[None, :]
    valid = (index >= 0) & (index < positions.size)
    index = np.clip(index, 0, positions.size - 1)
    similar = valid & (np.einsum("ij,ikj->ik", at_windows, windows[index]) >= correlation)
    reference = _row_nanpercentile(np.where(similar, amplitude[index], np.nan), constants.percentile)
    with np.errstate(invalid="ignore"):
        keep = (similar.sum(axis=1) >= constants.cluster_min) & (at_amplitude >= constants.cluster_amplitude * reference)
        if constants.cluster_sharpness > 0 and sharpness is not None and at_sharpness is not None:
            sharp_reference = _row_nanpercentile(np.where(similar, sharpness[index], np.nan), 50.0)
            keep &= at_sharpness >= constants.cluster_sharpness * sharp_reference
    return keep


def _after_beat_templates(kept, at, x, fs, offsets, constants, lag_range=True) -> tuple:
    """For the peaks ``at``: (their own windows at ``offsets`` (mean removed), and for each a template or None): the
    median of the windows at the same lag after the kept peaks around the kept peak before it that are shaped like
    that peak (QRS correlation at least ``t_wave_cluster``, ``cluster_neighbours`` each side) and followed by no kept
    peak up to the lag + ``t_wave_clear_s`` (at least ``cluster_min`` of them). With ``lag_range`` only the peaks
    within ``t_wave_lag_s`` and under ``t_wave_rr`` x the local median RR get a template (the T-wave veto)."""
    templates = [None] * at.size
    j = np.searchsorted(kept, at) - 1                      # the kept peak before each (at itself not counted)
    lag = at - kept[np.clip(j, 0, kept.size - 1)]
    valid = j >= 0
    if lag_range:
        lo, hi = (v * fs for v in constants.t_wave_lag_s)
        valid &= (lag >= lo) & (lag <= hi)
        # the local median RR only where the lag is in range (t_wave_all asks it for every kept peak)
        inside = np.flatnonzero(valid)
        local = _neighbour_percentile(kept[1:], np.diff(kept).astype(np.float64), at[inside], constants.neighbours, 50.0)
        valid[inside] = lag[inside] < constants.t_wave_rr * local
    which = np.flatnonzero(valid)

    def window(centres):
        w = x[np.clip(centres[:, None] + offsets[None, :], 0, x.size - 1)]
        return w - w.mean(axis=1, keepdims=True)

    own = window(at)
    if which.size == 0:
        return own, templates
    clear = int(round(constants.t_wave_clear_s * fs))
    reach = constants.cluster_neighbours
    need = np.unique(np.clip(j[which][:, None] + np.arange(-reach, reach + 1)[None, :], 0, kept.size - 1))
    qrs = np.zeros((kept.size, 2 * max(1, int(round(constants.cluster_window_s * fs))) + 1))
    qrs[need] = qrs_windows(x, kept[need], fs, constants.cluster_window_s)    # only where a template needs them
    following = np.append(kept[1:], np.iinfo(np.int64).max)     # each kept peak's next kept peak
    itself = np.where(np.isin(at, kept), j + 1, -1)              # an at peak's own index among the kept ones
    for i in which:
        p = j[i]
        around = np.arange(max(0, p - reach), min(kept.size, p + reach + 1))
        around = around[(around != p) & (around != itself[i])]
        members = around[(qrs[around] @ qrs[p] >= constants.t_wave_cluster)
                         & (following[around] > kept[around] + lag[i] + clear)]
        if members.size < constants.cluster_min:
            continue
        template = np.median(window(kept[members] + lag[i]), axis=0)
        templates[i] = template - template.mean()
    return own, templates


def t_wave_like(kept, at, cleaned, fs, correlation, constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask over the peaks ``at``: the ones that look like the T wave of the kept beat before them
    (``SignalConfig.rpeak_guard_t_wave`` = ``correlation``, ``GuardConstants.t_wave_*``). ``kept``: the sorted kept
    peaks (an ``at`` peak among them is not its own context). For each peak, ``p`` is the last kept peak before it and
    ``lag`` the distance; within ``t_wave_lag_s`` and under ``t_wave_rr`` x the local median RR, the template is the
    median of the windows at the same lag after the kept peaks around ``p`` shaped like it (QRS correlation at least
    ``t_wave_cluster``) and followed by no kept peak up to the lag + ``t_wave_clear_s``."""
    constants = constants or GUARD
    x = np.asarray(cleaned, dtype=np.float64)
    kept = np.asarray(kept, dtype=np.int64)
    at = np.asarray(at, dtype=np.int64)
    out = np.zeros(at.size, bool)
    if at.size == 0 or kept.size < 3:
        return out
    fs = float(fs)
    half = max(1, int(round(constants.t_wave_window_s * fs)))
    own, templates = _after_beat_templates(kept, at, x, fs, np.arange(-half, half + 1), constants)
    for i, template in enumerate(templates):
        if template is None:
            continue
        norm = np.linalg.norm(template) * np.linalg.norm(own[i])
        if norm <= 0:
            continue
        out[i] = ((own[i] @ template) / norm >= correlation
                  and np.ptp(own[i]) <= constants.t_wave_size * np.ptp(template))
    return out


def qrs_residual(kept, at, cleaned, fs, fraction, constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask over the peaks ``at``: the ones with a QRS of their own left after subtracting what follows the
    kept beat before them (``SignalConfig.rpeak_guard_residual`` = ``fraction``, ``GuardConstants.residual_strict``):
    the peak-to-peak of the window (+-``cluster_window_s``, mean removed) minus the median of the windows at the
    same lag after the kept beats shaped like that beat (``_after_beat_templates``, any lag) is at least ``fraction``
    x the window's own. Without a template: False with ``residual_strict``, else True."""
    constants = constants or GUARD
    x = np.asarray(cleaned, dtype=np.float64)
    kept = np.asarray(kept, dtype=np.int64)
    at = np.asarray(at, dtype=np.int64)
    if at.size == 0 or kept.size < 3:
        return np.ones(at.size, bool)
    fs = float(fs)
    half = max(1, int(round(constants.cluster_window_s * fs)))
    own, templates = _after_beat_templates(kept, at, x, fs, np.arange(-half, half + 1), constants, lag_range=False)
    out = np.full(at.size, not constants.residual_strict)
    for i, template in enumerate(templates):
        if template is not None:
            out[i] = np.ptp(own[i] - template) >= fraction * np.ptp(own[i])
    return out


def guard_keep(peaks, amplitude, sharpness, width, guard, constants: GuardConstants | None = None,
               deep: float = 0.0, windows=None, cluster: float = 0.0) -> np.ndarray:
    """The guard's amplitude check with the shape rescue (``GuardConstants``), two passes: boolean
    mask of the peaks kept (all of them when none would be). ``deep`` > 0 (``SignalConfig.rpeak_rescue_deep``):
    a peak down to ``deep`` x the reference is also rescued when it is sharper and narrower than the
    QRS complexes around it (``GuardConstants.deep_sharpness``, ``deep_width``). ``cluster`` > 0
    (``SignalConfig.rpeak_rescue_cluster``, with ``windows`` from ``qrs_windows``): a peak still dropped but over
    ``cluster_floor`` x the reference is rescued when its morphology cluster says so (``cluster_like``)."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    keep = np.ones(peaks.size, bool)
    for _ in range(2):
        if keep.sum() < 3:
            break
        reference = _neighbour_percentile(peaks[keep], amplitude[keep], peaks, constants.neighbours, constants.percentile)
        large = amplitude >= guard * reference
        new = large
        if constants.rescue_amplitude < guard and large.sum() >= 3:
            sharp_ref = _neighbour_percentile(peaks[large], sharpness[large], peaks, constants.neighbours, 50.0)
            width_ref = _neighbour_percentile(peaks[large], width[large], peaks, constants.neighbours, 50.0)
            qrs_like = ((amplitude >= constants.rescue_amplitude * reference)
                        & (sharpness >= constants.rescue_sharpness * sharp_ref)
                        & (width <= constants.rescue_width * width_ref))
            if 0 < deep < constants.rescue_amplitude:
                qrs_like |= ((amplitude >= deep * reference)
                             & (sharpness >= constants.deep_sharpness * sharp_ref)
                             & (width <= constants.deep_width * width_ref))
            new = large | qrs_like
        for _ in range(constants.cluster_rounds if cluster > 0 and windows is not None else 0):
            low = np.flatnonzero(~new & (amplitude >= constants.cluster_floor * reference))
            if low.size == 0 or not new.any():
                break
            rescued = cluster_like(peaks[new], amplitude[new], windows[new], peaks[low], amplitude[low], windows[low],
                                   cluster, constants, sharpness[new], sharpness[low])
            if not rescued.any():
                break
            new = new.copy()
            new[low[rescued]] = True
        if not new.any():
            break
        keep = new
    return keep


def _neighbour_percentile(positions, values, queries, neighbours=_GUARD_NEIGHBOURS, q=_GUARD_PERCENTILE):
    """For each query position: the ``q``-th percentile of ``values`` at the ``neighbours`` sorted
    ``positions`` before it and the ``neighbours`` from it on (fewer at the edges)."""
    positions = np.asarray(positions, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    queries = np.asarray(queries, dtype=np.int64)
    if values.size == 0:
        return np.full(queries.shape, np.nan)
    padded = np.concatenate([np.full(neighbours, np.nan), values, np.full(neighbours, np.nan)])
    start = np.searchsorted(positions, queries, side="left")  # index into padded of the window start
    return _row_nanpercentile(padded[start[:, None] + np.arange(2 * neighbours)[None, :]], q)


def _row_nanpercentile(window, q) -> np.ndarray:
    """``np.nanpercentile(window, q, axis=1)`` (linear interpolation), vectorised: numpy's loops
    over the rows, which costs more than the detector on a short record."""
    window = np.sort(window, axis=1)  # NaN last
    count = np.count_nonzero(~np.isnan(window), axis=1)
    rank = np.maximum(count - 1, 0) * (q / 100.0)
    low = np.floor(rank).astype(np.int64)
    high = np.minimum(low + 1, np.maximum(count - 1, 0))
    rows = np.arange(window.shape[0])
    value = window[rows, low] + (rank - low) * (window[rows, high] - window[rows, low])
    return np.where(count > 0, value, np.nan)


def guard_rpeaks(peaks, cleaned, detect_signal, fs, config: SignalConfig = SignalConfig()) -> np.ndarray:
    """The detector's guard against rhythms it was not tuned on (sorted unique int64 peaks out).

    1. **Physiological check** (``config.rpeak_guard_amplitude`` > 0): a peak is dropped when its
       QRS amplitude (peak-to-peak of ``cleaned`` within 50 ms of R) is under
       ``rpeak_guard_amplitude`` times the reference, the 75th percentile of the amplitudes of the
       8 peaks on each side. The reference is computed twice, the second time from the peaks the
       first pass kept, so a run of false detections (noise in a pause) does not lower it. This
       removes non-conducted P waves (2:1 AV block), noise in pauses and T waves, which are far
       smaller than the QRS complexes around them; a wide ventricular beat keeps its amplitude.
       **Shape rescue** (``GUARD.rescue_*``): a peak under the threshold is kept when it is over
       ``rescue_amplitude`` x the reference and as sharp and no wider than the QRS complexes around it
       (``qrs_shapes``, ``guard_keep``), so the small normal beats between large ectopic ones in
       bigeminy or trigeminy stay. The in-graph detector (``serving.edge``) runs the same check.
    2. **Search back** (``config.rpeak_searchback`` > 0): in every RR gap longer than
       ``rpeak_searchback`` times the local median RR (9 intervals) the strongest point of the
       detector's feature (the smoothed absolute slope of ``detect_signal``, as the ``neurokit``
       detector uses) at least ``min_rr_s`` from both ends becomes a candidate, is moved to the R
       apex, and is kept when its QRS amplitude reaches ``rpeak_searchback_amplitude`` times the
       reference of the kept peaks around it. Up to three rounds (several missed beats in a gap).
       **Shape-checked search back** (``config.rpeak_searchback_shape`` > 0, off by default; Python
       path only, the end-to-end graph refuses it): gaps from ``rpeak_searchback_shape`` times the
       local median are searched too, and a candidate is also kept when it reaches
       ``GUARD.searchback_shape_amplitude`` x the reference and is shaped like the kept QRS complexes
       around it (``qrs_shapes``: sharpness and width against their neighbour medians).
       **Search back in irregular rhythm** (``config.rpeak_searchback_irregular`` > 0, off by default;
       Python path only): where the 9 RR intervals around a gap spread (interquartile range at least
       ``GUARD.searchback_irregular_spread`` x their median), gaps from that x the local median are searched.
       **Deep rescue** (``config.rpeak_rescue_deep`` > 0, off by default; Python path only): see ``guard_keep``.
       **Cluster rescue** (``config.rpeak_rescue_cluster`` > 0, off by default; Python path only): a dropped peak
       whose QRS correlates with kept peaks around it and is not too small against them stays (``cluster_like``).
       **P-wave check** (``config.rpeak_guard_p_wave`` > 0, off by default; Python path only): after the
       amplitude check, peaks shaped and sized like the record's (large) P wave with no P wave of their own
       before them are dropped (``p_wave_like``); with ``config.rpeak_guard_p_wave_gap`` > 0 not those between two kept
       peaks over that x the local median RR apart (``splits_two_beats``).
    3. **Second proposer** (``config.rpeak_second_proposer`` > 0, off by default; Python path only): the beats
       neurokit2's threshold logic never proposed, taken from the local maxima of the smoothed |slope| when
       they are spaced, sized and shaped like the kept beats around them (``second_proposer``).
       **T-wave veto** (``config.rpeak_guard_t_wave`` > 0, off by default; Python path only): a candidate shaped like
       the T wave of the kept beat before it is not added (``t_wave_like``); with ``GUARD.t_wave_all`` the same
       check drops kept peaks, after the second proposer.
       **QRS residual** (``config.rpeak_guard_residual`` > 0, off by default; Python path only): a candidate only the
       cluster rescue's closer spacing lets in is added when it leaves a QRS after subtracting what follows the beats
       shaped like the kept beat before it (``qrs_residual``; ``GUARD.residual_strict``, ``cluster_close_min``,
       ``cluster_loose_only``).
    4. **Wide-peak check** (``config.rpeak_guard_wide`` > 0, off by default; Python path only): peaks small and wide
       against the peaks around them are dropped (``small_wide``).
       **Noise check** (``config.rpeak_guard_noise`` > 0, off by default; Python path only): peaks small against the
       peaks around them in a stretch with more slope-sign changes than the record's beats have are dropped
       (``small_noisy``).
       **Blocked-P-wave check** (``config.rpeak_guard_blocked_p`` > 0, off by default; Python path only): small peaks
       one PR interval before the middle of the gap between their kept neighbours, shaped like the record's P wave
       (and without one of their own before them) or blunt and wide, are dropped (``blocked_p_wave``).
    """
    peaks = np.unique(np.asarray(peaks, dtype=np.int64))
    cleaned = np.asarray(cleaned, dtype=np.float64)
    fs = float(fs)
    guard = float(config.rpeak_guard_amplitude)
    amplitude = None
    if guard > 0 and peaks.size >= 3:
        amplitude, sharpness, width = qrs_shapes(cleaned, peaks, fs)
        cluster = float(config.rpeak_rescue_cluster)
        windows = qrs_windows(cleaned, peaks, fs, GUARD.cluster_window_s) if cluster > 0 else None
        keep = guard_keep(peaks, amplitude, sharpness, width, guard, deep=float(config.rpeak_rescue_deep),
                          windows=windows, cluster=cluster)
        peaks, amplitude = peaks[keep], amplitude[keep]
        if config.rpeak_guard_p_wave > 0 and peaks.size >= 3:
            keep = ~p_wave_like(peaks, amplitude, cleaned, fs, float(config.rpeak_guard_p_wave))
            if config.rpeak_guard_p_wave_gap > 0:
                keep |= splits_two_beats(peaks, float(config.rpeak_guard_p_wave_gap),
                                         beats=keep if GUARD.p_wave_gap_kept else None)
            peaks, amplitude = peaks[keep], amplitude[keep]
    ratio = float(config.rpeak_searchback)
    detect_signal = np.asarray(detect_signal, dtype=np.float64)
    second = float(config.rpeak_second_proposer)
    feature = slope_feature(detect_signal, fs) if second > 0 and peaks.size >= 3 else None
    if ratio > 0 and peaks.size >= 3:
        peaks = _search_back(peaks, cleaned, detect_signal, fs, config, amplitude, feature)
    if second > 0 and peaks.size >= 3:
        peaks = second_proposer(peaks, cleaned, detect_signal, fs, config, feature)
    if config.rpeak_guard_t_wave > 0 and GUARD.t_wave_all and peaks.size >= 3:
        peaks = peaks[~t_wave_like(peaks, peaks, cleaned, fs, float(config.rpeak_guard_t_wave))]
    if config.rpeak_guard_wide > 0 and peaks.size >= 3:
        peaks = peaks[~small_wide(peaks, cleaned, fs, float(config.rpeak_guard_wide))]
    if config.rpeak_guard_noise > 0 and peaks.size >= 3:
        peaks = peaks[~small_noisy(peaks, cleaned, fs, float(config.rpeak_guard_noise))]
    if config.rpeak_guard_own_t > 0 and peaks.size >= 3:
        peaks = peaks[~without_own_t_wave(peaks, cleaned, fs, float(config.rpeak_guard_own_t))]
    if config.rpeak_guard_blocked_p > 0 and peaks.size >= 3:
        peaks = peaks[~blocked_p_wave(peaks, cleaned, fs, float(config.rpeak_guard_blocked_p))]
    return peaks


def splits_two_beats(peaks, ratio, constants: GuardConstants | None = None, beats=None) -> np.ndarray:
    """Boolean mask of the sorted ``peaks`` (not the first or last) whose two neighbours lie over ``ratio`` x the local
    median RR (the ``neighbours`` intervals each side) apart: a beat between two others, where a P wave taken for a
    beat lies a PR interval before its own QRS, in a gap of one RR (``SignalConfig.rpeak_guard_p_wave_gap``: the P-wave
    check spares these; run s34: 108's scaled normal beats of bigeminy look like its P wave). ``beats`` (a mask over
    ``peaks``, ``GuardConstants.p_wave_gap_kept``): the neighbours and the local RR from those only (the peaks the check
    keeps), so that many P waves among the peaks (2:1 block) do not make the local RR short."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    out = np.zeros(peaks.size, bool)
    if peaks.size < 3:
        return out
    if beats is None:
        local = _neighbour_percentile(peaks[1:], np.diff(peaks).astype(np.float64), peaks[1:-1], constants.neighbours,
                                      50.0)
        out[1:-1] = peaks[2:] - peaks[:-2] > ratio * local
        return out
    kept = peaks[np.asarray(beats, bool)]
    if kept.size < 3:
        return out
    local = _neighbour_percentile(kept[1:], np.diff(kept).astype(np.float64), peaks, constants.neighbours, 50.0)
    j = np.searchsorted(kept, peaks)                      # the first kept peak at or after each peak
    before = kept[np.clip(j - 1, 0, kept.size - 1)]
    after_index = np.where((j < kept.size) & (kept[np.clip(j, 0, kept.size - 1)] == peaks), j + 1, j)
    after = kept[np.clip(after_index, 0, kept.size - 1)]
    inside = (j > 0) & (after_index < kept.size)
    out[inside] = (after - before)[inside] > ratio * local[inside]
    return out


def record_p_wave(peaks, cleaned, fs, constants: GuardConstants | None = None, amplitude=None):
    """The record's P wave seen from its confident peaks (QRS amplitude at least ``p_wave_confident`` x the 75th
    percentile, at most ``p_wave_template_beats`` spread over the record), as ``p_wave_like`` finds it but without its
    size gate: ``(lag, template)`` -- the R-to-P-apex lag in samples and the median P window (+-p_wave_half_width_s,
    mean removed) -- or None where there are too few confident peaks, the largest wave sits at an end of
    ``p_wave_lag_s`` or the P windows are not consistent (median correlation with the template under
    ``p_wave_consistency``: atrial fibrillation). ``amplitude``: the peaks' ``qrs_amplitudes`` when known."""
    constants = constants or GUARD
    x = np.asarray(cleaned, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    if amplitude is None:
        amplitude = qrs_amplitudes(x, peaks, fs, constants.qrs_half_width_s)
    confident = peaks[amplitude >= constants.p_wave_confident * np.percentile(amplitude, constants.percentile)]
    if confident.size < 2 * constants.neighbours:
        return None
    confident = confident[np.linspace(0, confident.size - 1,
                                      min(confident.size, constants.p_wave_template_beats)).astype(int)]
    lo, hi = (int(round(v * float(fs))) for v in constants.p_wave_lag_s)
    before = np.median(x[np.clip(confident[:, None] + np.arange(-hi, -lo + 1)[None, :], 0, x.size - 1)], axis=0)
    lag = hi - int(np.argmax(np.abs(before - np.median(before))))
    if not lo < lag < hi:
        return None
    half = max(1, int(round(constants.p_wave_half_width_s * float(fs))))
    waves = x[np.clip((confident - lag)[:, None] + np.arange(-half, half + 1)[None, :], 0, x.size - 1)]
    waves = waves - waves.mean(axis=1, keepdims=True)
    template = np.median(waves, axis=0)
    template = template - template.mean()
    norm = float(np.linalg.norm(template))
    if norm <= 0:
        return None
    consistency = np.median((waves @ template) / np.maximum(np.linalg.norm(waves, axis=1), 1e-12) / norm)
    if consistency < constants.p_wave_consistency:
        return None
    return lag, template


def blocked_p_wave(peaks, cleaned, fs, correlation, constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask of the kept ``peaks`` that look like the P wave of a blocked beat
    (``SignalConfig.rpeak_guard_blocked_p`` = ``correlation``, ``GuardConstants.blocked_p_*``): small against the peaks
    around them, in a gap between their kept neighbours of about one local RR, one R-to-P lag before its middle, shaped
    and sized like the record's P wave (``record_p_wave``), with no P wave of their own before them and no sharper than
    a QRS around them. A small true beat of bigeminy splits a gap of two local RR and has its own P wave before it.
    With ``blocked_p_unlike`` > 0 also the small peaks anywhere in such a gap shaped like few kept peaks around them."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    x = np.asarray(cleaned, dtype=np.float64)
    out = np.zeros(peaks.size, bool)
    if peaks.size < 3:
        return out
    amplitude = qrs_amplitudes(x, peaks, fs, constants.qrs_half_width_s)
    reference = _neighbour_percentile(peaks, amplitude, peaks, constants.neighbours, constants.percentile)
    inner = np.arange(1, peaks.size - 1)
    gap = (peaks[inner + 1] - peaks[inner - 1]).astype(np.float64)
    middle = 0.5 * (peaks[inner + 1] + peaks[inner - 1])
    # the gap is one local RR (the kept beats' median around it): a beat is expected in its middle, not two (a small
    # true beat of bigeminy splits a gap of two local RR)
    local = _neighbour_percentile(peaks[1:], np.diff(peaks).astype(np.float64), peaks[inner], constants.neighbours,
                                  50.0)
    in_gap = ((amplitude[inner] < constants.blocked_p_amplitude * reference[inner])
              & (gap <= constants.blocked_p_gap * local))
    if not in_gap.any():
        return out
    p_wave = record_p_wave(peaks, x, fs, constants, amplitude)
    if p_wave is None:
        return out
    lag, template = p_wave
    if constants.blocked_p_unlike > 0 and in_gap.any():
        # in such a gap (from blocked_p_after of it on): a peak shaped like fewer than cluster_min of the kept peaks
        # around it (the noise left in a blocked beat's span; a small true beat repeats the shape of its kind)
        late = in_gap & (peaks[inner] - peaks[inner - 1] >= constants.blocked_p_after * gap)
        some = inner[late]
        n = constants.cluster_neighbours
        index = some[:, None] + np.concatenate([np.arange(-n, 0), np.arange(1, n + 1)])[None, :]
        valid = (index >= 0) & (index < peaks.size)
        index = np.clip(index, 0, peaks.size - 1)
        needed = np.unique(np.concatenate([some, index.ravel()]))
        windows_ = qrs_windows(x, peaks[needed], fs, constants.cluster_window_s)
        similar = valid & (np.einsum("ij,ikj->ik", windows_[np.searchsorted(needed, some)],
                                     windows_[np.searchsorted(needed, index)]) >= constants.blocked_p_unlike)
        out[some] = similar.sum(axis=1) < constants.cluster_min
    which = inner[in_gap & (np.abs(peaks[inner] + lag - middle) <= constants.blocked_p_mid * gap)]
    if which.size == 0:
        return out
    # sharpness (qrs_shapes) only where the check needs it: the candidates and the kept peaks around them
    n = constants.neighbours
    needed = np.unique(np.clip(which[:, None] + np.arange(-n, n + 1)[None, :], 0, peaks.size - 1))
    sharpness = np.full(peaks.size, np.nan)
    sharpness[needed] = qrs_shapes(x, peaks[needed], fs, constants)[1]
    sharp_reference = _neighbour_percentile(peaks, sharpness, peaks[which], n, 50.0)
    half = template.size // 2
    shift = int(round(constants.p_wave_shift_s * float(fs)))
    norm = float(np.linalg.norm(template))

    def windows(at):   # (n, 2 shift + 1, size): the mean-removed windows at each shift
        w = x[np.clip(at[:, None] + np.arange(-half - shift, half + shift + 1)[None, :], 0, x.size - 1)]
        w = np.lib.stride_tricks.sliding_window_view(w, template.size, axis=1)
        return w - w.mean(axis=2, keepdims=True)

    def correlations(w):
        return (w @ template) / np.maximum(np.linalg.norm(w, axis=2), 1e-12) / norm

    w = windows(peaks[which])
    c = correlations(w)
    best = c.argmax(axis=1)
    size = np.ptp(w[np.arange(which.size), best], axis=1) / np.ptp(template)
    own = correlations(windows(peaks[which] - lag)).max(axis=1)
    out[which] |= ((c.max(axis=1) >= correlation) & (size <= constants.blocked_p_size)
                   & (size >= 1.0 / constants.blocked_p_size) & (own < constants.blocked_p_own)
                   & (sharpness[which] <= constants.blocked_p_sharpness * sharp_reference))
    return out


def without_own_t_wave(peaks, cleaned, fs, correlation, constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask of the peaks that are small against the peaks around them and have no T wave of their own
    (``SignalConfig.rpeak_guard_own_t`` = ``correlation``, ``GuardConstants.own_t_*``): QRS amplitude under
    ``own_t_amplitude`` x the 75th percentile of the ``neighbours`` each side, and the stretch ``own_t_window_s`` after
    the peak (mean removed) correlating at least ``correlation`` with the same stretch after fewer than ``cluster_min``
    of the ``cluster_neighbours`` kept peaks each side. A beat repeats the T wave of its kind; a blocked P wave or a
    peak of noise is followed by what the next beat brings."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    x = np.asarray(cleaned, dtype=np.float64)
    if peaks.size < 3:
        return np.zeros(peaks.size, bool)
    amplitude = qrs_amplitudes(x, peaks, fs, constants.qrs_half_width_s)
    reference = _neighbour_percentile(peaks, amplitude, peaks, constants.neighbours, constants.percentile)
    which = np.flatnonzero(amplitude < constants.own_t_amplitude * reference)
    out = np.zeros(peaks.size, bool)
    if which.size == 0:
        return out
    lo, hi = (int(round(v * float(fs))) for v in constants.own_t_window_s)
    n = constants.cluster_neighbours
    index = which[:, None] + np.concatenate([np.arange(-n, 0), np.arange(1, n + 1)])[None, :]
    valid = (index >= 0) & (index < peaks.size)
    index = np.clip(index, 0, peaks.size - 1)
    needed = np.unique(np.concatenate([which, index.ravel()]))
    w = x[np.clip(peaks[needed][:, None] + np.arange(lo, hi + 1)[None, :], 0, x.size - 1)]
    w = w - w.mean(axis=1, keepdims=True)
    w = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    at = np.searchsorted(needed, which)
    similar = valid & (np.einsum("ij,ikj->ik", w[at], w[np.searchsorted(needed, index)]) >= correlation)
    out[which] = similar.sum(axis=1) < constants.cluster_min
    return out


def sign_changes(x, at, half) -> np.ndarray:
    """Slope-sign changes of ``x`` at the samples within (``at`` - ``half``, ``at`` + ``half``] of each of ``at``
    (float64, one per peak)."""
    x = np.asarray(x, dtype=np.float64)
    at = np.asarray(at, dtype=np.int64)
    w = x[np.clip(at[:, None] + np.arange(-half, half + 2)[None, :], 0, x.size - 1)]
    d = np.sign(np.diff(w, axis=1))
    return np.sum(d[:, 1:] * d[:, :-1] < 0, axis=1).astype(np.float64)


def small_noisy(peaks, cleaned, fs, ratio, constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask of the peaks that are small against the peaks around them and sit in noise
    (``SignalConfig.rpeak_guard_noise`` = ``ratio``, ``GuardConstants.noise_*``): QRS amplitude under ``noise_amplitude``
    x the 75th percentile of the ``neighbours`` each side, and slope-sign changes of ``cleaned`` within
    +-``noise_window_s`` over ``ratio`` x their median at ``peaks`` (at most ``noise_typical_beats`` spread over the
    record: its typical beat). A noise burst
    has many sign changes; a small beat in a clean stretch has as few as the others. With ``noise_correlation`` > 0
    a flagged peak shaped like at least ``cluster_min`` of the ``cluster_neighbours`` kept peaks each side stays."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    if peaks.size < 3:
        return np.zeros(peaks.size, bool)
    amplitude = qrs_amplitudes(cleaned, peaks, fs, constants.qrs_half_width_s)
    reference = _neighbour_percentile(peaks, amplitude, peaks, constants.neighbours, constants.percentile)
    flagged = amplitude < constants.noise_amplitude * reference
    which = np.flatnonzero(flagged)
    if which.size == 0:
        return flagged
    half = max(1, int(round(constants.noise_window_s * float(fs))))
    # the record's typical count: at most noise_typical_beats kept peaks spread over the record
    spread = peaks[np.linspace(0, peaks.size - 1, min(peaks.size, constants.noise_typical_beats)).astype(int)]
    typical = max(float(np.median(sign_changes(cleaned, spread, half))), 1.0)
    flagged[which] = sign_changes(cleaned, peaks[which], half) > ratio * typical
    which = np.flatnonzero(flagged)
    if constants.noise_correlation > 0 and which.size:
        n = constants.cluster_neighbours
        index = which[:, None] + np.concatenate([np.arange(-n, 0), np.arange(1, n + 1)])[None, :]
        valid = (index >= 0) & (index < peaks.size)
        index = np.clip(index, 0, peaks.size - 1)
        windows = np.zeros((peaks.size, 2 * max(1, int(round(constants.cluster_window_s * float(fs)))) + 1))
        used = np.zeros(peaks.size, bool)
        used[which] = used[index.ravel()] = True
        windows[used] = qrs_windows(cleaned, peaks[used], fs, constants.cluster_window_s)   # only the rows read
        similar = valid & (np.einsum("ij,ikj->ik", windows[which], windows[index]) >= constants.noise_correlation)
        flagged[which[similar.sum(axis=1) >= constants.cluster_min]] = False
    return flagged


def small_wide(peaks, cleaned, fs, ratio, constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask of the peaks that are small and wide against the peaks around them (``SignalConfig.rpeak_guard_wide``
    = ``ratio``, ``GuardConstants.wide_amplitude``): QRS amplitude under ``wide_amplitude`` x the 75th percentile of
    the ``neighbours`` each side and width (``qrs_shapes``) over ``ratio`` x their median. Where every peak is wide
    (bundle branch block) the median is wide too; a PVC is wide but not small."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    if peaks.size < 3:
        return np.zeros(peaks.size, bool)
    amplitude, _, width = qrs_shapes(cleaned, peaks, fs, constants)
    reference = _neighbour_percentile(peaks, amplitude, peaks, constants.neighbours, constants.percentile)
    width_reference = _neighbour_percentile(peaks, width, peaks, constants.neighbours, 50.0)
    return (amplitude < constants.wide_amplitude * reference) & (width > ratio * width_reference)


def slope_feature(detect_signal, fs) -> np.ndarray:
    """The ``neurokit`` detector's feature: ``|gradient|`` of ``detect_signal`` summed over 0.1 s, centred on
    each sample (float64, same length). The search back and the second proposer pick their candidates on it."""
    x = np.asarray(detect_signal, dtype=np.float64)
    smooth = max(1, int(round(0.1 * float(fs))))
    if x.size < 2 or x.size < smooth:
        cumulative = np.concatenate([[0.0], np.cumsum(np.abs(np.gradient(x)))])
        feature = cumulative[smooth:] - cumulative[:-smooth]   # boxcar sum over 0.1 s from each sample
        return np.concatenate([np.zeros(smooth // 2), feature, np.zeros(smooth - smooth // 2 - 1)])  # centred
    # the same numbers as above (np.gradient's central and one-sided differences, cumsum, boxcar differences) in
    # preallocated arrays: no temporary per step on a whole record
    cumulative = np.empty(x.size + 1)
    cumulative[0] = 0.0
    slope = cumulative[1:]
    np.subtract(x[2:], x[:-2], out=slope[1:-1])
    np.divide(slope[1:-1], 2.0, out=slope[1:-1])
    slope[0], slope[-1] = x[1] - x[0], x[-1] - x[-2]
    np.abs(slope, out=slope)
    np.cumsum(slope, out=slope)
    feature = np.zeros(x.size)
    np.subtract(cumulative[smooth:], cumulative[:-smooth], out=feature[smooth // 2:smooth // 2 + x.size + 1 - smooth])
    return feature


def second_proposer(peaks, cleaned, detect_signal, fs, config: SignalConfig = SignalConfig(), feature=None,
                    constants: GuardConstants | None = None) -> np.ndarray:
    """``peaks`` (sorted kept peaks) with the beats a second, differently built proposer finds and neurokit2's
    threshold logic did not (``SignalConfig.rpeak_second_proposer`` > 0, ``GuardConstants.second_*``): local
    maxima of the smoothed |slope| (no 0.75 s running-mean threshold, no minimum region length, either
    polarity), checked against the record's own beats around them: slope level, spacing from both neighbours
    against the local RR, QRS amplitude, width and, optionally, correlation; with ``rpeak_guard_p_wave`` > 0 a
    candidate ``p_wave_like`` flags is not added. Sorted int64 out."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    x = np.asarray(cleaned, dtype=np.float64)
    fs = float(fs)
    level = float(config.rpeak_second_proposer)
    if level <= 0 or peaks.size < 3:
        return peaks
    if feature is None:
        feature = slope_feature(detect_signal, fs)
    min_distance = max(1, int(round(config.min_rr_s * fs)))
    step = max(1, int(fs // 100))   # the feature is smoothed over 0.1 s: a ~100 Hz grid finds its maxima
    coarse = feature[::step]
    candidates = scipy.signal.find_peaks(coarse, distance=max(1, min_distance // step))[0] * step
    if candidates.size == 0:
        return peaks
    reference = _neighbour_percentile(peaks, feature[peaks], candidates, constants.neighbours,
                                      constants.second_level_percentile)
    cluster = float(config.rpeak_rescue_cluster) if constants.cluster_second else 0.0
    strong = feature[candidates] >= level * reference
    if cluster <= 0:
        candidates = candidates[strong]
        strong = strong[strong]
    rr = np.diff(peaks).astype(np.float64)
    local_rr = _neighbour_percentile(peaks[1:], rr, candidates, constants.neighbours, 50.0)

    # the cluster rescue's candidates may lie closer to a kept neighbour (GuardConstants.cluster_spacing)
    loose = min(constants.second_spacing, constants.cluster_spacing) if cluster > 0 else constants.second_spacing

    def spaced(at, kept, local, ratio=constants.second_spacing):   # between two kept peaks, at least min_rr_s and
        j = np.searchsorted(kept, at)  # ratio x the local RR from both (not before the first or after the last: a
        before = at - kept[np.clip(j - 1, 0, kept.size - 1)]         # record's edges)
        after = kept[np.clip(j, 0, kept.size - 1)] - at
        space = np.maximum(ratio * local, min_distance)
        return (j > 0) & (j < kept.size) & (before >= space) & (after >= space)

    # the PVC-run spacing (SignalConfig.rpeak_second_run): closer still, for candidates shaped like wide kept beats
    run = float(config.rpeak_second_run)
    closest = min(loose, constants.run_spacing) if run > 0 else loose
    keep = spaced(candidates, peaks, local_rr, loose)
    run_only = np.zeros(candidates.size, bool)
    if run > 0:     # only the PVC-run spacing lets these in (they must reach the slope level: T waves mostly do not)
        run_only = ~keep & strong & spaced(candidates, peaks, local_rr, closest)
        keep |= run_only
    run_only = run_only[keep]
    # the candidates only the closer spacing lets in (before the move to the apex, which can carry them further)
    loose_only = ~spaced(candidates, peaks, local_rr)[keep]
    candidates, local_rr, strong = candidates[keep], local_rr[keep], strong[keep]
    if candidates.size == 0:
        return peaks
    # the kept peaks' shapes, only where a candidate's neighbourhood needs them, each computed once (the cluster
    # rescue's pool below reuses them)
    shaped = np.zeros(peaks.size, bool)
    shapes = np.full((3, peaks.size), np.nan)

    def kept_shapes(index):     # (amplitude, sharpness, width) of the kept peaks ``index`` (sorted, unique)
        missing = index[~shaped[index]]
        if missing.size:
            shapes[:, missing] = qrs_shapes(x, peaks[missing], fs, constants)
            shaped[missing] = True
        return shapes[:, index]

    def neighbourhood(at):      # each candidate's kept neighbours and, sorted and unique, all of them
        around = np.clip(np.searchsorted(peaks, at)[:, None] + np.arange(-constants.neighbours, constants.neighbours)[None, :],
                         0, peaks.size - 1)
        used = np.zeros(peaks.size, bool)
        used[around.ravel()] = True
        return around, np.flatnonzero(used)     # np.unique(around)

    radius = int(round(float(config.rpeak_refine_s) * fs)) if config.rpeak_refine_s > 0 else 0
    kept_amplitude, kept_width = np.full(peaks.size, np.nan), np.full(peaks.size, np.nan)
    early = radius < min_distance
    if early:
        # the move to the R apex (within radius, under min_rr_s) keeps a candidate between the same kept peaks, so
        # its reference is known now; one whose QRS amplitude stays under the smallest share of it any check below
        # asks (second_amplitude; cluster_floor for the cluster rescue) wherever the apex lies cannot be added: it is
        # dropped before the move and the shape measures (the same peaks, most candidates are T and P waves)
        around, needed = neighbourhood(candidates)
        kept_amplitude[needed] = qrs_amplitudes(x, peaks[needed], fs, constants.qrs_half_width_s)  # qrs_shapes' own
        amplitude_reference = _neighbour_percentile(peaks, kept_amplitude, candidates, constants.neighbours,
                                                    constants.percentile)
        lowest = min(constants.second_amplitude, constants.cluster_floor) if cluster > 0 else constants.second_amplitude
        span = radius + max(1, int(round(constants.qrs_half_width_s * fs)))    # any apex's QRS window lies inside
        window = x[np.clip(candidates[:, None] + np.arange(-span, span + 1)[None, :], 0, x.size - 1)]
        possible = ~(window.max(axis=1) - window.min(axis=1) < lowest * amplitude_reference)
        candidates, local_rr, strong, run_only, loose_only, around, amplitude_reference = (
            v[possible] for v in (candidates, local_rr, strong, run_only, loose_only, around, amplitude_reference))
        if candidates.size == 0:
            return peaks
    strength = feature[candidates]
    if config.rpeak_refine_s > 0:
        # the polarity of the R apexes (refine_rpeaks chose it per record); the median of a ~10 Hz grid
        direction = "up" if np.median(x[peaks]) >= np.median(x[::10 * step]) else "down"
        candidates = correct_apex(x, candidates, fs, config.rpeak_refine_s, direction)
    amplitude, candidate_sharpness, width = qrs_shapes(x, candidates, fs, constants)
    start = np.searchsorted(peaks, candidates)
    if early:
        _, needed = neighbourhood(candidates)
        kept_width[needed] = kept_shapes(needed)[2]
    else:
        around, needed = neighbourhood(candidates)
        kept_amplitude[needed], _, kept_width[needed] = kept_shapes(needed)
        amplitude_reference = _neighbour_percentile(peaks, kept_amplitude, candidates, constants.neighbours,
                                                    constants.percentile)
    far = spaced(candidates, peaks, local_rr)
    accept = (spaced(candidates, peaks, local_rr, closest)
              & (width <= constants.second_width * _neighbour_percentile(peaks, kept_width, candidates,
                                                                          constants.neighbours, 50.0)))
    sized = far & strong & (amplitude >= constants.second_amplitude * amplitude_reference)
    spaced_ok = accept.copy()
    accept &= ~run_only     # the PVC-run check below decides these
    if constants.cluster_loose_only:
        sized &= ~loose_only    # the closer spacing for the cluster rescue's candidates only
    closer = (~far | loose_only) if constants.cluster_loose_only else ~far
    by_cluster = np.zeros(candidates.size, bool)
    if cluster > 0:
        # the cluster rescue (SignalConfig.rpeak_rescue_cluster, GuardConstants.cluster_second): a candidate under the
        # slope level or the amplitude is added when sized against the kept peaks of its own QRS shape around it
        low = np.flatnonzero(accept & ~sized & (amplitude >= constants.cluster_floor * amplitude_reference))
        if low.size:
            reach = constants.cluster_neighbours
            pool = np.unique(np.clip(start[low][:, None] + np.arange(-reach, reach)[None, :], 0, peaks.size - 1))
            pool_amplitude, pool_sharpness, _ = kept_shapes(pool)
            pool_windows = qrs_windows(x, peaks[pool], fs, constants.cluster_window_s)
            sized[low] = cluster_like(peaks[pool], pool_amplitude, pool_windows, candidates[low],
                                      amplitude[low], qrs_windows(x, candidates[low], fs, constants.cluster_window_s),
                                      cluster, constants, pool_sharpness, candidate_sharpness[low])
            if constants.cluster_close_min > constants.cluster_min:
                # the closer spacing only for candidates with more beats of their shape around them
                close = np.flatnonzero(sized[low] & closer[low])
                if close.size:
                    sized[low[close]] = cluster_like(
                        peaks[pool], pool_amplitude, pool_windows, candidates[low[close]], amplitude[low[close]],
                        qrs_windows(x, candidates[low[close]], fs, constants.cluster_window_s), cluster,
                        dataclasses.replace(constants, cluster_min=constants.cluster_close_min), pool_sharpness,
                        candidate_sharpness[low[close]])
            by_cluster[low] = sized[low]
    accept &= sized
    by_run = np.zeros(candidates.size, bool)
    if run > 0:
        # a candidate under the usual spacing that neither check above added (or only the PVC-run spacing lets in)
        which = np.flatnonzero(spaced_ok & (closer | run_only) & ~accept & strong
                               & (amplitude >= constants.second_amplitude * amplitude_reference))
        if which.size:
            by_run[which] = pvc_run_like(peaks, kept_width, around[which], candidates[which], x, fs, run, constants)
            accept |= by_run
    if constants.second_correlation > 0 and accept.any():
        half = max(1, int(round(constants.second_window_s * fs)))
        offsets = np.arange(-half, half + 1)

        def unit(at):
            w = x[np.clip(at[:, None] + offsets[None, :], 0, x.size - 1)]
            w = w - w.mean(axis=1, keepdims=True)
            return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)

        which = np.flatnonzero(accept)
        neighbours = unit(peaks[around[which].ravel()]).reshape(around[which].shape + (offsets.size,))
        correlation = np.einsum("ij,ikj->ik", unit(candidates[which]), neighbours).max(axis=1)
        accept[which] = correlation >= constants.second_correlation
    if config.rpeak_guard_p_wave > 0 and accept.any():
        # the P-wave check on the candidates too (a blocked P wave is a slope maximum far from both beats)
        union = np.concatenate([peaks, candidates[accept]])
        order = np.argsort(union, kind="stable")
        union_amplitude = np.concatenate([kept_amplitude, amplitude[accept]])
        missing = np.isnan(union_amplitude)
        union_amplitude[missing] = qrs_amplitudes(x, union[missing], fs)
        flagged = np.zeros(union.size, bool)
        flagged[order] = p_wave_like(union[order], union_amplitude[order], x, fs, float(config.rpeak_guard_p_wave),
                                     constants)
        accept[np.flatnonzero(accept)[flagged[peaks.size:]]] = False
    t_wave = float(config.rpeak_guard_t_wave)
    if t_wave > 0 and accept.any():
        # the T-wave veto (SignalConfig.rpeak_guard_t_wave): a candidate shaped like the T wave of the beat before it
        which = np.flatnonzero(accept)
        accept[which[t_wave_like(peaks, candidates[which], x, fs, t_wave, constants)]] = False
    residual = float(config.rpeak_guard_residual)
    if residual > 0 and accept.any():
        # the QRS residual (SignalConfig.rpeak_guard_residual): a candidate only the closer spacing lets in must leave
        # a QRS after subtracting what follows the beats shaped like the kept beat before it
        which = np.flatnonzero(accept & by_cluster & closer)
        if which.size:
            accept[which[~qrs_residual(peaks, candidates[which], x, fs, residual, constants)]] = False
    if not accept.any():
        return peaks
    # strongest first, each against the peaks added before it: the RR median of _neighbour_percentile(out[1:],
    # np.diff(out), ...) and spaced(), in Python numbers on a list (the same float operations as numpy's float64
    # ones), not numpy calls on the whole record per candidate
    out = peaks.tolist()
    reach = constants.neighbours
    for i in np.flatnonzero(accept)[np.argsort(-strength[accept], kind="stable")].tolist():
        c = int(candidates[i])
        start = bisect.bisect_left(out, c, 1) - 1                    # np.searchsorted(out[1:], c)
        rr = sorted(float(out[v + 1] - out[v]) for v in range(max(0, start - reach), min(len(out) - 1, start + reach)))
        if not rr:
            continue    # no RR interval: a nan median, never spaced
        rank = (len(rr) - 1) * (50.0 / 100.0)                       # _row_nanpercentile(q=50)
        low = math.floor(rank)
        high = min(low + 1, len(rr) - 1)
        local = rr[low] + (rank - low) * (rr[high] - rr[low])
        ratio = closest if by_run[i] else loose if by_cluster[i] else constants.second_spacing
        space = max(ratio * local, min_distance)
        j = bisect.bisect_left(out, c)                               # np.searchsorted(out, c)
        if 0 < j < len(out) and c - out[j - 1] >= space and out[j] - c >= space:
            out.insert(j, c)
    return np.asarray(out, dtype=np.int64)


def pvc_run_like(peaks, kept_width, around, at, cleaned, fs, correlation,
                 constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask of the candidates ``at`` shaped like a PVC run around them (``SignalConfig.rpeak_second_run`` =
    ``correlation``, ``GuardConstants.run_*``): the QRS window (+-``second_window_s``, mean removed) correlates at least
    ``correlation`` with at least ``run_min`` of the kept ``peaks`` indexed by ``around`` (n, k) whose width
    ``kept_width`` (nan where not computed) is at least ``run_wide`` x the median width there."""
    constants = constants or GUARD
    x = np.asarray(cleaned, dtype=np.float64)
    half = max(1, int(round(constants.second_window_s * float(fs))))
    offsets = np.arange(-half, half + 1)

    def unit(centres):
        w = x[np.clip(centres[..., None] + offsets, 0, x.size - 1)]
        w = w - w.mean(axis=-1, keepdims=True)
        return w / np.maximum(np.linalg.norm(w, axis=-1, keepdims=True), 1e-12)

    widths = kept_width[around]
    with np.errstate(invalid="ignore"):
        wide = widths >= constants.run_wide * np.nanmedian(widths, axis=1, keepdims=True)
    similar = np.einsum("ij,ikj->ik", unit(np.asarray(at)), unit(peaks[around])) >= correlation
    return np.count_nonzero(wide & similar, axis=1) >= constants.run_min


def p_wave_like(peaks, amplitude, cleaned, fs, distance, constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask of the peaks that look like a non-conducted P wave (``GuardConstants.p_wave_*``,
    ``SignalConfig.rpeak_guard_p_wave``): shaped and sized like the record's P wave, with no P wave of
    their own a PR interval before them. All False where the record's P waves are small. The templates
    come from at most ``p_wave_template_beats`` confident peaks spread over the record."""
    constants = constants or GUARD
    x = np.asarray(cleaned, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    amplitude = np.asarray(amplitude, dtype=np.float64)
    none = np.zeros(peaks.size, bool)
    confident = peaks[amplitude >= constants.p_wave_confident * np.percentile(amplitude, constants.percentile)]
    if confident.size < 2 * constants.neighbours:
        return none
    confident = confident[np.linspace(0, confident.size - 1, min(confident.size, constants.p_wave_template_beats)).astype(int)]
    lo, hi = (int(round(v * fs)) for v in constants.p_wave_lag_s)
    before = np.median(x[np.clip(confident[:, None] + np.arange(-hi, -lo + 1)[None, :], 0, x.size - 1)], axis=0)
    lag = hi - int(np.argmax(np.abs(before - np.median(before))))   # R apex to P apex (samples)
    if not lo < lag < hi:   # the largest wave at an end of the range: the previous T wave or the QRS onset
        return none
    half = max(1, int(round(constants.p_wave_half_width_s * fs)))
    shift = int(round(constants.p_wave_shift_s * fs))
    size = 2 * half + 1

    def windows(at, extra=0):   # (n, 2 extra + 1, size): the mean-removed windows at each shift
        w = x[np.clip(at[:, None] + np.arange(-half - extra, half + extra + 1)[None, :], 0, x.size - 1)]
        w = np.lib.stride_tricks.sliding_window_view(w, size, axis=1)
        return w - w.mean(axis=2, keepdims=True)

    waves = windows(confident - lag)[:, 0]
    template = np.median(waves, axis=0)
    norm = float(np.linalg.norm(template))
    if np.ptp(template) < constants.p_wave_min_size * np.median(qrs_amplitudes(x, confident, fs)) or norm <= 0:
        return none
    # the same wave before every beat (sinus rhythm), not the previous beat's T wave or fibrillation
    consistency = np.median((waves @ template) / np.maximum(np.linalg.norm(waves, axis=1), 1e-12) / norm)
    if consistency < constants.p_wave_consistency:
        return none
    # a window whose samples common to every shift spread (about their mean) over (distance + 1) x the template's norm
    # is over distance x norm from the template at every shift (triangle inequality): only the others are matched
    # (a QRS lies far from a P wave; matching every peak at every shift cost most of this check)
    match = np.full(peaks.size, np.inf)
    near = np.arange(peaks.size)
    if size > 2 * shift:
        common = x[np.clip(peaks[:, None] + np.arange(-half + shift, half - shift + 1)[None, :], 0, x.size - 1)]
        spread = np.linalg.norm(common - common.mean(axis=1, keepdims=True), axis=1)
        near = np.flatnonzero(~(spread > (distance + 1.0) * norm * (1.0 + 1e-6)))
    match[near] = np.linalg.norm(windows(peaks[near], shift) - template, axis=2).min(axis=1)
    candidates = np.flatnonzero(match < distance * norm)
    if candidates.size == 0:
        return none
    w = windows(peaks[candidates] - lag, shift)
    own = ((w @ template) / np.maximum(np.linalg.norm(w, axis=2), 1e-12) / norm).max(axis=1)
    out = none.copy()
    out[candidates] = own < constants.p_wave_own
    return out


def _search_back(peaks, cleaned, detect_signal, fs, config, amplitude=None, feature=None) -> np.ndarray:
    min_distance = max(1, int(round(config.min_rr_s * fs)))
    const = GUARD
    shape_ratio = float(config.rpeak_searchback_shape)
    shape_on = 0 < shape_ratio
    gap_ratio = min(float(config.rpeak_searchback), shape_ratio) if shape_on else float(config.rpeak_searchback)
    irregular = float(config.rpeak_searchback_irregular)
    direction = sharpness = width = None
    prepared = False
    for _ in range(_SEARCHBACK_ROUNDS):
        rr = np.diff(peaks)
        padded = np.concatenate([np.full(4, np.nan), rr.astype(np.float64), np.full(4, np.nan)])
        window = padded[np.arange(rr.size)[:, None] + np.arange(9)[None, :]]
        local = _row_nanpercentile(window, 50.0)
        ratio = np.full(rr.size, gap_ratio)
        if irregular > 0:
            # irregular stretches (local RR interquartile range over median, the 9 intervals around): a
            # missed beat there leaves a gap only a little longer than the local median
            spread = (_row_nanpercentile(window, 75.0) - _row_nanpercentile(window, 25.0)) / local
            ratio = np.where(spread >= const.searchback_irregular_spread, np.minimum(gap_ratio, irregular), ratio)
        gaps = np.flatnonzero((rr > ratio * local) & (rr > 2 * min_distance))
        if gaps.size == 0:
            break
        if not prepared:  # only records with a long gap pay for these
            prepared = True
            if feature is None:
                feature = slope_feature(detect_signal, fs)
            if shape_on:   # qrs_shapes' amplitude is qrs_amplitudes': one pass gives the three
                shape_amplitude, sharpness, width = qrs_shapes(cleaned, peaks, fs)
                amplitude = shape_amplitude if amplitude is None else amplitude
            elif amplitude is None:
                amplitude = qrs_amplitudes(cleaned, peaks, fs)
            # the polarity of the R apexes the detections were moved to (refine_rpeaks chose it per record)
            direction = "up" if np.median(cleaned[peaks]) >= np.median(cleaned) else "down"
        candidates = []
        for g in gaps:
            lo, hi = int(peaks[g]) + min_distance, int(peaks[g + 1]) - min_distance
            candidates.append(lo + int(np.argmax(feature[lo:hi])))
        candidates = np.asarray(candidates, dtype=np.int64)
        if config.rpeak_refine_s > 0:
            candidates = correct_apex(cleaned, candidates, fs, config.rpeak_refine_s, direction)
        # still inside its gap, min_rr_s from both ends, and as large as a QRS of its neighbourhood
        inside = (candidates - peaks[gaps] >= min_distance) & (peaks[gaps + 1] - candidates >= min_distance)
        reference = _neighbour_percentile(peaks, amplitude, candidates)
        if shape_on:
            cand_amplitude, cand_sharpness, cand_width = qrs_shapes(cleaned, candidates, fs)
            long_gap = rr[gaps] > config.rpeak_searchback * local[gaps]
            qrs_like = ((cand_amplitude >= const.searchback_shape_amplitude * reference)
                        & (cand_sharpness >= const.searchback_shape_sharpness
                           * _neighbour_percentile(peaks, sharpness, candidates, q=50.0))
                        & (cand_width <= const.searchback_shape_width
                           * _neighbour_percentile(peaks, width, candidates, q=50.0)))
            accept = inside & ((long_gap & (cand_amplitude >= config.rpeak_searchback_amplitude * reference)) | qrs_like)
        else:
            cand_amplitude = qrs_amplitudes(cleaned, candidates, fs)
            accept = inside & (cand_amplitude >= config.rpeak_searchback_amplitude * reference)
        if not accept.any():
            break
        peaks = np.concatenate([peaks, candidates[accept]])
        amplitude = np.concatenate([amplitude, cand_amplitude[accept]])
        order = np.argsort(peaks, kind="stable")
        if shape_on:
            sharpness = np.concatenate([sharpness, cand_sharpness[accept]])[order]
            width = np.concatenate([width, cand_width[accept]])[order]
        peaks, amplitude = peaks[order], amplitude[order]
    return peaks


def correct_apex(cleaned, peaks, fs, radius_s, direction="up") -> np.ndarray:
    """Each peak moved to its R apex within ``radius_s``, in the input order (no merging): the
    extremum in ``direction`` (``"up"``/``"down"``) of ``cleaned`` minus its moving average over
    ``2 * radius_s``, as ``refine_rpeaks`` (``wfdb.processing.correct_peaks``) does, computed only
    around the peaks (a few search-back candidates do not pay for smoothing the whole record)."""
    x = np.asarray(cleaned, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    radius = int(round(float(radius_s) * float(fs)))
    if peaks.size == 0 or radius < 1:
        return peaks
    sign = 1.0 if direction == "up" else -1.0
    moved = peaks.copy()
    inner = (peaks >= 2 * radius) & (peaks + 2 * radius + 1 <= x.shape[0])
    if inner.any():
        # the peaks whose whole segment lies inside the record, all at once (the same sums as the loop below)
        segment = x[peaks[inner][:, None] + np.arange(-2 * radius, 2 * radius + 1)[None, :]]
        cumulative = np.concatenate([np.zeros((segment.shape[0], 1)), np.cumsum(segment, axis=1)], axis=1)
        index = np.arange(segment.shape[1])
        left, right = np.maximum(index - radius, 0), np.minimum(index + radius, segment.shape[1] - 1) + 1
        detrended = segment - (cumulative[:, right] - cumulative[:, left]) / (right - left)
        moved[inner] = peaks[inner] - radius + np.argmax(sign * detrended[:, radius:3 * radius + 1], axis=1)
    for i in np.flatnonzero(~inner):
        p = peaks[i]
        lo, hi = max(0, int(p) - 2 * radius), min(x.shape[0], int(p) + 2 * radius + 1)
        segment = x[lo:hi]
        cumulative = np.concatenate([[0.0], np.cumsum(segment)])
        index = np.arange(segment.size)
        left, right = np.maximum(index - radius, 0), np.minimum(index + radius, segment.size - 1) + 1
        detrended = segment - (cumulative[right] - cumulative[left]) / (right - left)
        a, b = max(int(p) - radius, lo) - lo, min(int(p) + radius + 1, hi) - lo
        moved[i] = lo + a + int(np.argmax(sign * detrended[a:b]))
    return moved


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
    clock.lap("segment")
    return Beats(beats=beats.astype(np.float32, copy=False), rr=rr, rpeaks=peaks[kept],
                 rpeaks_native=peaks_native[kept], fs=target_fs, signal=normalised)


# --- evaluation of detected peaks ---------------------------------------------------------------

def match_peaks(reference, detected, tolerance: int) -> dict:
    """One-to-one matching of detected to reference peaks within ``tolerance`` samples (inclusive).

    Every (reference, detection) pair closer than the tolerance is a candidate; candidates are
    taken closest first and a pair is kept when neither side is already used. Returns ``tp``,
    ``fn``, ``fp`` and the ``matched`` index pairs ``(n, 2)`` (reference index, detection index)
    into the sorted inputs.
    """
    ref = np.sort(np.asarray(reference, dtype=np.int64).ravel())
    det = np.sort(np.asarray(detected, dtype=np.int64).ravel())
    tolerance = int(tolerance)
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 samples, got {tolerance}")
    lo = np.searchsorted(ref, det - tolerance, side="left")
    hi = np.searchsorted(ref, det + tolerance, side="right")
    counts = hi - lo
    det_idx = np.repeat(np.arange(det.size), counts)
    ref_idx = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    distance = np.abs(ref[ref_idx] - det[det_idx])
    order = np.lexsort((ref_idx, distance))  # closest first; ties broken by position (deterministic)
    ref_used = np.zeros(ref.size, bool)
    det_used = np.zeros(det.size, bool)
    pairs = []
    for k in order:
        r, d = ref_idx[k], det_idx[k]
        if not ref_used[r] and not det_used[d]:
            ref_used[r] = det_used[d] = True
            pairs.append((r, d))
    matched = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    matched = matched[np.argsort(matched[:, 0])]
    tp = int(matched.shape[0])
    return {"tp": tp, "fn": int(ref.size - tp), "fp": int(det.size - tp), "matched": matched,
            "reference": ref, "detected": det}
