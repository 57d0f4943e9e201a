"""The R-peak guard (issue 21): a physiological check of the detections, a search back in long RR gaps and the
off-by-default options built on them, with their fixed constants (``GuardConstants``, ``GUARD``).

``guard_rpeaks`` is the last step of ``rpeaks.find_rpeaks``; the in-graph detector (``ecgsl_keras.serving.edge``) reads
the same constants. Pure numpy / scipy on the cleaned signal and the detector's signal: this module imports no other
module of ``ecgsl_keras.data`` (``rpeaks`` imports it, ``signal`` re-exports its public names).

The constants a detection uses are ``constants_for(config)``: ``GUARD`` (the ``GuardConstants`` defaults, defined in
``ecgsl_keras.config``) with the signal config's ``rpeak_guard_constants`` overrides, so a preset's signal config can
carry them. Rebinding ``rpeak_guard.GUARD`` (how the older experiments under experiments/rpeaks/ try constants) still
works, as ``GUARD`` is read at call time; rebinding the re-export ``signal.GUARD`` does not reach the guard.
"""
from __future__ import annotations

import bisect
import dataclasses
import functools
import math

import numpy as np
import scipy.interpolate
import scipy.signal

from ecgsl_keras.config import GuardConstants, SignalConfig

__all__ = ["GuardConstants", "GUARD", "guard_rpeaks", "guard_keep", "qrs_amplitudes", "qrs_shapes", "qrs_windows",
           "cluster_like", "t_wave_like", "unlike_kept_beat", "qrs_residual", "splits_two_beats", "record_p_wave",
           "blocked_p_wave", "without_own_t_wave", "sign_changes", "small_noisy", "small_wide", "slope_feature",
           "second_proposer", "fixed_step_slope", "pvc_run_like", "p_wave_like", "candidates_p_wave_like",
           "correct_apex", "record_templates", "template_like", "template_sample", "after_wide_beat", "wide_restrict",
           "p_wave_match", "wide_p_wave_like", "p_wave_shaped", "amplitude_reference", "constants_for"]

# the guard's constants when the signal config overrides none (``config.GuardConstants``' defaults)
GUARD = GuardConstants()


def constants_for(config: SignalConfig) -> GuardConstants:
    """The guard's constants for ``config``: ``GUARD`` with ``config.rpeak_guard_constants``' overrides (the
    documented way to change them; every reader -- ``guard_rpeaks``, ``rpeaks``, ``serving.edge`` -- asks here).
    ``GUARD`` is read at call time, so an old experiment that rebinds ``rpeak_guard.GUARD`` still reaches the guard;
    with no override the object returned is ``GUARD`` itself."""
    overrides = config.rpeak_guard_constants
    return dataclasses.replace(GUARD, **dict(overrides)) if overrides else GUARD

_GUARD_NEIGHBOURS = GUARD.neighbours
_GUARD_PERCENTILE = GUARD.percentile
_QRS_HALF_WIDTH_S = GUARD.qrs_half_width_s


def qrs_amplitudes(cleaned, peaks, fs, half_width_s=_QRS_HALF_WIDTH_S) -> np.ndarray:
    """Peak-to-peak amplitude of ``cleaned`` within ``half_width_s`` of each peak (float64, (n,))."""
    x = np.asarray(cleaned, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    half = max(1, int(round(half_width_s * float(fs))))
    index = np.clip(peaks[:, None] + np.arange(-half, half + 1)[None, :], 0, x.shape[0] - 1)
    window = x[index]
    return window.max(axis=1) - window.min(axis=1) if peaks.size else np.zeros(0)


# the surroundings of a peak whose contrast is measured (seconds before and after it; surroundings_amplitude): past the
# QRS (a QRS lasts under 0.12 s and qrs_amplitudes' window is +-qrs_half_width_s), over the PR segment and P wave before
# it and the ST segment and T wave after it, short of a neighbour at the normal rates (run s60)
CONTRAST_OFFSETS_S = (0.2, 0.3, 0.4)


def surroundings_amplitude(cleaned, fs, at, constants: GuardConstants | None = None) -> np.ndarray:
    """For each position ``at``: the median QRS amplitude (``qrs_amplitudes``, +-``qrs_half_width_s``) of the windows
    ``CONTRAST_OFFSETS_S`` before and after it (float64, (n,)): what a peak must stand out of (run s60's
    ``rpeaks.drop_low_contrast``, run s63's aligned wide rescue)."""
    constants = constants or GUARD
    at = np.asarray(at, dtype=np.int64)
    if at.size == 0:
        return np.zeros(0)
    offsets = np.round(np.array(CONTRAST_OFFSETS_S) * float(fs)).astype(np.int64)
    around = np.concatenate([-offsets[::-1], offsets])
    where = np.clip(at[:, None] + around[None, :], 0, np.asarray(cleaned).shape[0] - 1)
    return np.median(qrs_amplitudes(cleaned, where.ravel(), fs, constants.qrs_half_width_s).reshape(where.shape), axis=1)


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
    if constants.sharpness_step_s > 0:
        slope = _largest_fixed_step_slope(x, peaks, fs, half, float(constants.sharpness_step_s))
    else:
        slope = np.abs(np.diff(window, axis=1)).max(axis=1) * fs
    sharpness = slope / np.maximum(amplitude, 1e-12)
    wide = max(1, int(round(constants.shape_half_width_s * fs)))
    around = x[np.clip(peaks[:, None] + np.arange(-wide, wide + 1)[None, :], 0, x.shape[0] - 1)]
    deviation = np.abs(around - around.mean(axis=1, keepdims=True))
    width = np.count_nonzero(deviation > 0.5 * deviation.max(axis=1, keepdims=True), axis=1) / fs
    return amplitude, sharpness, width


def _largest_fixed_step_slope(x, peaks, fs, half, step_s, margin=2) -> np.ndarray:
    """The largest |difference| / ``step_s`` (per second) between neighbouring points ``step_s`` apart spanning each
    peak's +-``half`` samples, on the cubic spline through the window's samples (``margin`` more each side, so the
    spline's ends stay outside). At ``fs`` = 1 / ``step_s`` the points are the samples: the one-sample differences."""
    offsets = np.arange(-half - margin, half + margin + 1)
    samples = x[np.clip(peaks[:, None] + offsets[None, :], 0, x.shape[0] - 1)]
    spline = scipy.interpolate.CubicSpline(offsets / fs, samples, axis=1)
    steps = int(np.floor(2 * half / (fs * step_s) + 1e-9))
    values = spline(-half / fs + np.arange(steps + 1) * step_s)
    return np.abs(np.diff(values, axis=1)).max(axis=1) / step_s


def qrs_windows(cleaned, peaks, fs, half_width_s) -> np.ndarray:
    """Each peak's QRS window of ``cleaned`` (+-``half_width_s``), mean removed, unit norm (float64, (n, w))."""
    x = np.asarray(cleaned, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    half = max(1, int(round(half_width_s * float(fs))))
    w = x[np.clip(peaks[:, None] + np.arange(-half, half + 1)[None, :], 0, x.shape[0] - 1)]
    w = w - w.mean(axis=1, keepdims=True)
    return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)


def cluster_like(positions, amplitude, windows, at, at_amplitude, at_windows, correlation,
                 constants: GuardConstants | None = None, sharpness=None, at_sharpness=None, floor=None) -> np.ndarray:
    """Boolean mask over the peaks ``at`` (with their QRS amplitudes and unit ``qrs_windows``): the ones the cluster
    rescue keeps (``GuardConstants.cluster_*``). A peak's morphology cluster: the kept peaks (sorted ``positions``,
    their ``amplitude`` and ``windows``) among the ``cluster_neighbours`` each side whose windows correlate at least
    ``correlation`` with its own; at least ``cluster_min`` of them, an amplitude of at least ``cluster_amplitude`` x
    the cluster's 75th percentile and, when ``cluster_sharpness`` > 0 and sharpness (``qrs_shapes``) is given, a
    sharpness of at least that x the cluster's median. ``floor``: that amplitude floor instead of ``cluster_amplitude``
    (the P-tested low floor, ``GuardConstants.cluster_low_amplitude``)."""
    constants = constants or GUARD
    floor = constants.cluster_amplitude if floor is None else float(floor)
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
        keep = (similar.sum(axis=1) >= constants.cluster_min) & (at_amplitude >= floor * reference)
        if constants.cluster_sharpness > 0 and sharpness is not None and at_sharpness is not None:
            sharp_reference = _row_nanpercentile(np.where(similar, sharpness[index], np.nan), 50.0)
            keep &= at_sharpness >= constants.cluster_sharpness * sharp_reference
    return keep


def template_sample(n, constants: GuardConstants | None = None) -> np.ndarray:
    """Indices of at most ``templates_sample`` of ``n`` sorted kept peaks, spread evenly (``record_templates``)."""
    constants = constants or GUARD
    return np.unique(np.linspace(0, n - 1, min(n, constants.templates_sample)).astype(np.int64)) if n else np.zeros(0, np.int64)


def record_templates(amplitude, sharpness, windows, correlation, constants: GuardConstants | None = None) -> tuple:
    """The record's QRS morphologies from kept peaks (``GuardConstants.templates_*``): their QRS ``amplitude``,
    ``sharpness`` (``qrs_shapes``) and unit ``windows`` (``qrs_windows``; pass a ``template_sample`` of the record's
    kept peaks). Greedily, the peak whose window correlates at least ``correlation`` with the most peaks not yet taken
    leads a template of them when they are at least ``templates_min`` (their mean window, mean removed, unit norm;
    their 75th percentile amplitude and median sharpness); they are then taken; at most ``templates_count``. Returns
    ``(templates (k, w), amplitude (k,), sharpness (k,))``, k = 0 when no shape repeats enough."""
    constants = constants or GUARD
    windows = np.asarray(windows, dtype=np.float64)
    similar = (windows @ windows.T) >= correlation
    weights = similar.astype(np.float32)    # counts as a matrix-vector product: far faster than boolean row sums
    free = np.ones(windows.shape[0], bool)
    out = ([], [], [])
    for _ in range(constants.templates_count if windows.shape[0] else 0):
        counts = (weights @ free.astype(np.float32)) * free
        lead = int(np.argmax(counts))
        if counts[lead] < constants.templates_min:
            break
        members = similar[lead] & free
        template = windows[members].mean(axis=0)
        template = template - template.mean()
        out[0].append(template / max(float(np.linalg.norm(template)), 1e-12))
        out[1].append(np.percentile(amplitude[members], constants.percentile))
        out[2].append(np.median(sharpness[members]))
        free &= ~members
    if not out[0]:
        return np.zeros((0, windows.shape[1] if windows.ndim == 2 else 0)), np.zeros(0), np.zeros(0)
    return np.stack(out[0]), np.asarray(out[1]), np.asarray(out[2])


def template_like(templates, at_amplitude, at_windows, correlation, constants: GuardConstants | None = None,
                  at_sharpness=None) -> np.ndarray:
    """Boolean mask over peaks with QRS amplitudes ``at_amplitude`` and unit ``at_windows``: the ones the record's
    morphologies ``templates`` (``record_templates``) keep -- a window correlating at least ``correlation`` with one of
    them, an amplitude of at least ``templates_amplitude`` x its amplitude and, when ``at_sharpness`` is given and
    ``templates_sharpness`` > 0, a sharpness of at least that x its sharpness."""
    constants = constants or GUARD
    shapes, amplitude, sharpness = templates
    at_windows = np.asarray(at_windows, dtype=np.float64)
    if shapes.shape[0] == 0 or at_windows.shape[0] == 0:
        return np.zeros(at_windows.shape[0], bool)
    match = (at_windows @ shapes.T) >= correlation
    match &= np.asarray(at_amplitude)[:, None] >= constants.templates_amplitude * amplitude[None, :]
    if at_sharpness is not None and constants.templates_sharpness > 0:
        match &= np.asarray(at_sharpness)[:, None] >= constants.templates_sharpness * sharpness[None, :]
    return match.any(axis=1)


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
    ``t_wave_cluster``) and followed by no kept peak up to the lag + ``t_wave_clear_s``. With
    ``t_wave_unlike_correlation`` > 0 a peak smaller and blunter than ``p`` (``unlike_kept_beat``) needs only that
    correlation (issue 21 run s41-t201)."""
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
    needed = np.full(at.size, float(correlation))
    floor = float(constants.t_wave_unlike_correlation)
    if 0 < floor < correlation:
        which = np.flatnonzero([t is not None for t in templates])
        before = kept[np.clip(np.searchsorted(kept, at[which]) - 1, 0, kept.size - 1)]
        needed[which[unlike_kept_beat(x, at[which], before, fs, constants)]] = floor
    for i, template in enumerate(templates):
        if template is None:
            continue
        norm = np.linalg.norm(template) * np.linalg.norm(own[i])
        if norm <= 0:
            continue
        out[i] = ((own[i] @ template) / norm >= needed[i]
                  and np.ptp(own[i]) <= constants.t_wave_size * np.ptp(template))
    return out


def unlike_kept_beat(cleaned, at, before, fs, constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask over the peaks ``at``: smaller and blunter than the kept beat ``before`` each (same length), as its
    T wave is and a QRS seldom is (``qrs_shapes``: amplitude under ``t_wave_unlike_amplitude`` x that beat's, sharpness
    under ``t_wave_unlike_sharpness`` x its; issue 21 run s41-t201)."""
    constants = constants or GUARD
    at = np.asarray(at, dtype=np.int64)
    if at.size == 0:
        return np.zeros(0, bool)
    amplitude, sharpness, _ = qrs_shapes(cleaned, np.concatenate([at, np.asarray(before, np.int64)]), fs, constants)
    n = at.size
    return ((amplitude[:n] < constants.t_wave_unlike_amplitude * amplitude[n:])
            & (sharpness[:n] < constants.t_wave_unlike_sharpness * sharpness[n:]))


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
               deep: float = 0.0, windows=None, cluster: float = 0.0, templates: float = 0.0,
               wide: float = 0.0, p_like=None, wide_templates: float = 0.0, wide_aligned: float = 0.0,
               align=None, moved=None, wide_aligned_contrast: float = 0.0, surroundings=None,
               cluster_p_like=None) -> np.ndarray:
    """The guard's amplitude check with the shape rescue (``GuardConstants``), two passes: boolean
    mask of the peaks kept (all of them when none would be). ``deep`` > 0 (``SignalConfig.rpeak_rescue_deep``):
    a peak down to ``deep`` x the reference is also rescued when it is sharper and narrower than the
    QRS complexes around it (``GuardConstants.deep_sharpness``, ``deep_width``). ``wide`` > 0
    (``SignalConfig.rpeak_rescue_wide``): a peak down to ``wide`` x the reference is also rescued when it is wider
    than ``rescue_width`` x and at least ``wide_sharpness`` x as sharp as the QRS complexes around it (a small PVC;
    run s43). ``cluster`` > 0
    (``SignalConfig.rpeak_rescue_cluster``, with ``windows`` from ``qrs_windows``): a peak still dropped but over
    ``cluster_floor`` x the reference is rescued when its morphology cluster says so (``cluster_like``) or, with
    ``templates`` > 0 (``SignalConfig.rpeak_rescue_templates``), one of the record's morphologies (``template_like``;
    built in each pass from the peaks it keeps before the cluster rescue). ``p_like``: a function of the
    candidates' indices into ``peaks`` returning the mask of those shaped like a P wave, which the wide rescue refuses
    (``GuardConstants.wide_p_wave``, ``wide_restrict``). ``wide_templates`` > 0
    (``SignalConfig.rpeak_rescue_wide_template``, with ``windows``): after the cluster rescue, a dropped wide peak shaped
    like one of the record's wide morphologies is kept too (``wide_template_like``). ``wide_aligned`` > 0
    (``SignalConfig.rpeak_rescue_wide_aligned``, with ``windows`` and ``align``: ``aligned_shapes`` on the guard's
    signal): then a dropped small wide early peak is kept where it lines up with one of the record's wide morphologies
    (``wide_aligned_like``); ``moved`` (an int64 array of ``peaks``' size) receives the position each such peak is
    kept at (-1 for the others). ``wide_aligned_contrast`` > 0 (``SignalConfig.rpeak_rescue_wide_aligned_contrast``,
    with ``surroundings``: ``surroundings_amplitude`` on the guard's signal): such a peak is kept only when it stands
    out of its surroundings there (run s63). ``cluster_p_like``: with ``GuardConstants.cluster_low_amplitude`` and
    ``cluster_p_wave`` > 0, a function of candidate indices into ``peaks`` returning the mask of those shaped like the
    record's P wave (``p_wave_shaped``): the cluster rescue keeps the others down to ``cluster_low_amplitude`` x their
    cluster (run s65b)."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    keep = np.ones(peaks.size, bool)
    low_floor = (cluster_p_like is not None and 0 < constants.cluster_low_amplitude < constants.cluster_amplitude
                 and constants.cluster_p_wave > 0)
    for _ in range(2):
        if keep.sum() < 3:
            break
        if moved is not None:
            moved[:] = -1
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
            if wide > 0:
                wide_like = ((amplitude >= wide * reference) & ~qrs_like & ~large
                             & (sharpness >= constants.wide_sharpness * sharp_ref)
                             & (width > constants.rescue_width * width_ref))
                if wide_like.any():
                    wide_kept = (large | qrs_like) & (width > constants.rescue_width * width_ref)
                    wide_like &= wide_restrict(peaks, large, wide_kept, wide_like, windows, constants, p_like)
                qrs_like |= wide_like
            new = large | qrs_like
        shapes = None
        if cluster > 0 and templates > 0 and windows is not None and new.any():
            pick = np.flatnonzero(new)[template_sample(int(new.sum()), constants)]
            shapes = record_templates(amplitude[pick], sharpness[pick], windows[pick], templates, constants)
        for _ in range(constants.cluster_rounds if cluster > 0 and windows is not None else 0):
            low = np.flatnonzero(~new & (amplitude >= constants.cluster_floor * reference))
            if low.size == 0 or not new.any():
                break
            rescued = cluster_like(peaks[new], amplitude[new], windows[new], peaks[low], amplitude[low], windows[low],
                                   cluster, constants, sharpness[new], sharpness[low])
            if low_floor:
                # under the floor but over the low one: kept unless shaped like the record's P wave (a blocked P wave
                # repeats a shape too)
                lower = ~rescued & cluster_like(peaks[new], amplitude[new], windows[new], peaks[low], amplitude[low],
                                                windows[low], cluster, constants, sharpness[new], sharpness[low],
                                                floor=constants.cluster_low_amplitude)
                if lower.any():
                    lower[lower] = ~cluster_p_like(low[lower])
                    rescued |= lower
            if shapes is not None:
                rescued |= template_like(shapes, amplitude[low], windows[low], templates, constants, sharpness[low])
            if not rescued.any():
                break
            new = new.copy()
            new[low[rescued]] = True
        if wide_templates > 0 and windows is not None and new.sum() >= 3:
            new = new | wide_template_like(peaks, amplitude, sharpness, width, windows, reference, new, wide_templates,
                                           constants)
        if wide_aligned > 0 and windows is not None and align is not None and new.sum() >= 3:
            rescued, at = wide_aligned_like(peaks, amplitude, sharpness, width, windows, reference, new, wide_aligned,
                                            align, constants, contrast=wide_aligned_contrast, surroundings=surroundings)
            new = new | rescued
            if moved is not None:
                moved[rescued] = at[rescued]
        if not new.any():
            break
        keep = new
    return keep


def aligned_shapes(cleaned, fs, at, templates, constants: GuardConstants | None = None) -> tuple:
    """For each position ``at``: the shift within +-``GuardConstants.wide_align_s`` where its QRS window
    (``qrs_windows``, +-``cluster_window_s``) correlates best with one of ``templates`` (unit rows, ``record_templates``).
    Returns ``(correlation, template index, position, amplitude, sharpness)`` there (``qrs_shapes``), each (n,)."""
    constants = constants or GUARD
    at = np.asarray(at, dtype=np.int64)
    x = np.asarray(cleaned, dtype=np.float64)
    reach = max(1, int(round(constants.wide_align_s * float(fs))))
    shift = np.arange(-reach, reach + 1)
    positions = np.clip(at[:, None] + shift[None, :], 0, x.shape[0] - 1)
    windows = qrs_windows(x, positions.ravel(), fs, constants.cluster_window_s).reshape(at.size, shift.size, -1)
    correlation = np.einsum("nsw,kw->nsk", windows, np.asarray(templates, dtype=np.float64))
    flat = correlation.reshape(at.size, -1).argmax(axis=1)
    best_shift, template = np.unravel_index(flat, correlation.shape[1:])
    rows = np.arange(at.size)
    position = positions[rows, best_shift]
    amplitude, sharpness, _ = qrs_shapes(x, position, fs, constants)
    return correlation[rows, best_shift, template], template, position, amplitude, sharpness


def wide_aligned_like(peaks, amplitude, sharpness, width, windows, reference, kept, correlation, align,
                      constants: GuardConstants | None = None, contrast: float = 0.0, surroundings=None) -> tuple:
    """``(mask, position)`` over ``peaks`` (sorted): the peaks not ``kept`` that line up with one of the record's WIDE
    morphologies (``SignalConfig.rpeak_rescue_wide_aligned``, issue 21 run s62), and the position each is kept at (-1
    elsewhere). A candidate is at least ``cluster_floor`` x the guard's ``reference`` (under run s61's
    ``rescue_amplitude`` floor), wider than ``rescue_width`` x the median width of the kept peaks around it, and early
    (the kept peak before it closer than the one after it: a premature beat's coupling, then its pause). The
    morphologies are ``record_templates`` (at ``correlation``) of the kept peaks that are that wide (as
    ``wide_template_like``). ``align`` (``aligned_shapes`` on the guard's signal: a function of positions and
    templates) moves it to the shift within +-``wide_align_s`` where it correlates best with one of them: the primary
    detector's extremum of a small wide beat may sit on either lobe of its QRS. It is kept there when that correlation
    is at least ``correlation``, its QRS amplitude there at least ``rescue_amplitude`` x the reference and its sharpness
    at least ``templates_sharpness`` x that morphology's: the floor is lowered only for a peak shaped like one of the
    record's wide beats. ``contrast`` > 0 (``SignalConfig.rpeak_rescue_wide_aligned_contrast``, run s63; with
    ``surroundings``, a function of positions: ``surroundings_amplitude`` on the guard's signal): it is kept only when
    its QRS amplitude there is also at least ``contrast`` x the median QRS amplitude around that position (run s60's
    contrast test): run s62 kept bumps of the record's noise inside the builders' pauses and blocked spans, where the
    best of many shifts lets noise line up with a wide morphology, but a bump of the noise does not stand out of the
    noise around it."""
    constants = constants or GUARD
    out = np.zeros(peaks.size, bool)
    position = np.full(peaks.size, -1, np.int64)
    width_ref = _neighbour_percentile(peaks[kept], width[kept], peaks, constants.neighbours, 50.0)
    wide = width > constants.rescue_width * width_ref
    low = np.flatnonzero(~kept & wide & (amplitude >= constants.cluster_floor * reference))
    pick = np.flatnonzero(kept & wide)
    if low.size == 0 or pick.size < constants.templates_min:
        return out, position
    beats = peaks[kept]
    i = np.searchsorted(beats, peaks[low])
    before = np.where(i > 0, peaks[low] - beats[np.maximum(i - 1, 0)], np.inf)
    after = np.where(i < beats.size, beats[np.minimum(i, beats.size - 1)] - peaks[low], np.inf)
    low = low[before < after]
    if low.size == 0:
        return out, position
    pick = pick[template_sample(pick.size, constants)]
    shapes, _, shape_sharpness = record_templates(amplitude[pick], sharpness[pick], windows[pick], correlation, constants)
    if shapes.shape[0] == 0:
        return out, position
    best, template, at, at_amplitude, at_sharpness = align(peaks[low], shapes)
    ok = ((best >= correlation) & (at_amplitude >= constants.rescue_amplitude * reference[low])
          & (at_sharpness >= constants.templates_sharpness * shape_sharpness[template]))
    if contrast > 0 and ok.any():
        if surroundings is None:
            raise ValueError("wide_aligned_like: contrast > 0 needs surroundings (surroundings_amplitude)")
        test = np.flatnonzero(ok)
        ok[test] = at_amplitude[test] >= contrast * surroundings(at[test])
    out[low[ok]] = True
    position[low[ok]] = at[ok]
    return out, position


def wide_template_like(peaks, amplitude, sharpness, width, windows, reference, kept, correlation,
                       constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask over ``peaks`` (sorted): the peaks not ``kept`` that are one of the record's WIDE morphologies
    (``SignalConfig.rpeak_rescue_wide_template``, issue 21 run s61). A candidate is at least ``rescue_amplitude`` x the
    guard's ``reference`` and wider than ``rescue_width`` x the median width of the kept peaks around it; the
    morphologies are ``record_templates`` (at ``correlation``) of the kept peaks that are that wide, so a small PVC is
    compared with the record's PVCs, not with its narrow beats. It is kept when ``template_like`` says so (window,
    amplitude and sharpness against a wide morphology) and it comes early: the kept peak before it is closer than the
    one after it (a premature beat's coupling, then its pause; a bump late in a long gap is not)."""
    constants = constants or GUARD
    out = np.zeros(peaks.size, bool)
    width_ref = _neighbour_percentile(peaks[kept], width[kept], peaks, constants.neighbours, 50.0)
    wide = width > constants.rescue_width * width_ref
    low = np.flatnonzero(~kept & wide & (amplitude >= constants.rescue_amplitude * reference))
    pick = np.flatnonzero(kept & wide)
    if low.size == 0 or pick.size < constants.templates_min:
        return out
    pick = pick[template_sample(pick.size, constants)]
    shapes = record_templates(amplitude[pick], sharpness[pick], windows[pick], correlation, constants)
    if shapes[0].shape[0] == 0:
        return out
    beats = peaks[kept]
    i = np.searchsorted(beats, peaks[low])
    before = np.where(i > 0, peaks[low] - beats[np.maximum(i - 1, 0)], np.inf)
    after = np.where(i < beats.size, beats[np.minimum(i, beats.size - 1)] - peaks[low], np.inf)
    out[low] = template_like(shapes, amplitude[low], windows[low], correlation, constants, sharpness[low]) & (before < after)
    return out


def wide_restrict(peaks, large, kept, candidates, windows, constants: GuardConstants | None = None,
                  p_like=None) -> np.ndarray:
    """Boolean mask over all ``peaks`` (sorted): the wide rescue's ``candidates`` (mask) that pass its restrictions
    (``GuardConstants.wide_premature``, ``wide_like``, ``wide_p_wave``; all of them when all are off). ``large``: the
    peaks over the amplitude threshold (their RR intervals make the local median RR); ``kept``: the wide peaks the
    check keeps without the wide rescue (the shapes a candidate is compared with, ``windows`` from ``qrs_windows``);
    ``p_like``: with ``wide_p_wave`` > 0, a function of candidate indices returning the mask of those shaped like the
    record's P wave (``wide_p_wave_like``), which are refused."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    ok = np.asarray(candidates, bool).copy()
    at = np.flatnonzero(ok)
    if constants.wide_p_wave > 0 and at.size:
        if p_like is None:
            raise ValueError("wide_restrict: GuardConstants.wide_p_wave > 0 needs p_like (wide_p_wave_like)")
        ok[at] &= ~np.asarray(p_like(at), bool)
        at = np.flatnonzero(ok)
    if constants.wide_premature > 0:
        beats = peaks[large]
        if beats.size >= 3:
            median_rr = _neighbour_percentile(beats[1:], np.diff(beats), peaks[at], constants.neighbours, 50.0)
            before = np.searchsorted(beats, peaks[at]) - 1
            # no beat before it: nothing says it is premature, so it is not rescued
            gap = np.where(before >= 0, peaks[at] - beats[np.maximum(before, 0)], np.inf)
            ok[at] &= gap <= constants.wide_premature * median_rr
        else:
            ok[at] = False
    if constants.wide_like > 0:
        if windows is None:
            raise ValueError("wide_restrict: GuardConstants.wide_like > 0 needs the peaks' qrs_windows")
        reference = np.asarray(windows)[np.flatnonzero(kept)]
        if reference.shape[0] == 0:
            ok[at] = False
        else:
            ok[at] &= (np.asarray(windows)[at] @ reference.T).max(axis=1) >= constants.wide_like
    return ok


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


def amplitude_reference(positions, amplitude, queries, constants: GuardConstants | None = None) -> np.ndarray:
    """The guard's reference QRS amplitude at each query position: the ``percentile``-th percentile of ``amplitude``
    at the ``neighbours`` sorted ``positions`` each side (``GuardConstants``; NaN with no position)."""
    constants = constants or GUARD
    return _neighbour_percentile(positions, amplitude, queries, constants.neighbours, constants.percentile)


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
       **P-wave check of the search back** (``GUARD.searchback_p_wave`` > 0, off by default; Python path only, issue 21
       run s41-block100): a candidate ``p_wave_like`` flags at that distance is not added (``candidates_p_wave_like``).
       **Deep rescue** (``config.rpeak_rescue_deep`` > 0, off by default; in the graph too, ``EndToEnd.guard``): see ``guard_keep``.
       **Cluster rescue** (``config.rpeak_rescue_cluster`` > 0, off by default; Python path only): a dropped peak
       whose QRS correlates with kept peaks around it and is not too small against them stays (``cluster_like``);
       with ``config.rpeak_rescue_templates`` > 0 (off by default) also one matching a morphology of the whole record
       (``record_templates``, ``template_like``). With ``GUARD.cluster_low_amplitude`` and ``cluster_p_wave`` > 0 (off
       by default; Python path only, issue 21 run s65b) it also keeps peaks down to that floor unless they are shaped
       like the record's P wave (``p_wave_shaped``).
       **Aligned wide rescue** (``config.rpeak_rescue_wide_aligned`` > 0, off by default; Python path only, issue 21
       run s62): a small early wide peak is kept where it lines up with one of the record's wide morphologies, and
       moved there (``wide_aligned_like``); with ``config.rpeak_rescue_wide_aligned_contrast`` > 0 (run s63) only when
       it stands out of its surroundings there (``surroundings_amplitude``).
       **P-wave check** (``config.rpeak_guard_p_wave`` > 0, off by default; in the graph too,
       ``EndToEnd.p_wave_check``): after the amplitude check, peaks shaped and sized like the record's (large) P wave
       with no P wave of their own before them are dropped (``p_wave_like``); with ``config.rpeak_guard_p_wave_gap`` > 0
       (Python path only) not those between two kept peaks over that x the local median RR apart (``splits_two_beats``).
    3. **Second proposer** (``config.rpeak_second_proposer`` > 0, off by default; Python path only): the beats
       neurokit2's threshold logic never proposed, taken from the local maxima of the smoothed |slope| when
       they are spaced, sized and shaped like the kept beats around them (``second_proposer``).
       **T-wave veto** (``config.rpeak_guard_t_wave`` > 0, off by default; Python path only): a candidate shaped like
       the T wave of the kept beat before it is not added (``t_wave_like``); with ``GUARD.t_wave_all`` the same
       check drops kept peaks, after the second proposer. With ``GUARD.t_wave_unlike_correlation`` > 0 (run s41-t201) a
       peak smaller and blunter than the kept beat before it is vetoed at that lower correlation (``unlike_kept_beat``).
       **QRS residual** (``config.rpeak_guard_residual`` > 0, off by default; Python path only): a candidate only the
       cluster rescue's closer spacing lets in is added when it leaves a QRS after subtracting what follows the beats
       shaped like the kept beat before it (``qrs_residual``; ``GUARD.residual_strict``, ``cluster_close_min``,
       ``cluster_loose_only``).
    4. **Wide-peak check** (``config.rpeak_guard_wide`` > 0, off by default; Python path only): peaks small and wide
       against the peaks around them are dropped (``small_wide``).
       **Noise check** (``config.rpeak_guard_noise`` > 0, off by default; in the graph too, ``EndToEnd.noise_check``):
       peaks small against the peaks around them in a stretch with more slope-sign changes than the record's beats have
       are dropped (``small_noisy``).
       **Blocked-P-wave check** (``config.rpeak_guard_blocked_p`` > 0, off by default; Python path only): small peaks
       one PR interval before the middle of the gap between their kept neighbours, shaped like the record's P wave
       (and without one of their own before them) or blunt and wide, are dropped (``blocked_p_wave``).
       **Post-wide-beat check** (``config.rpeak_guard_post_wide`` > 0, off by default; in the graph too,
       ``EndToEnd.post_wide_check``): a small, blunt peak shortly after a wide kept beat (its T wave) is dropped
       (``after_wide_beat``).
    The **template proposer** (``config.rpeak_propose_templates`` > 0, off by default; Python path only) runs after the
    second proposer: extremes far from every kept peak that match one of the record's QRS morphologies are added
    (``template_proposer``), and the checks of step 4 then decide on them as on every peak.
    """
    peaks = np.unique(np.asarray(peaks, dtype=np.int64))
    cleaned = np.asarray(cleaned, dtype=np.float64)
    fs = float(fs)
    guard = float(config.rpeak_guard_amplitude)
    constants = constants_for(config)
    amplitude = None
    if guard > 0 and peaks.size >= 3:
        amplitude, sharpness, width = qrs_shapes(cleaned, peaks, fs, constants)
        cluster = float(config.rpeak_rescue_cluster)
        # the wide rescue's shape restriction (wide_like) compares the same windows as the cluster rescue
        need = (cluster > 0 or (config.rpeak_rescue_wide > 0 and constants.wide_like > 0)
                or config.rpeak_rescue_wide_template > 0 or config.rpeak_rescue_wide_aligned > 0)
        windows = qrs_windows(cleaned, peaks, fs, constants.cluster_window_s) if need else None
        p_like = None
        moved = np.full(peaks.size, -1, np.int64) if config.rpeak_rescue_wide_aligned > 0 else None
        if config.rpeak_rescue_wide > 0 and constants.wide_p_wave > 0:
            # the wide rescue's P-wave refusal (wide_p_wave): the record's P wave is found once, from all peaks
            p_like = _PWaveShaped(peaks, cleaned, fs, constants.wide_p_wave, constants, amplitude)
        cluster_p_like = None
        if cluster > 0 and constants.cluster_low_amplitude > 0 and constants.cluster_p_wave > 0:
            # the cluster rescue's P-tested low floor (run s65b): the record's P wave is found once, from all peaks
            cluster_p_like = _PWaveShaped(peaks, cleaned, fs, constants.cluster_p_wave, constants, amplitude)
        keep = guard_keep(peaks, amplitude, sharpness, width, guard, constants, deep=float(config.rpeak_rescue_deep),
                          wide=float(config.rpeak_rescue_wide), p_like=p_like,
                          wide_templates=float(config.rpeak_rescue_wide_template),
                          wide_aligned=float(config.rpeak_rescue_wide_aligned), moved=moved,
                          align=functools.partial(aligned_shapes, cleaned, fs, constants=constants),
                          wide_aligned_contrast=float(config.rpeak_rescue_wide_aligned_contrast),
                          surroundings=functools.partial(surroundings_amplitude, cleaned, fs, constants=constants),
                          windows=windows, cluster=cluster, templates=float(config.rpeak_rescue_templates),
                          cluster_p_like=cluster_p_like)
        if moved is not None and (moved[keep] >= 0).any():
            # the aligned wide rescue's peaks sit where they line up with the record's wide beats (run s62)
            shifted = moved >= 0
            peaks, amplitude = peaks.copy(), amplitude.copy()
            peaks[shifted] = moved[shifted]
            amplitude[shifted] = qrs_amplitudes(cleaned, moved[shifted], fs, constants.qrs_half_width_s)
            order = np.argsort(peaks[keep], kind="stable")
            peaks, amplitude = peaks[keep][order], amplitude[keep][order]
            first = np.concatenate([[True], np.diff(peaks) > 0])
            peaks, amplitude = peaks[first], amplitude[first]
        else:
            peaks, amplitude = peaks[keep], amplitude[keep]
        if config.rpeak_guard_p_wave > 0 and peaks.size >= 3:
            keep = ~p_wave_like(peaks, amplitude, cleaned, fs, float(config.rpeak_guard_p_wave), constants)
            if config.rpeak_guard_p_wave_gap > 0:
                keep |= splits_two_beats(peaks, float(config.rpeak_guard_p_wave_gap), constants,
                                         beats=keep if constants.p_wave_gap_kept else None)
            peaks, amplitude = peaks[keep], amplitude[keep]
    ratio = float(config.rpeak_searchback)
    detect_signal = np.asarray(detect_signal, dtype=np.float64)
    second = float(config.rpeak_second_proposer)
    feature = (slope_feature(detect_signal, fs, float(config.rpeak_guard_slope_step_s))
               if second > 0 and peaks.size >= 3 else None)
    if ratio > 0 and peaks.size >= 3:
        peaks = _search_back(peaks, cleaned, detect_signal, fs, config, amplitude, feature)
    if second > 0 and peaks.size >= 3:
        peaks = second_proposer(peaks, cleaned, detect_signal, fs, config, feature, constants)
    if config.rpeak_propose_templates > 0 and peaks.size >= 3:
        peaks = template_proposer(peaks, cleaned, fs, float(config.rpeak_propose_templates), constants)
    if config.rpeak_guard_t_wave > 0 and constants.t_wave_all and peaks.size >= 3:
        peaks = peaks[~t_wave_like(peaks, peaks, cleaned, fs, float(config.rpeak_guard_t_wave), constants)]
    if config.rpeak_guard_wide > 0 and peaks.size >= 3:
        peaks = peaks[~small_wide(peaks, cleaned, fs, float(config.rpeak_guard_wide), constants)]
    if config.rpeak_guard_noise > 0 and peaks.size >= 3:
        peaks = peaks[~small_noisy(peaks, cleaned, fs, float(config.rpeak_guard_noise), constants)]
    if config.rpeak_guard_own_t > 0 and peaks.size >= 3:
        peaks = peaks[~without_own_t_wave(peaks, cleaned, fs, float(config.rpeak_guard_own_t), constants)]
    if config.rpeak_guard_blocked_p > 0 and peaks.size >= 3:
        peaks = peaks[~blocked_p_wave(peaks, cleaned, fs, float(config.rpeak_guard_blocked_p), constants)]
    if config.rpeak_guard_post_wide > 0 and peaks.size >= 3:
        peaks = peaks[~after_wide_beat(peaks, cleaned, fs, float(config.rpeak_guard_post_wide), constants)]
    return peaks


def template_proposer(peaks, cleaned, fs, correlation, constants: GuardConstants | None = None) -> np.ndarray:
    """``peaks`` (sorted kept peaks) with the beats the record's own QRS morphologies find where no detector proposed
    one (``SignalConfig.rpeak_propose_templates`` = ``correlation``, ``GuardConstants.propose_*``): the local maxima
    and minima of ``cleaned`` at least ``propose_gap_s`` from every kept peak and from each other whose QRS window
    correlates at least ``correlation`` with a morphology of ``record_templates`` (built from a ``template_sample`` of
    the kept peaks), with at least ``propose_amplitude`` x its amplitude and ``templates_sharpness`` x its sharpness
    (``template_like``). Why: the early multiform PVCs of MIT-BIH 203 (run s37: 43 of its 50 missed beats on block21
    never proposed), too close to the beat before them for the threshold logic and the second proposer's spacing.
    Sorted int64 out."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    x = np.asarray(cleaned, dtype=np.float64)
    fs = float(fs)
    if correlation <= 0 or peaks.size < 3:
        return peaks
    gap = max(1, int(round(constants.propose_gap_s * fs)))
    at = np.unique(np.concatenate([scipy.signal.find_peaks(x, distance=gap)[0],
                                   scipy.signal.find_peaks(-x, distance=gap)[0]]))
    j = np.searchsorted(peaks, at)
    before = at - peaks[np.clip(j - 1, 0, peaks.size - 1)]
    after = peaks[np.clip(j, 0, peaks.size - 1)] - at
    at = at[(j > 0) & (j < peaks.size) & (before >= gap) & (after >= gap)]   # inside the record, far from kept peaks
    if at.size == 0:
        return peaks
    pick = template_sample(peaks.size, constants)
    amplitude, sharpness, _ = qrs_shapes(x, peaks[pick], fs, constants)
    shapes = record_templates(amplitude, sharpness, qrs_windows(x, peaks[pick], fs, constants.cluster_window_s),
                              correlation, constants)
    at_amplitude, at_sharpness, _ = qrs_shapes(x, at, fs, constants)
    at_windows = qrs_windows(x, at, fs, constants.cluster_window_s)
    strict = dataclasses.replace(constants, templates_amplitude=constants.propose_amplitude)
    at = at[template_like(shapes, at_amplitude, at_windows, correlation, strict, at_sharpness)]
    if at.size > 1:     # a maximum and a minimum of one QRS: keep the larger |x| of candidates closer than the gap
        order = np.argsort(-np.abs(x[at]), kind="stable")
        taken = []
        for i in order:
            if all(abs(int(at[i]) - t) >= gap for t in taken):
                taken.append(int(at[i]))
        at = np.asarray(taken, np.int64)
    return np.unique(np.concatenate([peaks, at]))


def after_wide_beat(peaks, cleaned, fs, ratio, constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask of the kept ``peaks`` that look like the T wave of the wide beat before them
    (``SignalConfig.rpeak_guard_post_wide`` = ``ratio``, ``GuardConstants.post_wide_*``): under ``post_wide_lag_s``
    after a kept peak at least ``post_wide_width`` x as wide as the median of the peaks around it, and under ``ratio``
    x its QRS amplitude and ``post_wide_sharpness`` x its sharpness (``qrs_shapes``). Unlike the T-wave veto it needs
    no repeated T wave: a multiform PVC's (MIT-BIH 203) has no template."""
    constants = constants or GUARD
    peaks = np.asarray(peaks, dtype=np.int64)
    out = np.zeros(peaks.size, bool)
    if peaks.size < 3:
        return out
    later = 1 + np.flatnonzero(np.diff(peaks) < constants.post_wide_lag_s * float(fs))
    if later.size == 0:
        return out
    # shapes (qrs_shapes) only where the check needs them: the close peaks, the beats before them and the neighbours
    # whose median width is the reference (at every peak, run s37's first timing put the point at 1.31x today's
    # detector, over the issue's 1.3x)
    n = constants.neighbours
    needed = np.unique(np.clip(later[:, None] + np.arange(-n, n + 1)[None, :], 0, peaks.size - 1))
    amplitude, sharpness, width = (np.full(peaks.size, np.nan) for _ in range(3))
    amplitude[needed], sharpness[needed], width[needed] = qrs_shapes(cleaned, peaks[needed], fs, constants)
    median_width = _neighbour_percentile(peaks, width, peaks[later], n, 50.0)
    before = later - 1
    out[later] = ((width[before] >= constants.post_wide_width * median_width)
                  & (amplitude[later] < ratio * amplitude[before])
                  & (sharpness[later] < constants.post_wide_sharpness * sharpness[before]))
    return out


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


def _p_wave_waves(x, peaks, amplitude, fs, constants):
    """The record's P waves seen from its confident peaks (QRS ``amplitude`` at least ``p_wave_confident`` x the 75th
    percentile, at most ``p_wave_template_beats`` spread over the record): ``(lag, confident, waves)`` -- the R-to-P-apex
    lag in samples, those peaks and their P windows (+-p_wave_half_width_s, mean removed) -- or None where there are
    too few confident peaks or the largest wave sits at an end of ``p_wave_lag_s`` (the previous T wave or the QRS
    onset). Shared by ``p_wave_like`` and ``record_p_wave``."""
    confident = peaks[amplitude >= constants.p_wave_confident * np.percentile(amplitude, constants.percentile)]
    if confident.size < 2 * constants.neighbours:
        return None
    confident = confident[np.linspace(0, confident.size - 1,
                                      min(confident.size, constants.p_wave_template_beats)).astype(int)]
    lo, hi = (int(round(v * float(fs))) for v in constants.p_wave_lag_s)
    before = np.median(x[np.clip(confident[:, None] + np.arange(-hi, -lo + 1)[None, :], 0, x.size - 1)], axis=0)
    lag = hi - int(np.argmax(np.abs(before - np.median(before))))   # R apex to P apex (samples)
    if not lo < lag < hi:
        return None
    half = max(1, int(round(constants.p_wave_half_width_s * float(fs))))
    waves = x[np.clip((confident - lag)[:, None] + np.arange(-half, half + 1)[None, :], 0, x.size - 1)]
    return lag, confident, waves - waves.mean(axis=1, keepdims=True)


def _p_wave_consistency(waves, template, norm) -> float:
    """Median correlation of the P ``waves`` with their ``template`` (of norm ``norm``): low in atrial fibrillation."""
    return float(np.median((waves @ template) / np.maximum(np.linalg.norm(waves, axis=1), 1e-12) / norm))


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
    found = _p_wave_waves(x, peaks, amplitude, fs, constants)
    if found is None:
        return None
    lag, _, waves = found
    template = np.median(waves, axis=0)
    template = template - template.mean()
    norm = float(np.linalg.norm(template))
    if norm <= 0 or _p_wave_consistency(waves, template, norm) < constants.p_wave_consistency:
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
    c, size = p_wave_match(x, peaks[which], fs, template, constants)
    own, _ = p_wave_match(x, peaks[which] - lag, fs, template, constants)
    out[which] |= ((c >= correlation) & (size <= constants.blocked_p_size)
                   & (size >= 1.0 / constants.blocked_p_size) & (own < constants.blocked_p_own)
                   & (sharpness[which] <= constants.blocked_p_sharpness * sharp_reference))
    return out


def p_wave_match(x, at, fs, template, constants: GuardConstants | None = None):
    """How much the signal ``x`` at samples ``at`` looks like the P ``template`` (``record_p_wave``): the best
    correlation of the mean-removed window (the template's size) over shifts up to +-``p_wave_shift_s``, and that
    window's peak-to-peak over the template's. Shared by ``blocked_p_wave`` and ``wide_p_wave_like``."""
    constants = constants or GUARD
    at = np.asarray(at, dtype=np.int64)
    half = template.size // 2
    shift = int(round(constants.p_wave_shift_s * float(fs)))
    norm = float(np.linalg.norm(template))
    w = x[np.clip(at[:, None] + np.arange(-half - shift, half + shift + 1)[None, :], 0, x.size - 1)]
    w = np.lib.stride_tricks.sliding_window_view(w, template.size, axis=1)
    w = w - w.mean(axis=2, keepdims=True)        # (n, 2 shift + 1, size): the mean-removed windows at each shift
    c = (w @ template) / np.maximum(np.linalg.norm(w, axis=2), 1e-12) / norm
    best = c.argmax(axis=1)
    size = np.ptp(w[np.arange(at.size), best], axis=1) / np.ptp(template)
    return c.max(axis=1), size


def wide_p_wave_like(peaks, cleaned, fs, at, constants: GuardConstants | None = None, amplitude=None) -> np.ndarray:
    """Boolean mask over ``at`` (indices into the sorted ``peaks``): the peaks shaped and sized like the record's P wave
    (``record_p_wave`` of ``peaks``; ``p_wave_match`` correlation at least ``GuardConstants.wide_p_wave``, size within
    1 / ``blocked_p_size`` .. ``blocked_p_size``), which the wide rescue refuses (run s45). All False where the record
    shows no consistent P wave (``record_p_wave`` is None: atrial fibrillation) or ``wide_p_wave`` is 0."""
    constants = constants or GUARD
    return p_wave_shaped(peaks, cleaned, fs, at, constants.wide_p_wave, constants, amplitude)


def p_wave_shaped(peaks, cleaned, fs, at, correlation, constants: GuardConstants | None = None, amplitude=None,
                  p_wave=False) -> np.ndarray:
    """Boolean mask over ``at`` (indices into the sorted ``peaks``): the peaks shaped and sized like the record's P wave
    (``record_p_wave`` of ``peaks``; ``p_wave_match`` correlation at least ``correlation``, size within
    1 / ``blocked_p_size`` .. ``blocked_p_size``). All False where the record shows no consistent P wave
    (``record_p_wave`` is None: atrial fibrillation) or ``correlation`` is 0. ``p_wave``: ``record_p_wave``'s answer
    when known (False: find it here)."""
    constants = constants or GUARD
    at = np.asarray(at, dtype=np.int64)
    out = np.zeros(at.size, bool)
    if correlation <= 0 or at.size == 0:
        return out
    x = np.asarray(cleaned, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    if p_wave is False:
        p_wave = record_p_wave(peaks, x, fs, constants, amplitude)
    if p_wave is None:
        return out
    c, size = p_wave_match(x, peaks[at], fs, p_wave[1], constants)
    return (c >= correlation) & (size <= constants.blocked_p_size) & (size >= 1.0 / constants.blocked_p_size)


class _PWaveShaped:
    """``p_wave_shaped`` at ``correlation`` as a function of candidate indices, the record's P wave found once, on the
    first call (``guard_keep``'s ``p_like`` at ``wide_p_wave``, i.e. ``wide_p_wave_like``, and its ``cluster_p_like``
    at ``cluster_p_wave``; most records never call it)."""

    def __init__(self, peaks, cleaned, fs, correlation, constants, amplitude):
        self.args = (np.asarray(peaks, dtype=np.int64), np.asarray(cleaned, dtype=np.float64), float(fs))
        self.correlation, self.constants, self.amplitude = float(correlation), constants, amplitude
        self.p_wave = False

    def __call__(self, at) -> np.ndarray:
        peaks, x, fs = self.args
        if self.p_wave is False:
            self.p_wave = record_p_wave(peaks, x, fs, self.constants, self.amplitude)
        return p_wave_shaped(peaks, x, fs, at, self.correlation, self.constants, p_wave=self.p_wave)


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


# the last signal's fixed-step slope, one entry: the detector's region rule and the guard's slope feature take the slope
# of the same signal (find_rpeaks at the detector's rate), so the second asks the spline no more (run s40-slope2's
# timing: a spline per call was most of the feature's cost)
_LAST_FIXED_STEP_SLOPE: dict = {}


def fixed_step_slope(x, fs, step_s) -> np.ndarray:
    """The slope of ``x`` (per second, float64, same length) as the central difference over +-``step_s`` seconds on
    the cubic spline through the samples: a slope whose response to a QRS does not fall with the rate as np.gradient's
    one-sample difference does. At ``fs`` = 1 / ``step_s`` it is np.gradient's central difference x ``fs`` away from
    the ends. The region rule's slope (``rpeaks._findpeaks_neurokit``'s ``gradient_step``) and ``slope_feature``'s.
    Read-only; the last signal's is kept and returned again for an equal signal, rate and step."""
    x = np.asarray(x, dtype=np.float64)
    key = (float(fs), float(step_s), x.size)
    last = _LAST_FIXED_STEP_SLOPE.get(key)
    if last is not None and np.array_equal(last[0], x):
        return last[1]
    t = np.arange(x.size) / float(fs)
    spline = scipy.interpolate.CubicSpline(t, x)
    slope = (spline(t + step_s) - spline(t - step_s)) / (2.0 * step_s)
    slope.flags.writeable = False
    _LAST_FIXED_STEP_SLOPE.clear()
    _LAST_FIXED_STEP_SLOPE[key] = (x.copy(), slope)
    return slope


def slope_feature(detect_signal, fs, step_s=0.0) -> np.ndarray:
    """The ``neurokit`` detector's feature: ``|gradient|`` of ``detect_signal`` summed over 0.1 s, centred on
    each sample (float64, same length). The search back and the second proposer pick their candidates on it.
    ``step_s`` > 0 (``SignalConfig.rpeak_guard_slope_step_s``, run s40-slope2): the slope is ``fixed_step_slope``'s,
    in the same units as np.gradient's (per sample)."""
    x = np.asarray(detect_signal, dtype=np.float64)
    smooth = max(1, int(round(0.1 * float(fs))))
    if step_s > 0 and x.size >= 4:
        slope = np.abs(fixed_step_slope(x, fs, step_s)) / float(fs)
        cumulative = np.concatenate([[0.0], np.cumsum(slope)])
        feature = np.zeros(x.size)
        if x.size >= smooth:
            feature[smooth // 2:smooth // 2 + x.size + 1 - smooth] = cumulative[smooth:] - cumulative[:-smooth]
        return feature
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
    constants = constants or constants_for(config)    # the config's, as guard_rpeaks passes them
    peaks = np.asarray(peaks, dtype=np.int64)
    x = np.asarray(cleaned, dtype=np.float64)
    fs = float(fs)
    level = float(config.rpeak_second_proposer)
    if level <= 0 or peaks.size < 3:
        return peaks
    if feature is None:
        feature = slope_feature(detect_signal, fs, float(config.rpeak_guard_slope_step_s))
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
    # the template spacing (GuardConstants.templates_spacing, run s67): closer still, for candidates that reach the
    # slope level and match one of the record's templates (only the template test below decides these)
    templates = float(config.rpeak_rescue_templates)
    template_test = constants.templates_spacing > 0 and templates > 0
    nearest = min(closest, constants.templates_spacing) if template_test else closest
    template_only = np.zeros(candidates.size, bool)
    if nearest < closest:
        template_only = ~keep & strong & spaced(candidates, peaks, local_rr, nearest)
        keep |= template_only
    run_only, template_only = run_only[keep], template_only[keep]
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
        candidates, local_rr, strong, run_only, template_only, loose_only, around, amplitude_reference = (
            v[possible] for v in (candidates, local_rr, strong, run_only, template_only, loose_only, around,
                                  amplitude_reference))
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
    narrow = width <= constants.second_width * _neighbour_percentile(peaks, kept_width, candidates,
                                                                     constants.neighbours, 50.0)
    accept = spaced(candidates, peaks, local_rr, closest) & narrow & ~template_only
    sized = far & strong & (amplitude >= constants.second_amplitude * amplitude_reference)
    spaced_ok = accept.copy()
    accept &= ~run_only     # the PVC-run check below decides these
    if constants.cluster_loose_only:
        sized &= ~loose_only    # the closer spacing for the cluster rescue's candidates only
    closer = (~far | loose_only) if constants.cluster_loose_only else ~far
    by_cluster = np.zeros(candidates.size, bool)
    morphologies = None     # the record templates, built once (the cluster rescue's and the template test's)

    def record_morphologies():
        pick = template_sample(peaks.size, constants)
        pick_amplitude, pick_sharpness, _ = kept_shapes(pick)
        return record_templates(pick_amplitude, pick_sharpness,
                                qrs_windows(x, peaks[pick], fs, constants.cluster_window_s), templates, constants)

    if cluster > 0:
        # the cluster rescue (SignalConfig.rpeak_rescue_cluster, GuardConstants.cluster_second): a candidate under the
        # slope level or the amplitude is added when sized against the kept peaks of its own QRS shape around it
        low = np.flatnonzero(accept & ~sized & (amplitude >= constants.cluster_floor * amplitude_reference))
        if low.size:
            reach = constants.cluster_neighbours
            pool = np.unique(np.clip(start[low][:, None] + np.arange(-reach, reach)[None, :], 0, peaks.size - 1))
            pool_amplitude, pool_sharpness, _ = kept_shapes(pool)
            pool_windows = qrs_windows(x, peaks[pool], fs, constants.cluster_window_s)
            low_windows = qrs_windows(x, candidates[low], fs, constants.cluster_window_s)
            sized[low] = cluster_like(peaks[pool], pool_amplitude, pool_windows, candidates[low],
                                      amplitude[low], low_windows, cluster, constants, pool_sharpness,
                                      candidate_sharpness[low])
            if templates > 0 and constants.templates_second:
                # the record templates (SignalConfig.rpeak_rescue_templates): the record's morphologies, not only
                # the kept peaks around the candidate
                morphologies = record_morphologies()
                sized[low] |= template_like(morphologies, amplitude[low], low_windows, templates, constants,
                                            candidate_sharpness[low])
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
    by_template = np.zeros(candidates.size, bool)
    if template_test:
        # the template test (GuardConstants.templates_spacing): a candidate under second_spacing that reaches the slope
        # level, the amplitude and the width, which no rule above added, is added when like one of the record's
        # templates (the templates rescue's thresholds), not its neighbours (a multiform record's short-coupled beats)
        which = np.flatnonzero(~accept & ~far & strong & narrow & spaced(candidates, peaks, local_rr, nearest)
                               & (amplitude >= constants.second_amplitude * amplitude_reference))
        if which.size:
            morphologies = record_morphologies() if morphologies is None else morphologies
            by_template[which] = template_like(morphologies, amplitude[which],
                                               qrs_windows(x, candidates[which], fs, constants.cluster_window_s),
                                               templates, constants, candidate_sharpness[which])
            accept |= by_template
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
        accept[np.flatnonzero(accept)[candidates_p_wave_like(peaks, kept_amplitude, candidates[accept],
                                                             amplitude[accept], x, fs, float(config.rpeak_guard_p_wave),
                                                             constants)]] = False
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
        ratio = (nearest if by_template[i] else closest if by_run[i] else loose if by_cluster[i]
                 else constants.second_spacing)
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
    found = _p_wave_waves(x, peaks, amplitude, fs, constants)
    if found is None:
        return none
    lag, confident, waves = found
    half = max(1, int(round(constants.p_wave_half_width_s * fs)))
    shift = int(round(constants.p_wave_shift_s * fs))
    size = 2 * half + 1

    def windows(at, extra=0):   # (n, 2 extra + 1, size): the mean-removed windows at each shift
        w = x[np.clip(at[:, None] + np.arange(-half - extra, half + extra + 1)[None, :], 0, x.size - 1)]
        w = np.lib.stride_tricks.sliding_window_view(w, size, axis=1)
        return w - w.mean(axis=2, keepdims=True)

    template = np.median(waves, axis=0)
    norm = float(np.linalg.norm(template))
    if np.ptp(template) < constants.p_wave_min_size * np.median(qrs_amplitudes(x, confident, fs, constants.qrs_half_width_s)) or norm <= 0:
        return none
    # the same wave before every beat (sinus rhythm), not the previous beat's T wave or fibrillation
    if _p_wave_consistency(waves, template, norm) < constants.p_wave_consistency:
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


def candidates_p_wave_like(peaks, amplitude, candidates, candidate_amplitude, cleaned, fs, distance,
                           constants: GuardConstants | None = None) -> np.ndarray:
    """Boolean mask over ``candidates`` (peaks a proposer would add to the kept ``peaks``): the ones ``p_wave_like``
    flags among the kept peaks and the candidates together, at ``distance``. ``amplitude``: the kept peaks' QRS
    amplitudes (NaN where not yet measured), ``candidate_amplitude`` the candidates'. The second proposer's check
    (``rpeak_guard_p_wave``) and the search back's (``GuardConstants.searchback_p_wave``)."""
    constants = constants or GUARD
    union = np.concatenate([peaks, candidates])
    order = np.argsort(union, kind="stable")
    union_amplitude = np.concatenate([amplitude, candidate_amplitude]).astype(np.float64)
    missing = np.isnan(union_amplitude)
    union_amplitude[missing] = qrs_amplitudes(cleaned, union[missing], fs, constants.qrs_half_width_s)
    flagged = np.zeros(union.size, bool)
    flagged[order] = p_wave_like(union[order], union_amplitude[order], cleaned, fs, distance, constants)
    return flagged[np.asarray(peaks).size:]


def _search_back(peaks, cleaned, detect_signal, fs, config, amplitude=None, feature=None) -> np.ndarray:
    min_distance = max(1, int(round(config.min_rr_s * fs)))
    const = constants_for(config)
    shape_ratio = float(config.rpeak_searchback_shape)
    shape_on = 0 < shape_ratio
    gap_ratio = min(float(config.rpeak_searchback), shape_ratio) if shape_on else float(config.rpeak_searchback)
    irregular = float(config.rpeak_searchback_irregular)
    direction = sharpness = width = None
    prepared = False
    for _ in range(const.searchback_rounds):
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
                feature = slope_feature(detect_signal, fs, float(config.rpeak_guard_slope_step_s))
            if shape_on:   # qrs_shapes' amplitude is qrs_amplitudes': one pass gives the three
                shape_amplitude, sharpness, width = qrs_shapes(cleaned, peaks, fs, const)
                amplitude = shape_amplitude if amplitude is None else amplitude
            elif amplitude is None:
                amplitude = qrs_amplitudes(cleaned, peaks, fs, const.qrs_half_width_s)
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
        reference = _neighbour_percentile(peaks, amplitude, candidates, const.neighbours, const.percentile)
        if shape_on:
            cand_amplitude, cand_sharpness, cand_width = qrs_shapes(cleaned, candidates, fs, const)
            long_gap = rr[gaps] > config.rpeak_searchback * local[gaps]
            qrs_like = ((cand_amplitude >= const.searchback_shape_amplitude * reference)
                        & (cand_sharpness >= const.searchback_shape_sharpness
                           * _neighbour_percentile(peaks, sharpness, candidates, const.neighbours, 50.0))
                        & (cand_width <= const.searchback_shape_width
                           * _neighbour_percentile(peaks, width, candidates, const.neighbours, 50.0)))
            accept = inside & ((long_gap & (cand_amplitude >= config.rpeak_searchback_amplitude * reference)) | qrs_like)
        else:
            cand_amplitude = qrs_amplitudes(cleaned, candidates, fs, const.qrs_half_width_s)
            accept = inside & (cand_amplitude >= config.rpeak_searchback_amplitude * reference)
        if const.searchback_p_wave > 0 and accept.any():
            # a candidate shaped like the record's P wave with none of its own is not added (run s41-block100)
            accept[np.flatnonzero(accept)[candidates_p_wave_like(peaks, amplitude, candidates[accept],
                                                                 cand_amplitude[accept], cleaned, fs,
                                                                 float(const.searchback_p_wave), const)]] = False
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
