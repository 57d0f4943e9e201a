"""Issue 22, item 4: the same fine-tuning before and after length-aware batching.

    python experiments/cinc2017/length_aware_check.py --data data/cinc2017 --work runs/length_aware \
        [--epochs 20] [--seed 42]

Runs that differ only in ``TrainConfig.length_aware``: ``fixed`` (every batch padded to
``max_beats``, as before issue 22), ``length_aware`` (batches grouped by length, each padded to its
longest) and ``pad`` (random batches, each padded to its longest). Both fine-tune the shipped
``encoder`` preset (masked-segment pre-training) with the protocol's main fine-tuning schedule
(``experiments/cinc2017/run.py``: 20 epochs, patience 8, head alone for the first epoch), seed 42.
Checkpoints are chosen on the validation split, and every figure is on that split.

Resumable: a finished run is skipped and a killed one resumes (``train``'s BackupAndRestore).
Writes ``length_aware_results.json`` beside this file; the last line of stdout is that JSON.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from experiments.protocol_steps import StepRunner  # noqa: E402

log = logging.getLogger("experiments.length_aware_check")
# run name -> TrainConfig.length_aware: grouped by length (the default), random batches each padded to
# their longest, every batch padded to max_beats (before issue 22)
VARIANTS = {"length_aware": True, "pad": "pad", "fixed": False}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="CinC 2017 TFRecords from ecgsl prepare")
    p.add_argument("--work", required=True, help="work folder (runs, logs)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--only", nargs="+", choices=list(VARIANTS), help="run these variants only (copies can share the cores)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    steps = StepRunner(args.work)
    out = HERE / "length_aware_results.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    results.update({"data": str(args.data), "epochs": args.epochs, "init_from": "encoder"})
    results.setdefault("runs", {})
    for variant, setting in VARIANTS.items():
        name = variant if args.seed == 42 else f"{variant}_s{args.seed}"
        run_dir = steps.work / name
        if (args.only is None or variant in args.only) and not steps._finished(run_dir):
            config = steps.work / f"{variant}_config.json"
            config.write_text(json.dumps({"train": {"length_aware": setting}}))
            steps._run(["-m", "ecgsl_keras.train", "--stage", "finetune", "--init-from", "encoder",
                        "--data", str(args.data), "--run-dir", str(run_dir), "--config", str(config),
                        "--epochs", str(args.epochs), "--patience", "8", "--encoder-warmup-epochs", "1",
                        "--seed", str(args.seed), "--verbose", "2"], name)
        metrics_file = run_dir / "metrics.json"
        if steps._finished(run_dir) and metrics_file.is_file():
            m = json.loads(metrics_file.read_text())
            info = json.loads((run_dir / "config.json").read_text())
            epochs = info.get("epochs_completed") or m.get("epochs")
            results["runs"][name] = {"seed": args.seed, "length_aware": setting, "macro_f1": m.get("macro_f1"), "challenge_f1": m.get("challenge_f1"),
                                        "per_class_f1": m.get("per_class_f1"), "best_epoch": m["best"]["epoch"],
                                        "epochs": epochs, "seconds": info.get("seconds"),
                                        "seconds_per_epoch": round(info["seconds"] / epochs, 1) if epochs else None}
    runs = results["runs"]
    for variant in ("length_aware", "pad"):
        if variant in runs and "fixed" in runs:
            results[f"{variant}_vs_fixed"] = {
                "macro_f1_difference": runs[variant]["macro_f1"] - runs["fixed"]["macro_f1"],
                "epoch_speedup": runs["fixed"]["seconds_per_epoch"] / runs[variant]["seconds_per_epoch"]}
    results.pop("macro_f1_difference", None), results.pop("epoch_speedup", None), results.pop("seed", None)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
