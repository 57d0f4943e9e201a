"""Read a data set, segment every record into beats, and write sharded TFRecords.

    python -m ecgsl_keras.prepare --dataset cinc2017 --data-dir DIR --out DIR [--workers 2]
    python -m ecgsl_keras.prepare --dataset cinc2017,mitdb,ptbxl,wfdb --unlabelled --out DIR \
        --data-dir cinc2017=DIR mitdb=DIR ptbxl=DIR wfdb=DIR [--workers 2]    # or --corpus corpus.json

Records are read and segmented in a process pool (``--workers``); the main process serialises
and writes shards (``tfrecords_tools.writer``), so a crash never leaves a manifest that names an
incomplete shard. The last line of stdout is a JSON summary.

``record_to_examples`` is the one definition of "record -> training examples": evaluation on a
raw folder and inference on a raw signal call it too, so they see exactly what training saw.
``prepare_corpus`` (``--unlabelled``) builds one unlabelled pre-training folder from several data
sets through it, one single-lead example per lead and window (see its docstring).
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ExperimentConfig, SignalConfig
from ecgsl_keras.data.datasets import Record, SkipCounter, open_dataset
from ecgsl_keras.data.datasets.registry import _canonical
from ecgsl_keras.data.signal import preprocess
from ecgsl_keras.errors import ConfigError, ECGSLError, RecordError
from tfrecords_tools import fs
from tfrecords_tools.schema import IGNORE_LABEL, BeatSequence
from tfrecords_tools.writer import STAGING_PREFIX, ShardedWriter

log = logging.getLogger("ecgsl_keras.data.prepare")

# R-peak to reference-annotation matching tolerance (the usual 150 ms of beat-detection scoring).
BEAT_MATCH_TOLERANCE_S = 0.15
# Long records with per-beat labels (MIT-BIH, 30 min) are stored as chunks of this many beats so
# that shuffling has more than one example per patient to work with.
PER_BEAT_CHUNK_BEATS = 256
# Apnea-ECG: one example per labelled minute, with this many context minutes on both sides.
APNEA_CONTEXT_MINUTES = 1


def _signal_config(config) -> SignalConfig:
    return config.signal if isinstance(config, ExperimentConfig) else config


def _record_label(record, task) -> np.ndarray:
    """Record-level label in the schema's form: [class index], multi-hot, or empty."""
    path = record.path or record.record_id
    if task.kind == tasks_lib.MULTICLASS:
        if len(record.labels) != 1:
            raise RecordError(path, "bad_label", f"expected one label for task {task.name}, got {list(record.labels)}")
        return np.array([task.index(record.labels[0], path)], np.int64)
    if task.kind == tasks_lib.MULTILABEL:
        hot = np.zeros(task.num_classes, np.int64)
        for name in record.labels:
            hot[task.index(name, path)] = 1
        return hot
    if task.kind == tasks_lib.BINARY and record.labels:
        return np.array([task.index(record.labels[0], path)], np.int64)
    return np.zeros((0,), np.int64)


def match_beat_labels(rpeaks_native, annotations, task, fs) -> np.ndarray:
    """Label each detected beat with the reference annotation nearest to it within 150 ms (else -1)."""

    labels = np.full(len(rpeaks_native), IGNORE_LABEL, np.int64)
    ref = np.asarray(annotations.samples, np.int64)
    if ref.size == 0 or len(rpeaks_native) == 0:
        return labels
    ref_idx = np.array([task.label_names.index(name) for name in annotations.labels], np.int64)
    order = np.argsort(ref)
    ref, ref_idx = ref[order], ref_idx[order]
    pos = np.searchsorted(ref, rpeaks_native)
    left = np.clip(pos - 1, 0, len(ref) - 1)
    right = np.clip(pos, 0, len(ref) - 1)
    nearest = np.where(np.abs(ref[left] - rpeaks_native) <= np.abs(ref[right] - rpeaks_native), left, right)
    close = np.abs(ref[nearest] - rpeaks_native) <= BEAT_MATCH_TOLERANCE_S * fs
    labels[close] = ref_idx[nearest[close]]
    return labels


def record_to_examples(record, config, task, *, chunk_beats=None, raw_signal=False, record_features=False):
    """Segment one ``Record`` and return its ``BeatSequence`` examples.

    ``record_features``: each example also stores the record's features
    (``ecgsl_keras.data.record_features.record_features`` of the record's raw lead in mV at its native
    rate, before windowing; NaN kept where not computable), in ``feature_names()`` order
    (``prepare --record-features``; the hybrid classifier's second input).

    ``raw_signal``: each example also stores the continuous signal of its span (the cleaned,
    resampled, normalised signal the beats were cut from, from ``segment_start_s`` to the start of
    the next chunk, the end of the context window, or the end of the record), for the ResNet
    baseline on the raw signal (``prepare --raw-signal``).

    Multiclass / multilabel records give one example for the whole record (the tf.data reader
    crops or windows it). Per-beat records give chunks of ``chunk_beats`` beats (default
    ``PER_BEAT_CHUNK_BEATS``). Apnea-ECG records give one example per labelled minute with
    ``APNEA_CONTEXT_MINUTES`` of context on both sides. Raises ``RecordError`` subclasses.
    """

    signal_config = _signal_config(config)
    path = record.path or record.record_id
    beats = preprocess(record.lead(None), record.fs, signal_config, path=path)
    context = np.zeros((0,), np.float32)
    if record_features:
        context = record_feature_vector(record.lead(None), record.fs, signal_config, path=path)

    def example(sel, label, beat_labels=None, start_s=0.0, stop_s=None):
        span = np.zeros((0,), np.float32)
        if raw_signal:
            first = int(round(float(start_s) * beats.fs))
            span = beats.signal[first:None if stop_s is None else int(round(float(stop_s) * beats.fs))]
        return BeatSequence(record_id=record.record_id, source=record.source, beats=beats.beats[sel],
                            rr=beats.rr[sel], rpeaks=beats.rpeaks[sel], fs=beats.fs, label=label,
                            beat_labels=np.zeros((0,), np.int64) if beat_labels is None else beat_labels[sel],
                            segment_start_s=float(start_s), signal=span, record_features=context)

    if task.kind == tasks_lib.PER_BEAT:
        if record.beat_annotations is None:
            raise RecordError(path, "missing_annotations", "per-beat task but the record has no beat annotations")
        beat_labels = match_beat_labels(beats.rpeaks_native, record.beat_annotations, task, record.fs)
        chunk = chunk_beats or PER_BEAT_CHUNK_BEATS
        out = []
        for start in range(0, len(beats.beats), chunk):
            sel = slice(start, start + chunk)
            if len(beats.beats[sel]) < signal_config.min_beats:
                continue
            following = start + chunk
            out.append(example(sel, np.zeros((0,), np.int64), beat_labels,
                               start_s=beats.rpeaks[start] / beats.fs,
                               stop_s=beats.rpeaks[following] / beats.fs if following < len(beats.rpeaks) else None))
        return out

    if task.kind == tasks_lib.BINARY and record.minute_labels is not None:
        times_s = beats.rpeaks / beats.fs
        out = []
        for minute, name in enumerate(record.minute_labels):
            lo = (minute - APNEA_CONTEXT_MINUTES) * 60.0
            hi = (minute + 1 + APNEA_CONTEXT_MINUTES) * 60.0
            sel = np.flatnonzero((times_s >= lo) & (times_s < hi))
            if len(sel) < signal_config.min_beats:
                continue
            out.append(example(sel, np.array([task.index(name, path)], np.int64), start_s=max(lo, 0.0), stop_s=hi))
        if not out:
            raise RecordError(path, "too_few_beats", "no labelled minute has enough beats")
        return out

    return [example(slice(None), _record_label(record, task))]


def record_feature_vector(signal_mv, fs, config, path="<signal>") -> np.ndarray:
    """float32 vector of ``record_features(signal_mv, fs, config=config)`` in ``feature_names()`` order,
    NaN kept (the hybrid model handles NaN itself; ``modeling.hybrid``). Shared by ``prepare`` and
    ``serving.inference`` so that training and inference compute the same features."""
    from ecgsl_keras.data.record_features import record_features as _record_features, to_vector

    return to_vector(_record_features(signal_mv, fs, config=_signal_config(config), path=str(path)),
                     nan_policy="keep").astype(np.float32)


# --- splits ------------------------------------------------------------------------------------

def assign_splits(reader, dataset: str, split: str, validation_fraction: float, seed: int) -> dict:
    """record_id -> split name. ``split='all'`` puts every record in ``train`` (pre-training)."""
    ids = list(reader.record_ids())
    if split == "all":
        return {rid: "train" for rid in ids}
    rng = np.random.default_rng(seed)
    if dataset == "ptbxl":
        out = {}
        for rid in ids:
            fold = int(reader.metadata_for(rid)["strat_fold"]) if hasattr(reader, "metadata_for") else None
            out[rid] = "test" if fold == 10 else "validation" if fold == 9 else "train"
        return out
    if dataset == "mitdb":
        # Inter-patient: DS2 records are the test half; DS1 is split by patient for validation.
        ds1 = [rid for rid in ids if rid not in tasks_lib.MITDB_DS2]
        n_val = max(1, int(round(validation_fraction * len(ds1)))) if len(ds1) > 1 else 0
        val = set(rng.permutation(ds1)[:n_val].tolist())
        return {rid: "test" if rid in tasks_lib.MITDB_DS2 else "validation" if rid in val else "train" for rid in ids}
    if dataset == "apnea-ecg":
        learning = [rid for rid in ids if not rid.startswith("x")]
        n_val = max(1, int(round(validation_fraction * len(learning)))) if len(learning) > 1 else 0
        val = set(rng.permutation(learning)[:n_val].tolist())
        return {rid: "test" if rid.startswith("x") else "validation" if rid in val else "train" for rid in ids}
    # cinc2017 and generic folders: stratified by the first label, with the seed.
    from sklearn.model_selection import train_test_split

    strata = []
    for rid in ids:
        labels = reader.labels_for(rid)
        strata.append(labels[0] if labels else "")
    counts = Counter(strata)
    if len(ids) < 2:
        return {rid: "train" for rid in ids}
    n_val = math.ceil(validation_fraction * len(ids))
    # scikit-learn refuses a stratified split whose parts cannot each hold every class
    stratify = strata if min(counts.values()) >= 2 and min(n_val, len(ids) - n_val) >= len(counts) else None
    if stratify is None and len(counts) > 1:
        log.warning("%d records in %d classes: too few for a split stratified by class; splitting at random",
                    len(ids), len(counts))
    train_ids, val_ids = train_test_split(ids, test_size=validation_fraction, random_state=seed, stratify=stratify)
    out = {rid: "train" for rid in train_ids}
    out.update({rid: "validation" for rid in val_ids})
    return out


# --- worker side -------------------------------------------------------------------------------

_WORKER = {}


def _init_worker(dataset, data_dir, reader_kwargs, config_dict, task_dict, raw_signal=False, record_features=False):

    logging.basicConfig(level=logging.ERROR)
    _WORKER["reader"] = open_dataset(dataset, data_dir, **reader_kwargs)
    _WORKER["config"] = ExperimentConfig.from_dict(config_dict)
    _WORKER["task"] = tasks_lib.Task.from_dict(task_dict)
    _WORKER["raw_signal"] = bool(raw_signal)
    _WORKER["record_features"] = bool(record_features)


def _process_record(record_id):
    """Runs in a worker: (record_id, examples or None, error reason, error message)."""
    try:
        record = _WORKER["reader"].load(record_id)
        examples = record_to_examples(record, _WORKER["config"], _WORKER["task"],
                                      raw_signal=_WORKER.get("raw_signal", False),
                                      record_features=_WORKER.get("record_features", False))
        return record_id, examples, None, None
    except RecordError as error:
        return record_id, None, error.reason, str(error)


# --- driver ------------------------------------------------------------------------------------

def _start_pool(workers, init_args, initializer=None):
    """A spawn pool whose workers skip the Keras import (they run numpy code only).

    Spawn, because forking a process that has TensorFlow loaded can deadlock. The variable is set
    only while the workers start, so later subprocesses of this process still register the
    custom Keras objects.
    """
    ctx = multiprocessing.get_context("spawn")
    previous = os.environ.get("ECGSL_KERAS_NO_REGISTER")
    os.environ["ECGSL_KERAS_NO_REGISTER"] = "1"
    try:
        return ctx.Pool(workers, initializer=initializer or _init_worker, initargs=init_args)
    finally:
        if previous is None:
            del os.environ["ECGSL_KERAS_NO_REGISTER"]
        else:
            os.environ["ECGSL_KERAS_NO_REGISTER"] = previous


@contextlib.contextmanager
def pool_map(function, items, workers, init_args, initializer=None, chunksize=1):
    """``function`` over ``items``, in their order: in a spawn pool of ``workers`` (``_start_pool``) when more than one,
    else in this process (``initializer``, default ``_init_worker``, run here first). The ``with`` block gets the
    results' iterator; leaving it ends the pool, also on an error (prepare, the corpus, folder predictions)."""
    initializer = initializer or _init_worker
    if workers and workers > 1:
        pool = _start_pool(workers, init_args, initializer=initializer)
        try:
            yield pool.imap(function, items, chunksize=chunksize)
        finally:
            pool.terminate()
            pool.join()
    else:
        initializer(*init_args)
        yield map(function, items)


def manifest_metadata(config, task, raw_signal, summary, record_features=False, lead=None) -> dict:
    """The manifest's ``metadata`` of a labelled data set (process pool and Beam alike);
    ``record_feature_names`` when the examples hold record features; ``lead`` the lead name the
    examples were read from (training copies it beside the model: ``serving.inference.find_lead``)."""
    extra = {"lead": lead} if isinstance(lead, str) and lead.lower() != "all" else {}
    if record_features:
        from ecgsl_keras.data.record_features import feature_names

        extra["record_feature_names"] = list(feature_names())
    return {**extra,
        "raw_signal": bool(raw_signal),
        "signal_config": config.signal.to_dict(),
        "experiment_config": config.to_dict(),
        "label_info": {"kind": task.kind, "label_names": list(task.label_names), "task": task.to_dict()},
        "prepare_summary": summary,
    }


def _check_out_dir(out_dir: str, overwrite: bool) -> None:
    """Refuse a non-empty ``out_dir`` early, unless ``overwrite``; an interrupted run's ``.staging-*``
    folder does not count (the writer resumes from it or removes it)."""

    if overwrite or not fs.exists(out_dir):
        return
    if not fs.isdir(out_dir):
        raise ECGSLError(f"{out_dir}: output path exists and is not a folder")
    if any(not name.startswith(STAGING_PREFIX) for name in fs.listdir(out_dir)):
        raise ECGSLError(f"{out_dir}: output folder is not empty; pass --overwrite to replace its shards")


def prepare(dataset: str, data_dir, out_dir, config: ExperimentConfig | None = None, *, split: str = "default",
            workers: int = 1, overwrite: bool = False, limit: int | None = None, records=None,
            compression=None, shard_size_bytes: int = 64 << 20, reader_kwargs=None, progress: bool = True,
            raw_signal: bool = False, record_features: bool = False) -> dict:
    """Prepare TFRecords for ``dataset``; returns the summary (also saved in the manifest).

    ``record_features``: store each record's feature vector too (``record_to_examples``); the
    manifest's metadata names them (``"record_feature_names"``).

    ``raw_signal``: store each example's continuous signal too (``record_to_examples``); the
    manifest's metadata says so (``"raw_signal": true``)."""
    from tqdm import tqdm

    config = config or ExperimentConfig()
    out_dir = os.fspath(out_dir)
    _check_out_dir(out_dir, overwrite)
    reader_kwargs = dict(reader_kwargs or {})
    if records:
        reader_kwargs["records"] = list(records)
    reader = open_dataset(dataset, data_dir, **reader_kwargs)
    task = reader.task
    splits = assign_splits(reader, dataset, split, config.train.validation_fraction, config.train.seed)
    record_ids = list(splits)
    if limit:
        record_ids = record_ids[:limit]

    start = time.perf_counter()
    skipped = SkipCounter()
    written = Counter()
    beats_written = Counter()
    init_args = (dataset, str(data_dir), reader_kwargs, config.to_dict(), task.to_dict(), bool(raw_signal),
                 bool(record_features))
    # What makes two runs the same job: a rerun with the same key resumes a killed one (ShardedWriter).
    resume_key = {"job": "ecgsl_keras.data.prepare", "dataset": dataset, "data_dir": os.path.abspath(str(data_dir)),
                  "reader_kwargs": reader_kwargs, "split": split, "limit": limit, "config": config.to_dict(),
                  "raw_signal": bool(raw_signal), "compression": compression, "shard_size_bytes": int(shard_size_bytes)}
    if record_features:   # only when on: resume keys of folders without them are unchanged
        resume_key["record_features"] = True

    with ShardedWriter(out_dir, prefix=dataset, compression=compression, shard_size_bytes=shard_size_bytes,
                       overwrite=overwrite, resume_key=json.loads(json.dumps(resume_key, default=str))) as writer:
        for record_id in writer.done_keys:
            written[splits[record_id]] += 1
        beats_written.update(writer.resumed["beats_per_split"])
        todo = [rid for rid in record_ids if rid not in writer.done_keys]
        if writer.done_keys:
            log.info("resuming: %d records already in %d finished shards, %d to do", len(writer.done_keys),
                     writer.resumed["shards"], len(todo))
        with pool_map(_process_record, todo, workers, init_args, chunksize=4) as results:
            for record_id, examples, reason, message in tqdm(results, total=len(todo), desc=f"prepare {dataset}",
                                                             unit="rec", disable=not progress, file=sys.stderr):
                if examples is None:
                    skipped.add(RecordError(record_id, reason, message.split(": ", 1)[-1]))
                    log.warning("skipping %s", message)
                    continue
                writer.write_record(examples, split=splits[record_id], key=record_id)
                beats_written[splits[record_id]] += sum(ex.n_beats for ex in examples)
                written[splits[record_id]] += 1
        seconds = time.perf_counter() - start
        summary = {
            "dataset": dataset,
            "data_dir": str(data_dir),
            "out": str(out_dir),
            "records_written": sum(written.values()),
            "records_per_split": dict(written),
            "beats_per_split": dict(beats_written),
            "beats": sum(beats_written.values()),
            "skipped": skipped.total,
            "skipped_by_reason": dict(skipped.counts),
            "seconds": round(seconds, 2),
            "records_per_second": round(len(todo) / seconds, 2) if seconds else None,
            "resumed": {"records": len(writer.done_keys), "shards": writer.resumed["shards"],
                        "shards_redone": writer.resumed["dropped_shards"]},
            "raw_signal": bool(raw_signal),
            "workers": workers,
        }
        if record_features:
            summary["record_features"] = True
        writer.finalize(manifest_metadata(config, task, raw_signal, summary, record_features=record_features,
                                          lead=getattr(reader, "lead", None)))
    if skipped.total:
        log.warning("%s", skipped)
    return summary


# --- unlabelled pre-training corpus from several sources -----------------------------------------
#
#     python -m ecgsl_keras.prepare --dataset cinc2017,mitdb,ptbxl,wfdb --unlabelled --out data/pretrain \
#         --data-dir cinc2017=PATH mitdb=PATH ptbxl=PATH wfdb=PATH --workers 2
#     python -m ecgsl_keras.prepare --corpus corpus.json --out data/pretrain --workers 2
#
# Every lead of every window of every record becomes one single-lead example with an empty label,
# segmented by ``record_to_examples`` with the one ``SignalConfig``. Records that a labelled task
# evaluates on are left out (``_corpus_exclusions``) and listed in the manifest.

CORPUS_PREFIX = "pretrain"
CORPUS_WINDOW_S = 60.0               # longer records are cut into windows this long (a shorter tail is merged)
CORPUS_VALIDATION_FRACTION = 0.05    # records per source in the pre-training validation split
# Leads per data set ("all": each lead its own example); other data sets use the reader's default lead.
CORPUS_DEFAULT_LEADS = {"ptbxl": "all", "wfdb": "all"}
# Reader options of the corpus (labels are not needed, so PTB-XL records without a statement stay in).
CORPUS_DEFAULT_OPTIONS = {"ptbxl": {"rate": 500, "drop_unlabelled": False}}
PTBXL_HELD_OUT_FOLDS = (9, 10)       # PTB-XL's validation and test folds, kept for the labelled tasks
# CinC 2020/2021 records named HRnnnnn are PTB-XL's ecg_id nnnnn.
_CINC2021_PTBXL_NAME = re.compile(r"^HR(\d{5})$")
_SOURCE_KEYS = {"dataset", "data_dir", "name", "options", "window_s"}


class _Unlabelled:
    """The task of corpus examples: ``record_to_examples`` gives every example an empty label."""

    name = "unlabelled"
    kind = "unlabelled"
    label_names = ()


UNLABELLED = _Unlabelled()


def parse_source_specs(datasets, data_dirs) -> list:
    """``["cinc2017", "mitdb"]`` + ``["cinc2017=PATH", "mitdb=PATH"]`` (or one bare PATH for one
    data set) -> source specs ``{"dataset", "data_dir"}``."""
    datasets = [d.strip() for d in datasets if d.strip()]
    if not datasets:
        raise ConfigError("--dataset: no data set named")
    named = {}
    for item in data_dirs:
        name, sep, path = str(item).partition("=")
        if not sep:
            if len(datasets) != 1 or len(data_dirs) != 1:
                raise ConfigError(f"--data-dir {item!r}: with several data sets write NAME=PATH for each "
                                  f"(data sets: {datasets})")
            name, path = datasets[0], item
        if name in named:
            raise ConfigError(f"--data-dir: {name!r} given twice")
        named[name] = path
    unknown = sorted(set(named) - set(datasets))
    missing = [d for d in datasets if d not in named]
    if unknown or missing:
        raise ConfigError("--data-dir must give one folder per --dataset: "
                          + (f"no folder for {missing}" if missing else "")
                          + ("; " if unknown and missing else "")
                          + (f"{unknown} not in --dataset {datasets}" if unknown else ""))
    return [{"dataset": d, "data_dir": named[d]} for d in datasets]


def load_corpus_file(path) -> dict:
    """A corpus JSON file: ``{"sources": [{"dataset", "data_dir", "name"?, "options"?, "window_s"?}],
    "window_s"?, "validation_fraction"?}``; relative ``data_dir`` are relative to the file's folder."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "missing_file", "corpus file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "bad_config", f"not valid JSON ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("sources"), list) or not spec["sources"]:
        raise ConfigError(path, "bad_config", "expected an object with a non-empty 'sources' list")
    unknown = sorted(set(spec) - {"sources", "window_s", "validation_fraction"})
    if unknown:
        raise ConfigError(path, "bad_config", f"unknown keys {unknown}")
    sources = []
    for i, source in enumerate(spec["sources"]):
        if not isinstance(source, dict) or not {"dataset", "data_dir"} <= set(source):
            raise ConfigError(path, "bad_config", f"sources[{i}] needs 'dataset' and 'data_dir', got {source!r}")
        bad = sorted(set(source) - _SOURCE_KEYS)
        if bad:
            raise ConfigError(path, "bad_config", f"sources[{i}]: unknown keys {bad} (known: {sorted(_SOURCE_KEYS)})")
        source = dict(source)
        data_dir = Path(source["data_dir"]).expanduser()
        source["data_dir"] = str(data_dir if data_dir.is_absolute() else path.parent / data_dir)
        sources.append(source)
    return {**spec, "sources": sources}


def _open_source(source: dict):
    """The reader of one source spec; a missing folder, unreadable label file or no records is an
    ``ECGSLError`` naming the source and its folder."""

    where = f"source {source['name']!r} ({source['dataset']}, {source['data_dir']})"
    try:
        reader = open_dataset(source["dataset"], source["data_dir"], **source["options"])
        ids = reader.record_ids()
    except ECGSLError as error:
        raise ECGSLError(f"{where}: {error}") from None
    if not ids:
        raise ECGSLError(f"{where}: no records found in the folder")
    return reader, ids


def _normalize_sources(sources, window_s) -> list:
    out, names = [], set()

    for source in sources:
        dataset = _canonical(source["dataset"])
        name = str(source.get("name") or dataset)
        if name in names:
            raise ConfigError(f"corpus: two sources named {name!r}; give each a distinct 'name'")
        if not name or "/" in name:
            raise ConfigError(f"corpus: source name {name!r} must be non-empty without '/'")
        names.add(name)
        options = dict(CORPUS_DEFAULT_OPTIONS.get(dataset, {}))
        if CORPUS_DEFAULT_LEADS.get(dataset):
            options["lead"] = CORPUS_DEFAULT_LEADS[dataset]
        options.update(source.get("options") or {})
        if "records" in options:
            options["records"] = [str(r) for r in options["records"]]
        win = source.get("window_s", window_s)
        if win is not None and float(win) <= 0:
            raise ConfigError(f"corpus: source {name!r}: window_s must be positive, got {win}")
        out.append({"name": name, "dataset": dataset, "data_dir": str(source["data_dir"]), "options": options,
                    "window_s": None if win is None else float(win)})
    return out


def _corpus_exclusions(source, reader, ids, config, ptbxl_folds) -> dict:
    """record_id -> reason for the records that labelled tasks validate or test on.

    * CinC 2017: the records ``prepare --dataset cinc2017`` puts in its validation split (the same
      ``assign_splits`` call, on the whole folder, with ``TrainConfig.validation_fraction`` and seed).
    * PTB-XL: folds 9 and 10; CinC 2021 ``HRnnnnn`` records (PTB-XL's ecg_id nnnnn) of those folds
      when a PTB-XL source of the corpus lists them.
    """

    excluded = {}
    if source["dataset"] == "cinc2017":
        full_kwargs = {k: v for k, v in source["options"].items() if k == "reference"}
        full = open_dataset("cinc2017", source["data_dir"], **full_kwargs)
        standard = assign_splits(full, "cinc2017", "default", config.train.validation_fraction, config.train.seed)
        excluded = {rid: "cinc2017_validation_split" for rid in ids if standard.get(rid) == "validation"}
    elif source["dataset"] == "ptbxl":
        for rid in ids:
            try:
                fold = int(reader.metadata_for(rid)["strat_fold"])
            except ECGSLError:
                continue  # unknown id: load() fails and counts it
            if fold in PTBXL_HELD_OUT_FOLDS:
                excluded[rid] = f"ptbxl_fold_{fold}"
    elif source["dataset"] == "wfdb" and ptbxl_folds:
        for rid in ids:
            match = _CINC2021_PTBXL_NAME.match(Path(rid).name)
            fold = ptbxl_folds.get(int(match.group(1))) if match else None
            if fold in PTBXL_HELD_OUT_FOLDS:
                excluded[rid] = f"ptbxl_fold_{fold}"
    return excluded


def _init_corpus_worker(sources, config_dict):

    logging.basicConfig(level=logging.ERROR)
    _WORKER["corpus"] = {s["name"]: (open_dataset(s["dataset"], s["data_dir"], **s["options"]), s["window_s"])
                         for s in sources}
    _WORKER["config"] = ExperimentConfig.from_dict(config_dict)


def _example_record_id(source_name: str, record) -> str:
    # PTB-XL ids are ecg_ids ("1"): name the file instead ("00001_hr"), as PTB-XL users know it.
    base = Path(str(record.metadata.get("filename"))).name if record.source == "ptbxl" and \
        record.metadata.get("filename") else record.record_id
    return f"{source_name}/{base}"


def record_to_corpus_examples(record, config, source_name: str, window_s=CORPUS_WINDOW_S):
    """Every lead of ``record`` as its own single-lead sequence, cut into ``window_s`` windows (a
    tail shorter than half a window joins the window before it), each through ``record_to_examples``
    with an empty label. Returns ``(examples, [(reason, message) of the windows skipped]``.

    Example ids are ``{source}/{record}/{lead}``; ``segment_start_s`` is the window start.
    """

    n, fs = record.signal.shape[0], float(record.fs)
    step = n if not window_s else max(1, int(round(window_s * fs)))
    starts = list(range(0, n, step))
    if len(starts) > 1 and n - starts[-1] < step / 2:
        starts.pop()
    bounds = list(zip(starts, starts[1:] + [n]))
    base_id = _example_record_id(source_name, record)
    examples, skipped = [], []
    for column, lead in enumerate(record.lead_names):
        for start, stop in bounds:
            piece = Record(record_id=f"{base_id}/{lead}", signal=record.signal[start:stop, column:column + 1],
                           fs=fs, lead_names=(lead,), source=source_name,
                           path=f"{record.path or record.record_id} lead {lead} [{start / fs:g}-{stop / fs:g} s]",
                           metadata=record.metadata)
            try:
                for example in record_to_examples(piece, config, UNLABELLED):
                    example.segment_start_s = float(example.segment_start_s) + start / fs
                    examples.append(example)
            except RecordError as error:
                skipped.append((error.reason, str(error)))
    return examples, skipped


def _process_corpus_record(item):
    """Runs in a worker: (source, record_id, examples or None, [(reason, message)], leads, cpu seconds)."""
    source, record_id = item
    start = time.process_time()
    reader, window_s = _WORKER["corpus"][source]
    try:
        record = reader.load(record_id)
    except RecordError as error:
        return source, record_id, None, [(error.reason, str(error))], (), time.process_time() - start
    examples, skipped = record_to_corpus_examples(record, _WORKER["config"], source, window_s)
    return source, record_id, examples, skipped, tuple(record.lead_names), time.process_time() - start


def prepare_corpus(sources, out_dir, config: ExperimentConfig | None = None, *, workers: int = 1,
                   overwrite: bool = False, window_s=CORPUS_WINDOW_S,
                   validation_fraction: float = CORPUS_VALIDATION_FRACTION, limit: int | None = None,
                   compression=None, shard_size_bytes: int = 64 << 20, progress: bool = True) -> dict:
    """Write one unlabelled pre-training TFRecord folder from several data sets; returns the summary.

    ``sources``: ``[{"dataset", "data_dir", "name"?, "options"?, "window_s"?}]`` (``options`` are
    reader options, ``lead`` included). Splits: ``train``, and ``validation`` holding a seeded
    ``validation_fraction`` of each source's records (for the pre-training validation loss only).
    The manifest has no ``label_info`` (``metadata["unlabelled"]`` is true) and lists, per source,
    the records used, excluded (and why) and skipped (and why), examples, beats and leads.
    ``limit``: only the first N usable records of each source (smoke runs).
    """
    import zlib

    from tqdm import tqdm

    config = config or ExperimentConfig()
    out_dir = os.fspath(out_dir)
    if not 0.0 <= float(validation_fraction) < 1.0:
        raise ConfigError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    _check_out_dir(out_dir, overwrite)
    sources = _normalize_sources(sources, window_s)
    if not sources:
        raise ConfigError("corpus: no sources")
    seed = int(config.train.seed)

    # 1. plan every source before anything is written: bad folders fail here, naming the source.
    plans, ptbxl_folds = {}, {}
    for source in sorted(sources, key=lambda s: s["dataset"] != "ptbxl"):  # PTB-XL first: its folds
        reader, ids = _open_source(source)
        if source["dataset"] == "ptbxl":
            for rid in ids:
                ptbxl_folds[int(rid)] = int(reader.metadata_for(rid)["strat_fold"])
        excluded = _corpus_exclusions(source, reader, ids, config, ptbxl_folds)
        kept = [rid for rid in ids if rid not in excluded]
        if limit:
            kept = kept[:limit]
        rng = np.random.default_rng([seed, zlib.crc32(source["name"].encode())])
        n_val = max(1, int(round(validation_fraction * len(kept)))) if validation_fraction and len(kept) > 1 else 0
        validation = set(rng.permutation(kept)[:n_val].tolist())
        plans[source["name"]] = {"source": source, "found": len(ids), "excluded": excluded,
                                 "splits": {rid: "validation" if rid in validation else "train" for rid in kept}}
    plans = {source["name"]: plans[source["name"]] for source in sources}  # the caller's order
    items = [(name, rid) for name in plans for rid in plans[name]["splits"]]
    # Sources mixed through the shards (seeded), so every shard holds every source.
    items = [items[i] for i in np.random.default_rng(seed).permutation(len(items))]

    stats = {name: {"records": Counter(), "examples": Counter(), "beats": Counter(), "skipped": {},
                    "skipped_by_reason": Counter(), "windows_skipped": Counter(), "first_error": {},
                    "leads": Counter(), "cpu_s": 0.0} for name in plans}
    start = time.perf_counter()
    init_args = ([p["source"] for p in plans.values()], config.to_dict())
    with ShardedWriter(out_dir, prefix=CORPUS_PREFIX, compression=compression, shard_size_bytes=shard_size_bytes,
                       overwrite=overwrite) as writer:
        with pool_map(_process_corpus_record, items, workers, init_args, initializer=_init_corpus_worker,
                      chunksize=2) as results:
            for name, rid, examples, problems, leads, cpu_s in tqdm(
                    results, total=len(items), desc="prepare corpus", unit="rec", disable=not progress,
                    file=sys.stderr):
                st = stats[name]
                st["cpu_s"] += cpu_s
                for reason, message in problems:
                    st["first_error"].setdefault(reason, message)
                if not examples:
                    reasons = sorted({reason for reason, _ in problems}) or ["no_examples"]
                    st["skipped"][rid] = ",".join(reasons)
                    st["skipped_by_reason"].update(reasons)
                    log.warning("skipping %s/%s: %s", name, rid, problems[0][1] if problems else "no examples")
                    continue
                if leads:
                    st["windows_skipped"].update(reason for reason, _ in problems)
                split = plans[name]["splits"][rid]
                for example in examples:
                    writer.write(example, split=split)
                    st["examples"][split] += 1
                    st["beats"][split] += example.n_beats
                    st["leads"][example.record_id.rsplit("/", 1)[-1]] += 1
                st["records"][split] += 1
        seconds = time.perf_counter() - start

        per_source, manifest_sources = {}, []
        for name, plan in plans.items():
            st, source = stats[name], plan["source"]
            excluded_by_reason = Counter(plan["excluded"].values())
            short = {
                "dataset": source["dataset"], "records_found": plan["found"],
                "records_excluded": len(plan["excluded"]), "records_used": sum(st["records"].values()),
                "records_skipped": len(st["skipped"]), "examples": sum(st["examples"].values()),
                "beats": sum(st["beats"].values()), "worker_cpu_s": round(st["cpu_s"], 1),
            }
            per_source[name] = short
            manifest_sources.append({
                "name": name, **short, "data_dir": str(Path(source["data_dir"]).resolve()),
                "reader_options": source["options"], "window_s": source["window_s"],
                "leads": dict(sorted(st["leads"].items())),
                "records_per_split": dict(st["records"]), "examples_per_split": dict(st["examples"]),
                "beats_per_split": dict(st["beats"]),
                "excluded_by_reason": dict(excluded_by_reason),
                "excluded_records": {reason: sorted(r for r, why in plan["excluded"].items() if why == reason)
                                     for reason in sorted(excluded_by_reason)},
                "skipped_by_reason": dict(st["skipped_by_reason"]), "skipped_records": dict(st["skipped"]),
                "windows_skipped_by_reason": dict(st["windows_skipped"]),
                "first_error_by_reason": st["first_error"],
                "validation_records": sorted(r for r, s in plan["splits"].items() if s == "validation"),
            })
        summary = {
            "corpus": True, "unlabelled": True, "out": str(out_dir), "sources": per_source,
            "records_written": sum(s["records_used"] for s in per_source.values()),
            "examples": sum(s["examples"] for s in per_source.values()),
            "beats": sum(s["beats"] for s in per_source.values()),
            "examples_per_split": dict(sum((stats[n]["examples"] for n in stats), Counter())),
            "seconds": round(seconds, 2), "workers": workers,
        }
        if not summary["examples"]:
            raise ECGSLError(f"{out_dir}: no example from any source (skipped: "
                             f"{ {n: dict(stats[n]['skipped_by_reason']) for n in stats} }); nothing written")
        writer.finalize({
            "unlabelled": True,
            "signal_config": config.signal.to_dict(),
            "experiment_config": config.to_dict(),
            "corpus": {"window_s": window_s, "validation_fraction": validation_fraction, "seed": seed,
                       "cinc2017_excluded_split": {"split": "validation",
                                                   "validation_fraction": config.train.validation_fraction,
                                                   "seed": seed},
                       "ptbxl_excluded_folds": list(PTBXL_HELD_OUT_FOLDS), "sources": manifest_sources},
            "prepare_summary": summary,
        })
    return summary
