"""Evaluate a trained classifier on prepared TFRecords or on a raw PhysioNet folder.

    python -m ecgsl_keras.evaluate --model runs/finetune/model.keras --data prepared/cinc2017 [--split validation]
    python -m ecgsl_keras.evaluate --model runs/finetune/model.keras --dataset cinc2017 --data-dir DIR
    python -m ecgsl_keras.evaluate --model mitdb-beats --dataset mitdb --data-dir DIR [--records 100 103 ...]

A MIT-BIH folder is evaluated on every record of its ``RECORDS`` except the four paced ones (102,
104, 107, 217), unless ``--records`` names them; records without the lead the model was trained on
(``--lead`` to read another on purpose; MLII for ``mitdb-beats``) are skipped and counted
(``skipped_by_reason``). A table for people goes to stderr: per-beat models the AAMI table
(per-class sensitivity Se and positive predictivity +P), the others the metrics, per-class F1 and
the confusion matrix. ``--predictions OUT.csv`` writes the rows the metrics come from (``prediction_rows``).

The last line of stdout is one JSON object:

* multiclass: ``macro_f1``, ``per_class_f1``, ``confusion_matrix`` (rows true, columns predicted),
  ``auroc`` (macro one-vs-rest), ``accuracy``; CinC 2017 also ``challenge_f1`` (mean F1 of N, A, O);
* multi-label: ``macro_auroc``, ``macro_f1`` at the per-class thresholds chosen on VALIDATION data
  when the model was trained (``thresholds.json`` in its run folder; never chosen on the split
  evaluated here unless it is the validation split itself);
* per-beat: ``accuracy``, per-class ``sensitivity`` and ``positive_predictivity`` (plain precision), and on the
  AAMI classes ``aami_ec57``: EC57's gross S and V positive predictivity (Q beats called S or V and fusion beats
  called V not counted), the figures the inter-patient literature reports;
* binary per-minute (apnea): ``accuracy``, ``sensitivity``, ``specificity``.

Sequences longer than ``max_beats`` are evaluated as overlapping windows (``eval_window_stride``),
and the window probabilities are averaged per record (per example for per-minute tasks, per beat for
per-beat tasks) before any metric is computed.

Raw folders go through ``ecgsl_keras.data.prepare.record_to_examples`` with the signal config the model
was trained with (``config.json`` of its run folder), are written to temporary TFRecords and read by
the same ``make_dataset`` windows as training, so a record is seen exactly as in training.
"""
from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.data.datasets import SkipCounter, open_dataset
from ecgsl_keras.data.prepare import record_to_examples
from ecgsl_keras.errors import ConfigError, ECGSLError, RecordError, WriteError
from ecgsl_keras.evaluation import metrics as metrics_lib
from ecgsl_keras.evaluation.plot import evaluation_plots
from ecgsl_keras.fileio import atomic_path
from ecgsl_keras.serving.stacked import stacked_folder
from ecgsl_keras.store import runs
from tfrecords_tools import IGNORE_LABEL, ShardedWriter, load_manifest, make_dataset

log = logging.getLogger("ecgsl_keras.evaluation.evaluate")

SEQUENCE_INPUTS = ("beats", "rr", "padding_mask")
RESNET_MODEL_NAME = "resnet1d_baseline"
EVAL_SPLIT = "eval"   # split name of the temporary TFRecords made from a raw folder


# --- model inputs ---------------------------------------------------------------------------------

def is_raw_window_model(model) -> bool:
    """The ResNet baseline takes one (B, samples, 1) signal instead of the beat-sequence dict."""
    return getattr(model, "name", None) == RESNET_MODEL_NAME


def data_has_signal(data) -> bool:
    """Whether a prepared folder stores the continuous signal (``prepare --raw-signal``)."""

    return bool((load_manifest(str(data)).get("metadata") or {}).get("raw_signal"))


def raw_input_of(model, config, data=None):
    """What the ResNet baseline reads: ``"signal"`` (the continuous signal stored by ``prepare
    --raw-signal``, windows of ``config.model.raw_samples``) or ``"beats"`` (the beat sequence laid
    end to end, ``max_beats * beat_len`` samples), told apart by the model's input length (when both
    lengths are equal: ``"signal"`` if ``data`` stores the signal). ``None`` for the sequence models."""
    if not is_raw_window_model(model):
        return None
    length = model.inputs[0].shape[1]
    beats_length = config.model.max_beats * config.model.beat_len
    signal_length = config.model.raw_samples
    if length == signal_length and (length != beats_length or (data is not None and data_has_signal(data))):
        return "signal"
    if length == beats_length:
        return "beats"
    raise ConfigError("<model>", "bad_config", f"the resnet1d input has {length} samples: neither raw_samples "
                      f"({signal_length}) nor max_beats * beat_len ({beats_length}) of its config")


def flatten_beats(beats):
    """(B, T, L) beats -> (B, T*L, 1): the ResNet baseline's input (see ``ecgsl_keras.training.trainer``)."""
    import tensorflow as tf

    shape = tf.shape(beats)
    return tf.reshape(beats, [shape[0], shape[1] * shape[2], 1])


def model_inputs(features: dict, raw_window: bool = False, record_features: bool = False):
    """The model's part of a ``make_dataset`` features dict (drops record ids and other meta).
    ``raw_window``: the ResNet baseline's (B, samples, 1) input, the continuous signal when the
    features hold it (``make_dataset(include_signal=True)``), else the beats laid end to end.
    ``record_features``: keep ``features["record_features"]`` too (the hybrid classifier,
    ``modeling.hybrid``); an error naming ``prepare --record-features`` when the data lack it."""
    if raw_window:
        if "signal" in features:
            return features["signal"]
        return flatten_beats(features["beats"])
    if record_features:
        if "record_features" not in features:
            raise ECGSLError("the hybrid model needs record features, but these data have none: prepare them "
                             "with --record-features")
        return {key: features[key] for key in SEQUENCE_INPUTS + ("record_features",)}
    return {key: features[key] for key in SEQUENCE_INPUTS}


def make_predict_fn(model):
    """A compiled forward pass in inference mode; safe to call outside a strategy's replica context
    (it only reads the variables), so every worker can run it on the whole validation set."""
    import tensorflow as tf

    from ecgsl_keras.modeling.hybrid import is_hybrid

    raw_window = is_raw_window_model(model)
    hybrid = is_hybrid(model)

    @tf.function(reduce_retracing=True)
    def forward(inputs):
        return model(inputs, training=False)

    def predict(features):
        return forward(model_inputs(features, raw_window, hybrid))

    return predict


# --- predictions and their aggregation ------------------------------------------------------------

def eval_dataset(data, split, config, task, batch_size=None, raw_input=None):
    """Deterministic evaluation windows of ``split`` with record ids (``include_meta``).
    ``raw_input="signal"``: windows of ``config.model.raw_samples`` samples of the continuous signal,
    every ``raw_samples`` samples plus one ending at the record's end (``raw_input_of``). Beat windows
    are padded to the longest of their batch, except for the ResNet baseline on beats
    (``raw_input="beats"``: its input has ``max_beats * beat_len`` samples)."""

    if raw_input == "signal":
        return make_dataset(str(data), split=split, mode="sequence", training=False,
                            batch_size=int(batch_size or config.train.batch_size), label_kind=task.kind,
                            num_classes=task.num_classes, target="label", include_meta=True, include_signal=True,
                            signal_samples=config.model.raw_samples)

    return make_dataset(str(data), split=split, mode="sequence", training=False,
                        batch_size=int(batch_size or config.train.batch_size), max_beats=config.model.max_beats,
                        label_kind=task.kind, num_classes=task.num_classes, target="label",
                        eval_stride=min(config.train.eval_window_stride, config.model.max_beats),
                        include_meta=True, length_aware=raw_input != "beats")


def predict_windows(model_or_fn, dataset) -> dict:
    """Run the model over ``dataset`` (features with meta, targets); numpy arrays per window:
    ``probabilities``, ``targets``, ``record_id`` (str), ``segment_start_s``, ``window_start``,
    ``padding_mask``."""
    predict = model_or_fn if not hasattr(model_or_fn, "layers") else make_predict_fn(model_or_fn)
    parts = {key: [] for key in ("probabilities", "targets", "record_id", "segment_start_s", "window_start",
                                 "padding_mask")}
    for features, targets in dataset:
        parts["probabilities"].append(np.asarray(predict(features)))
        parts["targets"].append(targets.numpy())
        parts["record_id"].append(features["record_id"].numpy().astype(str))
        parts["segment_start_s"].append(features["segment_start_s"].numpy())
        parts["window_start"].append(features["window_start"].numpy())
        parts["padding_mask"].append(features["padding_mask"].numpy())
    if not parts["probabilities"]:
        raise ECGSLError("evaluation data set is empty")
    return {key: _concatenate_padded(values, _PAD_VALUES.get(key, 0)) for key, values in parts.items()}


# Batches padded to their longest sequence differ in their beat axis: per-beat arrays are padded to
# the longest of all before they are stacked (padding: no mask, ignore label, zero probabilities).
_PAD_VALUES = {"padding_mask": False, "targets": IGNORE_LABEL}


def _concatenate_padded(values: list, fill) -> np.ndarray:
    if len({v.shape[1:] for v in values}) > 1 and all(v.ndim >= 2 for v in values):
        steps = max(v.shape[1] for v in values)
        values = [np.pad(v, [(0, 0), (0, steps - v.shape[1])] + [(0, 0)] * (v.ndim - 2), constant_values=fill)
                  for v in values]
    return np.concatenate(values, axis=0)


def _group_mean(keys: np.ndarray, values: np.ndarray):
    """Unique keys (first-seen order) and the mean of ``values`` rows per key."""
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    sums = np.zeros((len(unique),) + values.shape[1:], np.float64)
    np.add.at(sums, inverse, values)
    counts = np.bincount(inverse, minlength=len(unique)).reshape((-1,) + (1,) * (values.ndim - 1))
    order = np.argsort(first)
    return unique[order], (sums / counts)[order], first[order]


def aggregate(windows: dict, kind: str) -> dict:
    """Average window probabilities per record (multiclass, multi-label), per example (binary
    per-minute labels: one example per minute of a record) or per beat (per-beat labels).
    Returns ``{"keys", "probabilities", "targets"}`` (targets: class indices, multi-hot or 0/1)."""
    probabilities, targets = windows["probabilities"], windows["targets"]
    if kind in (tasks_lib.MULTICLASS, tasks_lib.MULTILABEL):
        keys, probs, first = _group_mean(windows["record_id"], probabilities)
        return {"keys": keys, "probabilities": probs, "targets": targets[first]}
    if kind == tasks_lib.BINARY:
        example = np.char.add(np.char.add(windows["record_id"], "@"), windows["segment_start_s"].astype(str))
        keys, probs, first = _group_mean(example, probabilities.reshape(len(probabilities), -1))
        return {"keys": keys, "probabilities": probs[:, 0], "targets": targets.reshape(len(targets), -1)[first, 0]}
    if kind == tasks_lib.PER_BEAT:

        labelled = (targets != IGNORE_LABEL) & windows["padding_mask"]
        window_index, position = np.nonzero(labelled)
        beat = windows["window_start"][window_index] + position
        example = np.char.add(np.char.add(windows["record_id"][window_index], "@"),
                              windows["segment_start_s"][window_index].astype(str))
        keys = np.char.add(np.char.add(example, "#"), beat.astype(str))
        unique, probs, first = _group_mean(keys, probabilities[window_index, position])
        return {"keys": unique, "probabilities": probs, "targets": targets[window_index, position][first]}
    raise ValueError(f"unknown task kind {kind!r}")


def metrics_from_windows(task, windows: dict, thresholds=None) -> dict:
    """Task metrics (``ecgsl_keras.evaluation.metrics.task_metrics``) on window predictions, after aggregation."""
    agg = aggregate(windows, task.kind)
    out = metrics_lib.task_metrics(task, agg["targets"], agg["probabilities"], thresholds=thresholds)
    out["windows"] = int(len(windows["probabilities"]))
    return out


def choose_thresholds_from_windows(task, windows: dict) -> list:
    """Multi-label thresholds (best F1 per class) on these windows' per-record predictions."""
    agg = aggregate(windows, task.kind)
    return metrics_lib.choose_thresholds(agg["targets"], agg["probabilities"])


# --- whole evaluations ----------------------------------------------------------------------------

def load_model(model_path):
    """(keras model, ExperimentConfig, Task, run info) for a ``.keras`` file in a run folder."""
    path = runs.model_path(model_path)
    config, task, info = runs.run_config(path)
    if info.get("stage") in ("autoencoder", "masked"):
        raise ConfigError(runs.find_run_dir(path) / runs.CONFIG_NAME, "bad_config",
                          f"a {info['stage']} (pre-training) run has no classifier to evaluate; "
                          "evaluate a finetune or supervised run")
    if task is None:
        raise ConfigError(runs.find_run_dir(path) / runs.CONFIG_NAME, "bad_config",
                          "no 'task' entry: is this a classifier run?")
    from ecgsl_keras.modeling.files import load_keras_model

    model = load_keras_model(path)
    return model, config, task, info


def evaluate_model(model, data, split, config, task, *, thresholds=None, batch_size=None,
                   predict_fn=None, raw_input=None, plots=None, predictions=None, plot_title: str = "") -> dict:
    """Metrics of ``model`` on ``split`` of the TFRecord folder ``data``. ``raw_input``: what the
    ResNet baseline reads (default ``raw_input_of(model, config, data)``). ``plots``: a folder for
    the confusion matrix, ROC and reliability PNGs (``plot.evaluation_plots``; ``plot_title`` names
    the model and data in their titles); if they cannot be written the metrics are still returned, with the
    error in ``plot_error`` (the CLI prints them, then fails). ``predictions``: a CSV file for one row per
    record (per beat, per minute) with its label and prediction (``prediction_rows``)."""
    raw_input = raw_input or raw_input_of(model, config, data)
    dataset = eval_dataset(data, split, config, task, batch_size, raw_input=raw_input)
    windows = predict_windows(predict_fn or model, dataset)
    out = metrics_from_windows(task, windows, thresholds=thresholds)
    out.update(task=task.name, kind=task.kind, split=split)
    if plots or predictions:
        write_plots_and_rows(out, task, aggregate(windows, task.kind), plots=plots, predictions=predictions,
                             title=plot_title, data=data, split=split, thresholds=thresholds)
    return out


def write_plots_and_rows(out: dict, task, agg: dict, *, plots=None, predictions=None, title: str = "", data=None,
                         split=None, thresholds=None) -> dict:
    """Into ``out``: the evaluation plots of the per-record (per-beat, per-minute) outputs ``agg`` in the folder
    ``plots``, and their ``prediction_rows`` in the CSV file ``predictions``. A picture that cannot be written
    leaves the metrics standing, with the error in ``plot_error`` (the CLI prints them, then fails)."""
    if plots:
        try:
            out["plots"] = evaluation_plots(task, agg["targets"], agg["probabilities"], plots, title=title)
        except WriteError as exc:   # the metrics stand: losing them to a picture would waste the run
            out["plot_error"] = str(exc)
    if predictions:
        rows = prediction_rows(task, agg, data, split, thresholds=thresholds)
        out["predictions"] = write_prediction_rows(rows, predictions, task)
        out["prediction_rows"] = len(rows)
    return out


def _beat_times(data, split) -> dict:
    """``(record_id, segment_start_s) -> R-peak times (s)`` of every example of ``split`` in ``data``."""
    from tfrecords_tools import read_examples

    times = {}
    for example in read_examples(str(data), split):
        key = (str(example.record_id), f"{float(np.float32(example.segment_start_s))}")
        times[key] = np.asarray(example.rpeaks, np.float64) / float(example.fs)   # positions in the record
    return times


def prediction_rows(task, agg: dict, data=None, split=None, thresholds=None) -> list[dict]:
    """One dict per aggregated prediction (``aggregate``): ``record``, ``label``, ``prediction`` and
    ``p_<class>`` (rounded to 3 places); per-beat tasks also ``beat_time_s`` (the R-peak, from the
    TFRecords ``data``, or ``agg["beat_times_s"]`` when the aggregate carries them), per-minute tasks
    ``segment_start_s``. Multi-label labels joined by ``;``."""
    names = list(task.label_names)
    probabilities = np.asarray(agg["probabilities"], np.float64)
    targets = np.asarray(agg["targets"])
    times = _beat_times(data, split) if task.kind == tasks_lib.PER_BEAT and data is not None else {}
    beat_times = agg.get("beat_times_s")
    rows = []
    for i, key in enumerate(np.asarray(agg["keys"]).astype(str)):
        row = {}
        if task.kind == tasks_lib.PER_BEAT:
            example, beat = key.rsplit("#", 1)
            record, segment = example.rsplit("@", 1)
            row["record"] = record
            found = times.get((record, f"{float(np.float32(segment))}"))
            if beat_times is not None:
                row["beat_time_s"] = round(float(beat_times[i]), 3)
            else:
                row["beat_time_s"] = round(float(found[int(beat)]), 3) if found is not None else ""
        elif task.kind == tasks_lib.BINARY:
            record, segment = key.rsplit("@", 1)
            row.update(record=record, segment_start_s=round(float(segment), 3))
        else:
            row["record"] = key
        p = probabilities[i].reshape(-1)
        if task.kind == tasks_lib.MULTILABEL:
            cut = 0.5 if thresholds is None else np.asarray(thresholds, np.float64)
            row["label"] = ";".join(n for n, v in zip(names, targets[i]) if v)
            row["prediction"] = ";".join(n for n, v in zip(names, p >= cut) if v)
        elif task.kind == tasks_lib.BINARY:
            row["label"] = names[int(targets[i])]
            row["prediction"] = names[int(p[-1] >= 0.5)]
        else:
            row["label"] = names[int(targets[i])]
            row["prediction"] = names[int(np.argmax(p))]
        keys = names if p.size == len(names) else names[-p.size:]
        row.update({f"p_{n}": round(float(v), 3) for n, v in zip(keys, p)})
        rows.append(row)
    return rows


def write_prediction_rows(rows, path, task) -> str:
    """``prediction_rows`` as a CSV file; returns its path."""
    import csv

    first = ["record"] + (["beat_time_s"] if task.kind == tasks_lib.PER_BEAT else []) + (
        ["segment_start_s"] if task.kind == tasks_lib.BINARY else [])
    columns = first + ["label", "prediction"] + [k for k in (rows[0] if rows else {}) if k.startswith("p_")]
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def _thresholds_for(task, model_path, split):
    if task.kind != tasks_lib.MULTILABEL:
        return None, None
    thresholds = runs.load_thresholds(model_path)
    if thresholds is None:
        log.warning("%s: no thresholds.json in the run folder; using 0.5 for every class",
                    runs.find_run_dir(model_path))
        return None, "default 0.5"
    return thresholds, "validation (thresholds.json)"


def evaluate_tfrecords(model_path, data, split: str = "validation", *, batch_size=None, plots=None,
                       predictions=None) -> dict:
    """Evaluate the ``.keras`` model of a run folder on ``split`` of prepared TFRecords ``data``."""
    if stacked_folder(runs.model_path(model_path)):
        raise ConfigError(model_path, "bad_config", "a stacked model computes record features from the raw "
                                                    "signal: evaluate it on a raw folder (--dataset, --data-dir)")

    model, config, task, info = load_model(model_path)
    manifest = load_manifest(data)
    _check_signal_config((manifest.get("metadata") or {}).get("signal_config"), config, data, model_path)
    thresholds, source = _thresholds_for(task, model_path, split)
    start = time.perf_counter()
    out = evaluate_model(model, data, split, config, task, thresholds=thresholds, batch_size=batch_size,
                         raw_input=(info or {}).get("raw_input"), plots=plots, predictions=predictions,
                         plot_title=f"{_short(model_path)} on {_short(data)} ({split})")
    out.update(model=str(model_path), data=str(data), seconds=round(time.perf_counter() - start, 2))
    if source:
        out["thresholds_from"] = source
    return out


def _check_signal_config(manifest_signal, config, data, model_path=None) -> None:
    """Refuse TFRecords whose beats were cut with another signal config than the model's
    (``config.signal_mismatch``: only fields that change the beats count)."""
    runs.check_model_signal(model_path if model_path is not None else "", config.signal.to_dict(), manifest_signal,
                            Path(data) / "manifest.json")


def _short(path) -> str:
    """A model or data path as people name it: a preset name stays, a file in a run folder becomes
    ``run/model.keras``, a folder its last two parts."""
    parts = Path(str(path)).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else str(path)


def _served_record_by_record(model_file) -> bool:
    """Whether ``evaluate_raw`` runs the model's ``predict_signal`` record by record (``evaluation.stacked``):
    a stacked model (deep model + booster over record or beat features: the features need the raw signal) or a
    record-level model that classifies long records in signal windows (``TrainConfig.predict_window_s``, the
    end-to-end file's windows), read from the config beside the model without loading it."""
    if stacked_folder(model_file):
        return True
    from ecgsl_keras.serving.inference import find_metadata

    config, task, _ = find_metadata(model_file)
    return bool(config and task and config.train.predict_window_s > 0 and task.kind == tasks_lib.MULTICLASS)


def evaluate_raw(model_path, dataset: str, data_dir, *, records=None, batch_size=None, reader_kwargs=None,
                 progress: bool = True, plots=None, predictions=None) -> dict:
    """Evaluate on a raw data-set folder: each record through ``prepare.record_to_examples`` with
    the model's signal config, into temporary TFRecords, then the same windows as ``evaluate_tfrecords``.
    Unreadable or unusable records are skipped and counted (``skipped_by_reason``).

    The lead rule of ``ecgsl_keras.data.readers``: the records are read on the lead the model was
    trained on (``"lead"`` in its run's ``config.json``), and records without it are skipped and
    counted (``missing_lead``); ``reader_kwargs["lead"]`` reads another lead on purpose (the result
    says so in ``lead_override``)."""
    from tqdm import tqdm

    if _served_record_by_record(runs.model_path(model_path)):
        from ecgsl_keras.evaluation.stacked import evaluate_stacked_raw

        out, task, agg = evaluate_stacked_raw(model_path, dataset, data_dir, records=records,
                                              reader_kwargs=reader_kwargs, progress=progress)
        return write_plots_and_rows(out, task, agg, plots=plots, predictions=predictions,
                                    title=f"{_short(model_path)} on {_short(data_dir)}")
    model, config, task, info = load_model(model_path)
    raw_input = (info or {}).get("raw_input") or raw_input_of(model, config)
    kwargs = dict(reader_kwargs or {})
    model_lead = (info or {}).get("lead")
    override = None
    if model_lead and kwargs.get("lead") is None:
        kwargs["lead"] = model_lead
    elif model_lead and str(kwargs["lead"]).lower() != str(model_lead).lower():
        override = (f"evaluated on lead {kwargs['lead']} on purpose (--lead); the model was trained on lead "
                    f"{model_lead}")
        log.warning("%s", override)
    if records:
        kwargs["records"] = list(records)
    reader = open_dataset(dataset, data_dir, **kwargs)
    ids, excluded = tasks_lib.aami_records(dataset, reader.record_ids(), named=bool(records))
    if reader.task.kind != task.kind or tuple(reader.task.label_names) != tuple(task.label_names):
        raise ConfigError(data_dir, "bad_config", f"data set {dataset!r} has task {reader.task.name} "
                          f"({reader.task.kind}, {list(reader.task.label_names)}), the model {task.name} "
                          f"({task.kind}, {list(task.label_names)})")
    thresholds, source = _thresholds_for(task, model_path, None)
    skipped = SkipCounter()
    start = time.perf_counter()
    hybrid = bool(config.model.n_record_features)   # the hybrid classifier: record features too
    with tempfile.TemporaryDirectory(prefix="ecgsl-eval-") as tmp:
        written = 0
        with ShardedWriter(tmp, prefix="eval", overwrite=True) as writer:
            for record_id in tqdm(ids, desc=f"segment {dataset}", unit="rec", disable=not progress, file=sys.stderr):
                try:
                    for example in record_to_examples(reader.load(record_id), config, task,
                                                      raw_signal=raw_input == "signal", record_features=hybrid):
                        writer.write(example, split=EVAL_SPLIT)
                    written += 1
                except RecordError as error:
                    skipped.add(error)
                    log.warning("skipping %s", error)
            if not written:
                raise ECGSLError(f"{data_dir}: no usable record to evaluate ({skipped})")
            metadata = {"signal_config": config.signal.to_dict(), "raw_signal": raw_input == "signal",
                        "label_info": {"kind": task.kind, "label_names": list(task.label_names),
                                       "task": task.to_dict()}}
            if hybrid:
                from ecgsl_keras.data.record_features import feature_names

                metadata["record_feature_names"] = list(feature_names())
            writer.finalize(metadata)
        out = evaluate_model(model, tmp, EVAL_SPLIT, config, task, thresholds=thresholds, batch_size=batch_size,
                             raw_input=raw_input, plots=plots, predictions=predictions,
                             plot_title=f"{_short(model_path)} on {_short(data_dir)}")
    out.update(model=str(model_path), dataset=dataset, data_dir=str(data_dir), records=written,
               lead=getattr(reader, "lead", None), model_lead=model_lead,
               **({"lead_override": override} if override else {}),
               skipped=skipped.total, skipped_by_reason=dict(skipped.counts),
               **({"paced_records_excluded": excluded} if dataset == "mitdb" else {}),
               seconds=round(time.perf_counter() - start, 2))
    if source:
        out["thresholds_from"] = source
    return out


def aami_table(result: dict) -> str:
    """Per-class sensitivity (Se) and positive predictivity (+P) of a per-beat result, as text."""
    names = result.get("label_names") or list((result.get("sensitivity") or {}).keys())
    counts = np.asarray(result.get("confusion_matrix") or np.zeros((len(names), len(names))))
    lines = [f"{'class':<6} {'beats':>7} {'Se':>7} {'+P':>7}"]
    for i, name in enumerate(names):
        se = (result.get("sensitivity") or {}).get(name)
        ppv = (result.get("positive_predictivity") or {}).get(name)
        cell = [f"{v:7.3f}" if v is not None and v == v else f"{'-':>7}" for v in (se, ppv)]
        lines.append(f"{name:<6} {int(counts[i].sum()) if counts.size else 0:>7} {cell[0]} {cell[1]}")
    lines.append(f"accuracy {result.get('accuracy', float('nan')):.3f} over {result.get('n', 0)} labelled beats")
    ec57 = result.get("aami_ec57")
    if ec57:
        cells = [f"{c} +P {v:.3f}" if v is not None else f"{c} +P -" for c, v in
                 ((c, ec57.get(f"{c}_positive_predictivity")) for c in ("S", "V"))]
        lines.append(f"AAMI EC57 gross: {', '.join(cells)} (Q called S or V, F called V not counted)")
    return "\n".join(lines)
