"""Task metrics on numpy arrays, computed with scikit-learn.

Every function returns a JSON-able dict (floats, lists, ``None`` where a figure is undefined, e.g. the
AUROC of a class with no positive example).

* ``multiclass_metrics``: macro F1 (over the classes present in the truth or the predictions: a class
  neither seen nor predicted has no F1, it is left out of the mean and named in ``macro_f1_left_out``
  with ``per_class_f1`` None; counting it as 0 would score five correct records 0.5), per-class F1,
  confusion matrix (rows true, columns predicted), accuracy, macro one-vs-rest AUROC (over the classes with both
  positive and negative examples); with ``challenge_labels`` the mean F1 of those classes (CinC 2017: N, A, O).
* ``binary_metrics``: accuracy, sensitivity, specificity (positive class = index 1), F1, AUROC.
* ``multilabel_metrics``: macro AUROC and macro F1 at per-class thresholds (``choose_thresholds``
  picks them on VALIDATION data: best F1 per class).
* ``per_beat_metrics``: accuracy, per-class sensitivity and positive predictivity (plain: every beat called a class
  counts in its +P); on the AAMI classes also ANSI/AAMI EC57's gross S and V positive predictivity, which do not count
  Q beats called S or V, nor fusion beats called V (the AAMI recommendation the inter-patient literature follows).
* ``bootstrap_f1_intervals``: percentile intervals of per-class, macro and challenge F1 from a confusion matrix,
  resampling the records (how far a figure on ~1,400 records can move by chance).
"""
from __future__ import annotations

import math

import numpy as np


def _float(value):
    value = float(value)
    return None if math.isnan(value) else value


def _per_class(names, values) -> dict:
    return {str(name): _float(v) for name, v in zip(names, values)}


def _auroc_per_class(y_true_onehot: np.ndarray, scores: np.ndarray) -> list:
    from sklearn.metrics import roc_auc_score

    out = []
    for c in range(scores.shape[1]):
        positives = int(y_true_onehot[:, c].sum())
        if positives == 0 or positives == len(y_true_onehot):
            out.append(float("nan"))   # undefined: one class only
        else:
            out.append(roc_auc_score(y_true_onehot[:, c], scores[:, c]))
    return out


def _macro_f1(per_class, y_true, y_pred, label_names) -> dict:
    """``macro_f1`` over the classes present in truth or prediction (``y_true``/``y_pred``: (N,) indices or
    (N, C) multi-hot), ``per_class_f1`` (None where left out) and ``macro_f1_left_out`` (their names)."""
    n = len(label_names)
    if np.ndim(y_true) == 2:
        present = (np.asarray(y_true).sum(axis=0) > 0) | (np.asarray(y_pred).sum(axis=0) > 0)
    else:
        present = np.zeros(n, bool)
        present[np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]).astype(int))] = True
    per_class = np.asarray(per_class, np.float64)
    return {"macro_f1": float(per_class[present].mean()) if present.any() else None,
            "per_class_f1": {str(name): (_float(per_class[i]) if present[i] else None)
                             for i, name in enumerate(label_names)},
            "macro_f1_left_out": [str(label_names[i]) for i in range(n) if not present[i]]}


def _mean_defined(values):
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else None


def multiclass_metrics(y_true, probabilities, label_names, challenge_labels=None) -> dict:
    """Metrics of single-label predictions; ``y_true`` (N,) class indices, ``probabilities`` (N, C)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[0] != y_true.shape[0]:
        raise ValueError(f"probabilities must be (N, C) with N = {y_true.shape[0]}, got {probabilities.shape}")
    labels = list(range(len(label_names)))
    y_pred = probabilities.argmax(axis=1)
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    onehot = np.eye(len(labels))[y_true]
    auroc = _auroc_per_class(onehot, probabilities)
    out = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        **_macro_f1(per_class, y_true, y_pred, label_names),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "auroc": _mean_defined(auroc),
        "per_class_auroc": _per_class(label_names, auroc),
        "label_names": [str(n) for n in label_names],
    }
    if challenge_labels:
        out["challenge_f1"] = challenge_f1(y_true, y_pred, label_names, challenge_labels)
    return out


def challenge_f1(y_true, y_pred, label_names, challenge_labels) -> float:
    """Mean F1 over ``challenge_labels`` (the CinC 2017 score: Normal, AF, Other; noisy left out)."""
    from sklearn.metrics import f1_score

    names = list(label_names)
    indices = [names.index(name) for name in challenge_labels]
    return float(f1_score(y_true, y_pred, labels=indices, average="macro", zero_division=0))


def _f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Per-class F1 of (..., C, C) confusion matrices (rows true, columns predicted); NaN where a class is neither
    in the truth nor predicted (as ``multiclass_metrics`` leaves it out)."""
    diagonal = np.diagonal(confusion, axis1=-2, axis2=-1).astype(np.float64)
    support = confusion.sum(axis=-1) + confusion.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, 2.0 * diagonal / support, np.nan)


def bootstrap_f1_intervals(confusion, label_names, challenge_labels=None, *, n_resamples: int = 10000,
                           level: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap intervals of per-class F1, macro F1 and (with ``challenge_labels``) challenge F1.

    Resampling the records with replacement is a multinomial draw over the confusion matrix's cells (each record is
    one (true, predicted) pair), so the matrix is all that is needed. Why: a class of ~120 records (CinC 2017's AF on
    validation) moves its F1 by a few hundredths by chance alone, and a target distance should be read against that.
    Returns ``{"point": ..., "low": ..., "high": ..., "sd": ...}`` per figure, ``level``, ``n_resamples``, ``seed`` and
    ``records``."""
    confusion = np.asarray(confusion, dtype=np.int64)
    names = list(label_names)
    if confusion.ndim != 2 or confusion.shape != (len(names), len(names)):
        raise ValueError(f"confusion must be {len(names)} x {len(names)} (one row and column per label), "
                         f"got shape {confusion.shape}")
    if (confusion < 0).any() or confusion.sum() == 0:
        raise ValueError("confusion must hold non-negative counts with at least one record")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    total = int(confusion.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(total, confusion.ravel() / total, size=int(n_resamples)).reshape(-1, *confusion.shape)
    point_f1, draw_f1 = _f1_from_confusion(confusion), _f1_from_confusion(draws)
    figures = {name: (point_f1[i], draw_f1[:, i]) for i, name in enumerate(names)}
    figures["macro_f1"] = (np.nanmean(point_f1), np.nanmean(draw_f1, axis=1))
    if challenge_labels:
        indices = [names.index(name) for name in challenge_labels]
        # a challenge class missing from a resample scores 0, as sklearn's zero_division=0 does in challenge_f1
        figures["challenge_f1"] = (np.nan_to_num(point_f1[indices]).mean(),
                                   np.nan_to_num(draw_f1[:, indices]).mean(axis=1))
    tail = 100.0 * (1.0 - level) / 2.0
    out = {}
    for key, (point, values) in figures.items():
        low, high = np.nanpercentile(values, [tail, 100.0 - tail])
        out[key] = {"point": _float(point), "low": _float(low), "high": _float(high), "sd": _float(np.nanstd(values))}
    return {"per_class_f1": {name: out[name] for name in names}, "macro_f1": out["macro_f1"],
            **({"challenge_f1": out["challenge_f1"]} if challenge_labels else {}),
            "level": level, "n_resamples": int(n_resamples), "seed": seed, "records": total}


def binary_metrics(y_true, probability, label_names=("negative", "positive"), threshold: float = 0.5) -> dict:
    """``y_true`` (N,) 0/1, ``probability`` (N,) of class 1. Sensitivity = recall of class 1."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probability = np.asarray(probability, dtype=np.float64).reshape(-1)
    y_pred = (probability >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    both = 0 < y_true.sum() < len(y_true)
    per_class = f1_score(y_true, y_pred, labels=[0, 1], average=None, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "sensitivity": _float(tp / (tp + fn)) if tp + fn else None,
        "specificity": _float(tn / (tn + fp)) if tn + fp else None,
        **_macro_f1(per_class, y_true, y_pred, label_names),
        "auroc": float(roc_auc_score(y_true, probability)) if both else None,
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "threshold": float(threshold),
        "label_names": [str(n) for n in label_names],
    }


def choose_thresholds(y_true, probabilities) -> list:
    """Per-class thresholds maximising F1 on (validation!) data; 0.5 for a class without positives."""
    from sklearn.metrics import precision_recall_curve

    y_true = np.asarray(y_true).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    thresholds = []
    for c in range(probabilities.shape[1]):
        if y_true[:, c].sum() == 0:
            thresholds.append(0.5)
            continue
        precision, recall, cut = precision_recall_curve(y_true[:, c], probabilities[:, c])
        denominator = precision[:-1] + recall[:-1]
        f1 = np.divide(2 * precision[:-1] * recall[:-1], denominator, out=np.zeros_like(denominator),
                       where=denominator > 0)
        thresholds.append(float(cut[int(np.argmax(f1))]))
    return thresholds


def multilabel_metrics(y_true, probabilities, label_names, thresholds=None) -> dict:
    """``y_true`` (N, C) multi-hot, ``probabilities`` (N, C) sigmoid outputs; F1 at ``thresholds``
    (per class; default 0.5 each)."""
    from sklearn.metrics import f1_score

    y_true = np.asarray(y_true).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = probabilities.shape[1]
    thresholds = np.full(n_classes, 0.5) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if thresholds.shape != (n_classes,):
        raise ValueError(f"need {n_classes} thresholds, got {thresholds.shape}")
    y_pred = (probabilities >= thresholds[None, :]).astype(int)
    auroc = _auroc_per_class(y_true, probabilities)
    per_class = f1_score(y_true, y_pred, average=None, zero_division=0)
    return {
        "n": int(len(y_true)),
        "macro_auroc": _mean_defined(auroc),
        "per_class_auroc": _per_class(label_names, auroc),
        **_macro_f1(per_class, y_true, y_pred, label_names),
        "thresholds": _per_class(label_names, thresholds),
        "label_names": [str(n) for n in label_names],
    }


# ANSI/AAMI EC57's gross positive predictivity leaves these true classes out of a class's false positives: a Q
# (unclassifiable) beat called S or V, and a fusion beat called V, are not counted against the call.
EC57_NOT_COUNTED = {"S": ("Q",), "V": ("F", "Q")}


def ec57_positive_predictivity(confusion, label_names) -> dict | None:
    """ANSI/AAMI EC57's gross S and V positive predictivity from ``confusion`` (rows true, columns called) over
    ``label_names``, or None when the labels are not the AAMI classes (N, S, V and F at least). ``None`` for a class
    nobody calls."""
    names = [str(n) for n in label_names]
    if not {"N", "S", "V", "F"} <= set(names):
        return None
    cm = np.asarray(confusion, np.int64)
    out = {}
    for cls, skip in EC57_NOT_COUNTED.items():
        c = names.index(cls)
        counted = cm[:, c].sum() - sum(cm[names.index(k), c] for k in skip if k in names)
        out[f"{cls}_positive_predictivity"] = float(cm[c, c] / counted) if counted else None
    out["not_counted"] = {cls: [k for k in skip if k in names] for cls, skip in EC57_NOT_COUNTED.items()}
    return out


def per_beat_metrics(y_true, probabilities, label_names) -> dict:
    """Beat classification: ``y_true`` (N,) class indices of labelled beats, ``probabilities`` (N, C).

    Sensitivity (recall) and positive predictivity (precision) per class are ``None`` where undefined
    (no beat of that class; no beat predicted as it). ``positive_predictivity`` is plain precision (a fusion beat
    called V is a false V); on the AAMI classes ``aami_ec57`` adds EC57's gross S and V positive predictivity
    (``ec57_positive_predictivity``), the figures the inter-patient literature compares.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = list(range(len(label_names)))
    y_pred = probabilities.argmax(axis=1)
    sensitivity = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    ppv = precision_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    out = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "sensitivity": _per_class(label_names, sensitivity),
        "positive_predictivity": _per_class(label_names, ppv),
        **_macro_f1(per_class, y_true, y_pred, label_names),
        "confusion_matrix": cm.tolist(),
        "label_names": [str(n) for n in label_names],
    }
    ec57 = ec57_positive_predictivity(cm, label_names)
    if ec57 is not None:
        out["aami_ec57"] = ec57
    return out


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> dict:
    """ECE over ``n_bins`` equal-width bins of ``confidence`` (the share-weighted mean of
    |accuracy - mean confidence| per bin), with the count, accuracy and mean confidence per bin
    (None where a bin is empty)."""
    confidence = np.asarray(confidence, np.float64).reshape(-1)
    correct = np.asarray(correct, np.float64).reshape(-1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=False), 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    accuracy, mean_confidence, ece = [], [], 0.0
    for b in range(n_bins):
        inside = index == b
        if not counts[b]:
            accuracy.append(None)
            mean_confidence.append(None)
            continue
        acc, conf = float(correct[inside].mean()), float(confidence[inside].mean())
        accuracy.append(acc)
        mean_confidence.append(conf)
        ece += counts[b] / max(confidence.size, 1) * abs(acc - conf)
    return {"ece": float(ece), "counts": [int(c) for c in counts], "accuracy": accuracy,
            "confidence": mean_confidence, "edges": edges.tolist()}


def task_metrics(task, y_true, probabilities, thresholds=None) -> dict:
    """Dispatch on ``task.kind``; adds ``challenge_f1`` for CinC 2017."""
    from ecgsl_keras import tasks as tasks_lib

    if task.kind == tasks_lib.MULTICLASS:
        challenge = tasks_lib.CINC2017_CHALLENGE_LABELS if task.name == tasks_lib.CINC2017.name else None
        return multiclass_metrics(y_true, probabilities, task.label_names, challenge_labels=challenge)
    if task.kind == tasks_lib.BINARY:
        threshold = 0.5 if thresholds is None else float(np.asarray(thresholds).reshape(-1)[0])
        return binary_metrics(np.asarray(y_true).reshape(-1), np.asarray(probabilities).reshape(-1),
                              task.label_names, threshold)
    if task.kind == tasks_lib.MULTILABEL:
        return multilabel_metrics(y_true, probabilities, task.label_names, thresholds)
    if task.kind == tasks_lib.PER_BEAT:
        return per_beat_metrics(y_true, probabilities, task.label_names)
    raise ValueError(f"unknown task kind {task.kind!r}")
