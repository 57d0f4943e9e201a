"""The hybrid classifier (issue 18, 2a): ECG-SL + record features as one Keras model, on the repo's fixtures."""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

import ecgsl_keras  # noqa: F401  (registers the custom objects)
from ecgsl_keras import tasks
from ecgsl_keras.config import ExperimentConfig, ModelConfig
from ecgsl_keras.data.record_features import feature_names
from ecgsl_keras.modeling import hybrid
from helpers import CINC_SAMPLE, cinc_batch, run_serialization_test, save_run_folder

N_FEATURES = len(feature_names())
TINY = dict(embed_dim=8, conv_filters=(4, 4, 4), d_model=16, num_heads=2, ff_dim=16, num_layers=1, head_units=8,
            attention_units=8, record_feature_units=8, dropout=0.0)


def _config(**kwargs) -> ModelConfig:
    return ModelConfig(n_record_features=N_FEATURES, **{**TINY, **kwargs})


@pytest.fixture(scope="module")
def sample_features():
    """Features of the first 6 fixture records (as prepare stores them) and a padded batch of their beats."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.prepare import record_feature_vector

    reader = open_dataset("cinc2017", CINC_SAMPLE)
    rows = []
    for record_id in reader.record_ids()[:6]:
        record = reader.load(record_id)
        rows.append(record_feature_vector(record.lead(None), record.fs, ExperimentConfig().signal))
    features, labels = cinc_batch(6)
    features["record_features"] = np.stack(rows).astype(np.float32)
    return features, labels


@pytest.fixture(scope="module")
def model(sample_features):
    features, _ = sample_features
    keras.utils.set_random_seed(0)
    return hybrid.build_hybrid_classifier(_config(), tasks.CINC2017,
                                          feature_stats=hybrid.feature_statistics(features["record_features"]))


def test_normalization_layer_config_and_nan_policy():
    layer = hybrid.RecordFeatureNormalization(clip=3.0, name="norm")
    run_serialization_test(layer)
    layer.set_statistics([1.0, 2.0, 0.0], [2.0, 1.0, 1.0])
    out = np.asarray(layer(np.array([[3.0, np.nan, 100.0], [1.0, 2.0, -np.inf]], np.float32)))
    # standardised and clipped, 0 where missing; then the indicators
    np.testing.assert_allclose(out, [[1.0, 0.0, 3.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
    with pytest.raises(ValueError):
        layer.set_statistics([0.0, 0.0, 0.0], [1.0, 0.0, 1.0])


def test_feature_statistics_ignore_nan():
    X = np.array([[1.0, np.nan, 5.0], [3.0, np.nan, 5.0], [np.nan, np.nan, 5.0]])
    mean, std = hybrid.feature_statistics(X)
    np.testing.assert_allclose(mean, [2.0, 0.0, 5.0])
    np.testing.assert_allclose(std, [1.0, 1.0, 1.0])


def test_builds_fits_saves_and_loads(model, sample_features, tmp_path):
    features, labels = sample_features
    assert hybrid.is_hybrid(model) and hybrid.n_record_features(model) == N_FEATURES
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)   # slots before fit: the train step is traced once, not twice
    model.fit(features, labels, epochs=1, batch_size=6, verbose=0)
    expected = np.asarray(model(features, training=False))
    assert np.all(np.isfinite(expected))
    path = tmp_path / "hybrid.keras"
    model.save(path)
    loaded = keras.models.load_model(path)             # plain Keras: the layer is registered under ecgsl
    np.testing.assert_allclose(np.asarray(loaded(features, training=False)), expected, atol=1e-6)
    stats = loaded.get_layer(hybrid.NORMALIZATION)
    np.testing.assert_allclose(stats.mean.numpy(), model.get_layer(hybrid.NORMALIZATION).mean.numpy())


def test_nan_features_give_the_documented_fill(model, sample_features):
    """NaN -> finite output, equal to the same record with that feature at the training mean and its
    missing indicator set (i.e. the zero of the standardised feature)."""
    features, _ = sample_features
    norm = model.get_layer(hybrid.NORMALIZATION)
    x = dict(features, record_features=features["record_features"].copy())
    x["record_features"][:, :10] = np.nan
    out = np.asarray(model(x, training=False))
    assert np.all(np.isfinite(out))
    # same as feeding the normalised vector directly with the mean in those places
    mean_filled = features["record_features"].copy()
    mean_filled[:, :10] = norm.mean.numpy()[:10]
    normalised_nan = np.asarray(norm(x["record_features"]))
    normalised_mean = np.asarray(norm(mean_filled))
    np.testing.assert_allclose(normalised_nan[:, :N_FEATURES], normalised_mean[:, :N_FEATURES], atol=1e-6)
    assert np.all(normalised_nan[:, N_FEATURES:N_FEATURES + 10] == 1.0)
    all_nan = dict(features, record_features=np.full_like(features["record_features"], np.nan))
    assert np.all(np.isfinite(np.asarray(model(all_nan, training=False))))


def test_takes_weights_from_a_classifier_by_name(model):
    from ecgsl_keras.modeling import models

    classifier = models.build_classifier(dataclasses.replace(_config(), n_record_features=0), tasks.CINC2017)
    fresh = hybrid.build_hybrid_classifier(_config(), tasks.CINC2017, pretrained=classifier)
    src = classifier.get_layer("temporal_encoder").get_weights()
    dst = fresh.get_layer("temporal_encoder").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(src, dst))


def test_predict_signal_uses_the_features(model, tmp_path, monkeypatch):
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.serving import inference

    config = ExperimentConfig(model=_config())
    (tmp_path / "run").mkdir()
    run = save_run_folder(model, tmp_path / "run", config, tasks.CINC2017)
    predictor = inference.load_model(run / "model.keras")
    assert predictor.n_record_features == N_FEATURES
    record = open_dataset("cinc2017", CINC_SAMPLE).load(open_dataset("cinc2017", CINC_SAMPLE).record_ids()[0])
    signal = record.lead(None)
    result = predictor.predict_signal(signal, record.fs)
    assert np.isclose(result["probabilities"].sum(), 1.0, atol=1e-5)

    computed = predictor.record_features(signal, record.fs)
    seen = []
    original = predictor.backend.__class__.__call__

    def spy(self, beats, rr, padding_mask, record_features=None):
        seen.append(np.asarray(record_features))
        return original(self, beats, rr, padding_mask, record_features)

    monkeypatch.setattr(predictor.backend.__class__, "__call__", spy)
    predictor.predict_signal(signal, record.fs)
    np.testing.assert_array_equal(seen[-1], computed)
    # a changed feature changes the output
    changed = computed.copy()
    index = int(np.flatnonzero(np.isfinite(changed))[0])
    changed[index] += 50.0 * float(model.get_layer(hybrid.NORMALIZATION).std.numpy()[index])
    monkeypatch.setattr(predictor, "record_features", lambda *a, **k: changed)
    other = predictor.predict_signal(signal, record.fs)
    assert not np.allclose(other["probabilities"], result["probabilities"], atol=1e-7)


def test_reader_yields_record_features_and_old_folders_still_read(tmp_path):
    from ecgsl_keras.data.prepare import prepare
    from tfrecords_tools import make_dataset

    new, old = tmp_path / "feat", tmp_path / "plain"
    prepare("cinc2017", CINC_SAMPLE, new, limit=4, progress=False, record_features=True)
    prepare("cinc2017", CINC_SAMPLE, old, limit=4, progress=False)
    for training in (True, False):
        features, _ = next(iter(make_dataset(str(new), training=training, batch_size=4, seed=0, max_beats=16)))
        assert features["record_features"].shape == (4, N_FEATURES)
        plain, _ = next(iter(make_dataset(str(old), training=training, batch_size=4, seed=0, max_beats=16)))
        assert "record_features" not in plain
    # every window of a record carries the record's vector
    windows = make_dataset(str(new), training=False, batch_size=64, max_beats=8, eval_stride=8, include_meta=True)
    features, _ = next(iter(windows))
    ids = features["record_id"].numpy()
    rf = features["record_features"].numpy()
    first = ids == ids[0]
    assert first.sum() > 1
    np.testing.assert_array_equal(rf[first], np.broadcast_to(rf[0], rf[first].shape))


def test_stage_hybrid_needs_record_features(tmp_path):
    from ecgsl_keras.errors import ConfigError
    from ecgsl_keras.training.stages import get_stage

    stage = get_stage("hybrid")
    with pytest.raises(ConfigError, match="--record-features"):
        stage.adapt_config(ExperimentConfig(), {"metadata": {}})
    adapted = stage.adapt_config(ExperimentConfig(), {"metadata": {"record_feature_names": list(feature_names())}})
    assert adapted.model.n_record_features == N_FEATURES


@pytest.mark.slow
def _exported(keras_model, tmp_path):
    """``keras_model`` saved as a run folder and exported (SavedModel, float32 TFLite) with 6 fixture records as
    representative data; asserts the files take ``record_features`` and the TFLite parity. Returns (run folder,
    prepared folder, a fixture record, ``predict_signal`` of the Keras model on it)."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.prepare import prepare
    from ecgsl_keras.serving import inference
    from ecgsl_keras.serving.export import export_model

    config = ExperimentConfig(model=_config())
    (tmp_path / "run").mkdir()
    run = save_run_folder(keras_model, tmp_path / "run", config, tasks.CINC2017)
    data = tmp_path / "data"
    prepare("cinc2017", CINC_SAMPLE, data, config, limit=6, progress=False, record_features=True)
    report = export_model(run / "model.keras", tmp_path / "export", formats=("float32",), representative_data=data,
                          examples=4)
    assert report["input_shapes"]["record_features"] == [None, N_FEATURES]
    assert report["parity"]["tflite_float32"]["within_limits"]
    reader = open_dataset("cinc2017", CINC_SAMPLE)
    record = reader.load(reader.record_ids()[1])
    return run, data, record, inference.load_model(run / "model.keras").predict_signal(record.lead(None), record.fs)


def test_export_saved_model_and_tflite_take_the_features(model, tmp_path):
    """SavedModel and TFLite get the record_features input and give Keras' probabilities through
    predict_signal; the in-graph end-to-end file refuses a hybrid model."""
    from ecgsl_keras.errors import ConfigError
    from ecgsl_keras.serving import edge, inference
    from ecgsl_keras.serving.export import export_model

    run, data, record, expected = _exported(model, tmp_path)
    for path in (tmp_path / "export" / "saved_model", tmp_path / "export" / "model_float32.tflite"):
        predictor = inference.load_model(path)
        assert predictor.n_record_features == N_FEATURES
        got = predictor.predict_signal(record.lead(None), record.fs)
        np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-5)
    with pytest.raises(ConfigError, match="record features"):
        export_model(run / "model.keras", tmp_path / "e2e", formats=("float32",), representative_data=data,
                     examples=4, end_to_end=edge.EdgeConfig())


def test_evaluate_on_a_raw_folder_computes_the_features(model, tmp_path):
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.evaluation.evaluate import evaluate_raw

    (tmp_path / "run").mkdir()
    run = save_run_folder(model, tmp_path / "run", ExperimentConfig(model=_config()), tasks.CINC2017)
    ids = open_dataset("cinc2017", CINC_SAMPLE).record_ids()[:4]
    result = evaluate_raw(run / "model.keras", "cinc2017", CINC_SAMPLE, records=ids, progress=False)
    assert result["n"] == 4 and result["records"] == 4


def test_a_features_member_averages_with_the_hybrid_into_one_model(model, sample_features, tmp_path):
    """modeling.hybrid.build_features_member (experiments/cinc2017/features_member.py): the hybrid's four inputs,
    record_features alone read (through the same normalisation and NaN policy); build_ensemble averages it with the
    hybrid into one .keras model that loads, predicts the mean, gives the hybrid's attention and is served with its
    record features."""
    from ecgsl_keras.modeling.classifier import attention_model
    from ecgsl_keras.modeling.ensemble import build_ensemble
    from ecgsl_keras.serving import inference

    features, labels = sample_features
    keras.utils.set_random_seed(1)
    member = hybrid.build_features_member(_config(), tasks.CINC2017,
                                          feature_stats=hybrid.feature_statistics(features["record_features"]))
    assert hybrid.is_hybrid(member) and hybrid.n_record_features(member) == N_FEATURES
    head = keras.Model(member.input[hybrid.RECORD_FEATURES], member.output)
    head.compile("adam", "sparse_categorical_crossentropy")
    before = np.asarray(member(features))
    head.fit(features["record_features"], labels, epochs=3, verbose=0)
    after = np.asarray(member(features))
    assert not np.allclose(before, after)                  # the head trains through the sub-model
    other = dict(features, beats=np.zeros_like(features["beats"]), rr=np.ones_like(features["rr"]))
    np.testing.assert_allclose(np.asarray(member(other)), after, atol=1e-6)     # beats and rr are not read
    nan = dict(features, record_features=np.full_like(features["record_features"], np.nan))
    assert np.all(np.isfinite(np.asarray(member(nan))))

    ensemble = build_ensemble([model, member], name="hybrid_with_features")
    assert hybrid.is_hybrid(ensemble)
    expected = (np.asarray(model(features)) + after) / 2
    np.testing.assert_allclose(np.asarray(ensemble(features)), expected, atol=1e-6)
    with_attention = attention_model(ensemble)(features)
    np.testing.assert_allclose(np.asarray(with_attention["attention_weights"]),
                               np.asarray(attention_model(model)(features)["attention_weights"]), atol=1e-6)
    (tmp_path / "run").mkdir()
    run = save_run_folder(ensemble, tmp_path / "run", ExperimentConfig(model=_config()), tasks.CINC2017)
    loaded = keras.models.load_model(run / "model.keras", compile=False)
    np.testing.assert_allclose(np.asarray(loaded(features)), expected, atol=1e-6)
    predictor = inference.load_model(run / "model.keras")
    assert predictor.n_record_features == N_FEATURES
    from ecgsl_keras.data.datasets import open_dataset

    reader = open_dataset("cinc2017", CINC_SAMPLE)
    record = reader.load(reader.record_ids()[0])
    result = predictor.predict_signal(record.lead(None), record.fs)
    assert np.isclose(result["probabilities"].sum(), 1.0, atol=1e-5) and len(result["attention_weights"]) > 0
    with pytest.raises(ValueError, match="multiclass"):
        hybrid.build_features_member(_config(), tasks.PTBXL_SUPERDIAGNOSTIC)


@pytest.mark.slow   # a SavedModel write and a TFLite conversion (~15 s)
def test_a_hybrid_with_a_features_member_exports_to_saved_model_and_tflite(model, sample_features, tmp_path):
    """The cinc2017-keras form with its features member (experiments/cinc2017/features_member.py): the ensemble
    exports as the hybrid does, its files taking record_features and giving Keras' probabilities."""
    from ecgsl_keras.modeling.ensemble import build_ensemble
    from ecgsl_keras.serving import inference

    features, _ = sample_features
    keras.utils.set_random_seed(2)
    member = hybrid.build_features_member(_config(), tasks.CINC2017,
                                          feature_stats=hybrid.feature_statistics(features["record_features"]))
    _, _, record, expected = _exported(build_ensemble([model, member]), tmp_path)
    got = inference.load_model(tmp_path / "export" / "model_float32.tflite").predict_signal(record.lead(None),
                                                                                           record.fs)
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-5)
