"""``ecgsl train`` (and ``python -m ecgsl_keras.train``): the command line of ``ecgsl_keras.training.trainer``."""
from __future__ import annotations

import argparse
import sys

from ecgsl_keras.cli import runner
from ecgsl_keras.training import strategy as strategy_lib  # no TensorFlow at import
from ecgsl_keras.training.stages import MODELS, STAGES  # the registry; no TensorFlow at import


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("train", runner.describe("ecgsl_keras.training.trainer"))
    p.add_argument("--stage", required=True, choices=STAGES)
    p.add_argument("--data", required=True, help="TFRecord folder from ecgsl_keras.data.prepare (train/validation splits)")
    p.add_argument("--run-dir", required=True,
                   help="output run folder (run the same command again to resume a killed run)")
    p.add_argument("--task", help="task name (default: the data's, from its manifest)")
    p.add_argument("--init-from", help="previous stage's run folder or .keras (masked: autoencoder; finetune: masked)")
    p.add_argument("--config", help="ExperimentConfig JSON (signal part is taken from the data's manifest)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="per replica (beats for the autoencoder, sequences otherwise)")
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    p.add_argument("--strategy", default="auto", choices=strategy_lib.STRATEGIES)
    p.add_argument("--seed", type=int)
    p.add_argument("--model", default="ecgsl", choices=MODELS, help="ecgsl, or the resnet1d baseline (supervised)")
    p.add_argument("--pooling", choices=("attention", "mean"), help="override ModelConfig.pooling (ablation)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="augment finetune/supervised training batches (TrainConfig.augment, default on)")
    p.add_argument("--label-smoothing", type=float, help="multiclass label smoothing (TrainConfig.label_smoothing)")
    p.add_argument("--label-fraction", type=float,
                   help="finetune/supervised on this fraction of the training records (TrainConfig.label_fraction)")
    p.add_argument("--encoder-lr-multiplier", type=float,
                   help="finetune: learning-rate factor of the pre-trained temporal encoder")
    p.add_argument("--encoder-warmup-epochs", type=int,
                   help="finetune: epochs with the temporal encoder frozen before it trains")
    p.add_argument("--focal-gamma", type=float,
                   help="multiclass / per-beat: focal loss with this gamma instead of cross-entropy (0 = off)")
    p.add_argument("--class-weights", action=argparse.BooleanOptionalAction, default=None,
                   help="balanced class weights as sample weights (TrainConfig.class_weights, default on)")
    p.add_argument("--adapt-signal", action="store_true",
                   help="--init-from a model whose beats were cut with another signal config (e.g. R-peaks found at "
                        "another rate): train it on the data's beats instead of refusing; the differing fields go "
                        "to config.json (signal_adapted)")
    p.add_argument("--start-from", help="autoencoder / masked: warm start from this run folder, .keras or preset "
                   "(weights by layer name, zero kernels for extra beat channels; masked keeps its --init-from "
                   "encoder and target statistics); off by default")
    p.add_argument("--overwrite", action="store_true", help="replace the content of an existing --run-dir")
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2), help="Keras fit verbosity (on stderr)")
    return p


def options(args, argv=None):
    """The ``TrainOptions`` of parsed command-line ``args`` (the one place flags become options)."""
    from ecgsl_keras.training.trainer import TrainOptions

    return TrainOptions(task=args.task, init_from=args.init_from, config=args.config, epochs=args.epochs,
                        batch_size=args.batch_size, strategy=args.strategy, seed=args.seed, model=args.model,
                        pooling=args.pooling, learning_rate=args.learning_rate,
                        early_stopping_patience=args.patience, augment=args.augment,
                        label_smoothing=args.label_smoothing, encoder_lr_multiplier=args.encoder_lr_multiplier,
                        label_fraction=args.label_fraction, focal_gamma=args.focal_gamma,
                        use_class_weights=args.class_weights, encoder_warmup_epochs=args.encoder_warmup_epochs,
                        adapt_signal=args.adapt_signal, start_from=args.start_from,
                        overwrite=args.overwrite, verbose=args.verbose,
                        command=["python", "-m", "ecgsl_keras.train"]
                        + list(argv if argv is not None else sys.argv[1:]))


def main(argv=None) -> int:
    return runner.run(build_parser, lambda args, parser: _run(args, argv), argv)


def _run(args, argv) -> int:
    from ecgsl_keras.training.trainer import train

    runner.print_result(train(args.stage, args.data, args.run_dir, options(args, argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
