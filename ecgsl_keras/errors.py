"""The project's error types. Every message names the file (or record) and the problem."""


class ECGSLError(Exception):
    """Base class of every error ecgsl-keras raises on purpose."""


class RecordError(ECGSLError):
    """A record (or one of its files) cannot be read or used.

    ``reason`` is a short machine-readable tag (``missing_file``, ``bad_header``, ``bad_mat``,
    ``unknown_label``, ``nan``, ``flat``, ``clipped``, ``too_few_beats``, ``bad_rate``,
    ``missing_record``, ...) used to count skipped records by reason.
    """

    def __init__(self, path, reason, message):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {message}")


class SignalQualityError(RecordError):
    """The signal is unusable (NaN, flat line, clipping, too few beats, unsupported rate)."""


class LabelError(RecordError):
    """A label file or label value is wrong (unknown label, record that does not exist)."""


class ConfigError(ECGSLError):
    """A configuration file or value is invalid: ``ConfigError(message)`` or ``ConfigError(path, reason, message)``."""

    def __init__(self, *args):
        if len(args) == 3:
            self.path, self.reason, message = str(args[0]), args[1], args[2]
            super().__init__(f"{args[0]}: {message}")
        else:
            self.path, self.reason = "<config>", "bad_config"
            super().__init__(*args)


class WriteError(ECGSLError):
    """An output file could not be written (read-only folder, full disk, ...); what was there before is kept."""

    def __init__(self, path, message):
        self.path, self.reason = str(path), "write_failed"
        super().__init__(f"{path}: {message}")


class MissingExtraError(ECGSLError):
    """An optional dependency (a ``setup.py`` extra: litert, tune, explain, beam) is not installed."""

    def __init__(self, extra: str, module: str, purpose: str):
        self.extra, self.module = extra, module
        super().__init__(f"{purpose} needs the optional package {module!r}, which is not installed: "
                         f"pip install -e \".[{extra}]\" (or pip install \"ecgsl-keras[{extra}]\")")


def import_extra(module: str, extra: str, purpose: str):
    """``importlib.import_module(module)``, or ``MissingExtraError`` naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or module == exc.name or module.startswith(exc.name + "."):
            raise MissingExtraError(extra, module.split(".")[0], purpose) from None
        raise
