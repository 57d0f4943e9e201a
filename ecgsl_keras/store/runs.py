"""The run folder: what one training stage leaves on disk, and helpers to read it back.

Layout (``RunPaths``)::

    RUN_DIR/
      model.keras        best model on the monitored validation metric (what evaluate/export/predict load)
      last.keras         the model after the last epoch
      config.json        {"stage", "task", "experiment_config", "data", "seed", "strategy", "init_from",
                          "model_kind", "versions", "status", "best", ...}
      history.csv        one row per epoch (keras.callbacks.CSVLogger; appended across resumes)
      metrics.json       validation-split metrics of model.keras (ecgsl_keras.evaluation.evaluate)
      thresholds.json    multi-label tasks: per-class decision thresholds chosen on validation data
      tensorboard/       TensorBoard logs
      checkpoints/       per-epoch weights (epoch_NNN.weights.h5, the last few kept)
      backup/            BackupAndRestore state while a run is unfinished; deleted when it completes

A run folder is written by one process only (the chief of a multi-worker cluster; the other workers
write to a scratch folder inside it, ``.workers/``, deleted at the end).
"""
from __future__ import annotations

import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ecgsl_keras.config import ExperimentConfig, signal_mismatch
from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.fileio import read_json, write_json  # noqa: F401  (runs.read_json is public)
from ecgsl_keras.store import presets as pretrained
from tfrecords_tools import fs

MODEL_NAME = "model.keras"
LAST_MODEL_NAME = "last.keras"
CONFIG_NAME = "config.json"
HISTORY_NAME = "history.csv"
METRICS_NAME = "metrics.json"
THRESHOLDS_NAME = "thresholds.json"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINTS_DIR = "checkpoints"
BACKUP_DIR = "backup"
WORKERS_DIR = ".workers"

STATUS_RUNNING = "running"
STATUS_FINISHED = "finished"


@dataclass(frozen=True)
class RunPaths:
    """Paths inside one run folder."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    model = property(lambda self: self.root / MODEL_NAME)
    last_model = property(lambda self: self.root / LAST_MODEL_NAME)
    config = property(lambda self: self.root / CONFIG_NAME)
    history = property(lambda self: self.root / HISTORY_NAME)
    metrics = property(lambda self: self.root / METRICS_NAME)
    thresholds = property(lambda self: self.root / THRESHOLDS_NAME)
    tensorboard = property(lambda self: self.root / TENSORBOARD_DIR)
    checkpoints = property(lambda self: self.root / CHECKPOINTS_DIR)
    backup = property(lambda self: self.root / BACKUP_DIR)

    def checkpoint(self, epoch_placeholder: str = "{epoch:03d}") -> str:
        return str(self.checkpoints / f"epoch_{epoch_placeholder}.weights.h5")

    def makedirs(self) -> None:
        for folder in (self.root, self.tensorboard, self.checkpoints):
            folder.mkdir(parents=True, exist_ok=True)


def versions() -> dict:
    """Library versions saved with every run (reproducibility)."""
    import keras
    import numpy
    import sklearn
    import tensorflow as tf

    from ecgsl_keras._version import __version__

    return {"ecgsl_keras": __version__, "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": numpy.__version__,
            "scikit_learn": sklearn.__version__}


def timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def prepare_run_dir(run_dir, *, stage: str, overwrite: bool = False) -> tuple[RunPaths, bool]:
    """Check ``run_dir`` can take a run of ``stage``; returns (paths, resuming).

    * missing or empty folder: a new run;
    * an unfinished run of the same stage (``config.json`` says running, ``backup/`` holds its
      state): resumed by ``BackupAndRestore``;
    * anything else (a finished run, another stage, unrelated files): ``ECGSLError`` unless
      ``overwrite``, which deletes the folder's content first.
    """
    paths = RunPaths(run_dir)
    root = paths.root
    if root.exists() and not root.is_dir():
        raise ECGSLError(f"{root}: run dir exists and is not a folder")
    # .workers/ holds the scratch folders of the other workers of a cluster: not part of the run.
    entries = [child for child in root.iterdir() if child.name != WORKERS_DIR] if root.exists() else []
    if not entries:
        return paths, False
    if overwrite:
        for child in entries:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        return paths, False
    if paths.config.is_file():
        info = read_json(paths.config)
        if info.get("status") == STATUS_RUNNING and info.get("stage") == stage and paths.backup.is_dir():
            return paths, True
        if info.get("status") == STATUS_FINISHED:
            raise ECGSLError(f"{root}: holds a finished {info.get('stage')} run; choose a new --run-dir "
                             "or pass --overwrite")
        if info.get("stage") != stage:
            raise ECGSLError(f"{root}: holds a {info.get('stage')} run, not {stage}; choose a new --run-dir "
                             "or pass --overwrite")
    raise ECGSLError(f"{root}: folder is not empty and holds no resumable {stage} run; choose a new "
                     "--run-dir or pass --overwrite")


def resolve_model_arg(run_or_model) -> Path:
    """The one place a model argument becomes a path: an existing file or folder (or anything with a
    path separator) as it is; a preset name (``ecgsl_keras.store.presets``: no separator, not an
    existing path) -> the preset's ``model.keras`` after checking its files' SHA-256 (its folder
    holds config.json, thresholds.json and the signal config like a run folder). A name that is
    neither raises ``ConfigError`` listing the preset names."""

    if pretrained.looks_like_name(run_or_model):
        return pretrained.path(str(run_or_model), verify=True)
    return Path(run_or_model)


def find_run_dir(path) -> Path:
    """The run folder of ``path``: the folder itself, or the folder of a ``.keras`` file in it
    (a preset name: the preset's folder)."""
    path = resolve_model_arg(path)
    if path.is_dir():
        return path
    return path.parent


def model_path(run_or_model) -> Path:
    """The model file of a run folder (``model.keras``), the ``.keras`` file given, or a preset's."""
    path = resolve_model_arg(run_or_model)
    if path.is_dir():
        candidate = path / MODEL_NAME
        if not candidate.is_file():
            raise ConfigError(candidate, "missing_file", "run folder has no model.keras (unfinished run?)")
        return candidate
    if not path.is_file():
        raise ConfigError(path, "missing_file", "model file not found")
    return path


def load_run_info(run_or_model) -> dict:
    """The ``config.json`` of the run folder holding ``run_or_model`` (a folder or a ``.keras``)."""
    folder = find_run_dir(run_or_model)
    return read_json(folder / CONFIG_NAME)


def run_config(run_or_model):
    """(ExperimentConfig, Task or None, run info dict) of a run folder or its model file."""
    from ecgsl_keras import tasks as tasks_lib

    info = load_run_info(run_or_model)
    path = find_run_dir(run_or_model) / CONFIG_NAME
    try:
        config = ExperimentConfig.from_dict(info["experiment_config"])
    except KeyError:
        raise ConfigError(path, "bad_config", "no 'experiment_config' entry") from None
    except ConfigError as exc:
        raise ConfigError(path, "bad_config", str(exc).split(": ", 1)[-1]) from None
    task = tasks_lib.Task.from_dict(info["task"]) if isinstance(info.get("task"), dict) else None
    return config, task, info


def load_thresholds(run_or_model):
    """Per-class thresholds saved by a multi-label run (list of floats), or None."""
    path = find_run_dir(run_or_model) / THRESHOLDS_NAME
    if not path.is_file():
        return None
    return [float(t) for t in read_json(path)["thresholds"]]


def check_model_signal(run_or_model, model_signal, data_signal, manifest_path) -> None:
    """Refuse data whose beats were cut with another signal config than the model's (a run folder,
    ``.keras`` or preset name): ``ConfigError`` naming the manifest and the differing fields
    (``config.signal_mismatch``). Used by ``train --init-from`` and ``evaluate --data``."""

    if not model_signal or not data_signal:
        return
    try:
        diff = signal_mismatch(data_signal, model_signal)
    except ConfigError as exc:
        raise ConfigError(manifest_path, "bad_config", f"signal_config: {str(exc).split(': ', 1)[-1]}") from None
    if diff:
        raise ConfigError(manifest_path, "bad_config",
                          f"data were prepared with another signal config than the model {run_or_model} "
                          f"(data != model: {'; '.join(diff)}); prepare them again with the model's signal config "
                          "(its config.json, or a preset's signal_config.json)")


def replace_dir(tmp: Path, out: Path, overwrite: bool) -> None:
    """Move the finished folder ``tmp`` to ``out``; an existing ``out`` is replaced only with
    ``overwrite``, and removed only after the new one is in place (exports, presets)."""
    if out.exists():
        if not overwrite:
            raise ECGSLError(f"{out}: already exists; pass --overwrite to replace it")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def with_remote_run_dir(train_fn, stage, data, run_dir, callbacks, options) -> dict:
    """Run ``train_fn`` with a remote run folder (a ``tf.io.gfile`` URI such as ``gs://b/runs/x``).

    Training writes into a local temporary mirror: an existing remote folder is copied down first
    (so that a killed run resumes from its ``backup/``), the mirror is copied up after every epoch
    and at the end, ``config.json`` last. The copy is per file, not atomic as a whole (object
    stores have no atomic folder rename). The summary names the remote paths.

    ``options`` (``training.trainer.TrainOptions``) is handed to ``train_fn`` as it is:
    ``train_fn(stage, data, local_dir, options, callbacks=...)``; only its ``overwrite`` is read here.
    """
    import tempfile

    import keras

    run_dir = str(run_dir)
    fs.check_writable_dir(run_dir)
    with tempfile.TemporaryDirectory(prefix="ecgsl-remote-run-") as scratch:
        local = Path(scratch) / fs.basename(run_dir)
        if fs.walk_files(run_dir) and not options.overwrite:
            fs.copy_tree(run_dir, str(local))

        class _CopyUp(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                fs.copy_tree(str(local), run_dir, last=("config.json",))

        summary = train_fn(stage, data, local, options, callbacks=list(callbacks) + [_CopyUp()])
        if options.overwrite:
            for rel in fs.walk_files(run_dir):
                if not (local / rel).exists():
                    fs.remove(fs.join(run_dir, *rel.split("/")))
        fs.copy_tree(str(local), run_dir, last=("config.json",))
    for key, value in list(summary.items()):
        if isinstance(value, str) and value.startswith(str(local)):
            summary[key] = fs.join(run_dir, *Path(value).relative_to(local).parts) if value != str(local) else run_dir
    return summary
