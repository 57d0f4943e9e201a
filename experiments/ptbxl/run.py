"""PTB-XL superdiagnostic (NORM, MI, STTC, CD, HYP), multi-label, single lead: the 500-record subset.

    python experiments/ptbxl/run.py --ptbxl-dir ../shared/data/ptbxl --work runs/ptbxl \
        [--steps data runs final report] [--seeds 42 43 44]

Protocol (the PTB-XL benchmark folds, on the 500-record subset in ``../shared/data/ptbxl``, ecg_id
1-500): folds 1-8 train, fold 9 validation, fold 10 test; 100 Hz files (``records100``; the
signal is resampled to 100 Hz anyway). For each lead (II, V5), each start (the pre-trained
``encoder`` preset fine-tuned, or the same classifier from scratch) and each seed (42, 43, 44):
train with early stopping and the checkpoint chosen on fold 9's macro AUROC; per-class decision
thresholds chosen on fold 9 (best F1 per class, ``ecgsl_keras.training.trainer`` writes ``thresholds.json``);
then macro AUROC and macro F1 (at those thresholds) on fold 10. Figures: mean +- sd over the 3 seeds.
Everything is a small-sample figure of a 500-record subset (66 test records), not comparable with
full PTB-XL benchmarks.

The shipped ``ptbxl-superdiagnostic`` preset: the variant (lead x start) with the best mean fold-9
macro AUROC, seed 42, with its fold-9 thresholds.

Resumable (finished runs and evaluations are skipped); the last line of stdout is one JSON object.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.shared_data import PTBXL  # noqa: E402

from experiments.protocol_steps import StepRunner, write_results  # noqa: E402
log = logging.getLogger("experiments.ptbxl")

LEADS = ("II", "V5")
STARTS = ("pretrained", "scratch")
SEEDS = (42, 43, 44)
EPOCHS = 40
PATIENCE = 12
BATCH = 16
WARMUP_EPOCHS = 3
ENCODER = REPO / "ecgsl_keras" / "presets" / "encoder"
STEPS = ("data", "runs", "preset", "report")
SUBSET = "500-record subset"


def experiment_config():
    from ecgsl_keras.config import ExperimentConfig

    info = json.loads((ENCODER / "config.json").read_text())
    base = ExperimentConfig.from_dict(info["experiment_config"])
    train = dataclasses.replace(base.train, batch_size=BATCH, epochs=EPOCHS, early_stopping_patience=PATIENCE,
                                label_smoothing=0.0)
    return ExperimentConfig(signal=base.signal, model=base.model, train=train)


class Protocol(StepRunner):
    def __init__(self, args):
        super().__init__(args.work)
        self.args = args
        self.config_path = self.work / "experiment_config.json"


    def data_dir(self, lead):
        return self.work / "data" / lead

    def step_data(self):
        experiment_config().save(self.config_path)
        for lead in LEADS:
            out = self.data_dir(lead)
            if (out / "manifest.json").is_file():
                continue
            self._run(["-m", "ecgsl_keras.prepare", "--dataset", "ptbxl", "--data-dir", str(self.args.ptbxl_dir),
                       "--out", str(out), "--lead", lead, "--rate", "100", "--config", str(self.config_path),
                       "--workers", "1", "--no-progress", "--overwrite"], f"prepare_{lead}")

    def run_name(self, lead, start, seed):
        return f"{lead}_{start}_s{seed}"

    def train(self, lead, start, seed):
        name = self.run_name(lead, start, seed)
        run_dir = self.work / name
        if not self._finished(run_dir):
            argv = ["-m", "ecgsl_keras.train", "--stage", "finetune" if start == "pretrained" else "supervised",
                    "--data", str(self.data_dir(lead)), "--run-dir", str(run_dir), "--config", str(self.config_path),
                    "--epochs", str(EPOCHS), "--patience", str(PATIENCE), "--seed", str(seed), "--verbose", "2"]
            if start == "pretrained":
                argv += ["--init-from", str(ENCODER), "--encoder-warmup-epochs", str(WARMUP_EPOCHS)]
            self._run(argv, name)
        test = run_dir / "test_metrics.json"
        if not test.is_file():
            found = self._run(["-m", "ecgsl_keras.evaluate", "--model", str(run_dir), "--data",
                               str(self.data_dir(lead)), "--split", "test"], f"{name}_test")
            test.write_text(json.dumps(found, indent=2))
        return run_dir

    def step_runs(self):
        for seed in self.args.seeds:          # one seed of every variant first: a stopped session has a table
            for lead in LEADS:
                for start in STARTS:
                    self.train(lead, start, seed)


    def step_preset(self):
        """Ship the best variant (mean fold-9 macro AUROC), seed 42, as ``ptbxl-superdiagnostic``."""
        result = report(self.work, self.args.seeds)
        best = result.get("shipped_variant")
        if not best:
            log.warning("no finished variant: no preset")
            return
        lead, start = best.split("_", 1)
        run_dir = self.work / f"{best}_s{SEEDS[0]}"
        card = self.work / "card_extra.md"
        card.write_text("## Fold-10 figures (PTB-XL 500-record subset)\n\n" + markdown(result).split("\n", 2)[2]
                        + f"\nInput: lead {lead} in millivolts. Thresholds (thresholds.json) were chosen on fold 9.\n")
        self._run(["-m", "ecgsl_keras.pretrained", "build", "--run", str(run_dir), "--name", "ptbxl-superdiagnostic",
                   "--description", f"ECG-SL PTB-XL superdiagnostic multi-label classifier (NORM, MI, STTC, CD, HYP), "
                   f"lead {lead}, {'fine-tuned from the encoder preset' if start == 'pretrained' else 'trained from scratch'}"
                   f" on folds 1-8 of the {SUBSET}; per-class thresholds from fold 9",
                   "--card-extra", str(card), "--overwrite"], "preset")


def _mean_sd(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None,
            "n": len(values), "values": values}


def report(work: Path, seeds) -> dict:
    result = {"data": f"PTB-XL {SUBSET} (ecg_id 1-500): folds 1-8 train, 9 validation (checkpoint and "
                      "thresholds), 10 test", "subset": SUBSET, "epochs": EPOCHS, "patience": PATIENCE,
              "seeds": list(seeds), "variants": {}}
    best, best_score = None, -1.0
    for lead in LEADS:
        for start in STARTS:
            rows = []
            for seed in seeds:
                run_dir = work / f"{lead}_{start}_s{seed}"
                test, val = run_dir / "test_metrics.json", run_dir / "metrics.json"
                if not (test.is_file() and val.is_file()):
                    continue
                t, v = json.loads(test.read_text()), json.loads(val.read_text())
                rows.append({"seed": seed, "test_macro_auroc": t.get("macro_auroc"), "test_macro_f1": t.get("macro_f1"),
                             "test_per_class_auroc": t.get("per_class_auroc"),
                             "val_macro_auroc": v.get("macro_auroc"), "val_macro_f1": v.get("macro_f1"),
                             "thresholds_from": t.get("thresholds_from"), "test_records": t.get("n"),
                             "val_records": v.get("n")})
            if not rows:
                continue
            name = f"{lead}_{start}"
            entry = {"lead": lead, "start": start, "runs": rows,
                     "test_macro_auroc": _mean_sd([r["test_macro_auroc"] for r in rows]),
                     "test_macro_f1": _mean_sd([r["test_macro_f1"] for r in rows]),
                     "val_macro_auroc": _mean_sd([r["val_macro_auroc"] for r in rows])}
            result["variants"][name] = entry
            score = entry["val_macro_auroc"]["mean"] if entry["val_macro_auroc"] else -1.0
            if score > best_score:
                best, best_score = name, score
    result["shipped_variant"] = best
    first = next(iter(result["variants"].values()), None)
    if first:
        result["test_records"] = first["runs"][0]["test_records"]
        result["validation_records"] = first["runs"][0]["val_records"]
    return result


def _fmt(stat):
    if not stat:
        return "–"
    sd = f" ± {stat['sd']:.3f}" if stat.get("sd") is not None else ""
    return f"{stat['mean']:.3f}{sd} (n={stat['n']})"


def markdown(result: dict) -> str:
    lines = ["# PTB-XL superdiagnostic, single lead: results (500-record subset)", "",
             "Generated by `experiments/ptbxl/run.py` (do not edit by hand).", "",
             f"Data: {result['data']}. Up to {result['epochs']} epochs, early stopping (patience "
             f"{result['patience']}) on fold-9 macro AUROC; thresholds: best F1 per class on fold 9. "
             f"Mean ± sd over seeds {result['seeds']}.", "",
             "| lead | start | test macro AUROC (500-record subset) | test macro F1 (500-record subset) | "
             "fold-9 macro AUROC |", "| --- | --- | --- | --- | --- |"]
    for name, v in result["variants"].items():
        lines.append(f"| {v['lead']} | {v['start']} | {_fmt(v['test_macro_auroc'])} | {_fmt(v['test_macro_f1'])} | "
                     f"{_fmt(v['val_macro_auroc'])} |")
    if result.get("shipped_variant"):
        lines += ["", f"Shipped as `ptbxl-superdiagnostic`: **{result['shipped_variant']}**, seed 42 (best mean "
                  f"fold-9 macro AUROC), with its fold-9 thresholds. Fold 10 holds {result.get('test_records')} "
                  f"labelled records and fold 9 {result.get('validation_records')} of the 500-record subset: "
                  "differences of a few hundredths are within the seed spread."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ptbxl-dir", default=str(PTBXL))
    p.add_argument("--work", default="runs/ptbxl")
    p.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    args = p.parse_args(argv)
    protocol = Protocol(args)
    for step in args.steps:
        if step != "report":
            getattr(protocol, f"step_{step}")()
    result = report(protocol.work, args.seeds)
    write_results(HERE, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
