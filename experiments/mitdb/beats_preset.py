"""Retrain ``mitdb-beats`` (issue 18, deliverable 3) as a per-beat hybrid on ONE lead: the ECG-SL per-beat model's
probabilities averaged with a shallow LightGBM booster over per-beat features of lead MLII.

    python experiments/mitdb/run.py --work WORK --steps data cv --variants scratch_focal   # folds + ECG-SL
    python experiments/mitdb/beats_preset.py --work WORK [--out-root DIR]       # table folds build
    python experiments/mitdb/beats_preset.py --work WORK --steps table build check   # rebuild (gate) + sanity check
    python experiments/mitdb/beats_preset.py --work WORK --steps tried    # the sets tried and not kept
    python experiments/mitdb/run.py --work WORK_K --folds K --steps data cv inner --variants scratch_focal
    python experiments/mitdb/beats_preset.py --work WORK_K --folds K --steps table folds per_record   # key folds_kK
    python experiments/mitdb/beats_preset.py --work WORK [--folds K] --steps table rhythm   # key rhythm_gate[_kK]
    python experiments/mitdb/beats_preset.py --work WORK [--folds K] --steps table export   # commit the probabilities
    python experiments/mitdb/beats_preset.py --work ANY --from-committed --steps table rhythm ...   # no run.py needed

Steps (``--steps`` picks some; the per-beat rows are cached in WORK/beats_preset):

``table``  every labelled beat of the 22 DS1 records, read through the package's reader on MLII, preprocessed by
           the preset's own ``Predictor.preprocess``, its columns by ``per_beat_features.beat_feature_columns``
           (exactly what ``serving.stacked`` computes at prediction time), labelled by ``prepare.match_beat_labels``
           (150 ms), with its R-peak time. A cached table of an older ``TABLE_VERSION`` whose columns are all still
           wanted is extended: only the new columns are computed (the beats checked to be the same ones).
``folds``  per DS1 fold of whole records (``run.py``'s ``folds.json``), each model trained on the OTHER fold, every
           beat scored once (pooled): ECG-SL alone (``run.py``'s left-out predictions: its folds were prepared
           with an earlier R-peak detector, so each beat of the table takes the prediction of the prepared beat
           within 150 ms, and the few without one are left out of every row), and for each column set of
           ``column_sets()`` the booster alone and its plain mean with ECG-SL, booster seeds 42-44.
           ``beat``: ``hybrid.py``'s ``linear`` columns (RR divided by the record's average RR, shape against the
           record's median beat) + the RR context (``per_beat_features.RR_CONTEXT_FEATURE_NAMES``); ``window``:
           the same + the AF evidence of the 30 s window holding the beat (``WINDOW_FEATURE_NAMES``). The booster
           is the two-lead rows' shallow one (``hybrid.TWO_LEAD_PARAMS``). No second lead: the preset reads one
           lead, as the ECG-SL model does.
           Choices, each on the training fold alone, by the inner split of ``run.inner_groups`` (two groups of its
           records, macro F1 over N, S, V, F): the column set (the booster trained on one group, scored on the
           other), then the deep weight of the average among ``DEEP_WEIGHTS`` (with ``run.py --steps inner``'s
           ECG-SL models, trained on one group and scored on the other) together with the booster's size among
           ``BOOSTER_SIZES``: row ``chosen_weighted``. No scored beat
           takes part in any choice.
``tried``  the ``folds`` step again with the column sets measured and not kept as candidates
           (``column_sets(tried=True)``): ``window_population`` = ``window`` + the morphology population of each
           beat in its record (``per_beat_features.POPULATION_FEATURE_NAMES``: how many of the beats within
           +-150 s share its shape, its RR against the beats of its own shape and of the record's dominant
           shape). The inner CV chose it on one training fold only and it lowered the pooled left-out macro F1,
           so ``folds`` and ``build`` leave it out; results under ``folds_with_population``.
``per_record`` the ``folds`` step's models again, keeping per left-out record the S and V beats and the errors of
           ``PER_RECORD_ROWS`` (ECG-SL alone, the ``window`` booster and the recipe, booster seed 42), and their S/V
           figures pooled without the atrial-fibrillation records (``af_records``); key ``per_record[_k<K>]``.
``rhythm`` rhythm-gated ectopy (key ``rhythm_gate[_kK]``): (a) the ``folds`` step with two more candidate sets,
           ``beat_rhythm`` / ``window_rhythm`` = ``beat`` / ``window`` + the local rhythm of each beat from the
           R-peak series alone (``per_beat_features.RHYTHM_FEATURE_NAMES``: normalised RMSSD, pNN50, robust
           spread and Lorenz-plot cells of the 8 + 8 RR intervals around the beat with its own two left out, its
           pre / post RR against their median); (b) the recipe's probabilities through ``rhythm_gate``: where the
           beat's AF evidence (``--gate-feature``, default ``GATE_FEATURE`` = ``rhythm_rmssd_norm``, fixed before
           any figure) exceeds a threshold, its S probability moves to N (AAMI: beats in fibrillation are N). The
           threshold (no gate, or one of ``GATE_QUANTILES`` of the evidence over the training beats) is chosen by
           each training fold's inner CV on the recipe's inner probabilities, as the set, size and weight are;
           with several ``--gate-feature`` the inner CV also chooses the evidence. Both on the shipped candidate
           sets (``shipped_sets``, whose ungated row reproduces the ``folds`` key) and on the rhythm ones
           (``rhythm_sets``; ``--gate-sets shipped`` leaves them out); per-record errors of ``RHYTHM_ROWS``.
           Variants tried (RESULTS.md): ``--s-scales`` (an S scale of the beats not gated, chosen with the
           threshold), ``--gate-spare-z`` (beats premature against their own neighbours never gated) and
           ``--gate-from-rhythm-labels`` (the evidence and threshold fitted to the training records' atrial
           fibrillation / flutter annotations, ROC AUC and Youden J, instead of the inner CV; ``af_flags``).
``build``  the booster of the set both folds chose, on every DS1 beat (balanced weights capped at 20, seed 42),
           re-specified as ``combine="average"``, ``rows="beat"`` over the ECG-SL model of the current preset, its
           booster size and deep weight those of the best inner macro F1 summed over both training folds
           (``size_and_weight_of``), the rhythm gate (``--build-gate rhythm_labels``, the default; ``none``: no
           gate) fitted as the folds' ``--gate-from-rhythm-labels`` gates were, on every DS1 beat (``fit_build_gate``:
           the evidence among ``RHYTHM_LABEL_GATE_CANDIDATES`` of the largest ROC AUC for the beats under an AF /
           flutter annotation, its threshold by Youden J; written into ``stacking.json``'s ``gate``, key
           ``build.gate``; the card's left-out figures with and without it from key ``GATE_KEY``), and the preset
           built with ``ecgsl presets build``'s code (``training.publish.build``).
           The relative build (run s33, the shipped preset since): ``--deep-run RUN --recipe-from JSON --v-gate``,
           below.
``export`` (run s36, key ``committed_oof[_kK]``) WORK's ECG-SL left-out and inner probabilities, matched to the table as
           ``folds`` matches them, written to ``oof/left_out_k<K>.npz`` (``oof.py``; ``--export-to``), float16 when
           the recipe's figures and choices from the file equal WORK's to 3 decimals, else float32; with the shipped
           recipe and gate from both, and its difference to the committed key ``rhythm_gate[_kK]_rhythm_labels``
           (made from earlier runs: the reproduction check). ``--from-committed [NPZ]`` then reads those
           probabilities instead of WORK's runs for every other step (WORK only caches the table; its folds.json is
           written from the file), so no lever needs run.py's work folder.
``check``  the built preset through ``ecgsl evaluate --model mitdb-beats --dataset mitdb --data-dir MITDB_DIR``'s code
           (key ``build_check``, with the predictions the gate changed): on DS1 a sanity check, not left-out figures.

``--folds K`` (K > 2; WORK from ``run.py --folds K``): the ``folds`` and ``tried`` steps over K folds of whole records,
each fold's models (ECG-SL, boosters, the inner split and choices) on the union of the other K - 1 folds; results
under ``folds_k<K>`` / ``folds_with_population_k<K>`` / ``per_record_k<K>`` (``..._k<K>_af`` for folds made with
``run.py --balance-af``; with their own command and seconds), never replacing the 2-fold keys. ``build`` stays the
2-fold protocol's (``folds_k<K>.build_would_take``: what ``size_and_weight_of`` would take from those folds).

The relative build (run s33; issue 18's "ship what was kept": v37's beat-minus-median ECG-SL and v40's V gate):

    python experiments/mitdb/run.py --work WORK --steps final --variants scratch_focal --beat-reference median
    python experiments/mitdb/beats_preset.py --work WORK --steps table build check \
        --deep-run WORK/final_scratch_focal --recipe-from experiments/mitdb/oof/export_k2_median.json --v-gate v_gate_build

(WORK: v37's ``run.py --beat-reference median`` work folder, or one holding its ``folds.json``,
``experiment_config.json`` and ``scratch_focal_heldout*/left_out_predictions.npz``; the --recipe-from file: v37's ``--steps
export --out``, committed as ``experiments/mitdb/oof/export_k2_median.json``, whose
``committed_oof.from_file.chosen_by_inner_cv`` are key ``relative_beats``' choices with their inner figures.) What was measured, and so what is shipped: ``v_gate.py``'s ``median`` candidate (runs v38-v40, key
``v_gate_local``) reads ONE ECG-SL, the relative model's left-out probabilities (``oof/left_out_k2_median.npz``):
they are both the recipe's deep side (``run_candidate``: ``(1 - w) * booster + w * part["p_deep"]``, rhythm-gated)
and the V gate's P(V) (``part["p_deep"][:, V]``); the inner choices of the set, booster size and deep weight were
made with the relative inner models (key ``relative_beats``). So the preset ships one deep model, the relative
ECG-SL retrained on all of DS1 (``--deep-run``), no second one-channel model: its probabilities are averaged with
the booster AND are the V gate's P(V), as measured. The set, size and weight come from those choices
(``size_and_weight_of`` over ``--recipe-from``; here ``window``, ``leaves15``, 0.25, as the committed recipe's, so
the booster is the same model refitted), the rhythm gate from ``fit_build_gate`` (it does not read the deep side).
The V gate's thresholds: ``v_gate.BUILD_RULE`` (fixed before any figure of its choice; key ``v_gate_build``), v40's
grid and v38's rule on all of DS1's inner groups (the inner-4 models of both outer training folds, 8 groups); when
the rule refuses, ``stacking.json`` has no ``v_gate`` and the served recipe is v37's (left out equivalent to the
committed recipe: key ``relative_beats``, paired V +P -0.0004). Outcome (run s33): refused (the best point raised
the pooled inner macro F1 but lowered 3 of the 8 groups), so the preset serves v37's recipe, and the card shows
v40's row as measured, not served. The card's left-out figures come from keys ``v_gate_local`` and
``relative_beats`` (``relative_card``). The beat-minus-median input is computed by the Python preprocessing;
``export --edge`` refuses it (``mitdb-beats`` is no edge preset). Replaced only if ``check`` is sane: no crash,
DS1 (training) macro F1, V +P and S Se each not lower than the previous preset's by more than 0.005 (fixed before
the check), plausible gate changes.

``--v-pause`` (session s34): the build also ships key ``v_pause_build``'s ``v_pause`` entry (``v_sensitivity.py
--steps pause_build``: ``PAUSE_BUILD_RULE``, v48's choice rule over DS1's 8 inner groups), the full-compensatory-pause
rule (``modeling.stacking.VPause``) served last. Rebuilt in s34 with the s33 command plus ``--v-pause`` on a copy of
its work folder: ``model.keras`` and ``booster.txt.gz`` byte-identical, ``v_pause`` with ``min_fires`` 40, DS1 check
unchanged (the rule turns no training beat).

``--v-template`` (session s35): the build also ships the within-record V template vote (``modeling.stacking.VTemplate``,
served after the pause rule), the entry of key ``v_template_served_left_out`` of ``v_sensitivity_results.json``
(``v_sensitivity.py --steps template_served``: ``TEMPLATE_BUILD_RULE``'s entry, shipped only when
``TEMPLATE_SHIP_RULE`` said ship; the build refuses otherwise). Rebuilt in s35 with s34's command plus
``--v-template`` on a copy of its work folder: ``model.keras`` and ``booster.txt.gz`` byte-identical, DS1 check
unchanged (the vote turns no training beat).

``--v-gate`` (session s39; before it ``--v-gate`` meant ``--v-gate v_gate_build``, v40's gate, refused by its build
rule): the build ships run v55b's narrow V gate, the ``v_gate`` entry of key ``v_narrow_gate_served_left_out`` of
``v_sensitivity_results.json`` (``v_sensitivity.py --steps narrow_gate_served``: ``NARROW_BUILD_RULE``'s entry, only
when ``NARROW_SHIP_RULE`` said ship, measured on the template vote's served rows, so it needs ``--v-pause
--v-template``; ``narrow_gate_entry``); the card's first row is that key's served left-out figure. Not blind: v55b's
choice rule was written after run v55's left-out figures; DS2, held by the issue's owner, checks the shipped preset.
It also refuses unless ``ship_check_results.json``'s ``narrow_gate_s39`` (``narrow_gate_ship.py``: the ship test
recomputed from the committed files) says the test passes. ``--rules-only`` (s39) rebuilds from the committed files,
without the training run's folder: the preset's ``model.keras``, ``config.json``, ``signal_config.json`` and
``booster.txt.gz`` shipped as they are (refitted today, the booster differs from the shipped one in 31 split
thresholds of 30 of its 750 trees, by at most 3e-16 relative: its features were computed by older code). Shipped in s39
(``mitdb-beats`` since: only ``stacking.json``'s ``v_gate``, the card and the metadata changed; DS1 check: 3 V calls to
N); with ``--v-gate v_gate_build`` instead, the same command rebuilds the s35 preset byte for byte but for the
creation time:

    python experiments/mitdb/v_gate.py --work WORK --candidate experiments/mitdb/oof/left_out_k2_median.npz --local
    python experiments/mitdb/beats_preset.py --work WORK --from-committed experiments/mitdb/oof/left_out_k2_median.npz \
        --steps table build check --rules-only --recipe-from experiments/mitdb/oof/export_k2_median.json \
        --v-gate --v-pause --v-template --previous-check BEFORE.json

(BEFORE.json: the committed results before the build, for ``build_check.against_previous``.)

Results: ``beats_preset_results.json`` beside this file; the last line of stdout is one JSON object.
"""
from __future__ import annotations

import argparse
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

from hybrid import (BOOSTER_SEEDS, CLASSES, LINEAR_FEATURES, TARGETS, TWO_LEAD_PARAMS,  # noqa: E402
                    WEIGHT_CAP)
from run import af_beats, inner_groups, n_folds_of, training_data, training_records  # noqa: E402
import oof  # noqa: E402

log = logging.getLogger("experiments.mitdb.beats_preset")

STEPS = ("table", "folds", "build", "tried", "per_record", "rhythm", "check", "export")
EXPORT = "committed_oof"          # the results key of the ``export`` step
# --from-committed: an ``oof.CommittedPredictions`` that gives every ECG-SL probability instead of WORK's runs
COMMITTED = None
TRIED = "folds_with_population"   # the results key of the ``tried`` step
RHYTHM = "rhythm_gate"            # the results key of the ``rhythm`` step
GATE_FEATURE = "rhythm_rmssd_norm"   # the AF evidence of the rhythm gate (fixed before any figure)
# candidate thresholds of the gate: these quantiles of GATE_FEATURE over the training fold's beats (and no gate)
GATE_QUANTILES = (0.5, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99)
# the evidence candidates of the gate fitted to the rhythm annotations (--gate-from-rhythm-labels, run mitdb29) and
# of the shipped gate (``build``): the one of the largest training ROC AUC for the beats in AF / flutter
RHYTHM_LABEL_GATE_CANDIDATES = ("rhythm_rmssd_norm", "rhythm_mad_norm", "rhythm_pnn50", "rhythm_lorenz_cells",
                                "window_af_afev")
GATE_KEY = RHYTHM + "_rhythm_labels"   # the left-out figures of the shipped gate (2 folds), for the card
V_GATE_BUILD_KEY = "v_gate_build"      # v_gate.py --build: the V agreement gate chosen for the build (BUILD_RULE)
V_PAUSE_BUILD_KEY = "v_pause_build"    # v_sensitivity.py --steps pause_build: the pause rule's N (PAUSE_BUILD_RULE)
# v_sensitivity.py --steps template_served (its TEMPLATE_SERVED_KEY, in v_sensitivity_results.json): the template vote's
# entry and TEMPLATE_SHIP_RULE's decision
V_TEMPLATE_SHIP_KEY = "v_template_served_left_out"
# v_sensitivity.py --steps narrow_gate_served (its NARROW_SERVED_KEY): run v55b's narrow V gate, NARROW_BUILD_RULE's entry
# and NARROW_SHIP_RULE's decision; shipped since session s39 (``--v-gate`` alone; narrow_gate_entry)
V_NARROW_SHIP_KEY = "v_narrow_gate_served_left_out"
# ``--v-gate KEY``: the results key whose ``v_gate`` entry the build ships, and the file that holds it (beside this
# script); the first is the default (what mitdb-beats ships), V_GATE_BUILD_KEY rebuilds run s33's to s35's preset
V_GATE_SOURCES = {V_NARROW_SHIP_KEY: "v_sensitivity_results.json", V_GATE_BUILD_KEY: "beats_preset_results.json"}
# narrow_gate_ship.py (session s39): V_NARROW_SHIP_KEY's ship test recomputed from the committed files
SHIP_CHECK, SHIP_CHECK_KEY = HERE / "ship_check_results.json", "narrow_gate_s39"
PRESET = "mitdb-beats"
DEEP_WEIGHT = 0.5           # the plain mean, as cinc2017 ships: the rows fixed before the inner ECG-SL models
DEEP_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)   # candidates of the deep weight chosen on the training folds
# booster sizes chosen with the deep weight on the training folds (changes to hybrid.TWO_LEAD_PARAMS)
BOOSTER_SIZES = {"shallow": {}, "leaves8": {"num_leaves": 8, "min_data_in_leaf": 200},
                 "leaves15": {"num_leaves": 15, "min_data_in_leaf": 100}}
SEED = 42
TABLE_VERSION = 5           # the cached table's columns: bump when COLUMN_SETS change
MATCH_S = 0.15              # a beat of the table and a beat of run.py's prepared folds are one beat within 150 ms


def column_sets(tried: bool = False, rhythm: bool = False) -> dict:
    """The column sets the inner CV chooses between; ``tried``: also the sets measured and not kept (``TRIED``);
    ``rhythm``: also the sets with the local rhythm of each beat (``per_beat_features.RHYTHM_FEATURE_NAMES``,
    the ``rhythm`` step)."""
    from ecgsl_keras.data.per_beat_features import (POPULATION_FEATURE_NAMES, RHYTHM_FEATURE_NAMES,
                                                     RR_CONTEXT_FEATURE_NAMES, WINDOW_FEATURE_NAMES)

    beat = list(LINEAR_FEATURES) + list(RR_CONTEXT_FEATURE_NAMES)
    window = beat + list(WINDOW_FEATURE_NAMES)
    sets = {"beat": beat, "window": window}
    if tried:
        sets["window_population"] = window + list(POPULATION_FEATURE_NAMES)
    if rhythm:
        sets["beat_rhythm"] = beat + list(RHYTHM_FEATURE_NAMES)
        sets["window_rhythm"] = window + list(RHYTHM_FEATURE_NAMES)
    return sets


def all_columns() -> list:
    return list(dict.fromkeys(c for cols in column_sets(tried=True, rhythm=True).values() for c in cols))


def _booster(X, y, names, labels, seed, size="shallow"):
    from ecgsl_keras.modeling.stacking import StackedClassifier

    clf = StackedClassifier(names, [], labels, params=dict(TWO_LEAD_PARAMS, num_threads=1, **BOOSTER_SIZES[size]),
                            seed=seed)
    return clf.fit(X, y, sample_weight=np.minimum(clf.sample_weight(y), WEIGHT_CAP))


def _macro_nsvf(y, p, labels) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, p.argmax(-1), labels=[labels.index(c) for c in CLASSES], average="macro",
                          zero_division=0))


def _scores(y, p, labels) -> dict:
    from sklearn.metrics import f1_score

    from ecgsl_keras.evaluation import metrics as metrics_lib

    m = metrics_lib.per_beat_metrics(y, p, labels)
    flat = {"accuracy": m["accuracy"], "beats": int(len(y)), "macro_f1_nsvf": _macro_nsvf(y, p, labels)}
    for c in CLASSES:
        flat[f"{c}_sensitivity"] = (m.get("sensitivity") or {}).get(c)
        flat[f"{c}_positive_predictivity"] = (m.get("positive_predictivity") or {}).get(c)
    flat["f1"] = {c: float(f1_score(y, p.argmax(-1), labels=[labels.index(c)], average="macro", zero_division=0))
                  for c in ("S", "V")}
    flat["distance_to_targets"] = {k: round(flat[k] - v, 4) for k, v in TARGETS.items() if flat.get(k) is not None}
    return flat


def step_table(work: Path, mitdb_dir: Path) -> dict:
    """Every labelled DS1 beat through the serving path (cached in WORK/beats_preset/table.npz)."""
    from ecgsl_keras import tasks as tasks_lib
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.prepare import match_beat_labels
    from ecgsl_keras.data.signal import own_beats
    from ecgsl_keras.serving.inference import load_model
    from tfrecords_tools.schema import IGNORE_LABEL

    path = work / "beats_preset" / "table.npz"
    cached = dict(np.load(path)) if path.is_file() else None
    if cached is not None and int(cached.get("version", 0)) == TABLE_VERSION:
        return cached
    have = [str(c) for c in cached["columns"]] if cached is not None else []
    # an older table whose columns are all still wanted: only the new columns are computed and appended
    extend = bool(have) and set(have) <= set(all_columns())
    names = [c for c in all_columns() if c not in have] if extend else all_columns()
    predictor = load_model(PRESET)
    reader = open_dataset("mitdb", mitdb_dir, lead=predictor.lead, records=list(tasks_lib.MITDB_DS1))
    X, y, rec, times = [], [], [], []
    for rid in tasks_lib.MITDB_DS1:
        t0 = time.perf_counter()
        record = reader.load(rid)
        signal = record.lead(None)
        beats = predictor.preprocess(signal, record.fs, record.path)
        target = match_beat_labels(beats.rpeaks_native, record.beat_annotations, predictor.task, record.fs)
        x = beat_feature_columns(own_beats(beats.beats, predictor.config.signal), beats.rr,
                                 beats.rpeaks / float(beats.fs), names,
                                 signal=signal, fs=record.fs, rpeaks_native=beats.rpeaks_native,
                                 config=predictor.config.signal)
        keep = target != IGNORE_LABEL
        X.append(x[keep])
        y.append(target[keep])
        rec.extend([rid] * int(keep.sum()))
        times.append(np.asarray(beats.rpeaks, np.float64)[keep] / float(beats.fs))
        log.info("%s: %d labelled beats, %.1f s", rid, int(keep.sum()), time.perf_counter() - t0)
    table = {"X": np.concatenate(X), "y": np.concatenate(y), "record": np.array(rec), "time_s": np.concatenate(times),
             "columns": np.array(names), "version": np.array(TABLE_VERSION)}
    if extend:
        same = (np.array_equal(table["record"], cached["record"]) and np.array_equal(table["y"], cached["y"])
                and np.allclose(table["time_s"], cached["time_s"]))
        if not same:
            raise SystemExit(f"{path}: the cached beats are not the beats read now; remove the table to rebuild it")
        table["X"] = np.concatenate([cached["X"], table["X"]], axis=1)
        table["columns"] = np.array(have + names)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **table)
    return table


def _columns_of(table, names) -> np.ndarray:
    have = [str(c) for c in table["columns"]]
    return table["X"][:, [have.index(n) for n in names]]


def _deep_by_time(work: Path, run: str, data: str, table: dict) -> tuple:
    """(probabilities (n, C) with NaN rows, matched (n,) bool): for each beat of ``table``, the ECG-SL left-out
    probabilities (``run.py``'s run ``run``) of the beat of its prepared folder ``data`` within ``MATCH_S`` (keys
    as ``hybrid.beat_table`` makes them)."""
    if COMMITTED is not None:
        return COMMITTED.deep_of_run(run, table)
    from tfrecords_tools import read_examples

    deep = np.load(work / run / "left_out_predictions.npz")
    deep_of = {str(k): p for k, p in zip(deep["keys"], deep["probabilities"])}
    prepared = {}
    for ex in read_examples(str(work / "data" / data)):
        start = np.asarray(np.float32(ex.segment_start_s)).astype(str)
        rows = [(peak / ex.fs, deep_of.get(f"{ex.record_id}@{start}#{i}")) for i, peak in enumerate(ex.rpeaks)]
        prepared.setdefault(ex.record_id, []).extend(r for r in rows if r[1] is not None)
    out = np.full((len(table["y"]), deep["probabilities"].shape[1]), np.nan)
    for rid, rows in prepared.items():
        rows.sort(key=lambda r: r[0])
        t = np.array([r[0] for r in rows])
        mine = np.flatnonzero(table["record"] == rid)
        pos = np.clip(np.searchsorted(t, table["time_s"][mine]), 1, len(t) - 1)
        nearest = np.where(np.abs(t[pos - 1] - table["time_s"][mine]) <= np.abs(t[pos] - table["time_s"][mine]),
                           pos - 1, pos)
        close = np.abs(t[nearest] - table["time_s"][mine]) <= MATCH_S
        out[mine[close]] = np.stack([rows[j][1] for j in nearest[close]])
    return out, np.isfinite(out).all(axis=1)


def _inner_deep(work: Path, held_out: int, inner: list, table: dict, train) -> np.ndarray | None:
    """(training-fold beats, C): each beat's probabilities from the ECG-SL model of ``run.py --steps inner`` that
    trained on the other inner group (NaN where no prepared beat matches); None before that step ran."""
    if COMMITTED is not None:
        return COMMITTED.inner(held_out, table)[train] if COMMITTED.has_inner() else None
    runs = [f"scratch_focal_heldout{held_out}_inner{g}" for g in range(len(inner))]
    if not all((work / r / "left_out_predictions.npz").is_file() for r in runs):
        log.warning("no inner ECG-SL predictions (run.py --steps inner): the deep weight stays %s", DEEP_WEIGHT)
        return None
    out = None
    data = training_data(n_folds_of(work), held_out)
    for g, run in enumerate(runs):
        deep, _ = _deep_by_time(work, run, f"{data}_inner{g}", table)
        out = deep if out is None else np.where(np.isfinite(deep), deep, out)
    return out[train]


def _choose_columns(table, train, inner, sets, labels) -> tuple:
    """The training fold's column set: the best inner macro F1 of the shallow booster (trained on one inner group,
    scored on the other). Returns (the choice's record, {set: inner probabilities})."""
    inner_f1, inner_p = {}, {}
    for name, cols in sets.items():
        X, y = _columns_of(table, cols)[train], table["y"][train]
        p_inner = np.zeros((len(y), len(labels)))
        for group in inner:
            m = np.isin(table["record"][train], group)
            p_inner[m] = _booster(X[~m], y[~m], cols, labels, SEED).predict_proba(X[m])
        inner_f1[name] = round(_macro_nsvf(y, p_inner, labels), 4)
        inner_p[name] = p_inner
    best = max(inner_f1, key=inner_f1.get)
    return {"set": best, "inner_macro_f1_nsvf": inner_f1, "inner_groups": [sorted(g) for g in inner]}, inner_p[best]


def _choose_size_and_weight(table, train, inner, shallow_p, inner_deep, cols, labels) -> dict:
    """The training fold's booster size and deep weight, together: the best inner macro F1 of the weighted average
    of the booster's and the inner ECG-SL models' probabilities (beats without an ECG-SL prediction left out)."""
    ok = np.isfinite(inner_deep).all(axis=1)
    y, X = table["y"][train], _columns_of(table, cols)[train]
    by_choice = {}
    for size in BOOSTER_SIZES:
        p_inner = shallow_p if size == "shallow" else np.zeros((len(y), len(labels)))
        for group in inner if size != "shallow" else ():
            m = np.isin(table["record"][train], group)
            p_inner[m] = _booster(X[~m], y[~m], cols, labels, SEED, size).predict_proba(X[m])
        for w in DEEP_WEIGHTS:
            by_choice[f"{size}|{w}"] = round(_macro_nsvf(y[ok], (1 - w) * p_inner[ok] + w * inner_deep[ok], labels), 4)
    size, w = max(by_choice, key=by_choice.get).split("|")
    if size == "shallow":
        best_p = shallow_p
    else:
        best_p = np.zeros((len(y), len(labels)))
        for group in inner:
            m = np.isin(table["record"][train], group)
            best_p[m] = _booster(X[~m], y[~m], cols, labels, SEED, size).predict_proba(X[m])
    inner_best = np.where(ok[:, None], (1 - float(w)) * best_p + float(w) * np.nan_to_num(inner_deep), np.nan)
    return {"booster_size": size, "deep_weight": float(w), "inner_macro_f1_nsvf_by_size_and_deep_weight": by_choice,
            "inner_beats_without_ecgsl": int((~ok).sum()), "_inner_probabilities": inner_best}


def rhythm_gate(p, evidence, threshold, labels, s_scale: float = 1.0) -> np.ndarray:
    """The rhythm gate: where ``evidence`` (the beats' AF evidence, ``GATE_FEATURE``) exceeds ``threshold``, the
    S probability moves to N (in fibrillation no beat is called S by prematurity: AAMI / MIT-BIH label those
    beats N). NaN evidence (a record's edges) is not gated; ``threshold`` None: no gate. ``s_scale`` != 1: the
    S probability of the beats NOT gated is multiplied by it (rows renormalised), to win back in a regular
    rhythm the S sensitivity the gate costs."""
    from ecgsl_keras.modeling.stacking import Gate

    if threshold is None:
        p, gated = np.array(p, np.float64, copy=True), np.zeros(len(p), bool)
    else:   # the rule the shipped model serves (stacking.json's gate)
        p, gated = Gate("evidence", threshold, "S", "N", labels).apply(p, evidence)
    if s_scale != 1.0:
        s = labels.index("S")
        p[~gated, s] *= s_scale
        p[~gated] /= p[~gated].sum(axis=1, keepdims=True)
    return p


def _gate_evidence(table, feature, spare_z=None) -> np.ndarray:
    """(n,) the table's ``feature`` as the gate's evidence; ``spare_z``: NaN (never gated) for the beats whose
    ``pre_rr_local_z`` is below -spare_z, premature against the median of their own neighbours whatever the
    irregularity around them (an ectopic beat among other ectopic beats in a regular rhythm)."""
    evidence = _columns_of(table, [feature])[:, 0]
    if spare_z is None:
        return evidence
    z = _columns_of(table, ["pre_rr_local_z"])[:, 0]
    return np.where(z < -float(spare_z), np.nan, evidence)


def af_flags(mitdb_dir: Path, table: dict) -> np.ndarray:
    """(n,) bool: the table's beats under an atrial fibrillation or flutter rhythm annotation (``run.AF_RHYTHMS``,
    as ``run.af_beats`` counts them), by the beat's R-peak time."""
    from ecgsl_keras.data.datasets.mitdb import MitdbReader
    from run import AF_RHYTHMS

    reader = MitdbReader(mitdb_dir)
    out = np.zeros(len(table["y"]), bool)
    for rid in sorted(set(table["record"].tolist())):
        _, rhythm = reader.read_annotations(rid)
        if not rhythm:
            continue
        fs = float(reader.load(rid).fs)
        starts = np.array([sample for sample, _ in rhythm]) / fs
        af = np.array([note in AF_RHYTHMS for _, note in rhythm])
        mine = np.flatnonzero(table["record"] == rid)
        current = np.searchsorted(starts, table["time_s"][mine], side="right") - 1
        out[mine] = (current >= 0) & af[np.clip(current, 0, None)]
    return out


def _fit_gate_on_rhythm_labels(table, train, af, features) -> dict:
    """The gate fitted to the training records' rhythm annotations, not to the class labels: the evidence among
    ``features`` with the largest ROC AUC for the beats in fibrillation / flutter (``af``) over the training beats,
    and its threshold at the largest Youden J (sensitivity + specificity - 1) over 200 quantiles of it."""
    from sklearn.metrics import roc_auc_score

    y_af = af[train]
    if not y_af.any():
        return {"gate_feature": features[0], "gate_threshold": None, "gate_choice": "none (no training beat in AF)",
                "gate_s_scale": 1.0, "inner_beats_gated": 0}
    auc = {}
    for feature in features:
        x = _columns_of(table, [feature])[train, 0]
        ok = np.isfinite(x)
        auc[feature] = round(float(roc_auc_score(y_af[ok], x[ok])), 4)
    feature = max(auc, key=auc.get)
    x = _columns_of(table, [feature])[train, 0]
    ok = np.isfinite(x)
    thresholds = np.unique(np.quantile(x[ok], np.linspace(0.005, 0.995, 200)))
    youden = [float((x[ok & y_af] > t).mean() - (x[ok & ~y_af] > t).mean()) for t in thresholds]
    best = int(np.argmax(youden))
    return {"gate_feature": feature, "gate_threshold": float(thresholds[best]), "gate_choice": "youden",
            "gate_s_scale": 1.0, "training_auc_af": auc, "training_youden": round(youden[best], 4),
            "training_af_beats": int(y_af.sum()), "inner_beats_gated": int((x[ok] > thresholds[best]).sum())}


def _choose_gate(table, train, inner_p, labels, features, s_scales=(1.0,), spare_z=None) -> dict:
    """The gate on the training fold alone: among no gate and, for each of ``features`` (one name or several,
    the inner CV then also choosing the evidence), the ``GATE_QUANTILES`` of it over the training beats, the best
    inner macro F1 of the chosen recipe's inner probabilities (beats without an inner ECG-SL prediction left
    out); ties keep no gate, then the higher quantile. Candidates are named ``q<quantile>`` for one feature,
    ``<feature>|q<quantile>`` for several; with several ``s_scales`` (``rhythm_gate``), each candidate also
    with each scale, ``...|x<scale>``, chosen together."""
    features = [features] if isinstance(features, str) else list(features)
    ok = np.isfinite(inner_p).all(axis=1)
    y = table["y"][train]
    candidates, evidence_of, rank = {"none": None}, {"none": None}, {"none": np.inf}
    for feature in features:
        evidence = _gate_evidence(table, feature, spare_z)[train]
        values = evidence[np.isfinite(evidence)]
        for q in GATE_QUANTILES:
            name = f"q{q}" if len(features) == 1 else f"{feature}|q{q}"
            candidates[name], evidence_of[name], rank[name] = float(np.quantile(values, q)), feature, q
    by_threshold, scale_of, base_of = {}, {}, {}
    for k, thr in candidates.items():
        evidence = _gate_evidence(table, evidence_of[k] or features[0], spare_z)[train]
        for scale in s_scales:
            name = k if len(s_scales) == 1 else f"{k}|x{scale}"
            scale_of[name], base_of[name] = float(scale), k
            by_threshold[name] = round(_macro_nsvf(y[ok], rhythm_gate(inner_p[ok], evidence[ok], thr, labels,
                                                                      scale), labels), 4)
    # ties: no gate, then the higher quantile, then the scale nearest 1
    best = max(by_threshold, key=lambda k: (by_threshold[k], rank[base_of[k]], -abs(np.log(scale_of[k]))))
    feature = evidence_of[base_of[best]] or features[0]
    threshold = candidates[base_of[best]]
    evidence = _gate_evidence(table, feature, spare_z)[train]
    return {"gate_feature": feature, "gate_threshold": threshold, "gate_choice": best,
            "gate_s_scale": scale_of[best], "inner_macro_f1_nsvf_by_gate": by_threshold,
            "gate_thresholds": candidates,
            "inner_beats_gated": int((evidence[ok] > threshold).sum()) if threshold is not None else 0}


PER_RECORD_ROWS = ("ecgsl", f"window_booster_s{SEED}", f"chosen_weighted_s{SEED}")
RHYTHM_ROWS = ("ecgsl", f"chosen_weighted_s{SEED}", f"chosen_weighted_gated_s{SEED}")   # per record, rhythm step


def _per_record(y, p, records, labels) -> dict:
    """Per left-out record: its S and V beats and the errors that cost S and V figures (beats of a class called
    another), so that a pooled row's change can be traced to the records that make it."""
    pred = p.argmax(-1)
    n, s, v = (labels.index(c) for c in ("N", "S", "V"))
    out = {}
    for rid in sorted(set(records.tolist())):
        m = records == rid
        yt, pt = y[m], pred[m]
        out[rid] = {"beats": int(m.sum()), "S": int((yt == s).sum()), "V": int((yt == v).sum()),
                    "called_S": int((pt == s).sum()), "called_V": int((pt == v).sum()),
                    "N_called_S": int(((yt == n) & (pt == s)).sum()), "N_called_V": int(((yt == n) & (pt == v)).sum()),
                    "S_missed": int(((yt == s) & (pt != s)).sum()), "V_missed": int(((yt == v) & (pt != v)).sum())}
    return out


def _pooled_of(per_record: dict, records) -> dict:
    """S and V sensitivity and +P pooled over ``records`` from ``_per_record``'s counts."""
    tot = {k: sum(per_record[r][k] for r in records) for k in ("S", "V", "called_S", "called_V", "S_missed",
                                                                "V_missed")}
    out = {}
    for c in ("S", "V"):
        hit = tot[c] - tot[f"{c}_missed"]
        out[f"{c}_sensitivity"] = hit / tot[c] if tot[c] else None
        out[f"{c}_positive_predictivity"] = hit / tot[f"called_{c}"] if tot[f"called_{c}"] else None
    return out


def per_record_step(work: Path, mitdb_dir: Path, per_record: dict) -> dict:
    """The ``per_record`` step's results: per-record errors of ``PER_RECORD_ROWS`` and their S/V figures pooled
    over the records without atrial fibrillation or flutter (``run.af_beats``: 201 and 203 in DS1)."""
    from ecgsl_keras.data.datasets.mitdb import MitdbReader

    reader = MitdbReader(mitdb_dir)
    af = sorted(r for r in per_record[PER_RECORD_ROWS[0]] if af_beats(reader, r))
    rest = sorted(set(per_record[PER_RECORD_ROWS[0]]) - set(af))
    return {"rows": per_record, "af_records": af,
            "without_af_records": {name: _pooled_of(rows, rest) for name, rows in per_record.items()}}


def step_folds(work: Path, table: dict, labels, sets: dict, per_record: bool = False, gate=None,
               per_record_rows=PER_RECORD_ROWS, s_scales=(1.0,), spare_z=None, gate_af=None) -> dict:
    """``per_record``: also the per-record errors of ``per_record_rows`` (key ``per_record``). ``gate`` (a column
    of the table, or several for the inner CV to choose from): also the recipe through ``rhythm_gate`` on that
    column, its threshold chosen on each training fold (``_choose_gate``), rows ``chosen_weighted_gated_s<seed>``."""
    folds = json.loads((work / "folds.json").read_text(encoding="utf-8"))["folds"]
    parts, chosen, unmatched, scored_records = {}, {}, 0, []
    for held_out in range(len(folds)):
        test = np.isin(table["record"], folds[held_out])
        train = np.isin(table["record"], training_records(folds, held_out))
        deep, matched = _deep_by_time(work, f"scratch_focal_heldout{held_out}", f"fold{held_out}", table)
        scored = test & matched
        unmatched += int(test.sum() - scored.sum())
        y_test = table["y"][scored]
        scored_records.append(table["record"][scored])
        p_deep = deep[scored]
        parts.setdefault("ecgsl", []).append((y_test, p_deep))
        inner = inner_groups(work, held_out)
        chosen[str(held_out)], inner_p = _choose_columns(table, train, inner, sets, labels)
        inner_deep = _inner_deep(work, held_out, inner, table, train)
        if inner_deep is not None:
            chosen[str(held_out)].update(_choose_size_and_weight(table, train, inner, inner_p, inner_deep,
                                                                 sets[chosen[str(held_out)]["set"]], labels))
            inner_best = chosen[str(held_out)].pop("_inner_probabilities")
            if gate is not None and gate_af is not None:
                chosen[str(held_out)].update(_fit_gate_on_rhythm_labels(table, train, gate_af, list(gate)))
            elif gate is not None:
                chosen[str(held_out)].update(_choose_gate(table, train, inner_best, labels, gate, s_scales,
                                                          spare_z))
        inner_f1 = chosen[str(held_out)]["inner_macro_f1_nsvf"]
        for name, cols in sets.items():
            X = _columns_of(table, cols)
            for seed in BOOSTER_SEEDS:
                p_booster = _booster(X[train], table["y"][train], cols, labels, seed).predict_proba(X[scored])
                average = (1 - DEEP_WEIGHT) * p_booster + DEEP_WEIGHT * p_deep
                parts.setdefault(f"{name}_booster_s{seed}", []).append((y_test, p_booster))
                parts.setdefault(f"{name}_average_s{seed}", []).append((y_test, average))
                if name == chosen[str(held_out)]["set"]:
                    parts.setdefault(f"chosen_average_s{seed}", []).append((y_test, average))
                    if "deep_weight" in chosen[str(held_out)]:
                        w, size = chosen[str(held_out)]["deep_weight"], chosen[str(held_out)]["booster_size"]
                        if size != "shallow":
                            p_booster = _booster(X[train], table["y"][train], cols, labels, seed,
                                                 size).predict_proba(X[scored])
                        parts.setdefault(f"chosen_weighted_s{seed}", []).append(
                            (y_test, (1 - w) * p_booster + w * p_deep))
                        if gate is not None:
                            evidence = _gate_evidence(table, chosen[str(held_out)]["gate_feature"],
                                                      spare_z)[scored]
                            parts.setdefault(f"chosen_weighted_gated_s{seed}", []).append(
                                (y_test, rhythm_gate((1 - w) * p_booster + w * p_deep, evidence,
                                                     chosen[str(held_out)]["gate_threshold"], labels,
                                                     chosen[str(held_out)]["gate_s_scale"])))
            log.info("held-out fold %d, %s: done (inner F1 %s)", held_out, name, inner_f1[name])
    rows = {name: _scores(np.concatenate([t for t, _ in ps]), np.concatenate([p for _, p in ps]), labels)
            for name, ps in parts.items()}
    keys = ("S_sensitivity", "S_positive_predictivity", "V_sensitivity", "V_positive_predictivity",
            "macro_f1_nsvf", "accuracy")
    spread = {}
    forms = ([f"{n}_{kind}" for n in sets for kind in ("booster", "average")]
             + ["chosen_average", "chosen_weighted", "chosen_weighted_gated"])
    for form in [f for f in forms if f"{f}_s{BOOSTER_SEEDS[0]}" in rows]:
        seeds = [rows[f"{form}_s{s}"] for s in BOOSTER_SEEDS]
        spread[form] = {k: {"mean": float(np.mean([r[k] for r in seeds])),
                            "sd": float(np.std([r[k] for r in seeds], ddof=1))} for k in keys}
        spread[form]["f1"] = {c: {"mean": float(np.mean([r["f1"][c] for r in seeds])),
                                  "sd": float(np.std([r["f1"][c] for r in seeds], ddof=1))} for c in ("S", "V")}
    out = {"rows": rows, "booster_seeds": list(BOOSTER_SEEDS), "seed_spread": spread, "column_sets": sets,
           "chosen_by_inner_cv": chosen, "beats_without_ecgsl_prediction": unmatched}
    if per_record:
        records = np.concatenate(scored_records)
        out["per_record"] = {name: _per_record(np.concatenate([t for t, _ in parts[name]]),
                                               np.concatenate([p for _, p in parts[name]]), records, labels)
                             for name in per_record_rows if name in parts}
    return out


def step_rhythm(work: Path, mitdb_dir: Path, table: dict, labels, gate, shipped_folds: dict | None,
                both: bool = True, s_scales=(1.0,), spare_z=None, rhythm_labels: bool = False) -> dict:
    """The ``rhythm`` step (key ``rhythm_gate[_kK]``): the recipe (a) with the local-rhythm sets among the
    candidates (``column_sets(rhythm=True)``) and (b) through the rhythm gate on ``gate`` (threshold by each
    training fold's inner CV), for the shipped candidate sets and for the rhythm ones; per-record errors of
    ``RHYTHM_ROWS``; distances of the seed means to the targets; whether the shipped recipe's row is reproduced.
    ``both`` False: the shipped candidate sets only; ``s_scales``, ``spare_z``: ``_choose_gate``'s;
    ``rhythm_labels``: the gate fitted to the training records' rhythm annotations instead
    (``_fit_gate_on_rhythm_labels``)."""
    gate = [gate] if isinstance(gate, str) else list(gate)
    out = {"gate_feature": gate[0] if len(gate) == 1 else gate, "gate_quantiles": list(GATE_QUANTILES),
           "gate_s_scales": list(s_scales), "gate_spare_z": spare_z, "gate_from_rhythm_labels": rhythm_labels}
    gate_af = af_flags(mitdb_dir, table) if rhythm_labels else None
    if gate_af is not None:
        out["table_beats_in_af"] = int(gate_af.sum())
    runs = (("shipped_sets", column_sets()), ("rhythm_sets", column_sets(rhythm=True)))
    for name, sets in runs if both else runs[:1]:
        folds = step_folds(work, table, labels, sets, per_record=True, gate=gate, per_record_rows=RHYTHM_ROWS,
                           s_scales=s_scales, spare_z=spare_z, gate_af=gate_af)
        folds["per_record"] = per_record_step(work, mitdb_dir, folds["per_record"])
        for form in ("chosen_weighted", "chosen_weighted_gated"):
            spread = folds["seed_spread"][form]
            spread["distance_to_targets"] = {k: round(spread[k]["mean"] - v, 4) for k, v in TARGETS.items()}
        folds.pop("column_sets")
        # per-seed rows of ECG-SL and the recipe only (every form's seed mean and sd stay in seed_spread)
        folds["rows"] = {k: v for k, v in folds["rows"].items() if k == "ecgsl" or k.startswith("chosen_weighted")}
        out[name] = folds
        log.info("%s: recipe %.4f, gated %.4f", name,
                 folds["seed_spread"]["chosen_weighted"]["macro_f1_nsvf"]["mean"],
                 folds["seed_spread"]["chosen_weighted_gated"]["macro_f1_nsvf"]["mean"])
    out["rhythm_columns"] = list(column_sets(rhythm=True)["window_rhythm"][len(column_sets()["window"]):])
    if shipped_folds is not None:
        mine, shipped = out["shipped_sets"]["seed_spread"]["chosen_weighted"], shipped_folds["seed_spread"].get(
            "chosen_weighted")
        out["reproduces_shipped_folds_key"] = bool(shipped) and all(
            abs(mine[k]["mean"] - shipped[k]["mean"]) < 1e-9 for k in shipped if k in mine and "mean" in shipped[k])
    return out


CARD = """## What it is

Issue 18's per-beat MIT-BIH model (AAMI classes N, S, V, F, Q), one lead (MLII): the class probabilities of two
models averaged per beat (`stacking.json`: `rows: "beat"`, `combine: "average"`, `deep_weight` {deep_weight}, chosen
by the inner leave-records-out CV of the training folds):

- `model.keras`: the ECG-SL per-beat model (`scratch_focal`: trained from random weights with focal loss on the 22
  DS1 records; the model of the previous `mitdb-beats`, unchanged);
- `booster.txt.gz` (LightGBM's own text format, never a pickle): a booster of {leaves} leaves (at least {min_leaf}
  beats a leaf; the size chosen with the deep weight) over {n_columns} per-beat features of the same lead (`ecgsl_keras.data.per_beat_features`): the RR
  intervals divided by the record's average RR and by the previous 10 and the surrounding 5 minutes of RR, the
  local RR variability and irregularity, the QRS width, the beat's shape against the record's median beat{window}.
  No absolute amplitude or RR. Trained on every labelled DS1 beat (balanced class weights capped at 20).

{gate_text}`ecgsl predict --model mitdb-beats`, `ecgsl evaluate --model mitdb-beats --dataset mitdb --data-dir ...` and
`serving.inference.load_model("mitdb-beats").predict_signal(...)` use both{gate_use}; the ECG-SL model's own per-beat
probabilities are in `deep_beat_probabilities`. `keras.models.load_model` on `model.keras` and `export` give the
ECG-SL part alone.

## What the figures mean

The preset saw every DS1 record, so it has no figures of its own on DS1. The same recipe with DS1 cut into two
folds of whole records (each fold's models trained on the other fold; {beats} left-out beats pooled; the feature
set chosen by each training fold's inner CV; `python experiments/mitdb/beats_preset.py --work WORK`,
`experiments/mitdb/beats_preset_results.json`):

| model | S Se | S +P | V Se | V +P | S F1 | V F1 |
| --- | --- | --- | --- | --- | --- | --- |
{gate_row}| this recipe{without} (booster seed 42) | {a[S_sensitivity]:.3f} | {a[S_positive_predictivity]:.3f} | {a[V_sensitivity]:.3f} | {a[V_positive_predictivity]:.3f} | {a[f1][S]:.3f} | {a[f1][V]:.3f} |
| ECG-SL alone (the first `mitdb-beats`) | {e[S_sensitivity]:.3f} | {e[S_positive_predictivity]:.3f} | {e[V_sensitivity]:.3f} | {e[V_positive_predictivity]:.3f} | {e[f1][S]:.3f} | {e[f1][V]:.3f} |
{gate_seeds}
Issue 18's targets (S Se >= 0.80 with +P >= 0.60, V Se >= 0.92 with +P >= 0.90){reached}. The inter-patient
test set DS2 is not used here. Not a medical device: research software, not for diagnosis or treatment.
"""

GATE_CARD = """The rhythm gate (`stacking.json`: `"gate": {gate_spec}`): where the beat's {feature} exceeds {threshold:g}, its S
probability is added to N's and set to 0, after the average. AAMI (and MIT-BIH's annotators) define no S beat
during atrial fibrillation: an irregular rhythm makes normal beats look premature. The evidence and threshold were
fitted to the rhythm annotations of the 22 DS1 records, not to the beat classes: among {candidates}, the one of the
largest ROC AUC for the {af_beats:,} beats under an atrial fibrillation or flutter annotation ({auc:.3f}), its
threshold at the largest Youden J ({youden:.3f}); {gated:,} of the {beats:,} DS1 beats are above it. Beats where
the evidence is undefined (NaN) are not gated. The gate never creates an S, V, F or Q call: a gated beat's call
becomes N where it was S, or where it was V, F or Q and the N and S probabilities together now outweigh it (in the
left-out folds this also moved some V calls of the fibrillating record 203 to N, most of them normal beats).

"""

GATE_SEEDS = """
Booster seeds 42-44, mean +- sd over the same left-out beats, with the gate against without it (each fold's gate
fitted to its training fold's rhythm annotations as above; `--steps rhythm --gate-from-rhythm-labels`, key `{key}`):

| booster seeds 42-44 | S Se | S +P | V Se | V +P | F1 (N, S, V, F) |
| --- | --- | --- | --- | --- | --- |
| with the gate | {g[S_sensitivity][mean]:.3f} +- {g[S_sensitivity][sd]:.3f} | {g[S_positive_predictivity][mean]:.3f} +- {g[S_positive_predictivity][sd]:.3f} | {g[V_sensitivity][mean]:.3f} +- {g[V_sensitivity][sd]:.3f} | {g[V_positive_predictivity][mean]:.3f} +- {g[V_positive_predictivity][sd]:.3f} | {g[macro_f1_nsvf][mean]:.3f} +- {g[macro_f1_nsvf][sd]:.3f} |
| without | {u[S_sensitivity][mean]:.3f} +- {u[S_sensitivity][sd]:.3f} | {u[S_positive_predictivity][mean]:.3f} +- {u[S_positive_predictivity][sd]:.3f} | {u[V_sensitivity][mean]:.3f} +- {u[V_sensitivity][sd]:.3f} | {u[V_positive_predictivity][mean]:.3f} +- {u[V_positive_predictivity][sd]:.3f} | {u[macro_f1_nsvf][mean]:.3f} +- {u[macro_f1_nsvf][sd]:.3f} |
"""


def size_and_weight_of(folds: dict) -> tuple:
    """The shipped model's booster size and deep weight: the pair of the best inner macro F1 summed over the
    training folds (both with two folds; the final booster trains on all of them); the shallow booster and
    ``DEEP_WEIGHT`` when the inner ECG-SL models are missing."""
    by_fold = [c.get("inner_macro_f1_nsvf_by_size_and_deep_weight") for c in folds["chosen_by_inner_cv"].values()]
    if not all(by_fold):
        return "shallow", DEEP_WEIGHT
    size, w = max(by_fold[0], key=lambda k: sum(f[k] for f in by_fold)).split("|")
    return size, float(w)


def fit_build_gate(mitdb_dir: Path, table: dict, labels) -> dict:
    """The shipped gate (``modeling.stacking.Gate``, S to N) fitted as each fold's was with
    ``--gate-from-rhythm-labels``, on every DS1 beat: the evidence among ``RHYTHM_LABEL_GATE_CANDIDATES`` of the
    largest ROC AUC for the beats under an AF / flutter annotation (``af_flags``), its threshold by Youden J."""
    from ecgsl_keras.modeling.stacking import Gate

    fit = _fit_gate_on_rhythm_labels(table, np.ones(len(table["y"]), bool), af_flags(mitdb_dir, table),
                                     list(RHYTHM_LABEL_GATE_CANDIDATES))
    gate = Gate(fit["gate_feature"], fit["gate_threshold"], "S", "N", labels)
    return dict(gate.to_spec(), candidates=list(RHYTHM_LABEL_GATE_CANDIDATES), training_auc_af=fit["training_auc_af"],
                training_youden=fit["training_youden"], training_af_beats=fit["training_af_beats"],
                training_beats=int(len(table["y"])), training_beats_gated=fit["inner_beats_gated"],
                fitted_on="the 22 DS1 records' rhythm annotations (AFIB, AFL), every labelled beat")


def step_build(work: Path, table: dict, labels, out_root, folds: dict, gate: dict | None = None,
               gated: dict | None = None, deep_run: Path | None = None, recipe: dict | None = None,
               v_gate: dict | None = None, left_out: dict | None = None, v_pause: dict | None = None,
               v_template: dict | None = None, v_gate_key: str = V_GATE_BUILD_KEY, rules_only: bool = False) -> dict:
    """``gate``: ``fit_build_gate``'s, shipped in ``stacking.json``; ``gated``: the results key ``GATE_KEY`` (its
    left-out figures with and without the gate, for the card). The relative build (run s33, ``--deep-run``):
    ``deep_run`` the ECG-SL run folder shipped as ``model.keras`` (default: the current preset's model);
    ``recipe`` ({fold: choices}, ``--recipe-from``) the inner choices the set, booster size and deep weight are
    taken from instead of ``folds``'; ``v_gate`` ``v_gate.choose_build_gate``'s answer (its ``v_gate`` spec, or
    None when the rule refused it); ``left_out`` the results JSON whose keys ``v_gate_local`` and
    ``relative_beats`` give the card's left-out figures (``RELATIVE_CARD``); ``v_pause`` the results key
    ``V_PAUSE_BUILD_KEY`` (its ``v_pause`` spec shipped in ``stacking.json``, or None when the rule refused it);
    ``v_template`` key ``V_TEMPLATE_SHIP_KEY`` of ``v_sensitivity_results.json`` (its ``v_template`` entry shipped);
    ``v_gate_key`` the key ``v_gate`` is (``V_GATE_SOURCES``: v40's build choice, or run v55b's shipped narrow gate);
    ``rules_only`` (``--rules-only``): the current preset's booster, config.json and signal_config.json shipped as
    they are (``shipped_booster``), only the rules new."""
    from ecgsl_keras.modeling.stacking import GATE_KEYS, StackedClassifier, probability_names
    from ecgsl_keras.store import presets
    from ecgsl_keras.training import publish

    inner = {"chosen_by_inner_cv": recipe} if recipe is not None else folds
    picks = {c["set"] for c in inner["chosen_by_inner_cv"].values()}
    if len(picks) != 1:
        raise SystemExit(f"the two training folds chose different column sets ({sorted(picks)}): decide first")
    chosen = picks.pop()
    cols = column_sets()[chosen]
    size, weight = size_and_weight_of(inner)
    relative = deep_run is not None
    if deep_run is None:
        deep_run = work / "beats_preset" / "deep_run"     # the ECG-SL model of the preset as a run folder
        if not deep_run.is_dir():
            deep_run.mkdir(parents=True)
            for name in ("model.keras", "config.json"):
                shutil.copyfile(presets.preset_dir(PRESET) / name, deep_run / name)
    features = (shipped_booster(cols, weight, labels) if rules_only
                else _booster(_columns_of(table, cols), table["y"], cols, labels, SEED, size))
    spec = {k: gate[k] for k in GATE_KEYS} if gate else None
    v_spec = (v_gate or {}).get("v_gate")
    pause_spec = (v_pause or {}).get("v_pause")
    template_spec = (v_template or {}).get("v_template")
    deep_text = ("ECG-SL per-beat model of the beat and the beat minus its record's median beat (model.keras of "
                 "this preset, beat_reference 'median')" if relative else
                 "ECG-SL per-beat model (model.keras of this preset)")
    clf = StackedClassifier(cols, probability_names(labels), labels, params=features.params, seed=SEED,
                            class_weight=features.class_weight, combine="average", deep_weight=weight,
                            rows="beat", deep_source={"kind": "probabilities", "combine": "average",
                                                      "model": deep_text},
                            gate=spec, v_gate=v_spec, v_pause=pause_spec, v_template=template_spec)
    clf.booster = features.booster
    booster_dir = work / "beats_preset" / "booster"
    shutil.rmtree(booster_dir, ignore_errors=True)
    booster_dir.mkdir(parents=True)
    if rules_only:   # the shipped booster file itself: LightGBM's re-serialisation need not give the same bytes
        import hashlib

        from ecgsl_keras.modeling.stacking import SPEC_NAME
        shutil.copyfile(presets.preset_dir(PRESET) / features.booster_file, booster_dir / features.booster_file)
        kept = dict(clf.spec(), booster_file=features.booster_file,
                    booster_sha256=hashlib.sha256((booster_dir / features.booster_file).read_bytes()).hexdigest())
        (booster_dir / SPEC_NAME).write_text(json.dumps(kept, indent=2) + "\n", encoding="utf-8")
    else:
        clf.save(booster_dir)
    rows = folds["rows"]
    card = work / "beats_preset" / "card.md"
    window = (", and the atrial-fibrillation evidence of the 30 s window holding the beat (AFEv, RR entropy and "
              "irregularity, P-wave and f-wave evidence: the CinC 2017 record features on that window)"
              if chosen == "window" else "")
    shipped = f"chosen_weighted_s{SEED}" if f"chosen_weighted_s{SEED}" in rows else f"chosen_average_s{SEED}"
    parts = {"gate_text": "", "gate_use": "", "gate_row": "", "without": "", "gate_seeds": "",
             "reached": " are not reached"}
    if gate:
        g_rows, spread = gated["shipped_sets"]["rows"], gated["shipped_sets"]["seed_spread"]
        if not gated.get("reproduces_shipped_folds_key"):
            raise SystemExit(f"{GATE_KEY}: its ungated rows are not the folds key's; run the rhythm step again")
        g = g_rows[f"chosen_weighted_gated_s{SEED}"]
        parts = {"gate_text": GATE_CARD.format(
                     gate_spec=json.dumps(spec), feature=f"`{gate['feature']}`"
                     + (" (the AF evidence, AFEv, of the 30 s window holding it)"
                        if gate["feature"] == "window_af_afev" else ""),
                     threshold=gate["threshold"], candidates=", ".join(f"`{c}`" for c in gate["candidates"]),
                     af_beats=gate["training_af_beats"], auc=gate["training_auc_af"][gate["feature"]],
                     youden=gate["training_youden"], gated=gate["training_beats_gated"],
                     beats=gate["training_beats"]),
                 "gate_use": " and the gate (`beat_gated`: the beats it gated; `ungated_beat_probabilities`: the "
                             "average before it)",
                 "gate_row": (f"| this recipe with the rhythm gate, as shipped (booster seed {SEED}) | "
                              f"{g['S_sensitivity']:.3f} | {g['S_positive_predictivity']:.3f} | "
                              f"{g['V_sensitivity']:.3f} | {g['V_positive_predictivity']:.3f} | {g['f1']['S']:.3f} | "
                              f"{g['f1']['V']:.3f} |\n"),
                 "without": " without the gate",
                 "gate_seeds": GATE_SEEDS.format(g=spread["chosen_weighted_gated"], u=spread["chosen_weighted"],
                                                 key=GATE_KEY),
                 "reached": ": S +P is reached with the gate, the others are not"}
        if spread["chosen_weighted_gated"]["S_positive_predictivity"]["mean"] < TARGETS["S_positive_predictivity"]:
            parts["reached"] = " are not reached"
    if relative:
        card.write_text(relative_card(left_out, window, weight, features.params, len(cols), parts["gate_text"],
                                      v_gate, v_pause, v_template, v_gate_key), encoding="utf-8")
    else:
        card.write_text(CARD.format(n_columns=len(cols), beats=f"{rows['ecgsl']['beats']:,}", window=window,
                                    deep_weight=weight, a=rows[shipped], e=rows["ecgsl"],
                                    leaves=features.params["num_leaves"],
                                    min_leaf=features.params["min_data_in_leaf"], **parts),
                        encoding="utf-8")
    description = ("ECG-SL per-beat AAMI classifier (N, S, V, F, Q) on MIT-BIH MLII"
                   + (" (each beat also given minus its record's median beat)" if relative else "")
                   + " averaged with a LightGBM booster over per-beat RR, shape and rhythm-context features of the "
                     "same lead"
                   + ("; S moved to N where the 30 s window's AF evidence exceeds a threshold fitted to the rhythm "
                      "annotations" if gate else "")
                   + ("; a V call of a beat on time against its local rhythm, narrow and not backed by ECG-SL's "
                      "P(V) moved to the next class" if v_spec else "")
                   + ("; a wide S call with a full compensatory pause moved to V on a record with at least "
                      f"{pause_spec['min_fires']} of them" if pause_spec else "")
                   + ("; a wide beat shaped like the signal's own V beats (the median of its V calls, on a signal with "
                      f"at least {template_spec['min_called']} of them) moved to V" if template_spec else "")
                   + "; trained on the 22 DS1 records; single lead, 100 Hz")
    meta = publish.build(deep_run, PRESET, description, card_extra=card, overwrite=True, root=out_root,
                         booster=booster_dir, config_from=presets.preset_dir(PRESET) if rules_only else None)
    out = {"column_set": chosen, "booster_size": size, "booster_columns": cols, "booster_params": features.params,
           "class_weight_cap": WEIGHT_CAP, "deep_weight": weight, "seed": SEED, "files": meta["files"],
           **deep_run_info(deep_run),
           "recipe_from": "recipe (--recipe-from)" if recipe is not None else "folds",
           "booster_from": "the shipped preset's (--rules-only)" if rules_only else "refitted on every DS1 beat"}
    if recipe is not None:
        out["recipe_inner_macro_f1_by_size_and_deep_weight"] = {
            h: c.get("inner_macro_f1_nsvf_by_size_and_deep_weight") for h, c in recipe.items()}
    if gate:
        out["gate"] = gate
    if v_gate is not None:
        out["v_gate"] = v_spec
        out["v_gate_from"] = f"{V_GATE_SOURCES[v_gate_key]} key {v_gate_key}"
    if v_pause is not None:
        out["v_pause"] = pause_spec
    if v_template is not None:
        out["v_template"] = template_spec
    return out


def narrow_gate_entry(path: Path, recheck: Path | None = None) -> dict:
    """Key ``V_NARROW_SHIP_KEY`` of ``path`` (``v_sensitivity.py --steps narrow_gate_served``): run v55b's narrow V
    gate as ``NARROW_BUILD_RULE`` took it, with its served left-out figure; SystemExit naming the file unless
    ``NARROW_SHIP_RULE`` said ship and the rows it was measured on (key ``V_TEMPLATE_SHIP_KEY``'s) were reproduced,
    or naming ``recheck`` (default ``SHIP_CHECK``) when the figure recomputed from the committed files
    (``narrow_gate_ship.py``, key ``SHIP_CHECK_KEY``) says the ship test fails."""
    entry = json.loads(Path(path).read_text(encoding="utf-8")).get(V_NARROW_SHIP_KEY) if Path(path).is_file() else None
    if entry is None or entry.get("v_gate") is None:
        raise SystemExit(f"{path}: no {V_NARROW_SHIP_KEY!r} entry; run v_sensitivity.py --steps narrow_gate_served "
                         "first")
    if not entry["ship"]:
        raise SystemExit(f"{path}: {V_NARROW_SHIP_KEY}.ship is false (NARROW_SHIP_RULE): the V gate is not shipped")
    if entry.get("reference_key") != V_TEMPLATE_SHIP_KEY or not entry.get("reference_reproduced"):
        raise SystemExit(f"{path}: {V_NARROW_SHIP_KEY} was not measured on the reproduced rows of "
                         f"{V_TEMPLATE_SHIP_KEY} (the served recipe)")
    recheck = SHIP_CHECK if recheck is None else Path(recheck)
    again = (json.loads(recheck.read_text(encoding="utf-8")).get(SHIP_CHECK_KEY) if recheck.is_file() else None)
    if again is not None and not again["ship"]:
        failed = [k for k, v in again["narrow_gate_served"]["recomputed"]["checks"].items() if not v]
        raise SystemExit(f"{recheck}: {SHIP_CHECK_KEY}.ship is false: recomputed from the committed files, "
                         f"NARROW_SHIP_RULE fails ({', '.join(failed)}); the V gate is not shipped")
    return entry


def shipped_booster(cols: list, weight: float, labels) -> "argparse.Namespace":
    """``--rules-only``: the current preset's booster (``StackedClassifier.load``) in ``_booster``'s form (``booster``,
    ``params``, ``class_weight``, and its file name); SystemExit unless it is the recipe's: the same columns, deep
    weight, labels, seed and ``combine`` / ``rows``."""
    from ecgsl_keras.modeling.stacking import SPEC_NAME, StackedClassifier
    from ecgsl_keras.store import presets

    folder = presets.preset_dir(PRESET)
    shipped = StackedClassifier.load(folder)
    spec = json.loads((folder / SPEC_NAME).read_text(encoding="utf-8"))
    if (list(shipped.feature_names) != list(cols) or spec["deep_weight"] != weight or spec["seed"] != SEED
            or list(shipped.label_names) != list(labels) or (spec["combine"], spec["rows"]) != ("average", "beat")):
        raise SystemExit(f"{folder / SPEC_NAME}: the shipped booster is not the recipe's (columns, deep weight, "
                         "labels, seed, combine / rows): --rules-only cannot keep it")
    return argparse.Namespace(booster=shipped.booster, params=spec["params"], class_weight=spec["class_weight"],
                              booster_file=spec["booster_file"])


def preset_as_deep_run(work: Path, build: dict) -> Path:
    """The current preset's ECG-SL model as a run folder for ``publish.build`` (``--rules-only``), so that a
    build changing only a rule ships the same ``model.keras``, ``config.json`` and ``signal_config.json``: the folder is
    ``WORK/<the preset's source_run>`` (the shipped source_run is the folder's last two parts), with the preset's
    ``model.keras`` and its ``config.json`` less the preset's own keys, plus the run's epochs and ``init_from`` (the
    metadata's ``training_data``) and training seconds (``build``: the committed key ``build``'s
    ``deep_run_seconds``)."""
    from ecgsl_keras.store import presets

    folder = presets.preset_dir(PRESET)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    training = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))["training_data"]
    run = Path(work) / config["source_run"]
    run.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / "model.keras", run / "model.keras")
    info = {k: v for k, v in config.items() if k not in ("preset", "source_run")}
    info.update(epochs_completed=training["epochs_completed"], init_from=training["init_from"],
                seconds=build.get("deep_run_seconds"))
    (run / "config.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    log.info("deep run from the preset: %s", run)
    return run


def deep_run_info(deep_run: Path) -> dict:
    """The shipped ECG-SL run's folder, beat reference, training seconds and epochs (its ``config.json``)."""
    info = json.loads((Path(deep_run) / "config.json").read_text(encoding="utf-8"))
    return {"deep_run": str(deep_run), "deep_beat_reference": info["experiment_config"]["signal"].get(
        "beat_reference", "none"), "deep_run_seconds": info.get("seconds"),
        "deep_run_epochs": info.get("epochs_completed")}


RELATIVE_CARD = """## What it is

Issue 18's per-beat MIT-BIH model (AAMI classes N, S, V, F, Q), one lead (MLII): the class probabilities of two
models averaged per beat (`stacking.json`: `rows: "beat"`, `combine: "average"`, `deep_weight` {deep_weight}, chosen
by the inner leave-records-out CV of the training folds), then {n_rules}:

- `model.keras`: the ECG-SL per-beat model given each beat AND the beat minus its record's median beat
  (`SignalConfig.beat_reference: "median"`, a second input channel of the beat encoder; run v37 of
  `experiments/mitdb/RESULTS.md`), trained from random weights with focal loss on the 22 DS1 records
  (`python experiments/mitdb/run.py --work WORK --steps final --variants scratch_focal --beat-reference median`);
- `booster.txt.gz` (LightGBM's own text format, never a pickle): a booster of {leaves} leaves (at least {min_leaf}
  beats a leaf; the size chosen with the deep weight) over {n_columns} per-beat features of the same lead
  (`ecgsl_keras.data.per_beat_features`, computed on each beat's own samples): the RR intervals divided by the
  record's average RR and by the previous 10 and the surrounding 5 minutes of RR, the local RR variability and
  irregularity, the QRS width, the beat's shape against the record's median beat{window}. No absolute amplitude or
  RR. Trained on every labelled DS1 beat (balanced class weights capped at 20).

{gate_text}{v_gate_text}`ecgsl predict --model mitdb-beats`, `ecgsl evaluate --model mitdb-beats --dataset mitdb --data-dir ...` and
`serving.inference.load_model("mitdb-beats").predict_signal(...)` use all of it (`beat_gated`: the beats the rhythm
gate gated; `ungated_beat_probabilities`: the average before the gates{v_gate_use}); the ECG-SL model's own per-beat
probabilities are in `deep_beat_probabilities`. `keras.models.load_model` on `model.keras` and `export` give the
ECG-SL part alone, whose beat input is the beat followed by the beat minus the record's median beat (192 values):
the Python preprocessing (`signal.preprocess`) computes it. The end-to-end edge graph (`export --edge`) cuts
one-channel beats and refuses this model: `mitdb-beats` is not an edge preset.

## What the figures mean

The preset saw every DS1 record, so it has no figures of its own on DS1. The same recipe with DS1 cut into two
folds of whole records (each fold's models trained on the other fold; {beats:,} left-out beats pooled; the set,
booster size, deep weight and rhythm gate chosen on each training fold; {which_v_gate} chosen on each training fold over
its 4 inner groups by v38's rule, which fold {took} took and fold {refused} refused, in the row that has it;{narrow_row} booster
seeds 42-44, mean +- sd;
`experiments/mitdb/beats_preset_results.json`, keys `v_gate_local.inner4` and `relative_beats`{served_key}):

| left-out DS1, 2 folds | S Se | S +P | V Se | V +P | macro F1 (N, S, V, F) |
| --- | --- | --- | --- | --- | --- |
{rows}
Issue 18's targets (S Se >= 0.80 with +P >= 0.60, V Se >= 0.92 with +P >= 0.90): distances of the first row
{distance}. The inter-patient test set DS2 is not used here. Not a medical device: research software, not for
diagnosis or treatment.

## On other devices' recordings

It was trained on MIT-BIH's Holter records (lead MLII, 360 Hz). A check on lead II of 12-lead, 10 s, 500 Hz
recordings it never saw (the PTB-XL subset and 50 CinC 2021-format records, grouped by their premature-beat
statements, which label records, not beats; nothing chosen on them) calls almost no beat V on PTB-XL's sinus-rhythm
records and finds a V beat in most records with a premature-ventricular-beat statement, but calls V in about half of
the Chapman-Shaoxing records with frequent premature atrial beats. Small samples, no beat labels; the figures and the
command: `experiments/mitdb/RESULTS.md`, "The served `mitdb-beats` on lead II of other devices' records"
(`experiments/mitdb/external_check.py`).
"""

V_GATE_CARD = """The V agreement gate (`stacking.json`: `"v_gate": {spec}`; `modeling.stacking.VGate`), after the rhythm gate: a
ventricular beat is almost always premature or wide; a beat called V that is neither keeps V only if ECG-SL agrees.
A V call of a beat on time against its LOCAL rhythm (pre RR / the median of the 8 RR intervals on each side, its own
two left out, at least {premature:g}{pause_text}{irregular_text}), not wider than {wide:g} times the record's median beat's
QRS, and whose ECG-SL P(V) is below {t:g} loses V: its V probability is set to 0 and the row renormalised (the next
class wins). """
# run s33's choice text (v40's gate, key v_gate_build): V_GATE_CARD + V40_CHOICE_CARD is its card paragraph
V40_CHOICE_CARD = """Its thresholds were chosen on DS1 alone with a rule fixed before any figure (`v_gate.BUILD_RULE`, key
`v_gate_build`): the grid of run v40 on all of DS1's inner groups (the inner-4 models of both training folds), the
best pooled inner macro F1 taken only if no inner group falls.

"""

# session s39's choice text (run v55b's narrow gate, key V_NARROW_SHIP_KEY): V_GATE_CARD + NARROW_CHOICE_CARD
NARROW_CHOICE_CARD = """Its thresholds are run v55b's (`experiments/mitdb/RESULTS.md`): a gate narrower than
v40's (whose build rule refused it, key `v_gate_build`), for the on-time, narrow beats the booster alone calls V (108's
above all). They were chosen on DS1 alone by a rule fixed before any figure of the choice
(`v_sensitivity.NARROW_BUILD_RULE`, key `{key}.would_build` of `v_sensitivity_results.json`): on all 8 of DS1's inner
groups ({beats:,} beats, the inner ECG-SL models' P(V)), the gate in its serving place before the pause rule and the
template vote, the grid point of the highest pooled inner V +P among those that lose no inner group's V Se at all and
lower no group's macro F1 by more than 0.002 nor its S Se by more than 0.01: pooled inner V +P {off:.4f} ->
{on:.4f}, {other} calls that are not V taken and {true_v} true V. Left out as served (this entry on the rows of the row
below it; key `{key}`), paired over booster seeds against the same rows without it: V +P {dp:+.4f}, V Se {dv:+.4f},
S Se {ds:+.4f}, S +P {dq:+.4f}, macro F1 {df:+.4f} (the first row of the table below), shipped by a rule fixed before
that figure (`v_sensitivity.NARROW_SHIP_RULE`). The entry was chosen on the inner rows of every DS1 record, so this
figure is not nested; the nested one (each training fold's choice on its own records, run v55b, key
`v_narrow_gate_strict_nested`): V +P {nested_dp:+.4f}, V Se {nested_dv:+.4f}, macro F1 {nested_df:+.4f}. Not blind: the
choice rule (no inner V Se lost) was written after run v55's left-out figures. The inter-patient check on records never seen here
(DS2) is made on the shipped preset by the issue's owner. The records where it takes V calls there, true V / other
beats under booster seeds {seeds}: {fires}.

"""


V_PAUSE_CARD = """The full-compensatory-pause rule (`stacking.json`: `"v_pause": {spec}`; `modeling.stacking.VPause`),
last: a ventricular premature beat leaves the sinus node alone, so the RR before it plus the RR after it is twice the
sinus cycle (a full compensatory pause); an atrial one resets the node. A beat called S whose QRS is wider than
{wide:g} times the record's median beat's, whose (pre RR + post RR) / (2 x the median of its 16 neighbour intervals)
lies in [{low:g}, {high:g}], whose post RR / pre RR is at least {pause:g} and whose 30 s window's AF evidence is not
above {af:g} (the rhythm gate's threshold) fires; the firings become V only when the signal holds at least
{min_fires} of them (a frequent-ectopy record; a signal far shorter than a 30-minute record rarely does). The count
was chosen on DS1 alone with a rule fixed before any figure (`v_sensitivity.PAUSE_BUILD_RULE`, key `v_pause_build`):
on all of DS1's inner groups, the admissible count of the highest pooled inner V Se (no group's macro F1 down by more
than 0.002 nor its S Se by more than 0.01). Measured left out with the count chosen per training fold, on top of
v40's rows (run v48, key `v_pause_nested` of `v_sensitivity_results.json`, paired over booster seeds): V Se
{dv:+.4f}, V +P {dp:+.4f}, S Se {ds:+.4f}. Left out as served (this entry, count and AF threshold as shipped, on the
rows of the recipe without a V gate; key `v_pause_served_left_out`), paired against the same rows without it: V Se
{sv:+.4f}, V +P {sp:+.4f}, S Se {ss:+.4f}, macro F1 {sf:+.4f} (the first row of the table below). The records that
reach the count there, with their firings under booster seeds {seeds}: {fires}; a seed below the count gains nothing on
a record.

"""


V_TEMPLATE_CARD = """The within-record V template vote (`stacking.json`: `"v_template": {spec}`;
`modeling.stacking.VTemplate`), after the pause rule: on a signal where at least {min_called} beats are called V outside
AF (the 30 s window's AF evidence not above {af:g}, the rhythm gate's threshold), the median of those beats is the
signal's V template; a beat called {calls}, with a QRS wider than {wide:g} times the median beat's, outside AF, whose
correlation with the template is at least {corr:g} and above its correlation with the signal's median beat becomes V.
Its settings were chosen on DS1 alone with a rule fixed before any figure (`v_sensitivity.TEMPLATE_BUILD_RULE`, key
`v_template_nested.would_build` of `v_sensitivity_results.json`): on all of DS1's inner groups, the admissible point of
the highest pooled inner V Se (no group's macro F1 down by more than 0.002 nor its S Se by more than 0.01). Left out as
served (this entry on the rows of the row below it; key `v_template_served_left_out`), paired over booster seeds
against the same rows without it: V Se {sv:+.4f}, V +P {sp:+.4f}, S Se {ss:+.4f}, S +P {sq:+.4f}, macro F1 {sf:+.4f}
(the first row of the table below), shipped by a rule fixed before that figure (`v_sensitivity.TEMPLATE_SHIP_RULE`).
The records where it turns beats there, true V / other beats under booster seeds {seeds}: {fires}.

"""


def _row(name, spread, keys=("S_sensitivity", "S_positive_predictivity", "V_sensitivity", "V_positive_predictivity",
                             "macro_f1_nsvf")) -> str:
    return f"| {name} | " + " | ".join(f"{spread[k]['mean']:.3f} +- {spread[k]['sd']:.3f}" for k in keys) + " |"


def _single(name, flat) -> str:
    return f"| {name} | " + " | ".join(f"{flat[k]:.3f}" for k in ("S_sensitivity", "S_positive_predictivity",
                                                                    "V_sensitivity", "V_positive_predictivity",
                                                                    "macro_f1_nsvf")) + " |"


def narrow_card_figures(narrow: dict, nested: dict) -> dict:
    """``NARROW_CHOICE_CARD``'s figures from key ``V_NARROW_SHIP_KEY``: the build's chosen point on the inner groups,
    the served paired change, and per left-out record the true V / other calls the gate took under each booster
    seed (``left_out_firings``: per record, seed and true class); ``nested``: run v55b's key
    ``v_narrow_gate_strict_nested`` (its paired change, each fold's own choice)."""
    build = narrow["would_build"]
    point = next(q for q in build["points"] if all(q.get(k) == v for k, v in build["chosen"].items()))
    change = {m: narrow["paired_change"][m]["mean"] for m in narrow["paired_change"]}

    def taken(d, s):   # "true V / other" of one record under booster seed s
        by_class = d.get(str(s), {})
        return f"{by_class.get('V', 0)} / {sum(n for c, n in by_class.items() if c != 'V')}"
    fires = "; ".join(f"{r} ({', '.join(taken(d, s) for s in BOOSTER_SEEDS)})"
                      for r, d in sorted(narrow["left_out_firings"].items())) or "none"
    return dict(key=V_NARROW_SHIP_KEY, beats=build["beats"], off=build["off"]["V_positive_predictivity"],
                on=point["pooled"]["V_positive_predictivity"], other=point["vetoed"]["other"],
                true_v=point["vetoed"]["true_V"], dp=change["V_positive_predictivity"], dv=change["V_sensitivity"],
                ds=change["S_sensitivity"], dq=change["S_positive_predictivity"], df=change["macro_f1_nsvf"],
                seeds=", ".join(str(s) for s in BOOSTER_SEEDS), fires=fires,
                **{f"nested_{k}": nested["paired_change"][m]["mean"] for k, m in (
                    ("dp", "V_positive_predictivity"), ("dv", "V_sensitivity"), ("df", "macro_f1_nsvf"))})


def relative_card(results: dict, window: str, weight: float, params: dict, n_columns: int, gate_text: str,
                  v_gate: dict | None, v_pause: dict | None = None, v_template: dict | None = None,
                  v_gate_key: str = V_GATE_BUILD_KEY) -> str:
    """The card of the relative build (``RELATIVE_CARD``): left-out figures rendered from keys ``v_gate_local``
    (the recipe with and without the V gate chosen per fold) and ``relative_beats`` (ECG-SL alone, the committed
    baseline's recipe), and, for a shipped pause rule, ``v_pause_served_left_out`` of ``v_sensitivity_results.json``
    (its own left-out row, first, when it measured this entry on the recipe served without a V gate), and for a
    shipped template vote ``V_TEMPLATE_SHIP_KEY`` (its row first, above the pause rule's). ``v_gate_key``: the key
    ``v_gate`` is; with ``V_NARROW_SHIP_KEY`` (session s39) the narrow gate's served row comes first, above the
    template vote's, and v40's row stays as measured, not served."""
    local, rb = results["v_gate_local"], results["relative_beats"]
    inner4 = local["inner4"]
    uses = {h: c["uses_gate"] for h, c in inner4["chosen_by_inner_cv"].items()}
    spec = (v_gate or {}).get("v_gate")
    narrow = v_gate if spec and v_gate_key == V_NARROW_SHIP_KEY else None   # v40's rows: measured, not served
    v40_served = bool(spec) and narrow is None
    with_v = _row("relative ECG-SL + booster, rhythm gate, V gate chosen per fold (run v40)"
                  + (": this recipe" if v40_served else ": not served (its build rule refused it)" if narrow
                     else ": not served (the build's rule refused the V gate)"),
                  inner4["seed_spread"]["v_gate"])
    without_v = _row("relative ECG-SL + booster, rhythm gate (run v37)" + ("" if v40_served else ": this recipe"),
                     inner4["seed_spread"]["recipe"])
    served = inner4["seed_spread"]["v_gate" if v40_served else "recipe"]
    pause = (v_pause or {}).get("v_pause")
    # the served pause rule's own left-out row (v_sensitivity.py --steps pause_served) when it is of this entry and
    # of the recipe served without v40's V gate; else the table has no row with the rule
    measured = json.loads((HERE / "v_sensitivity_results.json").read_text(encoding="utf-8"))
    as_served = measured.get("v_pause_served_left_out")
    if not (pause and not v40_served and as_served and as_served["v_pause"] == pause):
        as_served = None
    first = []
    if as_served is not None:
        first = [_row(f"relative ECG-SL + booster, rhythm gate, pause rule (min_fires {pause['min_fires']}): this "
                      "recipe", as_served["seed_spread"])]
        without_v = _row("relative ECG-SL + booster, rhythm gate (run v37): without the pause rule",
                         inner4["seed_spread"]["recipe"])
        served = as_served["seed_spread"]
    template = (v_template or {}).get("v_template")
    tpl_served = measured.get(V_TEMPLATE_SHIP_KEY) if template else None
    if template and not (as_served is not None and tpl_served and tpl_served["v_template"] == template
                         and tpl_served["ship"]):
        raise SystemExit(f"v_sensitivity_results.json: no shipped {V_TEMPLATE_SHIP_KEY} of this v_template entry on "
                         "the served pause rule's rows")
    if template:
        first = [_row(f"relative ECG-SL + booster, rhythm gate, pause rule, template vote (min_called "
                      f"{template['min_called']}): this recipe", tpl_served["seed_spread"]),
                 first[0].replace(": this recipe", ": without the template vote")]
        served = tpl_served["seed_spread"]
    if narrow is not None:   # measured on the template vote's served rows (narrow_gate_entry checked it)
        if not (template and narrow["ship"] and narrow["reference_key"] == V_TEMPLATE_SHIP_KEY
                and narrow["reference_reproduced"]):
            raise SystemExit(f"v_sensitivity_results.json: {V_NARROW_SHIP_KEY} ships on the template vote's served "
                             "rows; build it with --v-pause --v-template")
        first = [_row("relative ECG-SL + booster, rhythm gate, narrow V gate (run v55b), pause rule, template vote: "
                      "this recipe", narrow["seed_spread"]),
                 first[0].replace(": this recipe", ": without the narrow V gate"), first[1]]
        served = narrow["seed_spread"]
    rows = "\n".join([
        *first, *((with_v, without_v) if v40_served else (without_v, with_v)),
        _row("the previous `mitdb-beats` recipe (one-channel ECG-SL), rhythm gate", local["baseline"][
            "recipe_seed_spread"]),
        _single("relative ECG-SL alone", rb["candidate"]["ecgsl_alone"]),
        _single("one-channel ECG-SL alone (the first `mitdb-beats`)", rb["baseline"]["ecgsl_alone"])]) + "\n"
    distance = ", ".join(f"{k.replace('_sensitivity', ' Se').replace('_positive_predictivity', ' +P')} "
                         f"{served[k]['mean'] - t:+.3f}" for k, t in TARGETS.items())
    v_text = ""
    if spec:
        v_text = (V_GATE_CARD + (NARROW_CHOICE_CARD if narrow else V40_CHOICE_CARD)).format(
            spec=json.dumps(spec), premature=spec["premature"], wide=spec["wide"], t=spec["t"],
            pause_text=(f", and post RR / pre RR below {spec['pause']:g}: no compensatory pause"
                        if spec["pause"] is not None else ""),
            irregular_text=(f", in a regular neighbourhood (the neighbours' robust spread at most "
                            f"{spec['irregular']:g})" if spec["irregular"] is not None else ""),
            **(narrow_card_figures(narrow, measured["v_narrow_gate_strict_nested"]) if narrow else {}))
    elif v_gate is not None:
        f1 = v_gate["inner_macro_f1_nsvf"]
        fell = sum(b < n for b, n in zip(f1["best"]["groups"], f1["no_gate"]["groups"]))
        v_text = ("No V agreement gate: the rule fixed for the build (`v_gate.BUILD_RULE`, key `v_gate_build`) "
                  f"refused it on DS1's inner groups (its best grid point raised the pooled inner macro F1 "
                  f"{f1['no_gate']['pooled']:.4f} -> {f1['best']['pooled']:.4f} but lowered {fell} of the "
                  f"{len(v_gate['inner_groups'])} groups'), so the V gate of the second row below is measured, not "
                  "served (`stacking.json` has no `v_gate`; the library serves one where it has).\n\n")
    if pause:   # the pause rule's card text: v48's left-out figure, and the served rule's own (v_sensitivity_results)
        change = measured["v_pause_nested"]["against_v40"]["paired_change"]
        text = V_PAUSE_CARD
        if as_served is None:
            text = text[:text.index(" Left out as served")] + " The table below has no row with this rule.\n\n"
            fires, sc = "", {m: {"mean": 0.0} for m in change}
        else:
            sc = as_served["paired_change"]
            by_seed = as_served["left_out_firings_by_record_and_seed"]
            seed_names = [str(s) for s in BOOSTER_SEEDS]
            fires = "; ".join(f"{r} ({' / '.join(str(d.get(s, 0)) for s in seed_names)})"
                              for r, d in sorted(by_seed.items()) if max(d.values()) >= pause["min_fires"]) or "none"
        v_text += text.format(
            spec=json.dumps(pause), wide=pause["wide"], low=pause["band"][0], high=pause["band"][1],
            pause=pause["pause"], af=pause["af_off"]["threshold"], min_fires=pause["min_fires"],
            dv=change["V_sensitivity"]["mean"], dp=change["V_positive_predictivity"]["mean"],
            ds=change["S_sensitivity"]["mean"], sv=sc["V_sensitivity"]["mean"],
            sp=sc["V_positive_predictivity"]["mean"], ss=sc["S_sensitivity"]["mean"],
            sf=sc["macro_f1_nsvf"]["mean"], fires=fires, seeds=" / ".join(str(s) for s in BOOSTER_SEEDS))
    if template:
        sc = tpl_served["paired_change"]
        def turned(d, s):   # "true V / other" of one record under booster seed s
            return f"{d.get(str(s), {}).get('true_V', 0)} / {d.get(str(s), {}).get('other', 0)}"
        fires = "; ".join(f"{r} ({', '.join(turned(d, s) for s in BOOSTER_SEEDS)})"
                          for r, d in sorted(tpl_served["left_out_firings_by_record_and_seed"].items())) or "none"
        v_text += V_TEMPLATE_CARD.format(
            spec=json.dumps(template), min_called=template["min_called"], af=template["af_off"]["threshold"],
            calls=" / ".join(template["calls"]), wide=template["wide"], corr=template["corr"],
            sv=sc["V_sensitivity"]["mean"], sp=sc["V_positive_predictivity"]["mean"],
            ss=sc["S_sensitivity"]["mean"], sq=sc["S_positive_predictivity"]["mean"], sf=sc["macro_f1_nsvf"]["mean"],
            fires=fires, seeds=", ".join(str(s) for s in BOOSTER_SEEDS))
    rules = ["the rhythm gate"] + (["the V agreement gate"] if spec else []) + (
        ["the full-compensatory-pause rule"] if pause else []) + (["the V template vote"] if template else [])
    card = RELATIVE_CARD.format(
        deep_weight=weight, n_rules=" and ".join(r for r in (", ".join(rules[:-1]), rules[-1]) if r),
        leaves=params["num_leaves"], min_leaf=params["min_data_in_leaf"], n_columns=n_columns, window=window,
        gate_text=gate_text, v_gate_text=v_text,
        v_gate_use=("; `beat_v_gated`: the V calls the V gate took; `pre_v_gate_beat_probabilities`: the "
                    "probabilities before it" if spec else "") + (
            "; `beat_v_paused`: the beats the pause rule turned to V; `pre_v_pause_beat_probabilities`: the "
            "probabilities before it" if pause else "") + (
            "; `beat_v_templated`: the beats the template vote turned to V; `pre_v_template_beat_probabilities`: the "
            "probabilities before it" if template else ""),
        beats=int(rb["candidate"]["ecgsl_alone"]["beats"]),
        took=", ".join(h for h, u in uses.items() if u) or "none",
        refused=", ".join(h for h, u in uses.items() if not u) or "none",
        rows=rows, distance=distance, which_v_gate="v40's V gate" if narrow else "the V gate",
        narrow_row=" the narrow V gate as the build chose it on all of DS1 in the first row;" if narrow else "",
        served_key=(",\nand `v_pause_served_left_out`" + (" and `v_template_served_left_out`" if template else "")
                    + (f" and `{V_NARROW_SHIP_KEY}`" if narrow else "")
                    + " of `v_sensitivity_results.json`" if as_served is not None else ""))
    return card


def step_check(mitdb_dir: Path, out_root) -> dict:
    """The built preset through ``ecgsl evaluate --model mitdb-beats --dataset mitdb --data-dir MITDB_DIR``'s code
    (``evaluation.stacked.evaluate_stacked_raw``): a sanity check of the serving path and of what the gate changes
    (``gate.predictions_changed``), NOT left-out figures when the folder holds DS1 (the preset trained on it)."""
    from ecgsl_keras.evaluation.stacked import evaluate_stacked_raw
    from ecgsl_keras.store import presets

    model = Path(out_root) / PRESET if out_root else presets.preset_dir(PRESET)
    out, _, _ = evaluate_stacked_raw(model, "mitdb", mitdb_dir, progress=False)
    keys = ("n", "records", "accuracy", "sensitivity", "positive_predictivity", "macro_f1", "per_class_f1", "deep",
            "gate", "v_gate", "v_pause", "v_template", "seconds")
    return dict({k: out.get(k) for k in keys}, command=f"python -m ecgsl_keras.evaluate --model {PRESET} --dataset "
                f"mitdb --data-dir {mitdb_dir}",
                note="the records of the data folder; the preset trained on every DS1 record, so on DS1 these are "
                     "training figures (a sanity check), not left-out figures")


REPLACE_RULE = ("fixed before the check of run s33: the rebuilt preset replaces the shipped one only if the check "
                "runs (no crash), its DS1 macro F1, V +P and S Se are each not lower than the previous preset's "
                "check by more than 0.005 (training figures: a sanity check), and its gates' changes are plausible "
                "(read by hand: the classes they move)")
REPLACE_TOLERANCE = 0.005


def against_previous(previous: dict, check: dict) -> dict:
    """``REPLACE_RULE``'s figures: the rebuilt preset's check (``step_check``) against the previous preset's
    (key ``build_check`` of the committed results before the build)."""
    def flat(c):
        return {"macro_f1": c["macro_f1"], "accuracy": c["accuracy"],
                **{f"{k}_{x}": c[k][x] for k in ("sensitivity", "positive_predictivity") for x in ("N", "S", "V", "F")}}

    before, now = flat(previous), flat(check)
    diff = {k: round(now[k] - before[k], 5) for k in before}
    checked = ("macro_f1", "positive_predictivity_V", "sensitivity_S")
    return {"rule": REPLACE_RULE, "previous": before, "difference": diff,
            "within_tolerance": {k: bool(diff[k] >= -REPLACE_TOLERANCE) for k in checked},
            "previous_gate_changes": (previous.get("gate") or {}).get("predictions_changed"),
            "gate_changes": (check.get("gate") or {}).get("predictions_changed"),
            "v_gate_changes": (check.get("v_gate") or {}).get("predictions_changed")}


EXPORT_ROWS = ("chosen_weighted_gated", "chosen_weighted")   # the recipe's seed spreads compared by ``export``
CHOICE_KEYS = ("set", "booster_size", "deep_weight", "gate_feature", "gate_threshold")   # and its choices


def _recipe_summary(rhythm: dict) -> dict:
    """The recipe's figures of a ``step_rhythm`` answer (shipped sets): seed spreads, ECG-SL alone, the choices."""
    sets = rhythm["shipped_sets"]
    return {"seed_spread": {f: sets["seed_spread"][f] for f in EXPORT_ROWS}, "ecgsl": sets["rows"]["ecgsl"],
            "chosen_by_inner_cv": sets["chosen_by_inner_cv"],
            "beats_without_ecgsl_prediction": sets["beats_without_ecgsl_prediction"]}


def _means(spread: dict) -> dict:
    return {k: v["mean"] for k, v in spread.items() if isinstance(v, dict) and "mean" in v}


def step_export(work: Path, mitdb_dir: Path, table: dict, labels, path: Path, shipped: dict | None,
                shipped_key: str = GATE_KEY) -> dict:
    """The ``export`` step (key ``EXPORT[_kK]``): WORK's ECG-SL left-out probabilities (outer and inner, as
    ``_deep_by_time`` / ``_inner_deep`` match them to the table) written to ``path`` (``oof.write``), float16 when
    the recipe's figures from the file equal those from WORK to 3 decimals and each fold's choices (``CHOICE_KEYS``)
    are the same, else float32; the recipe of the shipped
    gate (``--steps rhythm --gate-sets shipped --gate-from-rhythm-labels`` over ``RHYTHM_LABEL_GATE_CANDIDATES``)
    from both; and its difference to ``shipped`` (the committed key ``GATE_KEY``, made from the lost runs)."""
    global COMMITTED
    saved = json.loads((work / "folds.json").read_text(encoding="utf-8"))
    n_folds = len(saved["folds"])
    outer = np.full((len(table["y"]), len(labels)), np.nan)
    inner = {}
    for h in range(n_folds):
        deep, _ = _deep_by_time(work, f"scratch_focal_heldout{h}", f"fold{h}", table)
        outer = np.where(np.isfinite(deep), deep, outer)
        train = np.isin(table["record"], training_records(saved["folds"], h))
        got = _inner_deep(work, h, inner_groups(work, h), table, train)
        if got is not None:
            inner[h] = np.full_like(outer, np.nan)
            inner[h][train] = got
    gate = list(RHYTHM_LABEL_GATE_CANDIDATES)
    from_work = _recipe_summary(step_rhythm(work, mitdb_dir, table, labels, gate, None, both=False,
                                            rhythm_labels=True))
    meta = {"source": f"run.py --work {work} --steps data cv inner --variants scratch_focal (2 folds, seed 42)",
            "labels": list(labels), "match": "each table beat takes the prepared beat within 150 ms (MATCH_S)"}
    try:
        rel = path.resolve().relative_to(REPO)
    except ValueError:
        rel = path
    tried = []
    for dtype in (np.float16, np.float32):
        info = oof.write(path, table, labels, outer, inner, saved, dict(meta, dtype=np.dtype(dtype).name), dtype)
        info["path"] = str(rel)
        COMMITTED = oof.CommittedPredictions(path)
        try:
            from_file = _recipe_summary(step_rhythm(work, mitdb_dir, table, labels, gate, None, both=False,
                                                    rhythm_labels=True))
        finally:
            COMMITTED = None
        diff = {f: {k: abs(v - _means(from_file["seed_spread"][f])[k]) for k, v in
                    _means(from_work["seed_spread"][f]).items()} for f in EXPORT_ROWS}
        same = all(round(v, 3) == round(_means(from_file["seed_spread"][f])[k], 3)
                   for f in EXPORT_ROWS for k, v in _means(from_work["seed_spread"][f]).items())
        picks = [{h: {k: c.get(k) for k in CHOICE_KEYS} for h, c in r["chosen_by_inner_cv"].items()}
                 for r in (from_file, from_work)]
        same = same and picks[0] == picks[1]
        tried.append({"dtype": info["dtype"], "bytes": info["bytes"], "same_figures_to_3_decimals_and_choices": same,
                      "max_abs_difference": max(v for d in diff.values() for v in d.values())})
        log.info("export as %s: %d bytes, same figures to 3 decimals: %s", info["dtype"], info["bytes"], same)
        if same:
            break
    out = {"file": info, "same_to_3_decimals_as_work": bool(same), "dtypes_tried": tried,
           "max_abs_difference_file_vs_work": max(v for d in diff.values() for v in d.values()),
           "from_work": from_work, "from_file": from_file}
    if shipped is not None:
        then = _means(shipped["shipped_sets"]["seed_spread"]["chosen_weighted_gated"])
        now = _means(from_file["seed_spread"]["chosen_weighted_gated"])
        sd = {k: v["sd"] for k, v in shipped["shipped_sets"]["seed_spread"]["chosen_weighted_gated"].items()
              if isinstance(v, dict) and "sd" in v}
        out["reproduction"] = {
            "shipped_key": f"{shipped_key}.shipped_sets.seed_spread.chosen_weighted_gated",
            "shipped": then, "regenerated": now, "difference": {k: round(now[k] - then[k], 4) for k in then},
            "shipped_seed_sd": sd,
            "shipped_chosen_by_inner_cv": {h: {k: c.get(k) for k in CHOICE_KEYS}
                                           for h, c in shipped["shipped_sets"]["chosen_by_inner_cv"].items()},
            "note": "the ECG-SL fold and inner models trained again on CPU (same variant, seed, schedule): "
                    "TensorFlow training on CPU is not bit-reproducible, and the folds are prepared with today's "
                    "R-peak detector (the shipped outer rows matched predictions of folds prepared with an earlier "
                    "one, key tried_outer_today_detector), so the difference is training noise plus that"}
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="the work folder of run.py (folds.json, scratch_focal_heldout*)")
    p.add_argument("--mitdb-dir", default=str(MITDB))
    p.add_argument("--steps", nargs="+", default=["table", "folds", "build"], choices=STEPS)
    p.add_argument("--out-root", help="presets folder to build into (default: the package's)")
    p.add_argument("--out", default=str(HERE / "beats_preset_results.json"))
    p.add_argument("--gate-feature", nargs="+", default=[GATE_FEATURE], help="the rhythm step's gate evidence (a "
                   "table column, default %(default)s, results under rhythm_gate[_kK]; several: the inner CV chooses "
                   "among them, key rhythm_gate[_kK]_inner_evidence; one other than the default: "
                   "rhythm_gate[_kK]_gate_<it>)")
    p.add_argument("--s-scales", nargs="+", type=float, default=[1.0], help="the rhythm step: scales of the S "
                   "probability of the beats not gated, chosen with the gate by the inner CV (key suffix _s_scale)")
    p.add_argument("--gate-spare-z", type=float, default=None, help="the rhythm step: never gate a beat whose "
                   "pre_rr_local_z is below minus this (key suffix _spare_z<it>)")
    p.add_argument("--gate-from-rhythm-labels", action="store_true", help="the rhythm step: fit the gate (evidence "
                   "among --gate-feature by ROC AUC, threshold by Youden J) to the training records' atrial "
                   "fibrillation / flutter annotations instead of the inner CV (key rhythm_gate[_kK]_rhythm_labels)")
    p.add_argument("--gate-sets", choices=("both", "shipped"), default="both", help="the rhythm step on the shipped "
                   "candidate sets and the rhythm ones (both) or the shipped ones only")
    p.add_argument("--build-gate", choices=("rhythm_labels", "none"), default="rhythm_labels", help="build: ship "
                   "the rhythm gate fitted to the DS1 rhythm annotations (fit_build_gate; needs the results key "
                   f"{GATE_KEY} for the card) or no gate (the preset before run mitdb30)")
    p.add_argument("--deep-run", help="build (run s33): the ECG-SL run folder shipped as model.keras (e.g. run.py "
                   "--steps final --beat-reference median's final_scratch_focal; default: the current preset's "
                   "model); the card's left-out figures then come from keys v_gate_local and relative_beats")
    p.add_argument("--recipe-from", help="build: a JSON whose committed_oof.from_file.chosen_by_inner_cv holds the "
                   "inner choices made with --deep-run's probabilities (beats_preset.py --steps export --out); the "
                   "set, booster size and deep weight come from it (size_and_weight_of) instead of key folds")
    p.add_argument("--v-gate", nargs="?", const=next(iter(V_GATE_SOURCES)), choices=tuple(V_GATE_SOURCES),
                   metavar="KEY", help=f"build: ship the V agreement gate of results key KEY in stacking.json. Alone "
                   f"(what mitdb-beats ships since session s39): {V_NARROW_SHIP_KEY} of {V_GATE_SOURCES[V_NARROW_SHIP_KEY]} "
                   "(v_sensitivity.py --steps narrow_gate_served: run v55b's narrow gate, NARROW_BUILD_RULE's entry; "
                   "refused unless NARROW_SHIP_RULE said ship, in the committed key and recomputed "
                   "(ship_check_results.json); needs --v-pause --v-template, on whose rows it was measured). "
                   f"{V_GATE_BUILD_KEY} (run s33's build; what --v-gate alone meant before s39): v40's gate "
                   "(v_gate.py --build: v_gate.BUILD_RULE's choice), shipped when the rule took it")
    p.add_argument("--rules-only", action="store_true", help="build (session s39): change only the rules of the "
                   "current preset: its model.keras (as the deep run, preset_as_deep_run), config.json, "
                   "signal_config.json and booster shipped as they are, not retrained, refitted or re-serialised "
                   "(checked to be the recipe's set, size and deep weight); only stacking.json's rule entries, the "
                   "card and the metadata change")
    p.add_argument("--v-pause", action="store_true", help=f"build: ship the pause rule of key {V_PAUSE_BUILD_KEY} "
                   "(v_sensitivity.py --steps pause_build: PAUSE_BUILD_RULE's choice) in stacking.json when the rule "
                   "took it")
    p.add_argument("--v-template", action="store_true", help=f"build: ship the template vote of key "
                   f"{V_TEMPLATE_SHIP_KEY} of v_sensitivity_results.json (v_sensitivity.py --steps template_served: "
                   "TEMPLATE_BUILD_RULE's entry) in stacking.json; refused unless TEMPLATE_SHIP_RULE said ship")
    p.add_argument("--previous-check", help="check: a results JSON whose build_check is the previous preset's "
                   "(e.g. the committed one saved before the build); its comparison under build_check.against_previous")
    p.add_argument("--folds", type=int, default=2, help="folds of WORK's folds.json (run.py --folds); K > 2: the "
                   "folds and tried steps only, results under folds_kK")
    p.add_argument("--from-committed", nargs="?", const=str(oof.DEFAULT), default=None, metavar="NPZ",
                   help="the ECG-SL left-out and inner probabilities from this committed file (default "
                        f"{oof.DEFAULT.relative_to(REPO)}) instead of WORK's run.py runs; WORK then only caches the "
                        "table, its folds.json written from the file")
    p.add_argument("--export-to", help="the export step's file (default oof/left_out_k<K>.npz beside this script)")
    args = p.parse_args(argv)
    work = Path(args.work).resolve()
    global COMMITTED
    if args.from_committed:
        if "export" in args.steps:
            p.error("export writes the committed file from WORK's runs: not with --from-committed")
        COMMITTED = oof.CommittedPredictions(args.from_committed)
        COMMITTED.write_folds(work)
    elif not (work / "scratch_focal_heldout0" / "left_out_predictions.npz").is_file() and (
            set(args.steps) - {"table", "check"}):
        p.error(f"{work}: no ECG-SL left-out predictions (run.py --steps data cv inner); or read the committed "
                f"ones with --from-committed")
    if n_folds_of(work) != args.folds:
        p.error(f"{work / 'folds.json'} holds {n_folds_of(work)} folds, not --folds {args.folds}")
    balance = json.loads((work / "folds.json").read_text(encoding="utf-8")).get("balance", [])
    suffix = "" if args.folds == 2 and "AF" not in balance else f"_k{args.folds}" + ("_af" if "AF" in balance else "")
    if suffix and "build" in args.steps:
        p.error("build ships the 2-fold protocol's choices: run it on the 2-fold work folder, without --folds")
    from ecgsl_keras import tasks as tasks_lib

    labels = list(tasks_lib.MITDB_AAMI.label_names)
    out_path = Path(args.out)
    result = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
    command = "python experiments/mitdb/beats_preset.py " + " ".join(sys.argv[1:] if argv is None else argv)
    # the top-level command and seconds: the shipped (2-fold) run's
    shipped = bool({"folds", "build"} & set(args.steps)) and not suffix
    if shipped:
        result.update(command=command, targets=TARGETS)
    start = time.perf_counter()
    table = step_table(work, Path(args.mitdb_dir))
    counts = np.bincount(table["y"], minlength=len(labels))
    result["training"] = {"records": sorted(set(table["record"].tolist())),
                          "beats": {labels[i]: int(n) for i, n in enumerate(counts)}}
    folds = None
    if {"folds", "per_record"} & set(args.steps):
        t0 = time.perf_counter()
        folds = step_folds(work, table, labels, column_sets(), per_record="per_record" in args.steps)
    if "per_record" in args.steps:
        result["per_record" + suffix] = dict(per_record_step(work, Path(args.mitdb_dir), folds.pop("per_record")),
                                             command=command)
    if "folds" in args.steps:
        result["folds" + suffix] = folds
        if suffix:
            size, weight = size_and_weight_of(result["folds" + suffix])
            result["folds" + suffix].update(
                folds=json.loads((work / "folds.json").read_text(encoding="utf-8"))["folds"],
                build_would_take={"sets": sorted({c["set"] for c in result["folds" + suffix]["chosen_by_inner_cv"]
                                                  .values()}), "booster_size": size, "deep_weight": weight},
                command=command, seconds=round(time.perf_counter() - t0, 1))
    if "rhythm" in args.steps:
        t0 = time.perf_counter()
        key = RHYTHM + suffix + ("_rhythm_labels" if args.gate_from_rhythm_labels else ""
                                 if args.gate_feature == [GATE_FEATURE] else "_inner_evidence"
                                 if len(args.gate_feature) > 1 else f"_gate_{args.gate_feature[0]}")
        key += "_s_scale" if args.s_scales != [1.0] else ""
        key += f"_spare_z{args.gate_spare_z:g}" if args.gate_spare_z is not None else ""
        result[key] = dict(step_rhythm(work, Path(args.mitdb_dir), table, labels, args.gate_feature,
                                       result.get("folds" + suffix), both=args.gate_sets == "both",
                                       s_scales=tuple(args.s_scales), spare_z=args.gate_spare_z,
                                       rhythm_labels=args.gate_from_rhythm_labels),
                           command=command)
        result[key]["seconds"] = round(time.perf_counter() - t0, 1)
    if "tried" in args.steps:
        t0 = time.perf_counter()
        result[TRIED + suffix] = dict(step_folds(work, table, labels, column_sets(tried=True)), command=command)
        result[TRIED + suffix]["seconds"] = round(time.perf_counter() - t0, 1)
    if "build" in args.steps:
        if "folds" not in result:
            raise SystemExit(f"{out_path}: no 'folds' figures to choose the columns and write the card; run "
                             "--steps folds first")
        gate = gated = None
        if args.build_gate == "rhythm_labels":
            gated = result.get(GATE_KEY)
            if not gated or gated.get("gate_feature") != list(RHYTHM_LABEL_GATE_CANDIDATES):
                raise SystemExit(f"{out_path}: no {GATE_KEY!r} figures over the candidates "
                                 f"{list(RHYTHM_LABEL_GATE_CANDIDATES)} for the card; run --steps rhythm "
                                 "--gate-sets shipped --gate-from-rhythm-labels --gate-feature ... first")
            gate = fit_build_gate(Path(args.mitdb_dir), table, labels)
        recipe = v_gate = None
        if args.recipe_from:
            recipe = json.loads(Path(args.recipe_from).read_text(encoding="utf-8"))[EXPORT]["from_file"][
                "chosen_by_inner_cv"]
            measured = result["relative_beats"]["candidate"]["chosen_by_inner_cv"]
            if {h: {k: c.get(k) for k in CHOICE_KEYS} for h, c in recipe.items()} != measured:
                raise SystemExit(f"{args.recipe_from}: its choices are not key relative_beats' (the recipe measured)")
        if args.rules_only:
            if args.deep_run:
                p.error("--rules-only or --deep-run, not both")
            args.deep_run = str(preset_as_deep_run(work, result["build"]))
        if args.deep_run and recipe is None:
            p.error("--deep-run needs --recipe-from (the inner choices made with its probabilities)")
        if args.v_gate == V_GATE_BUILD_KEY:   # v_gate.py --build's choice (this script does not import v_gate.py)
            if V_GATE_BUILD_KEY not in result:
                raise SystemExit(f"{out_path}: no {V_GATE_BUILD_KEY!r}; run v_gate.py --build first")
            v_gate = result[V_GATE_BUILD_KEY]
            log.info("build V gate: %s (inner %s)", v_gate["v_gate"], v_gate["inner_macro_f1_nsvf"])
        elif args.v_gate:   # v_sensitivity.py --steps narrow_gate_served's entry and ship decision
            v_gate = narrow_gate_entry(HERE / V_GATE_SOURCES[args.v_gate])
            if not (args.v_pause and args.v_template):
                p.error(f"--v-gate {args.v_gate} needs --v-pause --v-template (it was measured on their rows)")
            log.info("build V gate: %s (%s)", v_gate["v_gate"], args.v_gate)
        v_pause = None
        if args.v_pause:   # v_sensitivity.py --steps pause_build's choice
            if V_PAUSE_BUILD_KEY not in result:
                raise SystemExit(f"{out_path}: no {V_PAUSE_BUILD_KEY!r}; run v_sensitivity.py --steps pause_build "
                                 "first")
            v_pause = result[V_PAUSE_BUILD_KEY]
            log.info("build pause rule: %s", v_pause["v_pause"])
        v_template = None
        if args.v_template:   # v_sensitivity.py --steps template_served's entry and ship decision
            shipped_path = HERE / "v_sensitivity_results.json"
            v_template = json.loads(shipped_path.read_text(encoding="utf-8")).get(V_TEMPLATE_SHIP_KEY)
            if v_template is None:
                raise SystemExit(f"{shipped_path}: no {V_TEMPLATE_SHIP_KEY!r}; run v_sensitivity.py --steps "
                                 "template_served first")
            if not v_template["ship"]:
                raise SystemExit(f"{shipped_path}: {V_TEMPLATE_SHIP_KEY}.ship is false (TEMPLATE_SHIP_RULE): the "
                                 "template vote is not shipped")
            if v_pause is None:   # measured and decided on the served pause rule's rows
                p.error("--v-template needs --v-pause (the vote was measured after the shipped pause rule)")
            log.info("build template vote: %s", v_template["v_template"])
        result["build"] = step_build(work, table, labels, args.out_root, result["folds"], gate, gated,
                                     Path(args.deep_run).resolve() if args.deep_run else None, recipe, v_gate,
                                     result if args.deep_run else None, v_pause, v_template,
                                     v_gate_key=args.v_gate or V_GATE_BUILD_KEY, rules_only=args.rules_only)
        result["n_columns"] = len(result["build"]["booster_columns"])
    if "check" in args.steps:
        result["build_check"] = step_check(Path(args.mitdb_dir), args.out_root)
        if args.previous_check:   # REPLACE_RULE's figures against the previous preset's check
            previous = json.loads(Path(args.previous_check).read_text(encoding="utf-8"))["build_check"]
            result["build_check"]["against_previous"] = against_previous(previous, result["build_check"])
    if "export" in args.steps:
        t0 = time.perf_counter()
        target = Path(args.export_to) if args.export_to else oof.default_path(args.folds, "AF" in balance)
        result[EXPORT + suffix] = dict(step_export(work, Path(args.mitdb_dir), table, labels, target,
                                                   result.get(GATE_KEY.replace(RHYTHM, RHYTHM + suffix)),
                                                   GATE_KEY.replace(RHYTHM, RHYTHM + suffix)), command=command)
        result[EXPORT + suffix]["seconds"] = round(time.perf_counter() - t0, 1)
    if shipped:
        result["seconds"] = round(time.perf_counter() - start, 1)
    out_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
