"""Issue 22, item 4: the same fine-tuning before and after length-aware batching.

    python experiments/cinc2017/length_aware_check.py --data data/cinc2017 --work runs/length_aware \
        [--epochs 20] [--seed 42]

Runs that differ only in how batches are padded (``TrainConfig.length_aware``) and whether the beat
encoder runs on the real beats only in training (``ModelConfig.real_beats_only``; the same outputs,
less work): ``fixed`` (every batch padded to ``max_beats``, every beat encoded: before issue 22),
``length_aware`` (batches grouped by length, ``bucket_by_sequence_length``, each padded to its
longest), ``pad`` (random batches, each padded to its longest) and ``sort`` (the default: length-sorted
windows of ``sort_window_batches`` batches, the beat encoder on real beats only). All fine-tune the shipped
``encoder`` preset (masked-segment pre-training) with the protocol's main fine-tuning schedule
(``experiments/cinc2017/run.py``: 20 epochs, patience 8, head alone for the first epoch), seed 42.
Checkpoints are chosen on the validation split, and every figure is on that split.

Resumable: a finished run is skipped and a killed one resumes (``train``'s BackupAndRestore).
Other seeds (``--seed``) are named ``VARIANT_sSEED``; entries of earlier runs are kept.
Writes ``length_aware_results.json`` beside this file; the last line of stdout is that JSON.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from experiments.protocol_steps import StepRunner  # noqa: E402

log = logging.getLogger("experiments.length_aware_check")
# run name -> the config of the run (the rest: defaults). Runs before real_beats_only existed encoded every
# beat: the settings are pinned so that later seeds repeat them.
VARIANTS = {"length_aware": {"train": {"length_aware": True}, "model": {"real_beats_only": False}},
            "pad": {"train": {"length_aware": "pad"}, "model": {"real_beats_only": False}},
            "fixed": {"train": {"length_aware": False}, "model": {"real_beats_only": False}},
            "sort": {"train": {"length_aware": "sort", "sort_window_batches": 4}, "model": {"real_beats_only": True}}}


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
            config.write_text(json.dumps(setting))
            loads, done = [], threading.Event()
            sampler = threading.Thread(target=_sample_load, args=(loads, done), daemon=True)
            sampler.start()
            try:
                steps._run(["-m", "ecgsl_keras.train", "--stage", "finetune", "--init-from", "encoder",
                        "--data", str(args.data), "--run-dir", str(run_dir), "--config", str(config),
                            "--epochs", str(args.epochs), "--patience", "8", "--encoder-warmup-epochs", "1",
                            "--seed", str(args.seed), "--verbose", "2"], name)
            finally:
                done.set()
            if loads:   # the machine is shared: seconds per epoch read against the 1-minute load average
                results["runs"].setdefault(name, {})["load_average"] = {
                    "mean": round(statistics.fmean(loads), 2), "max": round(max(loads), 2), "samples": len(loads)}
        metrics_file = run_dir / "metrics.json"
        if steps._finished(run_dir) and metrics_file.is_file():
            m = json.loads(metrics_file.read_text())
            info = json.loads((run_dir / "config.json").read_text())
            epochs = info.get("epochs_completed") or m.get("epochs")
            used = info.get("experiment_config") or {}
            results["runs"][name] = {"seed": args.seed, "length_aware": (used.get("train") or {}).get("length_aware"),
                                     "sort_window_batches": (used.get("train") or {}).get("sort_window_batches"),
                                     "real_beats_only": (used.get("model") or {}).get("real_beats_only", False),
                                     "load_average": results["runs"].get(name, {}).get("load_average"),
                                     "macro_f1": m.get("macro_f1"), "challenge_f1": m.get("challenge_f1"),
                                        "per_class_f1": m.get("per_class_f1"), "best_epoch": m["best"]["epoch"],
                                        "epochs": epochs, "seconds": info.get("seconds"),
                                        "seconds_per_epoch": round(info["seconds"] / epochs, 1) if epochs else None}
    runs = results["runs"]
    for variant in VARIANTS:
        if variant != "fixed" and variant in runs and "fixed" in runs:
            results[f"{variant}_vs_fixed"] = {   # seed 42
                "macro_f1_difference": runs[variant]["macro_f1"] - runs["fixed"]["macro_f1"],
                "epoch_speedup": runs["fixed"]["seconds_per_epoch"] / runs[variant]["seconds_per_epoch"]}
    results["by_variant"] = _by_variant(runs)
    results.pop("macro_f1_difference", None), results.pop("epoch_speedup", None), results.pop("seed", None)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))
    return 0


def _sample_load(loads: list, done: threading.Event, every: float = 30.0) -> None:
    while not done.wait(every):
        loads.append(os.getloadavg()[0])


def _by_variant(runs: dict) -> dict:
    """Per variant over its seeds: macro F1 (mean, sd), seconds per epoch, and the macro F1
    difference to ``fixed`` of the same seed."""
    out = {}
    for variant in VARIANTS:
        entries = {r["seed"]: r for name, r in runs.items()
                   if (name == variant or name.startswith(f"{variant}_s")) and r.get("macro_f1") is not None}
        if not entries:
            continue
        f1 = [entries[s]["macro_f1"] for s in sorted(entries)]
        fixed = {r["seed"]: r["macro_f1"] for name, r in runs.items()
                 if (name == "fixed" or name.startswith("fixed_s")) and r.get("macro_f1") is not None}
        out[variant] = {"seeds": sorted(entries), "macro_f1": f1, "macro_f1_mean": statistics.fmean(f1),
                        "macro_f1_sd": statistics.stdev(f1) if len(f1) > 1 else None,
                        "seconds_per_epoch": [entries[s]["seconds_per_epoch"] for s in sorted(entries)]}
        if variant != "fixed":
            paired = {s: entries[s]["macro_f1"] - fixed[s] for s in sorted(entries) if s in fixed}
            if paired:
                out[variant]["macro_f1_minus_fixed_same_seed"] = paired
                out[variant]["macro_f1_minus_fixed_mean"] = statistics.fmean(paired.values())
    return out


if __name__ == "__main__":
    sys.exit(main())
