"""``ecgsl ensemble`` (and ``python -m ecgsl_keras.ensemble``): the command line of ``ecgsl_keras.training.ensemble_runs``."""
from __future__ import annotations


import argparse
import json
import logging
import sys

from ecgsl_keras.errors import ECGSLError

from ecgsl_keras.training.ensemble_runs import build_from_runs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ecgsl_keras.ensemble", description=__doc__.split("\n\n")[0])
    p.add_argument("--members", nargs="+", required=True, help="run folders, .keras files or preset names")
    p.add_argument("--out", required=True, help="the ensemble .keras (config.json is written beside it)")
    p.add_argument("--data", help="TFRecord folder: evaluate the ensemble on --split, write metrics.json")
    p.add_argument("--split", default="validation")
    p.add_argument("--overwrite", action="store_true")
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        summary = build_from_runs(args.members, args.out, data=args.data, split=args.split, overwrite=args.overwrite)
    except (ECGSLError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
