"""Losses of the supervised heads (registered under ``ecgsl``): label-smoothed and focal cross-entropy
against integer targets, and the loss of each task kind (``loss_for_task``)."""
from __future__ import annotations

import keras
from keras import ops

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.errors import ConfigError
from tfrecords_tools.schema import IGNORE_LABEL

__all__ = ["SparseCategoricalCrossentropyWithSmoothing", "SparseFocalCrossentropy", "loss_for_task"]


@keras.saving.register_keras_serializable(package="ecgsl")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):
    """Categorical cross-entropy of probabilities against INTEGER class targets with label smoothing:
    the target of class ``y`` is ``(1 - label_smoothing) * one_hot(y) + label_smoothing / classes``.
    Keras 3's ``SparseCategoricalCrossentropy`` has no ``label_smoothing``; keeping the targets sparse
    leaves the data pipeline, class weights and validation metrics unchanged."""

    def __init__(self, label_smoothing=0.0, name="sparse_categorical_crossentropy_with_smoothing",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ConfigError("<loss>", "bad_config", f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        classes = ops.shape(y_pred)[-1]
        labels = ops.reshape(ops.cast(y_true, "int32"), ops.shape(y_pred)[:-1])
        one_hot = ops.one_hot(labels, classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing)
        return config


def loss_for_task(task, label_smoothing: float = 0.0, focal_gamma: float = 0.0) -> keras.losses.Loss:
    """Loss of a classifier for ``task``: sparse categorical CE (multiclass; per-beat with
    ``ignore_class=-1``), binary CE (binary, multilabel). ``label_smoothing`` > 0 (multiclass only,
    integer targets kept): ``SparseCategoricalCrossentropyWithSmoothing``. ``focal_gamma`` > 0
    (multiclass and per-beat): ``SparseFocalCrossentropy``."""
    if focal_gamma and task.kind in (tasks_lib.MULTICLASS, tasks_lib.PER_BEAT):
        return SparseFocalCrossentropy(focal_gamma,
                                       ignore_class=IGNORE_LABEL if task.kind == tasks_lib.PER_BEAT else None)
    if task.kind == tasks_lib.MULTICLASS:
        if label_smoothing:
            return SparseCategoricalCrossentropyWithSmoothing(label_smoothing)
        return keras.losses.SparseCategoricalCrossentropy()
    if task.kind == tasks_lib.PER_BEAT:
        return keras.losses.SparseCategoricalCrossentropy(ignore_class=IGNORE_LABEL)
    if task.kind in (tasks_lib.BINARY, tasks_lib.MULTILABEL):
        return keras.losses.BinaryCrossentropy()
    raise ValueError(f"unknown task kind {task.kind!r}")


@keras.saving.register_keras_serializable(package="ecgsl")
class SparseFocalCrossentropy(keras.losses.Loss):
    """Focal loss (Lin et al. 2017) of probabilities against INTEGER class targets:
    ``-(1 - p_y) ** gamma * log(p_y)``; targets equal to ``ignore_class`` (per-beat padding and
    unlabelled beats, -1) count zero and are left out of the mean. One of the imbalance methods
    measured on MIT-BIH (``TrainConfig.focal_gamma``); class weights still apply as sample weights."""

    def __init__(self, gamma=2.0, ignore_class=None, name="sparse_focal_crossentropy",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= float(gamma) < float("inf"):
            raise ConfigError("<loss>", "bad_config", f"focal gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.ignore_class = ignore_class

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        classes = ops.shape(y_pred)[-1]
        labels = ops.reshape(ops.cast(y_true, "int32"), ops.shape(y_pred)[:-1])
        valid = ops.ones_like(labels, dtype=y_pred.dtype)
        if self.ignore_class is not None:
            valid = ops.cast(ops.not_equal(labels, self.ignore_class), y_pred.dtype)
            labels = ops.maximum(labels, 0)
        p = ops.sum(ops.one_hot(labels, classes, dtype=y_pred.dtype) * y_pred, axis=-1)
        p = ops.clip(p, keras.backend.epsilon(), 1.0)
        loss = -ops.power(1.0 - p, self.gamma) * ops.log(p) * valid
        if self.ignore_class is not None:
            # mean over labelled beats of the batch, as SparseCategoricalCrossentropy(ignore_class=...)
            loss = loss * ops.cast(ops.size(valid), y_pred.dtype) / ops.maximum(ops.sum(valid), 1.0)
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(gamma=self.gamma, ignore_class=self.ignore_class)
        return config
