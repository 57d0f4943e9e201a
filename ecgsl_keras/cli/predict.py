"""Classify one WFDB record with a trained model and print the result as JSON.

    ecgsl predict --model runs/finetune/model.keras --record data/A00001 [--lead II]

``--model``: a ``.keras`` file (its run folder's ``config.json`` is read), an export folder, its
``saved_model/`` or one of its ``.tflite`` files. ``--record``: the record path without extension
(``.hea`` plus its signal file, read with ``wfdb``). The signal is taken in millivolts (other units
in the header are converted), one lead (``--lead``, default the first). The last line of stdout is
the JSON result: probabilities per label, the label, R-peak times and attention weight per beat.
A per-beat model (MIT-BIH AAMI classes, e.g. the ``mitdb-beats`` preset) gives one label per beat
instead: ``beats`` (time in seconds, label, probabilities per label) and ``label_counts``.
``--output record`` / ``--output beats`` insist on one kind: asking a per-beat model for a record
label, or a record-level model for beat labels, is an error that says so.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ecgsl_keras.cli import runner
from ecgsl_keras.config import ExperimentConfig


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("predict", __doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help=".keras file, export folder, SavedModel folder, .tflite file or "
                                                   "pretrained model name (ecgsl_keras.store.presets)")
    p.add_argument("--record", required=True, help="WFDB record path without extension")
    p.add_argument("--lead", help="lead name (default: the record's first lead)")
    p.add_argument("--config", help="ExperimentConfig JSON (default: found beside the model)")
    p.add_argument("--task", help="task name (default: found beside the model)")
    p.add_argument("--threads", type=int, help="LiteRT interpreter threads (.tflite)")
    p.add_argument("--trust-model", action="store_true",
                   help="load a SavedModel or .tflite even if it uses ops outside the inference allow-list "
                        "(ecgsl_keras.serving.trust): only for a model from a source you trust")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the record, its beats and their attention")
    p.add_argument("--output", choices=("record", "beats"),
                   help="insist on one label per record or one per beat (default: what the model gives)")
    return p


def main(argv=None) -> int:
    return runner.run(build_parser, _run, argv, level=logging.WARNING)


def _run(args, parser) -> int:
    from ecgsl_keras.data.readers import read_lead
    from ecgsl_keras.evaluation.plot import plot_prediction
    from ecgsl_keras.serving.inference import load_model, to_jsonable

    config = ExperimentConfig.load(args.config) if args.config else None
    signal, fs, lead = read_lead(args.record, args.lead)
    predictor = load_model(args.model, config=config, task=args.task, num_threads=args.threads,
                           trust=args.trust_model)
    predictor.check_output(args.output)
    result = predictor.predict_signal(signal, fs, path=args.record, output=args.output)
    out = {"record": str(args.record), "lead": lead, "fs": fs, "duration_s": round(signal.size / fs, 3),
           "model": str(args.model), "format": predictor.format, "task": predictor.task.name}
    if predictor.per_beat:
        names = predictor.label_names
        out.update({"label_names": list(names), "n_beats": result["n_beats"], "n_windows": result["n_windows"],
                    "label_counts": result["label_counts"],
                    "beats": [{"time_s": round(float(t), 4), "label": label,
                               "probabilities": {n: round(float(v), 6) for n, v in zip(names, p)}}
                              for t, label, p in zip(result["beat_times_s"], result["beat_labels"],
                                                     result["beat_probabilities"])]})
        if args.plot:   # a per-beat model pools nothing: beats without attention bars
            _plot(out, plot_prediction, args.plot, signal, fs, result, predictor.config.signal,
                  title=f"{Path(args.record).name} lead {lead}: {result['label_counts']}")
        return _print(out)
    out.update(to_jsonable(result))
    names = predictor.label_names
    # A binary model has one sigmoid output: the probability of the positive (last) label.
    keys = names if len(out["probabilities"]) == len(names) else names[-len(out["probabilities"]):]
    out["probabilities"] = dict(zip(keys, out["probabilities"]))
    if args.plot:
        _plot(out, plot_prediction, args.plot, signal, fs, result, predictor.config.signal,
              title=f"{Path(args.record).name} lead {lead}: {out['label']}")
    return _print(out)


def _plot(out, plot_prediction, *args, **kwargs) -> None:
    """``out["plot"]``, or ``out["plot_error"]`` when the picture cannot be written (the prediction stands)."""
    from ecgsl_keras.errors import WriteError

    try:
        out["plot"] = plot_prediction(*args, **kwargs)
    except WriteError as exc:
        out["plot_error"] = str(exc)


def _print(out) -> int:
    """Print the result; then fail (status 2) if its picture could not be written."""
    runner.print_result(out)
    return runner.error(out["plot_error"]) if out.get("plot_error") else 0


if __name__ == "__main__":
    sys.exit(main())
