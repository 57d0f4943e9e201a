"""Stacking hybrid (issue 18, 2b): a LightGBM booster over [record features + ECG-SL deep outputs].

    from ecgsl_keras.modeling.stacking import StackedClassifier
    clf = StackedClassifier(feature_names, deep_names, label_names, params={...}, seed=42)
    clf.fit(X, y)                       # X: (n, features + deep outputs), columns in that order
    clf.predict_proba(X)                # (n, C)
    clf.save("preset/")                 # booster.txt (LightGBM's own text format) + stacking.json
    clf = StackedClassifier.load("preset/")

Two ways to combine (``combine``):

* ``"stack"`` (default): the booster takes every column, record features then deep outputs;
* ``"average"``: the booster takes the record features only, and its class probabilities are averaged with
  the deep model's (``deep_weight`` of the deep side): the two models trained apart, so the deep outputs of
  the training records need no out-of-fold scheme. On CinC 2017 this beat stacking
  (``experiments/cinc2017/hybrid_results.json``).

Rows (``rows``): ``"record"`` (default), one row per record, the features of ``ecgsl_keras.data.record_features``;
or ``"beat"``, one row per beat of a per-beat model (e.g. MIT-BIH AAMI classes), the features of
``ecgsl_keras.data.per_beat_features`` (``beat_feature_columns``), averaged with the deep model's per-beat
probabilities.

Columns: ``feature_names`` (record or per-beat features) then
``deep_names`` (deep outputs: ``p_<label>`` class probabilities of the ECG-SL classifier, or
``emb_<i>`` a pooled embedding). The deep outputs of the training records must be out-of-fold
(``ecgsl_keras.training.oof``): the booster never sees a deep output of a record the deep model trained on.

NaN policy ``"keep"``: record features that cannot be computed (too few beats for a statistic) stay
NaN and LightGBM routes them by its learned missing-value direction (``use_missing``, the same at
training and at prediction time); a model trained with NaN is given NaN. Nothing else is filled.

The booster is stored with ``Booster.save_model`` (LightGBM's text format, never a pickle); the
spec (``stacking.json``) holds the column names in order, deep-output names, label names, NaN policy,
LightGBM parameters, seed, ``ecgsl_keras`` and ``lightgbm`` versions, and the booster's sha256.
``load`` raises ``ConfigError`` naming the missing or corrupt file. No TensorFlow import here;
lightgbm is imported when needed (``pip install ecgsl-keras[boost]``).

Gate (optional, ``rows="beat"`` only; ``Gate``, the spec's ``"gate"`` key): applied after the average, a rule
that moves one class's probability to another where one per-beat feature exceeds a threshold, e.g.
``{"feature": "window_af_afev", "threshold": 30.0, "from": "S", "to": "N"}`` (the ``mitdb-beats`` rhythm gate:
AAMI defines no S beat during atrial fibrillation, so where the AF evidence of the beat's 30 s window exceeds the
threshold, the S probability is added to N's and set to 0). The feature is a per-beat column
(``ecgsl_keras.data.per_beat_features``), one of the booster's or another computed by the same code path;
NaN evidence is never gated. A spec without ``"gate"`` serves exactly as before.

V agreement gate (optional, ``rows="beat"`` with a class ``"V"``; ``VGate``, the spec's ``"v_gate"`` key, run v40
of ``experiments/mitdb``): applied after the ``gate``. A ventricular beat is almost always premature or wide; a
beat the model calls V that is neither keeps V only if the deep model's own P(V) agrees, e.g.
``{"premature": 0.8, "wide": 1.5, "t": 0.5, "pause": 1.1, "irregular": null}``: a V call (V the row's largest
probability) of a beat on time against its LOCAL rhythm (``local_on_time``: pre RR / the median of the 16
neighbour RR intervals >= ``premature``; with ``pause``, also post RR / pre RR < ``pause``, no compensatory pause;
with ``irregular``, also the neighbours' robust spread <= ``irregular``), not wider than ``wide`` times the
record's median beat, and whose deep P(V) is below ``t`` loses it: its V probability is set to 0 and the row
renormalised (the next class wins). Its evidence is four per-beat columns (``V_GATE_COLUMNS``, computed by
``ecgsl_keras.data.per_beat_features`` with the booster's) and the deep model's P(V); NaN evidence is never gated.
A spec without ``"v_gate"`` serves exactly as before.

AF-off (optional, the ``v_gate``'s ``"af_off"`` key, run v45): ``{"feature": "window_af_afev", "threshold": 31.0}``:
a V call of a beat whose per-beat AF evidence ``feature`` exceeds ``threshold`` is never taken by the V gate. Why:
in atrial fibrillation the local rhythm is irregular, so a true V beat can look on time against its neighbours
(record 201 of MIT-BIH); where the rhythm gate sees AF, timing is no evidence against V. NaN evidence is no AF
evidence (the V gate acts as without ``af_off``). A ``v_gate`` without ``"af_off"`` (or with ``null``) serves
exactly as before.

Full-compensatory-pause rule (optional, ``rows="beat"`` with classes ``"S"`` and ``"V"``; ``VPause``, the spec's
``"v_pause"`` key, runs v46-v48 of ``experiments/mitdb``): applied after the ``v_gate`` (or the ``gate`` without
one), e.g. ``{"wide": 1.25, "band": [0.95, 1.05], "pause": 1.25, "min_fires": 10, "af_off": {"feature":
"window_af_afev", "threshold": 31.0}}``. A ventricular premature beat leaves the sinus node alone, so pre RR + post
RR = 2 x the sinus cycle (a FULL compensatory pause); an atrial one resets it. A beat called S whose QRS is wider than
``wide`` x the record's median beat's, whose compensation (pre RR + post RR) / (2 x the median of its 16 neighbour
intervals) lies in ``band``, whose post RR / pre RR is at least ``pause`` and whose AF evidence (``af_off``) is not
above its threshold is a firing; the firings of a record become V (the V probability raised just above the row's
largest, the row renormalised) only when the record has at least ``min_fires`` of them (a frequent-ectopy record:
a few wide S beats with a near-full pause on a record are mostly true S). Its evidence is three per-beat columns
(``V_PAUSE_COLUMNS``) and the ``af_off`` feature when set; NaN evidence never fires. A served signal is one record. A
spec without ``"v_pause"`` serves exactly as before.

Within-record V template vote (optional, ``rows="beat"`` with a class ``"V"``; ``VTemplate``, the spec's
``"v_template"`` key, run v51 of ``experiments/mitdb``): applied last, after the ``v_pause``, e.g. ``{"min_called": 40,
"corr": 0.9, "wide": 1.25, "calls": ["S", "F"], "af_off": {"feature": "window_af_afev", "threshold": 31.0}}``. A
patient's ectopic ventricular beats repeat a few shapes, so on a record where the model already calls at least
``min_called`` beats V (outside AF with ``af_off``), the median of those beats (``per_beat_features.centred_beats``,
the whole beat, the window ``median_corr`` uses) is the record's V template; a beat called one of ``calls``, wider
than ``wide`` x the record's median beat, outside AF, whose correlation with the V template is at least ``corr`` and
above its correlation with the record's median beat (``median_corr``) becomes V. It needs no label: its evidence is
the beats themselves and two per-beat columns (``V_TEMPLATE_COLUMNS``), then the ``af_off`` feature when set; NaN
evidence never fires. A served signal is one record. A spec without ``"v_template"`` serves exactly as before.

Within-record V template veto (optional, ``rows="beat"`` with a class ``"V"``; ``VVeto``, the spec's ``"v_veto"``
key, run v53 of ``experiments/mitdb``): the mirror of the vote, applied after it, e.g. ``{"min_called": 40, "corr":
0.5, "median": true, "af_off": {"feature": "window_af_afev", "threshold": 31.0}}``. On a record with at least
``min_called`` V calls outside AF, the record's V template is ``VTemplate``'s (the median of those beats); a V call
outside AF whose correlation with it is below ``corr`` (with ``median`` true, also below its correlation with the
record's median beat, ``median_corr``: more like the normal beat than the template) loses V: its V probability is set
to 0 and the row renormalised, so the next class wins (``drop_calls``). Why: run v52 found the false V of records
208 (F beats) and 201 (S beats) far from their record's V-call template (correlation 0.64 / 0.41 against 0.95 / 0.97
on true V). Same evidence as the vote (``V_TEMPLATE_COLUMNS``, the ``af_off`` feature, the beats); NaN evidence never
fires. A spec without ``"v_veto"`` serves exactly as before.

Several V templates (optional, the ``v_veto``'s ``"clusters"`` key, run v54): ``{"corr": 0.9, "min_members": 10}``.
A patient with multiform PVCs has several V shapes, and one median template vetoes the rarer forms' true V (run v53:
106, 205, 207, 223). With ``clusters`` the record's V calls outside AF are grouped (``v_call_templates``: greedy, the
call with the most still-ungrouped calls correlating at least ``corr`` with it leads a group of them, until no call
leads ``min_members``), each group's median is a template, and a V call is vetoed only when its correlation with
EVERY template is below the veto's ``corr`` (with ``median``, also below its correlation with the record's median
beat). A record whose V calls form no group of ``min_members``: no veto. Without ``clusters`` (or null): one template,
as before.

A width test (optional, the ``v_veto``'s ``"width"`` key, run v58): a ratio in (0, 1], e.g. ``0.7``. A ventricular
beat's QRS is wide, and a record's true PVC form is its widest repeated V-call form: run v52 found 208's false V (F
beats) at about 1.4 x the median beat's width against 2.2 for the record's true V, and their repetition made them a
template of their own (run v54). With ``width``, a V call outside AF whose QRS width over the median beat's
(``qrs_width_norm``, the second of ``V_TEMPLATE_COLUMNS``) is below ``width`` x the record's reference width is vetoed
too (either test fires). The reference is the largest of the V-call groups' median widths (``v_call_groups`` with
``clusters``; without, the median width of all the record's V calls outside AF), on a record with at least
``min_called`` such calls. NaN width never fires. With ``corr`` -1 (no correlation is below it) the width test acts
alone. Without ``width`` (or null): no width test, as before.

Record-level timing test of V calls (optional, ``rows="beat"`` with a class ``"V"``; ``VTiming``, the spec's
``"v_timing"`` key, run v64 of ``experiments/mitdb``): applied after the ``v_veto``, e.g. ``{"min_called": 40, "share":
0.8, "premature": 0.9, "pause": 1.1, "af_off": {"feature": "window_af_afev", "threshold": 31.0}}``. A ventricular
ectopic beat interrupts the sinus timing: it comes early, or is followed by a compensatory pause. A V call "on time"
(``local_on_time``: pre RR / the median of its 16 neighbour intervals >= ``premature`` and post RR / pre RR <
``pause``) says nothing against V on its own (a late PVC, a run), but a record where most V calls are on time is a
record whose "V" form is a changed sinus beat (run s37: record 108's small on-time N beats). So on a record with at
least ``min_called`` V calls outside AF, of which at least ``share`` are on time, each on-time V call outside AF loses
V (``drop_calls``: the next class wins). Its evidence is two per-beat columns (``V_TIMING_COLUMNS``), then the
``af_off`` feature when set (in AF, timing is no evidence: records 201 / 203); NaN timing is not on time. A served
signal is one record. A spec without ``"v_timing"`` serves exactly as before.

Fusion beats against V (optional, ``rows="beat"`` with classes ``"V"`` and ``to``; ``VFusion``, the spec's
``"v_fusion"`` key, run v65 of ``experiments/mitdb``): applied after the ``v_timing``, e.g. ``{"min_called": 40,
"corr": 0.8, "median_corr": 0.5, "width": 0.85, "to": "F", "af_off": {...}}``. A fusion beat is a sinus and a
ventricular activation at once, so its shape lies between the record's normal beat and its V form: on a record with
at least ``min_called`` V calls outside AF (``VTemplate``'s V template and ``VVeto``'s reference width, the median
width of those calls), a V call outside AF whose correlation with the V template is below ``corr``, whose
correlation with the record's median beat (``median_corr``) is at least ``median_corr`` and whose QRS width
(``qrs_width_norm``) is below ``width`` x the reference width becomes ``to`` (its probability raised just above the
row's largest; ``to`` null: it loses V to its next class). Why: run s37 found 208's false V (F beats, 30% of all
false V) narrower than its true V (width 1.4 against 2.2) and less like its V-call template (0.64 against 0.95).
Same evidence as the veto (``V_TEMPLATE_COLUMNS``, the ``af_off`` feature, the beats); NaN evidence never fires. A
spec without ``"v_fusion"`` serves exactly as before. A P-wave test (optional, the ``v_fusion``'s ``"p_wave"`` key, run
v66): a correlation, e.g. ``0.7``. A fusion beat keeps the sinus P wave at its usual PR interval; a PVC has no P wave
of its own before the QRS. With ``p_wave``, the V call must also correlate at least ``p_wave`` over the P window
(``per_beat_features.p_wave_corr``: 250..70 ms before R) with the record's median beat over the same window (the
median of the rows given: one record's beats as served). NaN never fires. Without it (or null): no P-wave test.

Premature-beat S rescue (optional, ``rows="beat"`` with a class ``"S"``; ``SPremature``, the spec's ``"s_premature"``
key, run v57 of ``experiments/mitdb``): applied last, e.g. ``{"calls": ["N", "F"], "p_s": 0.2, "premature": 0.9,
"af_off": {"feature": "window_af_afev", "threshold": 31.0}}``. A beat called one of ``calls`` whose S probability is
at least ``p_s`` and whose pre RR over its record's average RR (``pre_rr_norm``: prematurity against the patient's own
rhythm) is below ``premature``, outside AF with ``af_off``, becomes S (its S probability raised just above the row's
largest, the row renormalised). Why: run v56 found the S beats the served recipe loses outside record 201 premature
against their record's rhythm, called N or F, with an averaged P(S) of 0.2-0.45 against about 0.01 on the record's N
beats. Its evidence is ``S_PREMATURE_COLUMNS`` and the ``af_off`` feature when set; NaN evidence never fires. A spec
without ``"s_premature"`` serves exactly as before.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path

import numpy as np

from ecgsl_keras.errors import ConfigError, import_extra
from ecgsl_keras.fileio import atomic_path, write_text_atomic

BOOSTER_NAME = "booster.txt"
SPEC_NAME = "stacking.json"
SPEC_VERSION = 1
NAN_POLICY = "keep"
COMBINE = ("stack", "average")
ROWS = ("record", "beat")   # one booster row per record (record features) or per beat (per-beat features)
# Per-example weights of the booster's training records: None (as they come), "balanced" (n / (C n_c), every
# class weighs the same in the loss) or "sqrt_balanced" (its square root: halfway, on a log scale; on CinC 2017
# it gave the probability average its best cross-validated macro F1, experiments/cinc2017/hybrid.py).
CLASS_WEIGHTS = (None, "balanced", "sqrt_balanced")
GATE_KEYS = ("feature", "threshold", "from", "to")   # the spec's "gate" object: these keys, all of them
V_GATE_KEYS = ("premature", "wide", "t", "pause", "irregular")   # the spec's "v_gate" object: these keys, all of them
V_GATE_OPTIONAL_KEYS = ("af_off",)   # and these when set (absent: off; a v_gate written before run v45 has none)
AF_OFF_KEYS = ("feature", "threshold")   # the v_gate's (and v_pause's) "af_off" object: these keys, all of them
V_PAUSE_KEYS = ("wide", "band", "pause", "min_fires")   # the spec's "v_pause" object: these keys, all of them
V_PAUSE_OPTIONAL_KEYS = ("af_off", "t_wave")   # and these when set (absent or null: no AF test, no T-wave test)
# the optional T-wave test's evidence (per_beat_features): a ventricular beat repolarises abnormally too, so its T wave
# is larger than the normal beat's; an aberrantly conducted S beat of the same width keeps a T near normal (run v49)
V_PAUSE_T_COLUMN = "t_energy_norm"
# the pause rule's per-beat evidence, in this order (per_beat_features.local_rhythm_features and per_beat_features)
V_PAUSE_COLUMNS = ("pre_rr_local_median_ratio", "post_rr_local_median_ratio", "qrs_width_norm")
S_CLASS = "S"
V_TEMPLATE_KEYS = ("min_called", "corr", "wide", "calls")   # the spec's "v_template" object: these keys, all of them
V_TEMPLATE_OPTIONAL_KEYS = ("af_off",)   # and this when set (absent or null: no AF test)
V_VETO_KEYS = ("min_called", "corr", "median")   # the spec's "v_veto" object: these keys, all of them
V_VETO_OPTIONAL_KEYS = ("af_off", "clusters", "width")   # and these when set (absent or null: no AF test, one
# template, no width test)
V_VETO_CLUSTER_KEYS = ("corr", "min_members")   # the v_veto's "clusters" object: these keys, all of them
# the record-level timing test's schema and evidence (run v64): the spec's "v_timing" object's keys, all of them, and
# optionally these; its per-beat evidence is the local-rhythm prematurity and pause (per_beat_features.local_rhythm_features)
V_TIMING_KEYS = ("min_called", "share", "premature", "pause")
V_TIMING_OPTIONAL_KEYS = ("af_off",)
V_TIMING_COLUMNS = ("pre_rr_local_median_ratio", "post_rr_local_median_ratio")
# the fusion rule's schema (run v65): the spec's "v_fusion" object's keys, all of them, and optionally these; its
# evidence is the template vote's (V_TEMPLATE_COLUMNS) and the beats
V_FUSION_KEYS = ("min_called", "corr", "median_corr", "width", "to")
V_FUSION_OPTIONAL_KEYS = ("af_off", "p_wave")
# the template vote's per-beat evidence, in this order (per_beat_features.per_beat_features): the beat's correlation
# with the record's median (normal) beat and its QRS width over the median beat's; the beats themselves come apart
V_TEMPLATE_COLUMNS = ("median_corr", "qrs_width_norm")
# the V gate's per-beat evidence, in this order (ecgsl_keras.data.per_beat_features: local_rhythm_features and
# per_beat_features); the fourth is the beat's QRS width over the record's median beat's
V_GATE_COLUMNS = ("pre_rr_local_median_ratio", "post_rr_local_median_ratio", "rhythm_mad_norm", "qrs_width_norm")
V_CLASS = "V"
DEFAULT_PARAMS = {"learning_rate": 0.05, "num_boost_round": 400, "num_leaves": 15, "min_data_in_leaf": 20,
                  "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8}


def _lightgbm():
    return import_extra("lightgbm", "boost", "the stacking hybrid (LightGBM booster)")


def probability_names(label_names) -> list:
    return [f"p_{name}" for name in label_names]


def embedding_names(dim: int, prefix: str = "emb") -> list:
    return [f"{prefix}_{i}" for i in range(int(dim))]


def _stable_key(record_id: str, seed: int) -> int:
    """A hash of the record id that does not change between processes or Python versions."""
    return zlib.crc32(f"{int(seed)}:{record_id}".encode("utf-8"))


def assign_folds(record_ids, labels, k: int = 5, seed: int = 42) -> dict:
    """record id -> fold in 0..k-1, stratified by label: within each label the records are ordered by a
    stable hash of (seed, id) and dealt round-robin, so each fold gets about 1/k of every class and the
    assignment depends only on the ids, labels, k and seed."""
    if int(k) < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    ids, labels = [str(r) for r in record_ids], list(labels)
    if len(ids) != len(labels) or len(set(ids)) != len(ids):
        raise ValueError("record_ids must be unique and as many as labels")
    folds, offset = {}, 0
    for label in sorted(set(labels), key=str):
        members = sorted((rid for rid, lab in zip(ids, labels) if lab == label), key=lambda r: (_stable_key(r, seed), r))
        for j, rid in enumerate(members):
            folds[rid] = (offset + j) % int(k)
        offset += len(members)            # the next class starts where this one stopped: balanced fold sizes
    return folds


class Rule:
    """The interface of the post-booster rules (``Gate``, ``VGate``, ``VPause``, ``VTemplate``, ``VVeto``,
    ``VTiming``, ``VFusion``, ``SPremature``), applied in
    ``RULES``' order: one loop serves (``StackedClassifier.predict_proba``, ``serving.stacked``), writes
    (``spec``) and reports (``evaluation.stacked``, ``ecgsl predict``) them all. Per rule: ``key`` (its
    ``stacking.json`` key and its key in ``predict_proba``'s ``evidence`` mapping), ``columns`` (the per-beat evidence
    columns, computed in one ``beat_feature_columns`` call), ``mask_key`` / ``before_key`` (``predict_signal``'s
    mask of the beats it changed and the probabilities before it), ``mark`` (``ecgsl predict``'s per-beat flag and
    ``beats_<mark>`` count), ``count_name`` (``evaluate``'s count), ``needs`` (inputs beyond the evidence:
    ``"deep_v"`` the deep P(V), ``"beats"`` the beats' own samples) and ``serve`` (the rule on them)."""

    key = mask_key = before_key = mark = count_name = rows_error = ""
    needs = ()
    average_only = False   # also needs combine "average" (its evidence includes the deep model's probabilities)

    def take(self, values, names) -> np.ndarray:
        """The rule's evidence: its ``columns`` of per-beat ``values`` (n, len(names)) whose columns are ``names``."""
        return values[:, [names.index(c) for c in self.columns]]

    def computed_features(self) -> list:
        """(what, feature) of the spec's features the serving package must compute (checked at load)."""
        af_off = getattr(self, "af_off", None)
        return [(f"{self.key} af_off feature {af_off['feature']!r}", af_off["feature"])] if af_off else []

    def missing_evidence(self) -> str:
        beats = " and the beats' own samples as beats" if "beats" in self.needs else ""
        return (f"this model has a {self.key} rule: pass its columns {list(self.columns)} as "
                f"evidence[{self.key!r}]{beats} (or apply_gate=False)")

    def serve(self, probabilities, evidence, **inputs) -> tuple:
        """(probabilities after the rule, (n,) bool mask of the rows it changed)."""
        raise NotImplementedError


class Gate(Rule):
    """Where the per-beat ``feature`` exceeds ``threshold``, the probability of class ``source`` (the spec's
    ``"from"``) is added to class ``target``'s (``"to"``) and set to 0; everywhere else, and where the feature is
    NaN, the probabilities stay as they are. The one place of the gate's schema (``GATE_KEYS``, ``from_spec``,
    ``to_spec``) and rule (``apply``)."""

    key, mask_key, before_key, mark, count_name = ("gate", "beat_gated", "ungated_beat_probabilities", "gated",
                                                   "beats_gated")
    rows_error = "a gate is for per-beat rows (rows 'beat')"

    def __init__(self, feature: str, threshold: float, source: str, target: str, label_names):
        labels = [str(n) for n in label_names]
        if not isinstance(feature, str) or not feature:
            raise ValueError(f"gate feature must be a feature name, got {feature!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not np.isfinite(threshold):
            raise ValueError(f"gate threshold must be a finite number, got {threshold!r}")
        for key, name in (("from", source), ("to", target)):
            if name not in labels:
                raise ValueError(f"gate {key!r} class {name!r} is not one of the labels {labels}")
        if source == target:
            raise ValueError(f"gate 'from' and 'to' are the same class {source!r}")
        self.feature, self.threshold = feature, float(threshold)
        self.source, self.target = str(source), str(target)
        self._from, self._to = labels.index(self.source), labels.index(self.target)

    @classmethod
    def from_spec(cls, entry, label_names) -> "Gate":
        """The spec's ``"gate"`` object; ValueError for anything but exactly ``GATE_KEYS`` with valid values."""
        if not isinstance(entry, dict) or set(entry) != set(GATE_KEYS):
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"gate must be an object with keys {list(GATE_KEYS)}, got {keys}")
        return cls(entry["feature"], entry["threshold"], entry["from"], entry["to"], label_names)

    def to_spec(self) -> dict:
        return {"feature": self.feature, "threshold": self.threshold, "from": self.source, "to": self.target}

    def mask(self, evidence) -> np.ndarray:
        """(n,) bool: the rows gated (evidence above the threshold; NaN never)."""
        with np.errstate(invalid="ignore"):
            return np.asarray(evidence, np.float64).reshape(-1) > self.threshold

    @property
    def columns(self) -> tuple:
        return (self.feature,)

    def take(self, values, names) -> np.ndarray:
        return values[:, names.index(self.feature)]   # (n,): the gate's evidence is one column

    def computed_features(self) -> list:
        return [(f"gate feature {self.feature!r}", self.feature)]

    def missing_evidence(self) -> str:
        return (f"this model has a gate on {self.feature!r}: pass its values as evidence['gate'] "
                "(or apply_gate=False)")

    def serve(self, probabilities, evidence, **inputs) -> tuple:
        return self.apply(probabilities, evidence)

    def apply(self, probabilities, evidence) -> tuple:
        """(gated probabilities (n, C) float64, mask (n,) bool) of ``probabilities`` (n, C) and the rows' feature
        values ``evidence`` (n,)."""
        p = np.array(probabilities, np.float64, copy=True)
        gated = self.mask(evidence)
        if len(gated) != len(p):
            raise ValueError(f"{len(p)} rows but {len(gated)} gate evidence values")
        p[gated, self._to] += p[gated, self._from]
        p[gated, self._from] = 0.0
        return p, gated


def _finite(name, value, low=None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be at least {low}, got {value!r}")
    return float(value)


def _af_off_entry(owner: str, entry) -> dict:
    """A valid ``af_off`` object (``AF_OFF_KEYS``) of the spec's ``owner`` entry, or ValueError naming it."""
    if not isinstance(entry, dict) or set(entry) != set(AF_OFF_KEYS):
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise ValueError(f"{owner} af_off must be null or an object with keys {list(AF_OFF_KEYS)}, got {keys}")
    if not isinstance(entry["feature"], str) or not entry["feature"]:
        raise ValueError(f"{owner} af_off feature must be a feature name, got {entry['feature']!r}")
    return {"feature": entry["feature"], "threshold": _finite(f"{owner} af_off threshold", entry["threshold"])}


def local_on_time(pre_local, post_local, mad_norm, premature, pause=None, irregular=None) -> np.ndarray:
    """(n,) bool: beats with no timing evidence of ectopy against the LOCAL rhythm: pre RR / the median of the 16
    neighbour intervals (``pre_local``, ``pre_rr_local_median_ratio`` of ``per_beat_features.local_rhythm_features``)
    at least ``premature``; with ``pause``, also no compensatory pause: post RR / pre RR (``post_local /
    pre_local``, the same median cancels) below ``pause``; with ``irregular``, also a regular neighbourhood: the
    neighbours' robust spread (``mad_norm``, ``rhythm_mad_norm``) at most ``irregular``, since in an irregular
    rhythm (atrial fibrillation) "on time" is no evidence. ``None``: that test is not made. NaN in a test that is
    made: False (no evidence). The one place of this test (the V gate and ``experiments/mitdb/v_gate.py``)."""
    pre_local, post_local, mad_norm = (np.asarray(a, np.float64) for a in (pre_local, post_local, mad_norm))
    with np.errstate(invalid="ignore", divide="ignore"):
        on = pre_local >= premature
        if pause is not None:
            on &= (post_local / pre_local) < pause
        if irregular is not None:
            on &= mad_norm <= irregular
    return on


def drop_calls(probabilities, drop, index: int) -> tuple:
    """(probabilities (n, C) float64, mask (n,) bool): the rows of ``drop`` whose call (largest probability) is
    class ``index`` lose it: that class's probability is set to 0 and the row renormalised, so the next class
    wins. A row with nothing left (probability 1 on the class) keeps its call: there is no other class to give."""
    p = np.array(probabilities, np.float64, copy=True)
    drop = np.asarray(drop, bool).reshape(-1)
    if len(drop) != len(p):
        raise ValueError(f"{len(p)} rows but {len(drop)} gate decisions")
    with np.errstate(invalid="ignore"):
        drop = drop & (p.argmax(-1) == index) & ((p.sum(axis=1) - p[:, index]) > 0)
    p[drop, index] = 0.0
    p[drop] /= p[drop].sum(axis=1, keepdims=True)
    return p, drop


class VGate(Rule):
    """The V agreement gate (module docstring): a V call of a beat on time against its local rhythm
    (``local_on_time`` with ``premature``, ``pause``, ``irregular``), not wider than ``wide`` (QRS width over the
    record's median beat's) and whose deep P(V) is below ``t`` loses V; with ``af_off`` (``{"feature", "threshold"}``),
    never where that per-beat AF evidence exceeds the threshold. The one place of its schema (``V_GATE_KEYS``,
    ``V_GATE_OPTIONAL_KEYS``, ``from_spec``, ``to_spec``), evidence (``columns``: ``V_GATE_COLUMNS``, then the AF-off
    feature when set) and rule (``mask``, ``apply``)."""

    key, mask_key, before_key, mark, count_name = ("v_gate", "beat_v_gated", "pre_v_gate_beat_probabilities",
                                                   "v_gated", "V_calls_taken")
    rows_error = ("a V gate is for per-beat rows averaged with the deep model's probabilities (rows 'beat', "
                  "combine 'average')")
    needs, average_only = ("deep_v",), True

    def __init__(self, premature: float, wide: float, t: float, label_names, pause=None, irregular=None,
                 af_off=None):
        labels = [str(n) for n in label_names]
        if V_CLASS not in labels:
            raise ValueError(f"a V gate needs a class {V_CLASS!r} among the labels {labels}")
        self.premature = _finite("v_gate premature", premature, 0.0)
        self.wide = _finite("v_gate wide", wide, 0.0)
        self.t = _finite("v_gate t", t, 0.0)
        if self.t > 1.0:
            raise ValueError(f"v_gate t is a probability, at most 1, got {t!r}")
        self.pause = None if pause is None else _finite("v_gate pause", pause, 0.0)
        self.irregular = None if irregular is None else _finite("v_gate irregular", irregular, 0.0)
        self.af_off = None if af_off is None else _af_off_entry("v_gate", af_off)
        self.columns = V_GATE_COLUMNS + ((self.af_off["feature"],) if self.af_off else ())
        self._v = labels.index(V_CLASS)

    @classmethod
    def from_spec(cls, entry, label_names) -> "VGate":
        """The spec's ``"v_gate"`` object; ValueError for anything but ``V_GATE_KEYS`` (all of them) and
        ``V_GATE_OPTIONAL_KEYS`` (any of them) with valid values (``pause``, ``irregular`` and ``af_off`` may be
        null: that test is not made)."""
        if (not isinstance(entry, dict) or not set(V_GATE_KEYS) <= set(entry)
                or not set(entry) <= set(V_GATE_KEYS + V_GATE_OPTIONAL_KEYS)):
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"v_gate must be an object with keys {list(V_GATE_KEYS)} (and optionally "
                             f"{list(V_GATE_OPTIONAL_KEYS)}), got {keys}")
        return cls(entry["premature"], entry["wide"], entry["t"], label_names, pause=entry["pause"],
                   irregular=entry["irregular"], af_off=entry.get("af_off"))

    def to_spec(self) -> dict:
        """The spec's ``"v_gate"`` object (``af_off`` only when set, so a gate without it writes what it read)."""
        return {"premature": self.premature, "wide": self.wide, "t": self.t, "pause": self.pause,
                "irregular": self.irregular, **({"af_off": dict(self.af_off)} if self.af_off else {})}

    def _evidence(self, evidence, n) -> np.ndarray:
        x = np.asarray(evidence, np.float64)
        if x.shape != (n, len(self.columns)):
            raise ValueError(f"V gate evidence must be ({n}, {len(self.columns)}) (columns {list(self.columns)}), "
                             f"got {x.shape}")
        return x

    def candidates(self, p_deep_v, evidence) -> np.ndarray:
        """(n,) bool: the beats the rule would take V from if called V (on time, narrow, deep P(V) < t; with
        ``af_off``, AF evidence not above its threshold)."""
        x = self._evidence(evidence, len(np.asarray(p_deep_v).reshape(-1)))
        on = local_on_time(x[:, 0], x[:, 1], x[:, 2], self.premature, self.pause, self.irregular)
        with np.errstate(invalid="ignore"):
            on &= (x[:, 3] <= self.wide) & (np.asarray(p_deep_v, np.float64).reshape(-1) < self.t)
            if self.af_off is not None:   # AF evidence above the threshold: timing is no evidence (NaN: none)
                on &= ~(x[:, 4] > self.af_off["threshold"])
        return on

    def serve(self, probabilities, evidence, *, deep_v, **inputs) -> tuple:
        return self.apply(probabilities, deep_v, evidence)

    def apply(self, probabilities, p_deep_v, evidence) -> tuple:
        """(gated probabilities (n, C) float64, mask (n,) bool of the V calls taken) of ``probabilities`` (n, C),
        the deep model's P(V) ``p_deep_v`` (n,) and ``evidence`` (n, len(columns)): ``columns`` of the same beats."""
        p = np.asarray(probabilities, np.float64)
        if len(np.asarray(p_deep_v).reshape(-1)) != len(p):
            raise ValueError(f"{len(p)} rows but {len(np.asarray(p_deep_v).reshape(-1))} deep P(V) values")
        return drop_calls(p, self.candidates(p_deep_v, evidence), self._v)


class VPause(Rule):
    """The full-compensatory-pause rule (module docstring): a beat called S, wider than ``wide`` x its record's median
    beat, with compensation (pre + post RR) / (2 x the local median RR) in ``band``, post RR / pre RR >= ``pause`` and
    (with ``af_off``) its AF evidence not above the threshold fires; a record's firings become V when it has at least
    ``min_fires`` of them. The one place of its schema (``V_PAUSE_KEYS``, ``from_spec``, ``to_spec``), evidence
    (``columns``: ``V_PAUSE_COLUMNS``, then the AF-off feature when set, then ``V_PAUSE_T_COLUMN`` when ``t_wave`` is
    set) and rule (``fires``, ``apply``), served by ``serving.stacked`` and measured by
    ``experiments/mitdb/v_sensitivity.py`` (runs v46-v49). ``t_wave`` (None: off): a beat fires only when its T-wave
    energy over the median beat's is above it (run v49)."""

    key, mask_key, before_key, mark, count_name = ("v_pause", "beat_v_paused", "pre_v_pause_beat_probabilities",
                                                   "v_paused", "beats_turned_V")
    rows_error = "a v_pause rule is for per-beat rows (rows 'beat')"

    def __init__(self, wide: float, band, pause: float, min_fires: int, label_names, af_off=None, t_wave=None):
        labels = [str(n) for n in label_names]
        for name in (S_CLASS, V_CLASS):
            if name not in labels:
                raise ValueError(f"a v_pause rule needs classes {[S_CLASS, V_CLASS]} among the labels {labels}")
        self.wide = _finite("v_pause wide", wide, 0.0)
        if (not isinstance(band, (list, tuple)) or len(band) != 2):
            raise ValueError(f"v_pause band must be [low, high], got {band!r}")
        low, high = (_finite("v_pause band", b, 0.0) for b in band)
        if low > high:
            raise ValueError(f"v_pause band must be [low, high] with low <= high, got {list(band)!r}")
        self.band = (low, high)
        self.pause = _finite("v_pause pause", pause, 0.0)
        if isinstance(min_fires, bool) or not isinstance(min_fires, (int, np.integer)) or min_fires < 1:
            raise ValueError(f"v_pause min_fires must be an integer of at least 1, got {min_fires!r}")
        self.min_fires = int(min_fires)
        self.af_off = None if af_off is None else _af_off_entry("v_pause", af_off)
        self.t_wave = None if t_wave is None else _finite("v_pause t_wave", t_wave, 0.0)
        self.columns = (V_PAUSE_COLUMNS + ((self.af_off["feature"],) if self.af_off else ())
                        + ((V_PAUSE_T_COLUMN,) if self.t_wave is not None else ()))
        self._s, self._v = labels.index(S_CLASS), labels.index(V_CLASS)

    @classmethod
    def from_spec(cls, entry, label_names) -> "VPause":
        """The spec's ``"v_pause"`` object; ValueError for anything but ``V_PAUSE_KEYS`` (all of them) and
        ``V_PAUSE_OPTIONAL_KEYS`` with valid values."""
        if (not isinstance(entry, dict) or not set(V_PAUSE_KEYS) <= set(entry)
                or not set(entry) <= set(V_PAUSE_KEYS + V_PAUSE_OPTIONAL_KEYS)):
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"v_pause must be an object with keys {list(V_PAUSE_KEYS)} (and optionally "
                             f"{list(V_PAUSE_OPTIONAL_KEYS)}), got {keys}")
        return cls(entry["wide"], entry["band"], entry["pause"], entry["min_fires"], label_names,
                   af_off=entry.get("af_off"), t_wave=entry.get("t_wave"))

    def to_spec(self) -> dict:
        """The spec's ``"v_pause"`` object (``af_off`` and ``t_wave`` only when set)."""
        return {"wide": self.wide, "band": list(self.band), "pause": self.pause, "min_fires": self.min_fires,
                **({"af_off": dict(self.af_off)} if self.af_off else {}),
                **({"t_wave": self.t_wave} if self.t_wave is not None else {})}

    def fires(self, probabilities, evidence) -> np.ndarray:
        """(n,) bool: the beats called S that meet every test (before the record count); NaN evidence: none."""
        p = np.asarray(probabilities, np.float64)
        x = np.asarray(evidence, np.float64)
        if x.shape != (len(p), len(self.columns)):
            raise ValueError(f"v_pause evidence must be ({len(p)}, {len(self.columns)}) (columns "
                             f"{list(self.columns)}), got {x.shape}")
        pre, post, width = x[:, 0], x[:, 1], x[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            compensation = (pre + post) / 2   # the neighbours' median cancels: (pre + post RR) / (2 x median)
            fire = ((p.argmax(-1) == self._s) & (width > self.wide) & (compensation >= self.band[0])
                    & (compensation <= self.band[1]) & (post / pre >= self.pause))
            if self.af_off is not None:   # no sinus rhythm, no compensatory pause (NaN evidence: no AF evidence)
                fire &= ~(x[:, 3] > self.af_off["threshold"])
            if self.t_wave is not None:   # a ventricular beat's T is larger than the normal beat's (NaN: no evidence)
                fire &= x[:, len(self.columns) - 1] > self.t_wave
        return fire

    def serve(self, probabilities, evidence, **inputs) -> tuple:   # the rows are one record
        return self.apply(probabilities, evidence)

    def apply(self, probabilities, evidence, records=None) -> tuple:
        """(probabilities (n, C) float64, mask (n,) bool of the beats turned to V) of ``probabilities`` (n, C) and
        ``evidence`` (n, len(columns)): ``columns`` of the same beats; ``records`` (n,) the beats' record ids (None:
        one record, as served), each counted against ``min_fires`` on its own."""
        p = np.array(probabilities, np.float64, copy=True)
        fire = self.fires(p, evidence)
        if records is None:
            records = np.zeros(len(p), np.int64)
        records = np.asarray(records).reshape(-1)
        if len(records) != len(p):
            raise ValueError(f"{len(p)} rows but {len(records)} record ids")
        ids, counts = np.unique(records[fire], return_counts=True)
        fire &= np.isin(records, ids[counts >= self.min_fires])
        p[fire, self._v] = p[fire].max(axis=1) * 1.001   # just above the row's largest: V wins, the rest keep order
        p[fire] /= p[fire].sum(axis=1, keepdims=True)
        return p, fire


class VTemplate(Rule):
    """The within-record V template vote (module docstring): on a record with at least ``min_called`` V calls (outside
    AF with ``af_off``), a beat called one of ``calls``, wider than ``wide`` x its record's median beat, outside AF,
    whose correlation with the median of the record's V-called beats is at least ``corr`` and above its correlation
    with the record's median beat becomes V. The one place of its schema (``V_TEMPLATE_KEYS``, ``from_spec``,
    ``to_spec``), evidence (``columns``: ``V_TEMPLATE_COLUMNS``, then the AF-off feature when set; and the beats) and
    rule (``fires``, ``apply``), served by ``serving.stacked`` and measured by ``experiments/mitdb/v_sensitivity.py``
    (run v51)."""

    key, mask_key, before_key, mark, count_name = ("v_template", "beat_v_templated",
                                                   "pre_v_template_beat_probabilities", "v_templated", "beats_turned_V")
    rows_error = "a v_template rule is for per-beat rows (rows 'beat')"
    needs = ("beats",)

    def __init__(self, min_called: int, corr: float, wide: float, calls, label_names, af_off=None):
        labels = [str(n) for n in label_names]
        if V_CLASS not in labels:
            raise ValueError(f"a v_template rule needs a class {V_CLASS!r} among the labels {labels}")
        if isinstance(min_called, bool) or not isinstance(min_called, (int, np.integer)) or min_called < 1:
            raise ValueError(f"v_template min_called must be an integer of at least 1, got {min_called!r}")
        self.min_called = int(min_called)
        self.corr = _finite("v_template corr", corr, -1.0)
        if self.corr > 1.0:
            raise ValueError(f"v_template corr is a correlation, at most 1, got {corr!r}")
        self.wide = _finite("v_template wide", wide, 0.0)
        if (not isinstance(calls, (list, tuple)) or not calls or not all(isinstance(c, str) for c in calls)
                or len(set(calls)) != len(calls) or V_CLASS in calls or not set(calls) <= set(labels)):
            raise ValueError(f"v_template calls must be a list of distinct classes among {labels} other than "
                             f"{V_CLASS!r}, got {calls!r}")
        self.calls = tuple(calls)
        self.af_off = None if af_off is None else _af_off_entry("v_template", af_off)
        self.columns = V_TEMPLATE_COLUMNS + ((self.af_off["feature"],) if self.af_off else ())
        self._v = labels.index(V_CLASS)
        self._calls = [labels.index(c) for c in self.calls]

    @classmethod
    def from_spec(cls, entry, label_names) -> "VTemplate":
        """The spec's ``"v_template"`` object; ValueError for anything but ``V_TEMPLATE_KEYS`` (all of them) and
        ``V_TEMPLATE_OPTIONAL_KEYS`` with valid values."""
        if (not isinstance(entry, dict) or not set(V_TEMPLATE_KEYS) <= set(entry)
                or not set(entry) <= set(V_TEMPLATE_KEYS + V_TEMPLATE_OPTIONAL_KEYS)):
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"v_template must be an object with keys {list(V_TEMPLATE_KEYS)} (and optionally "
                             f"{list(V_TEMPLATE_OPTIONAL_KEYS)}), got {keys}")
        return cls(entry["min_called"], entry["corr"], entry["wide"], entry["calls"], label_names,
                   af_off=entry.get("af_off"))

    def to_spec(self) -> dict:
        """The spec's ``"v_template"`` object (``af_off`` only when set)."""
        return {"min_called": self.min_called, "corr": self.corr, "wide": self.wide, "calls": list(self.calls),
                **({"af_off": dict(self.af_off)} if self.af_off else {})}

    def _check(self, p, beats, evidence) -> tuple:
        x = np.asarray(evidence, np.float64)
        if x.shape != (len(p), len(self.columns)):
            raise ValueError(f"v_template evidence must be ({len(p)}, {len(self.columns)}) (columns "
                             f"{list(self.columns)}), got {x.shape}")
        b = np.asarray(beats, np.float64)
        if b.ndim != 2 or len(b) != len(p):
            raise ValueError(f"v_template beats must be ({len(p)}, samples), got {b.shape}")
        with np.errstate(invalid="ignore"):
            outside_af = (np.ones(len(p), bool) if self.af_off is None
                          else ~(x[:, 2] > self.af_off["threshold"]))   # NaN AF evidence: no AF evidence
        return x, b, outside_af

    def template_corr(self, probabilities, beats, evidence) -> np.ndarray:
        """(n,) each beat's correlation with the median of the V-called beats outside AF among these rows (one
        record); NaN for every beat when fewer than ``min_called`` such beats."""
        from ecgsl_keras.data.per_beat_features import centred_beats, template_corr

        p = np.asarray(probabilities, np.float64)
        x, b, outside_af = self._check(p, beats, evidence)
        called_v = (p.argmax(-1) == self._v) & outside_af
        if called_v.sum() < self.min_called:
            return np.full(len(p), np.nan)
        centred = centred_beats(b)
        return template_corr(centred, np.median(centred[called_v], axis=0))

    def fires(self, probabilities, beats, evidence) -> np.ndarray:
        """(n,) bool: the beats of one record the vote turns to V (NaN evidence: none)."""
        p = np.asarray(probabilities, np.float64)
        x, _, outside_af = self._check(p, beats, evidence)
        corr_v = self.template_corr(p, beats, x)
        with np.errstate(invalid="ignore"):
            return (np.isin(p.argmax(-1), self._calls) & (x[:, 1] > self.wide) & outside_af
                    & (corr_v >= self.corr) & (corr_v > x[:, 0]))

    def serve(self, probabilities, evidence, *, beats, **inputs) -> tuple:   # the rows are one record
        return self.apply(probabilities, beats, evidence)

    def apply(self, probabilities, beats, evidence, records=None) -> tuple:
        """(probabilities (n, C) float64, mask (n,) bool of the beats turned to V) of ``probabilities`` (n, C),
        ``beats`` (n, samples: the beats' own samples, ``signal.own_beats``) and ``evidence`` (n, len(columns));
        ``records`` (n,) the beats' record ids (None: one record, as served), each with its own template."""
        p = np.array(probabilities, np.float64, copy=True)
        if records is None:
            records = np.zeros(len(p), np.int64)
        records = np.asarray(records).reshape(-1)
        if len(records) != len(p):
            raise ValueError(f"{len(p)} rows but {len(records)} record ids")
        b, x = np.asarray(beats), np.asarray(evidence, np.float64)
        if len(b) != len(p) or len(x) != len(p):
            raise ValueError(f"{len(p)} rows but {len(b)} beats and {len(x)} evidence rows")
        fire = np.zeros(len(p), bool)
        for r in np.unique(records):
            m = records == r
            fire[m] = self.fires(p[m], b[m], x[m])
        return self._act(p, fire)

    def _act(self, p, fire) -> tuple:
        p[fire, self._v] = p[fire].max(axis=1) * 1.001   # just above the row's largest: V wins, the rest keep order
        p[fire] /= p[fire].sum(axis=1, keepdims=True)
        return p, fire


def v_call_templates(centred, corr: float, min_members: int) -> list:
    """The V templates of one record's V calls ``centred`` (k, L) (``per_beat_features.centred_beats``): each group's
    median beat, the groups of ``v_call_groups``."""
    c = np.asarray(centred, np.float64)
    return [np.median(c[members], axis=0) for members in v_call_groups(c, corr, min_members)]


def v_call_groups(centred, corr: float, min_members: int) -> list:
    """(k,) bool masks of the groups of one record's V calls ``centred`` (k, L) (``per_beat_features.centred_beats``):
    greedy grouping by Pearson correlation (``template_corr``'s). The ungrouped call with the most ungrouped calls
    correlating at least ``corr`` with it (itself included; ties: the first) leads a group of exactly those calls;
    this repeats until no ungrouped call leads ``min_members``. A flat call (no correlation) joins no group.
    Deterministic and label free; O(k^2) memory (k: a record's V calls)."""
    c = np.asarray(centred, np.float64)
    z = c - c.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(z, axis=1)
    ok = norm > 0
    z[ok] /= norm[ok, None]
    close = (z @ z.T) >= corr
    close[~ok] = False
    close[:, ~ok] = False
    free = ok.copy()
    groups = []
    while free.any():
        counts = np.where(free, close[:, free].sum(axis=1), 0)
        lead = int(np.argmax(counts))
        if counts[lead] < min_members:
            break
        members = close[lead] & free
        groups.append(members)
        free &= ~members
    return groups


class VVeto(VTemplate):
    """The within-record V template veto (module docstring): on a record with at least ``min_called`` V calls
    outside AF, a V call outside AF whose correlation with ``VTemplate``'s template is below ``corr`` (with
    ``median``, also below its correlation with the record's median beat) loses V. A sibling of the vote: the same
    evidence, template and per-record loop (``VTemplate.template_corr``, ``apply``), its own schema (``V_VETO_KEYS``)
    and action (``drop_calls``: the next class wins). With ``clusters`` (``{"corr", "min_members"}``), several templates
    (``v_call_templates``) and the largest correlation with them. With ``width`` (a ratio), a V call outside AF
    narrower than ``width`` x the record's widest V-call group's median width (``reference_width``) loses V too.
    Measured by ``experiments/mitdb/v_sensitivity.py`` (runs v53, v54, v58)."""

    key, mask_key, before_key, mark, count_name = ("v_veto", "beat_v_vetoed", "pre_v_veto_beat_probabilities",
                                                   "v_vetoed", "beats_vetoed_V")
    rows_error = "a v_veto rule is for per-beat rows (rows 'beat')"

    def __init__(self, min_called: int, corr: float, median: bool, label_names, af_off=None, clusters=None,
                 width=None):
        labels = [str(n) for n in label_names]
        if V_CLASS not in labels:
            raise ValueError(f"a v_veto rule needs a class {V_CLASS!r} among the labels {labels}")
        self.clusters = None if clusters is None else self._clusters_entry(clusters)
        self.width = None if width is None else _finite("v_veto width", width)
        if self.width is not None and not 0.0 < self.width <= 1.0:
            raise ValueError(f"v_veto width is a ratio to the record's widest V-call group, in (0, 1], got {width!r}")
        if isinstance(min_called, bool) or not isinstance(min_called, (int, np.integer)) or min_called < 1:
            raise ValueError(f"v_veto min_called must be an integer of at least 1, got {min_called!r}")
        self.min_called = int(min_called)
        self.corr = _finite("v_veto corr", corr, -1.0)
        if self.corr > 1.0:
            raise ValueError(f"v_veto corr is a correlation, at most 1, got {corr!r}")
        if not isinstance(median, bool):
            raise ValueError(f"v_veto median must be true or false, got {median!r}")
        self.median = median
        self.af_off = None if af_off is None else _af_off_entry("v_veto", af_off)
        self.columns = V_TEMPLATE_COLUMNS + ((self.af_off["feature"],) if self.af_off else ())
        self._v = labels.index(V_CLASS)

    @classmethod
    def from_spec(cls, entry, label_names) -> "VVeto":
        """The spec's ``"v_veto"`` object; ValueError for anything but ``V_VETO_KEYS`` (all of them) and
        ``V_VETO_OPTIONAL_KEYS`` with valid values."""
        if (not isinstance(entry, dict) or not set(V_VETO_KEYS) <= set(entry)
                or not set(entry) <= set(V_VETO_KEYS + V_VETO_OPTIONAL_KEYS)):
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"v_veto must be an object with keys {list(V_VETO_KEYS)} (and optionally "
                             f"{list(V_VETO_OPTIONAL_KEYS)}), got {keys}")
        return cls(entry["min_called"], entry["corr"], entry["median"], label_names, af_off=entry.get("af_off"),
                   clusters=entry.get("clusters"), width=entry.get("width"))

    @staticmethod
    def _clusters_entry(entry) -> dict:
        """A valid ``clusters`` object (``V_VETO_CLUSTER_KEYS``), or ValueError naming it."""
        if not isinstance(entry, dict) or set(entry) != set(V_VETO_CLUSTER_KEYS):
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"v_veto clusters must be null or an object with keys {list(V_VETO_CLUSTER_KEYS)}, "
                             f"got {keys}")
        corr = _finite("v_veto clusters corr", entry["corr"], -1.0)
        if corr > 1.0:
            raise ValueError(f"v_veto clusters corr is a correlation, at most 1, got {entry['corr']!r}")
        m = entry["min_members"]
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"v_veto clusters min_members must be an integer of at least 1, got {m!r}")
        return {"corr": corr, "min_members": int(m)}

    def to_spec(self) -> dict:
        """The spec's ``"v_veto"`` object (``af_off``, ``clusters`` and ``width`` only when set)."""
        return {"min_called": self.min_called, "corr": self.corr, "median": self.median,
                **({"af_off": dict(self.af_off)} if self.af_off else {}),
                **({"clusters": dict(self.clusters)} if self.clusters else {}),
                **({"width": self.width} if self.width is not None else {})}

    def template_corr(self, probabilities, beats, evidence) -> np.ndarray:
        """(n,) each beat's correlation with the record's V-call template (``VTemplate.template_corr``) or, with
        ``clusters``, its largest correlation with the templates of ``v_call_templates``; NaN for every beat when
        fewer than ``min_called`` V calls outside AF, or (``clusters``) when they form no group."""
        if self.clusters is None:
            return super().template_corr(probabilities, beats, evidence)
        from ecgsl_keras.data.per_beat_features import centred_beats, template_corr

        p = np.asarray(probabilities, np.float64)
        _, b, outside_af = self._check(p, beats, evidence)
        called_v = (p.argmax(-1) == self._v) & outside_af
        if called_v.sum() < self.min_called:
            return np.full(len(p), np.nan)
        centred = centred_beats(b)
        templates = v_call_templates(centred[called_v], **self.clusters)
        if not templates:
            return np.full(len(p), np.nan)
        # fmax: a NaN correlation (a flat beat or template) counts only where every template gives NaN
        return np.fmax.reduce([template_corr(centred, t) for t in templates], axis=0)

    def reference_width(self, probabilities, beats, evidence) -> float:
        """The width test's reference of one record: the largest median ``qrs_width_norm`` over the groups of its V
        calls outside AF (``v_call_groups`` with ``clusters``; without, all of them as one group); NaN when fewer than
        ``min_called`` such calls, no group, or no finite width."""
        from ecgsl_keras.data.per_beat_features import centred_beats

        p = np.asarray(probabilities, np.float64)
        x, b, outside_af = self._check(p, beats, evidence)
        called_v = (p.argmax(-1) == self._v) & outside_af
        if called_v.sum() < self.min_called:
            return float("nan")
        widths = x[called_v, 1]
        groups = ([np.ones(int(called_v.sum()), bool)] if self.clusters is None
                  else v_call_groups(centred_beats(b[called_v]), **self.clusters))
        medians = [np.median(w) for w in (widths[g][np.isfinite(widths[g])] for g in groups) if len(w)]
        return float(max(medians)) if medians else float("nan")

    def fires(self, probabilities, beats, evidence) -> np.ndarray:
        """(n,) bool: the V calls of one record the veto takes V from (NaN evidence: none)."""
        p = np.asarray(probabilities, np.float64)
        x, _, outside_af = self._check(p, beats, evidence)
        corr_v = self.template_corr(p, beats, x)
        with np.errstate(invalid="ignore"):
            unlike = corr_v < self.corr
            if self.median:
                unlike &= corr_v < x[:, 0]
            if self.width is not None:   # either test: narrower than the widest V form, or unlike every template
                unlike |= x[:, 1] < self.width * self.reference_width(p, beats, x)
            return (p.argmax(-1) == self._v) & outside_af & unlike

    def _act(self, p, fire) -> tuple:
        return drop_calls(p, fire, self._v)


def _spec_entry(key: str, entry, keys: tuple, optional: tuple) -> dict:
    """``entry`` when it is an object with all of ``keys`` and only ``optional`` besides, else ValueError naming
    the spec's ``key``."""
    if not isinstance(entry, dict) or not set(keys) <= set(entry) or not set(entry) <= set(keys + optional):
        found = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise ValueError(f"{key} must be an object with keys {list(keys)} (and optionally {list(optional)}), "
                         f"got {found}")
    return entry


def _min_called(owner: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner} min_called must be an integer of at least 1, got {value!r}")
    return int(value)


class VTiming(Rule):
    """The record-level timing test of V calls (module docstring): on a record (the rows given, or each of
    ``records``) with at least ``min_called`` V calls outside AF of which at least ``share`` are on time against the
    local rhythm (``local_on_time`` with ``premature`` and ``pause``), those on-time V calls lose V (``drop_calls``).
    The one place of its schema (``V_TIMING_KEYS``, ``from_spec``, ``to_spec``), evidence (``columns``:
    ``V_TIMING_COLUMNS``, then the AF-off feature when set) and rule (``fires``, ``apply``), measured by
    ``experiments/mitdb/v_sensitivity.py`` (run v64)."""

    key, mask_key, before_key, mark, count_name = ("v_timing", "beat_v_on_time", "pre_v_timing_beat_probabilities",
                                                   "v_on_time", "V_calls_on_time_taken")
    rows_error = "a v_timing rule is for per-beat rows (rows 'beat')"

    def __init__(self, min_called: int, share: float, premature: float, pause: float, label_names, af_off=None):
        labels = [str(n) for n in label_names]
        if V_CLASS not in labels:
            raise ValueError(f"a v_timing rule needs a class {V_CLASS!r} among the labels {labels}")
        self.min_called = _min_called("v_timing", min_called)
        self.share = _finite("v_timing share", share, 0.0)
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"v_timing share is a fraction of a record's V calls, in (0, 1], got {share!r}")
        self.premature = _finite("v_timing premature", premature, 0.0)
        self.pause = _finite("v_timing pause", pause, 0.0)
        self.af_off = None if af_off is None else _af_off_entry("v_timing", af_off)
        self.columns = V_TIMING_COLUMNS + ((self.af_off["feature"],) if self.af_off else ())
        self._v = labels.index(V_CLASS)

    @classmethod
    def from_spec(cls, entry, label_names) -> "VTiming":
        """The spec's ``"v_timing"`` object; ValueError for anything but ``V_TIMING_KEYS`` (all of them) and
        ``V_TIMING_OPTIONAL_KEYS`` with valid values."""
        entry = _spec_entry("v_timing", entry, V_TIMING_KEYS, V_TIMING_OPTIONAL_KEYS)
        return cls(entry["min_called"], entry["share"], entry["premature"], entry["pause"], label_names,
                   af_off=entry.get("af_off"))

    def to_spec(self) -> dict:
        """The spec's ``"v_timing"`` object (``af_off`` only when set)."""
        return {"min_called": self.min_called, "share": self.share, "premature": self.premature, "pause": self.pause,
                **({"af_off": dict(self.af_off)} if self.af_off else {})}

    def fires(self, probabilities, evidence) -> np.ndarray:
        """(n,) bool: the on-time V calls of one record the rule takes V from (none unless the record passes the
        count and share tests; NaN timing: not on time; NaN AF evidence: no AF evidence)."""
        p = np.asarray(probabilities, np.float64)
        x = np.asarray(evidence, np.float64)
        if x.shape != (len(p), len(self.columns)):
            raise ValueError(f"v_timing evidence must be ({len(p)}, {len(self.columns)}) (columns "
                             f"{list(self.columns)}), got {x.shape}")
        called = p.argmax(-1) == self._v
        if self.af_off is not None:   # in AF the rhythm is irregular: "on time" is no evidence there
            with np.errstate(invalid="ignore"):
                called &= ~(x[:, 2] > self.af_off["threshold"])
        on = called & local_on_time(x[:, 0], x[:, 1], np.full(len(p), np.nan), self.premature, self.pause)
        if called.sum() < self.min_called or on.sum() < self.share * called.sum():
            return np.zeros(len(p), bool)
        return on

    def serve(self, probabilities, evidence, **inputs) -> tuple:   # the rows are one record
        return self.apply(probabilities, evidence)

    def apply(self, probabilities, evidence, records=None) -> tuple:
        """(probabilities (n, C) float64, mask (n,) bool of the V calls taken) of ``probabilities`` (n, C) and
        ``evidence`` (n, len(columns)); ``records`` (n,) the beats' record ids (None: one record, as served), each
        tested on its own."""
        p = np.asarray(probabilities, np.float64)
        records = np.zeros(len(p), np.int64) if records is None else np.asarray(records).reshape(-1)
        x = np.asarray(evidence, np.float64)
        if len(records) != len(p) or len(x) != len(p):
            raise ValueError(f"{len(p)} rows but {len(records)} record ids and {len(x)} evidence rows")
        fire = np.zeros(len(p), bool)
        for r in np.unique(records):
            m = records == r
            fire[m] = self.fires(p[m], x[m])
        return drop_calls(p, fire, self._v)


class VFusion(VVeto):
    """Fusion beats against V (module docstring): on a record with at least ``min_called`` V calls outside AF, a V
    call outside AF less like the record's V-call template than ``corr``, at least ``median_corr`` like its median
    beat and narrower than ``width`` x the V calls' median width (``VVeto.reference_width``) becomes class ``to``
    (None: loses V to its next class). A sibling of the veto: its template, reference width and per-record loop,
    its own schema (``V_FUSION_KEYS``) and tests. Measured by ``experiments/mitdb/v_sensitivity.py`` (run v65)."""

    key, mask_key, before_key, mark, count_name = ("v_fusion", "beat_v_fused", "pre_v_fusion_beat_probabilities",
                                                   "v_fused", "V_calls_fused")
    rows_error = "a v_fusion rule is for per-beat rows (rows 'beat')"

    def __init__(self, min_called: int, corr: float, median_corr: float, width: float, to, label_names,
                 af_off=None, p_wave=None):
        labels = [str(n) for n in label_names]
        if V_CLASS not in labels:
            raise ValueError(f"a v_fusion rule needs a class {V_CLASS!r} among the labels {labels}")
        if _finite("v_fusion corr", corr, -1.0) > 1.0:
            raise ValueError(f"v_fusion corr is a correlation, at most 1, got {corr!r}")
        super().__init__(_min_called("v_fusion", min_called), float(corr), False, labels,
                         af_off=None if af_off is None else _af_off_entry("v_fusion", af_off))
        self.median_corr = _finite("v_fusion median_corr", median_corr, -1.0)
        if self.median_corr > 1.0:
            raise ValueError(f"v_fusion median_corr is a correlation, at most 1, got {median_corr!r}")
        self.width = _finite("v_fusion width", width)
        if not 0.0 < self.width <= 1.0:
            raise ValueError(f"v_fusion width is a ratio to the record's V-call width, in (0, 1], got {width!r}")
        if to is not None and (not isinstance(to, str) or to not in labels or to == V_CLASS):
            raise ValueError(f"v_fusion to must be null or a class among {labels} other than {V_CLASS!r}, got {to!r}")
        self.to = to
        self._to = None if to is None else labels.index(to)
        self.p_wave = None if p_wave is None else _finite("v_fusion p_wave", p_wave, -1.0)
        if self.p_wave is not None and self.p_wave > 1.0:
            raise ValueError(f"v_fusion p_wave is a correlation, at most 1, got {p_wave!r}")

    @classmethod
    def from_spec(cls, entry, label_names) -> "VFusion":
        """The spec's ``"v_fusion"`` object; ValueError for anything but ``V_FUSION_KEYS`` (all of them) and
        ``V_FUSION_OPTIONAL_KEYS`` with valid values."""
        entry = _spec_entry("v_fusion", entry, V_FUSION_KEYS, V_FUSION_OPTIONAL_KEYS)
        return cls(entry["min_called"], entry["corr"], entry["median_corr"], entry["width"], entry["to"], label_names,
                   af_off=entry.get("af_off"), p_wave=entry.get("p_wave"))

    def to_spec(self) -> dict:
        """The spec's ``"v_fusion"`` object (``af_off`` and ``p_wave`` only when set)."""
        return {"min_called": self.min_called, "corr": self.corr, "median_corr": self.median_corr,
                "width": self.width, "to": self.to, **({"af_off": dict(self.af_off)} if self.af_off else {}),
                **({"p_wave": self.p_wave} if self.p_wave is not None else {})}

    def fires(self, probabilities, beats, evidence) -> np.ndarray:
        """(n,) bool: the V calls of one record the rule takes for fusion beats (NaN evidence: none)."""
        p = np.asarray(probabilities, np.float64)
        x, b, outside_af = self._check(p, beats, evidence)
        corr_v = self.template_corr(p, beats, x)
        with np.errstate(invalid="ignore"):
            between = ((corr_v < self.corr) & (x[:, 0] >= self.median_corr)
                       & (x[:, 1] < self.width * self.reference_width(p, beats, x)))
            if self.p_wave is not None:   # a fusion beat keeps the sinus P wave at its PR interval; a PVC has none
                from ecgsl_keras.data.per_beat_features import centred_beats, p_wave_corr
                between &= p_wave_corr(centred_beats(b)) >= self.p_wave
            return (p.argmax(-1) == self._v) & outside_af & between

    def _act(self, p, fire) -> tuple:
        if self._to is None:
            return drop_calls(p, fire, self._v)
        p[fire, self._to] = p[fire].max(axis=1) * 1.001   # just above the row's largest: `to` wins, the rest keep order
        p[fire] /= p[fire].sum(axis=1, keepdims=True)
        return p, fire


# the S rescue's schema and evidence (run v57 of experiments/mitdb): the spec's "s_premature" object's keys, all of them,
# and optionally these; its per-beat evidence is pre RR / the record's average RR (per_beat_features.per_beat_features)
S_PREMATURE_KEYS = ("calls", "p_s", "premature")
S_PREMATURE_OPTIONAL_KEYS = ("af_off",)
S_PREMATURE_COLUMNS = ("pre_rr_norm",)


class SPremature(Rule):
    """The premature-beat S rescue (module docstring): a beat called one of ``calls`` (not S), whose S probability is
    at least ``p_s``, whose pre RR over its record's average RR is below ``premature`` and (with ``af_off``) whose AF
    evidence is not above the threshold becomes S (its S probability raised just above the row's largest, the row
    renormalised). The one place of its schema (``S_PREMATURE_KEYS``, ``from_spec``, ``to_spec``), evidence
    (``columns``: ``S_PREMATURE_COLUMNS``, then the AF-off feature when set) and rule (``fires``, ``apply``), served
    by ``serving.stacked`` and measured by ``experiments/mitdb/s_sensitivity.py`` (run v57)."""

    key, mask_key, before_key, mark, count_name = ("s_premature", "beat_s_rescued", "pre_s_premature_beat_probabilities",
                                                   "s_rescued", "beats_turned_S")
    rows_error = "an s_premature rule is for per-beat rows (rows 'beat')"

    def __init__(self, calls, p_s: float, premature: float, label_names, af_off=None):
        labels = [str(n) for n in label_names]
        if S_CLASS not in labels:
            raise ValueError(f"an s_premature rule needs a class {S_CLASS!r} among the labels {labels}")
        if (not isinstance(calls, (list, tuple)) or not calls or not all(isinstance(c, str) for c in calls)
                or len(set(calls)) != len(calls) or S_CLASS in calls or not set(calls) <= set(labels)):
            raise ValueError(f"s_premature calls must be a list of distinct classes among {labels} other than "
                             f"{S_CLASS!r}, got {calls!r}")
        self.calls = tuple(calls)
        self.p_s = _finite("s_premature p_s", p_s, 0.0)
        if self.p_s > 1.0:
            raise ValueError(f"s_premature p_s is a probability, at most 1, got {p_s!r}")
        self.premature = _finite("s_premature premature", premature, 0.0)
        self.af_off = None if af_off is None else _af_off_entry("s_premature", af_off)
        self.columns = S_PREMATURE_COLUMNS + ((self.af_off["feature"],) if self.af_off else ())
        self._s = labels.index(S_CLASS)
        self._calls = [labels.index(c) for c in self.calls]

    @classmethod
    def from_spec(cls, entry, label_names) -> "SPremature":
        """The spec's ``"s_premature"`` object; ValueError for anything but ``S_PREMATURE_KEYS`` (all of them) and
        ``S_PREMATURE_OPTIONAL_KEYS`` with valid values."""
        if (not isinstance(entry, dict) or not set(S_PREMATURE_KEYS) <= set(entry)
                or not set(entry) <= set(S_PREMATURE_KEYS + S_PREMATURE_OPTIONAL_KEYS)):
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"s_premature must be an object with keys {list(S_PREMATURE_KEYS)} (and optionally "
                             f"{list(S_PREMATURE_OPTIONAL_KEYS)}), got {keys}")
        return cls(entry["calls"], entry["p_s"], entry["premature"], label_names, af_off=entry.get("af_off"))

    def to_spec(self) -> dict:
        """The spec's ``"s_premature"`` object (``af_off`` only when set)."""
        return {"calls": list(self.calls), "p_s": self.p_s, "premature": self.premature,
                **({"af_off": dict(self.af_off)} if self.af_off else {})}

    def fires(self, probabilities, evidence) -> np.ndarray:
        """(n,) bool: the beats the rescue turns to S (NaN evidence: none; NaN AF evidence: no AF evidence)."""
        p = np.asarray(probabilities, np.float64)
        x = np.asarray(evidence, np.float64)
        if x.shape != (len(p), len(self.columns)):
            raise ValueError(f"s_premature evidence must be ({len(p)}, {len(self.columns)}) (columns "
                             f"{list(self.columns)}), got {x.shape}")
        with np.errstate(invalid="ignore"):
            fire = np.isin(p.argmax(-1), self._calls) & (p[:, self._s] >= self.p_s) & (x[:, 0] < self.premature)
            if self.af_off is not None:   # AAMI defines no S beat in atrial fibrillation (the rhythm gate's reason)
                fire &= ~(x[:, 1] > self.af_off["threshold"])
        return fire

    def serve(self, probabilities, evidence, **inputs) -> tuple:
        return self.apply(probabilities, evidence)

    def apply(self, probabilities, evidence) -> tuple:
        """(probabilities (n, C) float64, mask (n,) bool of the beats turned to S) of ``probabilities`` (n, C) and
        ``evidence`` (n, len(columns)): ``columns`` of the same beats (pre RR over the beat's record's average RR:
        each record's own, so rows of several records need no record ids)."""
        p = np.array(probabilities, np.float64, copy=True)
        fire = self.fires(p, evidence)
        p[fire, self._s] = p[fire].max(axis=1) * 1.001   # just above the row's largest: S wins, the rest keep order
        p[fire] /= p[fire].sum(axis=1, keepdims=True)
        return p, fire


# the post-booster rules in the order they are applied (as measured: experiments/mitdb/v_gate.py, v_sensitivity.py)
RULES = (Gate, VGate, VPause, VTemplate, VVeto, VTiming, VFusion, SPremature)
RULE_KEYS = tuple(rule.key for rule in RULES)   # their stacking.json keys


class StackedClassifier:
    """LightGBM multiclass booster over named columns: record features, then deep outputs."""

    def __init__(self, feature_names, deep_names, label_names, *, params: dict | None = None, seed: int = 42,
                 deep_source: dict | None = None, class_weight: str | None = "balanced",
                 combine: str = "stack", deep_weight: float = 0.5, rows: str = "record", gate=None, v_gate=None,
                 v_pause=None, v_template=None, v_veto=None, v_timing=None, v_fusion=None, s_premature=None):
        self.feature_names = [str(n) for n in feature_names]
        self.deep_names = [str(n) for n in deep_names]
        self.label_names = [str(n) for n in label_names]
        names = self.column_names
        if len(set(names)) != len(names):
            raise ConfigError("<stacking>", "bad_config", "column names must be unique")
        if len(self.label_names) < 2:
            raise ConfigError("<stacking>", "bad_config", "a classifier needs at least two labels")
        self.params = dict(DEFAULT_PARAMS if params is None else params)
        self.seed = int(seed)
        self.deep_source = dict(deep_source or {})
        if class_weight not in CLASS_WEIGHTS:
            raise ConfigError("<stacking>", "bad_config",
                              f"class_weight must be one of {CLASS_WEIGHTS}, got {class_weight!r}")
        self.class_weight = class_weight
        if combine not in COMBINE:
            raise ConfigError("<stacking>", "bad_config", f"combine must be one of {COMBINE}, got {combine!r}")
        if combine == "average":
            if not 0.0 <= float(deep_weight) <= 1.0:
                raise ConfigError("<stacking>", "bad_config", f"deep_weight must be in [0, 1], got {deep_weight}")
            if len(self.deep_names) != len(self.label_names):
                raise ConfigError("<stacking>", "bad_config", "averaging needs the deep model's class probabilities "
                                  f"({len(self.label_names)} columns), got {len(self.deep_names)} deep columns")
        self.combine = combine
        self.deep_weight = float(deep_weight)
        if rows not in ROWS:
            raise ConfigError("<stacking>", "bad_config", f"rows must be one of {ROWS}, got {rows!r}")
        self.rows = rows
        given = {"gate": gate, "v_gate": v_gate, "v_pause": v_pause, "v_template": v_template, "v_veto": v_veto,
                 "v_timing": v_timing, "v_fusion": v_fusion, "s_premature": s_premature}
        for kind in RULES:   # each rule an instance, its spec entry or None (attributes gate, v_gate, ...)
            entry = given[kind.key]
            try:
                rule = (None if entry is None else entry if isinstance(entry, kind)
                        else kind.from_spec(entry, self.label_names))
            except ValueError as exc:
                raise ConfigError("<stacking>", "bad_config", str(exc)) from None
            if rule is not None and (rows != "beat" or (kind.average_only and combine != "average")):
                raise ConfigError("<stacking>", "bad_config", kind.rows_error)
            setattr(self, kind.key, rule)
        self.booster = None

    @property
    def rules(self) -> list:
        """The model's post-booster rules (``Rule``), in the order they are applied (``RULES``)."""
        return [rule for rule in (getattr(self, kind.key) for kind in RULES) if rule is not None]

    @property
    def booster_columns(self) -> int:
        """Columns the booster itself takes: all of them when stacking, the record features when averaging."""
        return len(self.feature_names) if self.combine == "average" else self.n_columns

    @property
    def column_names(self) -> list:
        return self.feature_names + self.deep_names

    @property
    def n_columns(self) -> int:
        return len(self.feature_names) + len(self.deep_names)

    def _check_X(self, X) -> np.ndarray:
        X = np.asarray(X, np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_columns:
            raise ValueError(f"X must be (n, {self.n_columns}) ({len(self.feature_names)} features + "
                             f"{len(self.deep_names)} deep outputs), got {X.shape}")
        return X

    def _lgb_params(self) -> dict:
        params = {k: v for k, v in self.params.items() if k != "num_boost_round"}
        params.update(objective="multiclass", num_class=len(self.label_names), seed=self.seed,
                      deterministic=True, num_threads=int(self.params.get("num_threads", 1)), verbose=-1,
                      use_missing=True)
        return params

    def sample_weight(self, y) -> np.ndarray | None:
        """Balanced class weights ``n / (classes present * n_c)`` per example (``class_weight="balanced"``),
        their square root (``"sqrt_balanced"``), or None."""
        if self.class_weight is None:
            return None
        y = np.asarray(y, int)
        counts = np.bincount(y, minlength=len(self.label_names)).astype(np.float64)
        present = counts > 0
        table = np.zeros_like(counts)
        table[present] = len(y) / (present.sum() * counts[present])
        if self.class_weight == "sqrt_balanced":
            table = np.sqrt(table)
        return table[y]

    def fit(self, X, y, *, sample_weight=None) -> "StackedClassifier":
        """Fit on ``X`` (n, columns) and integer labels ``y`` (n,) in ``0..C-1``."""
        lgb = _lightgbm()
        X, y = self._check_X(X), np.asarray(y, int).reshape(-1)
        if len(y) != len(X):
            raise ValueError(f"{len(X)} rows but {len(y)} labels")
        if y.min() < 0 or y.max() >= len(self.label_names):
            raise ValueError(f"labels must be in 0..{len(self.label_names) - 1}")
        weight = self.sample_weight(y) if sample_weight is None else np.asarray(sample_weight, np.float64)
        data = lgb.Dataset(X[:, :self.booster_columns], label=y, weight=weight, feature_name=self._lgb_feature_names(), free_raw_data=True)
        self.booster = lgb.train(self._lgb_params(), data, num_boost_round=int(self.params.get("num_boost_round", 400)))
        return self

    def _lgb_feature_names(self) -> list:
        # LightGBM refuses some characters in feature names; the spec keeps the real names.
        return [f"c{i}" for i in range(self.booster_columns)]

    def predict_proba(self, X, evidence=None, *, beats=None, apply_gate: bool = True) -> np.ndarray:
        """(n, C) probabilities of ``X``: the booster's, or its average with the deep columns; then each of the
        model's ``rules`` in ``RULES``' order (``apply_rules``) on ``evidence``, a mapping ``{rule key: array}``
        (the ``stacking.json`` keys: ``"gate"`` (n,) values of ``gate.feature``; ``"v_gate"``, ``"v_pause"``,
        ``"v_template"``, ``"v_veto"``, ``"v_timing"``, ``"v_fusion"``, ``"s_premature"`` (n, k) the rule's
        ``columns``), and ``beats`` ((n, samples) the beats' own samples, ``signal.own_beats``) for the rules that need
        them (``v_template``, ``v_veto``, ``v_fusion``). The
        ``v_gate`` also takes the deep P(V) of ``X``'s deep columns; the V rules after it and the S rescue take the
        rows as one record. The evidence of each rule the model has is required unless ``apply_gate`` is False,
        which gives the probabilities before every rule."""
        if self.booster is None:
            raise ConfigError("<stacking>", "bad_model", "the booster is not fitted or loaded")
        X = self._check_X(X)
        boosted = np.asarray(self.booster.predict(X[:, :self.booster_columns]), np.float64)
        boosted = boosted.reshape(len(X), len(self.label_names))
        if self.combine == "average":
            boosted = (1.0 - self.deep_weight) * boosted + self.deep_weight * X[:, len(self.feature_names):]
        if not apply_gate:
            return boosted
        return self.apply_rules(boosted, X, evidence, beats=beats)[0]

    def apply_rules(self, probabilities, X, evidence=None, *, beats=None) -> tuple:
        """(probabilities (n, C) after the model's ``rules`` in ``RULES``' order, [(rule, the probabilities before it,
        (n,) bool mask of the rows it changed)] in that order) of ``probabilities`` (n, C) (``predict_proba``'s with
        ``apply_gate=False``) of the rows ``X``, their ``evidence`` and ``beats`` (``predict_proba``'s). The one loop
        of the rules for ``predict_proba`` and serving (``serving.stacked``, which reports each rule's mask).
        ValueError with the rule's message when its evidence (or an input it needs) is missing, and for an evidence
        key the model has no rule for (a typo must not serve without the rule)."""
        from collections.abc import Mapping

        evidence = {} if evidence is None else evidence
        keys = [rule.key for rule in self.rules]
        if not isinstance(evidence, Mapping):
            raise TypeError(f"evidence must be a mapping {{rule key: array}} of this model's rules {keys}, "
                            f"got {type(evidence).__name__}")
        unknown = sorted(set(evidence) - set(keys))
        if unknown:
            raise ValueError(f"evidence for {unknown}: this model has no such rule (its rules: {keys}; the rule keys: "
                             f"{list(RULE_KEYS)})")
        inputs = {"deep_v": lambda: self.deep_v(X), "beats": lambda: beats}
        steps = []
        for rule in self.rules:
            needed = {} if evidence.get(rule.key) is None else {name: inputs[name]() for name in rule.needs}
            if evidence.get(rule.key) is None or any(value is None for value in needed.values()):
                raise ValueError(rule.missing_evidence())
            changed, mask = rule.serve(probabilities, evidence[rule.key], **needed)
            steps.append((rule, probabilities, mask))
            probabilities = changed
        return probabilities, steps

    def deep_v(self, X) -> np.ndarray:
        """(n,) the deep model's P(V) of ``X`` (its deep column ``p_V``): the V gate's agreement evidence."""
        name = probability_names([V_CLASS])[0]
        if name not in self.deep_names:
            raise ValueError(f"no deep column {name!r} among {self.deep_names}")
        return np.asarray(X, np.float64)[:, len(self.feature_names) + self.deep_names.index(name)]

    def predict(self, X) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=-1)

    # --- files --------------------------------------------------------------------------------------

    def spec(self) -> dict:
        from ecgsl_keras._version import __version__

        lgb_version = None
        try:
            lgb_version = _lightgbm().__version__
        except Exception:  # noqa: BLE001  (the spec is still useful without it)
            pass
        return {"spec_version": SPEC_VERSION, "kind": "ecgsl_stacking", "booster_file": BOOSTER_NAME,
                "booster_format": "lightgbm_text", "feature_names": self.feature_names,
                "deep_names": self.deep_names, "deep_source": self.deep_source, "label_names": self.label_names,
                "nan_policy": NAN_POLICY, "params": self.params, "seed": self.seed,
                "class_weight": self.class_weight, "combine": self.combine, "deep_weight": self.deep_weight,
                "rows": self.rows, "package_version": __version__,
                "lightgbm_version": lgb_version, **{rule.key: rule.to_spec() for rule in self.rules}}

    def save(self, folder) -> Path:
        """Write ``booster.txt`` (``Booster.save_model``, text) and ``stacking.json`` into ``folder``."""
        if self.booster is None:
            raise ConfigError("<stacking>", "bad_model", "nothing to save: the booster is not fitted")
        folder = Path(folder)
        booster = folder / BOOSTER_NAME
        with atomic_path(booster) as tmp:
            self.booster.save_model(str(tmp))
        spec = self.spec()
        spec["booster_sha256"] = hashlib.sha256(booster.read_bytes()).hexdigest()
        write_text_atomic(folder / SPEC_NAME, json.dumps(spec, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder) -> "StackedClassifier":
        """Read ``stacking.json`` and the booster it names (``booster.txt``, or ``booster.txt.gz``: the same text
        gzip-compressed) of ``folder``; ``ConfigError`` naming the file that is
        missing or corrupt (unreadable JSON, wrong checksum, not a LightGBM model, wrong shape)."""
        folder = Path(folder)
        spec_path = folder / SPEC_NAME
        if not spec_path.is_file():
            raise ConfigError(spec_path, "missing_file", "stacking spec not found")
        try:
            spec = json.loads(spec_path.read_text(encoding="utf-8"))
            if not isinstance(spec, dict) or spec.get("kind") != "ecgsl_stacking":
                raise ValueError("not an ecgsl stacking spec")
            clf = cls(spec["feature_names"], spec["deep_names"], spec["label_names"], params=spec.get("params"),
                      seed=spec.get("seed", 42), deep_source=spec.get("deep_source"),
                      class_weight=spec.get("class_weight"), combine=spec.get("combine", "stack"),
                      deep_weight=spec.get("deep_weight", 0.5), rows=spec.get("rows", "record"),
                      **{key: spec.get(key) for key in RULE_KEYS})
            if spec.get("nan_policy", NAN_POLICY) != NAN_POLICY:
                raise ValueError(f"unknown nan_policy {spec.get('nan_policy')!r}")
        except ConfigError as exc:
            raise ConfigError(spec_path, "bad_config", str(exc).split(": ", 1)[-1]) from None
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ConfigError(spec_path, "bad_config", f"corrupt stacking spec ({exc})") from None
        booster_path = folder / spec.get("booster_file", BOOSTER_NAME)
        if not booster_path.is_file():
            raise ConfigError(booster_path, "missing_file", "booster file not found")
        expected = spec.get("booster_sha256")
        if expected and hashlib.sha256(booster_path.read_bytes()).hexdigest() != expected:
            raise ConfigError(booster_path, "bad_model", f"booster file is corrupt (sha256 differs from {SPEC_NAME})")
        lgb = _lightgbm()
        try:
            if booster_path.suffix == ".gz":   # a shipped preset keeps the same text gzip-compressed (~2.4x smaller)
                booster = lgb.Booster(model_str=gzip.decompress(booster_path.read_bytes()).decode("utf-8"))
            else:
                booster = lgb.Booster(model_file=str(booster_path))
        except Exception as exc:  # noqa: BLE001  (LightGBMError, gzip's OSError/EOFError and friends)
            raise ConfigError(booster_path, "bad_model", f"cannot read the LightGBM booster ({exc})") from None
        if booster.num_feature() != clf.booster_columns:
            raise ConfigError(booster_path, "bad_model", f"booster takes {booster.num_feature()} columns, "
                              f"{SPEC_NAME} names {clf.booster_columns}")
        clf.booster = booster
        return clf

    @staticmethod
    def is_stacked(folder) -> bool:
        return (Path(folder) / SPEC_NAME).is_file()


def choose_params(X, y, grid, *, folds: int = 3, seed: int = 42, make=None) -> tuple[dict, list]:
    """The ``grid`` entry with the best mean macro F1 in stratified ``folds``-fold CV on (X, y) (the
    training split only); returns (params, [{"params", "cv_macro_f1", "cv_sd"}, ...])."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y, int)
    scores = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(seed))
    for params in grid:
        fold_scores = []
        for tr, te in splitter.split(X, y):
            clf = make(params).fit(X[tr], y[tr])
            fold_scores.append(f1_score(y[te], clf.predict(X[te]), average="macro"))
        scores.append({"params": dict(params), "cv_macro_f1": float(np.mean(fold_scores)),
                       "cv_sd": float(np.std(fold_scores))})
    best = max(range(len(scores)), key=lambda i: scores[i]["cv_macro_f1"])
    return dict(grid[best]), scores
