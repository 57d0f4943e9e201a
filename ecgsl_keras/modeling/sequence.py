"""The beat-sequence part shared by stage 2 and the classifiers: the model inputs, the temporal encoder's
named layers (beat encoder, projection, positional encoding, transformer blocks) and the input cast for
multi-replica training."""
from __future__ import annotations

import keras

from ecgsl_keras.config import ModelConfig
from ecgsl_keras.modeling import layers as ecgsl_layers
from ecgsl_keras.modeling.beat_encoder import _check_config, build_beat_encoder

# --- temporal encoder: shared named layers -----------------------------------------------------

def sequence_inputs(cfg: ModelConfig) -> dict:
    """The three symbolic inputs of every sequence model (variable number of beats)."""
    return {"beats": keras.Input((None, cfg.beat_width), name="beats"),
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
        self.flatten = ecgsl_layers.FlattenBeats(real_only=cfg.real_beats_only, name="flatten_beats")
        self.unflatten = ecgsl_layers.UnflattenBeats(real_only=cfg.real_beats_only, name="unflatten_beats")
        self.concat = keras.layers.Concatenate(name="beat_features")
        self.projection = keras.layers.Dense(cfg.d_model, name="projection")
        self.positional = ecgsl_layers.PositionalEncoding(cfg.max_beats, mode=cfg.positional_encoding,
                                                          name="positional_encoding")
        self.dropout = keras.layers.Dropout(cfg.dropout, name="embedding_dropout")
        self.blocks = [ecgsl_layers.TransformerEncoderBlock(cfg.num_heads, cfg.ff_dim, dropout=cfg.dropout,
                                                            name=f"transformer_block_{i}")
                       for i in range(1, cfg.num_layers + 1)]
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")

    def encode_beats(self, beat_encoder, beats, padding_mask):
        """``beat_encoder`` on every beat (B, T, L) -> (B, T, embed_dim); with ``cfg.real_beats_only``
        training steps encode the real beats only (zeros on padding), issue 22."""
        if self.cfg.real_beats_only:
            return self.unflatten((beat_encoder(self.flatten((beats, padding_mask))), beats, padding_mask))
        return self.unflatten((beat_encoder(self.flatten(beats)), beats))

    def embed(self, beats, rr, padding_mask):
        """Beats (B, T, L) + RR (B, T, n_rr) -> projected beat embeddings (B, T, d_model)."""
        embedding = self.encode_beats(self.beat_encoder, beats, padding_mask)
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

    The beat encoder runs on every beat (``FlattenBeats`` / ``UnflattenBeats``; in training on the
    real beats only with ``cfg.real_beats_only``), RR features are
    concatenated when ``cfg.n_rr_features`` > 0, a Dense ``projection`` maps to ``d_model``, then
    ``PositionalEncoding`` and ``cfg.num_layers`` pre-LN ``TransformerEncoderBlock`` honouring the
    padding mask, and ``encoder_norm``. Hidden states of padded beats are 0 before the final norm
    and never reach real beats. ``beat_encoder`` (e.g. ``autoencoder.get_layer("beat_encoder")``)
    is used as is (shared, not copied).
    """
    parts = _EncoderLayers(cfg, beat_encoder)
    inputs = sequence_inputs(cfg)
    embeddings = parts.embed(inputs["beats"], inputs["rr"], inputs["padding_mask"])
    hidden = parts.contextualise(embeddings, inputs["padding_mask"])
    return keras.Model(inputs, hidden, name="temporal_encoder")




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
