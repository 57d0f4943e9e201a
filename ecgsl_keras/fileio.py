"""Small file helpers shared by every layer: atomic text and JSON writes, JSON reads with clear errors."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ecgsl_keras.errors import ConfigError


FILE_MODE, DIR_MODE = 0o644, 0o755   # what the package writes: readable by everyone (less the umask)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE & ~_umask())   # mkstemp makes 0600: a written file is readable as open() makes it
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
