"""Stage 1 of ECG-SL: the 1-D convolutional beat autoencoder; its encoder embeds each beat (structure)."""
from __future__ import annotations

import keras

from ecgsl_keras.config import ModelConfig
from ecgsl_keras.errors import ConfigError


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
    """(B, beat_width) -> (B, embed_dim): ``len(conv_filters)`` strided Conv1D (each halves the
    beat) over its ``beat_channels`` channels, then a dense bottleneck (linear) giving the beat embedding."""
    _check_config(cfg)
    beat = keras.Input((cfg.beat_width,), name="beat")
    if cfg.beat_channels == 1:
        x = keras.layers.Reshape((cfg.beat_len, 1), name="encoder_channel")(beat)
    else:   # channels stored end to end (SignalConfig.beat_reference): (C * L,) -> (L, C)
        x = keras.layers.Reshape((cfg.beat_channels, cfg.beat_len), name="encoder_channels")(beat)
        x = keras.layers.Permute((2, 1), name="encoder_channel")(x)
    for i, filters in enumerate(cfg.conv_filters, start=1):
        x = keras.layers.Conv1D(filters, cfg.conv_kernel, strides=2, padding="same", activation="relu",
                                name=f"encoder_conv_{i}")(x)
    x = keras.layers.Flatten(name="encoder_flatten")(x)
    embedding = keras.layers.Dense(cfg.embed_dim, name="beat_embedding")(x)
    return keras.Model(beat, embedding, name=name)


def build_beat_decoder(cfg: ModelConfig) -> keras.Model:
    """(B, embed_dim) -> (B, beat_width): dense, then ``len(conv_filters)`` Conv1DTranspose (each
    doubles the length); the last one has ``beat_channels`` linear channels, laid end to end as the
    encoder reads them (``SignalConfig.beat_reference``)."""
    _check_config(cfg)
    steps = cfg.beat_len // 2 ** len(cfg.conv_filters)
    embedding = keras.Input((cfg.embed_dim,), name="beat_embedding")
    x = keras.layers.Dense(steps * cfg.conv_filters[-1], activation="relu", name="decoder_dense")(embedding)
    x = keras.layers.Reshape((steps, cfg.conv_filters[-1]), name="decoder_unflatten")(x)
    up_filters = list(reversed(cfg.conv_filters[:-1])) + [cfg.beat_channels]
    for i, filters in enumerate(up_filters, start=1):
        last = i == len(up_filters)
        x = keras.layers.Conv1DTranspose(filters, cfg.conv_kernel, strides=2, padding="same",
                                         activation=None if last else "relu", name=f"decoder_conv_{i}")(x)
    if cfg.beat_channels != 1:   # (L, C) -> (C, L), so that the flat output is laid out as the input beats
        x = keras.layers.Permute((2, 1), name="decoder_channels")(x)
    reconstruction = keras.layers.Reshape((cfg.beat_width,), name="decoder_reconstruction")(x)
    return keras.Model(embedding, reconstruction, name="beat_decoder")


def build_beat_autoencoder(cfg: ModelConfig) -> keras.Model:
    """Stage 1, "beat_autoencoder": beats (B, beat_width) -> reconstruction (B, beat_width); loss MSE
    (over every channel of beats with a reference, ``cfg.beat_channels`` > 1).

    Six conv layers at the default config (three down in ``beat_encoder``, three up in
    ``beat_decoder``) around a ``cfg.embed_dim`` dense bottleneck.
    """
    encoder, decoder = build_beat_encoder(cfg), build_beat_decoder(cfg)
    beats = keras.Input((cfg.beat_width,), name="beats")
    return keras.Model(beats, decoder(encoder(beats)), name="beat_autoencoder")
