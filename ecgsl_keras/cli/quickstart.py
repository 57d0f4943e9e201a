"""``ecgsl quickstart`` (and ``python -m ecgsl_keras.quickstart``): the command line of ``ecgsl_keras.training.quickstart``."""
from __future__ import annotations

import argparse
import sys

from ecgsl_keras.cli import runner
from ecgsl_keras.config import ExperimentConfig, QuickstartConfig
from ecgsl_keras.training.quickstart import DEFAULT_RUN_DIR  # no TensorFlow at import


def build_parser() -> argparse.ArgumentParser:
    defaults = QuickstartConfig()
    p = runner.make_parser("quickstart", runner.describe("ecgsl_keras.training.quickstart"))
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
    return runner.run(build_parser, _run, argv)


def _run(args, parser) -> int:
    from ecgsl_keras.training.quickstart import format_table, quickstart

    quick = QuickstartConfig(
        autoencoder_epochs=args.epochs or args.autoencoder_epochs, masked_epochs=args.epochs or args.masked_epochs,
        finetune_epochs=args.epochs or args.finetune_epochs)
    config = ExperimentConfig.load(args.config) if args.config else None
    summary = quickstart(args.run_dir, args.data_dir, overwrite=args.overwrite, workers=args.workers, quick=quick,
                         config=config, strategy=args.strategy, verbose=args.verbose)
    print(format_table(summary))
    runner.print_result(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
