"""Record columns of ectopy evidence from a per-beat classifier's answer (issue 18, AF lever (f)).

A per-beat model such as the ``mitdb-beats`` preset labels every beat of a record N/S/V/F/Q (AAMI classes;
MIT-BIH labels the beats of atrial fibrillation N, so an AF record should come out mostly N with an irregular
RR series, and a record of ectopic beats with S or V beats that explain its irregularity).
``beat_ectopy_features`` turns that answer (the per-beat class probabilities and the R-peak times, as
``predict_signal`` returns them) into the record columns of ``FEATURES``, the only place where they are described:

    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.data.beat_ectopy import beat_ectopy_features
    r = load_model("mitdb-beats").predict_signal(signal_mv, fs)
    cols = beat_ectopy_features(r["beat_probabilities"], r["beat_times_s"], r["label_names"])

Definitions. A beat is *called* the class of its largest probability; the *ectopic* beats are those called S or V
(``ECTOPIC_CLASSES``). RR interval ``j`` runs from beat ``j - 1`` to beat ``j``; it *touches* ectopy when either
of its beats is ectopic (the premature interval before an ectopic beat and the one after it). The local median RR
of an interval is the median of the ``2 x LOCAL_WINDOW + 1`` intervals around it. A successive RR difference is
*irregular* when it exceeds ``IRREGULAR_RATIO`` times the record's median RR; it is *clean* when neither of its two
intervals touches ectopy. Undefined values are NaN, never a made-up number (no beat of that kind, fewer than
``MIN_BEATS`` beats, no clean differences): LightGBM takes NaN natively.

Bad input (``ValueError``): probabilities that are not (n, classes) for n beat times, label names without the
ectopic classes, or beat times that do not increase.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

Feature = namedtuple("Feature", "name unit meaning")

ECTOPIC_CLASSES = ("S", "V")   # the beat classes counted as ectopic
MIN_BEATS = 4                  # beats needed for the RR columns (3 intervals, 2 successive differences)
LOCAL_WINDOW = 5               # local median RR over the 2 x 5 + 1 intervals around each one
PREMATURE_RATIO = 0.85         # premature: RR below 0.85 x its local median
IRREGULAR_RATIO = 0.15         # irregular successive difference: |dRR| above 0.15 x the record's median RR

FEATURES = (
    Feature("bx_frac_s", "fraction", "beats called S (supraventricular ectopic) over all beats"),
    Feature("bx_frac_v", "fraction", "beats called V (ventricular ectopic) over all beats"),
    Feature("bx_mean_p_s", "probability", "mean S probability over the beats"),
    Feature("bx_mean_p_v", "probability", "mean V probability over the beats"),
    Feature("bx_max_p_s", "probability", "largest S probability of a beat"),
    Feature("bx_max_p_v", "probability", "largest V probability of a beat"),
    Feature("bx_longest_ectopic_run", "beats", "longest run of consecutive ectopic (S or V) beats (0: none)"),
    Feature("bx_s_premature_frac", "fraction", "S-called beats whose preceding RR is premature against its "
                                               "local median (NaN: no S beat with a preceding RR)"),
    Feature("bx_ectopic_compensatory_frac", "fraction", "ectopic beats whose following RR is longer than the "
                                                        "preceding one (NaN: no ectopic beat with both)"),
    Feature("bx_rmssd_all_norm", "ratio", "RMSSD of the whole RR series over its median RR"),
    Feature("bx_rmssd_clean_norm", "ratio", "RMSSD of the clean successive differences (no interval touching "
                                            "ectopy) over the median RR: the irregularity ectopy does not explain"),
    Feature("bx_rmssd_clean_ratio", "ratio", "bx_rmssd_clean_norm over bx_rmssd_all_norm (small: ectopy "
                                             "explains the irregularity)"),
    Feature("bx_irregular_clean_frac", "fraction", "clean successive differences that are irregular"),
    Feature("bx_irregular_explained_frac", "fraction", "irregular successive differences that touch ectopy "
                                                       "(NaN: no irregular difference)"),
)
_NAMES = tuple(f.name for f in FEATURES)


def feature_names() -> tuple:
    """The column names of ``beat_ectopy_features``, in ``FEATURES`` order."""
    return _NAMES


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for m in mask:
        run = run + 1 if m else 0
        best = max(best, run)
    return best


def _mean(x) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def _rmssd(d) -> float:
    return float(np.sqrt(np.mean(np.square(d)))) if len(d) else float("nan")


def beat_ectopy_features(beat_probabilities, beat_times_s, label_names=("N", "S", "V", "F", "Q")) -> OrderedDict:
    """The ``FEATURES`` columns (name -> float, NaN where undefined) of one record from its per-beat class
    probabilities ``beat_probabilities`` (n, len(label_names)) and R-peak times ``beat_times_s`` (n,) in seconds.
    See the module docstring for the definitions."""
    p = np.asarray(beat_probabilities, np.float64)
    t = np.asarray(beat_times_s, np.float64).reshape(-1)
    names = [str(n) for n in label_names]
    if p.ndim != 2 or p.shape != (t.size, len(names)):
        raise ValueError(f"beat probabilities of shape {p.shape} for {t.size} beat times and {len(names)} classes")
    missing = [c for c in ECTOPIC_CLASSES if c not in names]
    if missing:
        raise ValueError(f"label names {names} lack the ectopic classes {missing}")
    if np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
        raise ValueError("beat times must be finite and increasing")
    out = OrderedDict((n, float("nan")) for n in _NAMES)
    n = t.size
    if n == 0:
        return out
    s, v = names.index("S"), names.index("V")
    called = p.argmax(-1)
    ectopic = np.isin(called, [names.index(c) for c in ECTOPIC_CLASSES])
    out.update(bx_frac_s=float(np.mean(called == s)), bx_frac_v=float(np.mean(called == v)),
               bx_mean_p_s=float(p[:, s].mean()), bx_mean_p_v=float(p[:, v].mean()),
               bx_max_p_s=float(p[:, s].max()), bx_max_p_v=float(p[:, v].max()),
               bx_longest_ectopic_run=float(_longest_run(ectopic)))
    if n < MIN_BEATS:
        return out
    rr = np.diff(t)                                    # rr[j - 1]: interval j, beat j - 1 to beat j
    padded = np.pad(rr, LOCAL_WINDOW, constant_values=np.nan)     # windows cut at the ends, as rr[i - 5: i + 6]
    local = np.nanmedian(np.lib.stride_tricks.sliding_window_view(padded, 2 * LOCAL_WINDOW + 1), axis=1)
    pre_premature = rr < PREMATURE_RATIO * local       # of beats 1 .. n - 1
    s_beats = np.flatnonzero(called[1:] == s)          # beats 1 .. n - 1 called S, as indices into rr
    out["bx_s_premature_frac"] = _mean(pre_premature[s_beats])
    both = np.flatnonzero(ectopic[1:-1]) + 1           # ectopic beats with a preceding and a following RR
    out["bx_ectopic_compensatory_frac"] = _mean(rr[both] > rr[both - 1])
    median = float(np.median(rr))
    touched = ectopic[1:] | ectopic[:-1]               # interval touches an ectopic beat
    d = np.diff(rr)                                    # successive differences of intervals j, j + 1
    clean = ~(touched[1:] | touched[:-1])
    irregular = np.abs(d) > IRREGULAR_RATIO * median
    out["bx_rmssd_all_norm"] = _rmssd(d) / median
    out["bx_rmssd_clean_norm"] = _rmssd(d[clean]) / median
    out["bx_rmssd_clean_ratio"] = (out["bx_rmssd_clean_norm"] / out["bx_rmssd_all_norm"]
                                   if out["bx_rmssd_all_norm"] > 0 else float("nan"))
    out["bx_irregular_clean_frac"] = _mean(irregular[clean])
    out["bx_irregular_explained_frac"] = _mean(~clean[irregular])
    return out
