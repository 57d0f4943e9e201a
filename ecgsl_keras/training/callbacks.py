"""Keras callbacks of ``ecgsl_keras.training.trainer``: the per-epoch validation metrics (computed on every
worker, so every worker takes the same checkpoint and early-stopping decisions) and the callback
state saved beside ``BackupAndRestore``'s, so a resumed run keeps its best score and patience.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from ecgsl_keras.store import runs
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.training.inputs import PRETRAINING, VALIDATION_SPLIT

log = logging.getLogger("ecgsl_keras.training.trainer")

CALLBACK_STATE_NAME = "callbacks_state.json"   # inside backup/: early stopping and best-checkpoint state


def _callback_base():
    import keras

    return keras.callbacks.Callback


class ValidationMetrics(_callback_base()):
    """Adds ``val_loss`` and the task metrics of the validation split to each epoch's logs.

    Runs a plain (not distributed) forward pass over the whole validation split on every worker,
    so every worker takes the same early-stopping and checkpoint decisions without talking to the
    others. Classifiers: windows averaged per record, metrics from ``ecgsl_keras.evaluation.metrics``.
    """

    def __init__(self, stage: str, data, config: ExperimentConfig, task, batch_size: int):
        super().__init__()
        self.stage, self.data, self.config, self.task, self.batch_size = stage, str(data), config, task, batch_size
        self._predict = None
        self._dataset = None

    def dataset(self):
        from tfrecords_tools import make_dataset

        from ecgsl_keras.evaluation import evaluate

        if self._dataset is None:
            stride = min(self.config.train.eval_window_stride, self.config.model.max_beats)
            if self.stage == "autoencoder":
                self._dataset = make_dataset(self.data, split=VALIDATION_SPLIT, mode="beat", batch_size=self.batch_size)
            elif self.stage == "masked":
                self._dataset = make_dataset(self.data, split=VALIDATION_SPLIT, target="beats",
                                             batch_size=self.batch_size, max_beats=self.config.model.max_beats,
                                             eval_stride=stride)
            else:
                self._dataset = evaluate.eval_dataset(self.data, VALIDATION_SPLIT, self.config, self.task,
                                                      self.batch_size,
                                                      raw_input=evaluate.raw_input_of(self.model, self.config,
                                                                                      self.data))
        return self._dataset

    def compute(self) -> dict:
        import tensorflow as tf

        from ecgsl_keras.evaluation import evaluate

        model = self.model
        if self.stage in PRETRAINING:
            if self._predict is None:
                @tf.function(reduce_retracing=True)
                def forward(x):
                    return model(x, training=False)

                self._predict = forward
            total, count, parts = 0.0, 0.0, {}
            for x, y in self.dataset():
                out = self._predict(x)
                if self.stage == "autoencoder":
                    total += float(tf.reduce_sum(tf.reduce_mean(tf.square(out - y), axis=-1)))
                    count += float(tf.shape(y)[0])
                else:  # masked: mean over masked beats of each per-beat error term (the training loss)
                    from ecgsl_keras.modeling.models import masked_beat_errors

                    weights = tf.cast(out["mask_positions"], tf.float32)
                    for key, per_beat in masked_beat_errors(out, y).items():
                        parts[key] = parts.get(key, 0.0) + float(tf.reduce_sum(per_beat * weights))
                    count += float(tf.reduce_sum(weights))
            if self.stage == "autoencoder":
                return {"val_loss": total / max(count, 1.0)}
            logs = {f"val_masked_{key}": value / max(count, 1.0) for key, value in parts.items()}
            logs["val_loss"] = logs["val_masked_main"] + getattr(model, "rr_weight", 0.0) * logs.get("val_masked_rr", 0.0)
            return logs
        if self._predict is None:
            self._predict = evaluate.make_predict_fn(model)
        windows = evaluate.predict_windows(self._predict, self.dataset())
        from ecgsl_keras.modeling.models import loss_for_task

        loss = float(loss_for_task(self.task)(windows["targets"], windows["probabilities"]))
        found = evaluate.metrics_from_windows(self.task, windows)
        logs = {"val_loss": loss}
        for key, value in found.items():
            if key in ("n", "windows", "threshold"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                logs[f"val_{key}"] = float(value)
        return logs

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.compute())


class CallbackState(_callback_base()):
    """Saves the early-stopping and best-checkpoint state beside the BackupAndRestore backup and
    restores it when a killed run resumes (Keras' BackupAndRestore restores weights and epoch only),
    and keeps the last ``keep`` per-epoch weight checkpoints."""

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
        log.info("resumed: best %s so far %s (epoch %s)", self.checkpoint.monitor, self.checkpoint.best,
                 state["early_stopping_best_epoch"] + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        state = {"checkpoint_best": _finite(self.checkpoint.best),
                 "early_stopping_best": _finite(self.early_stopping.best),
                 "early_stopping_wait": int(self.early_stopping.wait),
                 "early_stopping_best_epoch": int(self.early_stopping.best_epoch), "epoch": int(epoch)}
        runs.write_json(self.path, state)
        if self.keep > 0 and self.checkpoints_dir.is_dir():
            for old in sorted(self.checkpoints_dir.glob("epoch_*.weights.h5"))[:-self.keep]:
                old.unlink(missing_ok=True)


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else (1e308 if value > 0 else -1e308)


def tensorboard_available() -> bool:
    """Keras' TensorBoard callback needs the ``tensorboard`` package (not a TensorFlow dependency)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _monitor(stage: str, task, has_validation: bool) -> tuple[str, str]:
    if not has_validation:
        return "loss", "min"
    if stage in PRETRAINING:
        return "val_loss", "min"
    return task.monitor, "min" if task.monitor.endswith("loss") else "max"
