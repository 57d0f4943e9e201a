"""The CinC 2017 protocol of ECG-SL: pre-training, fine-tuning, ablations, label efficiency, report.

    python experiments/cinc2017/run.py --cinc-dir path/to/training2017 --work runs/cinc2017_protocol \
        [--corpus DIR] [--data PREPARED] [--results DIR] [--steps main supervised curve ...] [--seeds 42 43 44]

Resumable: every step writes its result into the work folder and is skipped when that result is
there; a killed training run resumes from its BackupAndRestore state when the script runs again.
Several copies may run at once on one work folder with different ``--steps`` orders: a run being
trained by another live copy is skipped (a lock file per run).
Steps run in the order given (default: the order of ``STEPS``, most informative first), so a
session that stops early leaves the most useful results. ``report`` (always last) collects what
exists into ``results.json`` and ``RESULTS.md`` beside this file, and draws the label-efficiency
curve (``label_efficiency.png``); ``--results`` puts those three in another folder (the v3-label rerun
writes ``experiments/cinc2017/protocol_v3``). ``--data`` uses a folder already prepared from ``--cinc-dir``
instead of preparing ``WORK/data``.

The 10% point of the label-efficiency curve is trained with every ``--seeds`` seed (its subset of records
and its initialisation both follow the seed), and the report gives it as mean ± sd.

Every figure is on the validation split of the stratified 80/20 split of the CinC 2017 records
given (seed 42, ``ecgsl_keras.data.prepare``); checkpoints (best epoch) are chosen on that split too,
as in every run of ``ecgsl_keras.training.trainer``. Pre-training never sees the validation records: it
uses the training split of the labelled folder, or ``--corpus`` (``prepare --unlabelled``, which
leaves the CinC validation records out).

Schedules (epochs): autoencoder 4, masked 12, fine-tune / supervised 20 (patience 8); the
ablations and the label-efficiency curve use the short schedule, 12 epochs (patience 6), on both
sides of each comparison. The last line of stdout is one JSON object (the report).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.protocol_steps import StepRunner, write_results_markdown  # noqa: E402
log = logging.getLogger("experiments.cinc2017")

MAIN_EPOCHS, SHORT_EPOCHS = 20, 12
MAIN_SEED = 42
MASKED_EPOCHS = 12   # over the corpus (10,399 sequences): about 24 epochs' worth of the CinC training split
FRACTIONS = (0.05, 0.1, 0.25, 0.5, 1.0)
STEPS = ("data", "autoencoder", "masked", "diagnostic", "main", "supervised", "curve10", "stage1",
         "features", "seeds", "ensemble", "meanpool", "curve", "norr", "resnet")


class Protocol(StepRunner):
    def __init__(self, args):
        super().__init__(args.work)
        self.args = args
        self.data = Path(args.data).resolve() if args.data else self.work / "data"
        self.pretrain_data = Path(args.corpus).resolve() if args.corpus else self.data

    # -- helpers ------------------------------------------------------------------------------



    def _lock(self, name):
        """Claim run ``name`` for this process (True), or False while another live process has it, so
        several copies of this script can share one work folder (one per core, say)."""
        lock = self.work / f".{name}.lock"
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    os.kill(int(lock.read_text() or 0), 0)
                    return False                  # its owner is alive
                except (OSError, ValueError):
                    lock.unlink(missing_ok=True)  # a dead owner's lock
                    continue
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            return True
        return False

    def train(self, name, stage, *, data=None, init_from=None, epochs, patience=None, seed=42, extra=()):
        run_dir = self.work / name
        if self._finished(run_dir):
            return run_dir
        if not self._lock(name):
            log.info("skipping %s: another process is running it", name)
            return run_dir
        try:
            argv = ["-m", "ecgsl_keras.train", "--stage", stage, "--data", str(data or self.data),
                    "--run-dir", str(run_dir), "--epochs", str(epochs), "--seed", str(seed), "--verbose", "2"]
            if init_from:
                argv += ["--init-from", str(self.work / init_from)]
            if patience:
                argv += ["--patience", str(patience)]
            self._run(argv + list(extra), name)
        finally:
            (self.work / f".{name}.lock").unlink(missing_ok=True)
        return run_dir

    def classifier(self, name, *, init_from=None, epochs=SHORT_EPOCHS, seed=42, fraction=1.0, extra=(), data=None):
        stage = "finetune" if init_from else "supervised"
        extra = list(extra) + (["--label-fraction", str(fraction)] if fraction < 1.0 else [])
        if init_from:   # the head trains alone for one epoch before the pre-trained encoder moves
            extra += ["--encoder-warmup-epochs", "1"]
        return self.train(name, stage, init_from=init_from, epochs=epochs, patience=8 if epochs >= MAIN_EPOCHS else 6,
                          seed=seed, extra=extra, data=data)

    # -- steps --------------------------------------------------------------------------------

    def step_data(self):
        if self.args.data:
            if not (self.data / "manifest.json").is_file():
                raise SystemExit(f"error: {self.data}: no manifest.json (not a prepared folder)")
            return
        if not (self.data / "manifest.json").is_file():
            self._run(["-m", "ecgsl_keras.prepare", "--dataset", "cinc2017", "--data-dir", self.args.cinc_dir,
                       "--out", str(self.data), "--workers", "2", "--no-progress"], "prepare")

    def step_autoencoder(self):
        self.train("autoencoder", "autoencoder", data=self.pretrain_data, epochs=4, extra=["--batch-size", "256"])

    def step_masked(self):
        self.train("masked", "masked", data=self.pretrain_data, init_from="autoencoder", epochs=MASKED_EPOCHS)

    def step_diagnostic(self):
        out = self.work / "diagnostic_masked.json"
        if not out.is_file():
            result = self._run(["-m", "ecgsl_keras.bench", "masked", "--model", str(self.work / "masked"),
                                "--data", str(self.data)], "diagnostic")
            out.write_text(json.dumps(result, indent=2))

    def step_main(self):
        self.classifier(f"ecgsl_s{MAIN_SEED}", init_from="masked", epochs=MAIN_EPOCHS, seed=MAIN_SEED)

    def step_supervised(self):
        self.classifier("supervised_s42", epochs=MAIN_EPOCHS)

    def step_curve10(self):
        for seed in self.args.seeds:
            self.classifier(curve_run("ecgsl", 0.1, seed), init_from="masked", fraction=0.1, seed=seed)
            self.classifier(curve_run("supervised", 0.1, seed), fraction=0.1, seed=seed)

    def step_stage1(self):
        self.classifier("stage1_s42", init_from="autoencoder", epochs=MAIN_EPOCHS)

    def step_features(self):
        out = self.work / "features_baseline.json"
        if not out.is_file():
            result = self._run(["-m", "ecgsl_keras.baselines", "features", "--data", str(self.data)], "features")
            out.write_text(json.dumps(result, indent=2))

    def step_seeds(self):
        for seed in self.args.seeds:
            if seed != MAIN_SEED:     # that one is the main step's run
                self.classifier(f"ecgsl_s{seed}", init_from="masked", epochs=MAIN_EPOCHS, seed=seed)

    def step_ensemble(self):
        # A folder like a run's (model.keras, config.json, metrics.json on the validation split).
        out = self.work / "ensemble" / "model.keras"
        members = [self.work / f"ecgsl_s{seed}" for seed in self.args.seeds]
        if not out.is_file() and all(self._finished(m) for m in members):
            self._run(["-m", "ecgsl_keras.ensemble", "--members", *map(str, members), "--out", str(out),
                       "--data", str(self.data), "--split", "validation"], "ensemble")

    def step_meanpool(self):
        self.classifier("meanpool_s42", init_from="masked", extra=["--pooling", "mean"])
        self.classifier("attention_short_s42", init_from="masked")

    def step_curve(self):
        for fraction in FRACTIONS:
            self.classifier(f"curve_ecgsl_f{fraction}", init_from="masked", fraction=fraction)
            self.classifier(f"curve_supervised_f{fraction}", fraction=fraction)

    def step_norr(self):
        # The beats without RR features need their own TFRecords (the RR input is part of the data).
        data = self.work / "data_norr"
        config = self.work / "norr_config.json"
        if not (data / "manifest.json").is_file():
            from ecgsl_keras.config import ExperimentConfig, ModelConfig, SignalConfig

            ExperimentConfig(signal=SignalConfig(rr_features=False), model=ModelConfig(n_rr_features=0)).save(config)
            self._run(["-m", "ecgsl_keras.prepare", "--dataset", "cinc2017", "--data-dir", self.args.cinc_dir,
                       "--out", str(data), "--workers", "2", "--no-progress", "--config", str(config)], "prepare_norr")
        self.classifier("norr_supervised_s42", data=data)
        self.classifier("supervised_short_s42")

    def step_resnet(self):
        data = self.work / "data_raw"
        if not (data / "manifest.json").is_file():
            self._run(["-m", "ecgsl_keras.prepare", "--dataset", "cinc2017", "--data-dir", self.args.cinc_dir,
                       "--out", str(data), "--workers", "2", "--no-progress", "--raw-signal"], "prepare_raw")
        self.classifier("resnet_raw_s42", data=data, extra=["--model", "resnet1d"])


# -- report ------------------------------------------------------------------------------------

def curve_run(side: str, fraction: float, seed: int = MAIN_SEED) -> str:
    """Run name of a label-efficiency point (the main seed keeps the historical name)."""
    return f"curve_{side}_f{fraction}" + ("" if seed == MAIN_SEED else f"_s{seed}")


KEYS = ("macro_f1", "challenge_f1", "accuracy", "auroc", "per_class_f1")


def _metrics(path: Path):
    metrics = path / "metrics.json" if path.is_dir() else path
    if not metrics.is_file():
        return None
    found = json.loads(metrics.read_text())
    found = found.get("metrics", found) if "macro_f1" not in found else found
    row = {k: found.get(k) for k in KEYS}
    config = path / "config.json" if path.is_dir() else None
    if config is not None and config.is_file():
        info = json.loads(config.read_text())
        row.update(epochs=info.get("epochs_completed"), best_epoch=(info.get("best") or {}).get("epoch"),
                   seconds=info.get("seconds"),
                   seconds_per_epoch=round(info["seconds"] / info["epochs_completed"], 1)
                   if info.get("seconds") and info.get("epochs_completed") else None)
    return row


def report(work: Path, seeds, results_dir: Path = HERE, data: Path | None = None,
           pretrain_data: Path | None = None) -> dict:
    import numpy as np

    rows = {p.name: _metrics(p) for p in sorted(work.iterdir()) if p.is_dir() and (p / "metrics.json").is_file()}
    for name in ("features_baseline",):
        path = work / f"{name}.json"
        if path.is_file():
            found = json.loads(path.read_text())
            found = found.get("metrics", found)
            rows[name] = {k: found.get(k) for k in KEYS}
    seed_rows = [rows.get(f"ecgsl_s{s}") for s in seeds]
    summary = {}
    if all(r and r.get("macro_f1") is not None for r in seed_rows) and len(seed_rows) > 1:
        for key in ("macro_f1", "challenge_f1"):
            values = np.array([r[key] for r in seed_rows], float)
            summary[key] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)), "n": len(values)}
    curve = {}
    for side in ("ecgsl", "supervised"):
        for fraction in FRACTIONS:
            row = rows.get(f"curve_{side}_f{fraction}")
            if row and row.get("macro_f1") is not None:
                curve.setdefault(side, {})[str(fraction)] = row["macro_f1"]
    curve_seeds = {}
    for side in ("ecgsl", "supervised"):
        values = [rows[curve_run(side, 0.1, s)]["macro_f1"] for s in seeds
                  if (rows.get(curve_run(side, 0.1, s)) or {}).get("macro_f1") is not None]
        if len(values) > 1:
            curve_seeds[side] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)),
                                 "n": len(values), "values": values}
    data = Path(data) if data else work / "data"
    split = _split_sizes(data)
    diagnostic = None
    if (work / "diagnostic_masked.json").is_file():
        diagnostic = json.loads((work / "diagnostic_masked.json").read_text()).get("spaces")
    result = {"work": str(work), "runs": rows, "ecgsl_seeds": summary, "label_efficiency": curve,
              "label_efficiency_10pct_seeds": curve_seeds, "seeds": list(seeds), "split": split,
              "data": str(data), "pretrain_data": str(pretrain_data or data),
              "diagnostic": diagnostic}
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "results.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if curve:
        _plot_curve(curve, results_dir / "label_efficiency.png", split)
    write_results_markdown(results_dir / "RESULTS.md", markdown(result))
    return result


def _split_sizes(data: Path) -> dict | None:
    """Training and validation record counts of the prepared folder (its manifest), for the report's text."""
    from tfrecords_tools import load_manifest

    if not (Path(data) / "manifest.json").is_file():
        return None
    splits = load_manifest(str(data)).get("splits", {})
    return {name: (info or {}).get("examples") for name, info in splits.items()}


DESCRIPTIONS = {
    "autoencoder": "stage 1: beat autoencoder on the pre-training data (no classification figures)",
    "masked": "stage 2: masked-segment pre-training on the pre-training data (see the diagnostic below)",
    "ecgsl_s42": "ECG-SL: autoencoder -> masked (latent + RR) -> fine-tune, seed 42, main schedule",
    "ecgsl_s43": "ECG-SL, seed 43, main schedule", "ecgsl_s44": "ECG-SL, seed 44, main schedule",
    "ensemble": "ECG-SL, mean of the seeds' probabilities (one Keras model)",
    "supervised_s42": "no pre-training (same classifier from random weights), main schedule",
    "stage1_s42": "stage 1 only (fine-tuned from the autoencoder), main schedule",
    "attention_short_s42": "ECG-SL, attention pooling, short schedule",
    "meanpool_s42": "ECG-SL, mean pooling, short schedule",
    "supervised_short_s42": "no pre-training, with RR features, short schedule",
    "norr_supervised_s42": "no pre-training, no RR features, short schedule",
    "resnet_raw_s42": "1-D ResNet on the continuous raw signal, short schedule",
    "features_baseline": "RR/HRV + beat-morphology statistics, gradient boosting (scikit-learn)",
}


def _fmt(value, digits=3):
    return "" if value is None else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    """RESULTS.md: the tables of ``result`` (written by ``report``; edit the script, not the file)."""
    runs = result["runs"]
    split = result.get("split") or {}
    n_val = f"{split['validation']:,}" if split.get("validation") else "1,365"
    lines = ["# CinC 2017: ECG-SL protocol results", "",
             "Written by `python experiments/cinc2017/run.py` (its `report` step) from the run folders in",
             f"`{result['work']}`; do not edit by hand. Every figure is on the validation split ({n_val}",
             "records: the stratified 20% of the CinC 2017 training records available here, seed 42);",
             "the best epoch of each run was chosen on that same split. 2-core CPU, no GPU.", "",
             f"Labelled data: `{result.get('data')}`; pre-training data (stages 1 and 2, no labels): "
             f"`{result.get('pretrain_data')}`"
             + (" (its training split only)." if result.get("pretrain_data") == result.get("data") else "."), "",
             "| run | what | macro F1 | challenge F1 | F1 N / A / O / ~ | accuracy | epochs (best) | s / epoch |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    order = [name for name in DESCRIPTIONS if name in runs] + sorted(
        name for name in runs if name not in DESCRIPTIONS and not name.startswith("curve_"))
    for name in order:
        row = runs[name] or {}
        per_class = row.get("per_class_f1") or {}
        f1s = " / ".join(_fmt(per_class.get(c), 2) for c in ("N", "A", "O", "~")) if per_class else ""
        epochs = f"{row.get('epochs')} ({row.get('best_epoch')})" if row.get("epochs") else ""
        lines.append(f"| `{name}` | {DESCRIPTIONS.get(name, '')} | {_fmt(row.get('macro_f1'))} | "
                     f"{_fmt(row.get('challenge_f1'))} | {f1s} | {_fmt(row.get('accuracy'))} | {epochs} | "
                     f"{_fmt(row.get('seconds_per_epoch'), 1)} |")
    seeds = result.get("ecgsl_seeds") or {}
    if seeds:
        lines += ["", "ECG-SL over seeds: " + ", ".join(
            f"{k} {v['mean']:.3f} ± {v['sd']:.3f} (n={v['n']})" for k, v in seeds.items())]
    curve = result.get("label_efficiency") or {}
    if curve:
        fractions = sorted({float(f) for side in curve.values() for f in side})
        lines += ["", "## Label efficiency (short schedule, macro F1)", "",
                  "| labels | " + " | ".join(f"{100 * f:g}%" for f in fractions) + " |",
                  "| --- |" + " --- |" * len(fractions)]
        for side, points in curve.items():
            lines.append(f"| {side} | " + " | ".join(_fmt(points.get(str(f))) for f in fractions) + " |")
        tenth = result.get("label_efficiency_10pct_seeds") or {}
        if tenth:
            lines += ["", "At 10% over seeds " + ", ".join(map(str, result.get("seeds") or [])) + ": " + "; ".join(
                f"{side} {v['mean']:.3f} ± {v['sd']:.3f} (n={v['n']}: "
                + " / ".join(f"{x:.3f}" for x in v["values"]) + ")" for side, v in tenth.items()) + "."]
        lines += ["", "![label efficiency](label_efficiency.png)"]
    diagnostic = result.get("diagnostic") or {}
    if diagnostic:
        lines += ["", "## Stage-2 diagnostic (`python -m ecgsl_keras.bench masked`)", "",
                  "| space | masked beats | model | zeros | previous | neighbours mean | record mean | record median "
                  "| margin vs best trivial | neighbour correlation |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for space, values in diagnostic.items():
            e = values["errors"]
            lines.append(f"| {space} | {values['masked_beats']} | {_fmt(e['model'])} | {_fmt(e['zeros'])} | "
                         f"{_fmt(e['previous'])} | {_fmt(e['neighbours_mean'])} | {_fmt(e['record_mean'])} | "
                         f"{_fmt(e['record_median'])} | {_fmt(values.get('margin'))} | "
                         f"{_fmt(values.get('neighbour_correlation'))} |")
    return "\n".join(lines) + "\n"


def _plot_curve(curve: dict, path: Path, split: dict | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    labels = {"ecgsl": "ECG-SL (pre-trained)", "supervised": "same model, no pre-training"}
    for side, points in curve.items():
        xs = sorted(float(f) for f in points)
        ax.plot([100 * x for x in xs], [points[str(x)] for x in xs], marker="o", label=labels[side])
    ax.set_xscale("log")
    ax.set_xticks([5, 10, 25, 50, 100], labels=["5", "10", "25", "50", "100"])
    n_train = f"{split['train']:,}" if (split or {}).get("train") else "5,456"
    ax.set_xlabel(f"training labels used (% of the {n_train} training records)")
    ax.set_ylabel("macro F1, validation split")
    ax.set_title("CinC 2017 label efficiency (short schedule)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cinc-dir", required=True, help="CinC 2017 training2017 folder (REFERENCE.csv)")
    p.add_argument("--work", required=True, help="work folder for data and runs (outside the repository)")
    p.add_argument("--corpus", help="unlabelled pre-training folder from prepare --unlabelled (default: the CinC "
                                    "training split)")
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    p.add_argument("--data", help="a folder already prepared from --cinc-dir (default: WORK/data, prepared by "
                                  "the data step)")
    p.add_argument("--results", default=str(HERE), help="folder for results.json, RESULTS.md and the curve "
                                                        "(default: beside this script)")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    protocol = Protocol(args)
    start = time.perf_counter()
    if not args.report_only:
        for step in args.steps:
            t0 = time.perf_counter()
            getattr(protocol, f"step_{step}")()
            log.info("step %s done in %.0f s", step, time.perf_counter() - t0)
    result = report(protocol.work, args.seeds, Path(args.results), protocol.data, protocol.pretrain_data)
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
