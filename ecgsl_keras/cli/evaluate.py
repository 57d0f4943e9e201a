"""``ecgsl evaluate`` (and ``python -m ecgsl_keras.evaluate``): the command line of ``ecgsl_keras.evaluation.evaluate``."""
from __future__ import annotations

import argparse
import sys

from ecgsl_keras.cli import runner


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("evaluate", runner.describe("ecgsl_keras.evaluation.evaluate"))
    p.add_argument("--model", required=True,
                   help=".keras model in a run folder (its config.json is read), the run folder, or a "
                        "pretrained model name (ecgsl_keras.store.presets)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="TFRecord folder from ecgsl_keras.data.prepare")
    source.add_argument("--dataset",
                        help="raw data set name (cinc2017, mitdb, apnea-ecg, ptbxl, wfdb); needs --data-dir")
    p.add_argument("--split", default="validation", help="split of --data to evaluate (default validation)")
    p.add_argument("--data-dir", help="raw data set folder (with --dataset)")
    p.add_argument("--records", nargs="+", help="raw folder: only these record ids")
    p.add_argument("--lead", help="raw folder: run on this lead on purpose (default: the lead the model was trained "
                                  "on; records without it are skipped and counted)")
    p.add_argument("--labels-csv", help="raw generic WFDB folder: CSV of record,label")
    p.add_argument("--batch-size", type=int, help="windows per batch (default: the run's batch size)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--plots", metavar="DIR", help="also write confusion_matrix.png, roc.png and reliability.png here")
    p.add_argument("--predictions", metavar="OUT.csv",
                   help="also write one row per record (per beat for per-beat models: beat_time_s) with its "
                        "label, prediction and p_<class>")
    return p


def main(argv=None) -> int:
    return runner.run(build_parser, _run, argv)


def _run(args, parser) -> int:
    if args.dataset and not args.data_dir:
        parser.error("--dataset needs --data-dir")
    from ecgsl_keras import tasks as tasks_lib
    from ecgsl_keras.cli import report
    from ecgsl_keras.evaluation.evaluate import aami_table, evaluate_raw, evaluate_tfrecords

    if args.data:
        result = evaluate_tfrecords(args.model, args.data, args.split, batch_size=args.batch_size, plots=args.plots,
                                    predictions=args.predictions)
    else:
        reader_kwargs = {k: v for k, v in (("lead", args.lead), ("labels_csv", args.labels_csv)) if v}
        result = evaluate_raw(args.model, args.dataset, args.data_dir, records=args.records,
                              batch_size=args.batch_size, reader_kwargs=reader_kwargs,
                              progress=not args.no_progress, plots=args.plots, predictions=args.predictions)
    if result.get("kind") == tasks_lib.PER_BEAT:
        report.show([aami_table(result)])
    else:
        task = tasks_lib.TASKS.get(result.get("task"))
        report.show(report.evaluation_lines(task, result))
    if result.get("lead_override"):
        report.show([f"note: {result['lead_override']}"])
    runner.print_result(report.rounded(result, report.METRIC_DIGITS))
    if result.get("plot_error"):   # the metrics are printed above; the command still fails
        return runner.error(result["plot_error"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
