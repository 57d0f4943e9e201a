"""``ecgsl tune`` (and ``python -m ecgsl_keras.tune``): the command line of ``ecgsl_keras.training.tune``."""
from __future__ import annotations


import argparse
import json
import logging
import sys

from ecgsl_keras import fileio
from ecgsl_keras.store import runs
from ecgsl_keras.errors import ECGSLError

from ecgsl_keras.training.tune import STAGES, TUNERS, search


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ecgsl_keras.tune", description=__doc__.split("\n\n")[0])
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
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        summary = search(args.data, args.out, stage=args.stage, tuner=args.tuner, max_trials=args.max_trials,
                         epochs=args.epochs, init_from=args.init_from, config=args.config, task=args.task,
                         batch_size=args.batch_size, seed=args.seed, overwrite=args.overwrite)
    except (ECGSLError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in summary.items() if k != "trials"}, default=fileio.jsonable))
    return 0


if __name__ == "__main__":
    sys.exit(main())
