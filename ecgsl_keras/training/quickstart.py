"""The whole ECG-SL method in one command, on real data shipped with the package.

    python -m ecgsl_keras.quickstart                       # 64 real CinC 2017 records, a few CPU minutes
    python -m ecgsl_keras.quickstart --data-dir training2017 --run-dir runs/cinc2017   # the full data set

Steps: prepare (R-peaks, beats, TFRecords with a stratified train/validation split) -> stage 1 beat
autoencoder -> stage 2 masked-segment pre-training -> fine-tuning of the classifier -> evaluation
on the validation split. Progress goes to stderr; stdout ends with a table and one JSON line.

Layout of ``--run-dir`` (default ``./ecgsl_runs/quickstart``)::

    data/          TFRecords + manifest.json (ecgsl_keras.data.prepare)
    autoencoder/   masked/   finetune/      one run folder per stage (ecgsl_keras.store.runs)
    summary.json   the JSON printed last

An existing, non-empty ``--run-dir`` is never overwritten silently: the run goes to a new
timestamped subfolder of it, unless ``--overwrite`` is given.

The embedded sample has 51 training and 13 validation records, so its figures show that the
pipeline works end to end; they are not a measure of the method (use ``--data-dir`` for that).
Epochs and batch sizes per stage: ``QuickstartConfig`` in ``ecgsl_keras/config.py``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from pathlib import Path

from ecgsl_keras.config import ExperimentConfig, QuickstartConfig
from ecgsl_keras.data.datasets.cinc2017 import cinc2017_sample_dir
from ecgsl_keras.data.prepare import prepare
from ecgsl_keras.errors import ECGSLError
from ecgsl_keras.evaluation import evaluate
from ecgsl_keras.store import runs

log = logging.getLogger("ecgsl_keras.training.quickstart")

DEFAULT_RUN_DIR = Path("ecgsl_runs") / "quickstart"
STAGE_ORDER = ("autoencoder", "masked", "finetune")


def sample_dir() -> Path:
    """The 64-record CinC 2017 sample shipped inside the package."""
    return cinc2017_sample_dir()


def choose_run_dir(run_dir, overwrite: bool) -> Path:
    """``run_dir`` itself when missing or empty (or with ``overwrite``, emptied); else a new
    timestamped subfolder, announced on stderr."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ECGSLError(f"{run_dir}: exists and is not a folder")
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return run_dir
    if overwrite:
        for child in run_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        return run_dir
    fresh = run_dir / runs.timestamp()
    suffix = 1
    while fresh.exists():
        fresh = run_dir / f"{runs.timestamp()}-{suffix}"
        suffix += 1
    log.warning("%s is not empty: writing this run to %s (pass --overwrite to reuse the folder)", run_dir, fresh)
    return fresh


def quickstart(run_dir=DEFAULT_RUN_DIR, data_dir=None, *, overwrite: bool = False, workers=None,
               quick: QuickstartConfig | None = None, config: ExperimentConfig | None = None,
               strategy: str = "auto", verbose: int = 2) -> dict:
    """Run prepare -> autoencoder -> masked -> finetune -> evaluate; returns the summary dict."""
    from ecgsl_keras.training.trainer import train

    quick = quick or QuickstartConfig()
    base = config or ExperimentConfig()
    config = dataclasses.replace(base, train=dataclasses.replace(
        base.train, learning_rate=quick.learning_rate, early_stopping_patience=quick.early_stopping_patience))
    source = Path(data_dir) if data_dir is not None else sample_dir()
    run_dir = choose_run_dir(run_dir, overwrite)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = run_dir / "data"
    timings = {}
    start = time.perf_counter()

    log.info("[1/5] prepare %s -> %s", source, data)
    t = time.perf_counter()
    if workers is None:
        workers = 1 if data_dir is None else max(1, os.cpu_count() or 1)
    prepared = prepare("cinc2017", source, data, config, workers=workers, progress=True)
    timings["prepare"] = round(time.perf_counter() - t, 1)

    stage_args = {
        "autoencoder": dict(epochs=quick.autoencoder_epochs, batch_size=quick.autoencoder_batch_size),
        "masked": dict(epochs=quick.masked_epochs, batch_size=quick.batch_size),
        "finetune": dict(epochs=quick.finetune_epochs, batch_size=quick.batch_size),
    }
    results = {}
    previous = None
    for i, stage in enumerate(STAGE_ORDER, start=2):
        log.info("[%d/5] %s", i, stage)
        t = time.perf_counter()
        results[stage] = train(stage, data, run_dir / stage, init_from=previous, config=config, strategy=strategy,
                               verbose=verbose, **stage_args[stage])
        timings[stage] = round(time.perf_counter() - t, 1)
        previous = run_dir / stage

    log.info("[5/5] evaluate %s on the validation split", run_dir / "finetune" / runs.MODEL_NAME)
    t = time.perf_counter()
    metrics = evaluate.evaluate_tfrecords(run_dir / "finetune" / runs.MODEL_NAME, data, "validation")
    # The best checkpoint was chosen on these validation records, so its figures are optimistic;
    # the last epoch's model had no selection on them.
    last = evaluate.evaluate_tfrecords(run_dir / "finetune" / runs.LAST_MODEL_NAME, data, "validation")
    timings["evaluate"] = round(time.perf_counter() - t, 1)
    timings["total"] = round(time.perf_counter() - start, 1)

    summary = {
        "run_dir": str(run_dir), "data": str(data), "source": str(source),
        "records": prepared["records_per_split"], "skipped": prepared["skipped"],
        "stages": {stage: {"epochs": r.get("epochs_completed"), "best": r.get("best"),
                           "model": r.get("model")} for stage, r in results.items()},
        "validation": {key: metrics.get(key) for key in ("macro_f1", "challenge_f1", "accuracy", "auroc",
                                                          "per_class_f1", "confusion_matrix", "n")},
        "validation_last_epoch": {key: last.get(key) for key in ("macro_f1", "challenge_f1", "accuracy", "auroc")},
        "macro_f1": metrics["macro_f1"], "challenge_f1": metrics["challenge_f1"],
        "note": "validation figures of model.keras are optimistic: its epoch was chosen on the same records",
        "seconds": timings,
    }
    runs.write_json(run_dir / "summary.json", summary)
    return summary


def format_table(summary: dict) -> str:
    """Plain-text table of the stages and validation metrics."""
    lines = [f"ECG-SL quickstart: {summary['run_dir']}",
             f"data: {summary['source']} (records per split {summary['records']}, skipped {summary['skipped']})", "",
             f"{'stage':<12} {'epochs':>6} {'best monitor':<28} {'seconds':>8}",
             f"{'prepare':<12} {'':>6} {'':<28} {summary['seconds']['prepare']:>8}"]
    for stage, info in summary["stages"].items():
        best = info.get("best") or {}
        value = best.get("value")
        monitor = f"{best.get('monitor')} {value:.4f}" if value is not None else "-"
        lines.append(f"{stage:<12} {info.get('epochs') or 0:>6} {monitor:<28} {summary['seconds'][stage]:>8}")
    lines.append(f"{'evaluate':<12} {'':>6} {'':<28} {summary['seconds']['evaluate']:>8}")
    lines.append(f"{'total':<12} {'':>6} {'':<28} {summary['seconds']['total']:>8}")
    val, last = summary["validation"], summary["validation_last_epoch"]

    def number(value):
        return f"{value:.4f}" if value is not None else "   -  "

    lines += ["", f"validation ({val['n']} records)   best epoch (model.keras)   last epoch (last.keras)",
              f"  macro F1      {number(val['macro_f1']):>24}   {number(last['macro_f1']):>23}",
              f"  challenge F1  {number(val['challenge_f1']):>24}   {number(last['challenge_f1']):>23}"
              "   (mean F1 of N, A, O)",
              f"  accuracy      {number(val['accuracy']):>24}   {number(last['accuracy']):>23}",
              f"  macro AUROC   {number(val['auroc']):>24}   {number(last['auroc']):>23}",
              "  per-class F1 (best epoch): " + ", ".join(f"{k} {number(v)}" for k, v in val["per_class_f1"].items()),
              "  The best epoch was chosen on these validation records: its figures are optimistic."]
    return "\n".join(lines)
