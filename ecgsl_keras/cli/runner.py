"""The one runner of every ``ecgsl`` command (and of ``python -m ecgsl_keras.bench``).

Each command module has ``build_parser()`` and ``main(argv)``; ``main`` hands both its parser and its
body to :func:`run`, which

- parses the arguments (so ``--help`` and usage errors end before anything heavy is imported: this
  module and every ``build_parser`` import neither TensorFlow nor Keras);
- sets up logging once: stderr, one format;
- imports ``ecgsl_keras.modeling`` (registers the custom Keras objects) for the commands that load
  or build models, since the ``ecgsl`` command imports the package without registering;
- turns the errors a user can cause (:class:`~ecgsl_keras.errors.ECGSLError`,
  ``tfrecords_tools.TFRecordsError``; a file-system refusal: read-only folder, full disk, no
  permission; a TFRecord that fails its checksum) into ``error: <file>: <problem>`` on stderr and
  exit status 2; every other exception keeps its traceback.

:func:`print_result` prints a command's result dict as the JSON last line of stdout.
"""
from __future__ import annotations

import argparse
import ast
import errno
import json
import logging
import sys
from pathlib import Path

from ecgsl_keras import fileio
from ecgsl_keras.errors import ECGSLError

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
USER_ERROR_STATUS = 2
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def user_errors() -> tuple:
    """The exceptions shown as ``error: ...`` with exit status 2."""
    from tfrecords_tools import TFRecordsError  # no TensorFlow import

    return (ECGSLError, TFRecordsError)


# Errors of the file system rather than of the program: a read-only or full output folder, no permission.
STORAGE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG})


def environment_error(exc: BaseException) -> str | None:
    """``<file>: <problem>`` for an exception the user's files or disk caused, else None (a bug: traceback)."""
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        return f"{exc.filename or '<output>'}: {exc.strerror}"
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(exc, tf.errors.DataLossError):   # a TFRecord failing its CRC
        detail = (exc.message or str(exc)).strip().splitlines()[0]
        return (f"{_data_arg() or '<data>'}: a TFRecord file is corrupt ({detail}); "
                "python -m tfrecords_tools verify names the shard")
    return None


_ARGV: list = []


def _data_arg() -> str | None:
    for flag in ("--data", "--representative-data"):
        if flag in _ARGV[:-1]:
            return _ARGV[_ARGV.index(flag) + 1]
    return None


def describe(module: str, fallback: str = "") -> str:
    """First paragraph of ``module``'s docstring (``ecgsl_keras.x.y``), read from its source without importing it."""
    path = _PACKAGE_DIR.joinpath(*module.split(".")[1:]).with_suffix(".py")
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except (OSError, SyntaxError):
        doc = None
    if not doc:
        return fallback
    return " ".join(doc.split("\n\n")[0].split())


def make_parser(command: str, description: str, **kwargs) -> argparse.ArgumentParser:
    """``argparse.ArgumentParser`` with ``prog="ecgsl <command>"``."""
    return argparse.ArgumentParser(prog=f"ecgsl {command}", description=description, **kwargs)


def setup_logging(level=logging.INFO) -> None:
    """Log records on stderr in the one format of the package."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)


def print_result(result) -> None:
    """The JSON last line of stdout (numpy values and paths through ``ecgsl_keras.fileio.jsonable``)."""
    sys.stderr.flush()
    print(json.dumps(result, default=fileio.jsonable), flush=True)


def error(message) -> int:
    """``error: message`` on stderr; returns the exit status of a user error (2)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return USER_ERROR_STATUS


def register_models() -> None:
    """Register the custom Keras objects (imports TensorFlow and Keras)."""
    import ecgsl_keras.modeling  # noqa: F401  (lazy TensorFlow import of the CLI)


def run(build_parser, body, argv=None, *, level=logging.INFO, models=True) -> int:
    """Parse ``argv`` with ``build_parser()``, set up logging, run ``body(args, parser)`` and return the exit status.

    ``level``: the logging level, or a function of the parsed arguments giving it (a ``--verbose`` flag).
    ``models``: register the custom Keras objects before the body runs (bool, or a function of the arguments).
    ``body`` prints its output (the result through :func:`print_result`) and returns None/0 or a status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    setup_logging(level(args) if callable(level) else level)
    try:
        if models(args) if callable(models) else models:
            register_models()
        status = body(args, parser)
    except user_errors() as exc:
        return error(exc)
    except Exception as exc:
        message = environment_error(exc)
        if message is None:
            raise
        return error(message)
    return int(status or 0)
