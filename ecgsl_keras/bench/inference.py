"""``python -m ecgsl_keras.bench inference``: model latency and throughput per export format.

    python -m ecgsl_keras.bench inference --model runs/finetune/model.keras --data prepared/cinc2017 \\
        [--export-dir exports/cinc2017] [--runs 50] [--batch-size 32] [--threads N]

Inputs are real evaluation windows from the TFRecord folder ``--data`` (``max_beats`` beats,
zero-padded, mask carrying the real length). A CinC record (9-61 s) fits in one window, so one
batch-1 call is the model cost of one record; every format takes the same fixed-size input, so its
cost does not depend on the record length up to ``max_beats`` beats. Measured:

* ``latency_ms``: median and p95 over ``--runs`` batch-1 calls (after warm-up calls);
* ``records_per_s``: the median over ``--repeats`` repeats of at least ``--min-seconds`` of
  calls on batches of ``--batch-size`` windows (``records_per_s_spread``: min, max, IQR);
* ``preprocess_ms_per_30s``: ``ecgsl_keras.data.signal.preprocess`` on 30 s excerpts of the embedded CinC
  sample (the signal side of end-to-end latency: add it to a format's latency).

Formats: ``keras`` (``predict_on_batch``, compiled), ``saved_model`` (the serving signature) and every
``model_*.tflite`` in the export folder through ``ai_edge_litert``. Without ``--export-dir`` the model
is exported first into a temporary folder (with ``--data`` as representative data).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ecgsl_keras.bench import add_repeat_arguments, repeat_rates
from ecgsl_keras.config import ExperimentConfig, ExportConfig
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.data.signal import preprocess
from ecgsl_keras.errors import ConfigError, ECGSLError, RecordError
from ecgsl_keras.serving import export as export_lib
from ecgsl_keras.serving.export import SAMPLE_DIR
from ecgsl_keras.serving.inference import _KerasBackend, _SavedModelBackend, _TFLiteBackend, find_metadata
from tfrecords_tools import TFRecordsError

WARMUP_CALLS = 3
THROUGHPUT_BATCHES = 5
EXCERPT_S = 30.0


def add_arguments(parser) -> None:
    defaults = ExportConfig()
    parser.add_argument("--model", required=True, help=".keras classifier (config.json beside it)")
    parser.add_argument("--data", required=True, help="TFRecord folder from ecgsl_keras.data.prepare")
    parser.add_argument("--split", help="split to read (default: validation if present, else all)")
    parser.add_argument("--export-dir", help="folder written by ecgsl_keras.serving.export (default: export to a temp folder)")
    parser.add_argument("--runs", type=int, default=defaults.bench_latency_runs, help="batch-1 calls timed per format")
    add_repeat_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=defaults.bench_batch_size, help="batch of the throughput measure")
    parser.add_argument("--threads", type=int, help="LiteRT interpreter threads (default: LiteRT's)")
    parser.add_argument("--config", help="ExperimentConfig JSON (default: found beside the model)")
    parser.add_argument("--task", help="task name (default: found beside the model)")


def _percentile_ms(values, q) -> float:
    return round(float(np.percentile(np.asarray(values) * 1e3, q)), 3)


def time_backend(backend, windows: dict, runs: int, batch_size: int, repeats: int = 1, min_seconds: float = 0.0) -> dict:
    n = windows["beats"].shape[0]

    def batch(start, size):
        index = np.arange(start, start + size) % n
        return windows["beats"][index], windows["rr"][index], windows["padding_mask"][index]

    for i in range(WARMUP_CALLS):
        backend(*batch(i, 1))
    latencies = []
    for i in range(runs):
        args = batch(i, 1)
        t0 = time.perf_counter()
        backend(*args)
        latencies.append(time.perf_counter() - t0)
    backend(*batch(0, batch_size))  # warm-up at the throughput batch size (resize / retrace)
    batches = [batch(i * batch_size, batch_size) for i in range(THROUGHPUT_BATCHES)]
    cursor = iter(itertools.cycle(batches))

    def step():
        backend(*next(cursor))
        return {"records": batch_size}

    throughput = repeat_rates(step, repeats=repeats, min_seconds=min_seconds, min_steps=THROUGHPUT_BATCHES)
    rate = throughput["records_per_second"]
    return {"latency_ms": {"median": round(statistics.median(latencies) * 1e3, 3), "p95": _percentile_ms(latencies, 95),
                           "min": round(min(latencies) * 1e3, 3), "runs": runs},
            "records_per_s": round(rate["median"], 1), "records_per_s_spread": rate, "batch_size": batch_size}


def preprocess_cost(config) -> dict:
    """Median milliseconds of ``signal.preprocess`` on 30 s excerpts of the embedded CinC sample."""

    reader = open_dataset("cinc2017", SAMPLE_DIR)
    times, warmed_up = [], False
    for record_id in reader.record_ids():
        try:
            record = reader.load(record_id)
        except RecordError:
            continue
        if record.duration_s < EXCERPT_S:
            continue
        signal = record.lead(None)[: int(EXCERPT_S * record.fs)]
        if not warmed_up:  # the first call pays for imports and filter design (about 0.5 s)
            with contextlib.suppress(RecordError):
                preprocess(signal, record.fs, config.signal, path=record_id)
            warmed_up = True
        t0 = time.perf_counter()
        try:
            preprocess(signal, record.fs, config.signal, path=record_id)
        except RecordError:
            continue
        times.append(time.perf_counter() - t0)
        if len(times) >= 20:
            break
    if not times:
        return {"median": None, "records": 0}
    return {"median": round(statistics.median(times) * 1e3, 2), "p95": _percentile_ms(times, 95), "records": len(times)}


def format_table(result: dict) -> str:
    """One row per format: latency median / p95 (ms), records/s, file size."""
    lines = [f"inference bench: {result['windows']} windows of {result['input_shape'][0]} beats from {result['data']} "
             f"(median {result['real_beats_per_window']['median']:g} real beats); {result['cpu_count']} CPUs",
             f"{'format':<16}{'median ms':>10}{'p95 ms':>10}{'records/s':>11}{'size KiB':>10}"]
    for name, row in result["formats"].items():
        size = result["tflite_sizes_bytes"].get(name)
        lines.append(f"{name:<16}{row['latency_ms']['median']:>10.3f}{row['latency_ms']['p95']:>10.3f}"
                     f"{row['records_per_s']:>11.1f}{'' if size is None else f'{size / 1024:.1f}':>10}")
    pre = result["preprocess_ms_per_30s"]
    lines.append(f"preprocess (signal.preprocess, 30 s CinC excerpts): median {pre.get('median')} ms over {pre.get('records')} records")
    return "\n".join(lines)


def run(args) -> dict:

    if args.runs < 1 or args.batch_size < 1:
        raise ConfigError("<args>", "bad_config", "--runs and --batch-size must be positive")
    config = ExperimentConfig.load(args.config) if args.config else find_metadata(args.model)[0]
    if config is None:
        raise ConfigError(args.model, "missing_config", "no config.json beside the model; pass --config")
    split = args.split
    count = max(args.runs, args.batch_size * THROUGHPUT_BATCHES)
    try:
        if split is None:
            splits = export_lib._manifest_splits(args.data)
            split = "validation" if "validation" in splits else None
        windows = export_lib.stack(export_lib.load_windows(args.data, config, count, split))
    except TFRecordsError as exc:  # a ValueError: give the dispatcher a project error
        raise ECGSLError(str(exc)) from None

    with tempfile.TemporaryDirectory(prefix="ecgsl-bench-export-") as scratch:
        export_dir = Path(args.export_dir) if args.export_dir else None
        export_report = None
        if export_dir is None:
            export_dir = Path(scratch) / "export"
            export_report = export_lib.export_model(args.model, export_dir, representative_data=args.data,
                                                    config=config if args.config else None, task=args.task)
        classifier = export_lib.load_classifier(args.model)
        backends = {"keras": _KerasBackend(classifier),
                    "saved_model": _SavedModelBackend(export_dir / export_lib.SAVED_MODEL_DIR)}
        for fmt in export_lib.TFLITE_FORMATS:
            path = export_dir / export_lib.tflite_name(fmt)
            if path.is_file():
                backends[f"tflite_{fmt}"] = _TFLiteBackend(path, num_threads=args.threads)
        results = {name: time_backend(backend, windows, args.runs, args.batch_size, args.repeats, args.min_seconds)
                   for name, backend in backends.items()}
        sizes = {name: (export_dir / export_lib.tflite_name(name.split("_", 1)[1])).stat().st_size
                 for name in backends if name.startswith("tflite_")}
    real_beats = windows["padding_mask"].sum(axis=1)
    return {
        "bench": "inference",
        "model": str(args.model),
        "data": str(args.data),
        "split": split,
        "export_dir": str(args.export_dir) if args.export_dir else "(temporary)",
        "windows": int(windows["beats"].shape[0]),
        "input_shape": list(windows["beats"].shape[1:]),
        "real_beats_per_window": {"median": float(np.median(real_beats)), "max": int(real_beats.max())},
        "formats": results,
        "tflite_sizes_bytes": sizes,
        "preprocess_ms_per_30s": preprocess_cost(config),
        "litert_threads": args.threads,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "export_report": export_report and {k: export_report[k] for k in ("sizes_bytes", "parity")},
    }
