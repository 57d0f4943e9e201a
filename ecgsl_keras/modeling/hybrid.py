"""The hybrid classifier (issue 18, deliverable 2a): ECG-SL's attention-pooled beat representation
joined with the record features of ``ecgsl_keras.data.record_features``, as ONE Keras model.

Inputs: the three sequence inputs of every ECG-SL model (``beats``, ``rr``, ``padding_mask``) and
``record_features`` (B, F) float32: the record's ``feature_names()`` vector in that order, NaN where a
feature is not computable (``prepare --record-features`` stores it; ``serving.inference`` computes it
from the raw signal with the same ``SignalConfig``). The same vector goes with every window of a record.

Graph::

    temporal_encoder -> pooling ------------------------------+
    rr -> rhythm_statistics ----------------------------------+-> head_features -> head_dropout
    record_features -> record_feature_normalization (2F) -> record_features_dense -> dropout -+    -> head_dense -> probabilities

NaN policy (documented choice; ``RecordFeatureNormalization``): inside the model each feature is
standardised with the TRAINING split's mean and standard deviation (computed over its finite values,
``feature_statistics``; stored as non-trainable weights, so the ``.keras`` file is self-contained),
clipped to ``+-clip``, and a missing value (NaN or +-inf) is replaced by 0 AFTER standardisation, i.e.
by the training mean, with a 0/1 missing indicator per feature appended. So NaN never reaches a
trainable weight, whatever the input; a record with feature j missing gives exactly the output of the
same record with feature j equal to the training mean, except for the indicator's learned weight.
A feature with no finite training value gets mean 0, std 1 (always "missing" in practice).

    from ecgsl_keras.modeling import hybrid
    stats = hybrid.feature_statistics(X_train)             # (mean, std) of the finite values per column
    model = hybrid.build_hybrid_classifier(cfg, task, n_features=111, feature_stats=stats, pretrained=masked)
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ModelConfig
from ecgsl_keras.modeling.beat_encoder import _check_config
from ecgsl_keras.modeling.classifier import _output_layer, _pretrained_model, pooled_representation
from ecgsl_keras.modeling.sequence import sequence_inputs
from ecgsl_keras.modeling.transfer import _transfer_or_fail

RECORD_FEATURES = "record_features"     # the second input's name (and the reader's key)
NORMALIZATION = "record_feature_normalization"
MISSING_LIMIT = 1e30                    # |x| above this counts as missing (inf); NaN always does

FEATURES_MEMBER = "ecgsl_features_member"

__all__ = ["RECORD_FEATURES", "RecordFeatureNormalization", "build_features_member", "build_hybrid_classifier",
           "feature_statistics", "is_hybrid", "hybrid_inputs"]


@keras.saving.register_keras_serializable(package="ecgsl")
class RecordFeatureNormalization(keras.layers.Layer):
    """(B, F) features with NaN -> (B, 2F): clipped standardised features (0 where missing), then the 0/1
    missing indicators. ``mean`` and ``std`` are non-trainable weights (``set_statistics``), saved in
    the model file. NaN is detected with ``x != x`` (a TFLite builtin)."""

    def __init__(self, clip=8.0, **kwargs):
        super().__init__(**kwargs)
        self.clip = float(clip)

    def build(self, input_shape):
        n = int(input_shape[-1])
        self.mean = self.add_weight(shape=(n,), initializer="zeros", trainable=False, name="mean")
        self.std = self.add_weight(shape=(n,), initializer="ones", trainable=False, name="std")

    def set_statistics(self, mean, std) -> None:
        mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        if not self.built:
            self.build((None, mean.shape[0]))
        if mean.shape != tuple(self.mean.shape) or std.shape != tuple(self.std.shape):
            raise ValueError(f"statistics of shape {mean.shape}/{std.shape} for {tuple(self.mean.shape)} features")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
            raise ValueError("feature statistics must be finite with std > 0 (feature_statistics gives them)")
        self.mean.assign(mean)
        self.std.assign(std)

    def call(self, x):
        x = ops.cast(x, "float32")
        missing = ops.logical_or(ops.not_equal(x, x), ops.greater(ops.abs(ops.where(ops.not_equal(x, x), 0.0, x)),
                                                                   MISSING_LIMIT))
        safe = ops.where(missing, ops.zeros_like(x), x)
        z = ops.clip((safe - self.mean) / self.std, -self.clip, self.clip)
        z = ops.where(missing, ops.zeros_like(z), z)
        return ops.concatenate([z, ops.cast(missing, "float32")], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (None if input_shape[-1] is None else 2 * int(input_shape[-1]),)

    def get_config(self):
        return {**super().get_config(), "clip": self.clip}


def feature_statistics(X) -> tuple:
    """(mean, std) per column of a training matrix (rows = examples or records) over its FINITE values;
    a column with none, or with std 0, gets std 1 (mean 0 when none)."""
    X = np.asarray(X, np.float64)
    if X.ndim != 2:
        raise ValueError(f"feature_statistics expects a 2-D matrix, got shape {X.shape}")
    finite = np.isfinite(X)
    count = finite.sum(axis=0)
    values = np.where(finite, X, 0.0)
    mean = np.divide(values.sum(axis=0), count, out=np.zeros(X.shape[1]), where=count > 0)
    var = np.divide((np.where(finite, X - mean, 0.0) ** 2).sum(axis=0), count, out=np.zeros(X.shape[1]),
                    where=count > 0)
    std = np.sqrt(var)
    std = np.where(std > 1e-12, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def hybrid_inputs(cfg: ModelConfig, n_features: int) -> dict:
    inputs = sequence_inputs(cfg)
    inputs[RECORD_FEATURES] = keras.Input((int(n_features),), name=RECORD_FEATURES)
    return inputs


def build_hybrid_classifier(cfg: ModelConfig, task, n_features: int | None = None, feature_stats=None,
                            pretrained=None) -> keras.Model:
    """The "ecgsl_hybrid_classifier": ``build_classifier``'s temporal encoder, pooling and rhythm
    statistics (same layer names, so ``pretrained`` weights are taken by name exactly as for the
    classifier) + the ``record_features`` branch, concatenated before the head.

    ``n_features``: F (default ``cfg.n_record_features``; both must agree when both are set).
    ``feature_stats``: ``(mean, std)`` of the training split (``feature_statistics``); None leaves
    mean 0 / std 1 (set them later with ``model.get_layer(NORMALIZATION).set_statistics``).
    """
    _check_config(cfg)
    n_features = int(n_features if n_features is not None else cfg.n_record_features)
    if n_features < 1:
        raise ValueError("the hybrid classifier needs n_features >= 1 (ModelConfig.n_record_features)")
    if cfg.n_record_features and cfg.n_record_features != n_features:
        raise ValueError(f"n_features {n_features} != ModelConfig.n_record_features {cfg.n_record_features}")
    output_layer = _output_layer(task)
    inputs = hybrid_inputs(cfg, n_features)
    parts = pooled_representation(cfg, inputs)
    normalization = RecordFeatureNormalization(cfg.record_feature_clip, name=NORMALIZATION)
    f = normalization(inputs[RECORD_FEATURES])
    f = keras.layers.Dense(cfg.record_feature_units, activation="relu", name="record_features_dense")(f)
    f = keras.layers.Dropout(cfg.dropout, name="record_features_dropout")(f)
    parts.append(f)
    x = keras.layers.Concatenate(name="head_features")(parts)
    x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    x = keras.layers.Dense(cfg.head_units, activation="relu", name="head_dense")(x)
    model = keras.Model(inputs, output_layer(x), name="ecgsl_hybrid_classifier")
    if feature_stats is not None:
        normalization.set_statistics(*feature_stats)
    if pretrained is not None:
        _transfer_or_fail(_pretrained_model(pretrained), model, required=("beat_encoder",), beat_len=cfg.beat_len)
        if feature_stats is not None:   # a hybrid source would bring its own statistics: keep ours
            normalization.set_statistics(*feature_stats)
    return model


def build_features_member(cfg: ModelConfig, task, n_features: int | None = None, feature_stats=None,
                          units: int = 32, dropout: float = 0.2, name: str = FEATURES_MEMBER) -> keras.Model:
    """A classifier of the record features alone, with the hybrid classifier's four inputs (``beats``, ``rr`` and
    ``padding_mask`` unused): ``RecordFeatureNormalization`` (the same NaN policy, ``feature_stats`` of the
    training split) -> one hidden layer of ``units`` (ReLU, ``dropout``) -> softmax over the multiclass ``task``'s
    labels. ``ensemble.build_ensemble`` averages it with a hybrid classifier of the same ``cfg`` and ``n_features``
    into one Keras model that ``predict_signal`` feeds as it feeds the hybrid (the ensemble takes
    ``record_features``); ``attention_model`` of that ensemble takes the hybrid member's attention.

    Example::

        member = build_features_member(ModelConfig(), tasks.CINC2017, n_features=111)
        member({"beats": keras.ops.zeros((1, 5, 96)), "rr": keras.ops.ones((1, 5, 3)),
                "padding_mask": keras.ops.ones((1, 5), "bool"),
                "record_features": keras.ops.zeros((1, 111))}).shape          # (1, 4)
    """
    if task.kind != tasks_lib.MULTICLASS:
        raise ValueError(f"task {task.name!r} is {task.kind!r}: a features member classifies multiclass records")
    n_features = int(n_features if n_features is not None else cfg.n_record_features)
    if n_features < 1:
        raise ValueError("a features member needs n_features >= 1 (ModelConfig.n_record_features)")
    inputs = hybrid_inputs(cfg, n_features)
    normalization = RecordFeatureNormalization(cfg.record_feature_clip, name=NORMALIZATION)
    x = normalization(inputs[RECORD_FEATURES])
    x = keras.layers.Dense(units, activation="relu", name="features_hidden")(x)
    x = keras.layers.Dropout(dropout, name="features_dropout")(x)
    outputs = keras.layers.Dense(task.num_classes, activation="softmax", name="features_probabilities")(x)
    model = keras.Model(inputs, outputs, name=name)
    if feature_stats is not None:
        normalization.set_statistics(*feature_stats)
    return model


def is_hybrid(model) -> bool:
    """Whether ``model`` takes the ``record_features`` input."""
    names = getattr(model, "input_names", None) or [getattr(t, "name", "").split(":")[0] for t in
                                                    (model.inputs or [])]
    if isinstance(getattr(model, "input", None), dict):
        return RECORD_FEATURES in model.input
    return any(str(name).startswith(RECORD_FEATURES) for name in names)


def n_record_features(model) -> int:
    """F of a hybrid model's ``record_features`` input (0 for other models)."""
    if not is_hybrid(model):
        return 0
    return int(model.input[RECORD_FEATURES].shape[-1])
