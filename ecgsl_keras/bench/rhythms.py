"""Test rhythms built from real MIT-BIH beats, for the R-peak benchmark (``bench rpeaks --rhythms``).

Three rhythms that MIT-BIH DS1 barely holds, and on which an R-peak detector tuned on DS1 fails,
built from a record's own signal and annotations (deterministic for a given ``seed``):

- ``block21`` -- second-degree AV block with 2:1 conduction: in every run of regular normal
  beats, every other beat loses its QRS-T complex (from its QRS onset to the end of the T wave, or earlier
  when the next P wave comes sooner, ``p_start_s`` before the next R) while its P wave stays. The cut ends
  ``t_end_cut_s`` after the annotation: the record's T-wave end (``t_wave_end_s``) plus ``T_END_MARGIN_S``, at
  least ``T_END_MIN_S`` (0.45 s, the fixed cut end of the builder before run s46, which left the T wave's tail of
  the blocked beats in MIT-BIH 108 and 207, whose cleaned median beat is still -0.068 / +0.038 mV at 0.5 s)
  and at most ``T_END_MAX_S``; a float ``t_end_s`` fixes it instead (0.45: the builder of runs s29-s45). The cut
  starts ``qrs_cut_s`` before the annotation: the record's median QRS onset of its regular normal
  beats (``qrs_onset_s``) plus ``QRS_CUT_MARGIN_S``, at most ``QRS_CUT_MAX_S``, never less than ``QRS_CUT_MIN_S`` (70 ms,
  the fixed cut of the builder before run s29, which left the R upstroke of the blocked beats in
  MIT-BIH 108, whose QRS starts ~80 ms before the annotation; a dropped beat has no QRS). A float
  ``qrs_before_s`` fixes the cut instead (0.07: the builder before run s29). With ``own_onset`` each blocked
  beat's cut starts before its OWN QRS onset too (``beat_cuts_s``: the onset found from the beat's R apex,
  plus ``QRS_CUT_MARGIN_S``, at least the record's cut, at most ``BEAT_CUT_MAX_S``): in MIT-BIH 109 (left bundle branch
  block) some beats are annotated ~60 ms after their R apex, so a cut from the record's onset started on the apex
  and left the R upstroke in the signal, a false beat at the cut's start (run s60's look); ``own_onset=False`` builds
  as before (runs s29-s60). The removed span becomes the straight line
  from its first sample to the signal's mean over its last ``JOIN_EDGE_S`` plus real noise of the record (below; it
  starts at 0) less the straight line from 0 to its own mean there, cross-faded into the real signal over those last
  ``JOIN_EDGE_S`` (raised cosine, inside the span: the 20 ms margin the cut leaves after the T wave), so the span ends
  on the signal's level with no step (``join_edge_s=0``: the builder before run s47, the straight line to the span's last
  sample plus noise whose last 8 samples fall linearly to 0, a 22 ms ramp of the noise's local level at the cut's end
  that the detector's 5-15 Hz band sees; experiments/rpeaks/block21_seam.py). The signal keeps its length; the
  blocked beats leave the reference.
  A sinus rate of ~70/min gives a ventricular rate of ~35/min, as in the clinical 2:1 block.
- ``pause`` -- sinus rhythm with long pauses (sinus arrest): after roughly every ``pause_every``
  regular normal beat, a pause of ``pause_s`` seconds (uniform) is inserted in the beat's TP
  segment (after its T wave, before the next P wave). The pause holds the signal level at the
  insertion point plus real noise of the record. Reference beats (and VF episodes) after it move
  by the pause length.

- ``bigeminy`` -- beats of alternating amplitude, as in ventricular bigeminy where the normal beats'
  QRS is less than half the ectopic beats' (a DS2 record of issue 21: 1.06 mV against 2.6 mV):
  in every run of regular normal beats every other beat, and every class-N beat next to a
  ventricular (class V) beat, is scaled by ``gain`` (0.4, the ratio in that DS2 record) about the straight line between the ends
  of its span (from ``min(0.25 s, 40% of the previous RR)`` before R to ``min(0.45 s, 60% of the next
  RR)`` after R: P, QRS and T, with 20 ms raised-cosine edges). The signal keeps its length and
  every beat stays in the reference (the scaled ones are listed in ``scaled``).
  In records with bigeminy episodes (106, 119, 223) the normal beats between ectopic ones become
  small next to them, as in the DS2 record the guard failed on.

Real noise: the record's own TP segments (after a normal beat's T wave, before the next P wave),
each with the straight line between its end values removed (so pieces join without steps),
concatenated in a random order. That is the record's baseline noise (muscle, mains, electrode
motion, residual wander) as it is between beats, at its own amplitude. With ``artifacts`` (the
samples of the record's annotated artifacts, ``ARTIFACT_SYMBOLS``; ``bench.rpeaks.read_artifacts``) a
TP segment holding one is left out: the noise is drawn at random, with replacement, so such a piece
would copy an annotated QRS-like artifact into many blocked beats' spans and pauses (MIT-BIH 203: a
2.8 mV artifact drawn into several blocked beats' spans of one block21 build; run s60's look,
experiments/rpeaks/s58_block21_look.py). ``artifacts=None`` builds as before run s60.

A "regular normal beat" is an annotation of AAMI class N whose neighbours are also class N,
with both RR intervals within 0.4-1.5 s and differing by less than 20%. A TP segment runs from
0.42 s (or 55% of the RR interval, if shorter) after R to 0.25 s (or 30% of RR) before the next R.
A record without regular normal beats comes back unchanged. Where the "P wave" is atrial
fibrillation or flutter (records 201, 203), what stays before a blocked beat is that activity.
"""
from __future__ import annotations

import numpy as np

from ecgsl_keras import tasks

RHYTHMS = ("normal", "block21", "pause", "bigeminy")


def _regular_normal(beats, symbols, fs) -> np.ndarray:
    """Boolean mask of the beats that are regular normal beats (module docstring)."""
    beats = np.asarray(beats, np.int64)
    n = beats.size
    ok = np.zeros(n, bool)
    if n < 3:
        return ok
    is_n = np.array([tasks.aami_class(s) == "N" for s in symbols], bool)
    rr = np.diff(beats) / float(fs)
    prev_rr, next_rr = rr[:-1], rr[1:]
    inner = (is_n[:-2] & is_n[1:-1] & is_n[2:] & (prev_rr >= 0.4) & (prev_rr <= 1.5) & (next_rr >= 0.4)
             & (next_rr <= 1.5) & (np.abs(next_rr / prev_rr - 1.0) < 0.2))
    ok[1:-1] = inner
    return ok


def _tp_span(beats, k, fs):
    """The TP segment after beat ``k``: from the T wave's end (0.42 s after R, or 55% of the RR
    interval when shorter) to the next P wave's start (0.25 s before the next R, or 30% of RR)."""
    rr = int(beats[k + 1] - beats[k])
    start = int(beats[k]) + int(round(min(0.42 * fs, 0.55 * rr)))
    stop = int(beats[k + 1]) - int(round(min(0.25 * fs, 0.3 * rr)))
    return start, stop


# MIT-BIH annotations of artifacts a TP segment must not hold to be noise (module docstring): "|", an isolated
# QRS-like artifact
ARTIFACT_SYMBOLS = ("|",)


def tp_segments(beats, symbols, fs, min_s=0.04, artifacts=None) -> list:
    """``(start, stop)`` sample spans of the TP segments after regular normal beats; ``artifacts`` (samples, or
    None): those holding one are left out (module docstring)."""
    beats = np.asarray(beats, np.int64)
    spans = [_tp_span(beats, k, fs) for k in np.flatnonzero(_regular_normal(beats, symbols, fs))]
    spans = [(start, stop) for start, stop in spans if stop - start >= min_s * fs]
    if artifacts is None or np.size(artifacts) == 0:
        return spans
    artifacts = np.sort(np.asarray(artifacts, np.int64))
    # the artifacts at or after each span's start: one lies inside when the first of them is at most its stop
    first = np.searchsorted(artifacts, [start for start, _ in spans])
    return [(start, stop) for (start, stop), j in zip(spans, first)
            if j >= artifacts.size or artifacts[j] > stop]


class NoiseSource:
    """Real between-beat noise of one record: detrended TP segments, concatenated at random."""

    def __init__(self, signal, spans, rng):
        self.pieces = []
        x = np.asarray(signal, np.float64)
        for start, stop in spans:
            piece = x[start:stop + 1]
            line = np.linspace(piece[0], piece[-1], piece.size)
            self.pieces.append(piece - line)
        self.rng = rng

    def take(self, n: int) -> np.ndarray:
        """``n`` samples of noise starting and ending at 0 (pieces joined end to start)."""
        if not self.pieces:
            raise ValueError("no TP segments to take noise from (no regular normal beats)")
        out, total = [], 0
        while total < n:
            piece = self.pieces[int(self.rng.integers(len(self.pieces)))]
            out.append(piece[:-1])   # the last sample (0) is the next piece's first
            total += piece.size - 1
        noise = np.concatenate(out)[:n].copy()
        taper = min(n // 2, 8)
        if taper:                     # end at 0 whatever piece the cut fell in
            noise[-taper:] *= np.linspace(1.0, 0.0, taper)
        return noise


QRS_CUT_MIN_S = 0.07      # block21: the cut starts at least this long before the annotation (the pre-s29 fixed cut)
QRS_CUT_MARGIN_S = 0.02   # and this long before the record's median QRS onset
QRS_CUT_MAX_S = 0.12      # and at most this long (a QRS lasts under 120 ms and the annotation lies inside it; where
#                           P waves are as large as the QRS the slope criterion can take the P wave for the onset)


def _clean(signal, fs, cleaned=None) -> np.ndarray:
    """The cleaned signal (``signal.clean``, neurokit) the record's cut bounds are read on: ``cleaned`` when the
    caller has it (``cut_bounds`` cleans once for both bounds), else cleaned here."""
    from ecgsl_keras.data import filters as filters_lib

    return filters_lib.clean(signal, fs, "neurokit") if cleaned is None else cleaned


def qrs_onset_s(signal, fs, beats, symbols, *, cleaned=None) -> float:
    """The record's QRS onset, seconds before the annotation (positive when before): the median over its regular
    normal beats of the first sample within 200 ms before the annotation where the |slope| of the cleaned signal
    (``signal.clean``, neurokit; ``cleaned``: that signal when the caller has it) exceeds 0.3 x the beat's largest
    |slope| in -200..+100 ms (MIT-BIH: 22-50 ms in 21 DS1 records, 81 ms in 108, whose annotations often sit on the
    S wave). NaN without regular normal beats."""
    beats = np.asarray(beats, np.int64)
    lo, hi = int(round(0.2 * fs)), int(round(0.1 * fs))
    regular = beats[_regular_normal(beats, symbols, fs)]
    regular = regular[(regular > lo) & (regular < np.asarray(signal).size - hi)]
    if regular.size == 0:
        return float("nan")
    cleaned = _clean(signal, fs, cleaned)
    slope = np.abs(np.diff(cleaned[regular[:, None] + np.arange(-lo, hi + 1)[None, :]], axis=1))
    first = (slope > 0.3 * slope.max(axis=1, keepdims=True)).argmax(axis=1)
    return float(-np.median(first - lo) / fs)


def qrs_cut_s(signal, fs, beats, symbols, *, cleaned=None) -> float:
    """Seconds before the annotation block21 removes a blocked beat from (module docstring): the record's
    ``qrs_onset_s`` plus ``QRS_CUT_MARGIN_S``, at least ``QRS_CUT_MIN_S`` and at most ``QRS_CUT_MAX_S``, in whole
    samples (MIT-BIH DS1: 0.1 s in 108, 0.07 s in the other 21 records)."""
    onset = qrs_onset_s(signal, fs, beats, symbols, cleaned=cleaned)
    cut = QRS_CUT_MIN_S if np.isnan(onset) else min(QRS_CUT_MAX_S, max(QRS_CUT_MIN_S, onset + QRS_CUT_MARGIN_S))
    return max(int(round(QRS_CUT_MIN_S * fs)), int(round(cut * fs))) / float(fs)


BEAT_APEX_S = (0.12, 0.06)  # own_onset: a beat's R apex is looked for this long before / after its annotation (109's
#                              late annotations sit 50-61 ms after the apex)
BEAT_ONSET_BACK_S = 0.1    # and its QRS onset within this long before the apex (a QRS upstroke, even a bundle branch
#                            block's, takes under 100 ms; the P wave ends earlier, so the search stays off it)
BEAT_CUT_MAX_S = 0.15      # a beat's own cut at most this long before its annotation (MIT-BIH DS1: 109's late-annotated
#                            beats need 0.12-0.13 s; a few beats of 108 / 116 whose onset lands on noise are held here)


def beat_onsets_s(cleaned, fs, beats) -> np.ndarray:
    """Each beat's own QRS onset, seconds before its annotation (positive when before; NaN where the window
    -200..+100 ms is not inside the signal), on the cleaned signal: its R apex is the sample of the largest |signal -
    its median over that window| within ``BEAT_APEX_S`` of the annotation, its onset the first sample within
    ``BEAT_ONSET_BACK_S`` before the apex where the |slope| exceeds 0.3 x the largest |slope| within that long of the
    apex (``qrs_onset_s``' criterion, per beat and anchored on the apex, so a late annotation does not move it)."""
    beats = np.asarray(beats, np.int64)
    r = lambda s: int(round(s * fs))  # noqa: E731
    lo, hi = r(0.2), r(0.1)
    out = np.full(beats.size, np.nan)
    inside = (beats >= lo) & (beats < np.asarray(cleaned).size - hi)
    if not inside.any():
        return out
    window = np.asarray(cleaned, np.float64)[beats[inside, None] + np.arange(-lo, hi + 1)[None, :]]
    level = np.median(window, axis=1, keepdims=True)
    first_apex, last_apex = lo - r(BEAT_APEX_S[0]), lo + r(BEAT_APEX_S[1])
    apex = first_apex + np.abs(window[:, first_apex:last_apex + 1] - level).argmax(axis=1)
    slope = np.abs(np.diff(window, axis=1))
    at = np.arange(slope.shape[1])[None, :]
    back = r(BEAT_ONSET_BACK_S)
    near = (at >= (apex - back)[:, None]) & (at <= (apex + back)[:, None])
    steep = slope > 0.3 * np.where(near, slope, 0.0).max(axis=1, keepdims=True)
    before = (at >= (apex - back)[:, None]) & (at < apex[:, None])
    first = np.where(before & steep, at, slope.shape[1]).min(axis=1)
    first = np.where(first == slope.shape[1], apex, first)   # no steep sample before the apex: the apex
    out[inside] = (lo - first) / float(fs)
    return out


def beat_cuts_s(signal, fs, beats, cut, *, cleaned=None) -> np.ndarray:
    """block21's cut of each beat with ``own_onset`` (module docstring), seconds before its annotation: its own QRS
    onset (``beat_onsets_s``) plus ``QRS_CUT_MARGIN_S``, at least the record's ``cut`` and at most
    ``BEAT_CUT_MAX_S``, in whole samples; ``cut`` where the onset cannot be measured."""
    onset = beat_onsets_s(_clean(signal, fs, cleaned), fs, beats)
    own = np.where(np.isnan(onset), cut, np.minimum(BEAT_CUT_MAX_S, np.maximum(cut, onset + QRS_CUT_MARGIN_S)))
    return np.maximum(np.round(own * fs), int(round(cut * fs))) / float(fs)


T_END_FIXED_S = 0.45     # block21's fixed cut end before run s46 (runs s29-s45): t_end_s that rebuilds their signals
T_END_MIN_S = T_END_FIXED_S  # the cut ends at least this long after the annotation (a longer cut in the TP
#                              segment only swaps TP noise for TP noise)
T_END_MARGIN_S = 0.02    # and this long after the record's T-wave end
T_END_MAX_S = 0.65       # and at most this long (R to T end stays under ~0.6 s even with a long QT or a bundle
#                          branch block; beyond it the "T wave" is baseline drift, and the P-wave bound ends it anyway)
T_END_BAND = 0.05        # the T wave has ended where the median beat stays within this x its QRS peak-to-peak of its
#                          TP level (a 1.5 mV QRS: 0.075 mV, under half a typical 0.15-0.25 mV P wave)
T_END_QRS_S = 0.06       # the QRS peak-to-peak is taken within this of the annotation; the T wave is looked for after
T_END_TP_S = 0.04        # the TP level: the median beat's mean over this long before the next P wave's start


def t_wave_end_s(signal, fs, beats, symbols, p_start_s=0.28, *, cleaned=None) -> float:
    """The record's T-wave end, seconds after the annotation: on the median beat of its regular normal beats (the
    beats block21 may block) in the cleaned signal (``signal.clean``, neurokit, as ``qrs_onset_s``), the first time
    after the QRS (``T_END_QRS_S``) from which the beat stays within ``T_END_BAND`` x its QRS peak-to-peak of its TP
    level (its mean over ``T_END_TP_S`` before the next P wave, ``p_start_s`` before the median regular RR). Where
    the next P wave comes before the T wave has ended (fast rates) that is the P wave's start. NaN without regular
    normal beats."""
    beat = regular_median_beat(signal, fs, beats, symbols, p_start_s, cleaned=cleaned)
    if beat["no_room"]:                       # the next P wave starts within the QRS + TP window
        return beat["tp_stop"] / float(fs)
    if not beat["median"].size:
        return float("nan")
    qrs = int(round(T_END_QRS_S * fs))
    median, level, band = beat["median"], beat["level"], beat["band"]
    outside = np.abs(median[2 * qrs:] - level) > band   # from the QRS's end to the next P wave's start
    last = int(np.flatnonzero(outside)[-1]) + 1 if outside.any() else 0
    return (qrs + last) / float(fs)


def regular_median_beat(signal, fs, beats, symbols, p_start_s=0.28, *, cleaned=None) -> dict:
    """``t_wave_end_s``' median beat, always ``{"median", "level", "band", "tp_stop", "no_room"}``: ``median`` the
    median over the regular normal beats of the cleaned signal (``cleaned`` when the caller has it) from
    ``T_END_QRS_S`` before the annotation to ``tp_stop`` samples after it (``p_start_s`` before the median regular
    RR: the next P wave's start), ``level`` its TP level and ``band`` ``T_END_BAND`` x its QRS peak-to-peak.
    ``no_room``: the next P wave starts too soon to leave room for a QRS and a TP level. ``median`` is empty (and
    ``level``, ``band`` NaN) without regular normal beats (``tp_stop`` -1), with ``no_room``, or when no regular beat
    has the whole window inside the signal."""
    beats = np.asarray(beats, np.int64)
    regular_mask = _regular_normal(beats, symbols, fs)
    none = {"median": np.zeros(0), "level": float("nan"), "band": float("nan"), "tp_stop": -1, "no_room": False}
    if not regular_mask.any():
        return none
    next_rr = np.diff(beats)[np.flatnonzero(regular_mask)]    # a regular beat is never the last one
    tp_stop = int(round(float(np.median(next_rr)) - p_start_s * fs))
    qrs = int(round(T_END_QRS_S * fs))
    tp = max(1, int(round(T_END_TP_S * fs)))
    if tp_stop - tp <= qrs:
        return dict(none, tp_stop=tp_stop, no_room=True)
    regular = beats[regular_mask]
    regular = regular[(regular > qrs) & (regular < np.asarray(signal).size - tp_stop - 1)]
    if regular.size == 0:
        return dict(none, tp_stop=tp_stop)
    cleaned = _clean(signal, fs, cleaned)
    median = np.median(cleaned[regular[:, None] + np.arange(-qrs, tp_stop + 1)[None, :]], axis=0)
    return {"median": median, "level": float(median[-tp:].mean()),
            "band": float(T_END_BAND * np.ptp(median[:2 * qrs + 1])), "tp_stop": tp_stop, "no_room": False}


def t_end_cut_s(signal, fs, beats, symbols, p_start_s=0.28, *, cleaned=None) -> float:
    """Seconds after the annotation block21's cut of a blocked beat ends at (module docstring; each beat's cut still
    ends ``p_start_s`` before the next R when that is sooner): the record's ``t_wave_end_s`` plus ``T_END_MARGIN_S``,
    at least ``T_END_MIN_S`` and at most ``T_END_MAX_S``, in whole samples (MIT-BIH DS1: experiments/rpeaks/
    block21_cut.py)."""
    end = t_wave_end_s(signal, fs, beats, symbols, p_start_s, cleaned=cleaned)
    cut = T_END_MIN_S if np.isnan(end) else min(T_END_MAX_S, max(T_END_MIN_S, end + T_END_MARGIN_S))
    return max(int(round(T_END_MIN_S * fs)), int(round(cut * fs))) / float(fs)


def cut_bounds(signal, fs, beats, symbols, qrs_before_s=None, t_end_s=None, p_start_s=0.28) -> tuple:
    """block21's cut of a blocked beat, ``(seconds before, seconds after)`` its annotation: a float ``qrs_before_s``
    / ``t_end_s`` as given, None from the record (``qrs_cut_s``, ``t_end_cut_s``), both read on one cleaning of
    the signal."""
    cleaned = _clean(signal, fs) if qrs_before_s is None or t_end_s is None else None
    cut = qrs_cut_s(signal, fs, beats, symbols, cleaned=cleaned) if qrs_before_s is None else float(qrs_before_s)
    end = t_end_cut_s(signal, fs, beats, symbols, p_start_s, cleaned=cleaned) if t_end_s is None else float(t_end_s)
    return cut, end


JOIN_EDGE_S = 0.02       # block21: the cut's span cross-fades into the real signal over this long at its end (the
#                          T_END_MARGIN_S margin: no T wave comes back). Its start needs none: the span starts on the
#                          signal's sample with noise that starts at 0 (a piece's first sample), as before run s47
JOIN_EDGE_NONE = 0.0     # join_edge_s that rebuilds the builder before run s47 (runs s29-s46): no cross-fade


def _joined_fill(x, start, stop, noise, edge):
    """block21's replacement of ``x[start:stop + 1]`` (module docstring): the straight line from ``x[start]`` to the
    signal's mean over the span's last ``edge`` samples (at their centre), plus ``noise`` (as long as the span, starting
    at 0) less the straight line from 0 to its own mean there, cross-faded into ``x`` over those ``edge`` samples
    (raised cosine from the fill to the signal)."""
    n = stop - start + 1
    real = x[start:stop + 1]
    at = np.arange(n)
    centre = n - 1 - (edge - 1) / 2.0
    level = x[start] + (real[-edge:].mean() - x[start]) * at / centre
    fill = level + noise - noise[-edge:].mean() * at / centre
    weight = np.ones(n)
    weight[-edge:] = 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, edge))
    return weight * fill + (1.0 - weight) * real


def block21(signal, fs, beats, symbols, seed=0, qrs_before_s=None, t_end_s=None, p_start_s=0.28,
            join_edge_s=JOIN_EDGE_S, artifacts=None, own_onset=False):
    """2:1 AV block (module docstring). Returns ``(signal, beats, blocked)``: the new signal, the
    reference beats left, and the samples of the blocked (removed) beats. ``qrs_before_s``: None (default)
    cuts from ``qrs_cut_s`` before each blocked beat's annotation; a float from that many seconds
    (0.07: the builder before run s29). ``t_end_s``: None (default) ends the cut ``t_end_cut_s`` after it; a float
    that many seconds after it (0.45: the builder of runs s29-s45). ``join_edge_s``: the cross-fade at the span's end
    (``JOIN_EDGE_S``; 0, ``JOIN_EDGE_NONE``: the builder of runs s29-s46, the same noise draws). ``artifacts``:
    the record's annotated artifacts, whose TP segments the noise leaves out (None: the builder before run s60).
    ``own_onset``: each blocked beat's cut starts ``beat_cuts_s`` before it, before its own QRS onset too (False: the
    builder of runs s29-s60, ``qrs_before_s`` before every blocked beat)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(signal, np.float64).copy()
    beats = np.asarray(beats, np.int64)
    qrs_before_s, t_end_s = cut_bounds(x, fs, beats, symbols, qrs_before_s, t_end_s, p_start_s)
    noise = NoiseSource(x, tp_segments(beats, symbols, fs, artifacts=artifacts), rng)
    edge = int(round(join_edge_s * fs))
    regular = _regular_normal(beats, symbols, fs)
    blocked = np.zeros(beats.size, bool)
    candidates = np.flatnonzero(regular)
    before = np.round(np.full(beats.size, qrs_before_s) * fs).astype(np.int64)
    if own_onset and candidates.size:
        before[candidates] = np.round(beat_cuts_s(x, fs, beats[candidates], qrs_before_s) * fs).astype(np.int64)
    for k in candidates[int(rng.integers(2)):]:
        if blocked[k - 1]:            # alternate: a blocked beat is always followed by a conducted one
            continue
        start = beats[k] - int(before[k])
        stop = min(beats[k] + int(round(t_end_s * fs)), beats[k + 1] - int(round(p_start_s * fs)))
        if stop - start < 0.15 * fs:
            continue
        n = stop - start + 1
        if edge:
            x[start:stop + 1] = _joined_fill(x, start, stop, noise.take(n), edge)
        else:
            x[start:stop + 1] = np.linspace(x[start], x[stop], n) + noise.take(n)
        blocked[k] = True
    return x, beats[~blocked], beats[blocked]


def pause(signal, fs, beats, symbols, episodes=None, seed=0, pause_s=(2.0, 4.0), pause_every=(8, 16),
          artifacts=None):
    """Sinus pauses (module docstring). Returns ``(signal, beats, episodes, pauses)``: the new
    signal, the shifted reference beats, the shifted VF episodes and the ``(start, stop)`` sample
    spans of the inserted pauses in the new signal. ``artifacts``: as ``block21``'s."""
    rng = np.random.default_rng(seed)
    x = np.asarray(signal, np.float64)
    beats = np.asarray(beats, np.int64)
    episodes = np.zeros((0, 2), np.int64) if episodes is None else np.asarray(episodes, np.int64).reshape(-1, 2)
    noise = NoiseSource(x, tp_segments(beats, symbols, fs, artifacts=artifacts), rng)
    regular = _regular_normal(beats, symbols, fs)
    inserts = []                     # (position in the old signal, length)
    countdown = int(rng.integers(pause_every[0], pause_every[1] + 1))
    for k in np.flatnonzero(regular):
        countdown -= 1
        if countdown > 0:
            continue
        start, stop = _tp_span(beats, k, fs)
        if stop - start < 0.04 * fs:
            continue
        inserts.append(((start + stop) // 2, int(round(rng.uniform(*pause_s) * fs))))
        countdown = int(rng.integers(pause_every[0], pause_every[1] + 1))
    pieces, previous, pauses, shift = [], 0, [], 0
    for position, length in inserts:
        pieces.append(x[previous:position])
        pieces.append(x[position] + noise.take(length))
        pauses.append((position + shift, position + shift + length - 1))
        shift += length
        previous = position
    pieces.append(x[previous:])
    positions = np.array([p for p, _ in inserts], np.int64)
    lengths = np.cumsum([0] + [n for _, n in inserts]).astype(np.int64)

    def moved(samples):
        samples = np.asarray(samples, np.int64)
        return samples + lengths[np.searchsorted(positions, samples, side="right")]

    return (np.concatenate(pieces), moved(beats), moved(episodes.ravel()).reshape(-1, 2),
            np.asarray(pauses, np.int64).reshape(-1, 2))


def bigeminy(signal, fs, beats, symbols, seed=0, gain=0.4, before_s=0.25, after_s=0.45, edge_s=0.02):
    """Alternating amplitudes (module docstring). Returns ``(signal, scaled)``: the new signal and
    the samples of the scaled beats (all beats stay in the reference)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(signal, np.float64).copy()
    beats = np.asarray(beats, np.int64)
    n = beats.size
    scaled = np.zeros(n, bool)
    if n < 3:
        return x, beats[scaled]
    regular = _regular_normal(beats, symbols, fs)
    for k in np.flatnonzero(regular)[int(rng.integers(2)):]:
        if not scaled[k - 1]:          # alternate within a run of regular beats
            scaled[k] = True
    classes = [tasks.aami_class(s) for s in symbols]
    is_n = np.array([c == "N" for c in classes], bool)
    is_v = np.array([c == "V" for c in classes], bool)
    next_to_v = np.zeros(n, bool)
    next_to_v[1:] |= is_v[:-1]
    next_to_v[:-1] |= is_v[1:]
    scaled |= is_n & next_to_v
    scaled[0] = scaled[-1] = False
    edge = max(1, int(round(edge_s * fs)))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, edge))
    for k in np.flatnonzero(scaled):
        start = beats[k] - int(round(min(before_s * fs, 0.4 * (beats[k] - beats[k - 1]))))
        stop = beats[k] + int(round(min(after_s * fs, 0.6 * (beats[k + 1] - beats[k]))))
        if start < 0 or stop >= x.size or stop - start < 2 * edge + 2:
            scaled[k] = False
            continue
        piece = x[start:stop + 1]
        line = np.linspace(piece[0], piece[-1], piece.size)
        weight = np.full(piece.size, float(gain))
        weight[:edge] = 1.0 + (gain - 1.0) * ramp
        weight[-edge:] = 1.0 + (gain - 1.0) * ramp[::-1]
        x[start:stop + 1] = line + weight * (piece - line)
    return x, beats[scaled]


def build(rhythm, signal, fs, beats, symbols, episodes=None, seed=0, qrs_before_s=None, t_end_s=None,
          join_edge_s=JOIN_EDGE_S, artifacts=None, own_onset=False) -> dict:
    """One test signal: ``{"signal", "beats", "episodes", "removed", "pauses"}`` for ``rhythm`` in
    ``RHYTHMS`` (``"normal"`` is the record unchanged). ``removed``: blocked beat samples (block21);
    ``pauses``: inserted spans (pause); ``scaled``: the beats made small (bigeminy). ``qrs_before_s``: block21's
    cut (None: from the record's QRS onset, ``qrs_cut_s``; 0.07: the builder before run s29, which left the R
    upstroke of the blocked beats where the QRS starts more than 70 ms before the annotation, as in MIT-BIH 108;
    experiments/rpeaks/block.py). ``t_end_s``: where block21's cut ends after the annotation (None: from the record's
    T-wave end, ``t_end_cut_s``; 0.45: the builder of runs s29-s45, which left the T wave's tail of the blocked beats
    in MIT-BIH 108 and 207; experiments/rpeaks/block21_cut.py). ``join_edge_s``: block21's cross-fade at the cut's end
    (``JOIN_EDGE_S``; 0: the builder of runs s29-s46; experiments/rpeaks/block21_seam.py). ``artifacts``: the samples
    of the record's annotated artifacts (``bench.rpeaks.read_artifacts``), whose TP segments block21's and pause's
    noise leaves out (None: the builder before run s60, module docstring). ``own_onset``: each blocked beat's cut also
    starts before its own QRS onset (``beat_cuts_s``; False: the builder of runs s29-s60, whose cut started on the R
    apex of MIT-BIH 109's late-annotated beats); ``cut_before_s``: each removed beat's cut, seconds before it."""
    episodes = np.zeros((0, 2), np.int64) if episodes is None else np.asarray(episodes, np.int64).reshape(-1, 2)
    beats = np.asarray(beats, np.int64)
    empty = np.zeros((0, 2), np.int64)
    if rhythm == "normal":
        return {"signal": np.asarray(signal, np.float64), "beats": beats, "episodes": episodes,
                "removed": np.zeros(0, np.int64), "pauses": empty, "scaled": np.zeros(0, np.int64)}
    if rhythm == "block21":
        cut, end = cut_bounds(signal, fs, beats, symbols, qrs_before_s, t_end_s)
        x, kept, removed = block21(signal, fs, beats, symbols, seed=seed, qrs_before_s=cut, t_end_s=end,
                                   join_edge_s=join_edge_s, artifacts=artifacts, own_onset=own_onset)
        before = beat_cuts_s(signal, fs, removed, cut) if own_onset else np.full(removed.size, cut)
        return {"signal": x, "beats": kept, "episodes": episodes, "removed": removed, "pauses": empty,
                "scaled": np.zeros(0, np.int64), "qrs_before_s": cut, "t_end_s": end, "join_edge_s": join_edge_s,
                "own_onset": bool(own_onset), "cut_before_s": before}
    if rhythm == "pause":
        x, moved, moved_episodes, pauses = pause(signal, fs, beats, symbols, episodes, seed=seed, artifacts=artifacts)
        return {"signal": x, "beats": moved, "episodes": moved_episodes, "removed": np.zeros(0, np.int64),
                "pauses": pauses, "scaled": np.zeros(0, np.int64)}
    if rhythm == "bigeminy":
        x, small = bigeminy(signal, fs, beats, symbols, seed=seed)
        return {"signal": x, "beats": beats, "episodes": episodes, "removed": np.zeros(0, np.int64), "pauses": empty,
                "scaled": small}
    raise ValueError(f"unknown rhythm {rhythm!r}; expected one of {RHYTHMS}")
