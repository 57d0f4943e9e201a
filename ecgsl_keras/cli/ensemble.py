"""``ecgsl ensemble`` (and ``python -m ecgsl_keras.ensemble``): the command line of ``ecgsl_keras.training.ensemble_runs``."""
from __future__ import annotations

import argparse
import sys

from ecgsl_keras.cli import runner


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("ensemble", runner.describe("ecgsl_keras.training.ensemble_runs"))
    p.add_argument("--members", nargs="+", required=True, help="run folders, .keras files or preset names")
    p.add_argument("--out", required=True, help="the ensemble .keras (config.json is written beside it)")
    p.add_argument("--data", help="TFRecord folder: evaluate the ensemble on --split, write metrics.json")
    p.add_argument("--split", default="validation")
    p.add_argument("--overwrite", action="store_true")
    return p


def main(argv=None) -> int:
    return runner.run(build_parser, _run, argv)


def _run(args, parser) -> int:
    from ecgsl_keras.training.ensemble_runs import build_from_runs

    summary = build_from_runs(args.members, args.out, data=args.data, split=args.split, overwrite=args.overwrite)
    runner.print_result(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
