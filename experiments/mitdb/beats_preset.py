"""Retrain ``mitdb-beats`` (issue 18, deliverable 3) as a per-beat hybrid on ONE lead: the ECG-SL per-beat model's
probabilities averaged with a shallow LightGBM booster over per-beat features of lead MLII.

    python experiments/mitdb/run.py --work WORK --steps data cv --variants scratch_focal   # folds + ECG-SL
    python experiments/mitdb/hybrid.py --work WORK                                       # the per-beat tables
    python experiments/mitdb/beats_preset.py --work WORK [--out-root DIR]

Steps (``--steps`` picks some; the training rows are cached in WORK/beats_preset):

``folds``  the recipe's honest figures: per DS1 fold of whole records, the booster trained on the OTHER fold
           (``hybrid.py``'s cached tables), alone and averaged with that fold's ECG-SL model, every DS1 beat scored
           once (pooled), booster seeds 42-44. The recipe was fixed before these figures: the columns are
           ``hybrid.py``'s ``linear`` row (RR divided by the record's average RR, shape against the record's median
           beat) plus the RR context (``per_beat_features.RR_CONTEXT_FEATURE_NAMES``), the booster is the two-lead
           rows' shallow one (``TWO_LEAD_PARAMS``), and the average is the plain mean, as ``cinc2017`` ships.
           A second lead is not used: the preset reads one lead, as the ECG-SL model does.
``table``  the training rows of the shipped booster: all 22 DS1 records read through the package's reader on MLII,
           preprocessed by the preset's own ``Predictor.preprocess``, the columns by
           ``per_beat_features.beat_feature_columns`` (what ``serving.stacked`` computes at prediction time), beats
           labelled by ``prepare.match_beat_labels`` (150 ms); the rows are checked against ``hybrid.py``'s tables.
``build``  the booster on every DS1 beat (balanced weights capped at 20, seed 42), re-specified as
           ``combine="average"``, ``rows="beat"`` over the preset's ECG-SL model, and the preset built with
           ``ecgsl presets build``'s code (``training.publish.build``) from the ECG-SL model of the current preset.

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
sys.path.insert(0, str(HERE))

from hybrid import (BOOSTER_SEEDS, CLASSES, LINEAR_FEATURES, TARGETS, TWO_LEAD_PARAMS,  # noqa: E402
                    WEIGHT_CAP)

log = logging.getLogger("experiments.mitdb.beats_preset")

STEPS = ("folds", "table", "build")
PRESET = "mitdb-beats"
DEEP_WEIGHT = 0.5
SEED = 42


def columns() -> list:
    from ecgsl_keras.data.per_beat_features import RR_CONTEXT_FEATURE_NAMES

    return list(LINEAR_FEATURES) + list(RR_CONTEXT_FEATURE_NAMES)


def _table_columns(table) -> np.ndarray:
    """The ``columns()`` of a ``hybrid.py`` table (first lead's features + its ``second`` set)."""
    from ecgsl_keras.data.per_beat_features import FEATURE_NAMES, RR_CONTEXT_FEATURE_NAMES

    from hybrid import second_names

    second = second_names()
    first = table["features"][:, [FEATURE_NAMES.index(n) for n in LINEAR_FEATURES]]
    context = table["second"][:, [second.index(n) for n in RR_CONTEXT_FEATURE_NAMES]]
    return np.concatenate([first, context], axis=1)


def _features_booster(X, y, labels, seed):
    from ecgsl_keras.modeling.stacking import StackedClassifier

    clf = StackedClassifier(columns(), [], labels, params=dict(TWO_LEAD_PARAMS, num_threads=1), seed=seed)
    return clf.fit(X, y, sample_weight=np.minimum(clf.sample_weight(y), WEIGHT_CAP))


def _scores(y, p, labels) -> dict:
    from sklearn.metrics import f1_score

    from ecgsl_keras.evaluation import metrics as metrics_lib

    m = metrics_lib.per_beat_metrics(y, p, labels)
    idx = [labels.index(c) for c in CLASSES]
    flat = {"accuracy": m["accuracy"], "beats": int(len(y)),
            "macro_f1_nsvf": float(f1_score(y, p.argmax(-1), labels=idx, average="macro", zero_division=0))}
    for c in CLASSES:
        flat[f"{c}_sensitivity"] = (m.get("sensitivity") or {}).get(c)
        flat[f"{c}_positive_predictivity"] = (m.get("positive_predictivity") or {}).get(c)
    flat["f1"] = {c: float(f1_score(y, p.argmax(-1), labels=[labels.index(c)], average="macro", zero_division=0))
                  for c in ("S", "V")}
    flat["distance_to_targets"] = {k: round(flat[k] - v, 4) for k, v in TARGETS.items() if flat.get(k) is not None}
    return flat


def step_folds(work: Path, labels) -> dict:
    tables = []
    for fold in (0, 1):
        table = dict(np.load(work / "hybrid" / f"table_fold{fold}.npz"))
        second = np.load(work / "hybrid" / f"second_fold{fold}.npz")
        if not np.array_equal(second["key"], table["key"]):
            raise SystemExit(f"{work / 'hybrid'}: second_fold{fold}.npz does not match table_fold{fold}.npz")
        table["second"] = second["second"]
        tables.append(table)
    parts = {}
    for held_out in (0, 1):
        train, test = tables[1 - held_out], tables[held_out]
        deep = np.load(work / f"scratch_focal_heldout{held_out}" / "left_out_predictions.npz")
        deep_of = {str(k): p for k, p in zip(deep["keys"], deep["probabilities"])}
        p_deep = np.stack([deep_of[str(k)] for k in test["key"]]).astype(np.float64)
        parts.setdefault("ecgsl", []).append((test["target"], p_deep))
        for seed in BOOSTER_SEEDS:
            booster = _features_booster(_table_columns(train), train["target"], labels, seed)
            p_booster = booster.predict_proba(_table_columns(test))
            parts.setdefault(f"booster_s{seed}", []).append((test["target"], p_booster))
            parts.setdefault(f"average_s{seed}", []).append(
                (test["target"], (1 - DEEP_WEIGHT) * p_booster + DEEP_WEIGHT * p_deep))
            log.info("held-out fold %d, booster seed %d done", held_out, seed)
    rows = {name: _scores(np.concatenate([t for t, _ in ps]), np.concatenate([p for _, p in ps]), labels)
            for name, ps in parts.items()}
    keys = ("S_sensitivity", "S_positive_predictivity", "V_sensitivity", "V_positive_predictivity",
            "macro_f1_nsvf", "accuracy")
    spread = {}
    for form in ("booster", "average"):
        seeds = [rows[f"{form}_s{s}"] for s in BOOSTER_SEEDS]
        spread[form] = {k: {"mean": float(np.mean([r[k] for r in seeds])), "sd": float(np.std([r[k] for r in seeds],
                                                                                            ddof=1))} for k in keys}
        spread[form]["f1"] = {c: {"mean": float(np.mean([r["f1"][c] for r in seeds])),
                                  "sd": float(np.std([r["f1"][c] for r in seeds], ddof=1))} for c in ("S", "V")}
    return {"rows": rows, "booster_seeds": list(BOOSTER_SEEDS), "seed_spread": spread,
            "shipped_form": f"average_s{SEED}"}


def step_table(work: Path, mitdb_dir: Path, labels) -> dict:
    """The shipped booster's training rows (cached in WORK/beats_preset/table.npz) and their check against the
    ``hybrid.py`` tables (the same beats, cut by the same preprocessing)."""
    from ecgsl_keras import tasks as tasks_lib
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.prepare import match_beat_labels
    from ecgsl_keras.serving.inference import load_model
    from tfrecords_tools.schema import IGNORE_LABEL

    path = work / "beats_preset" / "table.npz"
    if not path.is_file():
        predictor = load_model(PRESET)
        reader = open_dataset("mitdb", mitdb_dir, lead=predictor.lead, records=list(tasks_lib.MITDB_DS1))
        X, y, rec = [], [], []
        for rid in tasks_lib.MITDB_DS1:
            record = reader.load(rid)
            beats = predictor.preprocess(record.lead(None), record.fs, record.path)
            target = match_beat_labels(beats.rpeaks_native, record.beat_annotations, predictor.task, record.fs)
            x = beat_feature_columns(beats.beats, beats.rr, beats.rpeaks / float(beats.fs), columns())
            keep = target != IGNORE_LABEL
            X.append(x[keep])
            y.append(target[keep])
            rec.extend([rid] * int(keep.sum()))
            log.info("%s: %d labelled beats", rid, int(keep.sum()))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, X=np.concatenate(X), y=np.concatenate(y), record=np.array(rec))
    table = dict(np.load(path))
    # the check: the serving path's columns against hybrid.py's (TFRecord) tables, per record, as distributions
    # (the tables order beats by chunk; chunks under min_beats beats are dropped there)
    hybrid_rows = np.concatenate([_table_columns(t) for t in (
        {**dict(np.load(work / "hybrid" / f"table_fold{f}.npz")),
         "second": np.load(work / "hybrid" / f"second_fold{f}.npz")["second"]} for f in (0, 1))])
    check = {"beats_serving_path": int(len(table["y"])), "beats_hybrid_tables": int(len(hybrid_rows)),
             "column_median_abs_diff": float(np.nanmax(np.abs(np.nanmedian(table["X"], axis=0)
                                                              - np.nanmedian(hybrid_rows, axis=0))))}
    counts = {labels[i]: int(n) for i, n in enumerate(np.bincount(table["y"], minlength=len(labels)))}
    return {"X": table["X"], "y": table["y"], "records": sorted(set(table["record"].tolist())), "beats": counts,
            "check_against_hybrid_tables": check}


CARD = """## What it is

Issue 18's per-beat MIT-BIH model (AAMI classes N, S, V, F, Q), one lead (MLII): the class probabilities of two
models averaged per beat (`stacking.json`: `rows: "beat"`, `combine: "average"`, `deep_weight` 0.5):

- `model.keras`: the ECG-SL per-beat model (`scratch_focal`: trained from random weights with focal loss on the 22
  DS1 records; the model of the previous `mitdb-beats`, unchanged);
- `booster.txt.gz` (LightGBM's own text format, never a pickle): a shallow booster (4 leaves, at least 400 beats a
  leaf) over {n_columns} per-beat features of the same lead (`ecgsl_keras.data.per_beat_features`): the RR
  intervals divided by the record's average RR and by the previous 10 and the surrounding 5 minutes of RR, the
  local RR variability and irregularity, the QRS width, and the beat's shape against the record's median beat.
  No absolute amplitude or RR. Trained on every labelled DS1 beat (balanced class weights capped at 20).

`ecgsl predict --model mitdb-beats`, `ecgsl evaluate --model mitdb-beats --dataset mitdb --data-dir ...` and
`serving.inference.load_model("mitdb-beats").predict_signal(...)` use both (the ECG-SL model's own per-beat
probabilities are in `deep_beat_probabilities`); `keras.models.load_model` on `model.keras` and `export` give the
ECG-SL part alone.

## What the figures mean

The preset saw every DS1 record, so it has no figures of its own on DS1. The same recipe with DS1 cut into two
folds of whole records (each fold's models trained on the other fold; {beats} left-out beats pooled;
`python experiments/mitdb/beats_preset.py --work WORK`, `experiments/mitdb/beats_preset_results.json`):

| model | S Se | S +P | V Se | V +P | S F1 | V F1 |
| --- | --- | --- | --- | --- | --- | --- |
| this recipe (booster seed 42) | {a[S_sensitivity]:.3f} | {a[S_positive_predictivity]:.3f} | {a[V_sensitivity]:.3f} | {a[V_positive_predictivity]:.3f} | {a[f1][S]:.3f} | {a[f1][V]:.3f} |
| ECG-SL alone (the previous `mitdb-beats`) | {e[S_sensitivity]:.3f} | {e[S_positive_predictivity]:.3f} | {e[V_sensitivity]:.3f} | {e[V_positive_predictivity]:.3f} | {e[f1][S]:.3f} | {e[f1][V]:.3f} |
| the booster alone | {b[S_sensitivity]:.3f} | {b[S_positive_predictivity]:.3f} | {b[V_sensitivity]:.3f} | {b[V_positive_predictivity]:.3f} | {b[f1][S]:.3f} | {b[f1][V]:.3f} |

Issue 18's targets (S Se >= 0.80 with +P >= 0.60, V Se >= 0.92 with +P >= 0.90) are not reached. The inter-patient
test set DS2 is not used here. Not a medical device: research software, not for diagnosis or treatment.
"""


def step_build(work: Path, table: dict, labels, out_root, folds: dict) -> dict:
    from ecgsl_keras.modeling.stacking import StackedClassifier, probability_names
    from ecgsl_keras.store import presets
    from ecgsl_keras.training import publish

    source = presets.preset_dir(PRESET)
    deep_run = work / "beats_preset" / "deep_run"     # the current preset's ECG-SL model as a run folder
    if not deep_run.is_dir():
        deep_run.mkdir(parents=True)
        for name in ("model.keras", "config.json"):
            shutil.copyfile(source / name, deep_run / name)
    features = _features_booster(table["X"], table["y"], labels, SEED)
    clf = StackedClassifier(columns(), probability_names(labels), labels, params=features.params, seed=SEED,
                            class_weight=features.class_weight, combine="average", deep_weight=DEEP_WEIGHT,
                            rows="beat", deep_source={"kind": "probabilities", "combine": "average",
                                                      "model": "ECG-SL per-beat model (model.keras of this preset)"})
    clf.booster = features.booster
    booster_dir = work / "beats_preset" / "booster"
    shutil.rmtree(booster_dir, ignore_errors=True)
    booster_dir.mkdir(parents=True)
    clf.save(booster_dir)
    rows = folds["rows"]
    card = work / "beats_preset" / "card.md"
    card.write_text(CARD.format(n_columns=len(columns()), beats=f"{rows['ecgsl']['beats']:,}",
                                a=rows[folds["shipped_form"]], e=rows["ecgsl"], b=rows[f"booster_s{SEED}"]),
                    encoding="utf-8")
    meta = publish.build(deep_run, PRESET, "ECG-SL per-beat AAMI classifier (N, S, V, F, Q) on MIT-BIH MLII averaged "
                         "with a LightGBM booster over per-beat RR and shape features of the same lead; trained on "
                         "the 22 DS1 records; single lead, 100 Hz", card_extra=card,
                         overwrite=True, root=out_root, booster=booster_dir)
    return {"preset_root": str(out_root or "package"), "booster_columns": columns(),
            "booster_params": features.params, "class_weight_cap": WEIGHT_CAP, "deep_weight": DEEP_WEIGHT,
            "seed": SEED, "files": meta["files"]}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="the work folder of run.py and hybrid.py")
    p.add_argument("--mitdb-dir", default=str(REPO.parent / "shared" / "data" / "mitdb"))
    p.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    p.add_argument("--out-root", help="presets folder to build into (default: the package's)")
    p.add_argument("--out", default=str(HERE / "beats_preset_results.json"))
    args = p.parse_args(argv)
    work = Path(args.work).resolve()
    from ecgsl_keras import tasks as tasks_lib

    labels = list(tasks_lib.MITDB_AAMI.label_names)
    out_path = Path(args.out)
    result = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
    result.update(command="python experiments/mitdb/beats_preset.py " + " ".join(sys.argv[1:] if argv is None
                                                                                 else argv),
                  columns=columns(), n_columns=len(columns()), targets=TARGETS)
    start = time.perf_counter()
    if "folds" in args.steps:
        result["folds"] = step_folds(work, labels)
    if "table" in args.steps or "build" in args.steps:
        table = step_table(work, Path(args.mitdb_dir), labels)
        result["training"] = {k: v for k, v in table.items() if k not in ("X", "y")}
        if "build" in args.steps:
            if "folds" not in result:
                raise SystemExit(f"{out_path}: no 'folds' figures for the model card; run --steps folds first")
            result["build"] = step_build(work, table, labels, args.out_root, result["folds"])
    result["seconds"] = round(time.perf_counter() - start, 1)
    out_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
