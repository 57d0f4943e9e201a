"""Loading a ``.keras`` file: the one place that turns Keras' many failure types into ``ConfigError``.

Keras reads ``.keras`` archives in safe mode (no Lambda bytecode; only registered classes), so a
file cannot run code while loading. What it does not do is say clearly what is wrong: a truncated
archive gives "File not found", a bad CRC a ``BadZipFile``, a config naming ``os.system`` a
``TypeError``. :func:`load_keras_model` checks the archive first (a zip whose members pass their
CRC) and names the file and the problem for every failure.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from ecgsl_keras.errors import ConfigError


def check_keras_archive(path) -> Path:
    """``path`` as a Path if it is a complete ``.keras`` zip archive, else ``ConfigError`` naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "missing_file", "model file not found")
    if path.suffix != ".keras":
        return path   # other formats (.h5 weights) are Keras' own business
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()   # reads every member and checks its CRC
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ConfigError(path, "bad_model", f"not a complete .keras archive ({path.stat().st_size} bytes: "
                                             f"truncated or damaged; {exc})") from None
    if broken is not None:
        raise ConfigError(path, "bad_model", f"damaged .keras archive: member {broken!r} fails its CRC check")
    return path


def load_keras_model(path, compile: bool = False):
    """``keras.models.load_model(path, compile=compile)`` (safe mode) with the archive checked first and
    every failure a ``ConfigError(path, "bad_model", ...)``."""
    import keras

    import ecgsl_keras.modeling  # noqa: F401  (registers the custom objects)

    path = check_keras_archive(path)
    try:
        return keras.models.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # zip, h5 and deserialisation errors of many types (TypeError, KeyError, ...)
        raise ConfigError(path, "bad_model", f"cannot load the Keras model ({type(exc).__name__}: "
                                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
