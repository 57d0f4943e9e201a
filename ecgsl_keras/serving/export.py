"""Export a trained classifier to a SavedModel and TFLite files, and check they match the Keras model.

    python -m ecgsl_keras.export --model runs/finetune/model.keras --out exports/cinc2017 \\
        [--tflite float32 float16 int8] [--representative-data prepared/cinc2017] [--examples 100]

Output folder (built in a temporary sibling folder and renamed into place, so a crash never leaves a
half-written export; an existing ``--out`` is replaced only with ``--overwrite``)::

    saved_model/              SavedModel, signature "serving_default"
    model_float32.tflite      float32
    model_float16.tflite      float16 weights (computes in float32 on CPU)
    model_int8.tflite         int8 weights (dynamic-range quantisation: activations stay float);
                              --int8-mode full: int8 weights and activations calibrated on the
                              representative data, float32 inputs and outputs
    config.json               the ExperimentConfig the model was trained with
    ecgsl_metadata.json       task, label names, input/output spec, preprocessing, multi-label
                              thresholds (the run's thresholds.json): what
                              ecgsl_keras.serving.inference.load_model reads
    export_report.json        the report printed as the last line of stdout

Every .tflite file (and the end-to-end files of ``--end-to-end``) is written without the tables the
runtime never reads (``ecgsl_keras.serving.tflite_file``: the empty quantization table of each float
tensor and the empty buffer of each tensor without data): the same outputs bit for bit, smaller
files (benchmarks/results/edge_strip.json).

Serving signature "serving_default" (SavedModel and every .tflite):

* inputs ``beats`` (batch, max_beats, beat_len) float32, ``rr`` (batch, max_beats, n_rr) float32 and
  ``padding_mask`` (batch, max_beats) **bool**, True on real beats (LiteRT takes bool inputs as they
  are, so the mask needs no conversion);
* outputs ``probabilities`` (batch, classes) and ``attention_weights`` (batch, max_beats);
  per-beat models (MIT-BIH AAMI classes): ``probabilities`` (batch, max_beats, classes) only, and
  the parity report compares the real beats (class agreement per beat, probability differences
  over real beats; ``max_abs_diff_attention`` is null).

A multi-label model is exported only with its decision thresholds (the run's ``thresholds.json``,
chosen on validation data); without them export stops with a ``ConfigError``.

Why dynamic-range int8 by default: with full-integer quantisation the LayerNorms of the transformer
blocks lose their precision (TFLite's quantisation debugger shows the first block's normalisation
off by tens of quantisation steps): the predicted class of a 3-epoch CinC 2017 classifier agreed
with Keras on 59% of 1000 validation windows (15% for a briefly trained model on the embedded
sample), against 99.7% with dynamic range, which is 6% larger than full-integer and 2.5 times
smaller than float32. ``--int8-mode full`` stays available and the report gives its agreement.

The beat axis is fixed at ``max_beats``: shorter sequences are zero-padded and the padding mask
carries the real length (what ``make_dataset`` and ``inference`` do), longer ones are cut into
windows. The batch axis is dynamic; LiteRT's signature runner resizes it per call. Only TFLite
builtin ops are used (no SELECT_TF_OPS / Flex), so the plain LiteRT interpreter runs every file.

Representative data for the parity check (and the calibration of ``--int8-mode full``): ``--examples`` evaluation windows
of real sequences from ``--representative-data`` (a TFRecord folder from ``ecgsl_keras.data.prepare``):
calibration on its train split; parity on its validation/test splits, topped up with train windows
when those hold fewer (the report says how many came from each). Without it, the CinC 2017 sample
embedded in the package is prepared with the model's own signal config.
"""
from __future__ import annotations

import datetime
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ExperimentConfig, ExportConfig
from ecgsl_keras.data.datasets.cinc2017 import cinc2017_sample_dir
from ecgsl_keras.data.prepare import prepare
from ecgsl_keras.errors import ConfigError, ECGSLError, MissingExtraError
from ecgsl_keras.fileio import make_readable, write_text_atomic
from ecgsl_keras.serving import edge, tflite_file
from ecgsl_keras.serving.stacked import stacked_folder
from ecgsl_keras.serving.inference import (ATTENTION, CONFIG_NAME, METADATA_NAME, find_lead, PROBABILITIES, RECORD_FEATURES,
                                           SERVING_SIGNATURE,
                                           _KerasBackend, _SavedModelBackend, _TFLiteBackend, find_metadata,
                                           find_thresholds)
from ecgsl_keras.store import runs
from ecgsl_keras.store.runs import resolve_model_arg
from tfrecords_tools import fs, load_manifest, make_dataset, quiet

log = logging.getLogger("ecgsl_keras.serving.export")

SAVED_MODEL_DIR = "saved_model"
REPORT_NAME = "export_report.json"
TFLITE_FORMATS = ("float32", "float16", "int8")
SAMPLE_DIR = cinc2017_sample_dir()
# Parity is computed on batches of this many windows (memory bound only).
PARITY_BATCH = 32
# The limits each format's parity is held to (the report's ``within_limits``; the tests use them):
# largest absolute probability difference and smallest class agreement with the Keras model.
PARITY_LIMITS = {"saved_model": {"max_abs_diff_probabilities": 1e-4, "class_agreement": 1.0},
                 "tflite_float32": {"max_abs_diff_probabilities": 1e-4, "class_agreement": 1.0},
                 # half-precision weights through a transformer: up to ~0.02 in probability on the shipped
                 # CinC models (1,000 validation windows), decisions kept
                 "tflite_float16": {"max_abs_diff_probabilities": 5e-2, "class_agreement": 0.99},
                 "tflite_int8": {"class_agreement": 0.95}}


def within_limits(name: str, parity: dict) -> bool:
    """Whether one format's parity entry meets ``PARITY_LIMITS[name]``."""
    limits = PARITY_LIMITS.get(name, {})
    diff = limits.get("max_abs_diff_probabilities")
    agreement = limits.get("class_agreement")
    return ((diff is None or parity["max_abs_diff_probabilities"] <= diff)
            and (agreement is None or parity["class_agreement"] >= agreement))


def tflite_name(fmt: str) -> str:
    return f"model_{fmt}.tflite"


# --- SavedModel ------------------------------------------------------------------------------

def input_signature(config: ExperimentConfig):
    import tensorflow as tf

    t, length, n_rr = int(config.model.max_beats), int(config.model.beat_width), int(config.model.n_rr_features)
    spec = [tf.TensorSpec((None, t, length), tf.float32, name="beats"),
            tf.TensorSpec((None, t, n_rr), tf.float32, name="rr"),
            tf.TensorSpec((None, t), tf.bool, name="padding_mask")]
    if config.model.n_record_features:   # the hybrid classifier (modeling.hybrid)
        spec.append(tf.TensorSpec((None, int(config.model.n_record_features)), tf.float32, name=RECORD_FEATURES))
    return spec


def input_keys(config_or_windows) -> tuple:
    """The serving inputs' names: the three sequence inputs, + ``record_features`` for a hybrid."""
    if isinstance(config_or_windows, ExperimentConfig):
        hybrid = bool(config_or_windows.model.n_record_features)
    else:
        hybrid = RECORD_FEATURES in config_or_windows[0]
    return ("beats", "rr", "padding_mask") + ((RECORD_FEATURES,) if hybrid else ())


def write_saved_model(classifier, config: ExperimentConfig, path, per_beat: bool = False) -> None:
    """SavedModel with one named signature, ``serving_default``: (beats, rr, padding_mask) ->
    {probabilities, attention_weights}; a per-beat classifier (``per_beat``): -> {probabilities}
    (batch, max_beats, classes), one distribution per beat (padding rows are meaningless)."""
    import keras

    from ecgsl_keras.modeling import models

    if per_beat:
        serving_model = classifier
    else:
        try:
            serving_model = models.attention_model(classifier)
        except ValueError as exc:  # a baseline without attention pooling (the raw-window ResNet)
            raise ConfigError(classifier.name, "bad_model", str(exc)) from None
    archive = keras.export.ExportArchive()
    archive.track(serving_model)

    def outputs(out):
        if per_beat:
            return {PROBABILITIES: out[PROBABILITIES] if isinstance(out, dict) else out}
        return {PROBABILITIES: out[PROBABILITIES], ATTENTION: out[ATTENTION]}

    def serve(beats, rr, padding_mask):
        return outputs(serving_model({"beats": beats, "rr": rr, "padding_mask": padding_mask}, training=False))

    def serve_hybrid(beats, rr, padding_mask, record_features):
        return outputs(serving_model({"beats": beats, "rr": rr, "padding_mask": padding_mask,
                                      RECORD_FEATURES: record_features}, training=False))

    archive.add_endpoint(SERVING_SIGNATURE, serve_hybrid if config.model.n_record_features else serve,
                         input_signature=input_signature(config))
    archive.write_out(str(path), verbose=False)


# --- TFLite ----------------------------------------------------------------------------------

def convert_tflite(saved_model_path, fmt: str, representative=None, int8_mode: str | None = None) -> bytes:
    """One TFLite flatbuffer from the SavedModel; ``representative`` is a list of feature dicts
    (batch 1) used to calibrate full-integer int8 (``int8_mode="full"``; default
    ``ExportConfig.int8_mode``)."""
    import tensorflow as tf

    int8_mode = int8_mode or ExportConfig().int8_mode
    if fmt not in TFLITE_FORMATS:
        raise ValueError(f"unknown TFLite format {fmt!r} (known: {TFLITE_FORMATS})")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_path), signature_keys=[SERVING_SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if fmt == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif fmt == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if int8_mode == "full":
            if not representative:
                raise ValueError("full-integer int8 needs representative data")

            def representative_dataset():
                for features in representative:
                    yield {key: features[key] for key in input_keys([features])}

            converter.representative_dataset = representative_dataset
            # Ops without an int8 kernel stay float rather than failing the conversion.
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        elif int8_mode != "dynamic":
            raise ValueError(f"int8_mode must be 'full' or 'dynamic', got {int8_mode!r}")
    return tflite_file.strip_empty_tables(converter.convert())


# --- real examples ---------------------------------------------------------------------------

def _manifest_splits(data_dir) -> list:

    return sorted(load_manifest(data_dir).get("splits", {}))


def load_windows(data_dir, config: ExperimentConfig, count: int, split=None) -> list[dict]:
    """Up to ``count`` evaluation windows (batch 1, numpy, padded to ``max_beats``) of real sequences
    from a TFRecord folder."""

    ds = make_dataset(str(data_dir), split=split, training=False, batch_size=1, max_beats=int(config.model.max_beats),
                      target="none", eval_stride=min(int(config.train.eval_window_stride), int(config.model.max_beats)),
                      length_aware=False)   # the exported signatures' fixed beat axis
    out = []
    keys = input_keys(config)
    if RECORD_FEATURES in keys and RECORD_FEATURES not in ds.element_spec:
        raise ConfigError(data_dir, "bad_config", "the hybrid model needs representative data with record features "
                                                  "(prepare --record-features)")
    for features in ds.take(int(count)):
        out.append({key: features[key].numpy() for key in keys})
    return out


def check_signal_config(data_dir, config: ExperimentConfig) -> bool:
    """Whether the TFRecords were prepared with the model's signal config (warn when not)."""

    stored = (load_manifest(data_dir).get("metadata") or {}).get("signal_config")
    if stored is None:
        log.warning("%s: manifest has no signal_config; cannot check it matches the model's", data_dir)
        return False
    same = stored == json.loads(config.signal.to_json())
    if not same:
        log.warning("%s: prepared with another signal config than the model's; parity figures still hold, "
                    "but int8 calibration may be off", data_dir)
    return same


def representative_and_parity(data_dir, config: ExperimentConfig, count: int):
    """(calibration windows, parity windows, description) from a TFRecord folder.

    Calibration reads the train split (all data when there is none). Parity reads the held-out
    splits (validation, test) first and tops up with train windows when they hold fewer than
    ``count``; the description says how many came from each.
    """
    splits = _manifest_splits(data_dir)
    calibration_split = "train" if "train" in splits else None
    calibration = load_windows(data_dir, config, count, calibration_split)
    parity, parity_splits = [], {}
    held_out = [s for s in ("validation", "test") if s in splits]
    for split in held_out + ([calibration_split] if calibration_split or not held_out else []):
        if len(parity) >= count:
            break
        windows = (calibration if split == calibration_split else load_windows(data_dir, config, count, split))
        windows = windows[: count - len(parity)]
        parity.extend(windows)
        parity_splits[split or "all"] = len(windows)
    if not calibration or not parity:
        raise ECGSLError(f"{data_dir}: no examples to calibrate or check the export with")
    return calibration, parity, {"data": str(data_dir), "calibration_split": calibration_split or "all",
                                 "parity_windows_per_split": parity_splits,
                                 "signal_config_matches_model": check_signal_config(data_dir, config)}


def prepare_sample(config: ExperimentConfig, out_dir) -> Path:
    """Prepare the embedded CinC 2017 sample with ``config`` (the default representative data)."""

    extra = {"record_features": True} if config.model.n_record_features else {}
    prepare("cinc2017", SAMPLE_DIR, out_dir, config, progress=False, **extra)
    return Path(out_dir)


# --- parity ----------------------------------------------------------------------------------

def stack(windows: list[dict]) -> dict:
    return {key: np.concatenate([w[key] for w in windows], axis=0) for key in input_keys(windows)}


def run_in_batches(backend, inputs: dict, batch: int = PARITY_BATCH):
    probabilities, attention = [], []
    for start in range(0, inputs["beats"].shape[0], batch):
        sel = slice(start, start + batch)
        extra = {RECORD_FEATURES: inputs[RECORD_FEATURES][sel]} if RECORD_FEATURES in inputs else {}
        p, a = backend(inputs["beats"][sel], inputs["rr"][sel], inputs["padding_mask"][sel], **extra)
        probabilities.append(np.asarray(p))
        attention.append(None if a is None else np.asarray(a))
    if any(a is None for a in attention):   # per-beat models have no attention output
        return np.concatenate(probabilities), None
    return np.concatenate(probabilities), np.concatenate(attention)


def decisions(probabilities: np.ndarray, kind: str) -> np.ndarray:
    """Predicted classes: argmax (multiclass; per beat for per-beat models), thresholded outputs
    (binary, multi-label)."""
    if kind == tasks_lib.PER_BEAT:
        return np.argmax(probabilities, axis=-1)
    if kind == tasks_lib.MULTICLASS:
        return np.argmax(probabilities, axis=-1)[:, None]
    return (probabilities >= 0.5).astype(np.int64)


def compare(reference, candidate, mask: np.ndarray, kind: str) -> dict:
    ref_p, ref_a = reference
    p, a = candidate
    if kind == tasks_lib.PER_BEAT:
        # One distribution per real beat; padding rows are not outputs anyone reads.
        agree = decisions(ref_p, kind)[mask] == decisions(p, kind)[mask]
        diff = np.abs(ref_p - p)[mask]
        return {
            "max_abs_diff_probabilities": float(np.max(diff)),
            "mean_abs_diff_probabilities": float(np.mean(diff)),
            "max_abs_diff_attention": None,
            "class_agreement": float(np.mean(agree)),
            "class_agreement_percent": round(100.0 * float(np.mean(agree)), 2),
            "examples": int(mask.shape[0]),
            "beats": int(agree.size),
        }
    agree = np.all(decisions(ref_p, kind) == decisions(p, kind), axis=-1)
    return {
        "max_abs_diff_probabilities": float(np.max(np.abs(ref_p - p))),
        "mean_abs_diff_probabilities": float(np.mean(np.abs(ref_p - p))),
        "max_abs_diff_attention": float(np.max(np.abs((ref_a - a)[mask]))),
        "class_agreement": float(np.mean(agree)),
        "class_agreement_percent": round(100.0 * float(np.mean(agree)), 2),
        "examples": int(agree.size),
    }


def _record_feature_names(config) -> list:
    from ecgsl_keras.data.record_features import feature_names

    names = list(feature_names())
    return names if len(names) == config.model.n_record_features else []


# --- driver ----------------------------------------------------------------------------------

def load_classifier(model_path):
    model_path = Path(model_path)
    if not model_path.is_file() or model_path.suffix != ".keras":
        raise ConfigError(model_path, "missing_file", "expected an existing .keras model file")
    from ecgsl_keras.modeling.files import load_keras_model

    return load_keras_model(model_path)


def export_model(model_path, out_dir, *, formats=None, representative_data=None, examples=None,
                 overwrite: bool = False, config: ExperimentConfig | None = None, task=None,
                 export_config: ExportConfig | None = None, end_to_end=None) -> dict:
    """Export ``model_path`` (a ``.keras`` classifier) into ``out_dir``; returns the report.

    ``config``/``task`` default to the run folder's (``config.json`` beside the model).
    ``end_to_end``: an ``edge.EdgeConfig`` to also write the raw-window file (``ecgsl_keras.serving.edge``).
    ``out_dir`` may be a ``tf.io.gfile`` URI (``export_remote``).
    """
    import keras
    import tensorflow as tf

    if fs.is_remote(out_dir):
        return export_remote(model_path, out_dir, overwrite=overwrite, formats=formats,
                             representative_data=representative_data, examples=examples, config=config, task=task,
                             export_config=export_config)

    export_config = export_config or ExportConfig()
    formats = tuple(formats if formats is not None else export_config.tflite_formats)
    examples = int(examples if examples is not None else export_config.examples)
    ExportConfig.from_dict({**export_config.to_dict(), "tflite_formats": list(formats), "examples": examples})
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise ECGSLError(f"{out_dir}: already exists; pass --overwrite to replace it")

    model_path = resolve_model_arg(model_path)   # a pretrained model name -> its model.keras
    if end_to_end is not None and model_path.is_dir():
        model_path = runs.model_path(model_path)   # a run folder -> its model.keras
    if not model_path.is_file() or model_path.suffix != ".keras":
        raise ConfigError(model_path, "missing_file", "expected an existing .keras model file")
    found_config, found_task, used = find_metadata(model_path)
    if stacked_folder(model_path):   # e.g. the cinc2017 preset: ECG-SL + a LightGBM booster over record features
        log.warning("%s: exporting its ECG-SL part only; the booster over record features beside it (stacking.json) "
                    "is not a Keras layer, so the exported files give the deep model's own probabilities. One file "
                    "for the edge: cinc2017-edge; ECG-SL and the record features in one model: cinc2017-keras",
                    model_path.parent)
    config = config or found_config
    task = tasks_lib.get_task(task) if isinstance(task, str) else (task or found_task)
    if config is None or task is None:
        raise ConfigError(model_path, "missing_config",
                          f"no {'config' if config is None else 'task'} found beside the model (read: {used or 'none'}); "
                          "pass --config / --task")
    per_beat = task.kind == tasks_lib.PER_BEAT
    thresholds = find_thresholds(model_path) if task.kind == tasks_lib.MULTILABEL else None
    if task.kind == tasks_lib.MULTILABEL and thresholds is None:
        raise ConfigError(model_path, "missing_thresholds",
                          f"multi-label model (task {task.name}) without stored decision thresholds (no "
                          "thresholds.json beside it): the export could not say when a class is present. "
                          "Train it with a validation split (ecgsl_keras.training.trainer writes thresholds.json)")
    if end_to_end is not None:
        if config.model.n_record_features:
            raise ConfigError(model_path, "bad_model", "the end-to-end export (raw window -> diagnosis in one graph) "
                                                       "does not compute record features in the graph: export this "
                                                       "hybrid model without --end-to-end (SavedModel / TFLite with "
                                                       "the record_features input) and compute them with "
                                                       "ecgsl_keras.data.record_features")
        if per_beat:
            raise ConfigError(model_path, "bad_task", "the end-to-end export serves record-level classifiers; "
                                                      f"task {task.name} labels each beat")
        edge.check_config(config.signal, end_to_end)
    classifier = load_classifier(model_path)
    if per_beat != (len(classifier.outputs[0].shape) == 3):
        raise ConfigError(model_path, "bad_task", f"task {task.name} is {task.kind} but the model's output has shape "
                          f"{tuple(classifier.outputs[0].shape)}: a per-beat task needs a per-beat model "
                          "(batch, beats, classes), a record-level task a record-level one")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="ecgsl-export-data-") as scratch:
            if representative_data is None:
                log.info("no --representative-data: preparing the embedded CinC 2017 sample")
                representative_data = prepare_sample(config, Path(scratch) / "cinc2017_sample")
                data_label = "embedded cinc2017_sample"
            else:
                data_label = str(representative_data)
            calibration, parity, data_info = representative_and_parity(representative_data, config, examples)
            data_info["data"] = data_label

        saved_model_path = tmp / SAVED_MODEL_DIR
        log.info("writing SavedModel")
        write_saved_model(classifier, config, saved_model_path, per_beat=per_beat)
        files = {"saved_model": SAVED_MODEL_DIR}
        conversion = {}
        for fmt in formats:
            log.info("converting TFLite %s", fmt)
            t0 = time.perf_counter()
            with quiet.filtered_stderr():  # the converter's harmless "NodeDef mentions attribute" errors
                flatbuffer = convert_tflite(saved_model_path, fmt, calibration, export_config.int8_mode)
            (tmp / tflite_name(fmt)).write_bytes(flatbuffer)
            files[fmt] = tflite_name(fmt)
            conversion[fmt] = round(time.perf_counter() - t0, 2)

        config.save(tmp / CONFIG_NAME)
        metadata = {
            "format_version": 1,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "source_model": str(model_path),
            "task": task.to_dict(),
            "label_names": list(task.label_names),
            "kind": task.kind,
            "experiment_config": config.to_dict(),
            "signature": SERVING_SIGNATURE,
            "inputs": {"beats": {"shape": [None, config.model.max_beats, config.model.beat_width], "dtype": "float32"},
                       "rr": {"shape": [None, config.model.max_beats, config.model.n_rr_features], "dtype": "float32"},
                       "padding_mask": {"shape": [None, config.model.max_beats], "dtype": "bool",
                                        "meaning": "True on real beats, False on padding"},
                       **({RECORD_FEATURES: {"shape": [None, config.model.n_record_features], "dtype": "float32",
                                             "names": _record_feature_names(config),
                                             "meaning": "the record's ecgsl_keras.data.record_features vector (raw "
                                                        "lead in mV at its native rate), the same for every window; "
                                                        "NaN allowed (replaced in the model)"}}
                          if config.model.n_record_features else {})},
            "outputs": ({PROBABILITIES: {"shape": [None, config.model.max_beats, task.num_classes],
                                         "meaning": "one distribution per beat; rows of padding are meaningless"}}
                        if per_beat else
                        {PROBABILITIES: {"shape": [None, task.num_classes if task.kind != tasks_lib.BINARY else 1]},
                         ATTENTION: {"shape": [None, config.model.max_beats]}}),
            "preprocessing": "ecgsl_keras.data.signal.preprocess with experiment_config.signal; sequences longer than "
                             "max_beats in windows every experiment_config.train.eval_window_stride beats",
            "thresholds": thresholds,
            "lead": find_lead(model_path),   # the lead the model was trained on (None: not recorded)
            "int8_mode": export_config.int8_mode if "int8" in formats else None,
            "files": files,
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        }
        write_text_atomic(tmp / METADATA_NAME, json.dumps(metadata, indent=2) + "\n")

        # Parity on real windows: every format against the Keras model.
        log.info("parity check on %d windows", len(parity))
        inputs = stack(parity)
        reference = run_in_batches(_KerasBackend(classifier), inputs)
        results = {"saved_model": compare(reference, run_in_batches(_SavedModelBackend(saved_model_path), inputs),
                                          inputs["padding_mask"], task.kind)}
        tflite_parity = "checked" if formats else None
        for fmt in formats:
            try:
                backend = _TFLiteBackend(tmp / tflite_name(fmt))
            except MissingExtraError as missing:  # no LiteRT: the files are written, their parity unchecked
                missing = str(missing).replace(str(tmp), str(out_dir))   # the path the file will have
                tflite_parity = f"not checked: {missing}"
                log.warning("TFLite files written, parity not checked: %s", missing)
                break
            results[f"tflite_{fmt}"] = compare(reference, run_in_batches(backend, inputs), inputs["padding_mask"],
                                               task.kind)
        for name, entry in results.items():
            entry["within_limits"] = within_limits(name, entry)
        if "tflite_int8" in results and results["tflite_int8"]["class_agreement"] < 0.95:
            log.warning("int8 (%s) agrees with Keras on only %.1f%% of the windows", export_config.int8_mode,
                        results["tflite_int8"]["class_agreement_percent"])
        sizes = {"keras": model_path.stat().st_size,
                 "saved_model": sum(f.stat().st_size for f in saved_model_path.rglob("*") if f.is_file())}
        sizes.update({f"tflite_{fmt}": (tmp / tflite_name(fmt)).stat().st_size for fmt in formats})
        report = {
            "model": str(model_path),
            "out": str(out_dir),
            "task": task.name,
            "label_names": list(task.label_names),
            "kind": task.kind,
            "signature": SERVING_SIGNATURE,
            "input_shapes": {k: v["shape"] for k, v in metadata["inputs"].items()},
            "padding_mask_dtype": "bool",
            "beat_axis": f"fixed at max_beats={config.model.max_beats}; the padding mask carries the length",
            "select_tf_ops": False,
            "int8_mode": metadata["int8_mode"],
            "files": files,
            "sizes_bytes": sizes,
            "parity": results,
            "int8_class_agreement_percent": results["tflite_int8"]["class_agreement_percent"] if "tflite_int8" in results else None,
            "tflite_parity": tflite_parity,
            "parity_data": {**data_info, "windows": len(parity), "calibration_windows": len(calibration),
                            "windows_with_padding": int(np.sum(~inputs["padding_mask"].all(axis=1))),
                            "real_beats_min": int(inputs["padding_mask"].sum(axis=1).min()),
                            "real_beats_max": int(inputs["padding_mask"].sum(axis=1).max())},
            "conversion_seconds": conversion,
            "seconds": round(time.perf_counter() - started, 2),
        }
        if end_to_end is not None:
            log.info("writing the end-to-end model (raw window -> diagnosis)")
            e2e_formats = [f for f in formats if f in ("float32", "int8")] or ["float32"]
            # edge.convert_tflite strips the end-to-end files as convert_tflite strips the classifier-only ones
            report["end_to_end"] = edge.export_end_to_end(classifier, config, task, tmp, e2e_formats, end_to_end)
            report["seconds"] = round(time.perf_counter() - started, 2)
        write_text_atomic(tmp / REPORT_NAME, json.dumps(report, indent=2) + "\n")
        make_readable(tmp)   # mkdtemp made it 0700: an export is for others to read
        runs.replace_dir(tmp, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def export_remote(model_path, out_dir, *, overwrite: bool = False, **kwargs) -> dict:
    """Export to a remote folder (``gs://``, ``ram://``): built and checked in a local temporary folder,
    then copied file by file, ``export_report.json`` last. An object store has no atomic folder
    rename, so a crash during the copy can leave a partial folder without a report; ``--overwrite``
    deletes the old remote folder first."""

    out_dir = str(out_dir)
    if fs.exists(out_dir) and not overwrite:
        raise ECGSLError(f"{out_dir}: already exists; pass --overwrite to replace it")
    fs.check_writable_dir(fs.dirname(out_dir))
    with tempfile.TemporaryDirectory(prefix="ecgsl-remote-export-") as scratch:
        local = Path(scratch) / "export"
        if fs.is_remote(str(model_path)):   # a model in a remote run folder: it and its run files, copied down
            model_dir = Path(scratch) / "model"
            model_dir.mkdir()
            for name in (fs.basename(model_path), CONFIG_NAME, "thresholds.json"):
                source = fs.join(fs.dirname(str(model_path)), name)
                if fs.exists(source):
                    (model_dir / name).write_bytes(fs.read_bytes(source))
            model_path = model_dir / fs.basename(model_path)
        report = export_model(model_path, local, overwrite=False, **kwargs)
        report["out"] = out_dir
        if isinstance(report.get("tflite_parity"), str):   # the no-LiteRT note names the remote file
            report["tflite_parity"] = report["tflite_parity"].replace(str(local), out_dir)
        write_text_atomic(local / REPORT_NAME, json.dumps(report, indent=2) + "\n")
        if fs.exists(out_dir):
            fs.rmtree(out_dir)
        fs.copy_tree(str(local), out_dir, last=(REPORT_NAME,))
    return report
