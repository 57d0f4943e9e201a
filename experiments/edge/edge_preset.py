"""The ``cinc2017-edge`` preset (issue 21): ONE classifier for the end-to-end TFLite file, chosen on validation.

    python experiments/edge/edge_preset.py --data /work/runs/cinc2017_prepared --work /tmp/edge_preset \\
        [--publish] > benchmarks/results/edge_preset_choice.json

Candidates: ``--candidates RUN ...`` (finished ECG-SL run folders trained on the TRAINING split of ``--data``:
the shipped choice is among the three seeds of ``experiments/cinc2017/ecgsl_v3.py``), or else the members of the
``--source`` ensemble preset. The members of the earlier v2-label ``cinc2017`` ensemble must not be candidates:
the v3 labels changed the stratified split, so they trained on some of today's validation records. Each is saved as a run folder (its ``model.keras``, the ensemble's
``config.json`` with ``stage: "member"``) and evaluated on the ``validation`` split of the prepared CinC
TFRecords ``--data`` (``evaluation.evaluate.evaluate_model``: record-level metrics, the split the ensemble
was validated on); the one with the highest macro F1 wins. ``--publish`` builds the preset from the
winner's run folder (``training.publish.build``) into ``ecgsl_keras/presets/cinc2017-edge`` with its serving
settings (``SERVING``, the build's ``serving``); ``--rebuild RUN`` builds it from a chosen run, nothing else run.
The preset as shipped since issue 18's rhythm member is that ECG-SL model averaged with the member: built by
``experiments/edge/rhythm_member.py --steps ... publish`` (which takes ``SERVING`` and ``CARD_EXTRA`` from here); a
``--publish`` or ``--rebuild`` here gives the ECG-SL model alone.
Prints one JSON object as the last stdout line; logs to stderr.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("experiments.edge.edge_preset")
NAME = "cinc2017-edge"
DESCRIPTION = ("ECG-SL CinC 2017 rhythm classifier (N, A, O, ~) for the edge: one ECG-SL model (the best of three "
               "seeds on validation, v3 labels); exports end to end (python -m ecgsl_keras.export --model "
               "cinc2017-edge --end-to-end) to one TFLite file; single lead")
# How predict_signal of the preset reads a record, so that it classifies what the end-to-end file classifies
# (issue 21, benchmarks/results/edge_windows.json): records over 30 s in the file's 30 s windows, probabilities
# averaged (TrainConfig.predict_window_s), and R-peaks detected at target_fs (100 Hz) as the graph detects them.
# The model is unchanged: it was trained on beats detected at the records' 300 Hz.
SERVING = {"train": {"predict_window_s": 30.0}, "signal": {"detect_at_native_rate": False}}
CARD_EXTRA = ("Serving settings (above): `predict_signal` reads a record as the end-to-end TFLite file does, a record "
              "over 30 s in the file's 30 s windows with the class probabilities averaged, and R-peaks detected at "
              "100 Hz as in the graph. The model was trained on beats detected at the records' 300 Hz. Agreement "
              "with the file and `predict_signal`'s figures on the validation records: docs/export.md "
              "(benchmarks/results/edge_windows.json).\n")


def publish(run_dir: Path) -> dict:
    """Build ``cinc2017-edge`` from ``run_dir`` (``training.publish.build``) with the serving settings ``SERVING``."""
    import tempfile

    from ecgsl_keras.training import publish as publish_lib

    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / "card_extra.md"
        extra.write_text(CARD_EXTRA, encoding="utf-8")
        return publish_lib.build(run_dir, NAME, DESCRIPTION, card_extra=extra, overwrite=True, serving=SERVING)


def _score(candidates, name, run_dir, model, config, task, data, evaluate_model):
    """Validation metrics of one candidate (``metrics.json`` in a member's own run folder)."""
    from ecgsl_keras.store import runs

    metrics = evaluate_model(model, data, "validation", config, task)
    if name.startswith("member_"):
        metrics["data"] = str(data)
        runs.write_json(Path(run_dir) / runs.METRICS_NAME, metrics)
    candidates[name] = {"macro_f1": metrics["macro_f1"], "accuracy": metrics["accuracy"],
                        "challenge_f1": metrics.get("challenge_f1"), "records": metrics["n"],
                        "parameters": int(model.count_params()), "run": str(run_dir)}
    log.info("%s: %s", name, candidates[name])


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="prepared CinC 2017 TFRecords (with a validation split)")
    parser.add_argument("--work", help="folder for the candidates' run folders")
    parser.add_argument("--source", default="cinc2017", help="the ensemble preset (default cinc2017)")
    parser.add_argument("--candidates", nargs="+", type=Path, help="finished run folders to choose from")
    parser.add_argument("--publish", action="store_true", help="build the preset from the winner")
    parser.add_argument("--rebuild", type=Path, metavar="RUN",
                        help="only build the preset from this chosen run folder with SERVING (no choice)")
    args = parser.parse_args(argv)
    if args.rebuild:
        meta = publish(args.rebuild)
        print(json.dumps({"preset": NAME, "source_run": meta["source_run"], "serving": meta["serving"],
                          "files": meta["files"]}))
        return 0
    if not args.data or not args.work:
        parser.error("--data and --work are required (unless --rebuild)")

    from ecgsl_keras.evaluation.evaluate import evaluate_model
    from ecgsl_keras.modeling.ensemble import ensemble_members
    from ecgsl_keras.serving.export import load_classifier
    from ecgsl_keras.serving.inference import find_metadata
    from ecgsl_keras.store import runs
    from ecgsl_keras.store.runs import resolve_model_arg

    work = Path(args.work)
    candidates = {}
    if args.candidates:
        import keras

        for run_dir in args.candidates:
            config, task, _ = find_metadata(run_dir / runs.MODEL_NAME)
            member = keras.models.load_model(run_dir / runs.MODEL_NAME, compile=False)
            _score(candidates, run_dir.name, run_dir, member, config, task, args.data, evaluate_model)
    else:
        source = resolve_model_arg(args.source)
        config, task, _ = find_metadata(source)
        info = runs.read_json(source.parent / runs.CONFIG_NAME)
        for i, member in enumerate(ensemble_members(load_classifier(source))):
            run_dir = work / f"member_{i}"
            run_dir.mkdir(parents=True, exist_ok=True)
            member.save(run_dir / runs.MODEL_NAME)
            member_info = {key: value for key, value in info.items() if key not in ("members", "preset", "source_run")}
            member_info.update(stage="member", model_kind="ecgsl", status=runs.STATUS_FINISHED,
                               source=f"member {i} of the {args.source} preset ({(info.get('members') or ['?'] * 3)[i]})")
            runs.write_json(run_dir / runs.CONFIG_NAME, member_info)
            _score(candidates, f"member_{i}", run_dir, member, config, task, args.data, evaluate_model)
    best = max(candidates, key=lambda name: (candidates[name]["macro_f1"], name))
    result = {"experiment": "edge_preset_choice",
              "source": [str(c) for c in args.candidates] if args.candidates else args.source, "data": str(args.data), "split": "validation",
              "criterion": "highest record-level macro F1", "candidates": candidates, "chosen": best}
    if args.publish:
        meta = publish(Path(candidates[best]["run"]))
        result["preset"] = {"name": NAME, "files": meta["files"], "serving": meta["serving"]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
