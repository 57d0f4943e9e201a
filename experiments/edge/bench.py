"""Measure the end-to-end TFLite file (``ecgsl_keras.serving.edge``) against the Python path.

    python experiments/edge/bench.py --export /work/runs/issue13/export_cinc2017 --model cinc2017 \
        --mitdb /work/shared/data/mitdb --cinc /work/shared/data/cinc2017/training2017 --work /work/runs/issue13/bench

Steps (each cached as JSON in ``--work``; a rerun skips the finished ones):

* ``mitdb``: R-peak Se/+P of the in-graph detector against the MIT-BIH reference beats (DS1, MLII,
  resampled to the file's input rate with ``signal.resample``, cut into consecutive windows of the
  file's length), 150 ms tolerance, ventricular flutter episodes left out (as ``bench rpeaks``);
  only the beats the graph can classify are counted (R at least ``r_offset`` samples after the start
  and ``beat_len - r_offset`` before the end of a window; on both sides, reference and detections).
  Also the agreement of the in-graph peaks with ``signal.find_rpeaks`` (the Python detector) on the
  same regions, at 50 ms.
* ``cinc``: the 1,365 records of the CinC 2017 validation split (``prepare.assign_splits``, the split of
  /work/runs/protocol/data): ``predict_signal`` (Keras) versus the end-to-end float32 and int8 files
  (windows of the file's length, probabilities averaged over the valid windows): class agreement (also
  per record length: up to 30 s, one window; longer) and macro F1 against ``REFERENCE.csv`` (a record the
  graph refuses counts as ``~``, noisy).
* ``latency``: median / p95 of one ``end_to_end`` call per window (ai_edge_litert, 1 thread), sizes.

Prints one JSON object as the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from experiments.shared_data import CINC2017, MITDB  # noqa: E402
log = logging.getLogger("experiments.edge")


def _cached(work: Path, name: str, fn):
    path = work / f"{name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    result = fn()
    result["seconds"] = round(time.perf_counter() - t0, 1)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _meta(export: Path) -> dict:
    from ecgsl_keras.serving import edge

    return json.loads((export / edge.METADATA_NAME).read_text())


def mitdb(args, export: Path) -> dict:
    from ecgsl_keras import tasks
    from ecgsl_keras.serving import edge
    from ecgsl_keras.data import signal as signal_lib
    from ecgsl_keras.bench.rpeaks import in_episodes, read_mitdb
    from ecgsl_keras.data.signal import match_peaks
    from ecgsl_keras.config import SignalConfig

    meta = _meta(export)
    sc = SignalConfig.from_dict(meta["signal_config"])
    rate, window = float(meta["input"]["rate_hz"]), int(meta["input"]["max_samples"])
    factor = rate / sc.target_fs
    lo, hi = int(sc.r_offset * factor), int((sc.beat_len - sc.r_offset) * factor)
    run = edge.Runner(export / edge.tflite_name("float32"), num_threads=1)
    totals = {"tp": 0, "fn": 0, "fp": 0}
    agree = {"tp": 0, "fn": 0, "fp": 0}
    per_record, windows, refused = {}, 0, 0
    for rid in tasks.MITDB_DS1:
        signal, fs, reference, episodes, _ = read_mitdb(args.mitdb, rid, "MLII")
        python_peaks = signal_lib.find_rpeaks(signal, fs, sc)
        x = signal_lib.resample(signal, fs, rate).astype(np.float32)
        ref = np.rint(reference * rate / fs).astype(np.int64)
        py = np.rint(python_peaks * rate / fs).astype(np.int64)
        vf = np.rint(episodes * rate / fs).astype(np.int64)
        rec = {"tp": 0, "fn": 0, "fp": 0}
        for start in range(0, len(x) - window + 1, window):
            out = run(x[start:start + window])
            windows += 1
            det = out["rpeaks"][out["rpeak_mask"]].astype(np.int64) + start if int(out["valid"]) else np.zeros(0, np.int64)
            refused += int(not int(out["valid"]))
            a, b = start + lo, start + window - hi          # classifiable region [a, b)

            def region(p):
                p = p[(p >= a) & (p < b)]
                return p[~in_episodes(p, vf)]

            m = match_peaks(region(ref), region(det), int(round(0.15 * rate)))
            for key in rec:
                rec[key] += m[key]
            m2 = match_peaks(region(py), region(det), int(round(0.05 * rate)))
            for key in agree:
                agree[key] += m2[key]
        per_record[rid] = {**rec, "se": rec["tp"] / max(rec["tp"] + rec["fn"], 1), "ppv": rec["tp"] / max(rec["tp"] + rec["fp"], 1)}
        for key in totals:
            totals[key] += rec[key]
        log.info("mitdb %s: %s", rid, per_record[rid])
    return {"records": list(tasks.MITDB_DS1), "windows": windows, "windows_refused": refused, "tolerance_ms": 150,
            "sensitivity": totals["tp"] / (totals["tp"] + totals["fn"]), "ppv": totals["tp"] / (totals["tp"] + totals["fp"]),
            **totals,
            "python_agreement_50ms": {**agree, "sensitivity": agree["tp"] / (agree["tp"] + agree["fn"]),
                                      "ppv": agree["tp"] / (agree["tp"] + agree["fp"])},
            "per_record": per_record}


def cinc(args, export: Path) -> dict:
    from sklearn.metrics import f1_score

    from ecgsl_keras.serving import edge

    from ecgsl_keras.data import signal as signal_lib
    from ecgsl_keras.data.signal import match_peaks
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.errors import SignalQualityError
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.data.prepare import assign_splits

    meta = _meta(export)
    rate, window = float(meta["input"]["rate_hz"]), int(meta["input"]["max_samples"])
    predictor = load_model(args.model)
    reader = open_dataset("cinc2017", args.cinc)
    splits = assign_splits(reader, "cinc2017", "default", args.validation_fraction, args.split_seed)
    ids = sorted(rid for rid, split in splits.items() if split == "validation")
    if args.limit:
        ids = ids[: args.limit]
    labels = list(predictor.label_names)
    runs = {fmt: edge.Runner(export / edge.tflite_name(fmt), num_threads=1) for fmt in ("float32", "int8")
            if (export / edge.tflite_name(fmt)).is_file()}
    rows = []
    peaks = {"tp": 0, "fn": 0, "fp": 0}
    for i, rid in enumerate(ids):
        record = reader.load(rid)
        x = record.lead()
        row = {"record": rid, "label": labels.index(record.labels[0]), "seconds": round(len(x) / float(record.fs), 2)}
        try:
            ref = predictor.predict_signal(x, record.fs, path=rid)
            row["python"] = int(ref["label_index"])
        except SignalQualityError as exc:
            ref, row["python"] = None, None
            row["python_refused"] = exc.reason
        at_rate = signal_lib.resample(x, record.fs, rate).astype(np.float32)
        for fmt, run in runs.items():
            out = edge.classify_record(run, at_rate, window)
            row[fmt] = int(np.argmax(out["probabilities"])) if out["valid"] else None
            if fmt == "float32" and out["valid"] and ref is not None:
                py = np.rint(ref["beat_times_s"] * rate).astype(np.int64)
                m = match_peaks(py, out["rpeaks"], int(round(0.05 * rate)))
                for key in peaks:
                    peaks[key] += m[key]
        rows.append(row)
        if i % 100 == 0:
            log.info("cinc %d/%d", i, len(ids))
    noisy = labels.index("~") if "~" in labels else len(labels) - 1
    y = np.array([r["label"] for r in rows])

    def preds(key):
        return np.array([noisy if r[key] is None else r[key] for r in rows])

    result = {"records": len(rows), "split": "validation (prepare.assign_splits, seed %d)" % args.split_seed,
              "refused": {key: int(sum(r.get(key) is None for r in rows)) for key in ["python", *runs]},
              "macro_f1": {key: float(f1_score(y, preds(key), average="macro")) for key in ["python", *runs]},
              "python_peak_agreement_50ms": {**peaks, "sensitivity": peaks["tp"] / max(peaks["tp"] + peaks["fn"], 1),
                                              "ppv": peaks["tp"] / max(peaks["tp"] + peaks["fp"], 1),
                                              "note": "Python peaks: all beats predict_signal classified; graph: "
                                                      "beats of the valid windows that fit"}}
    seconds = np.array([r["seconds"] for r in rows])
    for fmt in runs:
        result[f"class_agreement_{fmt}"] = float(np.mean(preds(fmt) == preds("python")))
        for name, part in (("le_30s", seconds <= 30.0), ("over_30s", seconds > 30.0)):
            result.setdefault("class_agreement_by_length", {}).setdefault(name, {"records": int(part.sum())})[fmt] = (
                float(np.mean(preds(fmt)[part] == preds("python")[part])) if part.any() else None)
    (Path(args.work) / "cinc_rows.json").write_text(json.dumps(rows) + "\n")
    return result


def latency(args, export: Path) -> dict:
    from ecgsl_keras.serving import edge

    meta = _meta(export)
    window = int(meta["input"]["max_samples"])
    rng = np.random.default_rng(0)
    t = np.arange(window) / float(meta["input"]["rate_hz"])
    # a synthetic ECG-like window (1.1 Hz spikes on noise) so that the whole graph runs with beats
    x = (np.exp(-((t % 0.9) - 0.3) ** 2 / 2e-4) + 0.05 * rng.standard_normal(window)).astype(np.float32)
    out = {}
    for fmt in ("float32", "int8"):
        path = export / edge.tflite_name(fmt)
        if not path.is_file():
            continue
        run = edge.Runner(path, num_threads=1)
        assert int(run(x)["valid"]) == 1
        for _ in range(20):
            run(x)
        times, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            run(x)
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        # wall time counts the waits of a shared CPU; process CPU time (1 thread) is close to the
        # latency on an idle core
        out[fmt] = {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)),
                    "cpu_median_ms": float(np.median(cpu)), "cpu_p95_ms": float(np.percentile(cpu, 95)),
                    "size_bytes": path.stat().st_size, "repeats": args.repeats}
    out["window_samples"] = window
    out["threads"] = 1
    out["load_average_1min"] = os.getloadavg()[0]
    out["cpus"] = os.cpu_count()
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--export", required=True, help="export folder written with --end-to-end")
    p.add_argument("--model", default="cinc2017", help="model of the Python path (preset name, .keras)")
    p.add_argument("--mitdb", default=str(MITDB))
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--work", required=True, help="folder for the cached step results")
    p.add_argument("--steps", nargs="+", default=["latency", "mitdb", "cinc"])
    p.add_argument("--limit", type=int, default=0, help="CinC records (0: all 1,365)")
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--split-seed", type=int, default=42,
                   help="seed prepare split the CinC records with (its default; not the model's training seed)")
    p.add_argument("--validation-fraction", type=float, default=0.2)
    args = p.parse_args(argv)
    export, work = Path(args.export), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    steps = {"latency": latency, "mitdb": mitdb, "cinc": cinc}
    report = {"export": str(export)}
    for step in args.steps:
        report[step] = _cached(work, step, lambda: steps[step](args, export))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
