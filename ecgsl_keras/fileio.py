"""Small file helpers shared by every layer: atomic writes of any file, JSON reads with clear errors.

Every file the package writes (models, checkpoints, run JSON, plots, exports) goes through
:func:`atomic_path`: it is written under a temporary name in its own folder and renamed over the
target only once complete, so a kill, a full disk or a read-only folder leaves the old file or none,
never a truncated one. A write that fails raises ``WriteError`` naming the file.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ecgsl_keras.errors import ConfigError, WriteError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in ``path``'s folder (same suffix: Keras picks the format from it); when
    the block ends without error, rename it to ``path``. On error the temporary file is removed and an
    ``OSError`` becomes ``WriteError(path, ...)``. The file gets the usual mode (0666 less the umask),
    not ``mkstemp``'s 0600."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{''.join(path.suffixes)}")
        os.close(fd)
    except OSError as exc:
        raise WriteError(path, f"cannot write here ({exc.strerror or exc})") from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise WriteError(path, f"cannot write ({exc.strerror or exc}); the previous file, if any, is kept") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


FILE_MODE, DIR_MODE = 0o644, 0o755   # what the package writes: readable by everyone (less the umask)


def make_readable(folder) -> None:
    """Folders 0755 and files 0644 (less the umask) under ``folder``, itself included: for folders
    built with ``tempfile.mkdtemp`` (0700) and moved into place (exports)."""
    mask = _umask()
    folder = Path(folder)
    os.chmod(folder, DIR_MODE & ~mask)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), DIR_MODE & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), FILE_MODE & ~mask)


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def copy_atomic(source, path) -> None:
    """Copy ``source`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)


def write_json(path, values) -> None:
    """Atomic JSON write (indented, keys sorted)."""
    write_text_atomic(path, json.dumps(values, indent=2, sort_keys=True, default=jsonable) + "\n")


def jsonable(value):
    """``json.dumps(default=...)``: numpy scalars and arrays, paths."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "missing_file", "file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(path, "bad_config", f"not valid JSON ({exc})") from None
