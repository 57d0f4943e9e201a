"""Throughput of the TFRecord tf.data pipeline against segmenting WFDB files on the fly.

    python -m ecgsl_keras.bench pipeline --data TFRECORD_DIR [--raw-data-dir DIR] [--batches N]

Both sides deliver the same thing training reads: batches of ``batch_size`` beat sequences,
cropped to ``max_beats``, padded, with a padding mask. The TFRecord side is
``tfrecords_tools.reader.make_dataset(training=True)`` after one warm-up batch; the on-the-fly side
reads each record with the project reader, runs ``ecgsl_keras.data.prepare.record_to_examples`` (the
same preprocessing as ``prepare``) and pads in numpy, single process, as a naive Python loader
would. Reported: examples/s and real beats/s for each, and their ratio.

Timing (a noisy, shared machine): each side runs ``--repeats`` repeats of at least
``--min-seconds`` (and ``--batches`` / ``--raw-batches`` batches); the medians, the spread
(min, max, IQR) and the ratio of medians with its range (worst and best pairing) are reported.
"""
from __future__ import annotations

import itertools
import logging

import numpy as np

from ecgsl_keras.errors import ConfigError

from ecgsl_keras.bench import add_repeat_arguments, repeat_rates
from ecgsl_keras.config import ExperimentConfig, ModelConfig
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.data.prepare import record_to_examples
from ecgsl_keras.errors import RecordError
from tfrecords_tools.reader import load_manifest, make_dataset

log = logging.getLogger("ecgsl_keras.bench.pipeline")


def add_arguments(parser) -> None:
    parser.add_argument("--data", required=True, help="TFRecord folder written by ecgsl_keras.data.prepare")
    parser.add_argument("--split", default="train", help="split to read (default train)")
    parser.add_argument("--raw-data-dir", help="the WFDB folder the TFRecords came from (default: from the manifest)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-beats", type=int, default=None, help="default: the model config's max_beats")
    parser.add_argument("--batches", type=int, default=50, help="at least this many batches per repeat, TFRecord side")
    parser.add_argument("--raw-batches", type=int, default=5, help="at least this many batches per repeat, on the fly")
    add_repeat_arguments(parser)


def _tfrecord_throughput(args, max_beats):

    dataset = make_dataset(args.data, split=args.split, training=True, batch_size=args.batch_size,
                           max_beats=max_beats, seed=0, drop_remainder=True).repeat()
    iterator = iter(dataset)
    next(iterator)  # warm-up: graph tracing, file opening, first prefetch

    def step():
        features, _ = next(iterator)
        return {"examples": int(features["beats"].shape[0]), "beats": int(np.sum(features["padding_mask"].numpy()))}

    return repeat_rates(step, repeats=args.repeats, min_seconds=args.min_seconds, min_steps=args.batches)


def _on_the_fly_throughput(args, manifest, max_beats):
    from ecgsl_keras import tasks as tasks_lib

    metadata = manifest.get("metadata", {})
    summary = metadata.get("prepare_summary", {})
    raw_dir = args.raw_data_dir or summary.get("data_dir")
    if not raw_dir:
        raise ConfigError(f"{args.data}: manifest does not say where the raw data is; pass --raw-data-dir")
    config = ExperimentConfig.from_dict(metadata["experiment_config"])
    task = tasks_lib.Task.from_dict(metadata["label_info"]["task"])
    reader = open_dataset(summary.get("dataset", task.name), raw_dir)
    rng = np.random.default_rng(0)
    ids = itertools.cycle(rng.permutation(reader.record_ids()).tolist())
    pending = []   # sequences cut beyond the last full batch go to the next one

    def step():
        beats = 0
        while len(pending) < args.batch_size:
            try:
                seqs = record_to_examples(reader.load(next(ids)), config, task)
            except RecordError:
                continue
            for seq in seqs:
                n = min(seq.n_beats, max_beats)
                offset = int(rng.integers(0, seq.n_beats - n + 1))
                padded = np.zeros((max_beats, seq.beat_len), np.float32)
                padded[:n] = seq.beats[offset:offset + n]
                rr = np.zeros((max_beats, seq.n_rr), np.float32)
                rr[:n] = seq.rr[offset:offset + n]
                pending.append((padded, rr, np.arange(max_beats) < n))
        batch = [pending.pop(0) for _ in range(args.batch_size)]
        np.stack([b[0] for b in batch]), np.stack([b[1] for b in batch]), np.stack([b[2] for b in batch])
        beats = int(sum(b[2].sum() for b in batch))
        return {"examples": len(batch), "beats": beats}

    out = repeat_rates(step, repeats=args.repeats, min_seconds=args.min_seconds, min_steps=args.raw_batches)
    out["raw_data_dir"] = str(raw_dir)
    return out


def run(args) -> dict:

    manifest = load_manifest(args.data)
    max_beats = args.max_beats or ModelConfig().max_beats
    tfrecord = _tfrecord_throughput(args, max_beats)
    on_the_fly = _on_the_fly_throughput(args, manifest, max_beats)
    fast, slow = tfrecord["examples_per_second"], on_the_fly["examples_per_second"]
    return {
        "data": str(args.data),
        "split": args.split,
        "batch_size": args.batch_size,
        "max_beats": max_beats,
        "repeats": args.repeats,
        "min_seconds": args.min_seconds,
        "tfrecord_examples_per_second": round(fast["median"], 1),
        "tfrecord_beats_per_second": round(tfrecord["beats_per_second"]["median"], 1),
        "tfrecord_examples_per_second_spread_percent": round(fast["spread_percent"], 1),
        "on_the_fly_examples_per_second": round(slow["median"], 2),
        "on_the_fly_beats_per_second": round(on_the_fly["beats_per_second"]["median"], 1),
        "on_the_fly_examples_per_second_spread_percent": round(slow["spread_percent"], 1),
        "speedup": round(fast["median"] / slow["median"], 1),
        "speedup_range": [round(fast["min"] / slow["max"], 1), round(fast["max"] / slow["min"], 1)],
        "detail": {"tfrecord": tfrecord, "on_the_fly": on_the_fly},
    }
