"""The stacking hybrid (issue 18, 2b) on the embedded CinC 2017 sample: the booster's files, the
out-of-fold deep outputs, and a stacked preset through load_model / predict_signal / evaluate."""
import json

import numpy as np
import pytest

# one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_stacking")

pytest.importorskip("lightgbm")

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.config import ExperimentConfig  # noqa: E402
from ecgsl_keras.errors import ConfigError, ECGSLError, SignalQualityError  # noqa: E402
from ecgsl_keras.modeling.stacking import (BOOSTER_NAME, SPEC_NAME, StackedClassifier, assign_folds,  # noqa: E402
                                           probability_names)
from helpers import save_run_folder, tiny_experiment_config  # noqa: E402

LABELS = tasks.CINC2017.label_names
PARAMS = {"learning_rate": 0.1, "num_boost_round": 30, "num_leaves": 4, "min_data_in_leaf": 3}


@pytest.fixture(scope="module")
def sample_reader(cinc_dir):
    from ecgsl_keras.data.datasets import open_dataset

    return open_dataset("cinc2017", cinc_dir)


@pytest.fixture(scope="module")
def sample_features(sample_reader):
    """(record ids, feature names, X (n, F) with NaN kept, labels) of the sample's usable records."""
    features_lib = pytest.importorskip("ecgsl_keras.data.record_features")
    from ecgsl_keras.errors import RecordError

    names = list(features_lib.feature_names())
    ids, rows, labels = [], [], []
    for record_id in sample_reader.record_ids():
        record = sample_reader.load(record_id)
        try:
            values = features_lib.record_features(record.lead(None), record.fs, path=record.path)
        except RecordError:
            continue
        ids.append(record_id)
        rows.append([values[n] for n in names])
        labels.append(tasks.CINC2017.index(record.labels[0]))
    return ids, names, np.asarray(rows, np.float64), np.asarray(labels)


def _fitted(sample_features, seed=0):
    ids, names, X, y = sample_features
    deep = np.random.default_rng(seed).dirichlet(np.ones(len(LABELS)), size=len(ids))
    clf = StackedClassifier(names, probability_names(LABELS), LABELS, params=PARAMS, seed=seed)
    return clf.fit(np.concatenate([X, deep], axis=1), y), np.concatenate([X, deep], axis=1)


def test_fit_save_load_predict_identical(sample_features, tmp_path):
    clf, X = _fitted(sample_features)
    assert np.isnan(X).any(), "the sample has features that are not computable: NaN must reach the booster as NaN"
    p = clf.predict_proba(X)
    assert p.shape == (len(X), len(LABELS)) and np.allclose(p.sum(axis=1), 1.0)
    clf.save(tmp_path)
    assert sorted(f.name for f in tmp_path.iterdir()) == [BOOSTER_NAME, SPEC_NAME]
    text = (tmp_path / BOOSTER_NAME).read_bytes()
    assert text.startswith(b"tree\n") and b"\x80" not in text[:2]          # LightGBM text, not a pickle
    spec = json.loads((tmp_path / SPEC_NAME).read_text())
    assert spec["feature_names"] == sample_features[1] and spec["deep_names"] == probability_names(LABELS)
    assert spec["label_names"] == list(LABELS) and spec["nan_policy"] == "keep" and spec["seed"] == 0
    assert spec["params"]["num_boost_round"] == 30 and spec["package_version"] and spec["lightgbm_version"]
    loaded = StackedClassifier.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), p)
    with pytest.raises(ValueError, match="columns|X must be"):
        loaded.predict_proba(X[:, :-1])


def test_class_weights_balanced_sqrt_and_none_reach_the_booster_and_the_spec(sample_features, tmp_path):
    ids, names, X, y = sample_features
    counts = np.bincount(y, minlength=len(LABELS)).astype(float)
    present = counts > 0
    balanced = StackedClassifier(names, [], LABELS, class_weight="balanced").sample_weight(y)
    expected = np.zeros_like(counts)
    expected[present] = len(y) / (present.sum() * counts[present])
    np.testing.assert_allclose(balanced, expected[y])
    sqrt = StackedClassifier(names, [], LABELS, class_weight="sqrt_balanced")
    np.testing.assert_allclose(sqrt.sample_weight(y), np.sqrt(expected[y]))
    assert StackedClassifier(names, [], LABELS, class_weight=None).sample_weight(y) is None
    with pytest.raises(ConfigError, match="class_weight"):
        StackedClassifier(names, [], LABELS, class_weight="inverse")
    # the weighting changes the booster, and a saved booster keeps its weighting
    fitted = {w: StackedClassifier(names, [], LABELS, params=PARAMS, class_weight=w).fit(X, y)
              for w in ("balanced", "sqrt_balanced")}
    assert not np.allclose(fitted["balanced"].predict_proba(X), fitted["sqrt_balanced"].predict_proba(X))
    fitted["sqrt_balanced"].save(tmp_path)
    loaded = StackedClassifier.load(tmp_path)
    assert loaded.class_weight == "sqrt_balanced"
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted["sqrt_balanced"].predict_proba(X))


def test_average_combine_averages_the_feature_booster_with_the_deep_probabilities(sample_features, tmp_path):
    ids, names, X, y = sample_features
    deep = np.random.default_rng(1).dirichlet(np.ones(len(LABELS)), size=len(ids))
    Xd = np.concatenate([X, deep], axis=1)
    clf = StackedClassifier(names, probability_names(LABELS), LABELS, params=PARAMS, seed=0, combine="average",
                            deep_weight=0.25).fit(Xd, y)
    features_only = StackedClassifier(names, [], LABELS, params=PARAMS, seed=0).fit(X, y)
    assert clf.booster.num_feature() == len(names)          # the booster never sees the deep columns
    expected = 0.75 * features_only.predict_proba(X) + 0.25 * deep
    np.testing.assert_allclose(clf.predict_proba(Xd), expected, rtol=1e-6)
    clf.save(tmp_path)
    spec = json.loads((tmp_path / SPEC_NAME).read_text())
    assert spec["combine"] == "average" and spec["deep_weight"] == 0.25
    np.testing.assert_array_equal(StackedClassifier.load(tmp_path).predict_proba(Xd), clf.predict_proba(Xd))
    spec["deep_weight"] = 1.5
    (tmp_path / SPEC_NAME).write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match=f"{SPEC_NAME}.*deep_weight"):
        StackedClassifier.load(tmp_path)
    with pytest.raises(ConfigError, match="class probabilities"):
        StackedClassifier(names, ["emb_0"], LABELS, combine="average")


def test_a_gate_moves_one_class_to_another_after_the_average(sample_features, tmp_path):
    """``Gate`` (stacking.json's ``gate``, per-beat rows): where the feature exceeds the threshold, the ``from``
    class's probability is added to ``to``'s and set to 0; elsewhere, and where the feature is NaN, nothing moves."""
    ids, names, X, y = sample_features
    deep = np.random.default_rng(2).dirichlet(np.ones(len(LABELS)), size=len(ids))
    Xd = np.concatenate([X, deep], axis=1)
    evidence = X[:, 0].copy()
    threshold = float(np.nanmedian(evidence))
    evidence[0] = np.nan
    gate = {"feature": names[0], "threshold": threshold, "from": "A", "to": "N"}
    clf = StackedClassifier(names, probability_names(LABELS), LABELS, params=PARAMS, seed=0, combine="average",
                            deep_weight=0.5, rows="beat", gate=gate).fit(Xd, y)
    before = clf.predict_proba(Xd, apply_gate=False)
    after = clf.predict_proba(Xd, {"gate": evidence})
    a, n = LABELS.index("A"), LABELS.index("N")
    moved = evidence > threshold
    assert 0 < moved.sum() < len(moved) and not moved[0]
    assert (after[moved, a] == 0).all()
    np.testing.assert_allclose(after[moved, n], before[moved, n] + before[moved, a])
    np.testing.assert_array_equal(after[~moved], before[~moved])
    with pytest.raises(ValueError, match=r"evidence\['gate'\]"):
        clf.predict_proba(Xd)
    clf.save(tmp_path)
    assert json.loads((tmp_path / SPEC_NAME).read_text())["gate"] == gate
    np.testing.assert_array_equal(StackedClassifier.load(tmp_path).predict_proba(Xd, {"gate": evidence}), after)
    with pytest.raises(ConfigError, match="per-beat rows"):
        StackedClassifier(names, probability_names(LABELS), LABELS, combine="average", gate=gate)
    # evidence for a rule the model does not have (a typo, or a rule of another model) is refused, not ignored:
    # serving without the rule the caller meant would be silent
    for wrong in ({"gate": evidence, "v_gat": evidence}, {"gate": evidence, "v_gate": evidence}):
        with pytest.raises(ValueError, match=r"no such rule \(its rules: \['gate'\]"):
            clf.predict_proba(Xd, wrong)
    with pytest.raises(TypeError, match="evidence must be a mapping"):
        clf.predict_proba(Xd, evidence)


def test_missing_or_corrupt_files_name_the_file(sample_features, tmp_path):
    clf, _ = _fitted(sample_features)
    clf.save(tmp_path)
    booster, spec = tmp_path / BOOSTER_NAME, tmp_path / SPEC_NAME
    good = booster.read_text()

    booster.write_text(good.replace("tree", "leaf", 3))                 # corrupt: checksum differs
    with pytest.raises(ConfigError, match=BOOSTER_NAME) as info:
        StackedClassifier.load(tmp_path)
    assert info.value.path == str(booster)

    meta = json.loads(spec.read_text())
    meta.pop("booster_sha256")
    spec.write_text(json.dumps(meta))
    booster.write_text("not a model\n")                                # corrupt, no checksum: LightGBM refuses it
    with pytest.raises(ConfigError, match=BOOSTER_NAME):
        StackedClassifier.load(tmp_path)

    booster.unlink()                                                   # missing
    with pytest.raises(ConfigError, match=BOOSTER_NAME) as info:
        StackedClassifier.load(tmp_path)
    assert info.value.reason == "missing_file"

    spec.write_text("{not json")                                       # corrupt spec
    with pytest.raises(ConfigError, match=SPEC_NAME):
        StackedClassifier.load(tmp_path)
    spec.unlink()
    with pytest.raises(ConfigError, match=SPEC_NAME):
        StackedClassifier.load(tmp_path)


def test_assign_folds_is_stable_and_stratified():
    ids = [f"A{i:05d}" for i in range(100)]
    labels = [i % 4 for i in range(100)]
    folds = assign_folds(ids, labels, k=5, seed=42)
    assert folds == assign_folds(list(reversed(ids)), list(reversed(labels)), k=5, seed=42)
    assert folds != assign_folds(ids, labels, k=5, seed=43)
    for label in range(4):
        counts = np.bincount([folds[r] for r, lab in zip(ids, labels) if lab == label], minlength=5)
        assert counts.max() - counts.min() <= 1


@pytest.mark.slow
def test_out_of_fold_outputs_never_come_from_a_model_trained_on_the_record(cinc_sample_tfrecords, tmp_path):
    """k fold folders of the sample's training records, one classifier per fold (different weights),
    oof_outputs: every training record's output is that of the one model that did not train on it,
    every validation record's the mean of the k models; check_out_of_fold agrees, and refuses a leak."""
    import keras

    from ecgsl_keras.evaluation.evaluate import load_model
    from ecgsl_keras.modeling import models
    from ecgsl_keras.training import oof

    k = 3
    labels = oof.read_record_labels(cinc_sample_tfrecords, "train")
    fold_of = assign_folds(list(labels), list(labels.values()), k=k, seed=1)
    fold_dirs, run_dirs = [], []
    config = tiny_experiment_config()      # which model's output each row is, not the model, is checked
    for i in range(k):
        ids = oof.write_fold_data(cinc_sample_tfrecords, tmp_path / f"fold_{i}", fold_of, i)
        assert not set(ids["train"]) & set(ids["validation"])
        assert set(ids["train"]) | set(ids["validation"]) == set(labels)
        assert set(ids["validation"]) == {r for r, f in fold_of.items() if f == i}
        keras.utils.set_random_seed(100 + i)
        model = models.build_classifier(config.model, tasks.CINC2017)
        (tmp_path / f"run_{i}").mkdir()
        run_dirs.append(save_run_folder(model, tmp_path / f"run_{i}", config, tasks.CINC2017))
        fold_dirs.append(tmp_path / f"fold_{i}")
    table = oof.oof_outputs(cinc_sample_tfrecords, fold_dirs, run_dirs)
    train, validation = table["train"], table["validation"]
    assert sorted(train["record_id"].tolist()) == sorted(labels)
    trained_on = [oof.training_record_ids(d) for d in fold_dirs]
    # each model's outputs on the whole training split: a row must equal its (only) non-training model's
    per_model = []
    for run in run_dirs:
        model, cfg, task, _ = load_model(run)
        got = oof.deep_outputs(model, cinc_sample_tfrecords, "train", cfg, task)
        per_model.append(dict(zip(got["record_id"].tolist(), got["probabilities"])))
    for record_id, source, p in zip(train["record_id"], train["source"], train["probabilities"]):
        i = int(source)
        assert record_id not in trained_on[i]
        np.testing.assert_allclose(p, per_model[i][record_id], atol=1e-6)
        others = [j for j in range(k) if j != i]
        assert all(record_id in trained_on[j] for j in others)
        assert not any(np.allclose(p, per_model[j][record_id], atol=1e-6) for j in others)
    val_ids = set(validation["record_id"].tolist())
    assert val_ids and not any(val_ids & t for t in trained_on)
    assert set(validation["source"].tolist()) == {oof.OOF_SOURCE_MEAN}
    assert oof.check_out_of_fold(table, fold_dirs)["rows_checked"] == len(labels) + len(val_ids)
    leaked = {s: dict(part) for s, part in table.items()}
    leaked["train"]["source"] = np.array([str((int(s) + 1) % k) for s in train["source"]])
    with pytest.raises(ECGSLError, match="trained on it"):
        oof.check_out_of_fold(leaked, fold_dirs)


@pytest.fixture(scope="module")
def stacked_preset(tmp_path_factory, sample_features, sample_reader):
    """A stacked preset folder: an untrained classifier (model.keras, config.json) and a booster fitted on
    the sample's record features + that classifier's probabilities; metadata.json lists every file."""
    import keras

    from ecgsl_keras.modeling import models
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.store import presets

    ids, names, X, y = sample_features
    root = tmp_path_factory.mktemp("presets")
    folder = root / "stacked-test"
    folder.mkdir()
    keras.utils.set_random_seed(0)
    config = tiny_experiment_config()      # the preset's plumbing is tested, not the deep model
    save_run_folder(models.build_classifier(config.model, tasks.CINC2017), folder, config, tasks.CINC2017)
    deep = load_model(folder / "model.keras")
    records = [sample_reader.load(r) for r in ids]
    probs = np.stack([deep.predict_signal(r.lead(None), r.fs)["probabilities"] for r in records])
    clf = StackedClassifier(names, probability_names(LABELS), LABELS, params=PARAMS, seed=0,
                            deep_source={"kind": "probabilities"})
    clf.fit(np.concatenate([X, probs], axis=1), y).save(folder)
    files = {f.name: {"sha256": presets.sha256_file(f), "size": f.stat().st_size}
             for f in folder.iterdir() if f.is_file()}
    (folder / "metadata.json").write_text(json.dumps({"name": "stacked-test", "files": files}))
    return root, folder, clf, dict(zip(ids, np.concatenate([X, probs], axis=1)))


def test_stacked_preset_through_load_model_and_predict_signal(stacked_preset, sample_reader, monkeypatch):
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.serving.stacked import StackedPredictor

    root, folder, clf, rows = stacked_preset
    monkeypatch.setenv("ECGSL_PRESETS_DIR", str(root))
    predictor = load_model("stacked-test")
    assert isinstance(predictor, StackedPredictor) and "lightgbm" in predictor.format
    record_id = "A03858"
    record = sample_reader.load(record_id)
    result = predictor.predict_signal(record.lead(None), record.fs, path=record.path)
    expected = clf.predict_proba(rows[record_id][None, :])[0]
    np.testing.assert_allclose(result["probabilities"], expected, atol=1e-6)
    assert result["label"] == LABELS[int(np.argmax(expected))]
    np.testing.assert_allclose(result["deep_probabilities"], rows[record_id][-len(LABELS):], atol=1e-6)
    assert result["attention_weights"].shape == result["beat_times_s"].shape
    with pytest.raises(SignalQualityError):                              # same checks as the deep model
        predictor.predict_signal(np.zeros(3000, np.float32), 300)
    with pytest.raises(SignalQualityError):
        predictor.predict_signal(np.full(9000, np.nan, np.float32), 300)


def test_stacked_preset_missing_booster_is_named(stacked_preset, tmp_path):
    import shutil

    from ecgsl_keras.serving.inference import load_model

    _, folder, _, _ = stacked_preset
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / BOOSTER_NAME).unlink()
    with pytest.raises(ConfigError, match=BOOSTER_NAME):
        load_model(copy / "model.keras")


def test_evaluate_raw_runs_a_stacked_preset(stacked_preset, cinc_dir, monkeypatch):
    from ecgsl_keras.evaluation.evaluate import evaluate_raw, evaluate_tfrecords

    root, _, _, _ = stacked_preset
    monkeypatch.setenv("ECGSL_PRESETS_DIR", str(root))
    out = evaluate_raw("stacked-test", "cinc2017", cinc_dir, records=["A03858", "A04483", "A01045", "A00931"],
                       progress=False)
    assert out["records"] == 4 and 0.0 <= out["macro_f1"] <= 1.0 and "challenge_f1" in out
    assert "lightgbm" in out["model_format"] and "macro_f1" in out["deep"]
    with pytest.raises(ConfigError, match="raw"):
        evaluate_tfrecords("stacked-test", cinc_dir)


def test_encoder_embedding_is_label_free_and_unmasked(cinc_sample_tfrecords):
    """The label-free deep input: a masked-segment model's temporal encoder, mean-pooled over real beats;
    no probabilities, and no segment masked (the same numbers twice)."""
    import dataclasses

    import keras

    from ecgsl_keras.modeling import models
    from ecgsl_keras.training import oof

    keras.utils.set_random_seed(3)
    config = ExperimentConfig()
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, masked_target="beats"))
    masked = models.build_masked_model(config.model)
    first = oof.deep_outputs(masked, cinc_sample_tfrecords, "validation", config, tasks.CINC2017)
    again = oof.deep_outputs(masked, cinc_sample_tfrecords, "validation", config, tasks.CINC2017)
    assert first["probabilities"] is None
    assert first["embedding"].shape == (len(first["record_id"]), config.model.d_model)
    assert np.isfinite(first["embedding"]).all()
    np.testing.assert_allclose(first["embedding"], again["embedding"], atol=1e-6)


def test_publish_build_ships_a_presets_own_config_byte_for_byte(stacked_preset, tmp_path):
    """``publish.build(config_from=PRESET)`` (``beats_preset.py --rules-only``): a rebuild of a preset's booster side
    ships that preset's config.json and signal_config.json as they are (no re-serialisation through today's
    ExperimentConfig), and refuses a preset whose experiment config is not the run's, naming its config.json."""
    from ecgsl_keras.errors import ConfigError
    from ecgsl_keras.training.publish import build

    _, folder, _, _ = stacked_preset
    first = tmp_path / "first"
    build(folder, "cfg-test", "config test preset", root=first, booster=folder)
    shipped = first / "cfg-test"
    config = json.loads((shipped / "config.json").read_text())
    config["an_old_key"] = "kept"                        # bytes a re-serialisation would not write
    (shipped / "config.json").write_text(json.dumps(config, indent=3) + "\n")
    (shipped / "signal_config.json").write_text((shipped / "signal_config.json").read_text() + "\n")
    again = tmp_path / "again"
    build(folder, "cfg-test", "config test preset", root=again, booster=folder, config_from=shipped)
    for name in ("config.json", "signal_config.json"):
        assert (again / "cfg-test" / name).read_bytes() == (shipped / name).read_bytes()
    config["experiment_config"]["train"]["batch_size"] += 1    # another run's config
    (shipped / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="config_from") as error:
        build(folder, "cfg-test", "config test preset", root=tmp_path / "third", booster=folder, config_from=shipped)
    assert error.value.path == str(shipped / "config.json")


def test_publish_build_ships_an_averaging_booster_beside_the_model(stacked_preset, sample_reader, tmp_path, monkeypatch):
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.store import presets as presets_lib
    from ecgsl_keras.training.publish import build

    _, folder, _, rows = stacked_preset
    ids = sorted(rows)
    X = np.stack([rows[r] for r in ids])
    labels = [tasks.CINC2017.index(sample_reader.load(r).labels[0]) for r in ids]
    names = json.loads((folder / SPEC_NAME).read_text())["feature_names"]
    booster_dir = tmp_path / "booster"
    clf = StackedClassifier(names, probability_names(LABELS), LABELS, params=PARAMS, seed=0, combine="average",
                            deep_weight=0.5, deep_source={"kind": "probabilities"}).fit(X, labels)
    clf.save(booster_dir)
    root = tmp_path / "presets"
    meta = build(folder, "avg-test", "averaging test preset", root=root, booster=booster_dir)
    assert {"booster.txt.gz", SPEC_NAME, "model.keras"} <= set(meta["files"])
    assert meta["stacking"]["combine"] == "average" and meta["stacking"]["record_features"] == len(names)
    presets_lib.verify_preset("avg-test", root=root)                   # the gzip's SHA-256 is in the metadata
    monkeypatch.setenv("ECGSL_PRESETS_DIR", str(root))
    record = sample_reader.load("A03858")
    result = load_model("avg-test").predict_signal(record.lead(None), record.fs, path=record.path)
    np.testing.assert_allclose(result["probabilities"], clf.predict_proba(rows["A03858"][None, :])[0], atol=1e-6)
    np.testing.assert_allclose(result["probabilities"],
                               0.5 * result["deep_probabilities"] + 0.5 * clf.booster.predict(
                                   rows["A03858"][None, :len(names)])[0], atol=1e-6)
