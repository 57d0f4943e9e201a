"""Fine-tuning aids: batch augmentation in tf.data, label smoothing, the encoder learning rate."""
from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import ecgsl_keras  # noqa: F401  (custom objects)
from ecgsl_keras import tasks
from ecgsl_keras.data import augment
from ecgsl_keras.modeling import models
from ecgsl_keras.modeling import optimizers
from ecgsl_keras.training import trainer as train_lib
from ecgsl_keras.training.stages import compile_for_stage, get_stage
from ecgsl_keras.config import ExperimentConfig, ModelConfig, TrainConfig
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.cli import train as train_cli

SMALL = ModelConfig(embed_dim=16, conv_filters=(8, 8, 16), d_model=16, num_heads=2, ff_dim=32, num_layers=1,
                    max_beats=40, head_units=16, attention_units=8)
# Every operation off: each test switches on what it checks.
OFF = dict(augment_prob=1.0, augment_scale=1.0, augment_noise=0.0, augment_wander=0.0, augment_crop_min=1.0,
           augment_beat_dropout=0.0)


@pytest.fixture(scope="module")
def setup(cinc_sample_tfrecords):
    from tfrecords_tools import load_manifest

    manifest = load_manifest(cinc_sample_tfrecords)
    config = train_lib.resolve_config(None, manifest, cinc_sample_tfrecords)
    task = train_lib.resolve_task(manifest, cinc_sample_tfrecords)
    return cinc_sample_tfrecords, manifest, config, task


def _with(config, **train):
    return dataclasses.replace(config, train=dataclasses.replace(config.train, **train))


def _batches(data, config, task, n=3, batch_size=16, seed=7):
    """Plain padded training batches (bool mask, integer targets) from the reader."""
    from tfrecords_tools import make_dataset

    ds = make_dataset(str(data), split="train", training=True, batch_size=batch_size, seed=seed,
                      max_beats=config.model.max_beats, label_kind=task.kind, num_classes=task.num_classes,
                      length_aware=config.train.length_aware, sort_window=config.train.sort_window_batches,
                      drop_remainder=True)   # as the stage input (more examples than a batch)
    return [(dict(f), y) for f, y in ds.take(n)]


def _pipeline(stage, data, manifest, config, task, n=3, weights=None):
    fn = get_stage(stage).input_fn(data, manifest, config, task, 16, weights=weights)
    return [tf.nest.map_structure(lambda t: t.numpy(), e) for e in fn(tf.distribute.InputContext()).take(n)]


# --- augmentation ----------------------------------------------------------------------------------

def test_padding_is_never_touched_and_three_beats_are_kept(setup):
    data, _, config, task = setup
    strong = _with(config, augment_prob=1.0, augment_crop_min=0.3, augment_beat_dropout=0.6, augment_noise=0.1,
                   augment_wander=0.3)
    changed = 0
    for i, (features, targets) in enumerate(_batches(data, config, task, n=4)):
        out, out_targets = augment.augment_batch(features, targets, strong, tf.constant([i, 1], tf.int64))
        before, after = features["padding_mask"].numpy(), out["padding_mask"].numpy()
        assert out["padding_mask"].dtype == tf.bool
        assert not after[~before].any()                       # padding stays padding
        assert (out["beats"].numpy()[~after] == 0).all() and (out["rr"].numpy()[~after] == 0).all()
        n_before, n_after = before.sum(1), after.sum(1)
        assert (n_after >= np.minimum(n_before, augment.MIN_BEATS)).all() and (n_after <= n_before).all()
        changed += int((n_after < n_before).sum())
        np.testing.assert_array_equal(out_targets.numpy(), targets.numpy())   # record labels unchanged
        # kept beats carry a real beat's RR features, never recomputed ones
        rr_before = {tuple(np.round(r, 6)) for r in features["rr"].numpy()[before]}
        assert {tuple(np.round(r, 6)) for r in out["rr"].numpy()[after]} <= rr_before
    assert changed > 10      # crops and dropouts did happen


def test_per_beat_targets_follow_the_crop():
    rng = np.random.default_rng(0)
    n = np.array([20, 9, 3, 2])
    mask = np.arange(24)[None, :] < n[:, None]
    beats = rng.normal(size=(4, 24, 96)).astype("float32") * mask[:, :, None]
    beats[:, :, 0] = np.arange(24)[None, :] * mask        # beat identity in sample 0 (no scaling or noise)
    rr = np.abs(rng.normal(0.8, 0.1, (4, 24, 3))).astype("float32") * mask[:, :, None]
    labels = np.where(mask, np.arange(24)[None, :] % 5, -1).astype("int32")
    config = ExperimentConfig(train=TrainConfig(**dict(OFF, augment_crop_min=0.5, augment_beat_dropout=0.3)))
    for s in range(5):
        out, out_labels = augment.augment_batch({"beats": beats, "rr": rr, "padding_mask": mask},
                                                tf.constant(labels), config, tf.constant([s, 3]))
        kept = out["padding_mask"].numpy()
        source = out["beats"].numpy()[:, :, 0].astype(int)
        np.testing.assert_array_equal(out_labels.numpy(), np.where(kept, source % 5, -1))
        assert (kept.sum(1) >= np.minimum(n, 3)).all()
        assert kept[2].sum() == 3 and kept[3].sum() == 2            # short sequences keep every beat


def test_augment_off_gives_the_plain_pipeline_bit_for_bit(setup):
    data, manifest, config, task = setup
    weights = train_lib.class_weights(manifest, task)
    plain = []
    element = train_lib._classifier_element(task, False, tf.constant(weights, tf.float32))
    for features, targets in _batches(data, config, task, n=3, seed=config.train.seed):
        plain.append(tf.nest.map_structure(lambda t: t.numpy(), element(features, targets)))
    off = _pipeline("supervised", data, manifest, _with(config, augment=False), task, weights=weights)
    on = _pipeline("supervised", data, manifest, config, task, weights=weights)
    for a, b, c in zip(plain, off, on):
        for key in ("beats", "rr", "padding_mask"):
            np.testing.assert_array_equal(a[0][key], b[0][key])
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[2], b[2])
        # augmentation on: same examples, labels and weights, float mask, different signal
        np.testing.assert_array_equal(a[1], c[1])
        np.testing.assert_array_equal(a[2], c[2])
        assert c[0]["padding_mask"].dtype == np.float32
        assert not np.array_equal(a[0]["beats"], c[0]["beats"])
    # pre-training never sees augmentation
    masked = _pipeline("masked", data, manifest, config, task, n=1)[0]
    from tfrecords_tools import make_dataset
    reference = next(iter(make_dataset(str(data), split="train", training=True, batch_size=16, target="beats",
                                       seed=config.train.seed, max_beats=config.model.max_beats,
                                       length_aware=config.train.length_aware, drop_remainder=True,
                                       sort_window=config.train.sort_window_batches)))
    np.testing.assert_array_equal(masked[0]["beats"], reference[0]["beats"].numpy())


def test_scaling_and_noise_change_real_beats_within_bounds(setup):
    data, _, config, task = setup
    features, targets = _batches(data, config, task, n=1, batch_size=32)[0]
    mask = features["padding_mask"].numpy()
    beats = features["beats"].numpy()

    out, _ = augment.augment_batch(features, targets, _with(config, **dict(OFF, augment_scale=1.25)),
                                   tf.constant([1, 2]))
    factors = []
    for b in range(len(mask)):
        real = mask[b][:, None] & (np.abs(beats[b]) > 0.1)
        ratio = out["beats"].numpy()[b][real] / beats[b][real]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)          # one factor per sequence
        factors.append(ratio[0])
    factors = np.array(factors)
    assert (factors >= 1 / 1.25 - 1e-6).all() and (factors <= 1.25 + 1e-6).all()
    assert np.ptp(factors) > 0.1 and (np.abs(factors - 1) > 1e-3).mean() > 0.8

    out, _ = augment.augment_batch(features, targets, _with(config, **dict(OFF, augment_noise=0.05)),
                                   tf.constant([3, 4]))
    diff = out["beats"].numpy() - beats
    stds = np.array([diff[b][mask[b]].std() for b in range(len(mask))])
    assert (stds <= 0.05 * 1.05).all() and (stds > 0).all() and np.ptp(stds) > 0.01
    assert abs(diff[mask].mean()) < 5e-3

    out, _ = augment.augment_batch(features, targets, _with(config, **dict(OFF, augment_wander=0.2)),
                                   tf.constant([5, 6]))
    wander = out["beats"].numpy() - beats
    assert np.abs(wander).max() <= 0.2 + 1e-5 and np.abs(wander[mask]).max() > 0.02
    # a slow sinusoid: below 0.5 Hz it moves at most 2 pi 0.5 0.2 / fs between two samples
    assert np.abs(np.diff(wander, axis=-1)).max() <= 2 * np.pi * 0.5 * 0.2 / config.signal.target_fs + 1e-5
    assert (wander[~mask] == 0).all()


def test_seeded_augmentation_repeats(setup):
    data, manifest, config, task = setup
    first = _pipeline("supervised", data, manifest, config, task, n=2)
    again = _pipeline("supervised", data, manifest, config, task, n=2)
    other = _pipeline("supervised", data, manifest, _with(config, seed=config.train.seed + 1), task, n=2)
    for a, b in zip(first, again):
        tf.nest.map_structure(np.testing.assert_array_equal, a, b)
    assert not np.array_equal(first[0][0]["beats"], other[0][0]["beats"])
    # a repeated dataset draws new augmentations on its next pass
    features, targets = _batches(data, config, task, n=1)[0]
    ds = augment.augment_dataset(tf.data.Dataset.from_tensors((features, targets)).repeat(1), config).repeat(2)
    passes = [e[0]["beats"].numpy() for e in ds]
    assert not np.array_equal(passes[0], passes[1])


def _class_batch(channels=2, seed=0):
    """A 2-channel (beat, beat minus a median) batch with per-beat targets; class 2 is the reshaped one."""
    rng = np.random.default_rng(seed)
    mask = np.ones((3, 12), bool)
    mask[2, 8:] = False
    beat = rng.normal(size=(3, 12, 96)).astype("float32")
    median = rng.normal(size=(1, 1, 96)).astype("float32")
    beats = np.concatenate([beat, beat - median][:channels], axis=-1) * mask[:, :, None]
    labels = np.where(mask, rng.integers(0, 4, (3, 12)), -1).astype("int32")
    labels[2, 8] = 2                                   # padding labelled 2 must stay untouched
    rr = np.abs(rng.normal(0.8, 0.1, (3, 12, 3))).astype("float32") * mask[:, :, None]
    return {"beats": beats, "rr": rr, "padding_mask": mask}, labels


def _reshaped(features, labels, **train):
    from ecgsl_keras.config import SignalConfig
    config = ExperimentConfig(signal=SignalConfig(beat_reference="median"),
                              train=TrainConfig(**dict(OFF, augment_class=2, augment_class_prob=1.0, **train)))
    out, _ = augment.augment_batch(features, tf.constant(labels), config, tf.constant([3, 4]))
    return out["beats"].numpy()


def test_class_reshaping_touches_only_that_class_and_keeps_the_reference_channel():
    features, labels = _class_batch()
    beats = features["beats"]
    out = _reshaped(features, labels, augment_class_stretch=1.3, augment_class_scale=1.5, augment_class_tilt=0.2,
                    augment_class_flip=0.5)
    target = features["padding_mask"] & (labels == 2)
    changed = (out != beats).any(-1)
    np.testing.assert_array_equal(changed, target)             # every real class-2 beat, nothing else
    delta = out - beats
    np.testing.assert_allclose(delta[..., :96], delta[..., 96:], atol=1e-5)   # beat minus the same median
    # flip only: the beat is negated
    flipped = _reshaped(features, labels, augment_class_flip=1.0)
    np.testing.assert_allclose(flipped[target][:, :96], -beats[target][:, :96], atol=1e-6)
    # scale only: one factor per beat within [1/s, s]
    scaled = _reshaped(features, labels, augment_class_scale=1.5)
    ratio = scaled[target][:, :96] / beats[target][:, :96]
    assert np.allclose(ratio, ratio[:, :1], rtol=1e-4) and (ratio >= 1 / 1.5 - 1e-5).all() and (ratio <= 1.5 + 1e-5).all()
    # tilt only: a linear ramp with an end-to-end change within [-t, t]
    ramp = (_reshaped(features, labels, augment_class_tilt=0.2) - beats)[target][:, :96]
    np.testing.assert_allclose(np.diff(ramp, 2, axis=1), 0.0, atol=1e-5)
    assert (np.abs(ramp[:, -1] - ramp[:, 0]) <= 0.2 + 1e-6).all()
    # stretch only: the R-peak sample stays, every sample is an interpolation of the beat's own
    from ecgsl_keras.config import SignalConfig
    r = SignalConfig().r_offset
    stretched = _reshaped(features, labels, augment_class_stretch=1.3)[target][:, :96]
    np.testing.assert_allclose(stretched[:, r], beats[target][:, r], atol=1e-6)
    assert (stretched <= beats[target][:, :96].max(1, keepdims=True) + 1e-6).all()
    assert (stretched >= beats[target][:, :96].min(1, keepdims=True) - 1e-6).all()


def test_class_reshaping_off_leaves_the_other_streams_as_they_were():
    features, labels = _class_batch()
    config = ExperimentConfig(train=TrainConfig(augment_prob=1.0, augment_noise=0.05, augment_scale=1.25,
                                                augment_crop_min=1.0, augment_beat_dropout=0.0))
    on = dataclasses.replace(config, train=dataclasses.replace(config.train, augment_class=2, augment_class_prob=1.0,
                                                               augment_class_flip=1.0))
    seed = tf.constant([5, 6])
    plain, _ = augment.augment_batch(features, tf.constant(labels), config, seed)
    with_class, _ = augment.augment_batch(features, tf.constant(labels), on, seed)
    other = features["padding_mask"] & (labels != 2)
    np.testing.assert_array_equal(plain["beats"].numpy()[other], with_class["beats"].numpy()[other])
    assert not np.array_equal(plain["beats"].numpy()[labels == 2], with_class["beats"].numpy()[labels == 2])
    # record-level targets (no per-beat labels): nothing to reshape
    out, _ = augment.augment_batch(features, tf.constant([0, 1, 2]), on, seed)
    np.testing.assert_array_equal(out["beats"].numpy(), plain["beats"].numpy())


def test_train_config_checks_the_class_reshaping_fields():
    for bad in ({"augment_class": -2}, {"augment_class": True}, {"augment_class_prob": 1.5},
                {"augment_class_stretch": 0.9}, {"augment_class_scale": 0.5}, {"augment_class_tilt": -0.1},
                {"augment_class_flip": 2.0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            TrainConfig(**bad).validate()
    TrainConfig(augment_class=2, augment_class_stretch=1.3, augment_class_flip=0.15).validate()
    assert TrainConfig().augment_class == -1                   # off by default


def test_train_config_checks_the_new_fields():
    with pytest.raises(ConfigError, match="augment_crop_min"):
        TrainConfig(augment_crop_min=0.0).validate()
    with pytest.raises(ConfigError, match="label_smoothing"):
        TrainConfig(label_smoothing=1.0).validate()
    with pytest.raises(ConfigError, match="encoder_warmup_epochs"):
        TrainConfig.from_dict({"encoder_warmup_epochs": -1})
    with pytest.raises(ConfigError, match="augment_scale"):
        TrainConfig(augment_scale=0.8).validate()
    args = train_cli.build_parser().parse_args(
        ["--stage", "finetune", "--data", "d", "--run-dir", "r", "--no-augment", "--label-smoothing", "0.2",
         "--encoder-lr-multiplier", "0.1", "--encoder-warmup-epochs", "2"])
    assert (args.augment, args.label_smoothing, args.encoder_lr_multiplier, args.encoder_warmup_epochs) == (
        False, 0.2, 0.1, 2)
    default = train_cli.build_parser().parse_args(["--stage", "supervised", "--data", "d", "--run-dir", "r"])
    assert default.augment is None          # None: the config's (on)


# --- label smoothing -------------------------------------------------------------------------------

def test_label_smoothing_loss_equals_the_hand_computation():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(4), size=6).astype("float32")
    labels = np.array([0, 1, 2, 3, 1, 0], "int32")
    weights = rng.uniform(0.5, 2, 6).astype("float32")
    smoothed = (1 - 0.1) * np.eye(4)[labels] + 0.1 / 4
    per_example = -(smoothed * np.log(probs)).sum(axis=1)
    loss = models.loss_for_task(tasks.CINC2017, label_smoothing=0.1)
    assert float(loss(labels, probs)) == pytest.approx(per_example.mean(), rel=1e-5)
    assert float(loss(labels, probs, sample_weight=weights)) == pytest.approx((per_example * weights).mean(), rel=1e-5)
    assert float(loss(labels[:, None], probs)) == pytest.approx(per_example.mean(), rel=1e-5)
    # no smoothing: the plain sparse loss (what validation uses)
    plain = models.loss_for_task(tasks.CINC2017)
    assert isinstance(plain, keras.losses.SparseCategoricalCrossentropy)
    assert float(plain(labels, probs)) == pytest.approx(-np.log(probs[np.arange(6), labels]).mean(), rel=1e-5)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert restored.label_smoothing == pytest.approx(0.1)
    # compile_for_stage takes it from the TrainConfig
    model = compile_for_stage(models.build_classifier(SMALL, tasks.CINC2017), "supervised", tasks.CINC2017,
                                     TrainConfig(label_smoothing=0.2))
    assert model.loss.label_smoothing == pytest.approx(0.2)


# --- encoder learning rate -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_batch(setup):
    data, _, config, task = setup
    features, targets = _batches(data, dataclasses.replace(config, model=SMALL), task, n=1, batch_size=8)[0]
    return {k: features[k] for k in ("beats", "rr", "padding_mask")}, targets


def _classifier(optimizer, seed=0, run_eagerly=False):
    keras.utils.set_random_seed(seed)
    model = models.build_classifier(SMALL, tasks.CINC2017)
    # run_eagerly: no tracing of the train step (seconds on 2 shared cores) where the graph path is not the point
    model.compile(optimizer=optimizer, loss=models.loss_for_task(tasks.CINC2017, 0.1), run_eagerly=run_eagerly)
    return model


def _encoder_and_head(model):
    names = set(optimizers.encoder_layer_names(model))
    encoder = [v.numpy().copy() for v in model.trainable_variables if v.path.split("/")[0] in names]
    head = [v.numpy().copy() for v in model.trainable_variables if v.path.split("/")[0] not in names]
    assert encoder and head
    return encoder, head


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def _optimizer(model_layers, **kwargs):
    return optimizers.EncoderAdamW(learning_rate=1e-2, weight_decay=1e-2, encoder_layers=model_layers, **kwargs)


@pytest.mark.slow
def test_encoder_is_frozen_during_warmup_and_trains_after(small_batch, tmp_path):
    x, y = small_batch
    layers = optimizers.encoder_layer_names(models.build_classifier(SMALL, tasks.CINC2017))
    assert {"projection", "transformer_block_1", "encoder_conv_1", "encoder_norm"} <= set(layers)
    assert "head_dense" not in layers and "probabilities" not in layers
    model = _classifier(_optimizer(layers, encoder_warmup_steps=3, encoder_lr_multiplier=0.5))
    model.optimizer.build(model.trainable_variables)   # slots before the first step: traced once, not twice
    encoder0, head0 = _encoder_and_head(model)
    for _ in range(2):
        model.train_on_batch(x, y)
    encoder2, head2 = _encoder_and_head(model)
    assert _same(encoder0, encoder2) and not _same(head0, head2)

    # a kill here: BackupAndRestore saves the weights with the optimizer state, then restores them
    model.save_weights(tmp_path / "backup.weights.h5")
    resumed = _classifier(_optimizer(layers, encoder_warmup_steps=3, encoder_lr_multiplier=0.5), seed=1,
                          run_eagerly=True)
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(tmp_path / "backup.weights.h5")
    assert int(resumed.optimizer.iterations) == 2
    resumed.train_on_batch(x, y)                                        # step 3: still frozen
    encoder3, head3 = _encoder_and_head(resumed)
    assert _same(encoder0, encoder3) and not _same(head2, head3)
    resumed.train_on_batch(x, y)                                        # step 4: the encoder trains
    encoder4, _ = _encoder_and_head(resumed)
    assert not _same(encoder3, encoder4)

    # saved with the model, loaded with plain keras.models.load_model: same settings and step
    resumed.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.optimizer, optimizers.EncoderAdamW)
    assert loaded.optimizer.get_config() == resumed.optimizer.get_config()
    assert int(loaded.optimizer.iterations) == 4
    assert loaded.optimizer.weight_decay_exclude == optimizers.NO_WEIGHT_DECAY
    restored = optimizers.EncoderAdamW.from_config(resumed.optimizer.get_config())
    assert (restored.encoder_layers, restored.encoder_warmup_steps, restored.encoder_lr_multiplier) == (
        tuple(layers), 3, 0.5)


def test_multiplier_one_is_plain_adamw_and_zero_freezes(small_batch):
    x, y = small_batch
    layers = optimizers.encoder_layer_names(models.build_classifier(SMALL, tasks.CINC2017))
    plain = keras.optimizers.AdamW(learning_rate=1e-2, weight_decay=1e-2)
    plain.exclude_from_weight_decay(var_names=list(optimizers.NO_WEIGHT_DECAY))
    a, b = _classifier(plain, run_eagerly=True), _classifier(_optimizer(layers), run_eagerly=True)
    for _ in range(2):
        a.train_on_batch(x, y)
        b.train_on_batch(x, y)
    for va, vb in zip(a.trainable_variables, b.trainable_variables):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-5, atol=1e-7)
    frozen = _classifier(_optimizer(layers, encoder_lr_multiplier=0.0), run_eagerly=True)
    encoder0, head0 = _encoder_and_head(frozen)
    frozen.train_on_batch(x, y)
    encoder1, head1 = _encoder_and_head(frozen)
    assert _same(encoder0, encoder1) and not _same(head0, head1)
    with pytest.raises(ConfigError, match="encoder_layers"):   # a multiplier that would match nothing
        _classifier(_optimizer(("no_such_layer",), encoder_lr_multiplier=0.5), run_eagerly=True).train_on_batch(x, y)


def test_make_optimizer_uses_the_encoder_optimizer_for_finetune(setup):
    train = TrainConfig(epochs=4, encoder_lr_multiplier=0.3, encoder_warmup_epochs=2)
    model = models.build_classifier(SMALL, tasks.CINC2017)
    opt = optimizers.make_optimizer(train, 40, stage="finetune", model=model, steps_per_epoch=10)
    assert isinstance(opt, optimizers.EncoderAdamW)
    assert (opt.encoder_warmup_steps, opt.encoder_lr_multiplier) == (20, 0.3)
    assert set(opt.encoder_layers) == set(optimizers.encoder_layer_names(model))
    assert type(optimizers.make_optimizer(train, 40, stage="supervised")) is keras.optimizers.AdamW
    json.dumps(keras.optimizers.serialize(opt))      # the config is JSON (it goes into model.keras)


# --- V runs weighted in the loss (TrainConfig.run_weight_class / run_weight, run v69) --------------------------------

def test_run_weights_weigh_only_the_class_beats_next_to_another():
    from ecgsl_keras.training.inputs import run_weights

    t = tf.constant([[0, 2, 2, 0, 2, -1, 2, 2, 2, -1], [2, 0, 2, 0, 0, 0, 0, 0, 2, 2]])
    np.testing.assert_array_equal(run_weights(t, 2, 4.0).numpy(),
                                  [[1, 4, 4, 1, 1, 1, 4, 4, 4, 1], [1, 1, 1, 1, 1, 1, 1, 1, 4, 4]])


def test_the_run_weight_element_multiplies_the_per_beat_weights_and_is_off_by_default():
    from ecgsl_keras.training.inputs import _classifier_element, _run_of

    assert _run_of(ExperimentConfig()) is None                  # off by default
    assert _run_of(ExperimentConfig(train=TrainConfig(run_weight_class=2, run_weight=1.0))) is None
    run = _run_of(ExperimentConfig(train=TrainConfig(run_weight_class=2, run_weight=4.0)))
    assert run == (2, 4.0)
    features = {"beats": tf.zeros((1, 5, 8)), "rr": tf.zeros((1, 5, 4)),
                "padding_mask": tf.constant([[True, True, True, True, False]]), "record_id": tf.constant(["r"])}
    targets = tf.constant([[2, 2, 0, 1, -1]])
    _, _, w = _classifier_element(tasks.MITDB_AAMI, False, None, run=run)(features, targets)
    np.testing.assert_array_equal(w.numpy(), [[4, 4, 1, 1, 0]])      # unlabelled / padding weigh 0 (the loss masks)
    table = tf.constant([1.0, 3.0, 2.0, 1.0, 1.0])
    _, _, w = _classifier_element(tasks.MITDB_AAMI, False, table, run=run)(features, targets)
    np.testing.assert_array_equal(w.numpy(), [[8, 8, 1, 3, 0]])      # class weight x run factor
    assert len(_classifier_element(tasks.MITDB_AAMI, False, None)(features, targets)) == 2
    with pytest.raises(ConfigError, match="per-beat"):
        _classifier_element(tasks.CINC2017, False, None, run=run)


def test_train_config_checks_the_run_weight_fields():
    for bad in ({"run_weight_class": -2}, {"run_weight_class": True}, {"run_weight": 0.0}, {"run_weight": True}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            TrainConfig(**bad).validate()
    TrainConfig(run_weight_class=2, run_weight=4.0).validate()
    assert (TrainConfig().run_weight_class, TrainConfig().run_weight) == (-1, 1.0)
