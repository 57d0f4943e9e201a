"""Dispatcher: ``python -m ecgsl_keras.bench {rpeaks,segment,pipeline,inference} [options]``.

Only the module of the subcommand asked for is imported (``ecgsl_keras.bench.<name>``), so a
benchmark that needs TensorFlow does not slow down one that does not, and a subcommand whose
module is not there gives a clear message instead of breaking the others. The result dict is
printed as a table on stderr and as one JSON line, last on stdout.
"""
from __future__ import annotations

import importlib
import logging
import sys

from ecgsl_keras.bench import SUBCOMMANDS, format_table, to_jsonable
from ecgsl_keras.cli import runner

# The benchmarks that load or build Keras models (the others run the numpy signal chain only).
MODEL_SUBCOMMANDS = ("pipeline", "inference", "masked")


def load_subcommand(name: str):
    """The module ``ecgsl_keras.bench.<name>``, or None when it does not exist."""
    module_name = f"{__package__ or 'ecgsl_keras.bench'}.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise  # the module exists but one of its own imports is missing: show that error


def build_parser(chosen=None):
    """The argument parser; only ``chosen``'s module is imported and asked for its arguments."""
    parser = runner.make_parser(
        "bench",
        description="Benchmarks of ecgsl-keras. Each prints a table on stderr and one JSON line on stdout.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level on stderr")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")
    sub.required = True
    module = None
    for name, help_text in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = load_subcommand(name)
            if module is not None:
                module.add_arguments(sub_parser)
    return parser, module


def _chosen(argv):
    # The first argument naming a subcommand (global options such as -v may come before it).
    for arg in argv:
        if arg in SUBCOMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = _chosen(argv)
    module = None

    def parser():
        nonlocal module
        parser, module = build_parser(chosen)
        return parser

    return runner.run(parser, lambda args, _: _run(args, module), argv,
                      level=lambda args: logging.INFO if args.verbose else logging.WARNING,
                      models=lambda args: args.command in MODEL_SUBCOMMANDS)


def _run(args, module) -> int:
    if module is None:
        return runner.error(f"bench {args.command}: not available in this installation "
                            f"(module ecgsl_keras.bench.{args.command} not found)")
    result = module.run(args)
    formatter = getattr(module, "format_table", format_table)
    print(formatter(result), file=sys.stderr)
    runner.print_result(to_jsonable(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
