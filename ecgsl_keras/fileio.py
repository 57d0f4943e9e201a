"""Small file helpers shared by every layer: atomic text and JSON writes, JSON reads with clear errors."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ecgsl_keras.errors import ConfigError


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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
