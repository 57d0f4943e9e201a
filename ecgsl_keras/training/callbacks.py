"""Keras callbacks of ``ecgsl_keras.training.trainer``: the per-epoch validation metrics (computed on every
worker, so every worker takes the same checkpoint and early-stopping decisions) and the callback
state saved beside ``BackupAndRestore``'s, so a resumed run keeps its best score and patience.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from ecgsl_keras import fileio
from ecgsl_keras.store import runs
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.training.stages import get_stage

log = logging.getLogger("ecgsl_keras.training.trainer")

CALLBACK_STATE_NAME = "callbacks_state.json"   # inside backup/: early stopping and best-checkpoint state


def _callback_base():
    import keras

    return keras.callbacks.Callback


class ValidationMetrics(_callback_base()):
    """Adds ``val_loss`` and the task metrics of the validation split to each epoch's logs.

    Runs a plain (not distributed) forward pass over the whole validation split on every worker,
    so every worker takes the same early-stopping and checkpoint decisions without talking to the
    others. The stage (``ecgsl_keras.training.stages``) gives the dataset and the quantities;
    classifiers: windows averaged per record, metrics from ``ecgsl_keras.evaluation.metrics``.
    """

    def __init__(self, stage, data, config: ExperimentConfig, task, batch_size: int):
        super().__init__()
        self.stage = get_stage(stage)
        self.data, self.config, self.task, self.batch_size = str(data), config, task, batch_size
        self._predict = None
        self._dataset = None

    def dataset(self):
        if self._dataset is None:
            self._dataset = self.stage.validation_dataset(self.data, self.config, self.task, self.batch_size,
                                                          model=self.model)
        return self._dataset

    def compute(self) -> dict:
        if self._predict is None:
            self._predict = self.stage.make_predict(self.model)
        return self.stage.validation_logs(self.model, self._predict, self.dataset(), self.task)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.compute())


class CallbackState(_callback_base()):
    """Saves the early-stopping and best-checkpoint state beside the BackupAndRestore backup and
    restores it when a killed run resumes (Keras' BackupAndRestore restores weights and epoch only),
    and keeps the last ``keep`` per-epoch weight checkpoints. Also the state of the model's random
    seed generators (dropout masks): ``save_weights`` leaves them out, so a resumed run would draw
    epoch 1's masks again and end elsewhere than an uninterrupted one."""

    def __init__(self, path, early_stopping, checkpoint, checkpoints_dir, keep: int):
        super().__init__()
        self.path, self.early_stopping, self.checkpoint = Path(path), early_stopping, checkpoint
        self.checkpoints_dir, self.keep = Path(checkpoints_dir), int(keep)

    def on_train_begin(self, logs=None):
        if not self.path.is_file():
            return
        state = json.loads(self.path.read_text(encoding="utf-8"))
        self.checkpoint.best = state["checkpoint_best"]
        self.early_stopping.best = state["early_stopping_best"]
        self.early_stopping.wait = state["early_stopping_wait"]
        self.early_stopping.best_epoch = state["early_stopping_best_epoch"]
        saved, variables = state.get("seed_generators") or [], _seed_states(self.model)
        if len(saved) == len(variables):   # by position: names get a per-process counter suffix
            for variable, value in zip(variables, saved):
                variable.assign(np.asarray(value, dtype=variable.dtype))
        log.info("resumed: best %s so far %s (epoch %s)", self.checkpoint.monitor, self.checkpoint.best,
                 state["early_stopping_best_epoch"] + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        state = {"checkpoint_best": _finite(self.checkpoint.best),
                 "early_stopping_best": _finite(self.early_stopping.best),
                 "early_stopping_wait": int(self.early_stopping.wait),
                 "early_stopping_best_epoch": int(self.early_stopping.best_epoch), "epoch": int(epoch),
                 "seed_generators": [np.asarray(v.numpy()).tolist() for v in _seed_states(self.model)]}
        runs.write_json(self.path, state)
        if self.keep > 0 and self.checkpoints_dir.is_dir():
            for old in sorted(self.checkpoints_dir.glob("epoch_*.weights.h5"))[:-self.keep]:
                old.unlink(missing_ok=True)


def _seed_states(model) -> list:
    """The state variables of the model's ``SeedGenerator`` objects (dropout and other random layers)."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _checkpoint_base():
    import keras

    return keras.callbacks.ModelCheckpoint


class AtomicModelCheckpoint(_checkpoint_base()):
    """``ModelCheckpoint`` that writes to a temporary file in the same folder and renames it: a kill or a
    full disk mid-save leaves the previous model (Keras' own writes ``model.keras`` in place, and a
    truncated one then fails every later command). Overrides Keras' ``_save_model`` (Keras 3)."""

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, batch, logs, filepath):   # also updates self.best
            return
        with fileio.atomic_path(filepath) as tmp:
            if self.save_weights_only:
                self.model.save_weights(str(tmp), overwrite=True)
            else:
                self.model.save(str(tmp), overwrite=True)


def save_model_atomic(model, path) -> None:
    """``model.save(path)`` through a temporary file and a rename."""
    with fileio.atomic_path(path) as tmp:
        model.save(str(tmp))


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else (1e308 if value > 0 else -1e308)


def tensorboard_available() -> bool:
    """Keras' TensorBoard callback needs the ``tensorboard`` package (not a TensorFlow dependency)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None
