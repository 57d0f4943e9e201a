"""``ecgsl tune`` (and ``python -m ecgsl_keras.tune``): the command line of ``ecgsl_keras.training.tune``."""
from __future__ import annotations

import argparse
import sys

from ecgsl_keras.cli import runner
from ecgsl_keras.training.tune import STAGES, TUNERS  # no TensorFlow at import


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("tune", runner.describe("ecgsl_keras.training.tune"))
    p.add_argument("--data", required=True, help="TFRecord folder with train and validation splits")
    p.add_argument("--stage", required=True, choices=STAGES)
    p.add_argument("--init-from", help="finetune: the pre-trained (masked) run; masked: the autoencoder run")
    p.add_argument("--max-trials", type=int, default=10, help="trials in all, resumed ones included (random, bayesian)")
    p.add_argument("--tuner", choices=TUNERS, default="random")
    p.add_argument("--epochs", type=int, help="epochs per trial (hyperband: the most a trial gets)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--config", help="ExperimentConfig JSON the trials start from")
    p.add_argument("--task", help="task name (default: the data's)")
    p.add_argument("--seed", type=int, default=42, help="seed of the oracle and of every trial's training")
    p.add_argument("--overwrite", action="store_true", help="start a new search in --out instead of resuming")
    p.add_argument("--out", required=True, help="search folder (search state, trials/, best_config.json)")
    return p


def main(argv=None) -> int:
    return runner.run(build_parser, _run, argv)


def _run(args, parser) -> int:
    from ecgsl_keras.training.tune import search

    summary = search(args.data, args.out, stage=args.stage, tuner=args.tuner, max_trials=args.max_trials,
                     epochs=args.epochs, init_from=args.init_from, config=args.config, task=args.task,
                     batch_size=args.batch_size, seed=args.seed, overwrite=args.overwrite)
    runner.print_result({k: v for k, v in summary.items() if k != "trials"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
