"""The command line the R-peak look scripts (``*_look.py``) share: one place for their argv and options.

A look reads a data folder (``--data-dir``) and / or a run's cached counts (``--cache-dir``) and writes one JSON
(``--out``); its ``command`` stamp is built from the argv returned here.
"""
from __future__ import annotations

import argparse
import sys


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
