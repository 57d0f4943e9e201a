"""MIT-BIH per-beat hybrid (issue 18, deliverable 3): per-beat RR-context and shape features, alone and with
ECG-SL, leave-records-out on DS1.

    python experiments/mitdb/run.py --work /work/runs/mitdb18 --steps data cv --variants scratch_focal
    python experiments/mitdb/hybrid.py --work /work/runs/mitdb18

The first command prepares the two DS1 folds (whole records, ``leave_records_out_folds``) and trains the ECG-SL
per-beat model on each fold, scoring the other (``left_out_predictions.npz``). This script then, per left-out fold
(the model of every row trained on the OTHER fold only):

``table``  per beat of both folds: ``ecgsl_keras.data.per_beat_features`` (pre/post/local RR, each also divided
           by the record's average RR; QRS width; correlation with the record's median beat; ...) from the
           prepared beats and RR, and the label-free per-beat hidden state of the ``encoder`` preset's temporal
           encoder (pre-trained without labels; no out-of-fold scheme needed), keyed as ``evaluate`` keys beats.
``rows``   * ``ecgsl``: the ECG-SL per-beat model alone (``run.py``'s variant);
           * ``features``: LightGBM (``modeling.stacking.StackedClassifier``) on the per-beat features;
           * ``features_embedding``: LightGBM on [features + encoder hidden state] (hybrid b, label-free deep input);
           * ``average``: mean of the ``features`` booster's and ECG-SL's probabilities (same fold, no OOF needed);
           * ``linear``: balanced logistic regression (median imputation, standardised, clipped to +-50) on the
             RR features divided by the record's average RR and the shape-against-median features only
             (``LINEAR_FEATURES``: no absolute RR, no absolute amplitude), in the spirit of de Chazal et al.'s
             linear discriminants;
           * ``linear_features_average``: mean of the ``linear`` and ``features`` probabilities (the linear model's
             S sensitivity with the booster's V positive predictivity);
           * ``two_lead_<model>`` (``--no-two-lead`` leaves them out): the ``linear`` columns + the RR context
             (``rr_context_features``: RR over the previous 10 RR and over a 5-minute window, local variability,
             ``rr_irregularity``) + the shape columns of the record's OTHER lead (V1; V5 in 114, V4 in 124; read
             from ``--mitdb-dir``, cut at the prepared beats' R-peaks by ``lead_beats``; ``second_table``,
             cached in WORK/hybrid), with ``TWO_LEAD_MODELS``: balanced logistic regression, linear SVM, RBF
             SVM (softmax of the decision values), a shallow LightGBM (``TWO_LEAD_PARAMS``) and a per-group
             ensemble (one booster per column group, product of probabilities), and the mean of the booster's
             and the RBF SVM's probabilities (``TWO_LEAD_AVERAGES``); ``two_lead_chosen``: per fold,
             the two-lead row (with or without offsets) of the best inner-CV macro F1 on the training fold;
             ``two_lead_booster_ecgsl_average``: mean with ECG-SL. The booster's spread over ``BOOSTER_SEEDS``
             goes to ``two_lead_booster_seeds``;
           each with the argmax and with per-class log-probability offsets chosen on the TRAINING fold by an
           inner leave-records-out split (two groups of its records, ``leave_records_out_folds``), maximising
           the mean F1 over N, S, V, F: no left-out beat takes part in any choice.
Pooled left-out metrics over both folds (every DS1 beat scored once) go to ``hybrid_results.json`` beside this
file; the last line of stdout is one JSON object. Resumable: the feature table is cached in WORK/hybrid.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.special import softmax

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.shared_data import MITDB  # noqa: E402

log = logging.getLogger("experiments.mitdb.hybrid")

CLASSES = ("N", "S", "V", "F")
WEIGHT_CAP = 20.0        # balanced class weights capped, as the deep protocol (DS1 has 8 Q beats)
PARAMS = {"learning_rate": 0.05, "num_boost_round": 300, "num_leaves": 15, "min_data_in_leaf": 50,
          "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8}
LINEAR_FEATURES = ("pre_rr_norm", "post_rr_norm", "local_rr_norm", "pre_local_ratio", "post_pre_ratio", "qrs_width_ms",
                   "qrs_width_norm", "median_corr", "median_corr_qrs", "residual_norm", "r_amplitude_norm",
                   "qrs_p2p_norm", "p_energy_norm", "t_energy_norm")
OFFSETS = np.arange(-3.0, 3.01, 0.25)
# --- the two-lead rows (``second_table``) -------------------------------------------------------------------
# Booster for the two-lead rows: shallow and strongly regularised (4 leaves, >= 400 beats a leaf, L2 10, half
# the columns a tree): with 11 training records a deeper booster learns record-specific shapes.
TWO_LEAD_PARAMS = {"learning_rate": 0.05, "num_boost_round": 150, "num_leaves": 4, "min_data_in_leaf": 400,
                   "bagging_fraction": 0.7, "bagging_freq": 1, "feature_fraction": 0.5, "lambda_l2": 10.0}
LINEAR_SVM_C = 0.1
RBF_SVM_C = 1.0
TWO_LEAD_MODELS = ("linear", "linear_svm", "rbf_svm", "booster", "group_ensemble")
TWO_LEAD_AVERAGES = {"booster_rbf_svm_average": ("booster", "rbf_svm")}   # row -> the two models it averages
BOOSTER_SEEDS = (42, 43, 44)   # the two_lead_booster row's spread over booster seeds
TARGETS = {"S_sensitivity": 0.80, "S_positive_predictivity": 0.60, "V_sensitivity": 0.92,
           "V_positive_predictivity": 0.90}


def _task_and_config(work: Path):
    from ecgsl_keras import tasks as tasks_lib
    from ecgsl_keras.config import ExperimentConfig

    return tasks_lib.MITDB_AAMI, ExperimentConfig.load(work / "experiment_config.json")


def beat_table(data: Path, config, task, encoder=None) -> dict:
    """Per labelled beat of the prepared folder ``data`` (split ``train`` = every record of the fold): keys as
    ``evaluate.aggregate`` makes them, record ids, targets, per-beat features and (with ``encoder``) hidden states."""
    from ecgsl_keras.data.per_beat_features import per_beat_features
    from ecgsl_keras.evaluation import evaluate as evaluate_lib
    from tfrecords_tools.schema import IGNORE_LABEL

    seen, rows = set(), {}
    for features, targets in evaluate_lib.eval_dataset(data, "train", config, task):
        mask = features["padding_mask"].numpy()
        hidden = None
        if encoder is not None:
            hidden = encoder(evaluate_lib.model_inputs(features), training=False).numpy()
        beats, rr, targets = features["beats"].numpy(), features["rr"].numpy(), targets.numpy()
        for w in range(len(mask)):
            rid = features["record_id"].numpy()[w].decode()
            start = features["segment_start_s"].numpy()[w]     # float32, printed as evaluate.aggregate prints it
            offset = int(features["window_start"].numpy()[w])
            for pos in np.nonzero(mask[w])[0]:
                index = offset + int(pos)
                key = f"{rid}@{np.asarray(start).astype(str)}#{index}"
                if key in seen:                 # overlapping evaluation windows: the first one counts
                    continue
                seen.add(key)
                rows.setdefault(rid, []).append((start, index, key, int(targets[w, pos]), beats[w, pos], rr[w, pos],
                                                 None if hidden is None else hidden[w, pos]))
    out = {k: [] for k in ("key", "record", "target", "features", "embedding")}
    for rid in sorted(rows):
        beats_of = sorted(rows[rid], key=lambda r: (r[0], r[1]))
        X = per_beat_features(np.stack([b[4] for b in beats_of]), np.stack([b[5] for b in beats_of]))
        for row, x in zip(beats_of, X):
            if row[3] == IGNORE_LABEL:
                continue
            out["key"].append(row[2])
            out["record"].append(rid)
            out["target"].append(row[3])
            out["features"].append(x)
            if row[6] is not None:
                out["embedding"].append(row[6])
    table = {"key": np.array(out["key"]), "record": np.array(out["record"]), "target": np.array(out["target"], int),
             "features": np.stack(out["features"])}
    if out["embedding"]:
        table["embedding"] = np.stack(out["embedding"]).astype(np.float32)
    return table


def second_table(data: Path, mitdb_dir: Path, config, keys) -> dict:
    """The second feature set (``--two-lead``), per key of ``keys`` (the ``beat_table`` order): the RR context
    (``rr_context_features``), the first lead's scale-free morphology (``morphology_features``) and, from the
    record's other lead (the one of its .hea that is not MLII: V1, V5 in 114, V4 in 124), ``per_beat_features``'
    shape columns and ``morphology_features``, cut at the SAME R-peaks as the prepared beats (``lead_beats``).
    Columns: ``second_names`` order; ``second_lead``: ``record:lead`` of every record."""
    from ecgsl_keras.data import per_beat_features as pbf
    from ecgsl_keras.data.datasets.wfdb_folder import read_header, read_wfdb_signal
    from tfrecords_tools import read_examples

    examples = {}
    for ex in read_examples(str(data)):
        examples.setdefault(ex.record_id, []).append(ex)
    shape_idx = [pbf.FEATURE_NAMES.index(n) for n in pbf.SHAPE_FEATURE_NAMES]
    rows, leads = {}, {}
    for rid, exs in sorted(examples.items()):
        exs.sort(key=lambda e: e.segment_start_s)
        beat_keys = [f"{rid}@{np.asarray(np.float32(e.segment_start_s)).astype(str)}#{i}"
                     for e in exs for i in range(len(e.rpeaks))]
        beats = np.concatenate([e.beats for e in exs])
        rr = np.concatenate([e.rr for e in exs])
        rpeaks = np.concatenate([e.rpeaks for e in exs])
        fs = exs[0].fs
        base = Path(mitdb_dir) / rid
        names = [str(n) for n in read_header(base).sig_name]
        other = [n for n in names if n.upper() != "MLII"][0]
        lead2, lead_fs, _, _ = read_wfdb_signal(base, lead=other)
        beats2 = pbf.lead_beats(lead2[:, 0], lead_fs, rpeaks, config.signal)
        X = np.concatenate([pbf.rr_context_features(rpeaks / fs, rr), pbf.morphology_features(beats),
                            pbf.per_beat_features(beats2, rr)[:, shape_idx], pbf.morphology_features(beats2)], axis=1)
        rows.update(zip(beat_keys, X))
        leads[rid] = other
    missing = [k for k in keys if str(k) not in rows]
    if missing:
        raise SystemExit(f"{len(missing)} beats of the table have no second-lead row (e.g. {missing[:3]})")
    return {"key": np.asarray(keys), "second": np.stack([rows[str(k)] for k in keys]),
            "second_lead": np.array([f"{r}:{l}" for r, l in sorted(leads.items())])}


def second_names() -> list:
    from ecgsl_keras.data import per_beat_features as pbf

    return (list(pbf.RR_CONTEXT_FEATURE_NAMES) + list(pbf.MORPHOLOGY_FEATURE_NAMES)
            + [f"lead2_{n}" for n in pbf.SHAPE_FEATURE_NAMES + pbf.MORPHOLOGY_FEATURE_NAMES])


def two_lead_columns(table) -> tuple:
    """(X, names, groups) of the two-lead rows: ``LINEAR_FEATURES`` (RR divided by the record's average RR,
    shape against the median beat), the RR context, and the second lead's shape against its own median beat
    (no absolute amplitude, no absolute RR, no raw wavelet coefficients: they do not carry across patients).
    ``groups``: name -> column indices, for the per-group ensemble (``rr``, ``lead1``, ``lead2``)."""
    from ecgsl_keras.data import per_beat_features as pbf

    second = second_names()
    lead2 = list(pbf.SECOND_LEAD_FEATURE_NAMES)
    first_idx = [pbf.FEATURE_NAMES.index(n) for n in LINEAR_FEATURES]
    second_idx = [second.index(n) for n in list(pbf.RR_CONTEXT_FEATURE_NAMES) + lead2]
    X = np.concatenate([table["features"][:, first_idx], table["second"][:, second_idx]], axis=1)
    names = list(LINEAR_FEATURES) + list(pbf.RR_CONTEXT_FEATURE_NAMES) + lead2
    rr_names = set(LINEAR_FEATURES[:5]) | set(pbf.RR_CONTEXT_FEATURE_NAMES)
    groups = {"rr": [i for i, n in enumerate(names) if n in rr_names],
              "lead1": [i for i, n in enumerate(names) if n not in rr_names and not n.startswith("lead2_")],
              "lead2": [i for i, n in enumerate(names) if n.startswith("lead2_")]}
    return X, names, groups


def fit_predict(kind, X, y, X_test, names, groups, labels, seed) -> np.ndarray:
    """Probabilities (len(X_test), len(labels)) of one two-lead model trained on (X, y). Linear models and SVMs:
    median imputation, standardised, clipped to +-50, balanced class weights; the SVMs' probabilities are the
    softmax of their one-vs-rest decision values (only their argmax and the offsets on them are used)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    from ecgsl_keras.modeling.stacking import StackedClassifier

    out = np.zeros((len(X_test), len(labels)))
    if kind in ("booster", "group_ensemble"):
        def booster(cols):
            clf = StackedClassifier([names[i] for i in cols], [], labels, params=dict(TWO_LEAD_PARAMS, num_threads=1),
                                    seed=seed)
            clf.fit(X[:, cols], y, sample_weight=np.minimum(clf.sample_weight(y), WEIGHT_CAP))
            return clf.predict_proba(X_test[:, cols])
        if kind == "booster":
            return booster(list(range(X.shape[1])))
        # product of the per-group probabilities (each group's evidence multiplied), renormalised
        logp = sum(np.log(np.clip(booster(cols), 1e-9, 1.0)) for cols in groups.values())
        return softmax(logp, axis=1)
    estimator = {"linear": lambda: LogisticRegression(class_weight="balanced", max_iter=3000),
                 "linear_svm": lambda: LinearSVC(class_weight="balanced", C=LINEAR_SVM_C, max_iter=5000),
                 "rbf_svm": lambda: SVC(class_weight="balanced", C=RBF_SVM_C, gamma="scale", cache_size=500)}[kind]()
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), estimator)
    model.fit(np.clip(X, -50.0, 50.0), y)
    X_test = np.clip(X_test, -50.0, 50.0)
    if kind == "linear":
        out[:, model.classes_] = model.predict_proba(X_test)
    else:
        out[:, model.classes_] = softmax(model.decision_function(X_test), axis=1)
        out[:, [i for i in range(len(labels)) if i not in set(model.classes_)]] = 0.0
    return out


def _encoder(config, task):
    import keras

    import ecgsl_keras  # noqa: F401  (registers the custom layers)
    from ecgsl_keras.modeling import models
    from ecgsl_keras.store import presets

    pretrained = keras.models.load_model(presets.path("encoder"), compile=False)
    return models.build_beat_classifier(config.model, task, pretrained=pretrained).get_layer("temporal_encoder")


def _booster(X, y, names, labels, seed):
    from ecgsl_keras.modeling.stacking import StackedClassifier

    clf = StackedClassifier(names, [], labels, params=dict(PARAMS, num_threads=1), seed=seed)
    return clf.fit(X, y, sample_weight=np.minimum(clf.sample_weight(y), WEIGHT_CAP))   # balanced, capped


def _linear(train, test, n_classes):
    """Probabilities of the ``linear`` row (see the module docstring) for the ``test`` table."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ecgsl_keras.data.per_beat_features import FEATURE_NAMES

    idx = [FEATURE_NAMES.index(name) for name in LINEAR_FEATURES]

    def columns(table):
        return np.clip(table["features"][:, idx], -50.0, 50.0)   # NaN stays NaN (imputed); inf ratios clipped

    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                          LogisticRegression(class_weight="balanced", max_iter=2000))
    model.fit(columns(train), train["target"])
    out = np.zeros((len(test["target"]), n_classes))
    out[:, model.classes_] = model.predict_proba(columns(test))
    return out


def _macro_nsvf(y, p, labels):
    from sklearn.metrics import f1_score

    idx = [labels.index(c) for c in CLASSES]
    return float(f1_score(y, p.argmax(-1), labels=idx, average="macro", zero_division=0))


def choose_offsets(y, p, labels) -> np.ndarray:
    """Per-class log-probability offsets (coordinate ascent, 2 sweeps) maximising the mean F1 over N, S, V, F."""
    logp = np.log(np.clip(p, 1e-9, 1.0))
    off = np.zeros(p.shape[1])
    for _ in range(2):
        for c in range(p.shape[1]):
            scores = []
            for o in OFFSETS:
                trial = off.copy()
                trial[c] = o
                scores.append(_macro_nsvf(y, logp + trial, labels))
            off[c] = OFFSETS[int(np.argmax(scores))]
    return off


def _apply(p, off):
    z = np.log(np.clip(p, 1e-9, 1.0)) + off
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _inner_groups(records, targets, labels):
    from ecgsl_keras.data.datasets.mitdb import leave_records_out_folds

    counts = {}
    for rid, t in zip(records, targets):
        counts.setdefault(rid, Counter())[labels[t]] += 1
    return leave_records_out_folds({r: dict(c) for r, c in counts.items()}, 2)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="the work folder of experiments/mitdb/run.py (data/fold*, runs)")
    p.add_argument("--variant", default="scratch_focal", help="the ECG-SL variant of run.py to combine with")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=str(HERE / "hybrid_results.json"))
    p.add_argument("--mitdb-dir", default=str(MITDB),
                   help="the MIT-BIH records (both leads) run.py prepared the folds from: the two-lead rows")
    p.add_argument("--no-two-lead", action="store_true", help="leave out the two-lead rows")
    args = p.parse_args(argv)
    work = Path(args.work).resolve()
    start = time.perf_counter()
    task, config = _task_and_config(work)
    labels = list(task.label_names)
    cache = work / "hybrid"
    cache.mkdir(exist_ok=True)
    tables = []
    encoder = None
    for fold in (0, 1):
        path = cache / f"table_fold{fold}.npz"
        if not path.is_file():
            if encoder is None:
                encoder = _encoder(config, task)
            t0 = time.perf_counter()
            table = beat_table(work / "data" / f"fold{fold}", config, task, encoder)
            np.savez_compressed(path, **table)
            log.info("fold %d: %d beats in %.0f s", fold, len(table["key"]), time.perf_counter() - t0)
        loaded = np.load(path)
        tables.append({k: loaded[k] for k in loaded.files})
        second_path = cache / f"second_fold{fold}.npz"
        if not args.no_two_lead:
            if not second_path.is_file():
                second = second_table(work / "data" / f"fold{fold}", Path(args.mitdb_dir), config, tables[-1]["key"])
                np.savez_compressed(second_path, **second)
            second = np.load(second_path)
            if not np.array_equal(second["key"], tables[-1]["key"]):
                raise SystemExit(f"{second_path}: keys differ from {path}; delete it to rebuild")
            tables[-1]["second"], tables[-1]["second_lead"] = second["second"], second["second_lead"]

    from ecgsl_keras.data.per_beat_features import FEATURE_NAMES
    from ecgsl_keras.evaluation import metrics as metrics_lib

    pooled = {}
    offsets_chosen = {}
    chosen_models = {}
    for held_out in (0, 1):
        train, test = tables[1 - held_out], tables[held_out]
        deep_path = work / f"{args.variant}_heldout{held_out}" / "left_out_predictions.npz"
        probs = {}
        if deep_path.is_file():
            deep = np.load(deep_path)
            deep_of = {str(k): p for k, p in zip(deep["keys"], deep["probabilities"])}
            missing = [k for k in test["key"] if str(k) not in deep_of]
            if missing:
                raise SystemExit(f"{len(missing)} left-out beats have no ECG-SL prediction (e.g. {missing[:3]})")
            probs["ecgsl"] = np.stack([deep_of[str(k)] for k in test["key"]])
        else:
            log.warning("%s: not there yet; the ecgsl and average rows are left out", deep_path)
        inputs = {"features": lambda t: t["features"]}
        if "embedding" in train:
            inputs["features_embedding"] = lambda t: np.concatenate([t["features"], t["embedding"]], axis=1)
        inner = _inner_groups(train["record"], train["target"], labels)
        for row, get in inputs.items():
            names = list(FEATURE_NAMES) + [f"emb_{i}" for i in range(get(train).shape[1] - len(FEATURE_NAMES))]
            X, y = get(train), train["target"]
            # the inner left-out probabilities of the training fold: for the offsets only
            inner_p = np.zeros((len(y), len(labels)))
            for group in inner:
                log.info("held-out fold %d, %s: inner group of %d records", held_out, row, len(group))
                m = np.isin(train["record"], group)
                inner_p[m] = _booster(X[~m], y[~m], names, labels, args.seed).predict_proba(X[m])
            offsets_chosen.setdefault(row, {})[held_out] = choose_offsets(y, inner_p, labels)
            probs[row] = _booster(X, y, names, labels, args.seed).predict_proba(get(test))
        probs["linear"] = _linear(train, test, len(labels))
        probs["linear_features_average"] = 0.5 * (probs["linear"] + probs["features"])
        if "ecgsl" in probs:
            probs["average"] = 0.5 * (probs["features"] + probs["ecgsl"])
        if not args.no_two_lead:
            X, names, groups = two_lead_columns(train)
            X_test = two_lead_columns(test)[0]
            y = train["target"]
            inner_f1, inner_probs = {}, {}
            for kind in TWO_LEAD_MODELS + tuple(TWO_LEAD_AVERAGES):
                row = f"two_lead_{kind}"
                t0 = time.perf_counter()
                if kind in TWO_LEAD_AVERAGES:
                    pair = [f"two_lead_{k}" for k in TWO_LEAD_AVERAGES[kind]]
                    inner_p = 0.5 * (inner_probs[pair[0]] + inner_probs[pair[1]])
                    probs[row] = 0.5 * (probs[pair[0]] + probs[pair[1]])
                else:
                    inner_p = np.zeros((len(y), len(labels)))
                    for group in inner:
                        m = np.isin(train["record"], group)
                        inner_p[m] = fit_predict(kind, X[~m], y[~m], X[m], names, groups, labels, args.seed)
                    probs[row] = fit_predict(kind, X, y, X_test, names, groups, labels, args.seed)
                inner_probs[row] = inner_p
                off = choose_offsets(y, inner_p, labels)
                offsets_chosen.setdefault(row, {})[held_out] = off
                inner_f1[row] = _macro_nsvf(y, inner_p, labels)
                inner_f1[row + "+offsets"] = _macro_nsvf(y, _apply(inner_p, off), labels)
                log.info("held-out fold %d, %s: inner F1 %.3f (%.3f with offsets), %.0f s", held_out, row,
                         inner_f1[row], inner_f1[row + "+offsets"], time.perf_counter() - t0)
            for seed in BOOSTER_SEEDS:
                p_seed = (probs["two_lead_booster"] if seed == args.seed
                          else fit_predict("booster", X, y, X_test, names, groups, labels, seed))
                pooled.setdefault(f"seed{seed}", []).append((test["target"], p_seed))
            # the one choice the training fold makes: the model (and offsets or not) of the best inner F1
            best = max(inner_f1, key=inner_f1.get)
            chosen_models[str(held_out)] = {"row": best, "inner_macro_f1_nsvf": {k: round(v, 4)
                                                                                for k, v in inner_f1.items()}}
            base_row = best.replace("+offsets", "")
            probs["two_lead_chosen"] = (probs[base_row] if best == base_row
                                        else _apply(probs[base_row], offsets_chosen[base_row][held_out]))
            if "ecgsl" in probs:
                probs["two_lead_booster_ecgsl_average"] = 0.5 * (probs["two_lead_booster"] + probs["ecgsl"])
        for row, p_row in probs.items():
            pooled.setdefault(row, []).append((test["target"], p_row))
            off = offsets_chosen.get(row, {}).get(held_out) if row != "two_lead_chosen" else None
            if off is not None:
                pooled.setdefault(row + "+offsets", []).append((test["target"], _apply(p_row, off)))
        log.info("held-out fold %d done", held_out)

    def scores(parts):
        y = np.concatenate([t for t, _ in parts])
        p_all = np.concatenate([q for _, q in parts])
        m = metrics_lib.per_beat_metrics(y, p_all, labels)
        flat = {"accuracy": m["accuracy"], "macro_f1_nsvf": _macro_nsvf(y, p_all, labels), "beats": int(len(y))}
        for c in CLASSES:
            flat[f"{c}_sensitivity"] = (m.get("sensitivity") or {}).get(c)
            flat[f"{c}_positive_predictivity"] = (m.get("positive_predictivity") or {}).get(c)
        flat["f1"] = {c: f1_of(flat[f"{c}_sensitivity"], flat[f"{c}_positive_predictivity"]) for c in ("S", "V")}
        flat["distance_to_targets"] = {k: round(flat[k] - v, 4) for k, v in TARGETS.items() if flat.get(k) is not None}
        return flat

    def f1_of(se, pp):
        return None if se is None or pp is None or se + pp == 0 else 2 * se * pp / (se + pp)

    seeds = {row: pooled.pop(row) for row in [r for r in pooled if r.startswith("seed")]}
    result_rows = {}
    for row, parts in pooled.items():
        flat = result_rows[row] = scores(parts)
        log.info("%-28s acc %.3f  S Se %.3f +P %.3f  V Se %.3f +P %.3f  F1(NSVF) %.3f", row, flat["accuracy"],
                 flat["S_sensitivity"] or 0, flat["S_positive_predictivity"] or 0, flat["V_sensitivity"] or 0,
                 flat["V_positive_predictivity"] or 0, flat["macro_f1_nsvf"])
    result = {"command": "python experiments/mitdb/hybrid.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "protocol": "MIT-BIH DS1 (22 records), 2 folds of whole records; each row trained on one fold and "
                          "scored on the other; pooled left-out beats. Offsets chosen on the training fold only "
                          "(inner leave-records-out).",
              "ecgsl_variant": args.variant, "booster_params": PARAMS, "class_weight_cap": WEIGHT_CAP,
              "seed": args.seed, "features": list(FEATURE_NAMES), "targets": TARGETS,
              "offsets": {row: {str(k): (None if v is None else v.tolist()) for k, v in d.items()}
                          for row, d in offsets_chosen.items()},
              "rows": result_rows, "seconds": round(time.perf_counter() - start, 1)}
    if seeds:
        per_seed = {row[len("seed"):]: scores(parts) for row, parts in seeds.items()}
        keys = ("S_sensitivity", "S_positive_predictivity", "V_sensitivity", "V_positive_predictivity", "macro_f1_nsvf")
        result["two_lead_booster_seeds"] = {
            "seeds": list(per_seed),
            **{k: {"mean": float(np.mean([r[k] for r in per_seed.values()])),
                   "sd": float(np.std([r[k] for r in per_seed.values()], ddof=1))} for k in keys}}
        result["two_lead"] = {"params": TWO_LEAD_PARAMS, "linear_svm_C": LINEAR_SVM_C, "rbf_svm_C": RBF_SVM_C,
                              "columns": two_lead_columns(tables[0])[1], "second_lead": sorted(
                                  set(tables[0]["second_lead"].tolist()) | set(tables[1]["second_lead"].tolist())),
                              "chosen_by_inner_cv": chosen_models}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
