"""Evaluate a stacked model (``serving.stacked``: deep model + booster over record features) on a raw
data-set folder: each record through ``StackedPredictor.predict_signal`` (the record features need the
raw signal, so prepared TFRecords of beats are not enough), then the task metrics of
``ecgsl_keras.evaluation.metrics`` as ``evaluate_raw`` computes them. The deep model's own metrics on the
same records come in ``deep``.

The same record-by-record path serves a record-level model that classifies long records in signal windows
(``TrainConfig.predict_window_s`` > 0, the ``cinc2017-edge`` preset): its figures are then those of
``predict_signal``, the windows of its end-to-end file, not of whole-record TFRecords (no ``deep`` part).

Per-beat stacked models (``rows: "beat"``, e.g. ``mitdb-beats``): every beat ``predict_signal`` labels gets the
reference annotation within 150 ms (``data.prepare.match_beat_labels``, as ``prepare`` labels beats; unmatched
beats are not scored), the records are read on the model's lead, and on MIT-BIH the four paced records are left
out unless ``records`` names them (the AAMI protocol, as ``evaluate_raw``). A gated model (``stacking.json``'s
``gate``) is scored on its gated probabilities; ``gate`` in the result holds the gate, the beats it gated, the
predicted classes it changed (``predictions_changed``, e.g. ``{"S_to_N": 12}``) and the figures before it. A
model with a V agreement gate (``stacking.json``'s ``v_gate``, applied after the ``gate``) gets ``v_gate`` the same
way: its spec, the V calls it took, the classes it changed and the figures before it (after the ``gate``)."""
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
    """``evaluate_raw`` for a model served record by record through ``predict_signal`` (a stacked model, or one
    that predicts in signal windows): ``(metrics, task, per-record {"keys", "probabilities", "targets"})``; the
    caller writes the plots and prediction rows from the last two."""
    from tqdm import tqdm

    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.store.runs import model_path as model_file

    predictor = load_model(model_file(model_path))   # a preset or run folder: its model.keras
    task = predictor.task
    reader = _reader(predictor, dataset, data_dir, records, reader_kwargs)
    if task.kind == tasks_lib.PER_BEAT:
        return _evaluate_beats(predictor, reader, model_path, dataset, data_dir, records, progress)
    if task.kind != tasks_lib.MULTICLASS:
        raise ConfigError(model_path, "bad_task", "stacked models are multiclass or per-beat classifiers")
    skipped, targets, stacked, deep, ids = SkipCounter(), [], [], [], []
    start = time.perf_counter()
    for record_id in tqdm(list(reader.record_ids()), desc=f"predict {dataset}", unit="rec", disable=not progress,
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
        if "deep_probabilities" in result:   # a stacked model's deep side
            deep.append(result["deep_probabilities"])
    if not targets:
        raise ECGSLError(f"{data_dir}: no usable record to evaluate ({skipped.counts})")
    y = np.asarray(targets)
    out = metrics_lib.task_metrics(task, y, np.asarray(stacked, np.float64))
    deep_metrics = metrics_lib.task_metrics(task, y, np.asarray(deep, np.float64)) if deep else None
    out.update(task=task.name, kind=task.kind, model=str(model_path), model_format=predictor.format, dataset=dataset,
               data_dir=str(data_dir), records=len(targets), skipped=skipped.total,
               skipped_by_reason=dict(skipped.counts),
               **({"deep": {k: deep_metrics.get(k) for k in ("macro_f1", "challenge_f1", "per_class_f1", "accuracy")}}
                  if deep_metrics else {}),
               seconds=round(time.perf_counter() - start, 2))
    agg = {"keys": np.asarray(ids), "probabilities": np.asarray(stacked, np.float64), "targets": y}
    return out, task, agg


def _reader(predictor, dataset, data_dir, records, reader_kwargs):
    """The data set's reader on the model's lead (unless ``reader_kwargs`` names one), the records named, and
    the task checked against the model's."""
    kwargs = dict(reader_kwargs or {})
    if records:
        kwargs["records"] = list(records)
    if predictor.lead and kwargs.get("lead") is None and predictor.per_beat:
        kwargs["lead"] = predictor.lead
    reader = open_dataset(dataset, data_dir, **kwargs)
    task = predictor.task
    if reader.task.kind != task.kind or tuple(reader.task.label_names) != tuple(task.label_names):
        raise ConfigError(data_dir, "bad_config", f"data set {dataset!r} has task {reader.task.name}, the model "
                                                  f"{task.name}")
    return reader


def _evaluate_beats(predictor, reader, model_path, dataset, data_dir, records, progress) -> tuple:
    """The per-beat form of ``evaluate_stacked_raw`` (see the module docstring)."""
    from tqdm import tqdm

    from ecgsl_keras.data.prepare import match_beat_labels
    from tfrecords_tools.schema import IGNORE_LABEL

    task = predictor.task
    ids, excluded = tasks_lib.aami_records(dataset, reader.record_ids(), named=bool(records))
    skipped, keys, targets, stacked, deep, times = SkipCounter(), [], [], [], [], []
    # the model's post-booster rules (modeling.stacking.Rule: gate, v_gate, v_pause, v_template), in their order:
    # per rule, the probabilities before it and its mask on the scored beats of the records it served
    rules = list(getattr(getattr(predictor, "stacked", None), "rules", ()))
    before, masks = {rule.key: [] for rule in rules}, {rule.key: [] for rule in rules}
    start = time.perf_counter()
    for record_id in tqdm(ids, desc=f"predict {dataset}", unit="rec", disable=not progress, file=sys.stderr):
        try:
            record = reader.load(record_id)
            if record.beat_annotations is None:
                raise RecordError(record.path or record_id, "missing_annotations",
                                  "per-beat task but the record has no beat annotations")
            signal = record.lead(None)
            beats = predictor.preprocess(signal, record.fs, record.path)
            result = predictor.predict_signal(signal, record.fs, path=record.path, beats=beats)
        except RecordError as error:
            skipped.add(error)
            log.warning("skipping %s", error)
            continue
        labels = match_beat_labels(beats.rpeaks_native, record.beat_annotations, task, record.fs)
        scored = labels != IGNORE_LABEL
        keys.extend(f"{record_id}@0.0#{i}" for i in np.flatnonzero(scored))   # evaluate.aggregate's per-beat keys
        times.append(np.asarray(result["beat_times_s"], np.float64)[scored])
        targets.append(labels[scored])
        stacked.append(np.asarray(result["beat_probabilities"], np.float64)[scored])
        deep.append(np.asarray(result["deep_beat_probabilities"], np.float64)[scored])
        for rule in rules:
            if rule.mask_key in result:
                before[rule.key].append(np.asarray(result[rule.before_key], np.float64)[scored])
                masks[rule.key].append(np.asarray(result[rule.mask_key], bool)[scored])
    if not targets:
        raise ECGSLError(f"{data_dir}: no usable record to evaluate ({skipped.counts})")
    y = np.concatenate(targets)
    out = metrics_lib.task_metrics(task, y, np.concatenate(stacked))
    deep_metrics = metrics_lib.task_metrics(task, y, np.concatenate(deep))
    out.update(task=task.name, kind=task.kind, model=str(model_path), model_format=predictor.format, dataset=dataset,
               data_dir=str(data_dir), records=len(targets), lead=getattr(reader, "lead", None),
               model_lead=predictor.lead, skipped=skipped.total, skipped_by_reason=dict(skipped.counts),
               deep={k: deep_metrics.get(k) for k in ("accuracy", "sensitivity", "positive_predictivity",
                                                      "macro_f1")},
               **({"paced_records_excluded": excluded} if dataset == "mitdb" else {}),
               **_rule_summaries(rules, task, y, before, masks, stacked),
               seconds=round(time.perf_counter() - start, 2))
    agg = {"keys": np.asarray(keys), "probabilities": np.concatenate(stacked), "targets": y,
           "beat_times_s": np.concatenate(times)}
    return out, task, agg


def _rule_summaries(rules, task, y, before, masks, stacked) -> dict:
    """{rule key: ``_gate_summary``} of each rule that served a record, in the rules' order: the probabilities after
    a rule are those before the next rule that served, or the model's answer after the last."""
    served = [rule for rule in rules if masks[rule.key]]
    summaries = {}
    for i, rule in enumerate(served):
        after = before[served[i + 1].key] if i + 1 < len(served) else stacked
        summaries[rule.key] = _gate_summary(rule, task, y, np.concatenate(after), np.concatenate(before[rule.key]),
                                            np.concatenate(masks[rule.key]), rule.count_name)
    return summaries


def _gate_summary(gate, task, y, probabilities, ungated, gated, count_name: str = "beats_gated") -> dict:
    """A per-beat model's ``gate`` (``modeling.stacking.Gate``, ``VGate``, ``VPause`` or ``VTemplate``) on the scored beats: its spec, how
    many beats it gated (``count_name``), every change of the predicted class it made (``"S_to_N": count``) from
    ``ungated`` (the probabilities before it) to ``probabilities`` (after it), and the figures before it."""
    names = list(task.label_names)
    before, after = ungated.argmax(axis=1), probabilities.argmax(axis=1)
    changed = {}
    for a, b in zip(before[before != after], after[before != after]):
        key = f"{names[int(a)]}_to_{names[int(b)]}"
        changed[key] = changed.get(key, 0) + 1
    m = metrics_lib.task_metrics(task, y, ungated)
    return dict(gate.to_spec(), **{count_name: int(gated.sum())}, predictions_changed=changed,
                ungated={k: m.get(k) for k in ("accuracy", "sensitivity", "positive_predictivity", "macro_f1")})
