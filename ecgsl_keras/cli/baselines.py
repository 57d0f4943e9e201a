"""``ecgsl baselines`` (and ``python -m ecgsl_keras.baselines``): the command line of ``ecgsl_keras.evaluation.baselines``."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ecgsl_keras import fileio
from ecgsl_keras.cli import runner
from ecgsl_keras.evaluation.baselines import DEFAULT_THREADS, FEATURE_NAMES  # no TensorFlow at import


def _table(metrics: dict, details: dict) -> str:
    names = metrics["label_names"]
    lines = [f"features baseline ({len(FEATURE_NAMES)} features, HistGradientBoosting {details['params']})",
             f"train {len(details['train_records'])} records, validation {len(details['validation_records'])} records",
             f"{'metric':<22}{'value':>8}"]
    for key in ("macro_f1", "challenge_f1", "accuracy", "auroc"):
        if metrics.get(key) is not None:
            lines.append(f"{key:<22}{metrics[key]:>8.4f}")
    for name in names:
        value = metrics["per_class_f1"][name]   # None: a class neither true nor predicted
        lines.append(f"{'F1 ' + name:<22}" + (f"{value:>8.4f}" if value is not None else f"{'-':>8}"))
    lines.append("confusion matrix (rows true, columns predicted): " + " ".join(names))
    for name, row in zip(names, metrics["confusion_matrix"]):
        lines.append(f"  {name:<4}" + "".join(f"{v:>7d}" for v in row))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("baselines", runner.describe("ecgsl_keras.evaluation.baselines"))
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("features", help="RR/HRV and beat-morphology features + gradient boosting")
    f.add_argument("--data", required=True, help="TFRecord folder from ecgsl_keras.data.prepare (train and validation)")
    f.add_argument("--seed", type=int, default=42)
    f.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="OpenMP threads of the boosting (0: all)")
    f.add_argument("--cv-folds", type=int, default=3,
                   help="folds of the hyper-parameter search on the train split (0 or 1: fixed defaults)")
    f.add_argument("--out", help="also write the JSON result to this file")
    return p


def main(argv=None) -> int:
    return runner.run(build_parser, _run, argv, models=False)


def _run(args, parser) -> int:
    from ecgsl_keras.evaluation.baselines import fit_features_baseline

    details: dict = {}
    start = time.perf_counter()
    _, metrics = fit_features_baseline(args.data, args.seed, cv_folds=args.cv_folds, threads=args.threads,
                                       details=details)
    print(_table(metrics, details), file=sys.stderr)
    result = {
        "baseline": "features",
        "model": "sklearn.ensemble.HistGradientBoostingClassifier(class_weight='balanced')",
        "data": str(args.data),
        "seed": args.seed,
        "threads": args.threads,
        "task": details["task"],
        "features": list(FEATURE_NAMES),
        "params": details["params"],
        "cv_folds": details["cv_folds"],
        "cv_scores": details["cv_scores"],
        "metrics": metrics,
        "macro_f1": metrics["macro_f1"],
        "challenge_f1": metrics.get("challenge_f1"),
        "accuracy": metrics["accuracy"],
        "splits": {"train": len(details["train_records"]), "validation": len(details["validation_records"]),
                   "train_examples": details["train_examples"],
                   "validation_examples": details["validation_examples"]},
        "records": {"train": details["train_records"], "validation": details["validation_records"]},
        "seconds": round(time.perf_counter() - start, 2),
        "seconds_by_step": details["seconds"],
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1, default=fileio.jsonable) + "\n", encoding="utf-8")
    runner.print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
