"""ECG-SL alone on the v3 labels (issue 18, protocol row), and its probability average with the features booster.

    python experiments/cinc2017/ecgsl_v3.py --data /work/runs/cinc2017_prepared --work /work/runs/v3 \
        --hybrid-work /work/runs/hybrid [--seeds 42 43 44]

Per seed: ``train --stage finetune --init-from encoder`` with the protocol's main schedule (20 epochs, patience 8,
one warm-up epoch of the head alone; best epoch chosen on the validation split as every ``train`` run), then the
per-record validation probabilities (``training.oof.deep_outputs``). Rows (on the 1,364 validation records that
have record features; every record has them here):

* ``ecgsl``: each seed alone; ``ecgsl_ensemble``: the mean of the finished seeds' probabilities;
* ``average``: ``(ECG-SL seed s + features booster seed b) / 2`` for each finished seed s, booster seeds b of
  ``experiments/cinc2017/hybrid.py`` (``--hybrid-work``: its ``proba_features_per_seed.npy``, same record order);
* ``average_ensemble``: the ensemble of the seeds with each booster seed.

Resumable: a finished run (``metrics.json``) is not trained again, a killed one resumes (BackupAndRestore).
Results: ``ecgsl_v3_results.json`` beside this file; the last line of stdout is one JSON object.
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

from experiments.cinc2017.features import LABELS, _metrics, _summary  # noqa: E402
from experiments.protocol_steps import StepRunner  # noqa: E402

log = logging.getLogger("experiments.cinc2017.ecgsl_v3")
EPOCHS, PATIENCE = 20, 8


class EcgslV3(StepRunner):
    def __init__(self, args):
        super().__init__(args.work)
        self.args = args
        self.data = Path(args.data).resolve()

    def run_dir(self, seed: int) -> Path:
        return self.work / f"ecgsl_s{seed}"

    def train(self, seed: int) -> None:
        if (self.run_dir(seed) / "metrics.json").is_file():
            return
        self._run(["-m", "ecgsl_keras.train", "--stage", "finetune", "--init-from", "encoder", "--data", str(self.data),
                   "--run-dir", str(self.run_dir(seed)), "--epochs", str(EPOCHS), "--patience", str(PATIENCE),
                   "--encoder-warmup-epochs", "1", "--seed", str(seed), "--verbose", "2"], f"train_ecgsl_s{seed}")

    def probabilities(self, seed: int):
        """(record ids, targets, probabilities) on the validation split, cached beside the run."""
        cache = self.run_dir(seed) / "validation_probabilities.npz"
        if not cache.is_file():
            import keras

            import ecgsl_keras  # noqa: F401  (registers the custom layers)
            from ecgsl_keras import tasks
            from ecgsl_keras.config import ExperimentConfig
            from ecgsl_keras.training import oof

            run = self.run_dir(seed)
            config = ExperimentConfig.from_dict(json.loads((run / "config.json").read_text())["experiment_config"])
            model = keras.models.load_model(run / "model.keras", compile=False)
            got = oof.deep_outputs(model, self.data, "validation", config, tasks.get_task("cinc2017"))
            np.savez(cache, record_id=got["record_id"], targets=got["targets"], probabilities=got["probabilities"])
        loaded = np.load(cache)
        return loaded["record_id"].astype(str), loaded["targets"].astype(int), loaded["probabilities"]


def _seconds_per_epoch(run: Path):
    info = json.loads((run / "config.json").read_text())
    if info.get("seconds") and info.get("epochs_completed"):
        return {"seconds_per_epoch": round(info["seconds"] / info["epochs_completed"], 1),
                "epochs": info["epochs_completed"], "best_epoch": (info.get("best") or {}).get("epoch")}
    return {}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--hybrid-work", required=True, help="work folder of experiments/cinc2017/hybrid.py")
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    p.add_argument("--no-train", action="store_true", help="collect the finished seeds only")
    p.add_argument("--out", default=str(HERE / "ecgsl_v3_results.json"))
    args = p.parse_args(argv)
    job = EcgslV3(args)
    start = time.perf_counter()
    hybrid = Path(args.hybrid_work)
    features = np.load(hybrid / "features" / "features.npz", allow_pickle=True)
    ok = {str(r) for r, s in zip(features["record_id"], features["status"]) if s == "ok"}
    booster = np.load(hybrid / "proba_features_per_seed.npy")          # (booster seeds, records sorted by id, 4)
    booster_seeds = json.loads((HERE / "hybrid_results.json").read_text())["rows"]["features"]["summary"]["seeds"]
    rows = {"ecgsl": [], "average": []}
    seeds_done, probs = [], []
    for seed in args.seeds:
        if not args.no_train:
            job.train(seed)
        if not (job.run_dir(seed) / "metrics.json").is_file():
            log.warning("seed %d not finished: left out", seed)
            continue
        ids, y, prob = job.probabilities(seed)
        order = np.argsort(ids)
        ids, y, prob = ids[order], y[order], prob[order]
        keep = np.array([r in ok for r in ids])
        ids, y, prob = ids[keep], y[keep], prob[keep]
        if len(ids) != booster.shape[1]:
            raise SystemExit(f"{len(ids)} validation records with features, the booster table has {booster.shape[1]}")
        seeds_done.append(seed)
        probs.append(prob)
        rows["ecgsl"].append(dict(seed=seed, **_metrics(y, prob.argmax(-1)), **_seconds_per_epoch(job.run_dir(seed))))
        for b_seed, b in zip(booster_seeds, booster):
            rows["average"].append(dict(seed=seed, booster_seed=b_seed, **_metrics(y, (0.5 * (prob + b)).argmax(-1))))
    result = {"command": "python experiments/cinc2017/ecgsl_v3.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "schedule": {"epochs": EPOCHS, "patience": PATIENCE, "init_from": "encoder", "encoder_warmup_epochs": 1},
              "records": {"validation": int(len(y)) if seeds_done else 0}, "seeds": seeds_done,
              "n_seeds": len(seeds_done)}
    if seeds_done:
        ensemble = np.mean(probs, axis=0)
        rows["ecgsl_ensemble"] = [dict(seed=0, **_metrics(y, ensemble.argmax(-1)))]
        rows["average_ensemble"] = [dict(seed=b_seed, **_metrics(y, (0.5 * (ensemble + b)).argmax(-1)))
                                    for b_seed, b in zip(booster_seeds, booster)]
        result["rows"] = {name: {"runs": runs, "summary": _summary(runs)} for name, runs in rows.items()}
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
