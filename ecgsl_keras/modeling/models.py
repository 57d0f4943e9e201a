"""The ECG-SL models (Keras functional), one build function per training stage, and the weight
hand-over between stages.

Stages and what flows between them (by LAYER NAME, ``transfer_weights``):

1. ``build_beat_autoencoder``: beats (B, L) -> reconstruction (B, L). Sub-models
   ``beat_encoder`` (B, L) -> (B, embed_dim) and ``beat_decoder``.
2. ``build_masked_model`` ("masked_segment_model"): the temporal encoder's layers with
   ``SegmentMasking`` after the projection, and a per-beat waveform decoder; MSE over the
   masked beats only (``MaskedSegmentModel.compute_loss``). Takes ``beat_encoder`` from stage 1.
3. ``build_classifier`` / ``build_beat_classifier``: the nested ``temporal_encoder`` model
   (same layer names as stage 2: ``beat_encoder``, ``projection``, ``positional_encoding``,
   ``transformer_block_<i>``, ``encoder_norm``) + a head. Take everything from stage 2 (or 1).

Inputs of every sequence model: a dict ``{"beats": (B, T, beat_len) float32, "rr": (B, T, n_rr)
float32, "padding_mask": (B, T) bool, True on real beats}`` with ``T <= max_beats`` (the
``tfrecords_tools.make_dataset`` element). With ``n_rr_features == 0`` the ``rr`` input is kept
(one signature for every model) and ignored.

Example::

    from ecgsl_keras import tasks

    from ecgsl_keras.modeling import models
    from ecgsl_keras.config import ModelConfig
    cfg = ModelConfig()
    autoencoder = models.build_beat_autoencoder(cfg)            # stage 1
    masked = models.build_masked_model(cfg, autoencoder)        # stage 2, beat encoder carried over
    classifier = models.build_classifier(cfg, tasks.CINC2017, pretrained=masked)
    explain = models.attention_model(classifier)                # + attention weights
"""
from __future__ import annotations

import keras
from keras import ops

from ecgsl_keras.modeling import layers as ecgsl_layers
from ecgsl_keras.modeling import optimizers as _optimizers  # noqa: F401  (registers ecgsl>EncoderAdamW for load_model)
from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ModelConfig, TrainConfig
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.modeling.losses import (SparseCategoricalCrossentropyWithSmoothing, SparseFocalCrossentropy,  # noqa: F401
                                         loss_for_task)
from tfrecords_tools.schema import IGNORE_LABEL  # per-beat label of padding and unlabelled beats

__all__ = ["build_beat_autoencoder", "build_beat_encoder", "build_beat_decoder", "build_temporal_encoder",
           "build_masked_model", "build_classifier", "build_beat_classifier", "build_resnet1d", "attention_model",
           "transfer_weights", "MaskedSegmentModel", "loss_for_task", "compile_for_stage", "sequence_inputs",
           "cast_bool_inputs", "masked_beat_errors", "target_statistics",
           "IGNORE_LABEL", "STAGES"]

STAGES = ("autoencoder", "masked", "finetune", "supervised")
PROBABILITIES = "probabilities"
ATTENTION_WEIGHTS = "attention_weights"
POOLING = "pooling"
MEMBER_PREFIX = "member_"          # nested members of an ensemble (ensemble.build_ensemble)


def _check_config(cfg: ModelConfig) -> None:
    cfg.validate()
    downsampling = 2 ** len(cfg.conv_filters)
    if not cfg.conv_filters:
        raise ConfigError("<config>", "bad_config", "conv_filters must name at least one conv layer")
    if cfg.beat_len % downsampling:
        raise ConfigError("<config>", "bad_config",
                          f"beat_len {cfg.beat_len} must be divisible by 2**len(conv_filters) = {downsampling} "
                          "(each encoder conv halves the beat)")


# --- stage 1: beat autoencoder ------------------------------------------------------------------

def build_beat_encoder(cfg: ModelConfig, name: str = "beat_encoder") -> keras.Model:
    """(B, beat_len) -> (B, embed_dim): ``len(conv_filters)`` strided Conv1D (each halves the
    beat), then a dense bottleneck (linear) giving the beat embedding."""
    _check_config(cfg)
    beat = keras.Input((cfg.beat_len,), name="beat")
    x = keras.layers.Reshape((cfg.beat_len, 1), name="encoder_channel")(beat)
    for i, filters in enumerate(cfg.conv_filters, start=1):
        x = keras.layers.Conv1D(filters, cfg.conv_kernel, strides=2, padding="same", activation="relu",
                                name=f"encoder_conv_{i}")(x)
    x = keras.layers.Flatten(name="encoder_flatten")(x)
    embedding = keras.layers.Dense(cfg.embed_dim, name="beat_embedding")(x)
    return keras.Model(beat, embedding, name=name)


def build_beat_decoder(cfg: ModelConfig) -> keras.Model:
    """(B, embed_dim) -> (B, beat_len): dense, then ``len(conv_filters)`` Conv1DTranspose (each
    doubles the length); the last one has one linear channel."""
    _check_config(cfg)
    steps = cfg.beat_len // 2 ** len(cfg.conv_filters)
    embedding = keras.Input((cfg.embed_dim,), name="beat_embedding")
    x = keras.layers.Dense(steps * cfg.conv_filters[-1], activation="relu", name="decoder_dense")(embedding)
    x = keras.layers.Reshape((steps, cfg.conv_filters[-1]), name="decoder_unflatten")(x)
    up_filters = list(reversed(cfg.conv_filters[:-1])) + [1]
    for i, filters in enumerate(up_filters, start=1):
        last = i == len(up_filters)
        x = keras.layers.Conv1DTranspose(filters, cfg.conv_kernel, strides=2, padding="same",
                                         activation=None if last else "relu", name=f"decoder_conv_{i}")(x)
    reconstruction = keras.layers.Reshape((cfg.beat_len,), name="decoder_reconstruction")(x)
    return keras.Model(embedding, reconstruction, name="beat_decoder")


def build_beat_autoencoder(cfg: ModelConfig) -> keras.Model:
    """Stage 1, "beat_autoencoder": beats (B, beat_len) -> reconstruction (B, beat_len); loss MSE.

    Six conv layers at the default config (three down in ``beat_encoder``, three up in
    ``beat_decoder``) around a ``cfg.embed_dim`` dense bottleneck.
    """
    encoder, decoder = build_beat_encoder(cfg), build_beat_decoder(cfg)
    beats = keras.Input((cfg.beat_len,), name="beats")
    return keras.Model(beats, decoder(encoder(beats)), name="beat_autoencoder")


# --- temporal encoder: shared named layers -----------------------------------------------------

def sequence_inputs(cfg: ModelConfig) -> dict:
    """The three symbolic inputs of every sequence model (variable number of beats)."""
    return {"beats": keras.Input((None, cfg.beat_len), name="beats"),
            "rr": keras.Input((None, cfg.n_rr_features), name="rr"),
            "padding_mask": keras.Input((None,), dtype="bool", name="padding_mask")}


class _EncoderLayers:
    """The temporal encoder's layers, created once with fixed names; ``embed`` and ``contextualise``
    apply them. The classifier's nested ``temporal_encoder`` and the masked model's flat graph are
    built from instances named alike, so ``transfer_weights`` pairs them."""

    def __init__(self, cfg: ModelConfig, beat_encoder=None):
        _check_config(cfg)
        self.cfg = cfg
        self.beat_encoder = beat_encoder if beat_encoder is not None else build_beat_encoder(cfg)
        if self.beat_encoder.name != "beat_encoder":
            raise ValueError(f"beat_encoder must be the model named 'beat_encoder', got {self.beat_encoder.name!r}")
        self.flatten = ecgsl_layers.FlattenBeats(name="flatten_beats")
        self.unflatten = ecgsl_layers.UnflattenBeats(name="unflatten_beats")
        self.concat = keras.layers.Concatenate(name="beat_features")
        self.projection = keras.layers.Dense(cfg.d_model, name="projection")
        self.positional = ecgsl_layers.PositionalEncoding(cfg.max_beats, mode=cfg.positional_encoding,
                                                          name="positional_encoding")
        self.dropout = keras.layers.Dropout(cfg.dropout, name="embedding_dropout")
        self.blocks = [ecgsl_layers.TransformerEncoderBlock(cfg.num_heads, cfg.ff_dim, dropout=cfg.dropout,
                                                            name=f"transformer_block_{i}")
                       for i in range(1, cfg.num_layers + 1)]
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")

    def embed(self, beats, rr):
        """Beats (B, T, L) + RR (B, T, n_rr) -> projected beat embeddings (B, T, d_model)."""
        embedding = self.unflatten((self.beat_encoder(self.flatten(beats)), beats))
        if self.cfg.n_rr_features:
            embedding = self.concat([embedding, rr])
        return self.projection(embedding)

    def contextualise(self, embeddings, padding_mask):
        """Position + transformer blocks (pre-LN, so a final LayerNorm) -> (B, T, d_model)."""
        x = self.dropout(self.positional(embeddings))
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask)
        return self.norm(x)


def build_temporal_encoder(cfg: ModelConfig, beat_encoder=None) -> keras.Model:
    """The "temporal_encoder" model: {"beats", "rr", "padding_mask"} -> per-beat hidden states (B, T, d_model).

    The beat encoder runs on every beat (``FlattenBeats`` / ``UnflattenBeats``), RR features are
    concatenated when ``cfg.n_rr_features`` > 0, a Dense ``projection`` maps to ``d_model``, then
    ``PositionalEncoding`` and ``cfg.num_layers`` pre-LN ``TransformerEncoderBlock`` honouring the
    padding mask, and ``encoder_norm``. Hidden states of padded beats are 0 before the final norm
    and never reach real beats. ``beat_encoder`` (e.g. ``autoencoder.get_layer("beat_encoder")``)
    is used as is (shared, not copied).
    """
    parts = _EncoderLayers(cfg, beat_encoder)
    inputs = sequence_inputs(cfg)
    embeddings = parts.embed(inputs["beats"], inputs["rr"])
    hidden = parts.contextualise(embeddings, inputs["padding_mask"])
    return keras.Model(inputs, hidden, name="temporal_encoder")


# --- stage 2: masked-segment model ----------------------------------------------------------

MASKED_OUTPUTS = {"beats": ("reconstruction",), "latent": ("prediction", "target")}
TARGET_ENCODER = "target_encoder"


def masked_beat_errors(outputs: dict, beats=None) -> dict:
    """Per-beat squared errors of a masked model's ``outputs`` (B, T), mean over the features.

    ``"main"``: the beat part of the loss (raw samples against ``beats`` for a ``"beats"`` model,
    predicted against target embedding for a ``"latent"`` one); ``"rr"``: the RR part, when the
    model predicts RR. Weighted by ``outputs["mask_positions"]`` these are the training loss's
    terms; ``bench masked`` and the validation loss use the same function.
    """
    errors = {}
    if "reconstruction" in outputs:
        errors["main"] = ops.mean(ops.square(outputs["reconstruction"] - beats), axis=-1)
    else:
        errors["main"] = ops.mean(ops.square(outputs["prediction"] - outputs["target"]), axis=-1)
    if "rr_prediction" in outputs:
        errors["rr"] = ops.mean(ops.square(outputs["rr_prediction"] - outputs["rr_target"]), axis=-1)
    return errors


def _masked_mse(name):
    return keras.losses.MeanSquaredError(reduction="mean_with_sample_weight", name=name)


@keras.saving.register_keras_serializable(package="ecgsl")
class MaskedSegmentModel(keras.Model):
    """Functional model whose loss is computed on MASKED beats only.

    Outputs, by ``ModelConfig.masked_target``:

    * ``"beats"``: ``reconstruction`` (B, T, beat_len), compared with the target ``y`` (the beats);
    * ``"latent"``: ``prediction`` and ``target`` (B, T, embed_dim): the target is the frozen
      stage-1 embedding of every beat, standardised per dimension (``target_normalization``), so
      ``y`` is not used (the data may still pass the beats as ``y``);
    * with ``masked_rr_weight > 0``: ``rr_prediction`` and ``rr_target`` (B, T, n_rr), the
      standardised RR features, added to the loss with weight ``rr_weight``;
    * always ``mask_positions`` (B, T) float32, 1.0 on masked beats (float so ``predict`` works
      under ``tf.distribute``).

    ``compute_loss`` = mean over masked beats of the per-beat MSE (``masked_beat_errors``), plus
    ``rr_weight`` x the same for RR, plus regularisation losses. Each term goes through a
    ``keras.losses.Loss`` (``reduction="mean_with_sample_weight"``), which scales the per-replica
    loss by 1 / replicas under ``tf.distribute`` as compiled losses are. ``sample_weight`` from the
    data weights whole sequences. Compile it without ``loss``.
    """

    def __init__(self, *args, rr_weight=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.rr_weight = float(rr_weight)
        self._main_loss, self._rr_loss = _masked_mse("masked_main"), _masked_mse("masked_rr")

    def get_config(self):
        config = super().get_config()
        config["rr_weight"] = self.rr_weight
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        rr_weight = config.pop("rr_weight", 0.0)
        model = super().from_config(config, custom_objects=custom_objects)
        model.rr_weight = float(rr_weight)
        return model

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if getattr(self, "_compile_loss", None) is not None:
            raise ValueError("MaskedSegmentModel computes its own masked reconstruction loss; "
                             "compile it without `loss`")
        positions = y_pred["mask_positions"]
        weights = ops.cast(positions, "float32")
        if sample_weight is not None:
            weights = weights * ops.reshape(ops.cast(sample_weight, weights.dtype), (-1, 1))
        if "reconstruction" in y_pred:
            loss = self._main_loss(y, y_pred["reconstruction"], sample_weight=weights)
        else:
            loss = self._main_loss(y_pred["target"], y_pred["prediction"], sample_weight=weights)
        if self.rr_weight and "rr_prediction" in y_pred:
            loss = loss + self.rr_weight * self._rr_loss(y_pred["rr_target"], y_pred["rr_prediction"],
                                                         sample_weight=weights)
        for extra in self.losses:
            loss = loss + self._aggregate_additional_loss(extra)
        return loss


def _normalization(values, name):
    """A ``Normalization`` layer holding fixed statistics ``(mean, variance)`` (or identity)."""
    if values is None:
        return keras.layers.Normalization(axis=-1, mean=0.0, variance=1.0, name=name)
    mean, variance = values
    return keras.layers.Normalization(axis=-1, mean=[float(v) for v in mean],
                                      variance=[max(float(v), 1e-6) for v in variance], name=name)


def build_masked_model(cfg: ModelConfig, autoencoder=None, seed=None, target_stats=None) -> keras.Model:
    """Stage 2, "masked_segment_model" (a ``MaskedSegmentModel``).

    {"beats", "rr", "padding_mask"} -> beat encoder, projection -> ``SegmentMasking``
    (``cfg.mask_ratio``, ``cfg.mask_span``, ``seed``; a masked beat's RR features are hidden with
    its waveform, since both enter the projection) -> positional encoding, transformer blocks ->
    per-beat head ``reconstruction_hidden`` -> ``reconstruction`` (beat_len samples) or
    ``prediction`` (embed_dim, ``cfg.masked_target == "latent"``), and ``rr_prediction`` when
    ``cfg.masked_rr_weight > 0``.

    Latent target: ``target_encoder``, a frozen copy of the stage-1 beat encoder, embeds every
    beat; ``target_normalization`` standardises it with ``target_stats["embedding"] = (mean,
    variance)`` measured on training beats (``train`` does it), so predicting the data set's
    mean embedding scores 1.0. RR targets are standardised alike with ``target_stats["rr"]``.
    Masks are drawn afresh each training step; in evaluation a fixed seeded draw
    (``mask_at_inference``) makes the validation loss comparable between epochs.
    ``autoencoder``: a stage-1 model (or a model holding ``beat_encoder``); its beat encoder weights
    are copied into the online encoder and, for the latent target, the target encoder (required).
    """
    target_stats = target_stats or {}
    parts = _EncoderLayers(cfg)
    inputs = sequence_inputs(cfg)
    embeddings = parts.embed(inputs["beats"], inputs["rr"])
    masked, positions = ecgsl_layers.SegmentMasking(cfg.mask_ratio, cfg.mask_span, seed=seed, mask_at_inference=True,
                                                    max_beats=cfg.max_beats, name="segment_masking")((embeddings, inputs["padding_mask"]))
    hidden = parts.contextualise(masked, inputs["padding_mask"])
    x = keras.layers.Dense(cfg.d_model, activation="gelu", name="reconstruction_hidden")(hidden)
    outputs = {}
    if cfg.masked_target == "beats":
        outputs["reconstruction"] = keras.layers.Dense(cfg.beat_len, name="reconstruction")(x)
    else:
        target_encoder = build_beat_encoder(cfg, name=TARGET_ENCODER)
        target_encoder.trainable = False
        flat = target_encoder(parts.flatten(inputs["beats"]))
        target = parts.unflatten((flat, inputs["beats"]))
        outputs["target"] = _normalization(target_stats.get("embedding"), "target_normalization")(target)
        outputs["prediction"] = keras.layers.Dense(cfg.embed_dim, name="prediction")(x)
    if cfg.masked_rr_weight > 0 and cfg.n_rr_features:
        outputs["rr_target"] = _normalization(target_stats.get("rr"), "rr_target_normalization")(inputs["rr"])
        outputs["rr_prediction"] = keras.layers.Dense(cfg.n_rr_features, name="rr_prediction")(x)
    outputs["mask_positions"] = ecgsl_layers.CastToFloat(name="mask_positions")(positions)
    model = MaskedSegmentModel(inputs, outputs, name="masked_segment_model",
                               rr_weight=cfg.masked_rr_weight if "rr_prediction" in outputs else 0.0)
    if autoencoder is not None:
        _transfer_or_fail(autoencoder, model, required=("beat_encoder",))
        if cfg.masked_target == "latent":
            source = _named_layers(autoencoder).get("beat_encoder")
            model.get_layer(TARGET_ENCODER).set_weights(source.get_weights())
    return model


def target_statistics(autoencoder, beats, rr=None) -> dict:
    """``target_stats`` for ``build_masked_model``: per-dimension mean and variance of the stage-1
    embeddings of ``beats`` (N, beat_len), and of ``rr`` (N, n_rr) when given (numpy)."""
    import numpy as np

    encoder = _named_layers(autoencoder).get("beat_encoder") if autoencoder.name != "beat_encoder" else autoencoder
    z = np.asarray(encoder.predict(beats, batch_size=1024, verbose=0), np.float64)
    stats = {"embedding": (z.mean(axis=0).tolist(), z.var(axis=0).tolist())}
    if rr is not None and np.asarray(rr).shape[-1]:
        rr = np.asarray(rr, np.float64)
        stats["rr"] = (rr.mean(axis=0).tolist(), rr.var(axis=0).tolist())
    return stats


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
    import ecgsl_keras  # noqa: F401  (registers the custom objects)

    return keras.models.load_model(pretrained, compile=False)


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
    hidden = build_temporal_encoder(cfg)(inputs)
    if cfg.pooling == "attention":
        pooling = ecgsl_layers.AttentionPooling(cfg.attention_units, name=POOLING)
    else:
        pooling = ecgsl_layers.MaskedMeanPooling(name=POOLING)
    pooled, _ = pooling((hidden, inputs["padding_mask"]))
    if cfg.rhythm_statistics and cfg.n_rr_features:
        rhythm = ecgsl_layers.RhythmStatistics(name="rhythm_statistics")((inputs["rr"], inputs["padding_mask"]))
        pooled = keras.layers.Concatenate(name="head_features")([pooled, rhythm])
    x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(pooled)
    x = keras.layers.Dense(cfg.head_units, activation="relu", name="head_dense")(x)
    model = keras.Model(inputs, output_layer(x), name="ecgsl_classifier")
    if pretrained is not None:
        _transfer_or_fail(_pretrained_model(pretrained), model, required=("beat_encoder",))
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
        _transfer_or_fail(_pretrained_model(pretrained), model, required=("beat_encoder",))
    return model


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


def _ensemble_attention_model(ensemble, members) -> keras.Model:
    inputs = {key: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=key) for key, tensor in ensemble.input.items()}
    probabilities, attention = [], []
    for member in members:
        out = attention_model(member)(inputs)
        probabilities.append(out[PROBABILITIES])
        attention.append(out[ATTENTION_WEIGHTS])
    if len(members) == 1:
        mean_p = keras.layers.Activation("linear", name=PROBABILITIES)(probabilities[0])
        mean_a = keras.layers.Activation("linear", name=ATTENTION_WEIGHTS)(attention[0])
    else:
        mean_p = keras.layers.Average(name=PROBABILITIES)(probabilities)
        mean_a = keras.layers.Average(name=ATTENTION_WEIGHTS)(attention)
    return keras.Model(inputs, {PROBABILITIES: mean_p, ATTENTION_WEIGHTS: mean_a}, name=f"{ensemble.name}_with_attention")


# --- baseline: 1-D ResNet on the raw window --------------------------------------------------

def build_resnet1d(cfg: ModelConfig, task, input_samples=None) -> keras.Model:
    """The "resnet1d_baseline" model: raw window (B, input_samples, 1) -> ``probabilities`` (same heads as the
    classifier). A stem conv, then ``cfg.resnet_blocks`` residual blocks (two Conv1D + BatchNorm,
    stride 2, filters ``resnet_filters * 2**(i // 2)``), global average pooling. ``input_samples``
    None accepts any length."""
    _check_config(cfg)
    output_layer = _output_layer(task)
    signal = keras.Input((input_samples, 1), name="signal")
    x = keras.layers.Conv1D(cfg.resnet_filters, 15, strides=2, padding="same", use_bias=False, name="stem_conv")(signal)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.Activation("relu", name="stem_relu")(x)
    for i in range(1, cfg.resnet_blocks + 1):
        filters = cfg.resnet_filters * 2 ** ((i - 1) // 2)
        shortcut = x
        y = keras.layers.Conv1D(filters, cfg.conv_kernel, strides=2, padding="same", use_bias=False,
                                name=f"block_{i}_conv_1")(x)
        y = keras.layers.BatchNormalization(name=f"block_{i}_bn_1")(y)
        y = keras.layers.Activation("relu", name=f"block_{i}_relu_1")(y)
        y = keras.layers.Conv1D(filters, cfg.conv_kernel, padding="same", use_bias=False, name=f"block_{i}_conv_2")(y)
        y = keras.layers.BatchNormalization(name=f"block_{i}_bn_2")(y)
        shortcut = keras.layers.Conv1D(filters, 1, strides=2, padding="same", use_bias=False,
                                       name=f"block_{i}_shortcut")(shortcut)
        x = keras.layers.Add(name=f"block_{i}_add")([y, shortcut])
        x = keras.layers.Activation("relu", name=f"block_{i}_out")(x)
    x = keras.layers.GlobalAveragePooling1D(name="global_pool")(x)
    x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    x = keras.layers.Dense(cfg.head_units, activation="relu", name="head_dense")(x)
    return keras.Model(signal, output_layer(x), name="resnet1d_baseline")


# --- weight hand-over -------------------------------------------------------------------------

def _children(layer) -> list:
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    inner = getattr(layer, "layer", None)   # wrappers (TimeDistributed, Bidirectional...)
    return [inner] if isinstance(inner, keras.layers.Layer) else []


def _named_layers(model) -> dict:
    """Every layer and nested model of ``model`` by name (outermost first)."""
    found = {}
    stack = list(reversed(_children(model)))
    while stack:
        layer = stack.pop()
        found.setdefault(layer.name, layer)
        stack.extend(reversed(_children(layer)))
    return found


def _shapes(layer) -> list:
    return [tuple(w.shape) for w in layer.weights]


def transfer_weights(src_model, dst_model) -> list[str]:
    """Copy weights from ``src_model`` into ``dst_model`` layer by layer, matched by NAME.

    Both models are searched recursively (nested models like ``beat_encoder`` and
    ``temporal_encoder``, and wrapper layers). A layer or sub-model of ``dst_model`` takes the
    weights of the ``src_model`` layer with the same name when both have weights of the same
    shapes, in the same order; a matched sub-model is copied whole, otherwise its own layers are
    tried one by one. Layers without weights are skipped; names whose shapes differ are left as
    they are. Returns the names copied, in ``dst_model`` order.
    """
    sources = _named_layers(src_model)
    copied = []

    def visit(layer):
        source = sources.get(layer.name)
        if source is not None and source is not layer and layer.weights and _shapes(source) == _shapes(layer):
            layer.set_weights(source.get_weights())
            copied.append(layer.name)
            return
        for child in _children(layer):
            visit(child)

    for layer in _children(dst_model):
        visit(layer)
    return copied


def _transfer_or_fail(src_model, dst_model, required=()) -> list[str]:
    copied = transfer_weights(src_model, dst_model)
    covered = set()
    named = _named_layers(dst_model)
    for name in copied:     # a sub-model copied whole covers its own layers
        covered.add(name)
        covered.update(_named_layers(named[name]))
    missing = [name for name in required if name not in covered]
    if missing:
        raise ValueError(f"pretrained model {src_model.name!r} gave no weights for {missing} of {dst_model.name!r} "
                         f"(copied: {copied}); is it an ECG-SL model built with the same ModelConfig?")
    return copied


# --- distribution ------------------------------------------------------------------------------

def cast_bool_inputs(*element):
    """``tf.data`` map function: every bool tensor of the element (``padding_mask``) -> float32 0/1.

    Needed for ``fit`` / ``evaluate`` under a multi-replica ``tf.distribute`` strategy: Keras 3.15
    builds the model from a batch reduced with MEAN across replicas (``_maybe_symbolic_build``),
    and TensorFlow cannot sum bool tensors (``AddN``). The models cast the float mask back to bool
    (Keras casts every input to its declared dtype), so results are unchanged.
    ``ds.map(models.cast_bool_inputs)``.
    """
    import tensorflow as tf

    def cast(t):
        return tf.cast(t, tf.float32) if isinstance(t, tf.Tensor) and t.dtype == tf.bool else t

    out = tf.nest.map_structure(cast, element)
    return out[0] if len(out) == 1 else out


# --- losses and compilation ----------------------------------------------------------------


def _metrics_for_task(task) -> list:
    if task.kind == tasks_lib.MULTICLASS:
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if task.kind == tasks_lib.BINARY:
        return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auroc")]
    if task.kind == tasks_lib.MULTILABEL:
        return [keras.metrics.AUC(multi_label=True, num_labels=task.num_classes, name="macro_auroc")]
    return []   # per-beat: padding would count in Keras' accuracy; evaluate with ecgsl_keras.evaluation.evaluate


def compile_for_stage(model, stage: str, task=None, train_config: TrainConfig | None = None,
                      optimizer=None, metrics=None):
    """Compile ``model`` for a training stage with AdamW from ``train_config``.

    ``stage``: "autoencoder" (MSE), "masked" (the model's own masked loss), "finetune" or
    "supervised" (``loss_for_task(task, train_config.label_smoothing)`` and basic metrics). Returns ``model``.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    train_config = train_config if train_config is not None else TrainConfig()
    optimizer = optimizer if optimizer is not None else _optimizers.make_optimizer(train_config)
    if stage == "autoencoder":
        model.compile(optimizer=optimizer, loss=keras.losses.MeanSquaredError(), metrics=metrics)
    elif stage == "masked":
        if not isinstance(model, MaskedSegmentModel):
            raise ValueError(f"stage 'masked' needs the model from build_masked_model, got {model.name!r}")
        model.compile(optimizer=optimizer, metrics=metrics)
    else:
        if task is None:
            raise ValueError(f"stage {stage!r} needs the task")
        model.compile(optimizer=optimizer, loss=loss_for_task(task, train_config.label_smoothing,
                                                                  getattr(train_config, "focal_gamma", 0.0)),
                      metrics=_metrics_for_task(task) if metrics is None else metrics)
    return model
