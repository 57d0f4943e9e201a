"""Quiet TensorFlow start-up: the one place that tames TensorFlow's C++ log noise.

Imported first by ``tfrecords_tools/__init__.py`` and ``ecgsl_keras/__init__.py`` (so before any
TensorFlow import of this project), ``install()`` does nothing when the user set
``TF_CPP_MIN_LOG_LEVEL`` themselves, or when TensorFlow is already imported. Otherwise it

* sets ``TF_CPP_MIN_LOG_LEVEL=2`` (C++ INFO and WARNING off, errors kept), inherited by
  subprocesses, with the marker ``ECGSL_TF_LOG_DEFAULT=1`` saying that the value is ours;
* installs an import hook that runs the first ``import tensorflow`` with file descriptor 2
  redirected to a temporary file and then lists the physical GPUs (the call that logs the
  ``failed call to cuInit`` error on a machine without a GPU; listing devices does not
  initialise them, so ``tf.config.set_visible_devices`` and logical-device set-ups still work).
  Lines TensorFlow's C++ code prints there in spite of ``TF_CPP_MIN_LOG_LEVEL`` (absl's
  "log messages before absl::InitializeLog()", oneDNN and "Could not find cuda drivers" notices,
  CPU-instruction notes, cuInit and CUDA plugin-registration errors) are dropped; every other line
  (a Python warning, a real error) is written back to stderr.

After the import the ``tensorflow`` Python logger is set to WARNING (its INFO lines, such as
"Assets written to", are printed twice under ``logging.basicConfig``). ``filtered_stderr()`` drops
the same noise around other calls (the TFLite converter's "NodeDef mentions attribute" errors).
``TF_CPP_MIN_LOG_LEVEL=0`` (or any value) shows everything as TensorFlow prints it.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile

MARKER = "ECGSL_TF_LOG_DEFAULT"
DEFAULT_LEVEL = "2"

# Start-up lines of TensorFlow / XLA / absl that say nothing wrong on a CPU-only machine.
_ABSL_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ (?P<file>[\w.]+):\d+\] (?P<text>.*)$")
_NOISE_FILES = {"port.cc", "cudart_stub.cc", "cpu_feature_guard.cc", "cuda_platform.cc", "cuda_executor.cc",
                "cuda_fft.cc", "cuda_dnn.cc", "cuda_blas.cc", "computation_placer.cc", "cuda_diagnostics.cc"}
_NOISE_TEXT = re.compile(r"oneDNN custom operations|Could not find cuda drivers|cuInit|Unable to register cu"
                         r"|This TensorFlow binary is optimized|computation placer already registered"
                         r"|kernel driver does not appear to be running|retrieving CUDA diagnostic"
                         # the TFLite converter's graph import (harmless attribute of a newer Identity op)
                         r"|NodeDef mentions attribute \w+ which is not in the op definition")
_NOISE_PLAIN = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                          r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate "
                          r"compiler flags\."
                          r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)$")


def is_noise(line: str) -> bool:
    """True for a start-up line of TensorFlow's C++ code that ``install`` drops."""
    line = line.rstrip("\r\n")
    if _NOISE_PLAIN.match(line):
        return True
    match = _ABSL_LINE.match(line)
    return bool(match and (match.group("file") in _NOISE_FILES or _NOISE_TEXT.search(match.group("text"))))


def user_chose_level() -> bool:
    return "TF_CPP_MIN_LOG_LEVEL" in os.environ and os.environ.get(MARKER) != "1"


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _FilteredStderr():
            self._loader.exec_module(module)
            try:
                module.config.list_physical_devices("GPU")
                # TensorFlow's Python INFO lines ("Assets written to ...") printed twice under logging.basicConfig
                logging.getLogger("tensorflow").setLevel(logging.WARNING)
            except Exception:  # noqa: BLE001 - never let the quieting break the import
                pass

    def __getattr__(self, name):  # get_resource_reader, is_package, ... of the real loader
        return getattr(self._loader, name)


class _TensorFlowHook(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once (removing itself) and wraps its loader in ``_QuietLoader``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        uninstall()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _FilteredStderr:
    """Redirect file descriptor 2 into a temporary file; on exit write back the lines that are not noise."""

    def __enter__(self):
        self._saved = None
        try:
            sys.stderr.flush()
            self._file = tempfile.TemporaryFile(mode="w+b")
            self._saved = os.dup(2)
            os.dup2(self._file.fileno(), 2)
        except (OSError, ValueError, AttributeError):
            self._saved = None
        return self

    def __exit__(self, *exc):
        if self._saved is None:
            return False
        try:
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        kept = [line for line in self._file.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not is_noise(line)]
        self._file.close()
        if kept:
            os.write(2, "".join(kept).encode("utf-8", "replace"))
        return False


_HOOK = _TensorFlowHook()


def filtered_stderr():
    """A context manager dropping the noise lines C++ code prints inside it (e.g. around the TFLite
    converter); a no-op when the user set ``TF_CPP_MIN_LOG_LEVEL``."""
    return contextlib.nullcontext() if user_chose_level() else _FilteredStderr()


def install() -> bool:
    """Quiet TensorFlow's start-up unless the user chose a log level; True when the hook is in place."""
    if user_chose_level() or "tensorflow" in sys.modules:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = DEFAULT_LEVEL
    os.environ[MARKER] = "1"
    if _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
    return True


def uninstall() -> None:
    while _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)
