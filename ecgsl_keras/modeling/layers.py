"""Custom Keras 3 layers of ECG-SL: positions of beats, segment masking, a padding-aware transformer
block, pooling over beats, and two reshaping helpers.

Every layer is registered under the package ``ecgsl`` (``import ecgsl_keras`` is enough for
``keras.models.load_model`` to find them), keeps each constructor argument as an attribute, and
returns it from ``get_config()``.

Masks. Beat sequences are padded to a common length; the padding mask is a (batch, beats) bool
tensor, True on real beats, passed EXPLICITLY as an input (``padding_mask=...`` or the second item
of ``inputs``). These layers neither read nor set Keras' implicit ``_keras_mask``, so what a layer
does with padding is always visible at the call site.
"""
from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["PositionalEncoding", "SegmentMasking", "TransformerEncoderBlock", "AttentionPooling",
           "MaskedMeanPooling", "RhythmStatistics", "RRStatistics", "FlattenBeats", "UnflattenBeats", "CastToFloat"]

_PACKAGE = "ecgsl"
# Large finite negative score for padded beats: exp(-1e9 - max) is exactly 0 in float32 and,
# unlike -inf, never gives NaN when a whole row is padding.
_LARGE_NEGATIVE = -1e9


def _register(cls):
    return keras.saving.register_keras_serializable(package=_PACKAGE)(cls)


def _as_bool(mask):
    if mask is None:
        return None
    if keras.backend.standardize_dtype(mask.dtype) != "bool":
        mask = ops.greater(mask, 0)
    return mask


@_register
class PositionalEncoding(keras.layers.Layer):
    """Adds a position vector to each beat embedding: ``outputs = inputs + P[:beats]``.

    ``mode="learned"`` (default): a trainable (max_beats, dim) table. Chosen because the beat
    sequence is short and bounded (``max_beats``), the masked-segment pre-training fits the table
    on unlabelled data and hands it to the classifier (``models.transfer_weights``), and a
    learned table can pick up what position means for cropped windows (edges, the usual length
    of a record), which a fixed code cannot. ``mode="sinusoidal"``: the fixed sine/cosine code of
    Vaswani et al. 2017, no weights; use it to run longer sequences than seen in training.

    Input (batch, beats, dim) with beats <= max_beats; output the same shape. Masks: none needed
    (padded beats get a position vector too; every consumer masks them afterwards).

    Example::

        x = keras.random.normal((2, 10, 64))
        PositionalEncoding(max_beats=128)(x).shape   # (2, 10, 64)
    """

    MODES = ("learned", "sinusoidal")

    def __init__(self, max_beats, mode="learned", initializer="truncated_normal", **kwargs):
        super().__init__(**kwargs)
        if int(max_beats) < 1:
            raise ValueError(f"max_beats must be positive, got {max_beats}")
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.max_beats = int(max_beats)
        self.mode = mode
        self.initializer = keras.initializers.get(initializer)
        self.supports_masking = True

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError("PositionalEncoding needs a known last dimension")
        if input_shape[-2] is not None and input_shape[-2] > self.max_beats:
            raise ValueError(f"{input_shape[-2]} beats exceed max_beats={self.max_beats}")
        if self.mode == "learned":
            self.position_embeddings = self.add_weight(name="embeddings", shape=(self.max_beats, dim),
                                                       initializer=self.initializer, trainable=True)
        else:
            position = ops.arange(self.max_beats, dtype="float32")[:, None]
            rates = ops.exp(ops.arange(0, dim, 2, dtype="float32") * (-math.log(10000.0) / dim))
            angles = position * rates[None, :]
            table = ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1)  # interleave sin, cos
            self._table = ops.reshape(table, (self.max_beats, -1))[:, :dim]
        self.built = True

    def call(self, inputs):
        beats = ops.shape(inputs)[-2]
        table = self.position_embeddings if self.mode == "learned" else self._table
        return inputs + ops.cast(table[:beats], inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_beats": self.max_beats, "mode": self.mode,
                       "initializer": keras.initializers.serialize(self.initializer)})
        return config


@_register
class SegmentMasking(keras.layers.Layer):
    """Masks random spans of real beats for masked-segment pre-training.

    Inputs ``(embeddings (B, T, D), padding_mask (B, T) bool)``; returns ``(masked_embeddings,
    mask_positions (B, T) bool)``.

    In training, each sequence with ``n`` real beats gets ``k = floor(mask_ratio * n + 0.5)``
    masked beats (at least 1 when ``n >= 1``, at most ``n``), laid out as ``ceil(k / mask_span)``
    non-overlapping spans of ``mask_span`` consecutive real beats (the last span takes the
    remainder), placed uniformly at random. Consecutive is counted over REAL beats, so padding is
    never selected, wherever it sits. Each selected beat's embedding is replaced by one learned
    mask vector (D,). Draws come from a ``keras.random.SeedGenerator(seed)``: two layers with the
    same seed produce the same masks. With ``max_beats`` (T <= max_beats) the draw is made for
    ``max_beats`` positions and cut to T, so a sequence's masks are the same whatever its batch's T
    (the padding it gets); without it (models saved before), the draw has the batch's shape.

    At inference (``training=False``) the layer is the identity and every position is False,
    unless ``mask_at_inference=True``: then it masks with a FIXED draw (stateless, seeded by
    ``seed`` or 0), so a masked model's validation loss is computed on the same masks every epoch.

    Example::

        emb = keras.random.normal((2, 8, 16))
        pad = keras.ops.array([[True] * 8, [True] * 5 + [False] * 3])
        layer = SegmentMasking(mask_ratio=0.25, mask_span=2, seed=1)
        masked, positions = layer((emb, pad), training=True)
        keras.ops.sum(positions, axis=1)   # [2, 1]: round(0.25 * 8), round(0.25 * 5)
    """

    def __init__(self, mask_ratio, mask_span=1, seed=None, mask_at_inference=False,
                 initializer="truncated_normal", max_beats=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < float(mask_ratio) < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        if int(mask_span) < 1:
            raise ValueError(f"mask_span must be a positive integer, got {mask_span}")
        self.mask_ratio = float(mask_ratio)
        self.mask_span = int(mask_span)
        self.seed = None if seed is None else int(seed)
        self.mask_at_inference = bool(mask_at_inference)
        self.initializer = keras.initializers.get(initializer)
        self.max_beats = None if max_beats is None else int(max_beats)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape):
        embeddings_shape = input_shape[0]
        if embeddings_shape[-1] is None:
            raise ValueError("SegmentMasking needs a known embedding dimension")
        self.mask_vector = self.add_weight(name="mask_vector", shape=(embeddings_shape[-1],),
                                           initializer=self.initializer, trainable=True)
        self.built = True

    def select(self, padding_mask, seed):
        """(B, T) bool positions to mask, drawn with ``seed`` (SeedGenerator or int)."""
        real = ops.cast(_as_bool(padding_mask), "int32")
        steps = ops.shape(real)[1]
        n = ops.sum(real, axis=1)
        k = ops.cast(ops.floor(self.mask_ratio * ops.cast(n, "float32") + 0.5), "int32")
        k = ops.where(n > 0, ops.minimum(ops.maximum(k, 1), n), 0)
        span = self.mask_span
        spans = (k + span - 1) // span                  # spans per sequence
        slots = n - k + spans                           # stars and bars: spans among slots
        slot = ops.arange(steps, dtype="int32")[None, :]
        if self.max_beats:
            # Draw for max_beats positions and keep the batch's T: a sequence's masks do not depend
            # on how much padding its batch has (length-aware batches, T <= max_beats).
            scores = keras.random.uniform((ops.shape(real)[0], self.max_beats), seed=seed)[:, :steps]
        else:
            scores = keras.random.uniform(ops.shape(real), seed=seed)
        scores = ops.where(slot < slots[:, None], scores, 2.0)
        rank = ops.argsort(ops.argsort(scores, axis=1), axis=1)
        chosen = rank < spans[:, None]                  # uniformly chosen slots, one per span
        span_index = ops.cumsum(ops.cast(chosen, "int32"), axis=1) - 1
        # Slot c of the i-th span (in order) starts at real-beat rank c + i * (span - 1): earlier
        # spans all have full length; only the last one is shorter.
        start = slot + span_index * (span - 1)
        length = ops.where(span_index < spans[:, None] - 1, span, k[:, None] - (spans[:, None] - 1) * span)
        rank_axis = ops.arange(steps, dtype="int32")[None, None, :]
        covered = ops.logical_and(
            chosen[:, :, None],
            ops.logical_and(start[:, :, None] <= rank_axis, rank_axis < (start + length)[:, :, None]))
        masked_rank = ops.any(covered, axis=1)          # (B, T) over ranks of real beats
        real_rank = ops.clip(ops.cumsum(real, axis=1) - 1, 0, steps - 1)
        positions = ops.take_along_axis(masked_rank, real_rank, axis=1)
        return ops.logical_and(positions, ops.cast(real, "bool"))

    def call(self, inputs, training=None):
        embeddings, padding_mask = inputs
        if training:
            positions = self.select(padding_mask, self.seed_generator)
        elif self.mask_at_inference:
            positions = self.select(padding_mask, 0 if self.seed is None else self.seed)
        else:
            positions = ops.zeros(ops.shape(embeddings)[:2], dtype="bool")
            return embeddings, positions
        mask_vector = ops.cast(self.mask_vector, embeddings.dtype)
        return ops.where(positions[:, :, None], mask_vector[None, None, :], embeddings), positions

    def compute_output_spec(self, inputs, training=None):
        embeddings, _ = inputs
        return (keras.KerasTensor(embeddings.shape, dtype=embeddings.dtype),
                keras.KerasTensor(embeddings.shape[:2], dtype="bool"))

    def get_config(self):
        config = super().get_config()
        config.update({"mask_ratio": self.mask_ratio, "mask_span": self.mask_span, "seed": self.seed,
                       "mask_at_inference": self.mask_at_inference, "max_beats": self.max_beats,
                       "initializer": keras.initializers.serialize(self.initializer)})
        return config


@_register
class TransformerEncoderBlock(keras.layers.Layer):
    """One transformer encoder block over beats: self-attention + feed-forward, each residual.

    Pre-LN by default (``normalize_first=True``: LayerNorm before attention and before the
    feed-forward, as in Xiong et al. 2020): it trains stably without learning-rate warm-up, which
    matters for small CPU runs; finish a pre-LN stack with a LayerNormalization (the temporal
    encoder does). ``normalize_first=False`` gives the original post-LN block.

    Masks: ``padding_mask`` (B, T) bool, True on real beats. It becomes the attention mask of
    ``keras.layers.MultiHeadAttention`` over KEYS, so no real beat attends to padding and the real
    beats' outputs do not depend on how much padding follows. Padded query rows still attend to
    the real beats (never a row of all-masked scores, hence no NaN) and their outputs are set to
    exactly 0. Without ``padding_mask`` every beat is real.

    Example::

        x = keras.random.normal((2, 10, 64))
        pad = keras.ops.arange(10)[None, :] < keras.ops.array([[10], [6]])
        TransformerEncoderBlock(num_heads=4, ff_dim=128)(x, padding_mask=pad).shape  # (2, 10, 64)
    """

    def __init__(self, num_heads, ff_dim, dropout=0.0, attention_dropout=None, activation="gelu",
                 normalize_first=True, layer_norm_epsilon=1e-5, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(num_heads) < 1 or int(ff_dim) < 1:
            raise ValueError(f"num_heads and ff_dim must be positive, got {num_heads}, {ff_dim}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_heads = int(num_heads)
        self.ff_dim = int(ff_dim)
        self.dropout = float(dropout)
        self.attention_dropout = self.dropout if attention_dropout is None else float(attention_dropout)
        self.activation = keras.activations.get(activation)
        self.normalize_first = bool(normalize_first)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError("TransformerEncoderBlock needs a known model dimension")
        if dim % self.num_heads:
            raise ValueError(f"model dimension {dim} is not divisible by num_heads={self.num_heads}")
        init = lambda: keras.initializers.get(keras.initializers.serialize(self.kernel_initializer))  # noqa: E731
        self.attention_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                              dtype=self.dtype_policy, name="attention_norm")
        self.attention_norm.build(input_shape)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads, key_dim=dim // self.num_heads, dropout=self.attention_dropout,
            kernel_initializer=init(), dtype=self.dtype_policy, name="attention")
        self.attention.build(input_shape, input_shape)
        self.attention_output_dropout = keras.layers.Dropout(self.dropout, name="attention_output_dropout")
        self.feedforward_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                                dtype=self.dtype_policy, name="feedforward_norm")
        self.feedforward_norm.build(input_shape)
        self.feedforward_inner = keras.layers.Dense(self.ff_dim, activation=self.activation,
                                                    kernel_initializer=init(), dtype=self.dtype_policy,
                                                    name="feedforward_inner")
        self.feedforward_inner.build(input_shape)
        self.feedforward_output = keras.layers.Dense(dim, kernel_initializer=init(), dtype=self.dtype_policy,
                                                     name="feedforward_output")
        self.feedforward_output.build(tuple(input_shape[:-1]) + (self.ff_dim,))
        self.feedforward_dropout = keras.layers.Dropout(self.dropout, name="feedforward_dropout")
        self.built = True

    def call(self, inputs, padding_mask=None, training=None):
        x = inputs
        attention_mask = None
        if padding_mask is not None:
            padding_mask = _as_bool(padding_mask)
            steps = ops.shape(x)[1]
            # (B, T_query, T_key): every query row sees the real keys only.
            attention_mask = ops.repeat(padding_mask[:, None, :], steps, axis=1)

        residual = x
        h = self.attention_norm(x) if self.normalize_first else x
        h = self.attention(h, h, attention_mask=attention_mask, training=training)
        x = residual + self.attention_output_dropout(h, training=training)
        if not self.normalize_first:
            x = self.attention_norm(x)

        residual = x
        h = self.feedforward_norm(x) if self.normalize_first else x
        h = self.feedforward_output(self.feedforward_inner(h))
        x = residual + self.feedforward_dropout(h, training=training)
        if not self.normalize_first:
            x = self.feedforward_norm(x)

        if padding_mask is not None:
            x = ops.where(padding_mask[:, :, None], x, ops.zeros_like(x))
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "ff_dim": self.ff_dim, "dropout": self.dropout,
                       "attention_dropout": self.attention_dropout,
                       "activation": keras.activations.serialize(self.activation),
                       "normalize_first": self.normalize_first, "layer_norm_epsilon": self.layer_norm_epsilon,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config


def _masked_normalise(scores, padding_mask):
    """Softmax of ``scores`` (B, T) over real beats; padded beats get exactly 0."""
    scores = ops.where(padding_mask, scores, ops.cast(_LARGE_NEGATIVE, scores.dtype))
    scores = scores - ops.max(scores, axis=1, keepdims=True)
    weights = ops.exp(scores) * ops.cast(padding_mask, scores.dtype)
    # A sequence of padding only: weights all 0 (divide_no_nan), pooled vector 0.
    return ops.divide_no_nan(weights, ops.sum(weights, axis=1, keepdims=True))


@_register
class AttentionPooling(keras.layers.Layer):
    """Attention pooling over beats: ``w = softmax_real(v . tanh(W h_t + b))``, ``pooled = sum_t w_t h_t``.

    Inputs ``(hidden (B, T, D), padding_mask (B, T) bool)``; returns ``(pooled (B, D), weights (B, T))``.
    Masks: the softmax runs over real beats only; padded beats get weight exactly 0 and the weights
    of each sequence sum to 1 over its real beats (0 everywhere for a sequence of padding only).
    The weights are an output, for plots and explanations.

    Example::

        h = keras.random.normal((2, 10, 64))
        pad = keras.ops.arange(10)[None, :] < keras.ops.array([[10], [6]])
        pooled, weights = AttentionPooling(units=64)((h, pad))   # (2, 64), (2, 10)
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"units must be positive, got {units}")
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        hidden_shape = input_shape[0]
        init = lambda: keras.initializers.get(keras.initializers.serialize(self.kernel_initializer))  # noqa: E731
        self.score_hidden = keras.layers.Dense(self.units, activation="tanh", kernel_initializer=init(),
                                               dtype=self.dtype_policy, name="score_hidden")
        self.score_hidden.build(hidden_shape)
        # No bias: a constant added to every score cancels in the softmax.
        self.score_output = keras.layers.Dense(1, use_bias=False, kernel_initializer=init(),
                                               dtype=self.dtype_policy, name="score_output")
        self.score_output.build(tuple(hidden_shape[:-1]) + (self.units,))
        self.built = True

    def call(self, inputs):
        hidden, padding_mask = inputs
        padding_mask = _as_bool(padding_mask)
        scores = ops.squeeze(self.score_output(self.score_hidden(hidden)), axis=-1)
        weights = _masked_normalise(scores, padding_mask)
        pooled = ops.sum(hidden * weights[:, :, None], axis=1)
        return pooled, weights

    def compute_output_shape(self, input_shape):
        hidden_shape = input_shape[0]
        return (hidden_shape[0], hidden_shape[-1]), tuple(hidden_shape[:2])

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config


@_register
class MaskedMeanPooling(keras.layers.Layer):
    """Mean over real beats (the pooling ablation); same interface as ``AttentionPooling``.

    Inputs ``(hidden (B, T, D), padding_mask (B, T) bool)``; returns ``(pooled (B, D), weights (B, T))``
    where ``weights`` is 1/n on the n real beats and 0 on padding (so attention plots and exports
    work unchanged). A sequence of padding only pools to 0.

    Example::

        h = keras.random.normal((2, 10, 64))
        pad = keras.ops.arange(10)[None, :] < keras.ops.array([[10], [6]])
        pooled, weights = MaskedMeanPooling()((h, pad))
    """

    def call(self, inputs):
        hidden, padding_mask = inputs
        real = ops.cast(_as_bool(padding_mask), hidden.dtype)
        weights = ops.divide_no_nan(real, ops.sum(real, axis=1, keepdims=True))
        return ops.sum(hidden * weights[:, :, None], axis=1), weights

    def compute_output_shape(self, input_shape):
        hidden_shape = input_shape[0]
        return (hidden_shape[0], hidden_shape[-1]), tuple(hidden_shape[:2])


def _real_first(padding_mask, *series):
    """Each row's real beats moved to the front, in order (padding and dropped beats after them), so that
    neighbours in the result are consecutive REAL beats: ``([series reordered], valid, count)`` with each of
    ``series`` (B, T), ``valid`` (B, T) 1.0 on the leading real positions and ``count`` (B,) the real beats, in
    ``series[0]``'s dtype (``RhythmStatistics``, ``RRStatistics``)."""
    dtype = series[0].dtype
    real = ops.cast(_as_bool(padding_mask), dtype)
    count = ops.sum(real, axis=1)
    steps = ops.shape(real)[1]
    position = ops.arange(steps, dtype="int32")[None, :]
    order = ops.argsort(ops.where(real > 0, position, position + steps), axis=1)
    valid = ops.cast(position < ops.cast(count, "int32")[:, None], dtype)
    return [ops.take_along_axis(values, order, axis=1) for values in series], valid, count


# The RR formulas that RhythmStatistics and RRStatistics share, written once. Rows are (B, T); ``weight`` is 1.0 on
# the beats a statistic counts, 0.0 elsewhere; ``n`` (B,) their number floored at 1.


def _mean_sd(x, weight, n):
    """The weighted mean and population SD of each row (1e-8 under the root: a finite gradient at SD 0)."""
    mean = ops.sum(x * weight, axis=1) / n
    sd = ops.sqrt(ops.sum(ops.square(x - mean[:, None]) * weight, axis=1) / n + 1e-8)
    return mean, sd


def _share(condition, weight, total):
    """The weighted share of each row where ``condition`` holds, over ``total`` (B,)."""
    return ops.sum(ops.cast(condition, weight.dtype) * weight, axis=1) / total


def _successive(x, valid):
    """``(pair, pairs, diff)`` of rows whose real beats come first (``_real_first``): ``pair`` (B, T-1) 1.0 where
    both neighbours are real, ``pairs`` their number floored at 1, ``diff`` the successive differences (0 elsewhere)."""
    pair = valid[:, 1:] * valid[:, :-1]
    return pair, ops.maximum(ops.sum(pair, axis=1), 1.0), (x[:, 1:] - x[:, :-1]) * pair


def _rms(diff, pairs):
    """The root mean square of each row's successive differences (RMSSD)."""
    return ops.sqrt(ops.sum(ops.square(diff), axis=1) / pairs + 1e-8)


def _local_ratio(x, local, weight, n, floor):
    """``(ratio, ratio SD, share more than 15% off)`` of each RR over its local mean RR (floored at ``floor``)."""
    ratio = x / ops.maximum(local, floor)
    _, ratio_sd = _mean_sd(ratio, weight, n)
    return ratio, ratio_sd, _share(ops.abs(ratio - 1.0) > 0.15, weight, n)


@_register
class RhythmStatistics(keras.layers.Layer):
    """Record-level rhythm statistics of the real beats' RR features, for the classifier head.

    Inputs ``(rr (B, T, n_rr), padding_mask (B, T))`` with ``rr[..., 0]`` the previous RR and
    ``rr[..., 2]`` the local mean RR (seconds, ``ecgsl_keras.data.signal.rr_features``); returns (B, 8):
    mean RR, SD, coefficient of variation, RMSSD / mean, mean absolute successive difference / mean,
    pNN50, the SD of RR / local mean, and the share of beats more than 15% off their local mean.
    Successive differences are taken between consecutive REAL beats (padding or dropped beats in
    between are skipped). Why: irregularity is what AF is, and a sequence-wide statistic is cheap to
    give the head directly, while attention pooling over beats has to learn it.

    Example::

        rr = keras.random.uniform((2, 10, 3), 0.6, 1.0)
        stats = RhythmStatistics()((rr, keras.ops.ones((2, 10), "bool")))   # (2, 8)
    """

    n_statistics = 8

    def call(self, inputs):
        rr, padding_mask = inputs
        real = ops.cast(_as_bool(padding_mask), rr.dtype)
        n = ops.maximum(ops.sum(real, axis=1), 1.0)
        x = rr[..., 0]
        mean, sd = _mean_sd(x, real, n)
        (compact,), compact_real, _ = _real_first(padding_mask, x)
        pair, pairs, diff = _successive(compact, compact_real)
        # Divisors floored at 0.2 s (the shortest RR segmentation keeps, SignalConfig.min_rr_s): the
        # same on real beats, and never near zero, which full-integer TFLite cannot divide by.
        safe_mean = ops.maximum(mean, 0.2)
        rmssd = _rms(diff, pairs) / safe_mean
        masd = ops.sum(ops.abs(diff), axis=1) / pairs / safe_mean
        pnn50 = _share(ops.abs(diff) > 0.05, pair, pairs)
        # without the local mean (rr of fewer than 3 features), the record's mean stands in for it
        local = rr[..., 2] if rr.shape[-1] is not None and rr.shape[-1] >= 3 else safe_mean[:, None]
        _, ratio_sd, off = _local_ratio(x, local, real, n, 0.2)
        return ops.stack([mean, sd, sd / safe_mean, rmssd, masd, pnn50, ratio_sd, off], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.n_statistics)


@_register
class RRStatistics(keras.layers.Layer):
    """The record's RR series described by ``NAMES`` (26 statistics of its real beats), the input of a rhythm
    member (``classifier.build_rhythm_member``).

    Inputs ``(rr (B, T, 3), padding_mask (B, T))`` with ``rr[..., 0]`` the previous RR and ``rr[..., 2]`` the local
    mean RR (seconds, ``ecgsl_keras.data.signal.rr_features``); returns (B, 26) in ``NAMES`` order: mean RR, its SD
    and coefficient of variation; RMSSD, RMSSD and the SD of the successive differences over the mean; pNN50, pNN20
    and the share of successive differences over 15% of the mean; minimum, maximum, median; the 10th and 90th
    percentiles and the range over the median; the median and the mean absolute successive difference over the
    median and the mean; heart rate (per minute); Poincare SD1 and SD2 over the mean and their ratio; the
    turning-point ratio; the SD of RR over its local mean, the share more than 15% off it and the largest ratio; the
    number of real beats; with ``entropy``, also sample entropy and COSEn (``ENTROPY_NAMES``, 28 in all). Successive
    differences are taken between consecutive REAL beats; percentiles are the
    sorted real beats' value at rank ``round(q * (n - 1))``; a statistic without its beats (one beat, no pair) is 0.
    Why: the hand-made RR statistics that carry AF for the features baseline (``record_features``' rhythm
    columns), in ops that the TFLite graph runs (sorts, gathers, reductions), so that the edge file can hold them.
    ``tests/test_rhythm_member.py`` checks each against NumPy.

    Example::

        rr = keras.random.uniform((2, 10, 3), 0.6, 1.0)
        stats = RRStatistics()((rr, keras.ops.ones((2, 10), "bool")))   # (2, 26)
    """

    NAMES = ("mean_rr", "sd_rr", "cv_rr", "rmssd", "rmssd_norm", "sdsd_norm", "pnn50", "pnn20", "irregular_fraction",
             "min_rr", "max_rr", "median_rr", "p10_norm", "p90_norm", "range_norm", "madsd_norm", "masd_norm",
             "heart_rate", "sd1_norm", "sd2_norm", "sd1_sd2", "turning_point_ratio", "ratio_sd", "off_local_fraction",
             "max_local_ratio", "n_beats")
    n_statistics = len(NAMES)
    ENTROPY_NAMES = ("sample_entropy", "cosen")
    _BIG = 1e3          # sorts padding last (RR is clipped at SignalConfig.max_rr_s, a few seconds)
    _FLOOR = 0.2        # divisors floored at SignalConfig.min_rr_s, as RhythmStatistics

    def __init__(self, entropy: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.entropy = bool(entropy)

    @property
    def names(self) -> tuple:
        """The statistics this layer returns, in order: ``NAMES``, then ``ENTROPY_NAMES`` with ``entropy``."""
        return self.NAMES + (self.ENTROPY_NAMES if self.entropy else ())

    def get_config(self):
        config = super().get_config()
        config.update(entropy=self.entropy)
        return config

    def _entropy(self, x, count, sd, mean):
        """Sample entropy (m = 2, r = 0.2 SD, Chebyshev distance; template pairs i < j among the n - 2 starts, so
        that both lengths count the same templates; a count of 0 floored at 1) and COSEn (Lake & Moorman 2011:
        sample entropy + ln(2r) - ln(mean RR)) of compacted rows ``x``; 0 under 4 beats. One (T, T) comparison
        matrix per record: 16,384 entries at 128 beats."""
        dtype = x.dtype
        r = ops.maximum(0.2 * sd, 1e-3)
        match = ops.cast(ops.abs(x[:, :, None] - x[:, None, :]) <= r[:, None, None], dtype)
        two = match[:, :-1, :-1] * match[:, 1:, 1:]
        three = two[:, :-1, :-1] * match[:, 2:, 2:]
        starts = ops.cast(ops.arange(ops.shape(x)[1] - 2), dtype)
        start_ok = ops.cast(starts[None, :] < count[:, None] - 2.0, dtype)
        pairs = start_ok[:, :, None] * start_ok[:, None, :]
        # the matches are symmetric and every template matches itself: pairs i < j = (all pairs - diagonal) / 2,
        # with no (T, T) triangle mask for the TFLite converter to fold into a constant (64 KB at 128 beats)
        diagonal = ops.sum(start_ok, axis=1)
        b = (ops.sum(two[:, :-1, :-1] * pairs, axis=(1, 2)) - diagonal) / 2.0
        a = (ops.sum(three * pairs, axis=(1, 2)) - diagonal) / 2.0
        enough = ops.cast(count >= 4.0, dtype)
        sampen = (ops.log(ops.maximum(b, 1.0)) - ops.log(ops.maximum(a, 1.0))) * enough
        cosen = (sampen + ops.log(2.0 * r) - ops.log(ops.maximum(mean, self._FLOOR))) * enough
        return [sampen, cosen]

    def build(self, input_shape):
        rr_shape = input_shape[0]
        if rr_shape[-1] is not None and rr_shape[-1] < 3:
            raise ValueError(f"RRStatistics needs rr with 3 features (previous, next, local mean), got {rr_shape}")
        super().build(input_shape)

    @staticmethod
    def _rank(sorted_values, count, q):
        """The value at rank round(q * (count - 1)) of each row of ascending ``sorted_values``."""
        index = ops.cast(ops.round(q * ops.maximum(count - 1.0, 0.0)), "int32")
        return ops.take_along_axis(sorted_values, index[:, None], axis=1)[:, 0]

    def call(self, inputs):
        rr, padding_mask = inputs
        dtype = rr.dtype
        (x, local), valid, count = _real_first(padding_mask, rr[..., 0], rr[..., 2])
        n = ops.maximum(count, 1.0)
        x = x * valid
        mean, sd = _mean_sd(x, valid, n)
        safe_mean = ops.maximum(mean, self._FLOOR)
        pair, pairs, diff = _successive(x, valid)
        has_pair = ops.cast(ops.sum(pair, axis=1) > 0, dtype)
        absdiff = ops.abs(diff)
        rmssd = _rms(diff, pairs) * has_pair
        _, sdsd = _mean_sd(diff, pair, pairs)
        sdsd = sdsd * has_pair
        pnn50 = _share(absdiff > 0.05, pair, pairs)
        pnn20 = _share(absdiff > 0.02, pair, pairs)
        irregular = _share(absdiff > 0.15 * safe_mean[:, None], pair, pairs)
        ordered = ops.sort(ops.where(valid > 0, x, self._BIG), axis=1)
        minimum, maximum = self._rank(ordered, count, 0.0), self._rank(ordered, count, 1.0)
        median = self._rank(ordered, count, 0.5)
        safe_median = ops.maximum(median, self._FLOOR)
        p10, p90 = self._rank(ordered, count, 0.1), self._rank(ordered, count, 0.9)
        diffs_ordered = ops.sort(ops.where(pair > 0, absdiff, self._BIG), axis=1)
        madsd = self._rank(diffs_ordered, ops.sum(pair, axis=1), 0.5) * has_pair
        masd = ops.sum(absdiff, axis=1) / pairs
        sd1 = sdsd / math.sqrt(2.0)
        sd2 = ops.sqrt(ops.maximum(2.0 * ops.square(sd) - ops.square(sd1), 0.0) + 1e-8)
        middle, before, after = x[:, 1:-1], x[:, :-2], x[:, 2:]
        triple = valid[:, 2:] * valid[:, 1:-1] * valid[:, :-2]
        turning = ops.logical_or(ops.logical_and(middle > before, middle > after),
                                 ops.logical_and(middle < before, middle < after))
        turning_ratio = _share(turning, triple, ops.maximum(ops.sum(triple, axis=1), 1.0))
        ratio, ratio_sd, off = _local_ratio(x, local, valid, n, self._FLOOR)
        max_ratio = ops.max(ratio * valid, axis=1)
        extra = self._entropy(x, count, sd, mean) if self.entropy else []
        return ops.stack([mean, sd, sd / safe_mean, rmssd, rmssd / safe_mean, sdsd / safe_mean, pnn50, pnn20,
                          irregular, minimum * ops.cast(count > 0, dtype), maximum * ops.cast(count > 0, dtype),
                          median * ops.cast(count > 0, dtype), p10 / safe_median * ops.cast(count > 0, dtype),
                          p90 / safe_median * ops.cast(count > 0, dtype),
                          (maximum - minimum) / safe_median * ops.cast(count > 0, dtype), madsd / safe_median,
                          masd / safe_mean, 60.0 / safe_mean, sd1 / safe_mean, sd2 / safe_mean,
                          sd1 / ops.maximum(sd2, 1e-3), turning_ratio, ratio_sd, off, max_ratio, count] + extra,
                         axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], len(self.names))


@_register
class FlattenBeats(keras.layers.Layer):
    """(B, T, ...) -> (B * T, ...): lets a single-beat model (the beat encoder) run on every beat in
    one batched call (cheaper and simpler to export than ``TimeDistributed``). Undo with
    ``UnflattenBeats``. Masks: none; padded beats are encoded too and masked downstream.

    ``real_only=True`` (issue 22): inputs ``(beats, padding_mask)``; in training the output holds
    the real beats only (N_real, ...), gathered in row-major order by the mask, so the beat encoder
    skips the padding; ``UnflattenBeats(real_only=True)`` scatters them back (zeros on padding).
    In inference every beat is kept (static shapes for export); outputs on real beats are the same.

    Example::

        beats = keras.random.normal((2, 10, 96))
        flat = FlattenBeats()(beats)                                  # (20, 96)
        UnflattenBeats()((keras.layers.Dense(8)(flat), beats)).shape  # (2, 10, 8)
    """

    def __init__(self, real_only: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.real_only = bool(real_only)

    def call(self, inputs, training=None):
        if self.real_only:
            inputs, mask = inputs
            if training:
                flat = ops.reshape(inputs, (-1,) + tuple(ops.shape(inputs)[2:]))
                return ops.take(flat, _real_indices(mask), axis=0)
        shape = ops.shape(inputs)
        return ops.reshape(inputs, (-1,) + tuple(shape[2:]))

    def compute_output_shape(self, input_shape):
        if self.real_only:
            input_shape = input_shape[0]
        batch, steps = input_shape[0], input_shape[1]
        merged = batch * steps if batch is not None and steps is not None and not self.real_only else None
        return (merged,) + tuple(input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "real_only": self.real_only}


@_register
class UnflattenBeats(keras.layers.Layer):
    """Inputs ``(flat (B * T, ...), reference (B, T, ...))`` -> (B, T, ...): restores the beat axis
    from the reference tensor's leading two dimensions. See ``FlattenBeats``. ``real_only=True``:
    inputs ``(flat, reference, padding_mask)``; in training ``flat`` holds the real beats only and is
    scattered back to their places, zeros on padding."""

    def __init__(self, real_only: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.real_only = bool(real_only)

    def call(self, inputs, training=None):
        if self.real_only:
            flat, reference, mask = inputs
            if training:
                leading = ops.shape(reference)[:2]
                rest = tuple(ops.shape(flat)[1:])
                full = ops.scatter(ops.expand_dims(_real_indices(mask), -1), flat, (leading[0] * leading[1],) + rest)
                return ops.reshape(full, tuple(leading) + rest)
        else:
            flat, reference = inputs
        leading = ops.shape(reference)[:2]
        return ops.reshape(flat, tuple(leading) + tuple(ops.shape(flat)[1:]))

    def compute_output_shape(self, input_shape):
        flat_shape, reference_shape = input_shape[0], input_shape[1]
        return tuple(reference_shape[:2]) + tuple(flat_shape[1:])

    def get_config(self):
        return {**super().get_config(), "real_only": self.real_only}


def _real_indices(mask):
    """Row-major positions (int) of the True entries of a (B, T) mask, in the flattened (B * T) axis."""
    return ops.where(ops.reshape(ops.cast(mask, "bool"), (-1,)))[0]


@_register
class CastToFloat(keras.layers.Layer):
    """Casts its input (e.g. a bool mask) to the layer's float dtype: bool model outputs cannot be
    gathered across replicas by ``predict`` under ``tf.distribute`` (no bool AddN), 0/1 floats can.

    Example::

        CastToFloat()(keras.ops.array([[True, False]]))   # [[1., 0.]]
    """

    def call(self, inputs):
        return ops.cast(inputs, self.compute_dtype)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
