"""Issue 18, AF lever (f): morphology-aware ectopy evidence from the package's own beat classifier. The
``mitdb-beats`` preset (MIT-BIH, one lead, its ECG-SL per-beat model averaged with its per-beat booster, served
through ``serving.inference.load_model``: the signal checked, cleaned, R-peaks found at the native rate and the
beats resampled to the preset's 100 Hz by its own ``SignalConfig``) labels every beat of every CinC 2017 record
N/S/V/F/Q; ``ecgsl_keras.data.beat_ectopy.beat_ectopy_features`` turns those labels and the R-peak times into a few
record columns, and ``af_lever.py --steps extra --extra-features WORK/beat_ectopy.npz`` scores them by CV on the
training split.

    python experiments/cinc2017/beat_ectopy.py --features /work/runs/af26/features --work /work/runs/af29 \
        [--steps extract columns summary] [--chunk 500] \
        [--lever-work /work/runs/af29/lever --out experiments/cinc2017/af29_results.json]

``extract``  every record of ``--features``' table (all 6,820 shared records, training and validation: the
             validation rows are written but never scored here), in chunks of ``--chunk`` records:
             WORK/beats/chunk_NNN.npz holds the preset's per-beat outputs (``beat_probabilities``, the ECG-SL
             part alone ``deep_beat_probabilities``, ``beat_times_s``) concatenated, with ``offsets``; a chunk
             already on disk is skipped (resumable). A record the preset refuses (``SignalQualityError``) keeps
             0 beats and its reason in WORK/beats/errors.json. Milliseconds per record in WORK/beats/timing.json.
``columns``  the library function on the cached outputs: WORK/beat_ectopy.npz (``record_id``, ``names``, ``X``;
             the averaged probabilities) and WORK/beat_ectopy_deep.npz (the same columns from the ECG-SL part
             alone, names prefixed ``deep_``), and WORK/beat_ectopy_focus.npz (``FOCUS``: the ectopic fractions
             and the irregularity that the ectopic beats do or do not explain, a column subset chosen by looking
             at the training split's class medians, ``summary``); WORK/rr_ectopy_group.npz, the RR-only control:
             ``record_features``' ``ectopy`` group from ``--features``' table (ectopic intervals flagged from the RR
             series alone).
``summary``  training split only: each column's median per class and per cell of the shipped form's CV
             confusion (``--lever-work``: af_lever's work folder, its booster seed 42 out-of-fold outputs).
``per_fold`` training split only: ``--fold-row``'s CV gain over the shipped recipe on each of the 5 folds, mean over
             ``--fold-seeds`` (af_lever's cached out-of-fold boosters in ``--lever-work``).

Threads: TensorFlow intra/inter op 1 (``OMP_NUM_THREADS=1`` too). Last stdout line one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.shared_data import CINC2017  # noqa: E402

log = logging.getLogger("experiments.cinc2017.beat_ectopy")
PRESET = "mitdb-beats"
FOCUS = ("bx_frac_s", "bx_frac_v", "bx_rmssd_clean_norm", "bx_rmssd_clean_ratio", "bx_irregular_clean_frac",
         "bx_irregular_explained_frac")


def _ids(features) -> list:
    table = np.load(Path(features) / "features.npz")
    return [str(r) for r, s in zip(table["record_id"], table["status"]) if s == "ok"]


def extract(args) -> dict:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.errors import SignalQualityError
    from ecgsl_keras.serving.inference import load_model

    out = Path(args.work) / "beats"
    out.mkdir(parents=True, exist_ok=True)
    ids = _ids(args.features)
    model = load_model(PRESET)
    reader = open_dataset("cinc2017", args.cinc_dir)
    errors_path, timing_path = out / "errors.json", out / "timing.json"
    errors = json.loads(errors_path.read_text()) if errors_path.is_file() else {}
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {}
    chunks = [ids[i:i + args.chunk] for i in range(0, len(ids), args.chunk)]
    for c, chunk in enumerate(chunks):
        path = out / f"chunk_{c:03d}.npz"
        if path.is_file():
            continue
        probs, deep, times, counts, seconds = [], [], [], [], 0.0
        for rid in chunk:
            record = reader.load(rid)
            x = np.asarray(record.lead(None), np.float64).reshape(-1)
            t0 = time.perf_counter()
            try:
                r = model.predict_signal(x, record.fs)
            except SignalQualityError as exc:
                errors[rid] = f"{type(exc).__name__}: {exc}"[:200]
                counts.append(0)
                continue
            finally:
                seconds += time.perf_counter() - t0
            probs.append(np.asarray(r["beat_probabilities"], np.float32))
            deep.append(np.asarray(r["deep_beat_probabilities"], np.float32))
            times.append(np.asarray(r["beat_times_s"], np.float64))
            counts.append(len(times[-1]))
        n = len(model.predictor.task.label_names)
        cat = lambda a, shape: np.concatenate(a) if a else np.zeros(shape)  # noqa: E731
        np.savez_compressed(path, record_id=np.array(chunk), offsets=np.concatenate([[0], np.cumsum(counts)]),
                            beat_probabilities=cat(probs, (0, n)), deep_beat_probabilities=cat(deep, (0, n)),
                            beat_times_s=cat(times, (0,)), label_names=np.array(model.predictor.task.label_names))
        timing[path.name] = {"records": len(chunk), "seconds": seconds, "ms_per_record": 1000 * seconds / len(chunk)}
        errors_path.write_text(json.dumps(errors, indent=1) + "\n")
        timing_path.write_text(json.dumps(timing, indent=1) + "\n")
        log.info("chunk %d / %d: %d records, %.1f ms per record", c + 1, len(chunks), len(chunk),
                 timing[path.name]["ms_per_record"])
    total = sum(t["seconds"] for t in timing.values())
    records = sum(t["records"] for t in timing.values())
    return {"records": len(ids), "refused": len(errors), "ms_per_record": 1000 * total / max(records, 1),
            "timing_note": f"{PRESET} predict_signal (checks, preprocessing, ECG-SL, per-beat features, booster), "
                           "one thread, shared 2-core CPU, nice 10"}


def load_beats(work):
    """record id -> (beat_probabilities, deep_beat_probabilities, beat_times_s, label_names) from the chunks."""
    out = {}
    for path in sorted((Path(work) / "beats").glob("chunk_*.npz")):
        z = np.load(path)
        names = [str(n) for n in z["label_names"]]
        o = z["offsets"]
        for i, rid in enumerate(z["record_id"]):
            s = slice(o[i], o[i + 1])
            out[str(rid)] = (z["beat_probabilities"][s], z["deep_beat_probabilities"][s], z["beat_times_s"][s], names)
    return out


def columns(args) -> dict:
    from ecgsl_keras.data.beat_ectopy import beat_ectopy_features, feature_names

    ids = _ids(args.features)
    beats = load_beats(args.work)
    missing = [r for r in ids if r not in beats]
    if missing:
        raise SystemExit(f"error: {len(missing)} records not extracted yet (run --steps extract)")
    names = list(feature_names())
    res = {}
    for tag, part in (("beat_ectopy", 0), ("beat_ectopy_deep", 1)):
        t0 = time.perf_counter()
        X = np.array([[beat_ectopy_features(beats[r][part], beats[r][2], beats[r][3])[n] for n in names]
                      for r in ids], np.float64)
        prefix = "deep_" if part else ""
        np.savez_compressed(Path(args.work) / f"{tag}.npz", record_id=np.array(ids),
                            names=np.array([prefix + n for n in names]), X=X)
        res[tag] = {"columns": len(names), "nan_fraction": float(np.isnan(X).mean()),
                    "ms_per_record_columns": 1000 * (time.perf_counter() - t0) / len(ids)}
        if tag == "beat_ectopy":
            np.savez_compressed(Path(args.work) / "beat_ectopy_focus.npz", record_id=np.array(ids),
                                names=np.array(FOCUS), X=X[:, [names.index(n) for n in FOCUS]])
    # the RR-only control: record_features' ``ectopy`` group (ectopic intervals flagged from the RR series alone,
    # no beat shape) from the same features table, for the same extra step
    from ecgsl_keras.data.record_features import feature_names as record_feature_names

    table = np.load(Path(args.features) / "features.npz")
    rows = {str(r): i for i, r in enumerate(table["record_id"])}
    all_names = [str(n) for n in table["names"]]
    group = list(record_feature_names("ectopy"))
    absent = [n for n in group if n not in all_names]
    if absent:     # e.g. the committed 118-column table (af56): the control needs the table with the group
        log.info("rr_ectopy_group: %s lacks %d of the ectopy group's columns; the control is not written",
                 Path(args.features) / "features.npz", len(absent))
        res["rr_ectopy_group"] = {"written": False, "absent_columns": len(absent)}
        return res
    np.savez_compressed(Path(args.work) / "rr_ectopy_group.npz", record_id=np.array(ids), names=np.array(group),
                        X=table["X"][[rows[r] for r in ids]][:, [all_names.index(n) for n in group]])
    res["rr_ectopy_group"] = {"columns": len(group)}
    return res


def summary(args) -> dict:
    """Training split only: each column's median per class, and per cell of the shipped form's CV confusion
    (booster seed 42's out-of-fold probabilities in ``--lever-work``, averaged with the deep models')."""
    from experiments.cinc2017.af_lever import Lever

    lever = Lever(argparse.Namespace(features=args.features, ecgsl=args.ecgsl, resnet=args.resnet,
                                     work=args.lever_work, k=5))
    y, ids = lever.y["train"], lever.ids["train"]
    booster = np.load(Path(args.lever_work) / "oof" / "base_s42.npy")
    pred = (0.5 * booster + 0.5 * lever.deep["train"]).argmax(-1)
    z = np.load(Path(args.work) / "beat_ectopy.npz")
    rows = {str(r): i for i, r in enumerate(z["record_id"])}
    X = z["X"][[rows[r] for r in ids]]
    groups = {c: y == i for i, c in enumerate(("N", "A", "O", "~"))}
    groups.update({"A_called_A": (y == 1) & (pred == 1), "O_called_A": (y == 2) & (pred == 1),
                   "A_called_O": (y == 1) & (pred == 2), "O_called_O": (y == 2) & (pred == 2)})
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            medians = {str(n): {g: float(np.nanmedian(X[m, j])) for g, m in groups.items()}
                       for j, n in enumerate(z["names"])}
    return {"records": {g: int(m.sum()) for g, m in groups.items()}, "median": medians,
            "note": "training split only; confusion cells of the shipped form's 5-fold CV, booster seed 42"}


def per_fold(args) -> dict:
    """Training split only: the CV gain of ``--fold-row`` (an af_lever ``extra`` row, its cached out-of-fold
    boosters ``extra_<row>_s<seed>.npy`` in ``--lever-work``) over the shipped recipe (``base_s<seed>.npy``), fold
    by fold (the deep models' 5 folds), for every seed of ``--fold-seeds``: AF and macro F1 of the average."""
    from sklearn.metrics import f1_score

    from experiments.cinc2017.af_lever import Lever

    lever = Lever(argparse.Namespace(features=args.features, ecgsl=args.ecgsl, resnet=args.resnet,
                                     work=args.lever_work, k=5))
    y, deep, oof = lever.y["train"], lever.deep["train"], Path(args.lever_work) / "oof"
    folds = sorted(set(lever.fold.tolist()))
    af, macro = np.zeros((len(args.fold_seeds), len(folds))), np.zeros((len(args.fold_seeds), len(folds)))
    for i, seed in enumerate(args.fold_seeds):
        base = (0.5 * np.load(oof / f"base_s{seed}.npy") + 0.5 * deep).argmax(-1)
        row = (0.5 * np.load(oof / f"extra_{args.fold_row}_s{seed}.npy") + 0.5 * deep).argmax(-1)
        for j, k in enumerate(folds):
            held = lever.fold == k
            f = [f1_score(y[held], p[held], labels=range(4), average=None) for p in (row, base)]
            af[i, j], macro[i, j] = f[0][1] - f[1][1], f[0].mean() - f[1].mean()
    return {"row": args.fold_row, "seeds": list(args.fold_seeds), "folds": folds,
            "af_f1_difference_per_fold": af.mean(0).tolist(), "macro_f1_difference_per_fold": macro.mean(0).tolist(),
            "af_f1_positive_cells": int((af > 0).sum()), "cells": int(af.size),
            "af_f1_folds_positive": int((af.mean(0) > 0).sum()),
            "note": "training split only; mean over the seeds of (row minus shipped recipe) on each held-out fold"}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--features", required=True, help="work folder of features.py (features.npz: the record ids)")
    p.add_argument("--work", required=True)
    p.add_argument("--steps", nargs="+", choices=("extract", "columns", "summary", "per_fold"), default=["extract", "columns"])
    p.add_argument("--ecgsl", default="/work/runs/af26/hybrid", help="summary: af_lever's --ecgsl")
    p.add_argument("--resnet", default="/work/runs/hybrid_resnet", help="summary: af_lever's --resnet")
    p.add_argument("--lever-work", help="summary: af_lever's --work (its oof/base_s42.npy)")
    p.add_argument("--fold-row", default="beat_ectopy_focus", help="per_fold: the af_lever extra row")
    p.add_argument("--fold-seeds", nargs="+", type=int, default=list(range(42, 51)), help="per_fold: seeds")
    p.add_argument("--out", type=Path, help="results JSON of the repo (key beat_ectopy), e.g. "
                                            "experiments/cinc2017/af29_results.json")
    p.add_argument("--chunk", type=int, default=500)
    p.add_argument("--cinc-dir", default=str(CINC2017))
    args = p.parse_args(argv)
    path = Path(args.work) / "beat_ectopy_results.json"
    result = json.loads(path.read_text()) if path.is_file() else {}
    if "extract" in args.steps:
        result["extract"] = extract(args)
    if "columns" in args.steps:
        result["columns"] = columns(args)
    if "summary" in args.steps:
        result["summary"] = summary(args)
    if "per_fold" in args.steps:
        result["per_fold"] = per_fold(args)
    command = "python experiments/cinc2017/beat_ectopy.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result["commands"] = result.get("commands", []) + [command]
    path.write_text(json.dumps(result, indent=1) + "\n")
    if args.out:    # the repo's results file: key beat_ectopy (other keys stay)
        saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
        saved["beat_ectopy"] = dict(result, work=str(args.work), preset=PRESET)
        args.out.write_text(json.dumps(saved, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("commands",) + tuple(s for s in args.steps if s in ("extract", "columns"))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
