"""Stage 2 of ECG-SL: masked-segment learning: masked beats predicted from their context."""
from __future__ import annotations

import keras
from keras import ops

from ecgsl_keras.config import ModelConfig
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.modeling import layers as ecgsl_layers
from ecgsl_keras.modeling.beat_encoder import build_beat_encoder
from ecgsl_keras.modeling.sequence import _EncoderLayers, sequence_inputs
from ecgsl_keras.modeling.transfer import _named_layers, _transfer_or_fail

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

    * ``"beats"``: ``reconstruction`` (B, T, beat_width: every channel), compared with the target ``y``
      (the beats);
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


def _check_channels(autoencoder, cfg: ModelConfig) -> None:
    """``ConfigError`` when the stage-1 model's beat encoder reads another number of channels than
    ``cfg.beat_channels``: stage 2 predicts the stage-1 embedding of the same beats, so no channel is
    added or dropped here (the classifiers extend a one-channel encoder; ``transfer``)."""
    encoder = autoencoder if autoencoder.name == "beat_encoder" else _named_layers(autoencoder).get("beat_encoder")
    if not isinstance(encoder, keras.Model):
        return   # _transfer_or_fail names the missing beat encoder
    width = int(encoder.inputs[0].shape[-1])
    if width != cfg.beat_width:
        what = (f"{width // cfg.beat_len} channel(s) of {cfg.beat_len} samples" if width % cfg.beat_len == 0
                else f"beats of {width} samples")
        raise ConfigError(f"<init model {autoencoder.name}>", "bad_init_model",
                          f"its beat encoder reads {what}, the config has beat_channels {cfg.beat_channels} of "
                          f"beat_len {cfg.beat_len}: pre-train the autoencoder on beats with the same beat_reference")


def build_masked_model(cfg: ModelConfig, autoencoder=None, seed=None, target_stats=None) -> keras.Model:
    """Stage 2, "masked_segment_model" (a ``MaskedSegmentModel``).

    {"beats", "rr", "padding_mask"} -> beat encoder, projection -> ``SegmentMasking``
    (``cfg.mask_ratio``, ``cfg.mask_span``, ``seed``; a masked beat's RR features are hidden with
    its waveform, since both enter the projection) -> positional encoding, transformer blocks ->
    per-beat head ``reconstruction_hidden`` -> ``reconstruction`` (beat_width samples: every channel) or
    ``prediction`` (embed_dim, ``cfg.masked_target == "latent"``), and ``rr_prediction`` when
    ``cfg.masked_rr_weight > 0``.

    Latent target: ``target_encoder``, a frozen copy of the stage-1 beat encoder, embeds every
    beat; ``target_normalization`` standardises it with ``target_stats["embedding"] = (mean,
    variance)`` measured on training beats (``train`` does it), so predicting the data set's
    mean embedding scores 1.0. RR targets are standardised alike with ``target_stats["rr"]``.
    Masks are drawn afresh each training step; in evaluation a fixed seeded draw
    (``mask_at_inference``) makes the validation loss comparable between epochs.
    ``autoencoder``: a stage-1 model (or a model holding ``beat_encoder``); its beat encoder weights
    are copied into the online encoder and, for the latent target, the target encoder (required); its
    beat encoder must read ``cfg.beat_channels`` channels (``ConfigError`` naming both otherwise).
    """
    target_stats = target_stats or {}
    if autoencoder is not None:
        _check_channels(autoencoder, cfg)
    parts = _EncoderLayers(cfg)
    inputs = sequence_inputs(cfg)
    embeddings = parts.embed(inputs["beats"], inputs["rr"], inputs["padding_mask"])
    masked, positions = ecgsl_layers.SegmentMasking(cfg.mask_ratio, cfg.mask_span, seed=seed, mask_at_inference=True,
                                                    max_beats=cfg.max_beats, name="segment_masking")((embeddings, inputs["padding_mask"]))
    hidden = parts.contextualise(masked, inputs["padding_mask"])
    x = keras.layers.Dense(cfg.d_model, activation="gelu", name="reconstruction_hidden")(hidden)
    outputs = {}
    if cfg.masked_target == "beats":
        outputs["reconstruction"] = keras.layers.Dense(cfg.beat_width, name="reconstruction")(x)
    else:
        target_encoder = build_beat_encoder(cfg, name=TARGET_ENCODER)
        target_encoder.trainable = False
        target = parts.encode_beats(target_encoder, inputs["beats"], inputs["padding_mask"])
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
    embeddings of ``beats`` (N, beat_width), and of ``rr`` (N, n_rr) when given (numpy)."""
    import numpy as np

    encoder = _named_layers(autoencoder).get("beat_encoder") if autoencoder.name != "beat_encoder" else autoencoder
    z = np.asarray(encoder.predict(beats, batch_size=1024, verbose=0), np.float64)
    stats = {"embedding": (z.mean(axis=0).tolist(), z.var(axis=0).tolist())}
    if rr is not None and np.asarray(rr).shape[-1]:
        rr = np.asarray(rr, np.float64)
        stats["rr"] = (rr.mean(axis=0).tolist(), rr.var(axis=0).tolist())
    return stats
