"""Hand-made-feature baselines on prepared TFRecords (no deep learning).

    python -m ecgsl_keras.baselines features --data prepared/cinc2017 [--seed 42] [--out FILE.json]

``features``: per record, RR / heart-rate-variability statistics and beat-morphology statistics
computed from the stored beats (n, 96) and RR features (n, 3: previous RR, next RR, local mean RR,
seconds) of a folder written by ``python -m ecgsl_keras.prepare`` (``record_features``), then
scikit-learn's ``HistGradientBoostingClassifier`` (balanced class weights, seeded) fitted on the
``train`` split and scored on the ``validation`` split with ``ecgsl_keras.evaluation.metrics`` (macro F1,
per-class F1, challenge F1 for CinC 2017, accuracy, confusion matrix). Its hyper-parameters are
chosen by stratified cross-validation on the TRAIN split only (macro F1), from a small fixed grid;
the validation split is used once, for the reported figures. Records stored as several examples
(long records cut into chunks) are put back together by ``record_id`` before their features are
computed.

A table goes to stderr; the last line of stdout is one JSON object (features, metrics, chosen
hyper-parameters, cross-validation scores, seconds, split sizes and the record ids of each split).
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict

import numpy as np

from ecgsl_keras.errors import ConfigError
from ecgsl_keras.evaluation import metrics as metrics_lib
from tfrecords_tools import label_info, load_manifest, read_examples

log = logging.getLogger("ecgsl_keras.evaluation.baselines")

from ecgsl_keras.data.beat_features import FEATURE_NAMES, record_features  # noqa: E402  (the features it fits on)

__all__ = ["FEATURE_NAMES", "record_features", "load_split_records", "features_matrix", "fit_features_baseline"]

# Hyper-parameter grid searched by cross-validation on the training split.
PARAM_GRID = (
    {"learning_rate": 0.05, "max_iter": 300, "max_leaf_nodes": 15, "min_samples_leaf": 20, "l2_regularization": 1.0},
    {"learning_rate": 0.05, "max_iter": 300, "max_leaf_nodes": 31, "min_samples_leaf": 10, "l2_regularization": 0.0},
    {"learning_rate": 0.1, "max_iter": 200, "max_leaf_nodes": 7, "min_samples_leaf": 30, "l2_regularization": 1.0},
)
DEFAULT_PARAMS = PARAM_GRID[0]
# OpenMP threads of the gradient boosting: one by default, because its OpenMP workers spin-wait and
# become many times slower on a machine whose cores are busy with other jobs.
DEFAULT_THREADS = 1


def load_split_records(data, split: str) -> OrderedDict:
    """record_id -> {"beats", "rr", "label"} for ``split`` of a prepared folder; the examples of one
    record (chunks of a long record) are concatenated in the order of their ``segment_start_s``."""
    parts: dict = OrderedDict()
    for ex in read_examples(str(data), split):
        parts.setdefault(ex.record_id, []).append(ex)
    out = OrderedDict()
    for record_id in sorted(parts):
        examples = sorted(parts[record_id], key=lambda e: e.segment_start_s)
        labels = {tuple(e.label.tolist()) for e in examples}
        if len(labels) != 1:
            raise ConfigError(f"{data}: record {record_id} has examples with different labels {sorted(labels)}")
        out[record_id] = {"beats": np.concatenate([e.beats for e in examples], axis=0),
                          "rr": np.concatenate([e.rr for e in examples], axis=0),
                          "label": examples[0].label, "examples": len(examples)}
    return out


def features_matrix(records: dict) -> tuple:
    """(X float64 (N, F), y int (N,), record ids) of ``load_split_records`` output (multiclass labels)."""
    ids = list(records)
    X = np.array([list(record_features(r["beats"], r["rr"]).values()) for r in records.values()], np.float64)
    y = np.array([int(r["label"][0]) if np.size(r["label"]) else -1 for r in records.values()], np.int64)
    return X.reshape(len(ids), len(FEATURE_NAMES)), y, ids


def _task_of(data):
    from ecgsl_keras import tasks as tasks_lib

    info = label_info(load_manifest(str(data)))
    if info.get("kind") != tasks_lib.MULTICLASS:
        raise ConfigError(f"{data}: the features baseline needs a multiclass data set, got {info.get('kind')!r}")
    if info.get("task"):
        return tasks_lib.Task.from_dict(info["task"])
    return tasks_lib.Task(name=str(data), label_names=tuple(info["label_names"]), kind=tasks_lib.MULTICLASS)


def _classifier(params: dict, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(class_weight="balanced", random_state=int(seed), early_stopping=False,
                                          **params)


def choose_params(X, y, seed: int, folds: int = 3, grid=PARAM_GRID) -> tuple:
    """The grid entry with the best mean macro F1 in stratified ``folds``-fold CV on (X, y) (train only).
    Returns (params, cv scores per grid entry); (DEFAULT_PARAMS, []) when a class has fewer than
    ``folds`` records (too few to cross-validate)."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(y)
    if folds < 2 or counts[counts > 0].min() < folds or len(grid) < 2:
        return dict(DEFAULT_PARAMS), []
    labels = sorted(set(y.tolist()))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(seed))
    scores = []
    for params in grid:
        fold_scores = []
        for fit_idx, test_idx in splitter.split(X, y):
            model = _classifier(params, seed).fit(X[fit_idx], y[fit_idx])
            fold_scores.append(f1_score(y[test_idx], model.predict(X[test_idx]), labels=labels, average="macro",
                                        zero_division=0))
        scores.append({"params": dict(params), "cv_macro_f1": float(np.mean(fold_scores)),
                       "cv_macro_f1_sd": float(np.std(fold_scores))})
        log.info("cv %s: macro F1 %.4f +- %.4f", params, scores[-1]["cv_macro_f1"], scores[-1]["cv_macro_f1_sd"])
    best = max(range(len(grid)), key=lambda i: scores[i]["cv_macro_f1"])
    return dict(grid[best]), scores


def fit_features_baseline(data, seed: int = 42, *, cv_folds: int = 3, grid=PARAM_GRID, threads=DEFAULT_THREADS,
                          train_split: str = "train", eval_split: str = "validation", details: dict | None = None):
    """Fit the features baseline on ``train_split`` of the prepared folder ``data`` and score it on
    ``eval_split``. Returns ``(model, metrics)``; ``metrics`` is ``ecgsl_keras.evaluation.metrics.task_metrics``
    output. Hyper-parameters: the best of ``grid`` in ``cv_folds``-fold CV on the train split
    (``cv_folds`` < 2: ``DEFAULT_PARAMS``). ``threads``: OpenMP threads (None: scikit-learn's default).
    ``details`` (a dict) receives the chosen parameters, CV scores, record ids and timings."""
    import contextlib

    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    task = _task_of(data)
    train = load_split_records(data, train_split)
    valid = load_split_records(data, eval_split)
    read_s = time.perf_counter() - start
    X_train, y_train, train_ids = features_matrix(train)
    X_valid, y_valid, valid_ids = features_matrix(valid)
    features_s = time.perf_counter() - start - read_s
    with threadpool_limits(int(threads)) if threads else contextlib.nullcontext():
        params, cv_scores = choose_params(X_train, y_train, seed, cv_folds, grid)
        model = _classifier(params, seed).fit(X_train, y_train)
    fit_s = time.perf_counter() - start - read_s - features_s
    probabilities = np.zeros((len(X_valid), task.num_classes))
    probabilities[:, model.classes_] = model.predict_proba(X_valid)
    metrics = metrics_lib.task_metrics(task, y_valid, probabilities)
    if details is not None:
        details.update(task=task.name, params=params, cv_folds=cv_folds, cv_scores=cv_scores,
                       train_records=train_ids, validation_records=valid_ids,
                       train_examples=int(sum(r["examples"] for r in train.values())),
                       validation_examples=int(sum(r["examples"] for r in valid.values())),
                       seconds={"read": round(read_s, 2), "features": round(features_s, 2),
                                "cv_and_fit": round(fit_s, 2), "total": round(time.perf_counter() - start, 2)})
    return model, metrics
