"""``EncoderAdamW``: AdamW with its own learning rate for the pre-trained temporal encoder.

Fine-tuning a pre-trained encoder with the full learning rate of a freshly initialised head can
wreck the pre-trained features in the first steps, while the head still outputs noise. Two knobs:

* ``encoder_lr_multiplier``: the encoder's variables train at ``multiplier x`` the learning rate
  (weight decay scaled alike, it is decoupled: ``lr x weight_decay``);
* ``encoder_warmup_steps``: while ``iterations < encoder_warmup_steps`` the encoder's rate is 0 (the
  encoder is frozen, only the head trains).

Both depend on ``iterations`` alone, an optimizer variable saved with the model and by
``BackupAndRestore``, so a killed and resumed run continues exactly where it was. Encoder variables
are those whose ``path`` starts with one of ``encoder_layers`` (top-level layer names: Keras 3 paths
name the layer that created a variable, e.g. ``transformer_block_1/attention/query/kernel``, not the
nested ``temporal_encoder`` model); ``encoder_layer_names(model)`` lists them. Registered under
``ecgsl``, every constructor argument in ``get_config()``, so a model saved with it loads with plain
``keras.models.load_model`` after ``import ecgsl_keras``.
"""
from __future__ import annotations

import keras
from keras import ops

from ecgsl_keras.errors import ConfigError

__all__ = ["EncoderAdamW", "encoder_layer_names", "NO_WEIGHT_DECAY", "ENCODER_MODEL"]

ENCODER_MODEL = "temporal_encoder"
# Variable names that are not decayed: biases, norms, learned positions, the mask vector.
NO_WEIGHT_DECAY = ("bias", "gamma", "beta", "embeddings", "mask_vector")


def encoder_layer_names(model, encoder: str = ENCODER_MODEL) -> tuple:
    """The first path component of every variable of ``model``'s nested ``encoder`` model, sorted
    (``("beat_embedding", "encoder_conv_1", ..., "transformer_block_2")``)."""
    try:
        sub = model.get_layer(encoder)
    except ValueError:
        raise ConfigError("<model>", "bad_config", f"model {model.name!r} has no {encoder!r} sub-model: the "
                          "encoder learning rate applies to ECG-SL classifiers") from None
    return tuple(sorted({v.path.split("/")[0] for v in sub.weights}))


@keras.saving.register_keras_serializable(package="ecgsl")
class EncoderAdamW(keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` whose ``encoder_layers`` variables get ``learning_rate x
    encoder_lr_multiplier``, and 0 for the first ``encoder_warmup_steps`` steps. With multiplier 1
    and no warm-up it updates exactly as AdamW. ``weight_decay_exclude``: variable names not decayed
    (``exclude_from_weight_decay(var_names=...)``, kept in the config, unlike AdamW's)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, *, encoder_layers=(), encoder_lr_multiplier=1.0,
                 encoder_warmup_steps=0, weight_decay_exclude=NO_WEIGHT_DECAY, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        if float(encoder_lr_multiplier) < 0:
            raise ConfigError("<optimizer>", "bad_config",
                              f"encoder_lr_multiplier must be >= 0, got {encoder_lr_multiplier}")
        if int(encoder_warmup_steps) < 0:
            raise ConfigError("<optimizer>", "bad_config",
                              f"encoder_warmup_steps must be >= 0, got {encoder_warmup_steps}")
        self.encoder_layers = tuple(str(name) for name in encoder_layers)
        self.encoder_lr_multiplier = float(encoder_lr_multiplier)
        self.encoder_warmup_steps = int(encoder_warmup_steps)
        self.weight_decay_exclude = tuple(weight_decay_exclude or ())
        if self.weight_decay_exclude:
            self.exclude_from_weight_decay(var_names=list(self.weight_decay_exclude))
        self._encoder_flags = []

    def _is_encoder_path(self, path: str) -> bool:
        return path.split("/")[0] in self.encoder_layers

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # By index (update_step sees the backend variable, whose name is not the Keras path).
        self._encoder_flags = [self._is_encoder_path(v.path) for v in variables]
        changes_encoder = self.encoder_lr_multiplier != 1.0 or self.encoder_warmup_steps > 0
        if changes_encoder and not any(self._encoder_flags):
            raise ConfigError("<optimizer>", "bad_config", f"no variable belongs to encoder_layers "
                              f"{list(self.encoder_layers)}: the encoder learning rate would change nothing")

    def _encoder_factor(self, dtype):
        factor = ops.cast(self.encoder_lr_multiplier, dtype)
        if self.encoder_warmup_steps > 0:
            frozen = ops.less(self.iterations, self.encoder_warmup_steps)
            factor = ops.where(frozen, ops.cast(0.0, dtype), factor)
        return factor

    def _apply_weight_decay(self, variables):
        # Applied in update_step instead, where each variable's own learning rate is known.
        return None

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        if self._encoder_flags and self._encoder_flags[self._get_variable_index(variable)]:
            lr = lr * self._encoder_factor(variable.dtype)
        # Decoupled weight decay first, as AdamW does (keras Optimizer._apply_weight_decay).
        if self.weight_decay is not None and self._use_weight_decay(variable):
            self.assign_sub(variable, variable * ops.cast(self.weight_decay, variable.dtype) * lr)
        super().update_step(gradient, variable, lr)

    def get_config(self):
        config = super().get_config()
        config.update(encoder_layers=list(self.encoder_layers), encoder_lr_multiplier=self.encoder_lr_multiplier,
                      encoder_warmup_steps=self.encoder_warmup_steps,
                      weight_decay_exclude=list(self.weight_decay_exclude))
        return config


def make_optimizer(train_config, total_steps: int | None = None, *, stage=None, model=None, steps_per_epoch=None):
    """The optimizer of every stage: AdamW with the learning-rate schedule of ``train_config`` (cosine
    decay over ``total_steps``, or a constant rate for ReduceLROnPlateau / constant / no
    ``total_steps``); no weight decay on ``NO_WEIGHT_DECAY`` (biases, norms, positions, mask vector).

    ``stage="finetune"``: ``EncoderAdamW`` on ``model``'s temporal encoder, with
    ``train_config.encoder_lr_multiplier`` and the encoder frozen for ``encoder_warmup_epochs`` x
    ``steps_per_epoch`` (default ``total_steps // epochs``) steps."""
    rate = train_config.learning_rate
    if train_config.lr_schedule == "cosine" and total_steps is not None:
        rate = keras.optimizers.schedules.CosineDecay(train_config.learning_rate, decay_steps=max(1, total_steps),
                                                      alpha=train_config.lr_min_fraction)
    if stage == "finetune":
        if model is None:
            raise ConfigError("<optimizer>", "bad_config", "the finetune optimizer needs the model (its encoder)")
        per_epoch = steps_per_epoch if steps_per_epoch is not None else (total_steps or 0) // max(1, train_config.epochs)
        return EncoderAdamW(learning_rate=rate, weight_decay=train_config.weight_decay,
                                       encoder_layers=encoder_layer_names(model),
                                       encoder_lr_multiplier=train_config.encoder_lr_multiplier,
                                       encoder_warmup_steps=int(train_config.encoder_warmup_epochs) * int(per_epoch))
    optimizer = keras.optimizers.AdamW(learning_rate=rate, weight_decay=train_config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer
