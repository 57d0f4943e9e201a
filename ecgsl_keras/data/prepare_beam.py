"""``prepare --runner beam``: the same preparation as an Apache Beam pipeline (``pip install -e ".[beam]"``).

    python -m ecgsl_keras.prepare --dataset cinc2017 --data-dir DIR --out DIR --runner beam \\
        [-- --runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing]

The driver (this process) reads the record list and assigns the splits exactly as the process pool
does (``prepare.assign_splits``). The pipeline reads and segments each record with
``prepare.record_to_examples`` (the one definition of record -> examples), serialises the examples
with ``tfrecords_tools.schema.encode``, gives each record a shard by a stable hash of its id
(``ceil(bytes of the split / --shard-size-mb)`` shards per split), and writes each shard, sorted by
record id, under the pool's shard names into the ``ShardedWriter``'s staging folder inside
``--out`` (which Beam workers must be able to reach: a ``gs://`` folder on Dataflow). After the
pipeline has finished, the driver hands the shards to the writer (statistics read back, SHA-256)
and the writer writes ``manifest.json`` last, with the same metadata as the pool. A pipeline that
fails raises before that: the staging folder is removed and no manifest is written. So does a run
in which the runner did not deliver every record exactly once (``check_delivered``: each record
sent and not skipped must be in exactly one shard of its split) or a shard file that does not hold
what its writer reported (read back): the DirectRunner's ``multi_processing`` mode dropped records
between the segmenting step and the ``GroupByKey`` on a starved machine (docs/prepare.md).

Not supported with Beam: resuming a killed run (a rerun starts again), ``--unlabelled`` corpora.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
import zlib
from collections import Counter

from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.data import prepare as prepare_lib
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.data.prepare import record_to_examples
from ecgsl_keras.errors import ECGSLError, RecordError, import_extra
from tfrecords_tools import fs
from tfrecords_tools.manifest import shard_file_name
from tfrecords_tools.schema import encode
from tfrecords_tools.writer import ShardedWriter

log = logging.getLogger("ecgsl_keras.data.prepare_beam")

DEFAULT_BEAM_ARGS = ("--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1")


def _import_beam():
    """``apache_beam``, imported with the root logger at ERROR (its import warns about optional Google
    Cloud clients) and its own INFO logs (workers, data channels) turned down to WARNING."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        beam = import_extra("apache_beam", "beam", "prepare --runner beam")
    finally:
        root.setLevel(level)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    return beam


def shard_of(record_id: str, n_shards: int) -> int:
    """Stable shard index of a record (the same on every worker and every run)."""
    return zlib.crc32(str(record_id).encode("utf-8")) % max(1, int(n_shards))


class _SegmentRecord:
    """DoFn body: record id -> (split, record_id, [serialised examples]) or a skip."""

    def __init__(self, dataset, data_dir, reader_kwargs, config_dict, task_dict, raw_signal, splits):
        self.args = (dataset, data_dir, reader_kwargs, config_dict, task_dict, raw_signal)
        self.splits = splits
        self.reader = None

    def setup(self):
        from ecgsl_keras import tasks as tasks_lib

        dataset, data_dir, reader_kwargs, config_dict, task_dict, raw_signal = self.args
        self.reader = open_dataset(dataset, data_dir, **reader_kwargs)
        self.config = ExperimentConfig.from_dict(config_dict)
        self.task = tasks_lib.Task.from_dict(task_dict)
        self.raw_signal = raw_signal

    def process(self, record_id):

        if self.reader is None:
            self.setup()
        try:
            record = self.reader.load(record_id)
            examples = record_to_examples(record, self.config, self.task, raw_signal=self.raw_signal)
        except RecordError as error:
            return [("skipped", (record_id, error.reason, str(error)))]
        payload = [encode(ex) for ex in examples]
        return [("ok", (self.splits[record_id], record_id, payload, sum(ex.n_beats for ex in examples)))]


def _write_shard(staging, prefix, compression, key, records):
    """Write one shard (its records sorted by id) under the pool's name.

    Returns ``(name, split, [[record_id, examples], ...])``: what this call wrote, which the driver
    checks against the records it sent and against the file it reads back. Each call writes its own
    temporary file (a runner may run a bundle twice, even at the same time on two workers, and a
    shared ``.tmp`` name would let two attempts write into one file); the rename is atomic."""
    import tensorflow as tf

    split, index = key
    name = shard_file_name(prefix, split, index, compression)
    path = fs.join(staging, name)
    tmp = f"{path}.{uuid.uuid4().hex[:12]}.tmp"
    options = tf.io.TFRecordOptions(compression_type=compression or "")
    records = sorted(records, key=lambda item: item[0])
    with tf.io.TFRecordWriter(tmp, options=options) as writer:
        for _, payload in records:
            for serialized in payload:
                writer.write(serialized)
    fs.rename(tmp, path, overwrite=True)
    return name, split, [[record_id, len(payload)] for record_id, payload in records]


def _some(ids, n=5):
    return ", ".join(ids[:n]) + (", ..." if len(ids) > n else "")


def check_delivered(out_dir, expected, shards) -> dict:
    """The records the shard writers reported against the records the driver expects.

    ``expected``: ``{record_id: split}`` of every record sent and not skipped; ``shards``: the
    ``(name, split, [[record_id, examples], ...])`` the ``write`` step returned. Raises ``ECGSLError``
    unless every expected record is in exactly one shard, of its split, and every shard name is
    written once; returns ``{name: Counter(record_id -> examples)}``."""
    names = [name for name, _, _ in shards]
    seen, per_shard, wrong_split = Counter(), {}, []
    for name, split, records in shards:
        per_shard[name] = +Counter({rid: int(n) for rid, n in records})
        for rid, _ in records:
            seen[rid] += 1
            if rid in expected and expected[rid] != split:
                wrong_split.append(rid)
    missing = sorted(set(expected) - set(seen))
    twice = sorted(rid for rid, k in seen.items() if k > 1)
    unexpected = sorted(set(seen) - set(expected))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_some(missing)})")
    if twice:
        problems.append(f"{len(twice)} in more than one shard ({_some(twice)})")
    if unexpected:
        problems.append(f"{len(unexpected)} not sent or skipped ({_some(unexpected)})")
    if wrong_split:
        problems.append(f"{len(wrong_split)} in a shard of another split ({_some(sorted(wrong_split))})")
    if len(set(names)) != len(names):
        problems.append(f"{len(names) - len(set(names))} shard files written twice")
    if problems:
        delivered = Counter(split for _, split, records in shards for _ in records)
        raise ECGSLError(f"{out_dir}: the Beam runner delivered {len(set(seen) & set(expected))} of {len(expected)} "
                         f"records ({dict(delivered)} per split, expected {dict(Counter(expected.values()))}, "
                         f"in {len(names)} shard files): {'; '.join(problems)}; nothing written")
    return per_shard


def run_pipeline(record_ids, splits, init_args, staging, *, prefix, compression, shard_size_bytes, beam_args):
    """Run the Beam pipeline; returns ``([(shard name, split, [[record_id, examples], ...])],
    [(record_id, reason, message)])``."""
    beam = _import_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    segment = _SegmentRecord(*init_args, splits=splits)
    results_path = fs.join(staging, "beam-results")
    options = PipelineOptions(list(beam_args))

    class Segment(beam.DoFn):
        def setup(self):
            segment.setup()

        def process(self, record_id):
            for kind, value in segment.process(record_id):
                if kind == "ok":
                    yield value
                else:
                    yield beam.pvalue.TaggedOutput("skipped", value)

    with beam.Pipeline(options=options) as pipeline:
        outputs = (pipeline
                   | "records" >> beam.Create(sorted(record_ids))
                   | "segment" >> beam.ParDo(Segment()).with_outputs("skipped", main="ok"))
        done = outputs.ok
        size_per_split = (done
                          | "bytes" >> beam.Map(lambda r: (r[0], sum(len(p) + 16 for p in r[2])))
                          | "sum" >> beam.CombinePerKey(sum))
        shards_per_split = beam.pvalue.AsDict(
            size_per_split | "count" >> beam.Map(lambda kv: (kv[0], max(1, math.ceil(kv[1] / shard_size_bytes)))))
        written = (done
                   | "key" >> beam.Map(lambda r, n: ((r[0], shard_of(r[1], n[r[0]])), (r[1], r[2])), shards_per_split)
                   | "group" >> beam.GroupByKey()
                   | "write" >> beam.MapTuple(lambda key, recs: _write_shard(staging, prefix, compression, key, recs)))
        skipped = outputs.skipped
        lines = ((written | "shard_lines" >> beam.Map(lambda s: json.dumps(["shard", *s])),
                  skipped | "skip_lines" >> beam.Map(lambda s: json.dumps(["skipped", *s])))
                 | "flatten" >> beam.Flatten())
        lines | "results" >> beam.io.WriteToText(results_path, shard_name_template="-SSSSS-of-NNNNN",
                                                 file_name_suffix=".jsonl")
    shards, skips = [], []
    for name in fs.listdir(staging):
        if name.startswith("beam-results"):
            path = fs.join(staging, name)
            for line in fs.read_text(path).splitlines():
                kind, *rest = json.loads(line)
                (shards if kind == "shard" else skips).append(tuple(rest))
            fs.remove(path)
    return sorted(shards), sorted(skips)


def prepare_beam(dataset, data_dir, out_dir, config=None, *, split="default", overwrite=False, limit=None,
                 records=None, compression=None, shard_size_bytes=64 << 20, reader_kwargs=None, raw_signal=False,
                 beam_args=()) -> dict:
    """``prepare`` through Apache Beam; the same shards (names, schema, examples) and manifest."""

    _import_beam()
    config = config or ExperimentConfig()
    out_dir = os.fspath(out_dir)
    prepare_lib._check_out_dir(out_dir, overwrite)
    reader_kwargs = dict(reader_kwargs or {})
    if records:
        reader_kwargs["records"] = list(records)
    reader = open_dataset(dataset, data_dir, **reader_kwargs)
    task = reader.task
    splits = prepare_lib.assign_splits(reader, dataset, split, config.train.validation_fraction, config.train.seed)
    record_ids = list(splits)
    if limit:
        record_ids = record_ids[:limit]
    splits = {rid: splits[rid] for rid in record_ids}
    beam_args = list(beam_args) or list(DEFAULT_BEAM_ARGS)
    init_args = (dataset, os.path.abspath(str(data_dir)), reader_kwargs, config.to_dict(), task.to_dict(),
                 bool(raw_signal))
    start = time.perf_counter()
    with ShardedWriter(out_dir, prefix=dataset, compression=compression, shard_size_bytes=shard_size_bytes,
                       overwrite=overwrite) as writer:
        try:
            shards, skips = run_pipeline(record_ids, splits, init_args, writer.staging_dir, prefix=dataset,
                                         compression=writer.compression, shard_size_bytes=shard_size_bytes,
                                         beam_args=beam_args)
        except ECGSLError:
            raise
        except Exception as exc:  # noqa: BLE001 - the runner's error, reported without a half data set
            raise ECGSLError(f"{out_dir}: the Beam pipeline failed, nothing written "
                             f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
                             ) from exc
        # Every record the driver sent and the pipeline did not skip must be in exactly one shard of
        # its split, and every shard file must hold what its writer reported (checked on the files
        # read back): a runner that loses or duplicates records fails here, before any manifest.
        skipped_ids = {s[0] for s in skips}
        expected = {rid: splits[rid] for rid in record_ids if rid not in skipped_ids}
        reported = check_delivered(out_dir, expected, shards)
        read_back = writer.add_finished_shards([(name, shard_split) for name, shard_split, _ in shards])
        for name, records in sorted(reported.items()):
            if +read_back.get(name, Counter()) != records:
                raise ECGSLError(f"{out_dir}: shard {name} holds {sum(read_back.get(name, Counter()).values())} "
                                 f"examples of {len(read_back.get(name, ()))} records, its writer reported "
                                 f"{sum(records.values())} examples of {len(records)} records; nothing written")
        seconds = time.perf_counter() - start
        skipped = Counter(reason for _, reason, _ in skips)
        for rid, _, message in skips:
            log.warning("skipping %s", message)
        written = Counter(expected.values())
        beats = {name: stats.beats for name, stats in writer._splits.items()}
        summary = {
            "dataset": dataset, "data_dir": str(data_dir), "out": out_dir,
            "records_written": sum(written.values()), "records_per_split": dict(written),
            "beats_per_split": beats, "beats": sum(beats.values()),
            "skipped": sum(skipped.values()), "skipped_by_reason": dict(skipped),
            "seconds": round(seconds, 2),
            "records_per_second": round(len(record_ids) / seconds, 2) if seconds else None,
            "raw_signal": bool(raw_signal), "runner": "beam", "beam_args": beam_args,
        }
        writer.finalize(prepare_lib.manifest_metadata(config, task, raw_signal, summary))
    return summary
