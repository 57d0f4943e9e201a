"""Training-data helpers of the stages (``ecgsl_keras.training.stages`` owns each stage's input
function and steps per epoch): class weights, split counts, the classifier element map, and the
statistics that standardise the latent masked target.

Pre-training (``autoencoder``, ``masked``) reads beats or beat sequences; the classifiers read
labelled sequences (optionally a ``label_fraction`` of the records), augmented in training
(``ecgsl_keras.data.augment``), with class weights as per-example sample weights.
"""
from __future__ import annotations

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.evaluation.evaluate import model_inputs
from tfrecords_tools import make_dataset

TRAIN_SPLIT = "train"
VALIDATION_SPLIT = "validation"


def class_weights(manifest: dict, task, split: str = TRAIN_SPLIT, cap: float = 0.0):
    """Balanced class weights ``n / (classes present * n_c)`` from the manifest's training label
    counts (examples for record labels, beats for per-beat labels); None where not applicable.
    ``cap`` > 0 bounds every weight (``TrainConfig.class_weight_cap``): a class with a handful of
    examples (MIT-BIH's Q beats: 8 in DS1) would otherwise weigh thousands of times more than N."""
    if task is None or task.kind == tasks_lib.MULTILABEL:
        return None
    counts = ((manifest.get("splits") or {}).get(split) or {}).get("label_counts") or {}
    if task.kind == tasks_lib.PER_BEAT:
        table = (counts.get("beat") or {}).get("beats") or {}
    else:
        table = (counts.get("record") or {}).get("examples") or {}
    n_classes = task.num_classes if task.kind != tasks_lib.BINARY else 2
    per_class = np.array([float(table.get(str(c), 0)) for c in range(n_classes)])
    if per_class.sum() <= 0:
        return None
    present = per_class > 0
    weights = np.zeros(n_classes, np.float64)
    weights[present] = per_class.sum() / (present.sum() * per_class[present])
    if cap and cap > 0:
        weights = np.minimum(weights, float(cap))
    return weights


def _split_counts(manifest: dict, split: str) -> dict:
    return (manifest.get("splits") or {}).get(split) or {}


def _n_shards(manifest: dict, split: str) -> int:
    return sum(1 for s in manifest.get("shards", []) if s.get("split") == split)


def _float_mask(features: dict) -> dict:
    """``padding_mask`` as float32 0/1 (the models accept either). Keras 3.15's ``fit`` under a
    multi-replica strategy averages a first batch over replicas to build the model, and that
    all-reduce has no kernel for bool tensors."""
    import tensorflow as tf

    return dict(features, padding_mask=tf.cast(features["padding_mask"], tf.float32))


def run_weights(targets, run_class: int, weight: float):
    """Per-beat loss factors of ``targets`` (..., T): ``weight`` for a beat of class ``run_class`` whose previous or
    next beat in the sequence is of that class too (a couplet or a run), 1 elsewhere (``TrainConfig.run_weight``)."""
    import tensorflow as tf

    is_c = tf.equal(targets, tf.cast(run_class, targets.dtype))
    edge = tf.zeros_like(is_c[..., :1])
    in_run = is_c & (tf.concat([edge, is_c[..., :-1]], axis=-1) | tf.concat([is_c[..., 1:], edge], axis=-1))
    return tf.where(in_run, tf.constant(weight, tf.float32), tf.constant(1.0, tf.float32))


def _run_of(config) -> tuple | None:
    """(class, weight) of ``TrainConfig.run_weight_class`` / ``run_weight``, or None when off."""
    train = config.train
    run_class, weight = getattr(train, "run_weight_class", -1), float(getattr(train, "run_weight", 1.0))
    return None if run_class < 0 or weight == 1.0 else (int(run_class), weight)


def _classifier_element(task, raw_window: bool, weight_table, record_features: bool = False, run=None):
    """``run``: ``_run_of``'s (class, weight), per-beat tasks only: those beats' sample weights multiplied (after
    the augmentation, so on the beats the batch holds)."""
    import tensorflow as tf

    if run is not None and task.kind != tasks_lib.PER_BEAT:
        raise ConfigError("<config>", "bad_config", "run_weight_class needs a per-beat task")

    def element(features, targets):
        inputs = model_inputs(features, raw_window, record_features)
        if not raw_window:
            inputs = _float_mask(inputs)
        if weight_table is None and run is None:
            return inputs, targets
        if task.kind == tasks_lib.PER_BEAT:
            labelled = targets >= 0
            base = (tf.where(labelled, 1.0, 0.0) if weight_table is None
                    else tf.where(labelled, tf.gather(weight_table, tf.maximum(targets, 0)), 0.0))
            weights = base if run is None else base * run_weights(targets, *run)
        elif task.kind == tasks_lib.BINARY:
            weights = tf.gather(weight_table, tf.cast(targets[:, 0], tf.int32))
        else:
            weights = tf.gather(weight_table, targets)
        return inputs, targets, weights

    return element


STATS_BEATS = 20_000   # training beats whose stage-1 embeddings standardise the latent target


def masked_target_statistics(data, config: ExperimentConfig, init_model) -> dict | None:
    """Mean and variance of the stage-1 embeddings (and RR features) of the first ``STATS_BEATS``
    training beats, in the reader's deterministic order, so a resumed run gets the same values."""
    if config.model.masked_target != "latent" and not config.model.masked_rr_weight:
        return None

    from ecgsl_keras.modeling import models

    beats, rr, total = [], [], 0
    for features in make_dataset(str(data), split=TRAIN_SPLIT, mode="sequence", target="none", training=False,
                                 batch_size=64, max_beats=config.model.max_beats):
        mask = features["padding_mask"].numpy()
        beats.append(features["beats"].numpy()[mask])
        rr.append(features["rr"].numpy()[mask])
        total += int(mask.sum())
        if total >= STATS_BEATS:
            break
    beats, rr = np.concatenate(beats)[:STATS_BEATS], np.concatenate(rr)[:STATS_BEATS]
    if init_model is None:
        raise ConfigError("<init-from>", "bad_config", "the latent masked target needs the stage-1 autoencoder")
    return models.target_statistics(init_model, beats, rr)
