"""Classify one ECG record, or every record of a folder, with a trained model.

    ecgsl predict --model cinc2017 --record data/A00001 [--lead II] [--plot A00001.png]
    ecgsl predict --model cinc2017 --signal ecg.npy --fs 300 [--units uV]
    ecgsl predict --model cinc2017 --signal ecg.csv --fs 500 --column II
    ecgsl predict --model mitdb-beats --record 119.edf
    ecgsl predict --model cinc2017 --data-dir my_records/ --csv predictions.csv [--workers 4] [--recursive]

``--model``: a ``.keras`` file (its run folder's ``config.json`` is read), an export folder, its
``saved_model/`` or one of its ``.tflite`` files, or a pretrained model name. Inputs
(``ecgsl_keras.data.readers``): ``--record`` a WFDB record (with or without ``.hea``) or an EDF file;
``--signal`` a ``.npy`` or ``.csv`` file with its rate ``--fs`` and ``--units`` (default mV), one
column or the one named by ``--column``. The model runs on the lead it was trained on; a record
without that lead is refused, naming both (``--lead NAME`` runs on another lead on purpose, and the
output says so). A single lead without a standard name is accepted.

One record: a short table for people on stderr (the label and what it means, the probability of
each class rounded to 3 places; for per-beat models such as ``mitdb-beats`` the beats per class),
and the JSON result as the last line of stdout (probabilities per label, the label, R-peak times and
attention weight per beat; per-beat models: ``beats`` and ``label_counts``). ``--output record`` /
``--output beats`` insist on one kind of answer.

A folder (``--data-dir`` with ``--csv``): one CSV row per record (``record``, ``prediction``,
``p_<class>``... or beat counts, ``status``, ``reason``; ``ecgsl_keras.serving.folder``); refused
records keep their row and are listed on stderr.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ecgsl_keras.cli import runner
from ecgsl_keras.config import ExperimentConfig


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("predict", __doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--model", required=True, help=".keras file, run or preset folder (its model.keras), export folder, "
                                                   "SavedModel folder, .tflite file or pretrained model name "
                                                   "(ecgsl_keras.store.presets)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--record", help="WFDB record (path with or without .hea) or EDF file (.edf)")
    source.add_argument("--signal", metavar="FILE", help=".npy or .csv file of one lead (needs --fs)")
    source.add_argument("--data-dir", metavar="DIR", help="classify every record of this folder (needs --csv)")
    p.add_argument("--fs", type=float, help="sampling rate of --signal in Hz (and of .npy/.csv files in --data-dir)")
    p.add_argument("--units", help="units of --signal: uV, mV or V (default mV)")
    p.add_argument("--column", help="--signal: the column (CSV header name or index) holding the lead")
    p.add_argument("--lead", help="run on this lead on purpose (default: the lead the model was trained on, else "
                                  "the first)")
    p.add_argument("--csv", metavar="OUT.csv", help="--data-dir: write one row per record here")
    p.add_argument("--workers", type=int, default=1, help="--data-dir: processes reading and preprocessing records")
    p.add_argument("--no-progress", action="store_true", help="--data-dir: no progress bar")
    p.add_argument("--recursive", action="store_true",
                   help="--data-dir: the records of its subfolders too (PTB-XL's records500/00000/...)")
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
    if args.data_dir and not args.csv:
        parser.error("--data-dir needs --csv OUT.csv")
    if args.csv and not args.data_dir:
        parser.error("--csv goes with --data-dir")
    if args.recursive and not args.data_dir:
        parser.error("--recursive goes with --data-dir")
    if args.signal and args.fs is None:
        parser.error(f"--signal {args.signal}: give its sampling rate with --fs HZ")
    if args.record and (args.fs is not None or args.units or args.column):
        parser.error("--fs, --units and --column apply to --signal files; a record states them in its header")
    if args.plot and args.data_dir:
        parser.error("--plot draws one record: use --record or --signal")
    if args.data_dir:      # a folder without records is refused before the model loads (seconds)
        from ecgsl_keras.serving.folder import find_inputs

        find_inputs(args.data_dir, with_signal_files=args.fs is not None, recursive=args.recursive)
    from ecgsl_keras.serving.inference import load_model

    config = ExperimentConfig.load(args.config) if args.config else None
    predictor = load_model(args.model, config=config, task=args.task, num_threads=args.threads,
                           trust=args.trust_model)
    predictor.check_output(args.output)
    if args.data_dir:
        return _run_folder(args, predictor)
    return _run_one(args, predictor)


def _run_folder(args, predictor) -> int:
    from ecgsl_keras.cli import report
    from ecgsl_keras.serving import folder

    rows = folder.predict_folder(predictor, args.data_dir, fs=args.fs, column=args.column, units=args.units,
                                 lead=args.lead, workers=args.workers, progress=not args.no_progress,
                                 recursive=args.recursive)
    path = folder.write_rows(rows, args.csv, folder.columns(predictor))
    report.show(report.folder_lines(rows, path))
    refused = [r for r in rows if r["status"] != folder.STATUS_OK]
    runner.print_result({"data_dir": str(args.data_dir), "csv": str(path), "model": str(args.model),
                         "task": predictor.task.name, "model_lead": predictor.lead, "records": len(rows),
                         "classified": len(rows) - len(refused), "refused": len(refused),
                         "refused_records": {r["record"]: r["reason"] for r in refused}})
    return 0


def _run_one(args, predictor) -> int:
    from ecgsl_keras.cli import report
    from ecgsl_keras.data.readers import read_input
    from ecgsl_keras.evaluation.plot import plot_prediction
    from ecgsl_keras.serving.inference import to_jsonable

    path = args.record or args.signal
    found = read_input(path, fs=args.fs, column=args.column, units=args.units, lead=args.lead,
                       model_lead=predictor.lead)
    if found.overridden:
        logging.getLogger("ecgsl_keras.predict").warning("%s: %s", found.path, found.note)
    result = predictor.predict_signal(found.signal, found.fs, path=found.path, output=args.output)
    name = Path(str(path)).name
    out = {"record": str(path), "lead": found.lead, "model_lead": predictor.lead, "fs": found.fs,
           "duration_s": round(found.signal.size / found.fs, 3), "model": str(args.model), "format": predictor.format,
           "task": predictor.task.name}
    if found.overridden:
        out["lead_override"] = found.note
    task = predictor.task
    if predictor.per_beat:
        names = predictor.label_names
        out.update({"label_names": list(names), "n_beats": result["n_beats"], "n_windows": result["n_windows"],
                    "label_counts": result["label_counts"],
                    "beats": [{"time_s": round(float(t), 3), "label": label,
                               "probabilities": {n: round(float(v), report.DIGITS) for n, v in zip(names, p)}}
                              for t, label, p in zip(result["beat_times_s"], result["beat_labels"],
                                                     result["beat_probabilities"])]})
        # a stacked per-beat model's rules (stacking.json's gate, v_gate, v_pause, v_template, in their order): per
        # beat whether the rule changed it, and the count
        for rule in getattr(getattr(predictor, "stacked", None), "rules", ()):
            if rule.mask_key in result:
                for beat, changed in zip(out["beats"], result[rule.mask_key]):
                    beat[rule.mark] = bool(changed)
                out[f"beats_{rule.mark}"] = sum(beat[rule.mark] for beat in out["beats"])
        report.show(report.beats_lines(task, out) + ([f"note: {found.note}"] if found.overridden else []))
        if args.plot:   # a per-beat model pools nothing: beats coloured by class, no attention bars
            _plot(out, plot_prediction, args.plot, found.signal, found.fs, result, predictor.config.signal,
                  title=f"{name} lead {found.lead or '(unnamed)'}", task=task)
        return _print(out)
    out.update(to_jsonable(result))
    names = predictor.label_names
    # A binary model has one sigmoid output: the probability of the positive (last) label.
    keys = names if len(out["probabilities"]) == len(names) else names[-len(out["probabilities"]):]
    out["probabilities"] = dict(zip(keys, out["probabilities"]))
    if "deep_probabilities" in out:
        out["deep_probabilities"] = dict(zip(keys, out["deep_probabilities"]))
    out["label_meaning"] = report.tasks_lib.label_meaning(task, out["label"])
    report.show(report.record_lines(task, out) + ([f"note: {found.note}"] if found.overridden else []))
    if args.plot:
        _plot(out, plot_prediction, args.plot, found.signal, found.fs, result, predictor.config.signal,
              title=f"{name} lead {found.lead or '(unnamed)'}", task=task)
    return _print(out)


def _plot(out, plot_prediction, *args, **kwargs) -> None:
    """``out["plot"]``, or ``out["plot_error"]`` when the picture cannot be written (the prediction stands)."""
    from ecgsl_keras.errors import WriteError

    try:
        out["plot"] = plot_prediction(*args, **kwargs)
    except WriteError as exc:
        out["plot_error"] = str(exc)


def _print(out) -> int:
    """Print the result (rounded for people); then fail (status 2) if its picture could not be written."""
    from ecgsl_keras.cli import report

    runner.print_result(report.rounded(out))
    return runner.error(out["plot_error"]) if out.get("plot_error") else 0


if __name__ == "__main__":
    sys.exit(main())
