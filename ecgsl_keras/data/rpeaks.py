"""R-peak detection: the detector (``detect_rpeaks``: neurokit2's, or ``_findpeaks_neurokit`` for the
``mindelay_keep`` variants), the refractory drop (``_drop_close_peaks``), the move to the R apex (``refine_rpeaks``)
and ``find_rpeaks``, which chains them and ends with the guard (``rpeak_guard.guard_rpeaks``); ``match_peaks`` scores
detections against reference annotations.

Layering (imports go one way): ``filters`` (clean, resample) <- ``rpeak_guard`` (no data imports) <- ``rpeaks`` <-
``signal`` (``preprocess``, which re-exports the names here for the code that reaches them as ``signal.X``).
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.signal

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data.filters import _nk_rate, clean, resample
from ecgsl_keras.data import rpeak_guard
from ecgsl_keras.data.rpeak_guard import guard_rpeaks
from ecgsl_keras.errors import ConfigError

__all__ = ["detect_rpeaks", "find_rpeaks", "find_rpeaks_at_rate", "refine_rpeaks", "match_peaks"]


# SignalConfig field -> _findpeaks_neurokit keyword, for the detector options passed only when set (find_rpeaks)
FINDPEAKS_OPTIONS = (("rpeak_region_threshold", "gradthreshweight"), ("rpeak_region_min_length", "minlenweight"),
                     ("rpeak_region_mean_cap", "mean_cap"), ("rpeak_keep_first_beat", "keep_first_beat"),
                     ("rpeak_region_interpolated", "region_interpolated"),
                     ("rpeak_region_gradient_step_s", "gradient_step"),
                     ("rpeak_minimum_gap_s", "minimum_gap"), ("rpeak_minimum_gap_new_only", "gap_new_only"),
                     ("rpeak_minimum_gap_pair", "gap_pair"), ("rpeak_minimum_gap_pair_guarded", "gap_pair_guarded"),
                     ("rpeak_minimum_gap_pair_slope", "gap_pair_slope"),
                     ("rpeak_minimum_gap_pair_correlation", "gap_pair_correlation"),
                     ("rpeak_minimum_gap_pair_templates", "gap_pair_templates"))
# the SignalConfig fields whose detector rules measure QRS shapes (rpeak_guard.qrs_shapes / qrs_windows), as the guard
# does: when one is set find_rpeaks passes gap_signal (the guard's signal) and guard_constants -- a new shape test of
# the gap joins here, not in a condition of its own
GAP_SIGNAL_OPTIONS = ("rpeak_minimum_gap_wide", "rpeak_minimum_gap_amplitude", "rpeak_minimum_gap_pair_slope",
                      "rpeak_minimum_gap_pair_correlation", "rpeak_minimum_gap_pair_templates")
# neurokit2 detectors that come with their own cleaning in ecg_clean; the others get "neurokit".
_OWN_CLEANING = ("pantompkins1985", "hamilton2002", "elgendi2010", "engzeemod2012", "emrich2023")


def _runs_own_findpeaks(method, keep, keep_first_beat) -> bool:
    """Whether ``detect_rpeaks`` runs ``_findpeaks_neurokit`` (which takes the Python-only options of
    ``FINDPEAKS_OPTIONS``) rather than neurokit2's own detector: the ``"neurokit"`` method with a ``mindelay_keep``
    other than ``"first"`` or with ``keep_first_beat``."""
    return method == "neurokit" and (keep != "first" or bool(keep_first_beat))


def detect_rpeaks(signal, fs, method="neurokit", cleaned=False, correct_artifacts=False,
                  clean_method=None, **options) -> np.ndarray:
    """R-peak sample indices (int64, sorted, unique): the detector of ``neurokit2.ecg_peaks(method=...)``.

    ``cleaned=False`` cleans first with ``clean_method`` (default: the detector's own cleaning
    where neurokit2 has one, else ``"neurokit"``). ``correct_artifacts`` runs neurokit2's
    Lipponen & Tarvainen (2019) correction of missed / extra / misplaced beats. ``options`` go
    to the detector (e.g. ``mindelay`` of the ``"neurokit"`` method; ``mindelay_keep="prominent"`` or
    ``"prominent_negative"`` or ``"prominent_negative_last"``, or ``keep_first_beat=True``, runs ``_findpeaks_neurokit``
    instead of neurokit2's).
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
            keep_first_beat = bool(options.pop("keep_first_beat", False))
            if _runs_own_findpeaks(method, keep, keep_first_beat):
                peaks = _findpeaks_neurokit(x, fs, keep=keep, keep_first_beat=keep_first_beat, **options)
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
                        gradthreshweight=1.5, minlenweight=0.4, keep_first_beat=False, minimum_gap=0.0,
                        gap_signal=None, gap_wide=0.0, gap_amplitude=0.0, gap_added=None, mean_cap=0.0,
                        gap_new_only=False, gap_pair=0.0, gap_pair_guarded=False,
                        gap_pair_slope=0.0, gap_pair_correlation=0.0, gap_pair_templates=0.0,
                        guard_constants=None, region_interpolated=False, gradient_step=0.0) -> np.ndarray:
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

    The end-to-end graph applies ``"prominent"`` in one pass over neighbouring peaks (``EndToEnd.refine``), and
    ``"prominent_negative_last"`` with ``minimum_gap`` as this contest, in a loop (``EndToEnd.refractory_contest``).
    ``gradthreshweight`` and ``minlenweight`` are neurokit2's region rules (``SignalConfig.rpeak_region_threshold`` /
    ``rpeak_region_min_length`` change them, Python path only; run s39: lower values find more of MIT-BIH 203's fast
    wide beats and turn T waves into regions).

    ``keep="first"`` is neurokit2's own rule (the same peaks as ``ecg_findpeaks``). neurokit2 starts the refractory
    contest with a dummy peak at sample 0 that wins every contest, so a peak within ``mindelay`` of the signal's start
    is always lost; ``keep_first_beat`` (``SignalConfig.rpeak_keep_first_beat``, run s40) starts without it: the first
    region's peak is kept or replaced under the rule of ``keep`` like any other.

    ``minimum_gap`` (seconds, ``SignalConfig.rpeak_minimum_gap_s``, run s48; with ``"prominent_negative_last"``): a
    region's minimum at least ``minimum_gap`` after the last kept peak is kept as a new peak instead of being dropped
    within ``mindelay`` of it (0: dropped, the rule above). In MIT-BIH 203's runs of negative PVCs the previous beat's
    peak sits late on its wide QRS, 0.19-0.30 s before the next PVC's trough, which the rule above loses.

    ``gap_wide`` / ``gap_amplitude`` (``SignalConfig.rpeak_minimum_gap_wide`` / ``rpeak_minimum_gap_amplitude``, run
    s49; with ``minimum_gap``): when either is > 0 such a minimum is kept only when (i) the kept peak before it is wide
    (its QRS width, ``rpeak_guard.qrs_shapes`` on ``gap_signal``, at least ``gap_wide`` x the median width of the peaks
    the rule without ``minimum_gap`` keeps) or (ii) its own QRS amplitude is at least ``gap_amplitude`` x the guard's
    reference (the ``GuardConstants.percentile``-th percentile of those peaks' amplitudes, ``neighbours`` each side);
    0 = that condition off. A refused minimum is dropped as without ``minimum_gap``: the contest goes on as if it had
    never been kept. Run s48's look: the beats the option finds follow a wide beat and are as large as their
    neighbours, its false beats are small (at most 0.45x) and follow a beat of normal width -- at the final peaks; here,
    at the minimum the gap adds, run s49's look measures those false beats at 0.54-0.64x after a peak 1.6-2.1x the
    median width, so the condition keeps them (not kept). ``gap_signal``: the signal the guard measures QRS shapes on,
    at ``fs`` (None: ``x``).

    ``gap_added`` (run s50): a list that receives the returned peaks that are minima kept by ``minimum_gap`` inside
    ``mindelay`` of the peak before them (None: not collected). ``gap_new_only`` (``SignalConfig.rpeak_minimum_gap_new_only``,
    run s53): only those the rule without ``minimum_gap`` does not keep: a peak kept inside ``mindelay`` of a gap
    minimum that the rule without the gap keeps anyway (the gap minimum before it is dropped there) is an ordinary peak
    (run s53's look: in MIT-BIH 207's block21 one such peak, held out of the guard by run s51, moved the record's
    templates and two small wide peaks stayed).

    ``gap_pair`` (``SignalConfig.rpeak_minimum_gap_pair``, run s54; with ``minimum_gap``): a region's MAXIMUM at least
    ``minimum_gap`` after a kept maximum, inside ``mindelay``, whose prominence is at least ``gap_pair`` x that peak's,
    is kept as a new peak too (a gap peak, like the minima) instead of replacing the kept peak or losing to it: two
    beats of a ventricular couplet or a fast run 0.25-0.3 s apart, both large (run s54's look: MIT-BIH 215's and 203's
    block21 misses lost the contest to a true beat 283-294 ms away). 0: off. ``gap_pair_guarded``
    (``SignalConfig.rpeak_minimum_gap_pair_guarded``, run s55): such a maximum is an ordinary peak (not collected in
    ``gap_added``), so the guard judges it with the others (run s54's look: held out, 108's large P waves stayed).
    ``gap_pair_slope`` (``SignalConfig.rpeak_minimum_gap_pair_slope``, run s56): > 0 keeps such a pair only when the
    kept (earlier) peak's steepest slope -- the largest absolute slope within +-``GuardConstants.qrs_half_width_s``
    (``rpeak_guard.qrs_shapes``' amplitude x sharpness, on ``gap_signal``) -- is at least ``gap_pair_slope`` x the later
    peak's; refused, the contest goes on as without ``gap_pair``. Shape, not size: a P wave (atrial depolarisation,
    ~0.1 s, a slow dome) as large as the QRS after it (MIT-BIH 108, run s54's look) rises about half as steeply or less,
    while both beats of a couplet are ventricular depolarisations with slopes of the same order. 0: off.
    ``gap_pair_correlation`` (``SignalConfig.rpeak_minimum_gap_pair_correlation``, run s57): > 0 keeps such a pair only
    when the kept (earlier) peak's QRS window (``rpeak_guard.qrs_windows``, +-``GuardConstants.cluster_window_s``, mean
    removed, unit norm, on ``gap_signal``) correlates at least ``gap_pair_correlation`` with the later peak's (one
    morphology, the measure of the guard's cluster rescue); refused, the contest goes on as without ``gap_pair``. Run
    s56's held-out look: MIT-BIH 108's large P waves are as steep as the QRS after them but not shaped like it, while
    the two beats of a couplet from one focus are. 0: off. ``gap_pair_templates``
    (``SignalConfig.rpeak_minimum_gap_pair_templates``, run s59; with ``gap_pair_correlation``): > 0 also keeps a pair
    that test refuses when the earlier peak is one of the record's QRS morphologies: its window correlates at least
    ``gap_pair_templates`` with one of the ``rpeak_guard.record_templates`` of the peaks the contest keeps without
    ``gap_pair`` (their windows, QRS amplitudes and sharpness on ``gap_signal``; ``rpeak_guard.GUARD``'s ``templates_*``)
    and its amplitude reaches ``templates_amplitude`` x that template's (``rpeak_guard.template_like``). A couplet of two
    shapes (a beat, then a PVC of another focus: MIT-BIH 203, run s57's look) starts with a beat of the record; a P wave
    is not one of its QRS morphologies. 0: off.

    ``mean_cap`` (``SignalConfig.rpeak_region_mean_cap``, run s52): > 0 caps the running mean the region threshold
    compares with at ``mean_cap`` x its median over the signal (0: neurokit2's running mean). In a fast ventricular run
    the 0.75 s window is full of QRS slope and the raised mean hides the beats (MIT-BIH 203); elsewhere the mean stays
    near its median and the threshold is neurokit2's.

    ``region_interpolated`` (``SignalConfig.rpeak_region_interpolated``, run s39-region): each region's length (in the
    ``minlenweight`` rule and its mean) is measured between the linearly interpolated crossings of the threshold, not
    counted on the sample grid; ``gradient_step`` (``SignalConfig.rpeak_region_gradient_step_s``; > 0, with it or alone,
    run s40-slope): the slope is the central difference over +-``gradient_step`` seconds on the cubic spline through
    the samples, not np.gradient's over +-1 sample (whose response to a QRS falls with the rate). At 100 Hz both let a T wave's region
    pass the length rule more often than at 360 Hz (run s39-rate100's look at MIT-BIH 201). Off: neurokit2's rules.
    """
    from neurokit2.signal import signal_smooth

    x = np.asarray(x, dtype=np.float64)
    fs = float(fs)
    if gradient_step > 0:
        # the rule's threshold is a ratio of two slopes, so the units (per second here, per sample below) cancel
        slope = rpeak_guard.fixed_step_slope(x, fs, gradient_step)
    else:
        slope = np.gradient(x)
    smoothgrad = signal_smooth(np.abs(slope), kernel="boxcar", size=int(np.rint(smoothwindow * fs)))
    avggrad = signal_smooth(smoothgrad, kernel="boxcar", size=int(np.rint(avgwindow * fs)))
    if mean_cap > 0:
        avggrad = np.minimum(avggrad, float(mean_cap) * float(np.median(avggrad)))
    qrs = smoothgrad > gradthreshweight * avggrad
    beg = np.flatnonzero(~qrs[:-1] & qrs[1:])
    end = np.flatnonzero(qrs[:-1] & ~qrs[1:])
    if beg.size == 0:
        return np.zeros(0, dtype=np.int64)
    end = end[end > beg[0]]
    n = min(beg.size, end.size)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    beg, end = beg[:n], end[:n]
    length = end - beg
    if region_interpolated:
        # the crossings between samples: d <= 0 at beg, > 0 at beg + 1; > 0 at end, <= 0 at end + 1
        d = smoothgrad - gradthreshweight * avggrad
        length = (end + d[end] / (d[end] - d[end + 1])) - (beg - d[beg] / (d[beg + 1] - d[beg]))
    min_len = np.mean(length) * minlenweight
    delay = int(np.rint(fs * mindelay))
    negative = keep in ("prominent_negative", "prominent_negative_last")
    last = keep == "prominent_negative_last"
    # 0 (off) keeps the rule above exactly: no minimum is ever kept inside mindelay
    gap = int(np.rint(fs * minimum_gap)) if last and minimum_gap > 0 else delay + 1
    long_enough = length >= min_len
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
    candidates = (beg + offset)[found]
    regions = (candidates.tolist(), region_prominence[found].tolist(), region_minimum[found].tolist())
    # the gap's tests measure as the guard does, with its constants (rpeak_guard.constants_for the signal config)
    guard_constants = guard_constants or rpeak_guard.GUARD
    # run s56's shape test: each candidate's steepest slope (mV/s) on the guard's signal; a kept maximum the pair rule
    # compares is never the dummy peak (its prominence is infinite), so index[-1] >= 0 there
    slope = None
    if gap_pair > 0 and gap_pair_slope > 0:
        amplitude, sharpness, _ = rpeak_guard.qrs_shapes(x if gap_signal is None else gap_signal, candidates, fs,
                                                         guard_constants)
        slope = (amplitude * sharpness).tolist()
    # run s57's morphology test: each candidate's QRS window (the guard's cluster windows); compared a pair at a time
    windows = None
    if gap_pair > 0 and gap_pair_correlation > 0:
        windows = rpeak_guard.qrs_windows(x if gap_signal is None else gap_signal, candidates, fs,
                                          guard_constants.cluster_window_s)

    like = None

    def contest(gap, allowed=None, wide=None, collect=None, pair=True):
        """The kept peaks and their indices into ``candidates`` (-1: the dummy peak); ``allowed`` / ``wide``: masks
        over ``candidates`` -- a minimum is kept by ``gap`` only where ``allowed`` or after a ``wide`` kept peak;
        ``collect``: a list that receives the kept peaks the gap kept inside ``mindelay``; ``pair`` False: without
        ``gap_pair`` (run s59's templates come from those peaks)."""
        # neurokit2's dummy first peak (sample 0, never replaced) unless keep_first_beat
        peaks, prominences, minima, index = ([], [], [], []) if keep_first_beat else ([0], [np.inf], [False], [-1])
        gapped = [False] * len(peaks)
        for i, (peak, prominence, minimum) in enumerate(zip(*regions)):
            if not peaks or peak - peaks[-1] > delay or (
                    minimum and peak - peaks[-1] >= gap
                    and (allowed is None or allowed[i] or (index[-1] >= 0 and wide[index[-1]]))) or (
                    # run s54: a large maximum after a kept maximum, as far as the gap
                    pair and gap_pair > 0 and not minimum and not minima[-1] and peak - peaks[-1] >= gap
                    and prominence >= gap_pair * prominences[-1]
                    # run s56: and the earlier peak steep like a QRS against the later one (not a P wave)
                    and (slope is None or slope[index[-1]] >= gap_pair_slope * slope[i])
                    # run s57: and the two peaks of one morphology (a P wave is not shaped like the QRS after it)
                    and (windows is None or float(windows[index[-1]] @ windows[i]) >= gap_pair_correlation
                         # run s59: or the earlier peak one of the record's QRS morphologies (a two-shape couplet)
                         or (like is not None and bool(like[index[-1]])))):
                # inside mindelay a maximum is kept only as a pair: with gap_pair_guarded not a gap peak (run s55)
                gapped.append(bool(peaks) and peak - peaks[-1] <= delay and (minimum or not gap_pair_guarded))
                peaks.append(peak)
                prominences.append(prominence)
                minima.append(minimum)
                index.append(i)
            elif keep == "first" or (last and minimum):
                continue
            elif ((prominence > prominences[-1] or (last and minima[-1]))
                  and (len(peaks) < 2 or peak - peaks[-2] > delay)):
                peaks[-1], prominences[-1], minima[-1], index[-1] = peak, prominence, minimum, i
                gapped[-1] = False
        if collect is not None:
            collect.extend(p for p, g in zip(peaks, gapped) if g)
        return (peaks if keep_first_beat else peaks[1:]), (index if keep_first_beat else index[1:])

    if windows is not None and gap_pair_templates > 0:
        # run s59: the record's morphologies from the peaks the contest keeps without the pair (and without run s49's
        # conditions), then which candidates are like one of them
        plain = np.asarray(contest(gap, pair=False)[1], dtype=np.int64)
        plain = plain[plain >= 0]
        plain = plain[rpeak_guard.template_sample(plain.size)]
        amplitude, sharpness, _ = rpeak_guard.qrs_shapes(x if gap_signal is None else gap_signal, candidates, fs)
        templates = rpeak_guard.record_templates(amplitude[plain], sharpness[plain], windows[plain], gap_pair_templates)
        like = rpeak_guard.template_like(templates, amplitude, windows, gap_pair_templates)
    gapped = []
    if gap <= delay and (gap_wide > 0 or gap_amplitude > 0):
        # the conditions (run s49) are measured against the peaks the rule without the gap keeps
        _, plain = contest(delay + 1)
        amplitude, _, width = rpeak_guard.qrs_shapes(x if gap_signal is None else gap_signal, candidates, fs,
                                                     guard_constants)
        allowed = np.zeros(candidates.size, bool)
        wide = np.zeros(candidates.size, bool)
        if plain and gap_amplitude > 0:
            reference = rpeak_guard.amplitude_reference(candidates[plain], amplitude[plain], candidates,
                                                        guard_constants)
            allowed = amplitude >= float(gap_amplitude) * reference
        if plain and gap_wide > 0:
            wide = width >= float(gap_wide) * float(np.median(width[plain]))
        peaks, _ = contest(gap, allowed.tolist(), wide.tolist(), collect=gapped)
    else:
        peaks, _ = contest(gap, collect=gapped)
    if gap_added is not None:
        if gap_new_only and gapped:
            # the rule without the gap keeps these anyway: not the gap's (run s53)
            plain = set(contest(delay + 1)[0])
            gapped = [p for p in gapped if p not in plain]
        gap_added.extend(gapped)
    return np.asarray(peaks, dtype=np.int64)


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
    peaks = np.asarray(rpeaks, dtype=np.int64)
    if peaks.size == 0 or int(round(float(radius_s) * float(fs))) < 1:
        return peaks
    return np.unique(_refined_each(cleaned, peaks, fs, radius_s))


def _refined_each(cleaned, peaks, fs, radius_s) -> np.ndarray:
    """``refine_rpeaks``' move of each of ``peaks`` (non-empty, radius >= 1 sample), in their order, not made unique:
    the direction is chosen over all of them, so a subset alone can move otherwise (run s50 tracks peaks through it)."""
    from wfdb.processing import correct_peaks

    radius = int(round(float(radius_s) * float(fs)))
    cleaned = np.asarray(cleaned, dtype=np.float64)
    shifted = correct_peaks(cleaned, peaks, search_radius=radius, smooth_window_size=2 * radius, peak_dir="compare")
    return np.clip(np.asarray(shifted, dtype=np.int64), 0, cleaned.shape[0] - 1)


def find_rpeaks(signal, fs, config: SignalConfig = SignalConfig(), cleaned=None, gap_added=None) -> np.ndarray:
    """R-peaks (int64 sample indices at ``fs``) of a raw signal with the config's detector settings.

    The detector (``config.rpeak_method``, ``config.rpeak_correct_artifacts``, and
    ``config.rpeak_mindelay_s`` for the ``neurokit`` method) runs on a copy
    cleaned with ``config.rpeak_clean_method`` (a detector's own band-pass finds QRS complexes
    best), at ``fs`` or, when ``config.detect_at_native_rate`` is off, at ``config.target_fs``
    with the peaks mapped back (inside runs of wide beats, with ``config.rpeak_run_threshold``, the peaks of a second
    pass with lower region rules: ``wide_run_spans``; ``config.rpeak_run_mode`` "add" keeps the first pass's peaks there
    and adds the second pass's ones at least ``config.min_rr_s`` from all of them). Peaks closer than ``config.min_rr_s`` to a stronger one are
    dropped, and each peak is moved to the R apex of the ``config.clean_method`` signal (the one
    beats are cut from) within ``config.rpeak_refine_s``; then ``guard_rpeaks`` checks them, and with
    ``config.rpeak_minimum_gap_final`` (run s50) ``drop_small_gap_peaks`` drops the small ones that came from a minimum
    the gap kept (with ``config.rpeak_minimum_gap_after_guard``, run s51, those minima skip the guard and join after
    it: ``guard_with_gap``). ``gap_added``: a list that receives those peaks, moved to the apex (the caller guards itself).
    ``cleaned``: that signal, when the caller already has it. ``preprocess`` and ``bench rpeaks``
    both use this.
    """
    fs = float(fs)
    constants = rpeak_guard.constants_for(config)
    raw = np.asarray(signal, dtype=np.float64)
    if cleaned is None:
        cleaned = clean(raw, fs, config.clean_method)
    cleaned = np.asarray(cleaned, dtype=np.float64)
    detect_clean = config.rpeak_clean_method or config.clean_method
    detect_signal = cleaned if detect_clean == config.clean_method else clean(raw, fs, detect_clean)
    options = ({"mindelay": float(config.rpeak_mindelay_s), "mindelay_keep": config.rpeak_mindelay_keep}
               if config.rpeak_method == "neurokit" else {})
    # the region rules (run s39) and the gap options (runs s48-s59), Python path only: only _findpeaks_neurokit takes
    # them (SignalConfig.validate); a set field (> 0, or True) passes as the keyword FINDPEAKS_OPTIONS names. A config
    # built in Python (not read from JSON) is not validated on construction, so the one combination that would reach
    # another detector (neurokit2's own, or another method) as an unknown keyword is refused here by name
    set_options = [field for field, _ in FINDPEAKS_OPTIONS
                   if getattr(config, field) > 0 and field != "rpeak_keep_first_beat"]
    if set_options and not _runs_own_findpeaks(config.rpeak_method, config.rpeak_mindelay_keep,
                                               config.rpeak_keep_first_beat):
        raise ConfigError("<config>", "bad_config", f"{', '.join(set_options)} apply to the 'neurokit' method with "
                                                    "rpeak_mindelay_keep other than 'first' (got "
                                                    f"{config.rpeak_method!r}, {config.rpeak_mindelay_keep!r})")
    for field, keyword in FINDPEAKS_OPTIONS:
        value = getattr(config, field)
        if value > 0:
            options[keyword] = True if isinstance(value, bool) else float(value)
    if config.rpeak_minimum_gap_wide > 0 or config.rpeak_minimum_gap_amplitude > 0:
        options.update(gap_wide=float(config.rpeak_minimum_gap_wide),
                       gap_amplitude=float(config.rpeak_minimum_gap_amplitude))
    if any(getattr(config, field) > 0 for field in GAP_SIGNAL_OPTIONS):
        # measured on the signal the guard measures (run s48's look), at the detector's rate
        options["gap_signal"] = cleaned if config.detect_at_native_rate else resample(cleaned, fs, float(config.target_fs))
        options["guard_constants"] = constants
    def detect(options):
        if config.detect_at_native_rate:
            return detect_rpeaks(detect_signal, fs, config.rpeak_method, cleaned=True,
                                 correct_artifacts=config.rpeak_correct_artifacts, **options)
        target_fs = float(config.target_fs)
        peaks = detect_rpeaks(resample(detect_signal, fs, target_fs), target_fs, config.rpeak_method,
                              cleaned=True, correct_artifacts=config.rpeak_correct_artifacts, **options)
        return np.unique(np.clip(np.rint(peaks * (fs / target_fs)).astype(np.int64), 0, raw.shape[0] - 1))

    min_distance = int(round(config.min_rr_s * fs))

    def apex(peaks, track=None):
        """``peaks`` refractory-dropped and moved to the R apex; with ``track`` (samples among ``peaks``: the gap's)
        also those, each moved by the same move as the peaks (refine_rpeaks moves each peak on its own but chooses the
        direction over all of them, so a subset alone can move otherwise; run s50): ``(peaks, tracked)``."""
        peaks = _drop_close_peaks(peaks, cleaned, min_distance)
        if config.rpeak_refine_s > 0:
            if track is not None and peaks.size and int(round(config.rpeak_refine_s * fs)) >= 1:
                # one move serves both (refine_rpeaks' own output is the unique moved peaks)
                each = _refined_each(cleaned, peaks, fs, config.rpeak_refine_s)
                track, moved = each[np.isin(peaks, track)], np.unique(each)
            else:
                moved = refine_rpeaks(cleaned, peaks, fs, config.rpeak_refine_s)
            # Two peaks refined onto one apex collapse (unique); a pair moved closer than min_rr_s is re-checked.
            peaks = _drop_close_peaks(moved, cleaned, min_distance)
        return peaks if track is None else (peaks, track)

    # only the gap adds minima (and only _findpeaks_neurokit, the gap's detector, takes the list)
    added = ([] if config.rpeak_minimum_gap_s > 0 and (gap_added is not None or config.rpeak_minimum_gap_final > 0)
             else None)
    found = detect(dict(options, gap_added=added) if added is not None else dict(options))
    if added is None:
        peaks = apex(found)
    else:
        # the gap's minima, mapped and moved as the peaks are
        added = np.asarray(added, dtype=np.int64)
        if not config.detect_at_native_rate:
            added = np.clip(np.rint(added * (fs / float(config.target_fs))).astype(np.int64), 0, raw.shape[0] - 1)
        peaks, added = apex(found, track=added)
        added = np.intersect1d(added, peaks)
        if gap_added is not None:
            gap_added.extend(added.tolist())
    if config.rpeak_run_threshold > 0 or config.rpeak_run_min_length > 0:
        # the region rules inside runs of wide beats (run s40, Python path only): a second pass, its peaks taken there
        spans = wide_run_spans(cleaned, peaks, fs, constants)
        if spans.size:
            lowered = dict(options)
            if config.rpeak_run_threshold > 0:
                lowered["gradthreshweight"] = float(config.rpeak_run_threshold)
            if config.rpeak_run_min_length > 0:
                lowered["minlenweight"] = float(config.rpeak_run_min_length)
            inner = detect(lowered)
            if config.rpeak_run_mode == "add":
                # every first-pass peak stays (run s40's replacement lost more beats than it found); a second-pass
                # peak counts only min_rr_s clear of all of them, so it is a beat the first pass missed, not a shifted one
                extra = apex(inner[_in_spans(inner, spans)])
                # spans exist only with at least 3 first-pass peaks (wide_run_spans), so both neighbours exist
                at = np.clip(np.searchsorted(peaks, extra), 1, peaks.size - 1)
                nearest = np.minimum(np.abs(extra - peaks[at]), np.abs(extra - peaks[at - 1]))
                extra = extra[nearest >= min_distance]
                if config.rpeak_run_add_like > 0:
                    extra = extra[_like_wide_beats(cleaned, peaks, extra, fs, config.rpeak_run_add_like, constants)]
                if extra.size and (config.rpeak_run_add_width > 0 or config.rpeak_run_add_sharpness > 0):
                    # the guard runs twice here: its kept beats on the first pass are the reference (run s43)
                    kept = guard_rpeaks(peaks, cleaned, detect_signal, fs, config)
                    extra = extra[~added_unlike_kept_wide(cleaned, kept, extra, fs, config.rpeak_run_add_width,
                                                          config.rpeak_run_add_sharpness, constants)]
                peaks = np.union1d(peaks, extra).astype(np.int64)
            else:
                peaks = apex(np.union1d(found[~_in_spans(found, spans)], inner[_in_spans(inner, spans)]))
    return guard_with_gap(peaks, added, lambda kept: guard_rpeaks(kept, cleaned, detect_signal, fs, config), cleaned,
                          fs, config)


def find_rpeaks_at_rate(signal, fs, config: SignalConfig, rate) -> np.ndarray:
    """R-peaks (int64 samples at ``fs``) of a raw signal by ``find_rpeaks`` run whole at ``rate``: the signal resampled
    (``filters.resample``), cleaned, detected, moved to the apex and guarded there, the peaks mapped back (``x fs /
    rate``, rounded, clipped, unique). The graph's rate (100 Hz) is where the ``mitdb-d1-100hz`` point
    (``rpeak_points``) was measured (issue 21 runs s39-rate100 to s41-combo, ``experiments/rpeaks/detect_rate.py``)."""
    x = np.asarray(signal, dtype=np.float64)
    fs, rate = float(fs), float(rate)
    found = find_rpeaks(resample(x, fs, rate), rate, config)
    return np.unique(np.clip(np.rint(found * (fs / rate)).astype(np.int64), 0, x.shape[0] - 1))


def guard_with_gap(peaks, gap_peaks, guard, cleaned, fs, config: SignalConfig) -> np.ndarray:
    """``guard(peaks)`` (the guard, ``guard_rpeaks``) with the test of the minima the gap kept (``gap_peaks``: those
    peaks, moved to the apex; None: not collected): ``config.rpeak_minimum_gap_final`` (run s50) drops the small ones
    among the guarded peaks (``drop_small_gap_peaks``); with ``config.rpeak_minimum_gap_after_guard`` (run s51) they
    are held out of the guard and join after it (``join_gap_peaks``), so they do not move the guard's statistics (run
    s51's look: run s50's extra false beats in 205 and 207 were such moves, not gap peaks). The detector
    (``find_rpeaks``) and the grid scripts, which guard its primary peaks themselves, both end here."""
    final = float(config.rpeak_minimum_gap_final)
    if gap_peaks is None or final <= 0:
        peaks = guard(peaks)
    else:
        constants = rpeak_guard.constants_for(config)
        peaks = np.asarray(peaks, dtype=np.int64)
        gap_peaks = np.asarray(gap_peaks, dtype=np.int64)
        if config.rpeak_minimum_gap_after_guard:
            held = np.isin(peaks, gap_peaks)
            peaks = join_gap_peaks(guard(peaks[~held]), peaks[held], cleaned, fs, final,
                                   int(round(config.min_rr_s * float(fs))), constants)
        else:
            peaks = drop_small_gap_peaks(guard(peaks), gap_peaks, cleaned, fs, final, constants)
    if config.rpeak_guard_contrast > 0:
        # the last step on the final peaks, whichever path made them (run s60)
        peaks = drop_low_contrast(peaks, cleaned, fs, float(config.rpeak_guard_amplitude),
                                  float(config.rpeak_guard_contrast), rpeak_guard.constants_for(config))
    return peaks


# drop_low_contrast's surroundings of a peak (one place: rpeak_guard, whose aligned wide rescue tests them too)
CONTRAST_OFFSETS_S = rpeak_guard.CONTRAST_OFFSETS_S


def drop_low_contrast(peaks, cleaned, fs, small, ratio, constants=None) -> np.ndarray:
    """``peaks`` without the small ones that do not stand out of their surroundings (``SignalConfig.rpeak_guard_contrast``,
    run s60): a peak whose QRS amplitude (``rpeak_guard.qrs_amplitudes``) is under ``small`` x the guard's reference
    over ``peaks`` (``rpeak_guard.amplitude_reference``) is dropped when that amplitude is under ``ratio`` x the median
    QRS amplitude of the windows ``CONTRAST_OFFSETS_S`` before and after it. The ratio is scale-free: a small true beat
    (a beat of bigeminy, a dropout's neighbour) has P, ST and T waves as small as its QRS; a bump of the record's noise
    in a long RR interval (run s60's look: block21's false beats inside the blocked beats' spans) is as large as the
    noise around it. Only the small peaks are measured, so the cost is a handful of windows per record."""
    peaks = np.asarray(peaks, dtype=np.int64)
    if peaks.size < 3:
        return peaks
    constants = constants or rpeak_guard.GUARD     # the guard's (rpeak_guard.constants_for the signal config)
    amplitude = rpeak_guard.qrs_amplitudes(cleaned, peaks, fs, constants.qrs_half_width_s)
    reference = rpeak_guard.amplitude_reference(peaks, amplitude, peaks, constants)
    test = np.flatnonzero(amplitude < small * reference)      # a NaN reference tests nothing
    if test.size == 0:
        return peaks
    low = amplitude[test] < float(ratio) * rpeak_guard.surroundings_amplitude(cleaned, fs, peaks[test], constants)
    keep = np.ones(peaks.size, bool)
    keep[test[low]] = False
    return peaks[keep]


def join_gap_peaks(guarded, gap_peaks, cleaned, fs, ratio, min_distance, constants=None) -> np.ndarray:
    """``guarded`` (sorted peaks the guard kept without the gap's minima) with those of ``gap_peaks`` at least
    ``min_distance`` samples from every guarded peak (a beat the guard already found, by search back or the second
    proposer, is not added twice) that ``drop_small_gap_peaks`` keeps at ``ratio`` against the guarded peaks
    (``SignalConfig.rpeak_minimum_gap_after_guard``, run s51). Sorted int64 out."""
    guarded = np.asarray(guarded, dtype=np.int64)
    gap_peaks = np.unique(np.asarray(gap_peaks, dtype=np.int64))
    if gap_peaks.size == 0:
        return guarded
    if guarded.size:
        j = np.searchsorted(guarded, gap_peaks)
        before = gap_peaks - guarded[np.clip(j - 1, 0, guarded.size - 1)]
        after = guarded[np.clip(j, 0, guarded.size - 1)] - gap_peaks
        near = ((j > 0) & (before < min_distance)) | ((j < guarded.size) & (after < min_distance))
        gap_peaks = gap_peaks[~near]
    if gap_peaks.size == 0:
        return guarded
    return drop_small_gap_peaks(np.union1d(guarded, gap_peaks), gap_peaks, cleaned, fs, ratio, constants)


def drop_small_gap_peaks(peaks, gap_peaks, cleaned, fs, ratio, constants=None) -> np.ndarray:
    """``peaks`` without those in ``gap_peaks`` (final peaks that came from a minimum ``minimum_gap`` kept) whose QRS
    amplitude (``rpeak_guard.qrs_shapes``) is under ``ratio`` x the guard's reference over the other peaks
    (``rpeak_guard.amplitude_reference``; ``SignalConfig.rpeak_minimum_gap_final``, run s50). Run s49's look: measured
    here, at the final peaks, 7 of run s48's 12 false beats are at most 0.45x, the beats it found 0.92-2.11x; measured
    at the minimum in the detector (run s49) the two overlap."""
    peaks = np.asarray(peaks, dtype=np.int64)
    from_gap = np.isin(peaks, np.asarray(gap_peaks, dtype=np.int64))
    if not from_gap.any() or from_gap.all():
        return peaks
    constants = constants or rpeak_guard.GUARD     # the guard's (rpeak_guard.constants_for the signal config)
    amplitude = rpeak_guard.qrs_shapes(cleaned, peaks, fs, constants)[0]
    reference = rpeak_guard.amplitude_reference(peaks[~from_gap], amplitude[~from_gap], peaks[from_gap], constants)
    small = np.zeros(peaks.size, bool)
    # a NaN reference (no other peak) keeps the peak
    small[from_gap] = amplitude[from_gap] < float(ratio) * reference
    return peaks[~small]


def added_unlike_kept_wide(cleaned, kept, extra, fs, width_ratio, sharpness_ratio, constants=None) -> np.ndarray:
    """Boolean mask over the additive pass's peaks ``extra``: the ones unlike the record's guard-kept wide beats
    (``SignalConfig.rpeak_run_add_width`` / ``rpeak_run_add_sharpness``, run s43). ``kept``: the guard's output on the
    first pass alone; its wide beats are the ones at least ``_wide_from`` (of ``kept``'s widths) wide. An added peak is
    unlike them when its width (``rpeak_guard.qrs_shapes``, the guard's own measure) is over ``width_ratio`` x their
    median width or its sharpness (largest slope / amplitude) under ``sharpness_ratio`` x their median (0: that half
    off); with no kept wide beat every added peak is unlike (its span came from wide peaks the guard rejects). A T wave
    after a wide beat is wider and blunter than the beat (run s42: 1.5x as wide, 0.56x as sharp in MIT-BIH 201). The
    guard's beats, not the first pass's, are the reference: a third of the first pass's wide peaks are false in a 2:1
    block built from 201. Judged before the guard sees the added peaks: dropped after it (run s43's first probe), they
    had already changed its decisions on the other peaks (201's false beats stayed, 203's search-back beats went)."""
    extra = np.asarray(extra, dtype=np.int64)
    constants = constants or rpeak_guard.GUARD     # the guard's (rpeak_guard.constants_for the signal config)
    _, sharpness, width = rpeak_guard.qrs_shapes(cleaned, kept, fs, constants)
    wide = width >= _wide_from(width, constants) if width.size else np.zeros(0, bool)
    if extra.size == 0 or not wide.any():
        return np.ones(extra.size, bool)
    _, at_sharpness, at_width = rpeak_guard.qrs_shapes(cleaned, extra, fs, constants)
    unlike = np.zeros(extra.size, bool)
    if width_ratio > 0:
        unlike |= at_width > float(width_ratio) * np.median(width[wide])
    if sharpness_ratio > 0:
        unlike |= at_sharpness < float(sharpness_ratio) * np.median(sharpness[wide])
    return unlike


def _like_wide_beats(cleaned, peaks, extra, fs, correlation, constants=None) -> np.ndarray:
    """Boolean mask over the added peaks ``extra``: the ones shaped like the wide beats among the first pass's
    ``peaks`` (``SignalConfig.rpeak_run_add_like``, run s42): width at least ``GuardConstants.run_wide`` x the median
    width of ``peaks`` and a QRS window (shifted by up to +-``run_add_shift_s``) correlating at least ``correlation`` with the wide peaks' median window or one
    of their ``record_templates``. A T wave after a wide beat is wide too but rounder than its QRS (run s41's 201)."""
    constants = constants or rpeak_guard.GUARD     # the guard's (rpeak_guard.constants_for the signal config)
    if extra.size == 0:
        return np.zeros(0, bool)
    amplitude, sharpness, width = rpeak_guard.qrs_shapes(cleaned, peaks, fs, constants)
    wide_from = _wide_from(width, constants)
    wide = width >= wide_from
    if not wide.any():
        return np.zeros(extra.size, bool)
    windows = rpeak_guard.qrs_windows(cleaned, peaks[wide], fs, constants.cluster_window_s)
    median = np.median(windows, axis=0)
    median = median - median.mean()
    shapes = [median / max(float(np.linalg.norm(median)), 1e-12)]
    sample = rpeak_guard.template_sample(int(wide.sum()), constants)
    templates = rpeak_guard.record_templates(amplitude[wide][sample], sharpness[wide][sample], windows[sample],
                                             correlation, constants)[0]
    shapes = np.concatenate([np.stack(shapes), templates])
    at_width = rpeak_guard.qrs_shapes(cleaned, extra, fs, constants)[2]
    # the best of the windows shifted up to +-run_add_shift_s: the first pass's peak of a negative wide beat can sit
    # on the overshoot after its trough and a second-pass peak on the trough, so the windows need not be aligned
    reach = max(1, int(round(constants.run_add_shift_s * float(fs))))
    best = np.full(extra.size, -np.inf)
    for shift in range(-reach, reach + 1):
        at_windows = rpeak_guard.qrs_windows(cleaned, extra + shift, fs, constants.cluster_window_s)
        best = np.maximum(best, (at_windows @ shapes.T).max(axis=1))
    return (best >= correlation) & (at_width >= wide_from)


def _wide_from(width, constants=None) -> float:
    """The QRS width from which a peak counts as a wide beat (``wide_run_spans``, ``_like_wide_beats``):
    ``GuardConstants.run_wide`` x the median width of the record's first-pass peaks."""
    return float((constants or rpeak_guard.GUARD).run_wide * np.median(width))


def wide_run_spans(cleaned, peaks, fs, constants=None) -> np.ndarray:
    """``(n, 2)`` sample spans ``[start, end)`` around the runs of wide beats among ``peaks``: a peak at least
    ``GuardConstants.run_wide`` x the median width of all peaks wide (``rpeak_guard.qrs_shapes``) with a wide
    neighbour under ``run_rr_s`` away (0: every wide peak), +-``run_pad_s`` around it, overlapping spans merged."""
    constants = constants or rpeak_guard.GUARD     # the guard's (rpeak_guard.constants_for the signal config)
    peaks = np.asarray(peaks, dtype=np.int64)
    if peaks.size < 3:
        return np.zeros((0, 2), np.int64)
    width = rpeak_guard.qrs_shapes(cleaned, peaks, fs, constants)[2]
    wide = width >= _wide_from(width, constants)
    if constants.run_rr_s > 0:
        pair = wide[:-1] & wide[1:] & (np.diff(peaks) < constants.run_rr_s * float(fs))
        member = np.zeros(peaks.size, bool)
        member[:-1] |= pair
        member[1:] |= pair
    else:
        member = wide
    if not member.any():
        return np.zeros((0, 2), np.int64)
    pad = int(round(constants.run_pad_s * float(fs)))
    starts, ends = peaks[member] - pad, peaks[member] + pad
    merged = [[starts[0], ends[0]]]
    for a, b in zip(starts[1:].tolist(), ends[1:].tolist()):
        if a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return np.asarray(merged, np.int64)


def _in_spans(samples, spans) -> np.ndarray:
    """Boolean mask of ``samples`` inside any ``[start, end)`` of the sorted, disjoint ``spans``."""
    samples = np.asarray(samples, dtype=np.int64)
    at = np.searchsorted(spans[:, 0], samples, side="right") - 1
    return (at >= 0) & (samples < spans[np.maximum(at, 0), 1])


# ----------------------------------------------------------------------------------------------
# evaluation of detected peaks

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
