"""``ecgsl prepare`` (and ``python -m ecgsl_keras.prepare``): the command line of ``ecgsl_keras.data.prepare``."""
from __future__ import annotations

import argparse
import dataclasses
import sys

from ecgsl_keras.cli import runner
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.data import rpeak_points
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.data.prepare import CORPUS_VALIDATION_FRACTION, CORPUS_WINDOW_S  # no TensorFlow at import


def build_parser() -> argparse.ArgumentParser:
    from ecgsl_keras.data.datasets import DATASETS

    p = runner.make_parser("prepare", runner.describe("ecgsl_keras.data.prepare"))
    p.add_argument("--dataset", help=f"data set ({', '.join(sorted(DATASETS))}); with --unlabelled a comma-separated "
                                     "list (cinc2017,mitdb,ptbxl,wfdb)")
    p.add_argument("--data-dir", nargs="+", help="folder of the data set's PhysioNet files; with several data sets "
                                                 "one NAME=PATH each (cinc2017=PATH mitdb=PATH ...)")
    p.add_argument("--unlabelled", action="store_true",
                   help="one unlabelled pre-training folder from every --dataset: each lead of each record a "
                        "single-lead example, long records cut into --window-s windows; the CinC 2017 "
                        "validation split and PTB-XL folds 9-10 left out")
    p.add_argument("--corpus", help="JSON file of the unlabelled corpus: {\"sources\": [{\"dataset\", \"data_dir\", "
                                    "\"name\"?, \"options\"?, \"window_s\"?}], \"window_s\"?, "
                                    "\"validation_fraction\"?} (implies --unlabelled; replaces --dataset/--data-dir)")
    p.add_argument("--window-s", type=float, default=CORPUS_WINDOW_S,
                   help=f"--unlabelled: window length in seconds (default {CORPUS_WINDOW_S:g})")
    p.add_argument("--validation-fraction", type=float, default=CORPUS_VALIDATION_FRACTION,
                   help=f"--unlabelled: records of each source in the validation split (default "
                        f"{CORPUS_VALIDATION_FRACTION:g})")
    p.add_argument("--out", required=True, help="output folder for shards and manifest.json")
    p.add_argument("--config", help="ExperimentConfig JSON (signal parameters are used here)")
    p.add_argument("--rpeak-point", metavar="NAME",
                   help="cut the beats with a named R-peak detector point (ecgsl_keras.data.rpeak_points: default, "
                        "mitdb-d1); its fields replace --config's signal fields, and the manifest records the result. "
                        "A model trained on these beats keeps this detector; the shipped presets use 'default'")
    p.add_argument("--split", default="default", choices=["default", "all"],
                   help="default: the data set's standard split; all: every record in 'train' (pre-training)")
    p.add_argument("--workers", type=int, default=1, help="processes reading and segmenting records")
    p.add_argument("--overwrite", action="store_true", help="replace the shards of a non-empty --out")
    p.add_argument("--limit", type=int, help="only the first N records (smoke runs)")
    p.add_argument("--records", nargs="+", help="only these record ids")
    p.add_argument("--lead", help="lead name (MIT-BIH default MLII, PTB-XL default II)")
    p.add_argument("--rate", type=int, choices=[100, 500], help="PTB-XL: records100 or records500")
    p.add_argument("--labels-csv", help="generic WFDB folder: CSV of record,label")
    p.add_argument("--gzip", action="store_true", help="GZIP-compress the shards")
    p.add_argument("--shard-size-mb", type=float, default=64.0)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--runner", choices=("pool", "beam"), default="pool",
                   help="pool: a local process pool (--workers); beam: an Apache Beam pipeline "
                        "(pip install -e \".[beam]\"), its options after a lone -- (default: DirectRunner in "
                        "one process), e.g. -- --runner=DirectRunner --direct_num_workers=2 "
                        "--direct_running_mode=multi_processing")
    p.add_argument("--raw-signal", action="store_true",
                   help="also store each example's continuous 100 Hz signal (the resnet1d baseline reads it)")
    p.add_argument("--record-features", action="store_true",
                   help="also store each record's features (ecgsl_keras.data.record_features; the hybrid "
                        "classifier's second input, train --stage hybrid)")
    return p


def _main_corpus(args, datasets, config) -> int:
    """``main`` for ``--unlabelled`` / ``--corpus``: reader options of the flags go to a single source."""
    from ecgsl_keras.data.prepare import load_corpus_file, parse_source_specs, prepare_corpus

    window_s, fraction = args.window_s, args.validation_fraction
    if args.corpus is not None:
        spec = load_corpus_file(args.corpus)
        sources = spec["sources"]
        window_s = spec.get("window_s", window_s)
        fraction = spec.get("validation_fraction", fraction)
    else:
        sources = parse_source_specs(datasets, args.data_dir)
    flags = {k: v for k, v in (("lead", args.lead), ("rate", args.rate), ("labels_csv", args.labels_csv),
                               ("records", args.records)) if v}
    if flags:
        if len(sources) != 1:
            raise ConfigError(f"--{sorted(flags)[0].replace('_', '-')} applies to one data set; give per-source "
                              "options in a --corpus file")
        sources[0]["options"] = {**sources[0].get("options", {}), **flags}
    summary = prepare_corpus(sources, args.out, config, workers=args.workers, overwrite=args.overwrite,
                             window_s=window_s, validation_fraction=fraction, limit=args.limit,
                             compression="GZIP" if args.gzip else None,
                             shard_size_bytes=int(args.shard_size_mb * (1 << 20)), progress=not args.no_progress)
    for name, figures in summary["sources"].items():
        print(f"{name}: {figures['records_used']} records used ({figures['records_excluded']} excluded, "
              f"{figures['records_skipped']} skipped), {figures['examples']} examples, {figures['beats']} beats",
              file=sys.stderr)
    runner.print_result(summary)
    return 0


def _with_rpeak_point(config, name):
    """``config`` with the R-peak point ``name``'s fields in its signal section. ``preprocess`` detects at the
    record's rate, so a point measured at another rate (``detect_rate_hz``) is refused: its beats would come from a
    detector nobody measured."""
    point = rpeak_points.get(name)
    if point.detect_rate_hz is not None:
        raise ConfigError("<command line>", "bad_config",
                          f"--rpeak-point {name} was measured with the whole detector run at {point.detect_rate_hz:g} "
                          "Hz; prepare detects at the record's rate (known points for prepare: "
                          f"{', '.join(n for n in rpeak_points.names() if rpeak_points.get(n).detect_rate_hz is None)})")
    return dataclasses.replace(config, signal=point.config(config.signal))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    return runner.run(build_parser, lambda args, parser: _run(args, parser, beam_args), argv, models=False)


def _run(args, parser, beam_args) -> int:
    if beam_args and args.runner != "beam":
        parser.error("options after -- go to Apache Beam: add --runner beam")
    if args.corpus is None and (not args.dataset or not args.data_dir):
        parser.error("--dataset and --data-dir are required (or --corpus FILE)")
    if args.corpus is not None and (args.dataset or args.data_dir):
        parser.error("--corpus replaces --dataset and --data-dir: give one or the other")
    datasets = [d.strip() for d in (args.dataset or "").split(",") if d.strip()]
    if args.corpus is None and not args.unlabelled and (len(datasets) != 1 or len(args.data_dir) != 1):
        parser.error("several data sets or folders go into one folder only with --unlabelled (pre-training)")
    config = ExperimentConfig.load(args.config) if args.config else ExperimentConfig()
    if args.rpeak_point is not None:
        config = _with_rpeak_point(config, args.rpeak_point)
    if args.corpus is not None or args.unlabelled:
        if args.raw_signal:
            parser.error("--raw-signal is for labelled data sets, not --unlabelled / --corpus")
        if args.record_features:
            parser.error("--record-features is for labelled data sets, not --unlabelled / --corpus")
        return _main_corpus(args, datasets, config)
    reader_kwargs = {}
    if args.lead:
        reader_kwargs["lead"] = args.lead
    if args.rate:
        reader_kwargs["rate"] = args.rate
    if args.labels_csv:
        reader_kwargs["labels_csv"] = args.labels_csv
    if args.runner == "beam":
        if args.record_features:
            parser.error("--record-features needs --runner pool (the Beam runner does not compute them yet)")
        from ecgsl_keras.data.prepare_beam import prepare_beam

        summary = prepare_beam(datasets[0], args.data_dir[0], args.out, config, split=args.split,
                               overwrite=args.overwrite, limit=args.limit, records=args.records,
                               compression="GZIP" if args.gzip else None,
                               shard_size_bytes=int(args.shard_size_mb * (1 << 20)), reader_kwargs=reader_kwargs,
                               raw_signal=args.raw_signal, beam_args=beam_args)
    else:
        from ecgsl_keras.data.prepare import prepare

        summary = prepare(datasets[0], args.data_dir[0], args.out, config, split=args.split,
                          workers=args.workers, overwrite=args.overwrite, limit=args.limit, records=args.records,
                          compression="GZIP" if args.gzip else None,
                          shard_size_bytes=int(args.shard_size_mb * (1 << 20)), reader_kwargs=reader_kwargs,
                          progress=not args.no_progress, raw_signal=args.raw_signal,
                          **({"record_features": True} if args.record_features else {}))
    print(f"prepared {summary['records_written']} records ({summary['beats']} beats) in {summary['seconds']} s; "
          f"skipped {summary['skipped']} {summary['skipped_by_reason']}", file=sys.stderr)
    runner.print_result(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
