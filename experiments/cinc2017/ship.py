"""Ship issue 18's best CinC 2017 model as the ``cinc2017`` preset: ECG-SL and the record-features booster,
their class probabilities averaged (``StackedClassifier(combine="average")``).

    python experiments/cinc2017/ship.py --deep /work/runs/v3/ecgsl_s42 /work/runs/v3/ecgsl_s43 \
        --booster /work/runs/hybrid/boosters/features --work /work/runs/ship [--name cinc2017]

    # the CV's choice of the blend step (issue 18): the deep side the mean of ECG-SL and the 1-D ResNet folds
    python experiments/cinc2017/ship.py --deep /work/runs/hybrid/runs/fold_{0,1,2,3,4} \
        --signal-deep /work/runs/hybrid_resnet/runs/fold_{0,1,2,3,4} --booster /work/runs/hybrid/boosters/features \
        --work /work/runs/mixed26/ship --out-root DIR

``--deep``: finished ECG-SL run folders trained on the training split of the prepared CinC folder (one, or several
made one Keras ensemble by ``modeling.ensemble.build_ensemble``); ``--booster``: the saved features-only booster
of ``experiments/cinc2017/hybrid.py`` (trained on the same training split). ``--signal-deep``: finished run folders
of the 1-D ResNet baseline on the continuous signal (``hybrid.py --model resnet1d`` on a ``--raw-signal`` folder),
made one Keras ensemble shipped as ``resnet1d.keras`` beside ``model.keras``: the deep side is then the mean of the
two ensembles' class probabilities (a mixed deep side, ``ecgsl_keras.serving.stacked``), as the ``blend`` step of
``hybrid.py`` averaged them. The deep model and the booster never
trained together, so no out-of-fold scheme is needed. The choice of this row (the probability average) was made
on the validation split (``hybrid_results.json``): its validation figures are optimistic, the shipped model is also
checked on records nobody sees. The preset is built by ``training.publish.build(..., booster=...)``; the last line
of stdout is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("experiments.cinc2017.ship")


def deep_run(runs_in: list[Path], work: Path) -> Path:
    """The one run folder to ship: the run itself, or a run-like folder holding the runs' ensemble."""
    if len(runs_in) == 1:
        return runs_in[0]
    import keras

    import ecgsl_keras  # noqa: F401  (registers the custom layers)
    from ecgsl_keras.modeling.ensemble import build_ensemble

    out = work / "deep_ensemble"
    if (out / "model.keras").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    members = [keras.models.load_model(r / "model.keras", compile=False) for r in runs_in]
    build_ensemble(members, name="ecgsl_ensemble").save(out / "model.keras")
    info = json.loads((runs_in[0] / "config.json").read_text())
    info.update(stage="ensemble", model_kind="ensemble", members=[str(r / "model.keras") for r in runs_in],
                seed=None, best=None, epochs_completed=None)
    (out / "config.json").write_text(json.dumps(info, indent=2) + "\n")
    return out


SIGNAL_MEMBER = "resnet1d.keras"


def signal_ensemble(runs_in: list[Path], work: Path) -> Path:
    """The ResNet runs' models as one Keras ensemble of the (B, samples, 1) signal input, ``WORK/resnet1d.keras``
    (named like the ResNet baseline, so ``evaluate`` reads its raw windows too)."""
    out = work / SIGNAL_MEMBER
    if out.is_file():
        return out
    import keras

    import ecgsl_keras  # noqa: F401
    from ecgsl_keras.evaluation.evaluate import RESNET_MODEL_NAME
    from ecgsl_keras.modeling.ensemble import build_ensemble

    members = [keras.models.load_model(r / "model.keras", compile=False) for r in runs_in]
    tmp = work / (SIGNAL_MEMBER + ".tmp.keras")
    build_ensemble(members, name=RESNET_MODEL_NAME).save(tmp)
    tmp.rename(out)
    return out


def with_metrics(run: Path, metrics_file: Path, work: Path, data_name: str) -> Path:
    """A run-like copy of ``run`` whose ``metrics.json`` is ``evaluate``'s JSON of the SHIPPED combination
    (``evaluate --model PRESET --dataset cinc2017 --records <validation ids>``), so the card states its figures."""
    out = work / "ship_run"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name in ("model.keras", "config.json"):
        shutil.copy2(run / name, out / name)
    metrics = json.loads(metrics_file.read_text())
    metrics.update(split="validation", data=data_name)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return out


def average_booster(features_booster: Path, work: Path, deep_weight: float, mixed: bool = False) -> Path:
    """The features-only booster re-specified as ``combine="average"`` over the deep model's probabilities."""
    from ecgsl_keras.modeling.stacking import StackedClassifier, probability_names

    source = StackedClassifier.load(features_booster)
    clf = StackedClassifier(source.feature_names, probability_names(source.label_names), source.label_names,
                            params=source.params, seed=source.seed, class_weight=source.class_weight,
                            combine="average", deep_weight=deep_weight,
                            deep_source={"kind": "probabilities", "combine": "average",
                                         "model": "the mean of ECG-SL (model.keras) and the 1-D ResNet "
                                                  f"({SIGNAL_MEMBER}) of this preset" if mixed else
                                                  "ECG-SL (model.keras of this preset)"})
    clf.booster = source.booster
    out = work / "average_booster"
    shutil.rmtree(out, ignore_errors=True)
    return clf.save(out)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deep", nargs="+", required=True, type=Path)
    p.add_argument("--signal-deep", nargs="+", default=[], type=Path,
                   help="finished ResNet-baseline run folders on the continuous signal (same training split): their "
                        "ensemble is averaged with the ECG-SL ensemble on the deep side")
    p.add_argument("--booster", required=True, type=Path)
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--name", default="cinc2017")
    p.add_argument("--deep-weight", type=float, default=0.5)
    p.add_argument("--card-extra", type=Path, help="Markdown appended to the model card")
    p.add_argument("--metrics", type=Path, help="evaluate's JSON of the shipped combination on the validation records")
    p.add_argument("--data-name", default="cinc2017_prepared (v3 labels, stratified 80/20, seed 42)",
                   help="how the card names the validation data")
    p.add_argument("--description", default="CinC 2017 rhythm classes (N, A, O, ~), one lead: the mean of ECG-SL's and a "
                                            "record-features LightGBM booster's class probabilities")
    p.add_argument("--out-root", help="presets folder (default: the package's)")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    from ecgsl_keras.training.publish import build

    run = deep_run([r.resolve() for r in args.deep], args.work)
    if args.metrics:
        run = with_metrics(run, args.metrics, args.work, args.data_name)
    signal = [signal_ensemble([r.resolve() for r in args.signal_deep], args.work)] if args.signal_deep else []
    booster = average_booster(args.booster, args.work, args.deep_weight, mixed=bool(signal))
    meta = build(run, args.name, args.description, card_extra=args.card_extra, overwrite=True, root=args.out_root,
                 booster=booster, signal_members=signal)
    print(json.dumps({"preset": args.name, "deep": [str(r) for r in args.deep],
                      "signal_deep": [str(r) for r in args.signal_deep], "files": meta["files"],
                      "parameters": meta.get("parameters"), "stacking": meta.get("stacking")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
