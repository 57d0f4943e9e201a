"""Training-time augmentation of padded beat-sequence batches, inside ``tf.data``.

Fine-tuning and supervised training of the ECG-SL classifier see a few thousand records at most
(the CinC 2017 sample: 51), so the classifier overfits within a few CPU epochs; these label-preserving
changes of the batches (``ecgsl_keras.training.stages`` input functions, ``TrainConfig.augment``) make every
epoch's batches differ. Pre-training and evaluation never see them.

Operations on a padded batch ``features = {"beats": (B, T, L), "rr": (B, T, n_rr), "padding_mask": (B, T)
bool}`` from ``tfrecords_tools.make_dataset`` (real beats first, then padding), each applied to a
sequence with probability ``augment_prob``, in this order:

1. beat crop: keep a random contiguous run of at least ``augment_crop_min`` of the real beats (and at
   least 3), moved to the start; the rest becomes padding;
2. beat dropout: each real beat dropped (padding mask False, beats and RR zero) with probability
   ``augment_beat_dropout``, at least 3 beats always kept. The RR features of the kept beats are those
   of the original beats (not recomputed): a dropped beat is one the detector missed in the model's
   input, but the rhythm measured around the kept beats stays true;
3. amplitude scaling: one factor per sequence, log-uniform in ``[1/augment_scale, augment_scale]``;
4. baseline wander: a sinusoid of 0.1-0.5 Hz, amplitude uniform in ``[0, augment_wander]``, evaluated
   at the time of every sample (beat times from the previous-RR feature), so neighbouring beat windows
   see one consistent baseline;
5. Gaussian noise, std uniform in ``[0, augment_noise]`` per sequence.

Before 3-5, with per-beat targets and ``augment_class`` >= 0 (off by default): each real beat of that class is
reshaped with probability ``augment_class_prob`` (whatever ``augment_prob``): its first channel (the beat) is
stretched in time about the R peak by a factor log-uniform in ``[1/augment_class_stretch, augment_class_stretch]``
(linear interpolation, edges held), scaled by a factor log-uniform in ``[1/augment_class_scale,
augment_class_scale]``, flipped in polarity with probability ``augment_class_flip`` and tilted by a linear ramp whose
end-to-end change is uniform in ``[-augment_class_tilt, augment_class_tilt]``. The change of the beat is added to
every channel of the beat input, so a ``beat_reference="median"`` channel (the beat minus the record's median beat)
stays the reshaped beat minus the same median. Why (issue 18): the V forms of a record that the training records do
not show are the V beats the model loses; this shows it each V form in other widths, amplitudes and polarities.

Padded positions stay padding: mask False, beats and RR zero. Per-beat targets (B, T) follow the crop,
and dropped or cropped-away beats get the ignore label (-1); record labels are unchanged.
Random numbers are stateless (``tf.random.stateless_*``) from a per-batch seed, so a seeded pipeline
repeats exactly (``augment_dataset`` draws the seeds from ``tf.data.Dataset.random(config seed)``).
"""
from __future__ import annotations

import math

from ecgsl_keras.config import SignalConfig
from tfrecords_tools.schema import IGNORE_LABEL  # per-beat target of padding

__all__ = ["augment_batch", "augment_dataset", "reshape_class_beats", "MIN_BEATS", "WANDER_HZ"]

MIN_BEATS = 3                  # crop and dropout never leave fewer real beats (nor remove any from shorter sequences)
WANDER_HZ = (0.1, 0.5)         # respiration-like baseline frequencies
_N_SEEDS = 12
_CLASS_SALT = 7919             # the class reshaping's seeds are folded from the batch seed: the other streams stay as they were


def _train_config(config):
    return getattr(config, "train", config)


def _signal_of(config):
    signal = getattr(config, "signal", None)
    return SignalConfig() if signal is None else signal


def _signal_timing(config):
    """(sampling rate, R-peak index inside a beat window) of the beats, from the signal config."""
    signal = _signal_of(config)
    return float(signal.target_fs), int(signal.r_offset)


def reshape_class_beats(beats, targets, mask, train, beat_len: int, r_offset: int, seed):
    """``beats`` (B, T, channels x beat_len) with the real beats of class ``train.augment_class`` reshaped (module
    docstring); ``targets`` (B, T) int per-beat targets, ``mask`` (B, T) bool real beats, ``seed`` (2,) int."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(
        tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), _CLASS_SALT), num=5)
    shape = tf.shape(beats)[:2]
    channels = beats.shape[2] // beat_len
    if channels * beat_len != beats.shape[2]:
        raise ValueError(f"beat input length {beats.shape[2]} is not a multiple of beat_len {beat_len}")
    which = (mask & tf.equal(targets, tf.cast(train.augment_class, targets.dtype))
             & (tf.random.stateless_uniform(shape, seed=seeds[0]) < train.augment_class_prob))
    x = tf.cast(beats[:, :, :beat_len], tf.float32)

    def log_uniform(limit, s):
        half = math.log(float(limit))
        return tf.exp(tf.random.stateless_uniform(shape, seed=s, minval=-half, maxval=half))

    i = tf.cast(tf.range(beat_len), tf.float32)[None, None, :]
    new = x
    if train.augment_class_stretch > 1.0:
        # output sample i reads the beat at r + (i - r) / factor: a factor > 1 widens the beat about its R peak
        src = tf.clip_by_value(r_offset + (i - r_offset) / log_uniform(train.augment_class_stretch, seeds[1])[:, :, None],
                               0.0, beat_len - 1.0)
        lo = tf.floor(src)
        w = src - lo
        lo = tf.cast(lo, tf.int32)
        hi = tf.minimum(lo + 1, beat_len - 1)
        new = (tf.gather(x, lo, axis=2, batch_dims=2) * (1.0 - w) + tf.gather(x, hi, axis=2, batch_dims=2) * w)
    factor = tf.ones(shape)
    if train.augment_class_scale > 1.0:
        factor = log_uniform(train.augment_class_scale, seeds[2])
    if train.augment_class_flip > 0:
        factor = tf.where(tf.random.stateless_uniform(shape, seed=seeds[3]) < train.augment_class_flip, -factor, factor)
    new = new * factor[:, :, None]
    if train.augment_class_tilt > 0:
        tilt = tf.random.stateless_uniform(shape, seed=seeds[4], minval=-train.augment_class_tilt,
                                           maxval=train.augment_class_tilt)
        new = new + tilt[:, :, None] * (i / (beat_len - 1.0) - 0.5)
    delta = tf.where(which[:, :, None], new - x, 0.0)
    return beats + tf.cast(tf.tile(delta, [1, 1, channels]), beats.dtype)


def augment_batch(features: dict, targets, config, seed):
    """One augmented padded batch: ``(features, targets)`` -> ``(features, targets)``.

    ``config``: an ``ExperimentConfig`` (or a ``TrainConfig``; timing then from the default signal
    config); ``seed``: int32/int64 tensor of shape (2,) (the stateless RNG seed of this batch).
    ``features`` keys other than beats, rr and padding_mask pass through. Per-beat targets (int, same
    (B, T) shape as the mask) are cropped and masked with the beats; other targets are returned as is.
    """
    import tensorflow as tf

    train = _train_config(config)
    fs, r_offset = _signal_timing(config)
    p = float(train.augment_prob)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=_N_SEEDS)
    beats = tf.convert_to_tensor(features["beats"])
    rr = tf.convert_to_tensor(features["rr"])
    mask = tf.cast(features["padding_mask"], tf.bool)
    batch, steps = tf.shape(beats)[0], tf.shape(beats)[1]
    beat_len = tf.shape(beats)[2]
    per_beat = (targets is not None and targets.dtype.is_integer and targets.shape.rank == 2
                and targets.shape[1] == beats.shape[1])

    def chosen(i):
        """(B,) bool: sequences this operation applies to."""
        return tf.random.stateless_uniform([batch], seed=seeds[i]) < p

    positions = tf.range(steps, dtype=tf.int32)[None, :]
    n_real = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)

    # 1. crop: a contiguous run of real beats, moved to the start.
    if train.augment_crop_min < 1.0 and p > 0:
        fraction = tf.random.stateless_uniform([batch], seed=seeds[1], minval=train.augment_crop_min, maxval=1.0)
        keep = tf.cast(tf.math.ceil(fraction * tf.cast(n_real, tf.float32)), tf.int32)
        keep = tf.clip_by_value(keep, tf.minimum(n_real, MIN_BEATS), n_real)
        keep = tf.where(chosen(0), keep, n_real)
        start = tf.cast(tf.math.floor(tf.random.stateless_uniform([batch], seed=seeds[2])
                                      * tf.cast(n_real - keep + 1, tf.float32)), tf.int32)
        start = tf.minimum(start, n_real - keep)
        index = tf.minimum(start[:, None] + positions, steps - 1)
        kept = positions < keep[:, None]
        beats = tf.gather(beats, index, batch_dims=1)
        rr = tf.gather(rr, index, batch_dims=1)
        if per_beat:
            targets = tf.gather(targets, index, batch_dims=1)
        mask = kept
        n_real = keep

    # Beat times before any dropout (a dropped beat's previous RR still separates its neighbours).
    if rr.shape[-1]:
        r_times = tf.cumsum(rr[:, :, 0] * tf.cast(mask, rr.dtype), axis=1)
    else:   # no RR features: beats about one second apart
        r_times = tf.cast(positions, tf.float32) * tf.ones([batch, 1])

    # 2. beat dropout: the MIN_BEATS beats with the highest draw are never dropped.
    if train.augment_beat_dropout > 0 and p > 0:
        draw = tf.random.stateless_uniform([batch, steps], seed=seeds[4])
        ranked = tf.where(mask, draw, -1.0)
        # the batch's beat axis may be shorter than MIN_BEATS (length-aware batches of short sequences)
        k = min(MIN_BEATS, beats.shape[1]) if beats.shape[1] is not None else tf.minimum(MIN_BEATS, steps)
        protected_from = tf.math.top_k(ranked, k=k).values[:, -1:]
        drop = mask & (draw < train.augment_beat_dropout) & (draw < protected_from) & chosen(3)[:, None]
        mask = mask & ~drop

    real = tf.cast(mask, beats.dtype)[:, :, None]

    # the beats of one class reshaped (off by default; per-beat targets only)
    if per_beat and train.augment_class >= 0 and train.augment_class_prob > 0:
        beats = reshape_class_beats(beats, targets, mask, train, int(_signal_of(config).beat_len), r_offset, seed)

    # 3. amplitude scaling.
    if train.augment_scale > 1.0 and p > 0:
        log_max = math.log(train.augment_scale)
        factor = tf.exp(tf.random.stateless_uniform([batch], seed=seeds[6], minval=-log_max, maxval=log_max))
        factor = tf.where(chosen(5), factor, 1.0)
        beats = beats * factor[:, None, None]

    # 4. baseline wander: sin(2 pi f t + phase) at each sample's time; R-peak times from previous RR.
    if train.augment_wander > 0 and p > 0:
        offsets = (tf.cast(tf.range(beat_len), tf.float32) - r_offset) / fs
        times = r_times[:, :, None] + offsets[None, None, :]
        wander_seeds = tf.random.experimental.stateless_split(seeds[8], num=3)
        hz = tf.random.stateless_uniform([batch], seed=wander_seeds[0], minval=WANDER_HZ[0], maxval=WANDER_HZ[1])
        phase = tf.random.stateless_uniform([batch], seed=wander_seeds[1], minval=0.0, maxval=2 * math.pi)
        amplitude = tf.random.stateless_uniform([batch], seed=wander_seeds[2], minval=0.0,
                                                maxval=train.augment_wander)
        amplitude = tf.where(chosen(7), amplitude, 0.0)
        wander = amplitude[:, None, None] * tf.sin(2 * math.pi * hz[:, None, None] * times + phase[:, None, None])
        beats = beats + tf.cast(wander, beats.dtype)

    # 5. Gaussian noise.
    if train.augment_noise > 0 and p > 0:
        std = tf.random.stateless_uniform([batch], seed=seeds[10], minval=0.0, maxval=train.augment_noise)
        std = tf.where(chosen(9), std, 0.0)
        noise = tf.random.stateless_normal(tf.shape(beats), seed=seeds[11], dtype=beats.dtype)
        beats = beats + noise * std[:, None, None]

    out = dict(features)
    # Padding (and dropped beats) back to exactly zero whatever was added above.
    out["beats"] = beats * real
    out["rr"] = rr * tf.cast(mask, rr.dtype)[:, :, None]
    out["padding_mask"] = tf.cast(mask, tf.convert_to_tensor(features["padding_mask"]).dtype)
    if per_beat:
        targets = tf.where(mask, targets, tf.constant(IGNORE_LABEL, targets.dtype))
    return out, targets


def augment_dataset(ds, config, seed=None):
    """``ds`` of padded ``(features, targets)`` (or ``(features, targets, weights)``) batches, augmented.

    One stateless seed per batch from ``tf.data.Dataset.random(seed)`` (default: the config's train
    seed), re-drawn on every pass over a repeated dataset, so every epoch differs and a seeded run repeats.
    Sample weights, when present, pass through.
    """
    import tensorflow as tf

    seed = _train_config(config).seed if seed is None else seed
    rng = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def apply(element, batch_seed):
        features, targets = element[0], element[1]
        features, targets = augment_batch(features, targets, config, batch_seed)
        return (features, targets) + tuple(element[2:])

    return tf.data.Dataset.zip((ds, rng)).map(apply, num_parallel_calls=tf.data.AUTOTUNE)
