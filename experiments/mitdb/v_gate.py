"""Run v38 (issue 18): an ECG-SL agreement gate on the recipe's V calls of beats that are neither premature nor wide.

    python experiments/mitdb/v_gate.py --work WORK --candidate experiments/mitdb/oof/left_out_k2_median.npz

WORK: any work folder (the DS1 table and v_side's per-fold caches ``v_side_<file stem>/`` are built there when
absent, as ``v_side.py --from-committed NPZ --steps cache`` does). The first run read v37's file from its work folder
with ``--commit``, which copied it to ``oof/left_out_k2_median.npz`` once kept.

Why: v37b's diagnosis (key ``relative_beats_stack.diagnosis``) found the recipe's false V left on record 108 are
the booster's: 255 of its 256 normal beats called V are called V by the booster and only 13 by ECG-SL; they come on
time (RR ~1.0 of the record's mean), are not wide, and are shaped unlike the record's median beat (108's normal beats
come in more than one shape; the booster calls the minority shape V). A ventricular beat is almost always premature
or wide; when it is neither, the shape evidence is all there is, and ECG-SL (the beat-minus-median model of v37 in
particular) reads shape better than the booster's few shape numbers. So (``v_agreement_gate``): a beat the recipe
calls V whose ``pre_rr_norm`` (RR before it / the record's mean RR) is at least ``premature`` and whose
``qrs_width_norm`` (QRS width / the record's median beat's) is at most ``wide`` keeps V only if ECG-SL's P(V) is at
least ``t``; otherwise its V probability is set to 0 and the row renormalised (the next class wins).

The choice, on each outer training fold alone (no left-out record on the training side): the recipe's inner
probabilities on its training records (booster of the fold's chosen set and size, seed 42, trained on one inner group
and scored on the other, averaged with the inner ECG-SL models' probabilities with the fold's deep weight, rhythm
gate), the gate's P(V) from the same inner ECG-SL models (out of fold); every point of ``GRID`` (fixed before any
figure) scored by the inner macro F1 (N, S, V, F); the best pooled point taken only if it raises the pooled inner
macro F1 over no gate AND lowers neither inner group's (the rule that held up in v_side's stack choice). Applied to
the left-out fold with the outer ECG-SL model's P(V), booster seeds 42-44.

Two candidates, both fixed before any left-out figure:
  ``median``    v37's probabilities (``--candidate``; the recipe choices of key
                ``relative_beats``) + the gate with their P(V);
  ``committed`` the committed probabilities (``oof/left_out_k2.npz``, the baseline's recipe) + the gate with their P(V).

Keep rule (``KEEP_RULE``, fixed before any left-out figure, per candidate against the committed baseline's gated
recipe, paired over booster seeds 42-44): mean change of V +P > 0 and > max(sd of the paired changes, the baseline's
seed sd of V +P); mean change of V Se >= -(baseline seed sd of V Se) (a gate that only removes V calls cannot raise V
Se; for the ``median`` candidate its own recipe's V Se gain is inside this); mean change of macro F1 (N, S, V, F)
>= 0; mean change of S Se >= -(baseline seed sd of S Se). ``median`` kept and ``--commit``: its left-out file is
copied to ``oof/left_out_k2_median.npz`` (float16 as exported); the mitdb-beats preset is NOT retrained here.

``--population`` (run v38b, key ``v_gate_population``): the second lever of run v38, shape relative to the beat's own
shape population rather than one median beat, with the columns the table already has
(``per_beat_features.POPULATION_FEATURE_NAMES``: the share of beats within +-150 s of the same shape at correlation
0.90 / 0.95, QRS and whole beat; correlation and distance to the record's dominant-shape template; RR against the
beats of the same shape), so a second common normal morphology reads as common. On each outer training fold of the
``median`` candidate, the booster of the fold's set + those columns (same size, deep weight, rhythm gate) is taken
only if the recipe's inner macro F1 rises pooled and falls in neither inner group; then the V gate is chosen on top
as above. ``POPULATION_RULE`` (fixed before its left-out figures) judges it against the v38 lever (the ``median``
candidate's ``v_gate`` rows), paired over seeds 42-44, with ``KEEP_RULE``'s checks (the v38 lever's seed sds).

``--inner-folds K`` (run v39, key ``v_gate_inner<K>``): the same gate, ``GRID``, choice rule and left-out
application, but each outer training fold's choice is made over its K inner groups (``run.inner_groups(work, h, K)``,
as ``v_side.py --stack-inner-folds K``): the recipe's inner probabilities are the booster of the fold's set and size
(seed 42) trained on K - 1 groups and scored on the held one, averaged with the inner-K ECG-SL probabilities
(``run.py --steps inner --inner-folds K``, committed as ``oof.inner_k_path_for(candidate, K)``: ``inner4_k2.npz`` for
the committed file, ``inner4_k2_median.npz`` for v37's, float16) with the fold's deep weight, rhythm gate; the gate's
P(V) from those inner-K ECG-SL models; the best pooled point taken only if it raises the pooled inner macro F1 over
no gate AND lowers no inner group's (none of the K may fall). Why: v38's fold 1 refused the gate because one of its
two inner groups fell (0.6288 -> 0.6221), and a two-group inner model sees only half the fold's records; with K = 4
it sees 3/4, closer to the outer model that is scored. The v38 rows (two groups) are recomputed in the same run and
must reproduce key ``v_gate``. ``INNER_K_RULE`` (fixed before any left-out figure of run v39) judges the ``median``
candidate against the v38 lever (its two-group ``v_gate`` rows), paired over booster seeds 42-44; ``KEEP_RULE``'s
comparison against the committed baseline is reported too. Kept or not, the recipe choices (set, size, deep weight,
rhythm gate) stay those of key ``relative_beats``.

``--local`` (run v40, key ``v_gate_local``): the gate's prematurity test against the LOCAL rhythm, robust to an
irregular one. Why: v39's fold 1 refused the gate because in record 201 (atrial fibrillation) true V beats look on
time against the record's mean RR. ``LOCAL_GATE`` reads columns the table already has (``LOCAL_COLUMNS``,
``per_beat_features.local_rhythm_features``: the 8 RR intervals before and the 8 after the beat, its own pre and post
RR left out): a V call is gated only if the beat is on time against its neighbours (``local_on_time``: pre RR / the
neighbours' median RR >= ``premature``; with ``pause``, also post RR / pre RR < ``pause``, no compensatory pause;
with ``irregular``, also the neighbours' robust spread ``rhythm_mad_norm`` <= ``irregular``, so the gate never acts
in fibrillation, where "on time" is no evidence), narrow and not backed by ECG-SL. ``LOCAL_GRID`` (fixed before any
figure): ``GRID`` x pause (none, 1.1, 1.25) x irregular (none, 0.1), 270 points; each grid point is chosen with
v38's rule. Decision row (fixed before any figure): the choice over 4 inner groups (``oof/inner4_k2_median.npz``,
closer to the outer model scored); the choice over 2 inner groups is reported. ``LOCAL_RULE`` against the v38 lever
(key ``v_gate``), paired over booster seeds 42-44; the comparison with the committed baseline is reported. Per
record (``LOCAL_RECORDS``: 108, 118, 203, 201, the rest): false V and true V lost.

``--rescue`` (run v41, key ``v_rescue``): the symmetric lever on top of v40. Why: after v40 the V Se gap (-0.059)
is as large as the V +P gap, and most lost V beats are outside 108/118/203/201. ``RESCUE_GATE`` (``v_rescue``, the
same ``LOCAL_COLUMNS``): a beat the recipe (with v40's gate as chosen on its fold) calls non-V becomes V when
ECG-SL's (v37, relative) P(V) >= ``t_high`` AND it is locally premature (pre RR / neighbours' median < ``premature``)
OR wide (width > ``wide``) OR, with ``pause``, followed by a compensatory pause (post / pre RR >= ``pause``).
``RESCUE_GRID`` (fixed before any figure): t_high 0.5 / 0.7 / 0.9 x premature 0.8 / 0.9 x wide 1.3 / 1.5 x pause
None / 1.25, 24 points; chosen per outer training fold over the 4 inner groups with v38's rule, against v40's gated
inner recipe (pooled inner macro F1 up, no inner group down). ``RESCUE_RULE`` against v40's decision row (key
``v_gate_local.inner4``, recomputed here and checked), paired over booster seeds 42-44: V Se up by more than
max(paired sd, v40's seed sd), V +P, macro F1 and S Se each not lower by more than v40's seed sd. Per record
(``LOCAL_RECORDS`` and the rest): false V and V lost.

``--af-off`` (run v45, key ``v_gate_af_off``): v40's local gate forced off in atrial fibrillation. Why: the s33
build refused v40's gate (``BUILD_RULE``) because three of DS1's eight inner groups fell, worst 201's (atrial
fibrillation: 53 true V taken, on time against an irregular local rhythm). ``af_off_gate`` (the library's
``VGate`` with ``af_off``, the spec's ``{"feature": "window_af_afev", "threshold": ...}``): no V call is taken where
the beat's rhythm-gate AF evidence (``AF_FEATURE``, the 30 s window's AFEv, the feature of every fold's rhythm gate)
exceeds the AF-off threshold. ``AF_OFF_GRID`` (fixed before any figure): ``LOCAL_GRID`` x ``af_cover`` 1.0 (the
fold's own rhythm-gate threshold tau), 1.5, 2.0 (the looser AFEv quantiles of the outer training fold's beats
above which 1.5x / 2x as many beats lie as above tau, ``af_off_thresholds``), 810 points; no point without AF-off.
Chosen per outer training fold over its 4 inner groups with v38's rule (as v40's decision row). ``AF_OFF_RULE``:
v40's keep rule against v40's decision row (recomputed here, checked against key ``v_gate_local.inner4``), paired
over booster seeds 42-44. ``--build --af-off`` (key ``v_gate_build_af_off``): ``BUILD_RULE`` unchanged over
``AF_OFF_GRID`` with tau the shipped preset's rhythm-gate threshold (``--preset``'s ``stacking.json``) and the
quantiles over all DS1 beats; a point taken goes into the shipped ``stacking.json`` as ``v_gate`` with ``af_off``.

Outcome: ``median`` kept (fold 0 took the gate, fold 1 did not; left-out V +P 0.812 -> 0.826 against the committed
baseline, paired +0.0144 sd 0.0029; the V calls it took were mostly 208's fusion beats, not 108's); ``committed``
unchanged (no fold took it). ``--population`` not kept (S Se -0.11 against the v38 lever). ``--inner-folds 4``
(v39) not kept: neither fold took the gate over four groups (fold 1's pooled inner F1 fell: the gate took 88 true V
of 201, in atrial fibrillation; fold 0: one group fell by 0.001), so left-out V +P 0.826 -> 0.811 against v38.
``--local`` (v40) kept: over four groups fold 1 takes the local gate (pause 1.1; 201's group no longer falls), fold 0
refuses (106's narrow, locally on-time true V); left-out V +P 0.826 -> 0.844 against v38 (108's false V 267 -> 126).
``--rescue`` (v41) not kept: neither fold takes the rescue (one inner group falls on each), so the decision row is
v40's; forced (ablation) the folds' best points give V Se +0.021 but V +P -0.010 (203's and the other records' false V).

The rule served (run s33): ``local_on_time``, ``v_local_gate`` and ``_drop_v`` call the library's
``modeling.stacking`` (``local_on_time``, ``VGate``, ``drop_calls``), the rule ``mitdb-beats`` serves from
``stacking.json``'s ``v_gate``; ``LOCAL_COLUMNS`` is ``stacking.V_GATE_COLUMNS``. ``choose_build_gate`` (``BUILD_RULE``,
key ``v_gate_build``: ``--build``, the ``median`` candidate only; ``beats_preset.py --steps build --v-gate`` ships it)
chooses the build's gate on all of DS1's inner groups; in run s33 it refused (3 of the 8 inner groups fell), so the preset serves no V gate.
``--af-off`` (v45) not kept: fold 0 still refuses (groups 106/114/124 and 122/223/230 fall), fold 1 takes AF-off
at tau; against v40's decision row V +P -0.0017 (203's false V in fibrillation spared). ``--build --af-off`` refused
too, by one group instead of three (201's no longer falls; 106/114/124 does: 8 true V of 106, narrow, on time and
outside AF), so the preset still serves no V gate.

Results: keys ``v_gate``, ``v_gate_inner4``, ``v_gate_local``, ``v_rescue``, ``v_gate_af_off``,
``v_gate_build_af_off`` and ``v_gate_population`` of ``beats_preset_results.json`` (per-record
false V of 108, 118, 203 and the other records, before / after, seed 42 and mean over seeds); the last line of
stdout is one JSON object.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.shared_data import MITDB  # noqa: E402
sys.path.insert(0, str(HERE))

from ecgsl_keras.modeling.stacking import V_GATE_COLUMNS  # noqa: E402

log = logging.getLogger("experiments.mitdb.v_gate")

KEY = "v_gate"
RR_COLUMN, WIDTH_COLUMN = "pre_rr_norm", "qrs_width_norm"
# fixed before any figure: on-time from 0.8 (the usual prematurity cut of RR-based V/S rules) to 0.95; "not wide" up
# to 1.15 / 1.3 / 1.5 of the record's median width; ECG-SL's P(V) needed to keep V
GRID = {"premature": (0.8, 0.9, 0.95), "wide": (1.15, 1.3, 1.5), "t": (0.05, 0.1, 0.2, 0.3, 0.5)}
RECORDS = ("108", "118", "203")
# run v40 (--local): the prematurity test against the local rhythm. Columns already in the table
# (per_beat_features.RHYTHM_FEATURES: 8 + 8 neighbour RR intervals, the beat's own pre and post RR left out)
# (the library's V gate evidence, modeling.stacking.V_GATE_COLUMNS: pre / post RR over the neighbours' median, their
# robust spread, WIDTH_COLUMN)
LOCAL_COLUMNS = V_GATE_COLUMNS
# fixed before any figure of run v40: GRID's premature / wide / t, now read against the neighbours' median RR; pause
# (post RR / pre RR below it: no compensatory pause) None = not tested, 1.1, 1.25; irregular (the neighbours' robust
# spread at most it: the gate acts only in a regular neighbourhood) None = not tested, 0.1 (sinus rhythm with a few
# ectopic beats sits well under 0.1, atrial fibrillation above)
LOCAL_GRID = dict(GRID, pause=(None, 1.1, 1.25), irregular=(None, 0.1))
LOCAL_KEY = "v_gate_local"
LOCAL_DECISION_K = 4    # the decision row: the gate chosen over 4 inner groups (closer to the outer model scored)
LOCAL_RECORDS = ("108", "118", "203", "201")
LOCAL_RULE = ("fixed before any figure of run v40: the median candidate's V gate with its prematurity test against "
              "the local rhythm (LOCAL_GATE: pre RR / median of the 16 neighbour RR intervals >= premature, and "
              "optionally post/pre < pause and neighbours' robust spread <= irregular; LOCAL_GRID), chosen per outer "
              "training fold with v38's rule (best pooled inner macro F1 taken only if it beats no gate pooled and "
              "lowers NO inner group's). Decision row: the choice over 4 inner groups (run.py --inner-folds 4, "
              "oof/inner4_k2_median.npz); the choice over 2 inner groups is reported. Against the v38 lever (key "
              "v_gate, median candidate's v_gate rows), paired over booster seeds 42-44: kept only if the mean change "
              "of V +P > 0 and > max(paired sd, the lever's seed sd of V +P), and the mean changes of V Se, macro F1 "
              "(N, S, V, F) and S Se are each >= -(the lever's seed sd of that figure). Kept or not, the recipe "
              "choices stay those of key relative_beats; nothing is retrained")

# run v41 (--rescue): the symmetric lever on top of v40, a V RESCUE. Fixed before any figure of run v41: ECG-SL's
# P(V) at least t_high (0.5, 0.7, 0.9) AND timing or width evidence of ectopy against the local rhythm: premature
# (pre RR / neighbours' median below 0.8 or 0.9) OR wide (QRS width / the record's median beat's above 1.3 or 1.5) OR,
# with pause, a compensatory pause (post RR / pre RR at least 1.25; None = not tested); 24 points
RESCUE_GRID = {"t_high": (0.5, 0.7, 0.9), "premature": (0.8, 0.9), "wide": (1.3, 1.5), "pause": (None, 1.25)}
RESCUE_KEY = "v_rescue"
RESCUE_RULE = ("fixed before any figure of run v41: on top of v40's decision row (the local gate chosen per outer "
               "training fold over 4 inner groups, key v_gate_local.inner4), a V rescue (RESCUE_GATE: a beat called "
               "non-V becomes V when ECG-SL's P(V) >= t_high and it is locally premature OR wide OR followed by a "
               "compensatory pause; RESCUE_GRID, 24 points), chosen per outer training fold over the same 4 inner "
               "groups with v38's rule (best pooled inner macro F1 (N, S, V, F) taken only if it beats v40's gated "
               "recipe pooled and lowers NO inner group's). Against v40 (decision row), paired over booster seeds "
               "42-44: kept only if the mean change of V Se > 0 and > max(paired sd, v40's seed sd of V Se), and the "
               "mean changes of V +P, macro F1 (N, S, V, F) and S Se are each >= -(v40's seed sd of that figure). "
               "Nothing is retrained")

# run v45 (--af-off): v40's gate forced off in atrial fibrillation. Fixed before any figure of run v45: the V gate
# never takes a V call of a beat whose rhythm-gate AF evidence (AF_FEATURE, the feature of every fold's and the
# preset's rhythm gate) exceeds the AF-off threshold; af_cover 1.0 = the rhythm gate's own threshold (tau: the fold's
# chosen gate_threshold; the build: the preset's gate threshold), 1.5 / 2.0 = the looser AFEv quantiles above which
# 1.5x / 2x as many training beats lie as above tau (af_off_thresholds, on the outer training fold's beats; the
# build: all DS1 beats). LOCAL_GRID x af_cover (no point without AF-off: that is v40's grid), 810 points
AF_FEATURE = "window_af_afev"
AF_OFF_GRID = dict(LOCAL_GRID, af_cover=(1.0, 1.5, 2.0))
AF_OFF_KEY = "v_gate_af_off"
AF_OFF_BUILD_KEY = "v_gate_build_af_off"
AF_OFF_RULE = ("fixed before any figure of run v45: v40's local V gate forced off in atrial fibrillation (AF_OFF_GATE: "
               "a V call is never taken where the beat's rhythm-gate AF evidence window_af_afev exceeds the AF-off "
               "threshold: the fold's rhythm-gate threshold tau (af_cover 1.0) or the looser AFEv quantiles of the "
               "outer training fold's beats above which 1.5x / 2x as many beats lie as above tau; AF_OFF_GRID = "
               "LOCAL_GRID x af_cover (1.0, 1.5, 2.0), 810 points), chosen per outer training fold over its 4 inner "
               "groups (oof/inner4_k2_median.npz) with v38's rule (best pooled inner macro F1 (N, S, V, F) taken only "
               "if it beats no gate pooled and lowers NO inner group's). Against v40's decision row (key "
               "v_gate_local.inner4, recomputed here and checked), paired over booster seeds 42-44, v40's keep rule: "
               "kept only if the mean change of V +P > 0 and > max(paired sd, v40's seed sd of V +P), and the mean "
               "changes of V Se, macro F1 (N, S, V, F) and S Se are each >= -(v40's seed sd of that figure). Kept or "
               "not, the recipe choices stay those of key relative_beats; nothing is retrained. The build (key "
               "v_gate_build_af_off): BUILD_RULE unchanged over AF_OFF_GRID, tau the preset's rhythm-gate threshold, "
               "the quantiles over all DS1 beats; a point taken is added to the shipped stacking.json as v_gate with "
               "af_off {feature, threshold}")

COMPARED = ("macro_f1_nsvf", "V_sensitivity", "V_positive_predictivity", "S_sensitivity", "S_positive_predictivity",
            "accuracy")
COMMITTED_TO = HERE / "oof" / "left_out_k2_median.npz"
KEEP_RULE = ("fixed before any left-out figure (run v38), per candidate against the committed baseline's gated recipe "
             "(chosen_weighted_gated), paired over booster seeds 42-44: mean change of V +P > 0 and > max(sd of the "
             "paired changes, baseline seed sd of V +P); mean change of V Se >= -(baseline seed sd of V Se); mean "
             "change of macro F1 (N, S, V, F) >= 0; mean change of S Se >= -(baseline seed sd of S Se). The gate's "
             "thresholds are chosen per outer training fold on the inner probabilities (best pooled inner macro F1 "
             "of GRID, taken only if it beats no gate pooled and lowers neither inner group). Kept (median "
             "candidate): its left-out file committed as oof/left_out_k2_median.npz; mitdb-beats not retrained")


INNER_K_RULE = ("fixed before any left-out figure (run v39): the median candidate's V gate chosen per outer training "
                "fold over the K inner groups of run.py --inner-folds K (same GRID; best pooled inner macro F1 taken "
                "only if it beats no gate pooled and lowers NO inner group's) against the v38 lever (the same "
                "candidate's gate chosen over two inner groups, key v_gate), paired over booster seeds 42-44: kept "
                "only if the mean change of V +P > 0 and > max(paired sd, the lever's seed sd of V +P), and the mean "
                "changes of V Se, macro F1 (N, S, V, F) and S Se are each >= -(the lever's seed sd of that figure)")


POPULATION_KEY = "v_gate_population"
POPULATION_RULE = ("fixed before its left-out figures (run v38b): the median candidate with the population shape "
                   "columns (taken per training fold if the recipe's inner macro F1 rises pooled and in neither inner "
                   "group falls) and the V gate chosen on top, against the v38 lever (median candidate's v_gate rows), "
                   "paired over booster seeds 42-44: mean change of V +P > 0 and > max(paired sd, the lever's seed sd "
                   "of V +P); mean change of V Se >= -(its seed sd); macro F1 >= 0; S Se >= -(its seed sd)")


def v_agreement_gate(p, p_ecgsl_v, pre_rr_norm, qrs_width_norm, labels, premature, wide, t) -> np.ndarray:
    """``p`` (beats, classes) with the V calls of on-time (``pre_rr_norm >= premature``), narrow
    (``qrs_width_norm <= wide``) beats whose ECG-SL P(V) is below ``t`` taken away: their V probability set to 0 and
    the row renormalised. A beat whose RR or width is unknown (NaN) is left alone: the gate acts only on evidence."""
    with np.errstate(invalid="ignore"):
        drop = ((np.asarray(pre_rr_norm) >= premature) & (np.asarray(qrs_width_norm) <= wide)
                & (np.asarray(p_ecgsl_v) < t))
    return _drop_v(p, drop, labels)


def local_on_time(pre_local, post_local, mad_norm, premature, pause=None, irregular=None) -> np.ndarray:
    """(n,) bool: beats with no timing evidence of ectopy against the LOCAL rhythm (run v40): the library's
    ``modeling.stacking.local_on_time`` (the one place of the test, which the ``mitdb-beats`` preset serves)."""
    from ecgsl_keras.modeling.stacking import local_on_time as on_time

    return on_time(pre_local, post_local, mad_norm, premature, pause, irregular)


def _drop_v(p, drop, labels) -> np.ndarray:
    from ecgsl_keras.modeling.stacking import drop_calls

    return drop_calls(p, drop, labels.index("V"))[0]


def v_local_gate(p, p_ecgsl_v, x, labels, premature, wide, t, pause=None, irregular=None,
                 af_off=None) -> np.ndarray:
    """``v_agreement_gate`` with prematurity against the local rhythm (run v40): ``x`` holds ``LOCAL_COLUMNS``
    (pre / post RR over the neighbours' median, their robust spread, QRS width over the record's median beat's); a V
    call of a beat ``local_on_time`` and not wider than ``wide`` keeps V only if ECG-SL's P(V) >= ``t``. The rule is
    the library's ``modeling.stacking.VGate`` (the spec's ``v_gate``, served by ``mitdb-beats``). ``af_off`` (run v45,
    the spec's ``{"feature", "threshold"}``): ``x`` holds its feature as a fifth column and no V call is taken where it
    exceeds the threshold."""
    from ecgsl_keras.modeling.stacking import VGate

    return VGate(premature, wide, t, labels, pause=pause, irregular=irregular, af_off=af_off).apply(p, p_ecgsl_v,
                                                                                                    x)[0]


def af_off_thresholds(evidence, tau) -> dict:
    """Run v45: af_cover -> AF-off threshold on ``evidence`` (the training beats' ``AF_FEATURE``, NaN left out):
    1.0 -> ``tau`` (the rhythm gate's threshold); c > 1 -> the AFEv quantile above which c times as many beats lie
    as above ``tau`` (looser: more beats count as in AF)."""
    e = np.asarray(evidence, np.float64)
    e = e[np.isfinite(e)]
    share = float((e > tau).mean())
    return {c: float(tau) if c == 1.0 else round(float(np.quantile(e, max(0.0, 1.0 - c * share))), 3)
            for c in AF_OFF_GRID["af_cover"]}


def af_off_gate(thresholds: dict) -> "Gate":
    """Run v45's gate on one training side: ``LOCAL_GATE`` + AF-off, ``thresholds`` af_cover -> threshold
    (``af_off_thresholds``)."""
    def apply(p, pv, x, labels, af_cover, **pt):
        return v_local_gate(p, pv, x, labels, **pt, af_off={"feature": AF_FEATURE, "threshold": thresholds[af_cover]})

    gate = Gate("af_off", list(LOCAL_COLUMNS) + [AF_FEATURE], AF_OFF_GRID, apply)
    gate.thresholds = dict(thresholds)
    return gate


def v_gate_spec(point: dict, gate) -> dict:
    """The ``stacking.json`` ``v_gate`` object of a grid ``point`` of ``gate`` (``af_cover`` -> ``af_off``)."""
    spec = {k: point.get(k) for k in ("premature", "wide", "t", "pause", "irregular")}
    if "af_cover" in point:
        spec["af_off"] = {"feature": AF_FEATURE, "threshold": gate.thresholds[point["af_cover"]]}
    return spec


def v_rescue(p, p_ecgsl_v, x, labels, t_high, premature, wide, pause=None) -> np.ndarray:
    """The symmetric lever of ``v_local_gate`` (run v41): a beat called non-V becomes V when ECG-SL's P(V) is at least
    ``t_high`` AND it shows timing or width evidence of ectopy (``x``: ``LOCAL_COLUMNS``): locally premature
    (pre RR / the neighbours' median below ``premature``) OR wide (QRS width / the record's median beat's above
    ``wide``) OR, with ``pause``, followed by a compensatory pause (post RR / pre RR at least ``pause``). Its V
    probability is raised just above the row's largest and the row renormalised. NaN: no evidence (left alone)."""
    x = np.asarray(x, np.float64)
    v = labels.index("V")
    with np.errstate(invalid="ignore", divide="ignore"):
        ectopic = (x[:, 0] < premature) | (x[:, 3] > wide)
        if pause is not None:
            ectopic |= (x[:, 1] / x[:, 0]) >= pause
        take = ectopic & (np.asarray(p_ecgsl_v) >= t_high)
    p = np.array(p, dtype=float, copy=True)
    take &= p.argmax(-1) != v
    p[take, v] = p[take].max(axis=1) * 1.001
    p[take] /= p[take].sum(axis=1, keepdims=True)
    return p


class Gate:
    """One form of the V agreement gate: the table columns it reads, its grid, and how it applies a grid point."""

    def __init__(self, name, columns, grid, apply):
        self.name, self.columns, self.grid, self.apply = name, list(columns), dict(grid), apply

    def inputs(self, table, idx) -> np.ndarray:
        from beats_preset import _columns_of
        return _columns_of(table, self.columns)[idx]

    def points(self):
        return [dict(zip(self.grid, point)) for point in itertools.product(*self.grid.values())]


RECORD_GATE = Gate("record", [RR_COLUMN, WIDTH_COLUMN], GRID,
                   lambda p, pv, x, labels, **pt: v_agreement_gate(p, pv, x[:, 0], x[:, 1], labels, **pt))
LOCAL_GATE = Gate("local", LOCAL_COLUMNS, LOCAL_GRID, v_local_gate)
RESCUE_GATE = Gate("rescue", LOCAL_COLUMNS, RESCUE_GRID, v_rescue)


def _inner_recipe(table, labels, c, part, gate, pre=None) -> tuple:
    """The recipe's inner probabilities on one outer training fold (v_side's cache ``part``: inner booster and
    inner ECG-SL averaged with the fold's deep weight, rhythm gate; beats without an inner ECG-SL prediction left
    out), with the gate's inputs: (base, P(V) of the inner ECG-SL, gate columns, y, record). ``pre`` (run v41):
    ``pre(p, p_v, x)`` applied to the recipe first."""
    from v_side import _gated
    v = labels.index("V")
    train = part["train"]
    ok = np.isfinite(part["inner_deep"]).all(axis=1)
    idx, y, rec = train[ok], table["y"][train][ok], table["record"][train][ok]
    w = c["deep_weight"]
    base = _gated(table, idx, (1 - w) * part["inner_booster"][ok] + w * part["inner_deep"][ok], c, labels)
    x = gate.inputs(table, idx)
    pv = part["inner_deep"][ok, v]
    if pre is not None:
        base = pre(base, pv, x)
    return base, pv, x, y, rec


def _best_point(base, pv, x, y, rec, labels, groups, gate) -> dict:
    """v38's rule over ``gate``'s grid on the inner probabilities ``base``: the best pooled inner macro F1 (N, S, V,
    F) point (the first of equals, in grid order), taken only if it beats no gate pooled and lowers NO group's."""
    from beats_preset import _macro_nsvf
    v = labels.index("V")

    def score(pi):
        return {"pooled": round(_macro_nsvf(y, pi, labels), 4),
                "groups": [round(_macro_nsvf(y[np.isin(rec, g)], pi[np.isin(rec, g)], labels), 4) for g in groups]}

    none = score(base)
    best, best_point = None, None
    for point in gate.points():
        s = score(gate.apply(base, pv, x, labels, **point))
        if best is None or s["pooled"] > best["pooled"]:
            best, best_point = s, point
    uses = best["pooled"] > none["pooled"] and all(b >= n for b, n in zip(best["groups"], none["groups"]))
    called = base.argmax(-1) == v
    gated = gate.apply(base, pv, x, labels, **best_point).argmax(-1) == v
    inner = {name: {"V_called": int(m.sum()), "V_true": int((m & (y == v)).sum())} for name, m in
             (("no_gate", called), ("best", gated))}
    # the inner V calls the best point takes away, by record and true class (why an inner group falls)
    taken = {}
    for r, k in zip(rec[called & ~gated], y[called & ~gated]):
        taken.setdefault(str(r), {}).setdefault(labels[int(k)], 0)
        taken[str(r)][labels[int(k)]] += 1
    return {"inner_macro_f1_nsvf": {"no_gate": none, "best": best}, "best_point": best_point, "uses_gate": bool(uses),
            "inner_V_calls": inner, "inner_V_calls_taken": taken, "inner_groups": [sorted(g) for g in groups]}


def choose_gate(table, labels, c, part, groups, gate=RECORD_GATE, pre=None) -> dict:
    """The gate's thresholds on one outer training fold (module docstring), from v_side's cache ``part``; ``gate``:
    which form of the gate (``RECORD_GATE``, v38; ``LOCAL_GATE``, v40; ``RESCUE_GATE``, v41) over its own grid;
    ``pre`` (run v41): ``pre(p, p_v, x)`` applied to the recipe first (v40's gate as chosen on the fold), so the
    choice is made against it."""
    return _best_point(*_inner_recipe(table, labels, c, part, gate, pre), labels, groups, gate)


BUILD_RULE = ("fixed before any figure of the build's choice (session s33): the mitdb-beats build's V gate is "
              "LOCAL_GATE over LOCAL_GRID chosen with v38's rule on ALL of DS1's inner groups: the inner-4 recipe "
              "probabilities of both outer training folds together (oof/inner4_k2_median.npz; every DS1 beat once, "
              "each from the inner booster (seed 42; the fold's set, size, deep weight, rhythm gate, as v40's "
              "choose_gate builds them) and the inner ECG-SL model trained on 3 of the 4 inner groups of the other "
              "half; P(V) from the same inner ECG-SL models), 8 groups (4 per fold): the grid point of the best "
              "pooled macro F1 (N, S, V, F) (the first of equals in grid order) is taken only if it raises the "
              "pooled macro F1 over no gate and lowers none of the 8 groups'; otherwise the preset ships no V gate")


def choose_build_gate(work, table, labels, npz, chosen, af_off_tau=None) -> dict:
    """``BUILD_RULE`` (key ``v_gate_build``): the V gate of the ``mitdb-beats`` build, from the committed left-out
    file ``npz`` (its inner-4 file beside it) and the recipe ``chosen`` per outer fold (v37's choices, those of
    ``v_gate_local``), v_side's caches ``WORK/v_side_<npz stem>`` (built when absent, as ``main`` does).
    ``af_off_tau`` (run v45, key ``v_gate_build_af_off``): the preset's rhythm-gate threshold; the grid is then
    ``AF_OFF_GRID`` (``af_off_gate``, the looser thresholds over all DS1 beats)."""
    import beats_preset
    import oof
    from v_side import _load, step_cache, with_inner_k

    k = LOCAL_DECISION_K
    committed = oof.CommittedPredictions(npz)
    committed.write_folds(work)
    cache = work / f"v_side_{Path(npz).stem}"
    if not all((cache / f"fold{h}.npz").is_file() for h in range(len(chosen))):
        cache.mkdir(parents=True, exist_ok=True)
        beats_preset.COMMITTED = committed
        try:
            step_cache(work, cache, table, labels, chosen)
        finally:
            beats_preset.COMMITTED = None
    if committed.add_inner(oof.inner_k_path_for(npz, k)) != k:
        raise SystemExit(f"{oof.inner_k_path_for(npz, k)}: not an inner-{k} file")
    parts = _load(cache, len(chosen))
    gate = LOCAL_GATE
    if af_off_tau is not None:
        gate = af_off_gate(af_off_thresholds(beats_preset._columns_of(table, [AF_FEATURE])[:, 0], af_off_tau))
    pieces, groups = [], []
    for h, part in enumerate(parts):
        g = committed.inner_k_groups[str(h)]
        inner = committed.inner_k(h, table, k)[part["train"]]
        pieces.append(_inner_recipe(table, labels, chosen[str(h)], with_inner_k(table, labels, chosen[str(h)], part,
                                                                                  inner, g), gate))
        groups.extend(g)
    base, pv, x, y, rec = (np.concatenate([piece[i] for piece in pieces]) for i in range(5))
    out = _best_point(base, pv, x, y, rec, labels, groups, gate)
    out.update(rule=BUILD_RULE, grid=gate.grid, gate_columns=gate.columns, beats=int(len(y)),
               file=str(npz), inner_file=str(oof.inner_k_path_for(npz, k)),
               v_gate=v_gate_spec(out["best_point"], gate) if out["uses_gate"] else None)
    if af_off_tau is not None:
        out.update(af_off_rule=AF_OFF_RULE, af_off_tau=float(af_off_tau),
                   af_off_thresholds={str(c): t for c, t in gate.thresholds.items()})
    return out


def run_candidate(table, labels, chosen, parts, work, inner_k=None, gate=RECORD_GATE, pre=None) -> dict:
    """The recipe (seeds 42-44, rhythm-gated) with and without the V agreement gate chosen per training fold.
    ``inner_k`` (K, {held_out: (training beats, C) inner-K ECG-SL probabilities}, {held_out: K groups}): the choice
    over those K groups (``--inner-folds K``); the left-out side is the same either way. ``pre`` ({held_out:
    ``pre(p, p_v, x)``}, run v41): applied to the recipe first on both sides, so rows ``recipe_s*`` are its output.
    ``gate``: one ``Gate``, or {held_out: ``Gate``} (run v45: each fold's AF-off thresholds)."""
    from beats_preset import _scores
    from hybrid import BOOSTER_SEEDS
    from run import inner_groups
    from v_side import _gated, with_inner_k
    v = labels.index("V")
    idx = np.concatenate([part["scored"] for part in parts])
    y, rec = table["y"][idx], table["record"][idx]
    choice, per_fold = {}, []
    gates = gate
    for h, part in enumerate(parts):
        gate = gates[h] if isinstance(gates, dict) else gates   # run v45: each fold's own AF-off thresholds
        c = chosen[str(h)]
        w = c["deep_weight"]
        if inner_k is None:
            choice[str(h)] = ch = choose_gate(table, labels, c, part, inner_groups(work, h), gate,
                                              None if pre is None else pre[h])
        else:
            groups = inner_k[2][h]
            choice[str(h)] = ch = choose_gate(table, labels, c, with_inner_k(table, labels, c, part, inner_k[1][h],
                                                                             groups), groups, gate,
                                              None if pre is None else pre[h])
        x = gate.inputs(table, part["scored"])
        fold_p = {}
        for seed in BOOSTER_SEEDS:
            recipe = _gated(table, part["scored"], (1 - w) * part[f"p_booster_s{seed}"] + w * part["p_deep"], c,
                            labels)
            if pre is not None:
                recipe = pre[h](recipe, part["p_deep"][:, v], x)
            fold_p[f"recipe_s{seed}"] = recipe
            fold_p[f"v_gate_forced_s{seed}"] = gate.apply(recipe, part["p_deep"][:, v], x, labels,
                                                          **ch["best_point"])
            fold_p[f"v_gate_s{seed}"] = fold_p[f"v_gate_forced_s{seed}" if ch["uses_gate"] else f"recipe_s{seed}"]
        per_fold.append(fold_p)
        log.info("fold %d: gate %s at %s, inner %s", h, ch["uses_gate"], ch["best_point"], ch["inner_macro_f1_nsvf"])
    rows = {k: np.concatenate([f[k] for f in per_fold]) for k in per_fold[0]}
    scores = {k: {m: x for m, x in _scores(y, p, labels).items() if m != "distance_to_targets"}
              for k, p in rows.items()}
    spread = {form: {m: {"mean": float(np.mean([scores[f"{form}_s{s}"][m] for s in BOOSTER_SEEDS])),
                         "sd": float(np.std([scores[f"{form}_s{s}"][m] for s in BOOSTER_SEEDS], ddof=1))}
                     for m in COMPARED} for form in ("recipe", "v_gate", "v_gate_forced")}
    false_v = {k: false_v_by_record(y, p, rec, v) for k, p in rows.items()}
    # seed 42: every record whose false V the gate changed (recipe -> v_gate), to say where a gain comes from
    fp = {k: (rows[f"{k}_s42"].argmax(-1) == v) & (y != v) for k in ("recipe", "v_gate")}
    changed = {r: [int((fp["recipe"] & (rec == r)).sum()), int((fp["v_gate"] & (rec == r)).sum())]
               for r in np.unique(rec)}
    changed = {r: c for r, c in changed.items() if c[0] != c[1]}
    # seed 42: the beats whose V call the gate took away, by record and true class (what the gain is made of)
    dropped = (rows["recipe_s42"].argmax(-1) == v) & (rows["v_gate_s42"].argmax(-1) != v)
    taken = {}
    for r, k in zip(rec[dropped], y[dropped]):
        taken.setdefault(str(r), {}).setdefault(labels[int(k)], 0)
        taken[str(r)][labels[int(k)]] += 1
    # run v40: per record of LOCAL_RECORDS (201: atrial fibrillation), false V and true V lost, seed 42 and seed mean
    by_record = {}
    for form in ("recipe", "v_gate", "v_gate_forced"):
        each = [_v_by_record(y, rows[f"{form}_s{s}"], rec, v) for s in BOOSTER_SEEDS]
        by_record[form] = {"s42": each[BOOSTER_SEEDS.index(42)],
                           "seed_mean": {r: {k: round(float(np.mean([e[r][k] for e in each])), 1) for k in each[0][r]}
                                         for r in each[0]}}
    return {"chosen_by_inner_cv": choice, "rows": scores, "seed_spread": spread, "false_v": false_v,
            "false_v_changed_s42": changed, "v_calls_taken_s42": taken, "v_by_record": by_record}


def _v_by_record(y, p, rec, v) -> dict:
    """False V and true V lost on each of ``LOCAL_RECORDS`` and on the other records together."""
    called, true = p.argmax(-1) == v, y == v
    out = {}
    for name, m in [(r, rec == r) for r in LOCAL_RECORDS] + [("other", ~np.isin(rec, LOCAL_RECORDS))]:
        out[name] = {"false_V": int((called & ~true & m).sum()), "V_lost": int((true & ~called & m).sum())}
    return out


def with_population(table, labels, c, part, groups) -> tuple:
    """``part`` with the booster of the fold's set + the population columns (inner seed 42 over ``groups``, outer seeds
    42-44), and whether the fold's inner CV takes it (pooled inner macro F1 up, neither group down)."""
    from beats_preset import _booster, _columns_of, column_sets
    from ecgsl_keras.data.per_beat_features import POPULATION_FEATURE_NAMES
    from hybrid import BOOSTER_SEEDS
    from v_side import inner_booster, inner_comparison
    cols = column_sets()[c["set"]] + list(POPULATION_FEATURE_NAMES)
    X = _columns_of(table, cols)
    train, scored = part["train"], part["scored"]
    yt = table["y"][train]
    inner_b = inner_booster(X[train], yt, table["record"][train], groups, cols, labels, c)
    new = dict(part, inner_booster=inner_b)
    for seed in BOOSTER_SEEDS:
        new[f"p_booster_s{seed}"] = _booster(X[train], yt, cols, labels, seed, c["booster_size"]).predict_proba(
            X[scored])
    f1, uses = inner_comparison(table, labels, c, part, groups, "population", inner_b)
    return new, {"inner_macro_f1_nsvf": f1, "uses_population": uses}


def false_v_by_record(y, p, rec, v) -> dict:
    """Beats of another class called V: on ``RECORDS``, on the other records, in all."""
    fp = (p.argmax(-1) == v) & (y != v)
    out = {r: int((fp & (rec == r)).sum()) for r in RECORDS}
    out["other"] = int((fp & ~np.isin(rec, RECORDS)).sum())
    out["all"] = int(fp.sum())
    out["V_missed"] = int(((y == v) & (p.argmax(-1) != v)).sum())
    return out


def compare(base: dict, cand: dict, form: str, base_form: str = "recipe", macro_within_sd: bool = False,
            up: str = "V_positive_predictivity") -> dict:
    """``KEEP_RULE`` for rows ``<form>_s<seed>`` of ``cand`` against the baseline's ``<base_form>_s<seed>``;
    ``macro_within_sd`` (``INNER_K_RULE``): macro F1 may fall by up to the baseline's seed sd instead of not at all;
    ``up="V_sensitivity"`` (``RESCUE_RULE``): V Se must rise beyond the spread and V +P stay within its seed sd."""
    from hybrid import BOOSTER_SEEDS
    d = {k: [cand["rows"][f"{form}_s{s}"][k] - base["rows"][f"{base_form}_s{s}"][k] for s in BOOSTER_SEEDS]
         for k in COMPARED}
    paired = {k: {"mean": round(float(np.mean(x)), 4), "sd": round(float(np.std(x, ddof=1)), 4),
                  "per_seed": [round(e, 4) for e in x]} for k, x in d.items()}
    sd_b = {k: round(base["seed_spread"][base_form][k]["sd"], 4) for k in COMPARED}
    dv = paired[up]
    other = "V_sensitivity" if up == "V_positive_predictivity" else "V_positive_predictivity"
    checks = {
        f"{up}_up_beyond_spread": bool(dv["mean"] > 0 and dv["mean"] > max(dv["sd"], sd_b[up])),
        f"{other}_within_seed_sd": bool(paired[other]["mean"] >= -sd_b[other]),
        "macro_f1_not_lower": bool(paired["macro_f1_nsvf"]["mean"] >= (
            -sd_b["macro_f1_nsvf"] if macro_within_sd else 0)),
        "S_sensitivity_within_seed_sd": bool(paired["S_sensitivity"]["mean"] >= -sd_b["S_sensitivity"]),
    }
    return {"paired_change": paired, "baseline_seed_sd": sd_b, "checks": checks, "kept": all(checks.values())}


def _distance(spread: dict) -> dict:
    from hybrid import TARGETS
    return {k: round(spread[k]["mean"] - t, 4) for k, t in TARGETS.items() if k in spread}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    import beats_preset
    import oof
    from v_side import _load, step_cache

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="beats_preset's work folder holding v_side's caches "
                                                 "(v_side_<file stem>/fold*.npz) and folds.json")
    p.add_argument("--candidate", required=True, help="v37's left-out file (beat minus median)")
    p.add_argument("--candidate-recipe", help="a JSON whose committed_oof.from_file holds the recipe choices made on "
                                              "--candidate (beats_preset.py --steps export --out); default: "
                                              "--out's relative_beats.candidate.chosen_by_inner_cv (the same choices)")
    p.add_argument("--baseline", default=str(oof.DEFAULT), help="default %(default)s")
    p.add_argument("--mitdb-dir", default=str(MITDB))
    p.add_argument("--out", default=str(HERE / "beats_preset_results.json"))
    p.add_argument("--commit", action="store_true", help=f"if the median candidate is kept, copy it to "
                                                         f"{COMMITTED_TO.relative_to(REPO)}")
    p.add_argument("--inner-folds", type=int, default=2,
                   help="run v39: choose the gate over the K inner groups of run.py --inner-folds K (K > 2 reads "
                        "each candidate's oof/inner<K>_k2[...].npz; key v_gate_inner<K>)")
    p.add_argument("--population", action="store_true", help="run v38b: the population shape columns per training "
                                                               "fold under the V gate (key v_gate_population)")
    p.add_argument("--local", action="store_true",
                   help=f"run v40: the gate's prematurity test against the local rhythm (LOCAL_GATE), chosen over 2 "
                        f"and over {LOCAL_DECISION_K} inner groups (key {LOCAL_KEY})")
    p.add_argument("--rescue", action="store_true",
                   help=f"run v41: a V rescue (RESCUE_GATE) on top of v40's local gate, chosen over "
                        f"{LOCAL_DECISION_K} inner groups (key {RESCUE_KEY})")
    p.add_argument("--build", action="store_true",
                   help="run s33: the mitdb-beats build's V gate by BUILD_RULE on all of DS1's inner groups (the "
                        "median candidate's inner-4 file; key v_gate_build, read by beats_preset.py --v-gate)")
    p.add_argument("--af-off", action="store_true",
                   help=f"run v45: v40's local gate forced off where the rhythm gate sees AF (AF_OFF_GRID), chosen "
                        f"over {LOCAL_DECISION_K} inner groups (key {AF_OFF_KEY}); with --build, BUILD_RULE over "
                        f"that grid (key {AF_OFF_BUILD_KEY})")
    p.add_argument("--preset", default=str(REPO / "ecgsl_keras" / "presets" / "mitdb-beats"),
                   help="--build --af-off: the preset whose stacking.json's rhythm gate threshold is tau")
    args = p.parse_args(argv)
    if args.af_off and (args.local or args.rescue or args.inner_folds != 2 or args.population):
        p.error("--af-off runs alone or with --build")
    if args.build and (args.local or args.rescue or args.inner_folds != 2 or args.population):
        p.error("--build runs alone")
    if args.rescue and (args.local or args.inner_folds != 2 or args.population):
        p.error("--rescue runs alone (it rebuilds v40's decision row itself)")
    if args.local and (args.inner_folds != 2 or args.population):
        p.error("--local runs alone (it chooses over 2 and 4 inner groups itself)")
    if args.inner_folds < 2 or (args.inner_folds > 2 and args.population):
        p.error(f"--inner-folds must be 2 (v38) or more without --population, got {args.inner_folds}")
    from ecgsl_keras import tasks as tasks_lib

    start = time.perf_counter()
    work = Path(args.work).resolve()
    labels = list(tasks_lib.MITDB_AAMI.label_names)
    table = beats_preset.step_table(work, Path(args.mitdb_dir))
    out_path = Path(args.out)
    saved = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
    cand_chosen = (json.loads(Path(args.candidate_recipe).read_text(encoding="utf-8"))[beats_preset.EXPORT][
        "from_file"]["chosen_by_inner_cv"] if args.candidate_recipe
        else saved["relative_beats"]["candidate"]["chosen_by_inner_cv"])
    sources = {"committed": (Path(args.baseline), saved[beats_preset.EXPORT]["from_file"]["chosen_by_inner_cv"]),
               "median": (Path(args.candidate), cand_chosen)}
    if args.build:   # BUILD_RULE on the median candidate (key v_gate_build), read by beats_preset.py --v-gate
        npz, chosen = sources["median"]
        tau = None
        if args.af_off:   # run v45: tau is the shipped rhythm gate's threshold, on the feature the grid reads
            from ecgsl_keras.modeling.stacking import SPEC_NAME
            gate = json.loads((Path(args.preset) / SPEC_NAME).read_text(encoding="utf-8"))["gate"]
            if gate["feature"] != AF_FEATURE:
                raise SystemExit(f"{args.preset}: rhythm gate on {gate['feature']!r}, run v45 reads {AF_FEATURE!r}")
            tau = gate["threshold"]
        result = choose_build_gate(work, table, labels, npz, chosen, af_off_tau=tau)
        result.update(command="python experiments/mitdb/v_gate.py " + " ".join(sys.argv[1:] if argv is None else argv),
                      seconds=round(time.perf_counter() - start, 1))
        saved[AF_OFF_BUILD_KEY if args.af_off else beats_preset.V_GATE_BUILD_KEY] = result
        out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
        print(json.dumps(result))
        return 0
    if args.af_off:   # v40's caches are built by a --local run first; only the median candidate is read here
        return af_off_main(args, argv, table, labels, work, sources["median"], saved, out_path, start)
    if args.rescue:   # v40's caches are built by a --local run first; only the median candidate is read here
        return rescue_main(args, argv, table, labels, work, sources["median"], saved, out_path, start)
    runs = {}
    for name, (npz, chosen) in sources.items():
        committed = oof.CommittedPredictions(npz)
        committed.write_folds(work)   # the same split: inner_groups reads WORK's folds
        cache = work / f"v_side_{npz.stem}"   # v_side.py --from-committed NPZ --steps cache: the same files
        if not all((cache / f"fold{h}.npz").is_file() for h in range(len(chosen))):
            cache.mkdir(parents=True, exist_ok=True)
            beats_preset.COMMITTED = committed
            try:
                step_cache(work, cache, table, labels, chosen)
            finally:
                beats_preset.COMMITTED = None
        runs[name] = run_candidate(table, labels, chosen, _load(cache, len(chosen)), work)
        if args.inner_folds > 2:
            k = args.inner_folds
            if committed.add_inner(oof.inner_k_path_for(npz, k)) != k:
                raise SystemExit(f"{oof.inner_k_path_for(npz, k)}: not an inner-{k} file")
            parts = _load(cache, len(chosen))
            groups = {h: committed.inner_k_groups[str(h)] for h in range(len(parts))}
            inner = {h: committed.inner_k(h, table, k)[part["train"]] for h, part in enumerate(parts)}
            runs[f"{name}_inner{k}"] = run_candidate(table, labels, chosen, parts, work, (k, inner, groups))
    if args.inner_folds > 2:
        return inner_k_main(args, argv, sources, runs, saved, out_path, start)
    if args.local:
        return local_main(args, argv, table, labels, work, sources["median"], runs, saved, out_path, start)
    if args.population:
        return population_main(args, argv, table, labels, work, sources["median"], runs["median"], saved, out_path,
                               start)
    base = runs["committed"]
    result = {"keep_rule": KEEP_RULE, "grid": GRID, "gate_columns": [RR_COLUMN, WIDTH_COLUMN],
              "command": "python experiments/mitdb/v_gate.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "baseline": {"file": str(args.baseline), "recipe_seed_spread": base["seed_spread"]["recipe"],
                           "distance_to_targets": _distance(base["seed_spread"]["recipe"]),
                           "false_v_s42": base["false_v"]["recipe_s42"]}}
    for name, r in runs.items():
        verdict = compare(base, r, "v_gate")
        result[name] = {
            "file": str(sources[name][0]), "chosen_by_inner_cv": r["chosen_by_inner_cv"],
            "seed_spread": r["seed_spread"], "distance_to_targets": _distance(r["seed_spread"]["v_gate"]),
            "false_v": r["false_v"], "false_v_changed_s42": r["false_v_changed_s42"],
            "v_calls_taken_s42": r["v_calls_taken_s42"],
            "against_baseline": verdict, "forced_against_baseline": compare(base, r, "v_gate_forced"),
            "recipe_against_baseline": compare(base, r, "recipe")["paired_change"], "kept": verdict["kept"]}
        log.info("%s: V +P %.4f -> %.4f, kept %s", name, r["seed_spread"]["recipe"]["V_positive_predictivity"]["mean"],
                 r["seed_spread"]["v_gate"]["V_positive_predictivity"]["mean"], verdict["kept"])
    in_repo = Path(args.candidate).resolve() == COMMITTED_TO.resolve()   # the reproduction from the repository
    if result["median"]["kept"] and (args.commit or in_repo):
        if not in_repo:
            shutil.copyfile(args.candidate, COMMITTED_TO)
        result["committed_file"] = str(COMMITTED_TO.relative_to(REPO))
    result["seconds"] = round(time.perf_counter() - start, 1)
    saved[KEY] = result
    out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


def inner_k_main(args, argv, sources, runs, saved, out_path, start) -> int:
    """``--inner-folds K``: ``INNER_K_RULE`` (module docstring), key ``v_gate_inner<K>``."""
    import oof
    from v_side import _repo_relative
    k = args.inner_folds
    base = runs["committed"]
    result = {"keep_rule": INNER_K_RULE, "grid": GRID, "inner_folds": k,
              "command": "python experiments/mitdb/v_gate.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "baseline": {"file": str(args.baseline), "recipe_seed_spread": base["seed_spread"]["recipe"],
                           "false_v_s42": base["false_v"]["recipe_s42"]}}
    for name in sources:
        lever, r = runs[name], runs[f"{name}_inner{k}"]
        # the v38 rows recomputed here (two inner groups): they must be key v_gate's
        v38 = saved.get(KEY, {}).get(name, {}).get("seed_spread", {}).get("v_gate", {})
        reproduces = bool(v38) and all(abs(lever["seed_spread"]["v_gate"][m]["mean"] - v38[m]["mean"]) < 1e-9
                                       for m in COMPARED)
        verdict = compare(lever, r, "v_gate", base_form="v_gate", macro_within_sd=True)
        result[name] = {
            "file": str(sources[name][0]), "inner_file": _repo_relative(oof.inner_k_path_for(sources[name][0], k)),
            "chosen_by_inner_cv": r["chosen_by_inner_cv"],
            "v38_uses_gate": {h: c["uses_gate"] for h, c in lever["chosen_by_inner_cv"].items()},
            "v38_reproduced": reproduces, "seed_spread": r["seed_spread"],
            "v38_seed_spread": lever["seed_spread"]["v_gate"],
            "distance_to_targets": _distance(r["seed_spread"]["v_gate"]),
            "false_v": {f: r["false_v"][f"{f}_s42"] for f in ("recipe", "v_gate", "v_gate_forced")},
            "false_v_seed_mean": {f: {x: round(float(np.mean([r["false_v"][f"{f}_s{s}"][x] for s in (42, 43, 44)])),
                                              1) for x in r["false_v"]["recipe_s42"]} for f in ("recipe", "v_gate")},
            "v38_false_v_s42": lever["false_v"]["v_gate_s42"],
            "false_v_changed_s42": r["false_v_changed_s42"], "v_calls_taken_s42": r["v_calls_taken_s42"],
            "against_v38": verdict, "forced_against_v38": compare(lever, r, "v_gate_forced", base_form="v_gate",
                                                                  macro_within_sd=True),
            "against_baseline": compare(base, r, "v_gate"), "kept": verdict["kept"]}
        log.info("%s: V +P v38 %.4f -> inner-%d %.4f, kept %s", name,
                 lever["seed_spread"]["v_gate"]["V_positive_predictivity"]["mean"], k,
                 r["seed_spread"]["v_gate"]["V_positive_predictivity"]["mean"], verdict["kept"])
    result["kept"] = result["median"]["kept"]
    result["seconds"] = round(time.perf_counter() - start, 1)
    saved[f"{KEY}_inner{k}"] = result
    out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


def _committed_inner_k(table, npz, chosen, work, k) -> tuple:
    """(parts, inner_k) of the committed left-out file ``npz`` and its inner-``k`` file: v_side's per-fold caches
    (``work/v_side_<stem>``) and ``(k, inner probabilities per fold's training rows, inner groups)`` for
    ``run_candidate``; WORK's folds are written from the file first (inner_groups reads them)."""
    import oof
    from v_side import _load
    committed = oof.CommittedPredictions(npz)
    committed.write_folds(work)
    if committed.add_inner(oof.inner_k_path_for(npz, k)) != k:
        raise SystemExit(f"{oof.inner_k_path_for(npz, k)}: not an inner-{k} file")
    parts = _load(work / f"v_side_{npz.stem}", len(chosen))
    groups = {h: committed.inner_k_groups[str(h)] for h in range(len(parts))}
    inner = {h: committed.inner_k(h, table, k)[part["train"]] for h, part in enumerate(parts)}
    return parts, (k, inner, groups)


def _v40_row(table, labels, chosen, parts, work, inner_k, saved) -> tuple:
    """(v40's decision row recomputed, whether it reproduces the saved key ``v_gate_local``'s seed means): the
    baseline the levers after run v40 are paired against."""
    v40 = run_candidate(table, labels, chosen, parts, work, inner_k, gate=LOCAL_GATE)
    saved_v40 = saved.get(LOCAL_KEY, {}).get(f"inner{inner_k[0]}", {}).get("seed_spread", {}).get("v_gate", {})
    reproduces = bool(saved_v40) and all(abs(v40["seed_spread"]["v_gate"][m]["mean"] - saved_v40[m]["mean"]) < 1e-9
                                         for m in COMPARED)
    return v40, reproduces


def local_main(args, argv, table, labels, work, source, runs, saved, out_path, start) -> int:
    """``--local``: ``LOCAL_RULE`` (module docstring), key ``v_gate_local``."""
    import oof
    from v_side import _repo_relative
    npz, chosen = source
    k = LOCAL_DECISION_K
    base, lever = runs["committed"], runs["median"]
    v38 = saved.get(KEY, {}).get("median", {}).get("seed_spread", {}).get("v_gate", {})
    reproduces = bool(v38) and all(abs(lever["seed_spread"]["v_gate"][m]["mean"] - v38[m]["mean"]) < 1e-9
                                   for m in COMPARED)
    parts, inner_k = _committed_inner_k(table, npz, chosen, work, k)
    local = {2: run_candidate(table, labels, chosen, parts, work, gate=LOCAL_GATE),
             k: run_candidate(table, labels, chosen, parts, work, inner_k, gate=LOCAL_GATE)}
    result = {"keep_rule": LOCAL_RULE, "grid": LOCAL_GATE.grid, "gate_columns": LOCAL_GATE.columns,
              "decision_inner_folds": k, "file": str(npz),
              "inner_file": _repo_relative(oof.inner_k_path_for(npz, k)),
              "command": "python experiments/mitdb/v_gate.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "v38_reproduced": reproduces, "v38_uses_gate": {h: c["uses_gate"]
                                                              for h, c in lever["chosen_by_inner_cv"].items()},
              "v38_seed_spread": lever["seed_spread"]["v_gate"], "v38_v_by_record": lever["v_by_record"]["v_gate"],
              "baseline": {"file": str(args.baseline), "recipe_seed_spread": base["seed_spread"]["recipe"],
                           "v_by_record": base["v_by_record"]["recipe"]}}
    for groups_k, r in local.items():
        verdict = compare(lever, r, "v_gate", base_form="v_gate", macro_within_sd=True)
        result[f"inner{groups_k}"] = {
            "chosen_by_inner_cv": r["chosen_by_inner_cv"], "seed_spread": r["seed_spread"],
            "distance_to_targets": _distance(r["seed_spread"]["v_gate"]),
            "forced_distance_to_targets": _distance(r["seed_spread"]["v_gate_forced"]),
            "v_by_record": r["v_by_record"], "false_v_changed_s42": r["false_v_changed_s42"],
            "v_calls_taken_s42": r["v_calls_taken_s42"],
            "against_v38": verdict, "forced_against_v38": compare(lever, r, "v_gate_forced", base_form="v_gate",
                                                                  macro_within_sd=True),
            "against_baseline": compare(base, r, "v_gate"),
            "forced_against_baseline": compare(base, r, "v_gate_forced"), "kept": verdict["kept"]}
        log.info("local gate over %d inner groups: uses %s, V +P v38 %.4f -> %.4f, kept %s", groups_k,
                 {h: c["uses_gate"] for h, c in r["chosen_by_inner_cv"].items()},
                 lever["seed_spread"]["v_gate"]["V_positive_predictivity"]["mean"],
                 r["seed_spread"]["v_gate"]["V_positive_predictivity"]["mean"], verdict["kept"])
    result["kept"] = result[f"inner{k}"]["kept"]
    result["seconds"] = round(time.perf_counter() - start, 1)
    saved[LOCAL_KEY] = result
    out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


def rescue_main(args, argv, table, labels, work, source, saved, out_path, start) -> int:
    """``--rescue``: ``RESCUE_RULE`` (module docstring), key ``v_rescue``."""
    import oof
    from v_side import _repo_relative
    npz, chosen = source
    k = LOCAL_DECISION_K
    parts, inner_k = _committed_inner_k(table, npz, chosen, work, k)
    v40, reproduces = _v40_row(table, labels, chosen, parts, work, inner_k, saved)

    def v40_gate(ch):   # v40's gate as chosen on the fold (identity where the fold refused it)
        if not ch["uses_gate"]:
            return lambda p, pv, x: p
        return lambda p, pv, x: LOCAL_GATE.apply(p, pv, x, labels, **ch["best_point"])

    pre = {h: v40_gate(v40["chosen_by_inner_cv"][str(h)]) for h in range(len(parts))}
    r = run_candidate(table, labels, chosen, parts, work, inner_k, gate=RESCUE_GATE, pre=pre)
    # r's recipe rows are v40's gated rows (the same pre on the left-out side): paired against v40's v_gate rows
    lever = {"rows": {f"recipe_s{s[-2:]}": v for s, v in v40["rows"].items() if s.startswith("v_gate_s")},
             "seed_spread": {"recipe": v40["seed_spread"]["v_gate"]}}
    verdict = compare(lever, r, "v_gate", macro_within_sd=True, up="V_sensitivity")
    result = {"keep_rule": RESCUE_RULE, "grid": RESCUE_GATE.grid, "rescue_columns": RESCUE_GATE.columns,
              "decision_inner_folds": k, "file": str(npz), "inner_file": _repo_relative(oof.inner_k_path_for(npz, k)),
              "command": "python experiments/mitdb/v_gate.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "v40_reproduced": reproduces,
              "v40_chosen": {h: {"uses_gate": c["uses_gate"], "best_point": c["best_point"]}
                             for h, c in v40["chosen_by_inner_cv"].items()},
              "v40_seed_spread": v40["seed_spread"]["v_gate"], "v40_v_by_record": v40["v_by_record"]["v_gate"],
              "chosen_by_inner_cv": {h: {x: c[x] for x in ("inner_macro_f1_nsvf", "best_point", "uses_gate",
                                                           "inner_V_calls")}
                                     for h, c in r["chosen_by_inner_cv"].items()},
              "seed_spread": r["seed_spread"]["v_gate"], "forced_seed_spread": r["seed_spread"]["v_gate_forced"],
              "distance_to_targets": _distance(r["seed_spread"]["v_gate"]),
              "forced_distance_to_targets": _distance(r["seed_spread"]["v_gate_forced"]),
              "v40_distance_to_targets": _distance(v40["seed_spread"]["v_gate"]),
              "v_by_record": r["v_by_record"]["v_gate"], "forced_v_by_record": r["v_by_record"]["v_gate_forced"],
              "against_v40": verdict,
              "forced_against_v40": compare(lever, r, "v_gate_forced", macro_within_sd=True, up="V_sensitivity"),
              "kept": verdict["kept"]}
    log.info("rescue over %d inner groups: uses %s, V Se v40 %.4f -> %.4f, V +P %.4f -> %.4f, kept %s", k,
             {h: c["uses_gate"] for h, c in r["chosen_by_inner_cv"].items()},
             v40["seed_spread"]["v_gate"]["V_sensitivity"]["mean"], r["seed_spread"]["v_gate"]["V_sensitivity"]["mean"],
             v40["seed_spread"]["v_gate"]["V_positive_predictivity"]["mean"],
             r["seed_spread"]["v_gate"]["V_positive_predictivity"]["mean"], verdict["kept"])
    result["seconds"] = round(time.perf_counter() - start, 1)
    saved[RESCUE_KEY] = result
    out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


def af_off_main(args, argv, table, labels, work, source, saved, out_path, start) -> int:
    """``--af-off``: ``AF_OFF_RULE`` (module docstring), key ``v_gate_af_off``."""
    import oof
    from beats_preset import _columns_of
    from v_side import _repo_relative
    npz, chosen = source
    k = LOCAL_DECISION_K
    parts, inner_k = _committed_inner_k(table, npz, chosen, work, k)
    v40, reproduces = _v40_row(table, labels, chosen, parts, work, inner_k, saved)
    afev = _columns_of(table, [AF_FEATURE])[:, 0]
    gates = {}
    for h, part in enumerate(parts):
        c = chosen[str(h)]
        if c["gate_feature"] != AF_FEATURE:
            raise SystemExit(f"fold {h}: rhythm gate on {c['gate_feature']!r}, run v45 reads {AF_FEATURE!r}")
        gates[h] = af_off_gate(af_off_thresholds(afev[part["train"]], c["gate_threshold"]))
    r = run_candidate(table, labels, chosen, parts, work, inner_k, gate=gates)
    verdict = compare(v40, r, "v_gate", base_form="v_gate", macro_within_sd=True)
    result = {"keep_rule": AF_OFF_RULE, "grid": AF_OFF_GRID, "gate_columns": gates[0].columns,
              "decision_inner_folds": k, "file": str(npz), "inner_file": _repo_relative(oof.inner_k_path_for(npz, k)),
              "command": "python experiments/mitdb/v_gate.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "af_off_thresholds": {str(h): {"tau": float(chosen[str(h)]["gate_threshold"]),
                                             **{str(c): t for c, t in g.thresholds.items()}}
                                    for h, g in gates.items()},
              "v40_reproduced": reproduces,
              "v40_chosen": {h: {"uses_gate": c["uses_gate"], "best_point": c["best_point"]}
                             for h, c in v40["chosen_by_inner_cv"].items()},
              "v40_seed_spread": v40["seed_spread"]["v_gate"], "v40_v_by_record": v40["v_by_record"]["v_gate"],
              "v40_distance_to_targets": _distance(v40["seed_spread"]["v_gate"]),
              "recipe_seed_spread": v40["seed_spread"]["recipe"],
              "chosen_by_inner_cv": r["chosen_by_inner_cv"],
              "seed_spread": r["seed_spread"]["v_gate"], "forced_seed_spread": r["seed_spread"]["v_gate_forced"],
              "distance_to_targets": _distance(r["seed_spread"]["v_gate"]),
              "forced_distance_to_targets": _distance(r["seed_spread"]["v_gate_forced"]),
              "v_by_record": r["v_by_record"]["v_gate"], "forced_v_by_record": r["v_by_record"]["v_gate_forced"],
              "false_v_changed_s42": r["false_v_changed_s42"], "v_calls_taken_s42": r["v_calls_taken_s42"],
              "against_v40": verdict,
              "forced_against_v40": compare(v40, r, "v_gate_forced", base_form="v_gate", macro_within_sd=True),
              "kept": verdict["kept"]}
    log.info("AF-off gate over %d inner groups: uses %s, V +P v40 %.4f -> %.4f, kept %s", k,
             {h: c["uses_gate"] for h, c in r["chosen_by_inner_cv"].items()},
             v40["seed_spread"]["v_gate"]["V_positive_predictivity"]["mean"],
             r["seed_spread"]["v_gate"]["V_positive_predictivity"]["mean"], verdict["kept"])
    result["seconds"] = round(time.perf_counter() - start, 1)
    saved[AF_OFF_KEY] = result
    out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


def population_main(args, argv, table, labels, work, source, lever, saved, out_path, start) -> int:
    """``--population``: ``POPULATION_RULE`` (module docstring), key ``v_gate_population``."""
    from run import inner_groups
    from v_side import _load
    npz, chosen = source
    parts = _load(work / f"v_side_{npz.stem}", len(chosen))
    new_parts, choice = [], {}
    for h, part in enumerate(parts):
        alt, choice[str(h)] = with_population(table, labels, chosen[str(h)], part, inner_groups(work, h))
        new_parts.append(alt if choice[str(h)]["uses_population"] else part)
        log.info("population, fold %d: %s", h, choice[str(h)])
    forced = run_candidate(table, labels, chosen, [with_population(table, labels, chosen[str(h)], part,
                                                                   inner_groups(work, h))[0]
                                                   for h, part in enumerate(parts)], work)
    r = run_candidate(table, labels, chosen, new_parts, work)
    ref = {"rows": {k.replace("v_gate_s", "recipe_s"): v for k, v in lever["rows"].items() if k.startswith("v_gate_s")},
           "seed_spread": {"recipe": lever["seed_spread"]["v_gate"]}}
    verdict = compare(ref, r, "v_gate")
    result = {"rule": POPULATION_RULE, "command": "python experiments/mitdb/v_gate.py "
              + " ".join(sys.argv[1:] if argv is None else argv), "file": str(npz),
              "population_by_inner_cv": choice, "v_gate_by_inner_cv": r["chosen_by_inner_cv"],
              "seed_spread": r["seed_spread"], "forced_seed_spread": forced["seed_spread"],
              "lever_seed_spread": lever["seed_spread"]["v_gate"], "false_v": r["false_v"],
              "forced_false_v": forced["false_v"], "lever_false_v_s42": lever["false_v"]["v_gate_s42"],
              "distance_to_targets": _distance(r["seed_spread"]["v_gate"]), "against_lever": verdict,
              "forced_against_lever": compare(ref, forced, "v_gate"), "kept": verdict["kept"],
              "seconds": round(time.perf_counter() - start, 1)}
    saved[POPULATION_KEY] = result
    out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
