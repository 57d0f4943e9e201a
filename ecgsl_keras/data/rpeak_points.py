"""Named R-peak detector points: a ``SignalConfig``'s detector fields plus what they are for and where they were
measured, shipped as JSON files in ``rpeak_point_files/`` (one file a point, ``<name>.json``).

    from ecgsl_keras.data import rpeak_points
    rpeak_points.names()                              # ['default', 'mitdb-d1', 'mitdb-d1-100hz']
    config = rpeak_points.point_config("mitdb-d1")    # SignalConfig() with the point's fields
    config = rpeak_points.point_config("mitdb-d1", base=my_config)   # the point's fields over yours
    peaks = rpeak_points.get("mitdb-d1").find_rpeaks(signal, fs)      # at the point's own rate

A file holds ``signal`` (``SignalConfig`` fields that differ from the defaults; ``{}`` for ``default``),
``detect_rate_hz`` (null: the detector runs at the record's rate; a number: the record is resampled to that rate and
detected there, ``rpeaks.find_rpeaks_at_rate``, as the point was measured) and text: ``summary``, ``use_for`` and
``measured`` (the run, the results JSON and its keys, the records, whether the figures are held out). The figures
themselves live in the results JSON only (docs/data.md renders them from there).

The library's defaults do not change with these points: every shipped model preset was trained on beats from the
default detector, so a preset keeps it (``predict`` takes no point; ``prepare --rpeak-point`` makes a new training set).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeaks
from ecgsl_keras.errors import ConfigError

__all__ = ["RpeakPoint", "names", "get", "point_config", "POINT_FILES"]

# the folder is not named after this module (an import of one must never find the other)
POINT_FILES = Path(__file__).resolve().parent / "rpeak_point_files"
_KEYS = {"name", "summary", "use_for", "detect_rate_hz", "signal", "measured"}


@dataclass(frozen=True)
class RpeakPoint:
    """One named detector point (``get``): ``overrides`` are the ``SignalConfig`` fields it sets."""

    name: str
    summary: str
    use_for: str
    detect_rate_hz: float | None
    overrides: dict
    measured: dict
    path: str

    def config(self, base: SignalConfig | None = None) -> SignalConfig:
        """``base`` (default ``SignalConfig()``) with the point's fields. A field the point sets replaces the base's
        whole (``rpeak_guard_constants`` too: the point's mapping, not a merge), so over the default base the config
        is the detector as measured; the fields the point leaves alone (beat length, rates, ...) stay the base's."""
        base = SignalConfig() if base is None else base
        config = dataclasses.replace(base, **_fields(self.overrides, self.path))
        try:
            config.validate()
        except ConfigError as exc:
            raise ConfigError(self.path, "bad_config", f"R-peak point {self.name!r} over the given config: "
                                                       f"{str(exc).split(': ', 1)[-1]}") from None
        return config

    def find_rpeaks(self, signal, fs, base: SignalConfig | None = None):
        """R-peaks (int64 samples at ``fs``) of a raw signal with this point, at its own rate: ``rpeaks.find_rpeaks``,
        or ``rpeaks.find_rpeaks_at_rate`` when the point was measured at ``detect_rate_hz``."""
        config = self.config(base)
        if self.detect_rate_hz is None:
            return rpeaks.find_rpeaks(signal, fs, config)
        return rpeaks.find_rpeaks_at_rate(signal, fs, config, self.detect_rate_hz)


def _fields(overrides: dict, path) -> dict:
    """The point's ``signal`` object as ``SignalConfig`` field values (checked by ``SignalConfig.from_dict``)."""
    try:
        parsed = SignalConfig.from_dict(overrides)
    except ConfigError as exc:
        raise ConfigError(path, "bad_config", f"'signal': {str(exc).split(': ', 1)[-1]}") from None
    return {name: getattr(parsed, name) for name in overrides}


def names() -> list[str]:
    """The shipped points' names, sorted."""
    return sorted(p.stem for p in POINT_FILES.glob("*.json"))


def get(name: str) -> RpeakPoint:
    """The point ``name``; ``ConfigError`` naming it and the known points when there is none, or naming the file and
    the problem when its file is not a valid point."""
    path = POINT_FILES / f"{name}.json"
    if not isinstance(name, str) or "/" in name or "\\" in name or not path.is_file():
        raise ConfigError("<rpeak point>", "unknown_rpeak_point",
                          f"unknown R-peak point {name!r} (known: {', '.join(names())})")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "bad_config", f"not a valid R-peak point file: not valid JSON ({exc})") from None
    if not isinstance(values, dict):
        raise ConfigError(path, "bad_config", "not a valid R-peak point file: expects a JSON object")
    missing, unknown = sorted(_KEYS - set(values)), sorted(set(values) - _KEYS)
    if missing or unknown:
        raise ConfigError(path, "bad_config", "not a valid R-peak point file: "
                          + "; ".join(([f"missing keys {missing}"] if missing else [])
                                      + ([f"unknown keys {unknown}"] if unknown else [])))
    if values["name"] != name:
        raise ConfigError(path, "bad_config", f"'name' is {values['name']!r}, the file's name says {name!r}")
    if not isinstance(values["signal"], dict) or not isinstance(values["measured"], dict):
        raise ConfigError(path, "bad_config", "'signal' and 'measured' must be JSON objects")
    rate = values["detect_rate_hz"]
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
        raise ConfigError(path, "bad_config", f"'detect_rate_hz' must be null or a positive number, got {rate!r}")
    point = RpeakPoint(name=name, summary=str(values["summary"]), use_for=str(values["use_for"]),
                       detect_rate_hz=None if rate is None else float(rate), overrides=dict(values["signal"]),
                       measured=dict(values["measured"]), path=str(path))
    point.config()   # the fields are checked on loading, not on first use
    return point


def point_config(name: str, base: SignalConfig | None = None) -> SignalConfig:
    """``get(name).config(base)``: the point's ``SignalConfig`` (over ``base``, default ``SignalConfig()``)."""
    return get(name).config(base)
