"""Shipped pretrained models, loadable by name (in the manner of keras-hub presets).

    import ecgsl_keras.store.presets as pretrained
    pretrained.list_presets()                      # ["cinc2017", "encoder", ...]
    model = pretrained.load("cinc2017")            # keras.Model, files checked against their SHA-256
    pretrained.metadata("cinc2017")["validation"]  # figures and the records they were computed on
    pretrained.signal_config("cinc2017")           # the SignalConfig the model was trained with

Every CLI that takes a model (``evaluate``, ``predict``, ``export --model NAME``, ``train --init-from
NAME``) also takes a preset name: a string with no path separator that is not an existing path.

A preset is a folder ``<root>/<name>/``::

    model.keras          the full Keras model (plain keras.models.load_model after import ecgsl_keras)
    config.json          {"experiment_config", "task", "stage", "model_kind", ...} (a run folder's config.json)
    signal_config.json   the SignalConfig the model was trained with
    thresholds.json      multi-label models: per-class thresholds chosen on validation data
    metadata.json        name, description, version, task, label names, stage, training data, validation
                         metrics (with the records they were computed on), created, package version, and
                         the SHA-256 and size of every other file of the folder
    README.md            the model card
    booster.txt          stacked presets only: the LightGBM booster (its own text format) over record features
    stacking.json        + the deep model's probabilities, and its spec (``ecgsl_keras.modeling.stacking``);
                         ``serving.inference.load_model`` then gives a ``serving.stacked.StackedPredictor``
    <member>.keras       stacked presets with a mixed deep side: other deep models (e.g. ``resnet1d.keras`` on the
                         continuous signal), listed in ``stacking.json``'s ``deep_source.members`` and averaged with
                         ``model.keras`` (``serving.stacked``)

Roots searched, first match wins: the folders in the environment variable ``ECGSL_PRESETS_DIR``
(``os.pathsep``-separated), then the package's ``ecgsl_keras/presets``. Every function takes
``root=`` to search one folder only.

Building a preset from a run folder is ``ecgsl_keras.training.publish`` (``ecgsl presets build``).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.fileio import read_json

log = logging.getLogger("ecgsl_keras.store.presets")

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "presets"
ENV_VAR = "ECGSL_PRESETS_DIR"
MODEL_NAME = "model.keras"
CONFIG_NAME = "config.json"
SIGNAL_CONFIG_NAME = "signal_config.json"
METADATA_NAME = "metadata.json"
THRESHOLDS_NAME = "thresholds.json"
CARD_NAME = "README.md"
FORMAT_VERSION = 1
REQUIRED_FILES = (MODEL_NAME, CONFIG_NAME)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NOT_A_MEDICAL_DEVICE = ("This model is not a medical device: it has not been cleared or approved by any regulator "
                        "and must not be used to diagnose, treat or monitor patients.")
_HASH_CHUNK = 1 << 20


# --- where presets live ---------------------------------------------------------------------------

def roots(root=None) -> list[Path]:
    """Folders searched for presets: ``[root]`` when given, else ``$ECGSL_PRESETS_DIR`` entries then
    the package's ``presets/`` folder."""
    if root is not None:
        return [Path(root)]
    extra = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    return extra + [PACKAGE_ROOT]


def _is_preset_folder(folder: Path) -> bool:
    return (folder.is_dir() and not folder.name.startswith((".", "_"))
            and any((folder / name).exists() for name in (METADATA_NAME, MODEL_NAME, CONFIG_NAME)))


def _found(root=None) -> dict:
    """{name: folder}, the first root holding a name winning."""
    found = {}
    for folder in roots(root):
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if _is_preset_folder(child):
                found.setdefault(child.name, child)
    return found


def list_presets(root=None) -> list[str]:
    """Names of the presets found (sorted)."""
    return sorted(_found(root))


def looks_like_name(value) -> bool:
    """A string with no path separator that is not an existing path (a candidate preset name)."""
    if not isinstance(value, (str, os.PathLike)):
        return False
    text = os.fspath(value)
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return bool(text) and not any(sep in text for sep in seps) and text not in (".", "..") and not Path(text).exists()


def is_preset_name(value, root=None) -> bool:
    """A string with no path separator, not an existing path, naming a preset."""
    return looks_like_name(value) and os.fspath(value) in _found(root)


def _unknown(name, root=None) -> ConfigError:
    names = list_presets(root)
    searched = [str(r) for r in roots(root)]
    return ConfigError(name, "unknown_preset",
                       f"no such file or folder, and no pretrained model of that name (presets: "
                       f"{names if names else 'none installed'}; searched {searched}; "
                       f"set {ENV_VAR} to add a folder)")


def preset_dir(name, root=None) -> Path:
    """The folder of preset ``name``; ``ConfigError`` listing the presets when there is none."""
    found = _found(root)
    name = os.fspath(name)
    if name not in found:
        raise _unknown(name, root)
    return found[name]


def path(name, root=None, verify: bool = False) -> Path:
    """The ``model.keras`` of preset ``name`` (``verify``: check every file against metadata.json)."""
    folder = preset_dir(name, root)
    if verify:
        verify_preset(name, root)
    return folder / MODEL_NAME


# --- integrity ------------------------------------------------------------------------------------

def sha256_file(file) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_json(file) -> dict:
    values = read_json(file)
    if not isinstance(values, dict):
        raise ConfigError(file, "bad_config", "expected a JSON object")
    return values


def metadata(name, root=None) -> dict:
    """The preset's ``metadata.json``."""
    file = preset_dir(name, root) / METADATA_NAME
    if not file.is_file():
        raise ConfigError(file, "missing_file", f"preset {name!r} has no {METADATA_NAME} (incomplete or hand-made "
                          "preset folder; rebuild it with python -m ecgsl_keras.pretrained build)")
    return _read_json(file)


def verify_preset(name, root=None) -> dict:
    """Check the preset's files against the SHA-256 and sizes in its metadata.json; returns the
    metadata. A missing, truncated or changed file raises ``ConfigError`` naming it."""
    folder = preset_dir(name, root)
    meta = metadata(name, root)
    files = meta.get("files")
    if not isinstance(files, dict):
        raise ConfigError(folder / METADATA_NAME, "bad_config", "no 'files' entry (SHA-256 of the preset's files)")
    for required in REQUIRED_FILES:
        if required not in files:
            raise ConfigError(folder / METADATA_NAME, "bad_config", f"lists no SHA-256 for {required}")
    for rel, expected in sorted(files.items()):
        file = folder / rel
        if not file.is_file():
            raise ConfigError(file, "missing_file", f"file of preset {name!r} is missing (listed in {METADATA_NAME})")
        size = file.stat().st_size
        if expected.get("size") is not None and size != int(expected["size"]):
            raise ConfigError(file, "corrupt_file", f"file of preset {name!r} is corrupt: {size} bytes, "
                              f"{METADATA_NAME} says {expected['size']}")
        actual = sha256_file(file)
        if actual != expected.get("sha256"):
            raise ConfigError(file, "corrupt_file", f"file of preset {name!r} is corrupt: SHA-256 {actual} does not "
                              f"match {METADATA_NAME} ({expected.get('sha256')})")
    return meta


def load(name, compile: bool = False, root=None):
    """The preset's Keras model, after checking its files (``verify_preset``)."""
    import keras

    import ecgsl_keras.modeling  # noqa: F401  (registers the custom layers)

    verify_preset(name, root)
    file = path(name, root)
    try:
        return keras.models.load_model(file, compile=compile)
    except Exception as exc:  # zip, h5 and deserialisation errors of many types
        raise ConfigError(file, "bad_model", f"cannot load the Keras model of preset {name!r} "
                          f"({type(exc).__name__}: {exc})") from None


def config(name, root=None) -> dict:
    """The preset's ``config.json`` (``experiment_config``, ``task``, ``stage``, ``model_kind``)."""
    return _read_json(preset_dir(name, root) / CONFIG_NAME)


def signal_config(name, root=None):
    """The ``SignalConfig`` the preset's model was trained with (``signal_config.json``)."""

    file = preset_dir(name, root) / SIGNAL_CONFIG_NAME
    if not file.is_file():
        raise ConfigError(file, "missing_file", f"preset {name!r} has no {SIGNAL_CONFIG_NAME}")
    return SignalConfig.load(file)
