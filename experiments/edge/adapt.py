"""The edge model's Python path at the graph's detection rate (issue 21, deliverable 3): agreement and accuracy.

    python experiments/edge/adapt.py --work /work/runs/edge26 [--seeds 42 43 44] [--epochs 8] \\
        [--steps prepare finetune export bench] > experiments/edge/adapt_results.json

The end-to-end file detects R-peaks on its 100 Hz input; the ``cinc2017-edge`` preset's Python path detects
them at the record's rate (``SignalConfig.detect_at_native_rate``), so both cut beats at slightly different
places. This script measures the other way round: the Python path detecting at 100 Hz too, with

* ``native``: the preset as shipped (detects at the record's rate; the reference row);
* ``at100``: the preset's model unchanged, its signal config set to ``detect_at_native_rate: false``;
* ``ft100_sN``: that model fine-tuned on beats cut at 100 Hz (``prepare`` with the same signal config, then
  ``train --stage finetune --init-from cinc2017-edge --adapt-signal``, best epoch on the validation split by
  ``val_macro_f1``, as every fine-tuning run), one per ``--seeds``.

For each: the end-to-end export (``python -m ecgsl_keras.export --end-to-end --tflite float32 int8``) and
``experiments/edge/bench.py --steps cinc`` (class agreement of the files with that candidate's own
``predict_signal``, by record length, and every path's macro F1) on the 1,365 CinC validation records
(v3 labels, ``prepare.assign_splits`` seed 42). Resumable: every step skips what is on disk (a killed
fine-tuning run resumes). Prints one JSON object as the last stdout line; logs to stderr.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from experiments.shared_data import CINC2017  # noqa: E402
log = logging.getLogger("experiments.edge.adapt")
PRESET = "cinc2017-edge"
STEPS = ("prepare", "finetune", "export", "bench")


def _run(argv: list, out: Path) -> None:
    """``python argv`` from the repository root; stdout to ``out``, stderr to ``out`` with ``.log``."""
    log.info("running: python %s", " ".join(argv))
    with open(out, "w") as stdout, open(out.with_suffix(".log"), "w") as stderr:
        subprocess.run([sys.executable] + argv, cwd=REPO, stdout=stdout, stderr=stderr, check=True)


def _config_100hz(work: Path) -> Path:
    """The preset's ExperimentConfig with the R-peaks found at ``target_fs`` (the graph's rate)."""
    from ecgsl_keras import pretrained

    path = work / "config_100hz.json"
    if not path.is_file():
        info = json.loads((pretrained.preset_dir(PRESET) / "config.json").read_text())
        config = info["experiment_config"]
        config["signal"]["detect_at_native_rate"] = False
        path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def _at100_run(work: Path) -> Path:
    """A run folder of the preset's model unchanged, with the 100 Hz detection in its signal config."""
    from ecgsl_keras import pretrained

    folder = work / "at100"
    if (folder / "model.keras").is_file():
        return folder
    tmp = work / "at100.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    source = pretrained.preset_dir(PRESET)
    info = json.loads((source / "config.json").read_text())
    info["experiment_config"]["signal"]["detect_at_native_rate"] = False
    info["note"] = f"the {PRESET} preset's model, its Python path detecting R-peaks at target_fs"
    (tmp / "config.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.copy2(source / "model.keras", tmp / "model.keras")
    tmp.rename(folder)
    return folder


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--seeds", nargs="+", type=int, default=[42])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--learning-rate", type=float, default=3e-4,
                   help="of the fine-tuning runs (cosine decay); another value than the default names them ft100_lrX_sN")
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    args = p.parse_args(argv)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    data = work / "prepared_100hz"

    if "prepare" in args.steps and not (data / "manifest.json").is_file():
        _run(["-m", "ecgsl_keras.prepare", "--dataset", "cinc2017", "--data-dir", args.cinc, "--out", str(data),
              "--config", str(_config_100hz(work)), "--workers", "2", "--no-progress"], work / "prepare.out")
    candidates = {"native": PRESET, "at100": str(_at100_run(work) / "model.keras")}
    tag = "ft100" if args.learning_rate == 3e-4 else f"ft100_lr{args.learning_rate:g}"
    for seed in args.seeds:
        run_dir = work / f"{tag}_s{seed}"
        if "finetune" in args.steps and not (run_dir / "metrics.json").is_file():
            _run(["-m", "ecgsl_keras.train", "--stage", "finetune", "--init-from", PRESET, "--adapt-signal",
                  "--data", str(data), "--run-dir", str(run_dir), "--epochs", str(args.epochs), "--patience", "4",
                  "--learning-rate", str(args.learning_rate), "--encoder-warmup-epochs", "0", "--seed", str(seed),
                  "--verbose", "2"], work / f"{tag}_s{seed}.out")
    for run_dir in sorted(work.glob("ft100*_s*")):   # every finished fine-tuning run, of any --learning-rate
        if (run_dir / "metrics.json").is_file():
            candidates[run_dir.name] = str(run_dir / "model.keras")

    report = {"command": "python experiments/edge/adapt.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "records": "the CinC 2017 validation split (v3 labels, prepare.assign_splits seed 42)",
              "candidates": {}}
    for name, model in candidates.items():
        export, bench = work / f"export_{name}", work / f"bench_{name}"
        if "export" in args.steps and not (export / "model_end_to_end_int8.tflite").is_file():
            _run(["-m", "ecgsl_keras.export", "--model", model, "--out", str(export), "--end-to-end",
                  "--tflite", "float32", "int8", "--overwrite"], work / f"export_{name}.out")
        if "bench" in args.steps and (export / "model_end_to_end_int8.tflite").is_file() \
                and not (bench / "cinc.json").is_file():
            _run(["experiments/edge/bench.py", "--export", str(export), "--model", model, "--cinc", args.cinc,
                  "--work", str(bench), "--steps", "cinc"], work / f"bench_{name}.out")
        if (bench / "cinc.json").is_file():
            cinc = json.loads((bench / "cinc.json").read_text())
            row = {key: cinc[key] for key in ("records", "refused", "macro_f1", "class_agreement_float32",
                                              "class_agreement_int8", "class_agreement_by_length",
                                              "python_peak_agreement_50ms")}
            row["model"] = model
            metrics = Path(model).parent / "metrics.json"
            if metrics.is_file():   # the fine-tuning run's own validation metrics (beats cut at 100 Hz)
                row["training_metrics"] = {key: json.loads(metrics.read_text()).get(key)
                                           for key in ("best", "macro_f1", "challenge_f1")}
            report["candidates"][name] = row
            log.info("%s: agreement int8 %.4f, macro F1 python %.4f / int8 %.4f", name, row["class_agreement_int8"],
                     row["macro_f1"]["python"], row["macro_f1"]["int8"])
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
