"""``ecgsl``: one command for every tool of the package.

    ecgsl prepare|train|evaluate|predict|rpeaks|export|explain|plot|tune|bench|quickstart|ensemble|presets|baselines ...
    ecgsl <command> --help

The command's module is imported only when it runs, and every command runs on ``ecgsl_keras.cli.runner``
(its parser first, TensorFlow only after it), so ``ecgsl --help`` and ``ecgsl <command> --help`` start
without TensorFlow.
"""
from __future__ import annotations

import importlib
import sys

# command -> (module with main(argv), one-line summary). The one list of commands.
COMMANDS = {
    "prepare": ("ecgsl_keras.cli.prepare", "records -> sharded TFRecords of beat sequences"),
    "train": ("ecgsl_keras.cli.train", "train one stage (autoencoder, masked, finetune, supervised)"),
    "evaluate": ("ecgsl_keras.cli.evaluate", "metrics of a model on TFRecords or raw records"),
    "predict": ("ecgsl_keras.cli.predict", "classify one record"),
    "rpeaks": ("ecgsl_keras.cli.rpeaks", "R-peaks of one record with a named detector point (CSV or JSON; scored)"),
    "export": ("ecgsl_keras.cli.export", "SavedModel and TFLite export (also the end-to-end edge file)"),
    "explain": ("ecgsl_keras.cli.explain", "saliency maps of a record"),
    "plot": ("ecgsl_keras.cli.plot", "training curves of a run"),
    "tune": ("ecgsl_keras.cli.tune", "hyper-parameter search (keras-tuner)"),
    "bench": ("ecgsl_keras.bench.__main__", "benchmarks (speed, R-peaks, masked predictors)"),
    "quickstart": ("ecgsl_keras.cli.quickstart", "the whole method on the embedded CinC 2017 sample"),
    "ensemble": ("ecgsl_keras.cli.ensemble", "a seed ensemble from run folders"),
    "presets": ("ecgsl_keras.cli.presets", "list or build pretrained presets"),
    "baselines": ("ecgsl_keras.cli.baselines", "the hand-made-feature gradient-boosting baseline"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: ecgsl <command> [options]   (ecgsl <command> --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def run_command(name: str, argv) -> int:
    """Run command ``name`` with ``argv`` (its own arguments); returns the exit status."""
    module = importlib.import_module(COMMANDS[name][0])
    status = module.main(list(argv))
    return int(status or 0)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from ecgsl_keras._version import __version__

        print(f"ecgsl {__version__}")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(usage(), file=sys.stderr)
        print(f"\nerror: unknown command {name!r}", file=sys.stderr)
        return 2
    return run_command(name, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
