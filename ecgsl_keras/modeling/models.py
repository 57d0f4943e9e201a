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
# The architectures live one per module; this module gathers their public names.
from __future__ import annotations

from ecgsl_keras.modeling import optimizers as _optimizers  # noqa: F401  (registers ecgsl>EncoderAdamW for load_model)
from ecgsl_keras.modeling.beat_encoder import (_check_config, build_beat_autoencoder, build_beat_decoder,  # noqa: F401
                                               build_beat_encoder)
from ecgsl_keras.modeling.classifier import (ATTENTION_WEIGHTS, MEMBER_PREFIX, POOLING, PROBABILITIES,  # noqa: F401
                                             attention_model, build_beat_classifier, build_classifier, ensemble_members)
from ecgsl_keras.modeling.losses import (SparseCategoricalCrossentropyWithSmoothing,  # noqa: F401
                                         SparseFocalCrossentropy, loss_for_task)
from ecgsl_keras.modeling.masked import (MASKED_OUTPUTS, TARGET_ENCODER, MaskedSegmentModel,  # noqa: F401
                                         build_masked_model, masked_beat_errors, target_statistics)
from ecgsl_keras.modeling.resnet1d import build_resnet1d  # noqa: F401
from ecgsl_keras.modeling.sequence import build_temporal_encoder, cast_bool_inputs, sequence_inputs  # noqa: F401
from ecgsl_keras.modeling.transfer import _transfer_or_fail, transfer_weights  # noqa: F401
from tfrecords_tools.schema import IGNORE_LABEL  # noqa: F401

__all__ = ["build_beat_autoencoder", "build_beat_encoder", "build_beat_decoder", "build_temporal_encoder",
           "build_masked_model", "build_classifier", "build_beat_classifier", "build_resnet1d", "attention_model",
           "transfer_weights", "MaskedSegmentModel", "loss_for_task", "sequence_inputs",
           "cast_bool_inputs", "masked_beat_errors", "target_statistics",
           "IGNORE_LABEL"]
