"""Evaluate a stacked model (``serving.stacked``: deep model + booster over record features) on a raw
data-set folder: each record through ``StackedPredictor.predict_signal`` (the record features need the
raw signal, so prepared TFRecords of beats are not enough), then the task metrics of
``ecgsl_keras.evaluation.metrics`` as ``evaluate_raw`` computes them. The deep model's own metrics on the
same records come in ``deep``."""
from __future__ import annotations

import logging
import sys
import time

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.data.datasets import SkipCounter, open_dataset
from ecgsl_keras.errors import ConfigError, ECGSLError, RecordError
from ecgsl_keras.evaluation import metrics as metrics_lib

log = logging.getLogger(__name__)


def evaluate_stacked_raw(model_path, dataset: str, data_dir, *, records=None, reader_kwargs=None,
                         progress: bool = True) -> tuple:
    """``evaluate_raw`` for a stacked model: ``(metrics, task, per-record {"keys", "probabilities",
    "targets"})``; the caller writes the plots and prediction rows from the last two."""
    from tqdm import tqdm

    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.store.runs import model_path as model_file

    predictor = load_model(model_file(model_path))   # a preset or run folder: its model.keras
    task = predictor.task
    kwargs = dict(reader_kwargs or {})
    if records:
        kwargs["records"] = list(records)
    reader = open_dataset(dataset, data_dir, **kwargs)
    if reader.task.kind != task.kind or tuple(reader.task.label_names) != tuple(task.label_names):
        raise ConfigError(data_dir, "bad_config", f"data set {dataset!r} has task {reader.task.name}, the model "
                                                  f"{task.name}")
    if task.kind != tasks_lib.MULTICLASS:
        raise ConfigError(model_path, "bad_task", "stacked models are record-level multiclass classifiers")
    skipped, targets, stacked, deep, ids = SkipCounter(), [], [], [], []
    start = time.perf_counter()
    for record_id in tqdm(list(reader.record_ids()), desc=f"stacked {dataset}", unit="rec", disable=not progress,
                          file=sys.stderr):
        try:
            record = reader.load(record_id)
            result = predictor.predict_signal(record.lead(None), record.fs, path=record.path)
        except RecordError as error:
            skipped.add(error)
            log.warning("skipping %s", error)
            continue
        ids.append(record_id)
        targets.append(task.index(record.labels[0]))
        stacked.append(result["probabilities"])
        deep.append(result["deep_probabilities"])
    if not targets:
        raise ECGSLError(f"{data_dir}: no usable record to evaluate ({skipped.counts})")
    y = np.asarray(targets)
    out = metrics_lib.task_metrics(task, y, np.asarray(stacked, np.float64))
    deep_metrics = metrics_lib.task_metrics(task, y, np.asarray(deep, np.float64))
    out.update(task=task.name, kind=task.kind, model=str(model_path), model_format=predictor.format, dataset=dataset,
               data_dir=str(data_dir), records=len(targets), skipped=skipped.total,
               skipped_by_reason=dict(skipped.counts),
               deep={k: deep_metrics.get(k) for k in ("macro_f1", "challenge_f1", "per_class_f1", "accuracy")},
               seconds=round(time.perf_counter() - start, 2))
    agg = {"keys": np.asarray(ids), "probabilities": np.asarray(stacked, np.float64), "targets": y}
    return out, task, agg
