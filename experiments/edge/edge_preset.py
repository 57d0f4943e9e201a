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
winner's run folder (``training.publish.build``) into ``ecgsl_keras/presets/cinc2017-edge``, then sets its
serving settings (``SERVING``; ``--serving-only`` sets them on the preset as it is, nothing else run).
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
SERVING_NOTE = ("\n## Serving settings\n\n`predict_signal` reads a record as the end-to-end TFLite file does: a record "
                "over 30 s in the file's 30 s windows, class probabilities averaged (`train.predict_window_s`), and "
                "R-peaks detected at 100 Hz (`signal.detect_at_native_rate` false). The model was trained on beats "
                "detected at the records' 300 Hz (`detect_at_native_rate` true); the validation figures above are "
                "those of training. See docs/export.md.\n")


def apply_serving(folder: Path) -> dict:
    """Write ``SERVING`` into the preset's ``config.json`` and ``signal_config.json`` (the signal config
    ``predict_signal`` uses), and their SHA-256 and sizes into ``metadata.json`` and the card."""
    import re

    from ecgsl_keras.config import ExperimentConfig
    from ecgsl_keras.store import presets, runs

    info = runs.read_json(folder / runs.CONFIG_NAME)
    experiment = info["experiment_config"]
    for section, values in SERVING.items():
        experiment[section].update(values)
    config = ExperimentConfig.from_dict(experiment)            # validates
    info["experiment_config"] = config.to_dict()
    runs.write_json(folder / runs.CONFIG_NAME, info)
    config.signal.save(folder / presets.SIGNAL_CONFIG_NAME)
    meta = runs.read_json(folder / presets.METADATA_NAME)
    card = (folder / presets.CARD_NAME).read_text(encoding="utf-8")
    for name in (runs.CONFIG_NAME, presets.SIGNAL_CONFIG_NAME):
        entry = {"sha256": presets.sha256_file(folder / name), "size": (folder / name).stat().st_size}
        meta["files"][name] = entry
        card = re.sub(rf"^\| {re.escape(name)} \| \d+ \| `[0-9a-f]+` \|$",
                      f"| {name} | {entry['size']} | `{entry['sha256']}` |", card, flags=re.M)
    if "## Serving settings" not in card:
        card = card.replace("\n## Intended use", SERVING_NOTE + "\n## Intended use", 1)
    (folder / presets.CARD_NAME).write_text(card, encoding="utf-8")
    meta["files"][presets.CARD_NAME] = {"sha256": presets.sha256_file(folder / presets.CARD_NAME),
                                        "size": (folder / presets.CARD_NAME).stat().st_size}
    runs.write_json(folder / presets.METADATA_NAME, meta)
    return meta


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
    parser.add_argument("--serving-only", action="store_true",
                        help="only set SERVING on the shipped preset (no choice, no build)")
    args = parser.parse_args(argv)
    from ecgsl_keras.store import presets

    if args.serving_only:
        meta = apply_serving(presets.preset_dir(NAME))
        print(json.dumps({"preset": NAME, "serving": SERVING, "files": meta["files"]}))
        return 0
    if not args.data or not args.work:
        parser.error("--data and --work are required (unless --serving-only)")

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
        from ecgsl_keras.training import publish

        publish.build(Path(candidates[best]["run"]), NAME, DESCRIPTION, overwrite=True)
        meta = apply_serving(presets.preset_dir(NAME))
        result["preset"] = {"name": NAME, "files": meta["files"], "serving": SERVING}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
