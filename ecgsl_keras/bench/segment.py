"""Speed of read + clean + detect + segment over a data set, single process.

    python -m ecgsl_keras.bench segment --dataset cinc2017 --data-dir DIR [--limit N] [--config JSON]

Every record is read (``ecgsl_keras.data.datasets.open_dataset``; for CinC 2017 plain wfdb when that
reader is not installed) and run through ``ecgsl_keras.data.signal.preprocess`` with the config's
settings (defaults unless ``--config``). Records the chain rejects (``SignalQualityError``) count
as processed and are tallied by reason. Reported: records/s and beats/s over the whole wall time
(reading included), the seconds spent in each stage, beats per record, rejections by reason.

Timing (a noisy, shared machine): ``--repeats`` repeats, each of whole passes over the records
until at least ``--min-seconds``; records/s and beats/s are the median over the repeats, with
their spread (min, max, IQR). Counts and stage seconds are those of the first pass.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from pathlib import Path

import numpy as np

from ecgsl_keras.bench import add_repeat_arguments, load_signal_config, spread
from ecgsl_keras.data import signal as signal_lib
from ecgsl_keras.data.datasets.base import Record, SkipCounter, iterate_skipping
from ecgsl_keras.errors import ConfigError, RecordError

log = logging.getLogger("ecgsl_keras.bench.segment")


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", default="cinc2017", help="data set name for open_dataset (default cinc2017)")
    parser.add_argument("--data-dir", required=True, help="the data set's folder")
    parser.add_argument("--limit", type=int, default=None, help="only the first N records")
    parser.add_argument("--config", help="SignalConfig or ExperimentConfig JSON (default: built-in defaults)")
    parser.add_argument("--segment-mode", choices=("window", "rr"), help="override config segment_mode")
    parser.add_argument("--method", help="override config rpeak_method")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_repeat_arguments(parser, repeats=3)


def _cinc2017_records_with_wfdb(data_dir: Path, skipped: SkipCounter):
    """CinC 2017 without the project reader: ``RECORDS`` (or every .hea), read with wfdb."""
    import wfdb

    listing = data_dir / "RECORDS"
    if listing.exists():
        ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    else:
        ids = sorted(p.stem for p in data_dir.glob("*.hea"))

    def load(record_id):
        path = data_dir / record_id
        try:
            record = wfdb.rdrecord(str(path))
        except (OSError, ValueError) as exc:
            raise RecordError(path, "bad_record", f"cannot read with wfdb: {exc}") from None
        return Record(record_id=record_id, signal=record.p_signal.astype(np.float32), fs=float(record.fs),
                      lead_names=tuple(record.sig_name), source="cinc2017", path=str(path))

    return len(ids), iterate_skipping(load, ids, skipped), skipped


def open_records(dataset: str, data_dir, skipped: SkipCounter):
    """``(number of records or None, iterator of Record, SkipCounter of unreadable records)``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise RecordError(data_dir, "missing_file", "data folder not found")
    try:
        from ecgsl_keras.data.datasets import open_dataset
    except ImportError:
        open_dataset = None
    if open_dataset is None:
        if dataset != "cinc2017":
            raise ConfigError("<bench>", "bad_config",
                              f"data set {dataset!r} needs ecgsl_keras.data.datasets.open_dataset (only cinc2017 works without it)")
        return _cinc2017_records_with_wfdb(data_dir, skipped)
    reader = open_dataset(dataset, data_dir)
    try:
        total = len(reader)
    except TypeError:
        total = None
    records = iter(reader)
    # Readers count the records they skip (unreadable files) on ``reader.skipped``.
    return total, records, getattr(reader, "skipped", skipped)


def run(args) -> dict:
    config = load_signal_config(getattr(args, "config", None))
    overrides = {}
    if getattr(args, "segment_mode", None):
        overrides["segment_mode"] = args.segment_mode
    if getattr(args, "method", None):
        overrides["rpeak_method"] = args.method
    config = dataclasses.replace(config, **overrides)
    if args.limit is not None and args.limit < 1:
        raise ConfigError("<bench>", "bad_config", f"--limit must be positive, got {args.limit}")

    # Warm-up outside the clock (neurokit2 import, first-use compilation).
    import neurokit2 as nk

    signal_lib.preprocess(nk.ecg_simulate(duration=10, sampling_rate=300, random_state=0), 300.0, config)

    first = _one_pass(args, config, progress=not getattr(args, "no_progress", False))
    repeats, min_seconds = getattr(args, "repeats", 1), getattr(args, "min_seconds", 0.0)
    if repeats < 1 or min_seconds < 0:
        raise ConfigError("<bench>", "bad_config", "--repeats must be >= 1 and --min-seconds >= 0")
    record_rates, beat_rates, passes = [], [], []
    for index in range(repeats):
        n_records = n_beats = n_passes = 0
        wall = 0.0
        while n_passes == 0 or wall < min_seconds:
            one = first if index == 0 and n_passes == 0 else _one_pass(args, config, progress=False)
            n_records, n_beats, wall, n_passes = n_records + one["n_records"], n_beats + one["beats"], \
                wall + one["seconds"], n_passes + 1
        record_rates.append(n_records / wall if wall > 0 else float("nan"))
        beat_rates.append(n_beats / wall if wall > 0 else float("nan"))
        passes.append(n_passes)
    records_spread, beats_spread = spread(record_rates), spread(beat_rates)
    first.update({
        "records_per_second": records_spread["median"],
        "beats_per_second": beats_spread["median"],
        "records_per_second_spread": records_spread,
        "beats_per_second_spread": beats_spread,
        "repeats": repeats,
        "min_seconds": min_seconds,
        "passes_per_repeat": passes,
    })
    return first


def _one_pass(args, config, progress: bool) -> dict:
    skipped = SkipCounter()
    rejected = SkipCounter()
    timings = {"read": 0.0}
    beats_per_record = []
    durations = []
    total, records, skipped = open_records(args.dataset, args.data_dir, skipped)
    if args.limit is not None:
        records = itertools.islice(records, args.limit)
        total = min(total, args.limit) if total is not None else args.limit
    if progress:
        from tqdm import tqdm

        progress = tqdm(total=total, unit="rec", desc=f"segment {args.dataset}", mininterval=2.0)
    else:
        progress = None
    n_records = 0
    wall_start = time.perf_counter()
    while True:
        start = time.perf_counter()
        try:
            record = next(records)
        except StopIteration:
            timings["read"] += time.perf_counter() - start
            break
        timings["read"] += time.perf_counter() - start
        n_records += 1
        try:
            beats = signal_lib.preprocess(record.lead(None), record.fs, config,
                                          path=record.path or record.record_id, timings=timings)
        except RecordError as exc:
            rejected.add(exc)
            log.info("rejected %s", exc)
        else:
            beats_per_record.append(len(beats))
            durations.append(record.duration_s)
        if progress is not None:
            progress.update(1)
    wall = time.perf_counter() - wall_start
    if progress is not None:
        progress.close()
    n_beats = int(np.sum(beats_per_record)) if beats_per_record else 0
    counts = np.asarray(beats_per_record, np.float64)
    return {
        "benchmark": "segment",
        "dataset": args.dataset,
        "limit": args.limit,
        "n_records": n_records,
        "records_segmented": len(beats_per_record),
        "records_rejected": rejected.total,
        "rejected_by_reason": dict(rejected.counts),
        "records_unreadable": skipped.total,
        "unreadable_by_reason": dict(skipped.counts),
        "beats": n_beats,
        "records_per_second": n_records / wall if wall > 0 else None,
        "beats_per_second": n_beats / wall if wall > 0 else None,
        "seconds": wall,
        "signal_seconds_per_wall_second": float(np.sum(durations)) / wall if wall > 0 else None,
        "stage_seconds": {k: round(v, 3) for k, v in timings.items()},
        "beats_per_record": ({"mean": float(counts.mean()), "min": int(counts.min()),
                              "median": float(np.median(counts)), "max": int(counts.max())} if counts.size else {}),
        "segment_mode": config.segment_mode,
        "rpeak_method": config.rpeak_method,
        "clean_method": config.clean_method,
        "target_fs": config.target_fs,
        "beat_len": config.beat_len,
        "processes": 1,
    }
