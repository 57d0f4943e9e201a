"""Issue 18, deliverable 2(a): the hybrid classifier as ONE Keras model on CinC 2017 (v3 labels).

    # data (once, ~9 min on the shared 2-core machine)
    python -m ecgsl_keras.prepare --dataset cinc2017 --data-dir ../shared/data/cinc2017/training2017 \
        --out /work/runs/cinc2017_prepared_feat --workers 1 --record-features
    # per seed (resumable: rerun the same command after a kill), then evaluation on validation
    python -m ecgsl_keras.train --stage hybrid --data /work/runs/cinc2017_prepared_feat \
        --run-dir /work/runs/hybrid_keras/hybrid_s42 --init-from encoder --epochs 12 --patience 6 --seed 42 \
        --encoder-warmup-epochs 1 --verbose 2 > /work/runs/hybrid_keras/train_s42.log 2>&1
    python -m ecgsl_keras.evaluate --model /work/runs/hybrid_keras/hybrid_s42 \
        --data /work/runs/cinc2017_prepared_feat --split validation > /work/runs/hybrid_keras/eval_s42.json
    # collect what is finished into experiments/cinc2017/hybrid_keras_results.json
    python experiments/cinc2017/hybrid_keras.py --work /work/runs/hybrid_keras

(``/work/runs/hybrid_keras/run_seeds.sh`` runs seeds 42, 43, 44 in turn with these commands;
``run_variant.sh`` / ``run_noweights.sh`` the same with ``--no-class-weights``, logs ``train_noweights_s*.log``.)
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEEDS = (42, 43, 44)
DATA = "/work/runs/cinc2017_prepared_feat"


# name -> extra train flags: the protocol's default (balanced class weights) and without class weights
VARIANTS = {"hybrid": [], "hybrid_noweights": ["--no-class-weights"]}


def commands(work: Path, seed: int, variant: str = "hybrid", data: str = DATA) -> list[str]:
    run = work / f"{variant}_s{seed}"
    extra = "".join(" " + flag for flag in VARIANTS[variant])
    return [f"python -m ecgsl_keras.train --stage hybrid --data {data} --run-dir {run} --init-from encoder "
            f"--epochs 12 --patience 6 --seed {seed} --encoder-warmup-epochs 1{extra} --verbose 2",
            f"python -m ecgsl_keras.evaluate --model {run} --data {data} --split validation"]


def seconds_per_epoch(log: Path) -> list[float]:
    return [float(s) for s in re.findall(r"^\d+/\d+ - (\d+)s - ", log.read_text(errors="replace"), re.M)]


def collect(work: Path, extra: dict | None = None, data: str = DATA, variants=tuple(VARIANTS)) -> dict:
    out = {"runs": {}, "summary": {}, "pending": []}
    for variant in variants:
        rows, pending = _collect(work, variant, data)
        out["runs"].update({f"{variant}_{key}": row for key, row in rows.items()})
        out["pending"].extend(pending)
        out["summary"][variant] = _summary(rows)
    return {
        "what": "hybrid (a): ECG-SL (init from the `encoder` preset) + the 111 record features of "
                "ecgsl_keras.data.record_features as a second input, normalised in the model (modeling.hybrid), "
                "short schedule (12 epochs, patience 6, encoder warm-up 1 epoch); CinC 2017 validation split "
                "(v3 labels), 2-core CPU shared with 4 other jobs. hybrid: the protocol's balanced class weights; "
                "hybrid_noweights: the same without class weights (--no-class-weights)",
        "data": {"prepare": f"python -m ecgsl_keras.prepare --dataset cinc2017 --data-dir "
                            f"/work/shared/data/cinc2017/training2017 --out {data} --workers 1 --record-features"},
        **out, **(extra or {})}


def _summary(rows) -> dict:
    summary = {}
    for key in ("macro_f1", "challenge_f1"):
        values = [r[key] for r in rows.values()]
        if values:
            summary[key] = {"mean": round(statistics.mean(values), 4),
                            "sd": round(statistics.stdev(values), 4) if len(values) > 1 else None, "n": len(values)}
    return summary


def _collect(work: Path, variant: str, data: str):
    rows, pending = {}, []
    tag = "" if variant == "hybrid" else variant.split("_", 1)[1] + "_"
    for seed in SEEDS:
        out = work / f"eval_{tag}s{seed}.json"
        lines = out.read_text().strip().splitlines() if out.is_file() else []
        if not lines:
            pending.append({"run": f"{variant}_s{seed}", "log": str(work / f"train_{tag}s{seed}.log"),
                            "commands": commands(work, seed, variant, data)})
            continue
        metrics = json.loads(lines[-1])
        info = json.loads((work / f"{variant}_s{seed}" / "config.json").read_text())
        epochs = seconds_per_epoch(work / f"train_{tag}s{seed}.log")
        rows[f"s{seed}"] = {
            "macro_f1": round(metrics["macro_f1"], 4), "challenge_f1": round(metrics["challenge_f1"], 4),
            "per_class_f1": {k: None if v is None else round(v, 4) for k, v in metrics["per_class_f1"].items()},
            "accuracy": round(metrics["accuracy"], 4), "confusion_matrix": metrics.get("confusion_matrix"),
            "n": metrics["n"], "epochs_run": len(epochs), "best_epoch": (info.get("best") or {}).get("epoch"),
            "seconds_per_epoch_mean": round(statistics.mean(epochs), 1) if epochs else None,
            "commands": commands(work, seed, variant, data)}
    return rows, pending


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/work/runs/hybrid_keras")
    p.add_argument("--out", default=str(HERE / "hybrid_keras_results.json"))
    p.add_argument("--data", default=DATA, help="the prepared folder (prepare --record-features) the runs used")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = p.parse_args(argv)
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.is_file() else {}
    result = collect(Path(args.work), {k: v for k, v in previous.items() if k == "diagnostics"}, data=args.data,
                     variants=args.variants)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
