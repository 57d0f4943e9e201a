"""``ecgsl quickstart`` (and ``python -m ecgsl_keras.quickstart``): the command line of ``ecgsl_keras.training.quickstart``."""
from __future__ import annotations


import argparse
import json
import logging
import sys

from ecgsl_keras import fileio
from ecgsl_keras.store import runs
from ecgsl_keras.config import ExperimentConfig, QuickstartConfig
from ecgsl_keras.errors import ECGSLError

from ecgsl_keras.training.quickstart import DEFAULT_RUN_DIR, format_table, quickstart


def build_parser() -> argparse.ArgumentParser:
    defaults = QuickstartConfig()
    p = argparse.ArgumentParser(prog="python -m ecgsl_keras.quickstart", description=__doc__.split("\n\n")[0])
    p.add_argument("--run-dir", default=str(DEFAULT_RUN_DIR), help=f"output folder (default {DEFAULT_RUN_DIR})")
    p.add_argument("--data-dir", help="CinC 2017 folder (training2017: .mat/.hea + REFERENCE.csv); "
                                      "default: the 64-record sample inside the package")
    p.add_argument("--epochs", type=int, help="epochs of every stage (overrides the three below)")
    p.add_argument("--autoencoder-epochs", type=int, default=defaults.autoencoder_epochs)
    p.add_argument("--masked-epochs", type=int, default=defaults.masked_epochs)
    p.add_argument("--finetune-epochs", type=int, default=defaults.finetune_epochs)
    p.add_argument("--config", help="ExperimentConfig JSON")
    p.add_argument("--workers", type=int, help="prepare processes (default 1 for the sample, all CPUs otherwise)")
    p.add_argument("--strategy", default="auto", choices=("auto", "mirrored", "onedevice"))
    p.add_argument("--overwrite", action="store_true", help="reuse a non-empty --run-dir (its content is deleted)")
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2), help="Keras fit verbosity (stderr)")
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    quick = QuickstartConfig(
        autoencoder_epochs=args.epochs or args.autoencoder_epochs, masked_epochs=args.epochs or args.masked_epochs,
        finetune_epochs=args.epochs or args.finetune_epochs)
    try:
        config = ExperimentConfig.load(args.config) if args.config else None
        summary = quickstart(args.run_dir, args.data_dir, overwrite=args.overwrite, workers=args.workers, quick=quick,
                             config=config, strategy=args.strategy, verbose=args.verbose)
    except (ECGSLError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_table(summary))
    print(json.dumps(summary, default=fileio.jsonable))
    return 0


if __name__ == "__main__":
    sys.exit(main())
