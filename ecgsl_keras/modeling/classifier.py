"""Stage 3 of ECG-SL: the classifiers (record-level with attention pooling, per-beat) and the attention
model used by plots, explanations and export."""
from __future__ import annotations

import keras

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ModelConfig
from ecgsl_keras.modeling import layers as ecgsl_layers
from ecgsl_keras.modeling.beat_encoder import _check_config
from ecgsl_keras.modeling.sequence import build_temporal_encoder, sequence_inputs
from ecgsl_keras.modeling.transfer import _transfer_or_fail

PROBABILITIES = "probabilities"
ATTENTION_WEIGHTS = "attention_weights"
POOLING = "pooling"
MEMBER_PREFIX = "member_"          # nested members of an ensemble (ensemble.build_ensemble)



# --- stage 3: heads ---------------------------------------------------------------------------

def _output_layer(task) -> keras.layers.Layer:
    if task.kind == tasks_lib.MULTICLASS:
        return keras.layers.Dense(task.num_classes, activation="softmax", name=PROBABILITIES)
    if task.kind == tasks_lib.MULTILABEL:
        return keras.layers.Dense(task.num_classes, activation="sigmoid", name=PROBABILITIES)
    if task.kind == tasks_lib.BINARY:
        return keras.layers.Dense(1, activation="sigmoid", name=PROBABILITIES)
    raise ValueError(f"task {task.name!r} is {task.kind!r}: use build_beat_classifier for per-beat labels")


def _pretrained_model(pretrained):
    if pretrained is None or isinstance(pretrained, keras.Model):
        return pretrained
    from ecgsl_keras.modeling.files import load_keras_model

    return load_keras_model(pretrained)


def pooled_representation(cfg: ModelConfig, inputs: dict) -> list:
    """The beat sequence summarised for a record-level head: the temporal encoder's output pooled over
    the real beats (layer ``pooling``: attention, or masked mean with ``cfg.pooling == "mean"``) and,
    with ``cfg.rhythm_statistics``, the RR statistics (layer ``rhythm_statistics``). ``inputs``: at
    least ``beats``, ``rr`` and ``padding_mask``. Shared by the classifier and the hybrid (same layer names)."""
    sequence = {key: inputs[key] for key in ("beats", "rr", "padding_mask")}
    hidden = build_temporal_encoder(cfg)(sequence)
    if cfg.pooling == "attention":
        pooling = ecgsl_layers.AttentionPooling(cfg.attention_units, name=POOLING)
    else:
        pooling = ecgsl_layers.MaskedMeanPooling(name=POOLING)
    parts = [pooling((hidden, inputs["padding_mask"]))[0]]
    if cfg.rhythm_statistics and cfg.n_rr_features:
        parts.append(ecgsl_layers.RhythmStatistics(name="rhythm_statistics")((inputs["rr"], inputs["padding_mask"])))
    return parts


def build_classifier(cfg: ModelConfig, task, pretrained=None) -> keras.Model:
    """The "ecgsl_classifier" model: {"beats", "rr", "padding_mask"} -> ``probabilities``.

    ``temporal_encoder`` -> ``pooling`` (``AttentionPooling(cfg.attention_units)``, or
    ``MaskedMeanPooling`` when ``cfg.pooling == "mean"``) -> dropout -> Dense(``head_units``, relu)
    -> ``probabilities``: softmax (C) for a multiclass task, sigmoid (C) multilabel, sigmoid (1)
    binary. ``pretrained``: a masked model, autoencoder or classifier (or a ``.keras`` path) whose
    weights are copied by layer name (``transfer_weights``).
    """
    _check_config(cfg)
    output_layer = _output_layer(task)
    inputs = sequence_inputs(cfg)
    parts = pooled_representation(cfg, inputs)
    pooled = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="head_features")(parts)
    x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(pooled)
    x = keras.layers.Dense(cfg.head_units, activation="relu", name="head_dense")(x)
    model = keras.Model(inputs, output_layer(x), name="ecgsl_classifier")
    if pretrained is not None:
        _transfer_or_fail(_pretrained_model(pretrained), model, required=("beat_encoder",), beat_len=cfg.beat_len)
    return model


def build_beat_classifier(cfg: ModelConfig, task, pretrained=None) -> keras.Model:
    """The "ecgsl_beat_classifier" model: per-beat ``probabilities`` (B, T, C) softmax on the transformer
    outputs (MIT-BIH AAMI classes). Train with ``loss_for_task(task)``: sparse categorical
    cross-entropy with ``ignore_class=-1`` (padding and unlabelled beats carry -1).
    """
    _check_config(cfg)
    if task.kind != tasks_lib.PER_BEAT:
        raise ValueError(f"task {task.name!r} is {task.kind!r}, not per_beat: use build_classifier")
    inputs = sequence_inputs(cfg)
    hidden = build_temporal_encoder(cfg)(inputs)
    x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(hidden)
    x = keras.layers.Dense(cfg.head_units, activation="relu", name="beat_head_dense")(x)
    outputs = keras.layers.Dense(task.num_classes, activation="softmax", name=PROBABILITIES)(x)
    model = keras.Model(inputs, outputs, name="ecgsl_beat_classifier")
    if pretrained is not None:
        _transfer_or_fail(_pretrained_model(pretrained), model, required=("beat_encoder",), beat_len=cfg.beat_len)
    return model


RHYTHM_MEMBER = "rhythm_member"


def build_rhythm_member(cfg: ModelConfig, task, mean, variance, units: int = 32, dropout: float = 0.2,
                        entropy: bool = False, name: str = RHYTHM_MEMBER) -> keras.Model:
    """A classifier of the record's RR series alone: ``layers.RRStatistics`` (26 statistics of the real beats' RR),
    with ``entropy`` also sample entropy and COSEn (28), standardised by ``mean`` / ``variance`` (one per statistic,
    the training records'; a ``Normalization`` layer, saved with the model), one hidden layer of ``units`` (ReLU,
    ``dropout``), softmax over the multiclass ``task``'s labels. It takes
    the sequence classifiers' three inputs (``sequence_inputs(cfg)``; ``beats`` unused), so that
    ``ensemble.build_ensemble`` averages it with an ECG-SL classifier of the same ``cfg`` into one model whose inputs
    the edge graph computes (``serving.edge``). No attention pooling: ``attention_model`` of such an ensemble takes
    the attention of its other members.

    Example::

        member = build_rhythm_member(ModelConfig(), tasks.CINC2017, mean=[0.0] * 26, variance=[1.0] * 26)
        member({"beats": keras.ops.zeros((1, 5, 96)), "rr": keras.ops.ones((1, 5, 3)),
                "padding_mask": keras.ops.ones((1, 5), "bool")}).shape      # (1, 4)
    """
    if task.kind != tasks_lib.MULTICLASS:
        raise ValueError(f"task {task.name!r} is {task.kind!r}: a rhythm member classifies multiclass records")
    inputs = sequence_inputs(cfg)
    statistics = ecgsl_layers.RRStatistics(entropy=entropy, name="rr_statistics")((inputs["rr"],
                                                                                   inputs["padding_mask"]))
    x = keras.layers.Normalization(mean=list(mean), variance=list(variance), name="rr_standardise")(statistics)
    x = keras.layers.Dense(units, activation="relu", name="rhythm_hidden")(x)
    x = keras.layers.Dropout(dropout, name="rhythm_dropout")(x)
    outputs = keras.layers.Dense(task.num_classes, activation="softmax", name="rhythm_probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def ensemble_members(model) -> list:
    """The nested member models of an ensemble from ``ensemble.build_ensemble`` (``[]`` for other models)."""
    return [layer for layer in getattr(model, "layers", [])
            if isinstance(layer, keras.Model) and layer.name.startswith(MEMBER_PREFIX)]


def attention_model(classifier) -> keras.Model:
    """The classifier's layers with two outputs: ``{"probabilities": (B, C), "attention_weights":
    (B, T)}`` (the pooling weights; 1/n per real beat for mean pooling). Shares weights with
    ``classifier`` (nothing is copied), for plots, explanations and export. An ensemble
    (``ensemble.build_ensemble``) gives the means over its members."""
    members = ensemble_members(classifier)
    if members:
        return _ensemble_attention_model(classifier, members)
    try:
        pooling = classifier.get_layer(POOLING)
    except ValueError:
        raise ValueError(f"model {classifier.name!r} has no {POOLING!r} layer: attention_model needs a "
                         "sequence classifier from build_classifier") from None
    weights = pooling.output[1]
    return keras.Model(classifier.input, {PROBABILITIES: classifier.output, ATTENTION_WEIGHTS: weights},
                       name=f"{classifier.name}_with_attention")


def _has_pooling(model) -> bool:
    """Whether ``attention_model`` can give ``model``'s attention (a sequence classifier or an ensemble of them)."""
    if ensemble_members(model):
        return True
    try:
        model.get_layer(POOLING)
    except ValueError:
        return False
    return True


def _ensemble_attention_model(ensemble, members) -> keras.Model:
    inputs = {key: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=key) for key, tensor in ensemble.input.items()}
    probabilities, attention = [], []
    for member in members:
        if _has_pooling(member):
            out = attention_model(member)(inputs)
            probabilities.append(out[PROBABILITIES])
            attention.append(out[ATTENTION_WEIGHTS])
        else:       # a member without beats to attend to (build_rhythm_member): its probabilities only
            probabilities.append(member(inputs))
    if not attention:
        raise ValueError(f"ensemble {ensemble.name!r} has no member with a {POOLING!r} layer: attention_model needs "
                         "one sequence classifier from build_classifier")
    mean_p = (keras.layers.Activation("linear", name=PROBABILITIES)(probabilities[0]) if len(probabilities) == 1
              else keras.layers.Average(name=PROBABILITIES)(probabilities))
    mean_a = (keras.layers.Activation("linear", name=ATTENTION_WEIGHTS)(attention[0]) if len(attention) == 1
              else keras.layers.Average(name=ATTENTION_WEIGHTS)(attention))
    return keras.Model(inputs, {PROBABILITIES: mean_p, ATTENTION_WEIGHTS: mean_a}, name=f"{ensemble.name}_with_attention")
