"""The command line the R-peak look scripts (``*_look.py``) share: one place for their argv and options.

A look reads a data folder (``--data-dir``) and / or a run's cached counts (``--cache-dir``) and writes one JSON
(``--out``); its ``command`` stamp is built from the argv returned here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def look_parser(argv, doc: str, *, data_dir: bool = True, cache_dir: str | None = None) -> tuple:
    """(argv as a list: ``sys.argv[1:]`` when None, a parser described by ``doc``'s first line with ``--data-dir``
    (required, when ``data_dir``), ``--out`` (required) and ``--cache-dir`` (default ``cache_dir``, when given)); a
    look adds its own options to the parser before parsing."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if data_dir:
        parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    if cache_dir is not None:
        parser.add_argument("--cache-dir", default=cache_dir)
    return argv, parser


def parse_look_args(parser, argv):
    """``parser``'s arguments from ``argv``, or None after the error for a ``--data-dir`` that is not a directory
    (printed to stderr; the look then returns 2)."""
    args = parser.parse_args(argv)
    if getattr(args, "data_dir", None) is not None and not Path(args.data_dir).is_dir():
        print(f"error: --data-dir {args.data_dir}: not a directory", file=sys.stderr)
        return None
    return args
