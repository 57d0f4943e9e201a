"""ecgsl_keras.modeling.models on real beats from the in-repo fixtures (CinC 2017 sample, MIT-BIH 208):
structure, save/load, padding invariance, weight hand-over between stages, one training step each."""
import keras
import numpy as np
import pytest
from helpers import SMALL_MODEL, cinc_batch, cinc_beats, mitdb_beats, run_model_test

from ecgsl_keras import tasks
from ecgsl_keras.config import ModelConfig, TrainConfig
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.modeling import layers, models, transfer
from ecgsl_keras.modeling.ensemble import build_ensemble
from ecgsl_keras.training.stages import compile_for_stage

# Small enough for CPU tests; beat_len 96 and 3 RR features as the real beats have.
SMALL = ModelConfig(**SMALL_MODEL)
MAX_BEATS = 32
SMALL_BEATS = ModelConfig(**{**SMALL.to_dict(), "masked_target": "beats", "masked_rr_weight": 0.0})  # original loss


@pytest.fixture(scope="module")
def batch():
    return cinc_batch(6, MAX_BEATS)


@pytest.fixture(scope="module")
def beat_batch():
    features, _ = cinc_batch(6, MAX_BEATS)
    return features["beats"][features["padding_mask"]][:64]


@pytest.fixture(scope="module")
def mitdb_batch():
    beats, rr, labels = mitdb_beats("208", 90.0)
    n = (len(beats) // MAX_BEATS) * MAX_BEATS
    features = {"beats": beats[:n].reshape(-1, MAX_BEATS, beats.shape[1]),
                "rr": rr[:n].reshape(-1, MAX_BEATS, rr.shape[1]),
                "padding_mask": np.ones((n // MAX_BEATS, MAX_BEATS), bool)}
    features["padding_mask"][-1, -5:] = False          # some padding too, labelled -1 as the reader does
    labels = labels[:n].reshape(-1, MAX_BEATS).copy()
    labels[~features["padding_mask"]] = models.IGNORE_LABEL
    return features, labels


def weights_of(model, name):
    return [np.asarray(w) for w in transfer._named_layers(model)[name].get_weights()]


def assert_same_weights(a, b, name):
    wa, wb = weights_of(a, name), weights_of(b, name)
    assert len(wa) == len(wb) and wa, name
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y, err_msg=name)


# --- structure --------------------------------------------------------------------------------

def test_beat_autoencoder_structure():
    cfg = ModelConfig()
    autoencoder = models.build_beat_autoencoder(cfg)
    assert autoencoder.name == "beat_autoencoder"
    encoder, decoder = autoencoder.get_layer("beat_encoder"), autoencoder.get_layer("beat_decoder")
    assert isinstance(encoder, keras.Model) and isinstance(decoder, keras.Model)
    convs = [layer for part in (encoder, decoder) for layer in part.layers
             if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv1DTranspose))]
    assert len(convs) == 6
    assert [c.strides[0] for c in convs] == [2] * 6                   # three down, three up
    assert encoder.output.shape == (None, cfg.embed_dim)
    assert autoencoder.output.shape == (None, cfg.beat_len)


def test_sequence_models_take_the_reader_element(batch):
    features, _ = batch
    for model in (models.build_temporal_encoder(SMALL), models.build_classifier(SMALL, tasks.CINC2017),
                  models.build_beat_classifier(SMALL, tasks.MITDB_AAMI), models.build_masked_model(SMALL)):
        assert sorted(model.input) == ["beats", "padding_mask", "rr"]
    assert models.build_temporal_encoder(SMALL)(features).shape == (6, MAX_BEATS, SMALL.d_model)
    out = models.build_masked_model(SMALL_BEATS)(features)
    assert out["reconstruction"].shape == (6, MAX_BEATS, 96) and out["mask_positions"].shape == (6, MAX_BEATS)
    out = models.build_masked_model(SMALL)(features)
    assert out["prediction"].shape == out["target"].shape == (6, MAX_BEATS, SMALL.embed_dim)
    assert out["rr_prediction"].shape == out["rr_target"].shape == (6, MAX_BEATS, 3)


@pytest.mark.parametrize("task,shape,activation", [(tasks.CINC2017, (6, 4), "softmax"),
                                                   (tasks.PTBXL_SUPERDIAGNOSTIC, (6, 5), "sigmoid"),
                                                   (tasks.APNEA, (6, 1), "sigmoid")])
def test_classifier_heads(batch, task, shape, activation):
    model = models.build_classifier(SMALL, task)
    assert model.name == "ecgsl_classifier"
    out = np.asarray(model(batch[0]))
    assert out.shape == shape
    assert model.get_layer("probabilities").activation.__name__ == activation
    if activation == "softmax":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    assert ((out >= 0) & (out <= 1)).all()


def test_rr_input_is_ignored_without_rr_features(batch):
    features, _ = batch
    cfg = ModelConfig(**{**SMALL.to_dict(), "n_rr_features": 0})
    model = models.build_classifier(cfg, tasks.CINC2017)
    no_rr = dict(features, rr=np.zeros(features["rr"].shape[:2] + (0,), np.float32))
    out = np.asarray(model(no_rr))
    assert out.shape == (6, 4) and np.isfinite(out).all()
    with_rr = models.build_classifier(SMALL, tasks.CINC2017)
    changed = dict(features, rr=features["rr"] + 1.0)
    assert not np.allclose(np.asarray(with_rr(features)), np.asarray(with_rr(changed)))   # RR is used when on


def test_bad_arguments():
    with pytest.raises(ValueError, match="per_beat"):
        models.build_classifier(SMALL, tasks.MITDB_AAMI)
    with pytest.raises(ValueError, match="not per_beat"):
        models.build_beat_classifier(SMALL, tasks.CINC2017)
    with pytest.raises(ConfigError, match="divisible"):
        models.build_beat_autoencoder(ModelConfig(beat_len=100))
    with pytest.raises(ConfigError, match="positional_encoding"):
        models.build_temporal_encoder(ModelConfig(positional_encoding="rotary"))
    with pytest.raises(ConfigError, match="stage"):
        compile_for_stage(models.build_beat_autoencoder(SMALL), "pretrain")
    with pytest.raises(ValueError, match="build_masked_model"):
        compile_for_stage(models.build_beat_autoencoder(SMALL), "masked")


# --- serialisation and saving ---------------------------------------------------------------

BUILDERS = {
    "beat_autoencoder": lambda: models.build_beat_autoencoder(SMALL),
    "temporal_encoder": lambda: models.build_temporal_encoder(SMALL),
    "masked_segment_model": lambda: models.build_masked_model(SMALL, seed=1),
    "masked_segment_model_beats": lambda: models.build_masked_model(SMALL_BEATS, seed=1),
    "classifier_attention": lambda: models.build_classifier(SMALL, tasks.CINC2017),
    "classifier_mean_sinusoidal": lambda: models.build_classifier(
        ModelConfig(**{**SMALL.to_dict(), "pooling": "mean", "positional_encoding": "sinusoidal"}), tasks.APNEA),
    "beat_classifier": lambda: models.build_beat_classifier(SMALL, tasks.MITDB_AAMI),
    "attention_model": lambda: models.attention_model(models.build_classifier(SMALL, tasks.CINC2017)),
    "resnet1d": lambda: models.build_resnet1d(SMALL, tasks.CINC2017, input_samples=600),
    "ensemble": lambda: build_ensemble([models.build_classifier(SMALL, tasks.CINC2017) for _ in range(2)]),
}


def model_input(name, batch, beat_batch):
    if name == "beat_autoencoder":
        return beat_batch[:8]
    if name == "resnet1d":
        return np.stack([record[4][:600] for record in cinc_beats(6)[:3]])[:, :, None]
    return batch[0]


def fit_target(name, x, batch):
    """(target, loss) of the fit step: the model's own training target where it has one."""
    features, labels = batch
    if name == "beat_autoencoder":
        return x, "mse"
    if name.startswith("masked_segment_model"):
        return features["beats"], None                      # MaskedSegmentModel computes its own loss
    if name == "temporal_encoder":
        return np.zeros((6, MAX_BEATS, SMALL.d_model), np.float32), "mse"
    if name == "classifier_mean_sinusoidal":
        return (labels[:, None] == 0).astype(np.float32), models.loss_for_task(tasks.APNEA)
    if name == "beat_classifier":
        targets = np.where(features["padding_mask"], labels[:, None] % 5, models.IGNORE_LABEL).astype(np.int32)
        return targets, models.loss_for_task(tasks.MITDB_AAMI)
    return labels[: len(keras.tree.flatten(x)[0])], models.loss_for_task(tasks.CINC2017)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_model_config_round_trip_fit_and_saving(name, batch, beat_batch, tmp_path):
    """The shared run_model_test: config round trip, .keras saving, and a fit step (the attention model
    shares the classifier's weights and has a dict output: no fit step of its own; the ResNet's ``fit``
    on these 600-sample windows aborts the process inside TensorFlow on CPU, so its training step is
    test_training_steps_lower_the_loss[resnet1d], through train_on_batch)."""
    keras.utils.set_random_seed(1)
    model = BUILDERS[name]()
    x = model_input(name, batch, beat_batch)
    target, loss = fit_target(name, x, batch)
    run_model_test(model, x, tmp_path, target=target, loss=loss, run_training_check=name not in ("attention_model", "resnet1d"))


def test_saved_masked_model_keeps_its_loss(batch, tmp_path):
    features, _ = batch
    model = compile_for_stage(models.build_masked_model(SMALL, seed=2), "masked")
    before = model.evaluate(features, features["beats"], verbose=0)
    model.save(tmp_path / "masked.keras")
    loaded = keras.models.load_model(tmp_path / "masked.keras", compile=False)
    assert isinstance(loaded, models.MaskedSegmentModel)
    loaded.compile(optimizer="adam")
    assert loaded.evaluate(features, features["beats"], verbose=0) == pytest.approx(before, rel=1e-6)


def test_pretrained_from_a_saved_file(batch, tmp_path):
    masked = models.build_masked_model(SMALL, seed=0)
    masked.save(tmp_path / "stage2.keras")
    classifier = models.build_classifier(SMALL, tasks.CINC2017, pretrained=tmp_path / "stage2.keras")
    assert_same_weights(masked, classifier, "transformer_block_2")


# --- padding ----------------------------------------------------------------------------------

def test_classifier_padding_invariance(batch):
    features, _ = batch
    keras.utils.set_random_seed(3)
    explain = models.attention_model(models.build_classifier(SMALL, tasks.CINC2017))
    out = explain(features, training=False)
    probs, weights = np.asarray(out["probabilities"]), np.asarray(out["attention_weights"])
    mask = features["padding_mask"]
    assert (weights[~mask] == 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)

    extra = 8      # append padded beats holding garbage (RR too): nothing real may change
    rng = np.random.default_rng(0)
    longer = {"beats": np.concatenate([features["beats"], rng.normal(size=(6, extra, 96)).astype(np.float32)], 1),
              "rr": np.concatenate([features["rr"], rng.random((6, extra, 3)).astype(np.float32)], 1),
              "padding_mask": np.concatenate([mask, np.zeros((6, extra), bool)], 1)}
    out_long = explain(longer, training=False)
    np.testing.assert_allclose(np.asarray(out_long["probabilities"]), probs, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out_long["attention_weights"])[:, :MAX_BEATS], weights, atol=1e-5)
    assert (np.asarray(out_long["attention_weights"])[:, MAX_BEATS:] == 0).all()


def test_attention_model_shares_the_classifier_weights(batch):
    classifier = models.build_classifier(SMALL, tasks.CINC2017)
    explain = models.attention_model(classifier)
    assert {id(v) for v in explain.weights} == {id(v) for v in classifier.weights}
    np.testing.assert_allclose(np.asarray(explain(batch[0])["probabilities"]), np.asarray(classifier(batch[0])),
                               atol=1e-6)
    with pytest.raises(ValueError, match="pooling"):
        models.attention_model(models.build_beat_classifier(SMALL, tasks.MITDB_AAMI))


# --- stage hand-over --------------------------------------------------------------------------

def test_stage_hand_over_by_layer_name():
    keras.utils.set_random_seed(4)
    autoencoder = models.build_beat_autoencoder(SMALL)
    masked = models.build_masked_model(SMALL, autoencoder)
    assert_same_weights(autoencoder, masked, "beat_encoder")

    classifier = models.build_classifier(SMALL, tasks.CINC2017)
    fresh = [np.asarray(w) for w in classifier.get_layer("temporal_encoder").get_layer("projection").get_weights()]
    copied = models.transfer_weights(masked, classifier)
    assert copied == ["beat_encoder", "projection", "positional_encoding", "transformer_block_1",
                      "transformer_block_2", "encoder_norm"]
    for name in copied:
        assert_same_weights(masked, classifier, name)
    assert not np.array_equal(fresh[0], weights_of(classifier, "projection")[0])
    assert_same_weights(autoencoder, classifier, "beat_encoder")       # carried through both stages

    beat_classifier = models.build_beat_classifier(SMALL, tasks.MITDB_AAMI, pretrained=classifier)
    assert models.transfer_weights(classifier, beat_classifier) == ["temporal_encoder"]   # copied whole
    for name in copied:
        assert_same_weights(classifier, beat_classifier, name)
    # the classifier's head is not copied into a head of another shape, and nothing mismatched is
    other = models.build_classifier(SMALL, tasks.PTBXL_SUPERDIAGNOSTIC)
    assert "probabilities" not in models.transfer_weights(classifier, other)
    assert "head_dense" in models.transfer_weights(classifier, other)


def test_hand_over_refuses_an_incompatible_model():
    other = ModelConfig(**{**SMALL.to_dict(), "embed_dim": 8})
    # a user error (train --init-from a run of another stage or config): ConfigError, shown as "error: ..."
    with pytest.raises(ConfigError, match="gave no weights for \\['beat_encoder'\\]"):
        models.build_masked_model(SMALL, models.build_beat_autoencoder(other))
    with pytest.raises(ConfigError, match="beat_encoder"):
        models.build_classifier(SMALL, tasks.CINC2017, pretrained=models.build_resnet1d(SMALL, tasks.CINC2017))


# --- losses -----------------------------------------------------------------------------------

def test_masked_loss_is_mse_over_masked_beats_only(batch):
    features, _ = batch
    model = compile_for_stage(models.build_masked_model(SMALL_BEATS, seed=5), "masked")
    out = model.predict_on_batch(features)
    positions = np.asarray(out["mask_positions"])
    assert positions.dtype == np.float32 and set(np.unique(positions)) <= {0.0, 1.0}
    positions = positions.astype(bool)
    assert positions.sum() > 0 and not (positions & ~features["padding_mask"]).any()
    per_beat = ((np.asarray(out["reconstruction"]) - features["beats"]) ** 2).mean(axis=-1)
    expected = per_beat[positions].mean()
    assert model.evaluate(features, features["beats"], verbose=0) == pytest.approx(expected, rel=1e-5)
    # what unmasked beats hold in the target does not matter
    target = features["beats"].copy()
    target[~positions] = 100.0
    assert model.evaluate(features, target, verbose=0) == pytest.approx(expected, rel=1e-5)
    bad = models.build_masked_model(SMALL_BEATS)
    bad.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="own masked reconstruction loss"):
        bad.evaluate(features, features["beats"], verbose=0)


@pytest.mark.slow   # two traced fit epochs of the masked model: ~30 s
def test_latent_masked_loss_predicts_the_frozen_standardised_embedding(batch):
    features, _ = batch
    keras.utils.set_random_seed(3)
    autoencoder = models.build_beat_autoencoder(SMALL)
    real = features["padding_mask"]
    stats = models.target_statistics(autoencoder, features["beats"][real], features["rr"][real])
    model = compile_for_stage(models.build_masked_model(SMALL, autoencoder, seed=5, target_stats=stats),
                                     "masked")
    out = model.predict_on_batch(features)
    positions = out["mask_positions"].astype(bool)
    # the target is the stage-1 embedding standardised with the statistics of the real beats
    z = np.asarray(autoencoder.get_layer("beat_encoder").predict(features["beats"][real], verbose=0))
    standardised = (z - z.mean(0)) / np.sqrt(z.var(0))
    np.testing.assert_allclose(out["target"][real], standardised, atol=2e-3)
    assert abs(out["target"][real].mean()) < 1e-3 and out["target"][real].var() == pytest.approx(1.0, abs=1e-2)
    main = ((out["prediction"] - out["target"]) ** 2).mean(-1)[positions].mean()
    rr = ((out["rr_prediction"] - out["rr_target"]) ** 2).mean(-1)[positions].mean()
    expected = main + SMALL.masked_rr_weight * rr
    # y is not used by the latent loss: the target comes from the frozen encoder inside the model
    assert model.evaluate(features, np.zeros_like(features["beats"]), verbose=0) == pytest.approx(expected, rel=1e-5)
    frozen = [w.copy() for w in model.get_layer(models.TARGET_ENCODER).get_weights()]
    online = [w.copy() for w in model.get_layer("beat_encoder").get_weights()]
    model.optimizer.build(model.trainable_variables)   # slots before fit: the train step is traced once, not twice
    model.fit(features, features["beats"], epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(frozen, model.get_layer(models.TARGET_ENCODER).get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(online, model.get_layer("beat_encoder").get_weights()))


def test_trivial_predictors_of_the_masked_diagnostic():
    from ecgsl_keras.bench.masked import trivial_predictions

    values = np.arange(12, dtype=np.float64).reshape(6, 2)      # beat t holds (2t, 2t+1)
    real = np.array([True, True, True, True, True, False])
    masked = np.array([True, False, True, True, False, False])
    guesses = trivial_predictions(values, real, masked)
    # masked beats 0, 2, 3; visible 1 and 4; beat 5 is padding and never used
    np.testing.assert_array_equal(guesses["previous"], [[2, 3], [2, 3], [2, 3]])     # beat 0 has none before: the next
    np.testing.assert_array_equal(guesses["neighbours_mean"], [[2, 3], [5, 6], [5, 6]])
    np.testing.assert_array_equal(guesses["record_mean"], [[5, 6]] * 3)
    np.testing.assert_array_equal(guesses["zeros"], np.zeros((3, 2)))


def test_beat_loss_ignores_unlabelled_beats(mitdb_batch):
    features, labels = mitdb_batch
    model = models.build_beat_classifier(SMALL, tasks.MITDB_AAMI)
    probs = np.asarray(model(features, training=False))
    loss = float(models.loss_for_task(tasks.MITDB_AAMI)(labels, probs))
    keep = labels >= 0
    assert (~keep).any() and keep.any()
    expected = -np.log(np.take_along_axis(probs[keep], labels[keep][:, None], axis=1)).mean()
    assert loss == pytest.approx(expected, rel=1e-5)


# --- one training step lowers the loss, on real beats --------------------------------------

def loss_drops(model, x, y, steps=8, learning_rate=3e-3, run_eagerly=True):
    # Eager steps: the same maths, and faster here than tracing each model's train step.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), run_eagerly=run_eagerly, **({} if isinstance(
        model, models.MaskedSegmentModel) else {"loss": model._test_loss}))
    # slots before the first step: built inside a traced step, they make TensorFlow trace it twice
    model.optimizer.build(model.trainable_variables)
    before = model.evaluate(x, y, verbose=0)
    for _ in range(steps):
        model.train_on_batch(x, y)
    after = model.evaluate(x, y, verbose=0)     # training=False: deterministic (fixed masks, no dropout)
    assert np.isfinite(after) and after < before, (model.name, before, after)
    return before, after


@pytest.mark.parametrize("stage", ["autoencoder", pytest.param("masked", marks=pytest.mark.slow),   # traced: ~40 s
                                   "classifier", "beat_classifier", "resnet1d"])
def test_training_steps_lower_the_loss(stage, batch, beat_batch, mitdb_batch):
    keras.utils.set_random_seed(0)
    features, labels = batch
    if stage == "autoencoder":
        model = models.build_beat_autoencoder(SMALL)
        model._test_loss = "mse"
        loss_drops(model, beat_batch, beat_batch)
    elif stage == "masked":
        model = models.build_masked_model(SMALL, models.build_beat_autoencoder(SMALL), seed=0)
        loss_drops(model, features, features["beats"], run_eagerly=False)   # SegmentMasking in a tf.function too
    elif stage == "classifier":
        model = models.build_classifier(SMALL, tasks.CINC2017, pretrained=models.build_masked_model(SMALL))
        model._test_loss = models.loss_for_task(tasks.CINC2017)
        loss_drops(model, features, labels)
    elif stage == "beat_classifier":
        model = models.build_beat_classifier(SMALL, tasks.MITDB_AAMI, pretrained=models.build_masked_model(SMALL))
        model._test_loss = models.loss_for_task(tasks.MITDB_AAMI)
        loss_drops(model, *mitdb_batch)
    else:
        model = models.build_resnet1d(SMALL, tasks.CINC2017)
        model._test_loss = models.loss_for_task(tasks.CINC2017)
        # the cleaned, resampled (100 Hz), normalised signal the beats were cut from: 9 s windows
        signals = np.stack([record[4][:900] for record in cinc_beats(6)])[:, :, None]
        loss_drops(model, signals, labels, steps=10)


def test_compile_for_stage_uses_the_train_config():
    train = TrainConfig(learning_rate=5e-4, weight_decay=1e-3)
    model = compile_for_stage(models.build_classifier(SMALL, tasks.CINC2017), "finetune", tasks.CINC2017,
                                     train)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert float(model.optimizer.learning_rate) == pytest.approx(5e-4)
    assert model.optimizer.weight_decay == pytest.approx(1e-3)
    masked = compile_for_stage(models.build_masked_model(SMALL), "masked", train_config=train)
    assert masked.compiled


# the masked loss under MirroredStrategy: tests/test_two_replicas.py

def test_custom_objects_are_registered():
    assert keras.saving.get_registered_object("ecgsl>MaskedSegmentModel") is models.MaskedSegmentModel
    assert keras.saving.get_registered_object("ecgsl>AttentionPooling") is layers.AttentionPooling
