"""Read a data set, segment every record into beats, and write sharded TFRecords.

    python -m ecgsl_keras.prepare --dataset cinc2017 --data-dir DIR --out DIR [--workers 2]

Records are read and segmented in a process pool (``--workers``); the main process serialises
and writes shards (``tfrecords_tools.writer``), so a crash never leaves a manifest that names an
incomplete shard. The last line of stdout is a JSON summary.

``record_to_examples`` is the one definition of "record -> training examples": evaluation on a
raw folder and inference on a raw signal call it too, so they see exactly what training saw.
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ExperimentConfig, SignalConfig
from ecgsl_keras.errors import ECGSLError, RecordError

log = logging.getLogger("ecgsl_keras.prepare")

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
    from tfrecords_tools.schema import IGNORE_LABEL

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


def record_to_examples(record, config, task, *, chunk_beats=None):
    """Segment one ``Record`` and return its ``BeatSequence`` examples.

    Multiclass / multilabel records give one example for the whole record (the tf.data reader
    crops or windows it). Per-beat records give chunks of ``chunk_beats`` beats (default
    ``PER_BEAT_CHUNK_BEATS``). Apnea-ECG records give one example per labelled minute with
    ``APNEA_CONTEXT_MINUTES`` of context on both sides. Raises ``RecordError`` subclasses.
    """
    from ecgsl_keras.signal import preprocess
    from tfrecords_tools.schema import BeatSequence

    signal_config = _signal_config(config)
    path = record.path or record.record_id
    beats = preprocess(record.lead(None), record.fs, signal_config, path=path)

    def example(sel, label, beat_labels=None, start_s=0.0):
        return BeatSequence(record_id=record.record_id, source=record.source, beats=beats.beats[sel],
                            rr=beats.rr[sel], rpeaks=beats.rpeaks[sel], fs=beats.fs, label=label,
                            beat_labels=np.zeros((0,), np.int64) if beat_labels is None else beat_labels[sel],
                            segment_start_s=float(start_s))

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
            out.append(example(sel, np.zeros((0,), np.int64), beat_labels,
                               start_s=beats.rpeaks[start] / beats.fs))
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
            out.append(example(sel, np.array([task.index(name, path)], np.int64), start_s=max(lo, 0.0)))
        if not out:
            raise RecordError(path, "too_few_beats", "no labelled minute has enough beats")
        return out

    return [example(slice(None), _record_label(record, task))]


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
    stratify = strata if min(counts.values()) >= 2 else None
    if len(ids) < 2:
        return {rid: "train" for rid in ids}
    train_ids, val_ids = train_test_split(ids, test_size=validation_fraction, random_state=seed, stratify=stratify)
    out = {rid: "train" for rid in train_ids}
    out.update({rid: "validation" for rid in val_ids})
    return out


# --- worker side -------------------------------------------------------------------------------

_WORKER = {}


def _init_worker(dataset, data_dir, reader_kwargs, config_dict, task_dict):
    from ecgsl_keras.datasets import open_dataset

    logging.basicConfig(level=logging.ERROR)
    _WORKER["reader"] = open_dataset(dataset, data_dir, **reader_kwargs)
    _WORKER["config"] = ExperimentConfig.from_dict(config_dict)
    _WORKER["task"] = tasks_lib.Task.from_dict(task_dict)


def _process_record(record_id):
    """Runs in a worker: (record_id, examples or None, error reason, error message)."""
    try:
        record = _WORKER["reader"].load(record_id)
        examples = record_to_examples(record, _WORKER["config"], _WORKER["task"])
        return record_id, examples, None, None
    except RecordError as error:
        return record_id, None, error.reason, str(error)


# --- driver ------------------------------------------------------------------------------------

def _start_pool(workers, init_args):
    """A spawn pool whose workers skip the Keras import (they run numpy code only).

    Spawn, because forking a process that has TensorFlow loaded can deadlock. The variable is set
    only while the workers start, so later subprocesses of this process still register the
    custom Keras objects.
    """
    ctx = multiprocessing.get_context("spawn")
    previous = os.environ.get("ECGSL_KERAS_NO_REGISTER")
    os.environ["ECGSL_KERAS_NO_REGISTER"] = "1"
    try:
        return ctx.Pool(workers, initializer=_init_worker, initargs=init_args)
    finally:
        if previous is None:
            del os.environ["ECGSL_KERAS_NO_REGISTER"]
        else:
            os.environ["ECGSL_KERAS_NO_REGISTER"] = previous


def prepare(dataset: str, data_dir, out_dir, config: ExperimentConfig | None = None, *, split: str = "default",
            workers: int = 1, overwrite: bool = False, limit: int | None = None, records=None,
            compression=None, shard_size_bytes: int = 64 << 20, reader_kwargs=None, progress: bool = True) -> dict:
    """Prepare TFRecords for ``dataset``; returns the summary (also saved in the manifest)."""
    from tqdm import tqdm

    from ecgsl_keras.datasets import SkipCounter, open_dataset
    from tfrecords_tools.writer import ShardedWriter

    config = config or ExperimentConfig()
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ECGSLError(f"{out_dir}: output folder is not empty; pass --overwrite to replace its shards")
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
    init_args = (dataset, str(data_dir), reader_kwargs, config.to_dict(), task.to_dict())

    with ShardedWriter(out_dir, prefix=dataset, compression=compression, shard_size_bytes=shard_size_bytes,
                       overwrite=overwrite) as writer:
        if workers and workers > 1:
            pool = _start_pool(workers, init_args)
            results = pool.imap(_process_record, record_ids, chunksize=4)
        else:
            pool = None
            _init_worker(*init_args)
            results = map(_process_record, record_ids)
        try:
            for record_id, examples, reason, message in tqdm(results, total=len(record_ids), desc=f"prepare {dataset}",
                                                             unit="rec", disable=not progress, file=sys.stderr):
                if examples is None:
                    skipped.add(RecordError(record_id, reason, message.split(": ", 1)[-1]))
                    log.warning("skipping %s", message)
                    continue
                for ex in examples:
                    writer.write(ex, split=splits[record_id])
                    beats_written[splits[record_id]] += ex.n_beats
                written[splits[record_id]] += 1
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
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
            "records_per_second": round(len(record_ids) / seconds, 2) if seconds else None,
            "workers": workers,
        }
        writer.finalize({
            "signal_config": config.signal.to_dict(),
            "experiment_config": config.to_dict(),
            "label_info": {"kind": task.kind, "label_names": list(task.label_names), "task": task.to_dict()},
            "prepare_summary": summary,
        })
    if skipped.total:
        log.warning("%s", skipped)
    return summary


def build_parser() -> argparse.ArgumentParser:
    from ecgsl_keras.datasets import DATASETS

    p = argparse.ArgumentParser(prog="python -m ecgsl_keras.prepare", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--data-dir", required=True, help="folder of the data set's PhysioNet files")
    p.add_argument("--out", required=True, help="output folder for shards and manifest.json")
    p.add_argument("--config", help="ExperimentConfig JSON (signal parameters are used here)")
    p.add_argument("--split", default="default", choices=["default", "all"],
                   help="default: the data set's standard split; all: every record in 'train' (pre-training)")
    p.add_argument("--workers", type=int, default=1, help="processes reading and segmenting records")
    p.add_argument("--overwrite", action="store_true", help="replace the shards of a non-empty --out")
    p.add_argument("--limit", type=int, help="only the first N records (smoke runs)")
    p.add_argument("--records", nargs="+", help="only these record ids")
    p.add_argument("--lead", help="lead name (MIT-BIH default MLII, PTB-XL default II)")
    p.add_argument("--rate", type=int, choices=[100, 500], help="PTB-XL: records100 or records500")
    p.add_argument("--labels-csv", help="generic WFDB folder: CSV of record,label")
    p.add_argument("--gzip", action="store_true", help="GZIP-compress the shards")
    p.add_argument("--shard-size-mb", type=float, default=64.0)
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        config = ExperimentConfig.load(args.config) if args.config else ExperimentConfig()
        reader_kwargs = {}
        if args.lead:
            reader_kwargs["lead"] = args.lead
        if args.rate:
            reader_kwargs["rate"] = args.rate
        if args.labels_csv:
            reader_kwargs["labels_csv"] = args.labels_csv
        summary = prepare(args.dataset, args.data_dir, args.out, config, split=args.split, workers=args.workers,
                          overwrite=args.overwrite, limit=args.limit, records=args.records,
                          compression="GZIP" if args.gzip else None,
                          shard_size_bytes=int(args.shard_size_mb * (1 << 20)), reader_kwargs=reader_kwargs,
                          progress=not args.no_progress)
    except ECGSLError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"prepared {summary['records_written']} records ({summary['beats']} beats) in {summary['seconds']} s; "
          f"skipped {summary['skipped']} {summary['skipped_by_reason']}", file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
