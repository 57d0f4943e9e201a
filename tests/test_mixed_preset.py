"""A stacked preset whose deep side mixes inputs (issue 18): an ECG-SL model on beats and a 1-D ResNet ensemble on
the continuous signal, averaged, then averaged with a features booster; built, loaded and served from one signal."""
import dataclasses
import json
import shutil

import numpy as np
import pytest

# one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_mixed_preset")

pytest.importorskip("lightgbm")

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.config import ExperimentConfig  # noqa: E402
from ecgsl_keras.errors import ConfigError, SignalQualityError  # noqa: E402
from ecgsl_keras.modeling.stacking import SPEC_NAME, StackedClassifier, probability_names  # noqa: E402
from helpers import save_run_folder  # noqa: E402

LABELS = tasks.CINC2017.label_names
PARAMS = {"learning_rate": 0.1, "num_boost_round": 20, "num_leaves": 4, "min_data_in_leaf": 3}
RECORDS = ["A03858", "A04483", "A01045", "A00931", "A00205", "A00386"]
SAMPLES = 1200   # the ResNet window: 12 s at 100 Hz, so a 30 s record gives 3 windows, the last one overlapping


@pytest.fixture(scope="module")
def mixed_preset(tmp_path_factory, cinc_dir):
    """(presets root, preset folder, ECG-SL run folder, ResNet ensemble file, booster) of preset ``mixed-test``."""
    import keras

    from ecgsl_keras.data import record_features as features_lib
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.evaluation.evaluate import RESNET_MODEL_NAME
    from ecgsl_keras.modeling import models
    from ecgsl_keras.modeling.ensemble import build_ensemble
    from ecgsl_keras.modeling.resnet1d import build_resnet1d
    from ecgsl_keras.training.publish import build

    work = tmp_path_factory.mktemp("mixed")
    keras.utils.set_random_seed(0)
    config = ExperimentConfig()
    (work / "ecgsl").mkdir()
    run = save_run_folder(models.build_classifier(config.model, tasks.CINC2017), work / "ecgsl", config,
                          tasks.CINC2017)
    small = dataclasses.replace(config.model, resnet_blocks=1, resnet_filters=8)
    resnets = [build_resnet1d(small, tasks.CINC2017, input_samples=SAMPLES) for _ in range(2)]
    signal_file = work / "resnet1d.keras"
    build_ensemble(resnets, name=RESNET_MODEL_NAME).save(signal_file)
    reader = open_dataset("cinc2017", cinc_dir)
    names = list(features_lib.feature_names())
    X, y = [], []
    for record_id in list(reader.record_ids())[:30]:
        record = reader.load(record_id)
        try:
            values = features_lib.record_features(record.lead(None), record.fs, path=record.path)
        except Exception:  # noqa: BLE001  (records the features cannot use)
            continue
        X.append([values[n] for n in names])
        y.append(tasks.CINC2017.index(record.labels[0]))
    X = np.asarray(X, np.float64)
    deep = np.random.default_rng(0).dirichlet(np.ones(len(LABELS)), size=len(X))
    booster = StackedClassifier(names, probability_names(LABELS), LABELS, params=PARAMS, seed=0, combine="average",
                                deep_source={"kind": "probabilities"})
    booster.fit(np.concatenate([X, deep], axis=1), y).save(work / "booster")
    root = work / "presets"
    meta = build(run, "mixed-test", "mixed deep side test preset", root=root, booster=work / "booster",
                 signal_members=[signal_file])
    return root, root / "mixed-test", run, signal_file, booster, meta


def test_mixed_preset_saves_loads_and_serves_the_mean_of_its_members(mixed_preset, cinc_dir, monkeypatch):
    import keras

    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.serving.stacked import StackedPredictor
    from ecgsl_keras.store import presets

    root, folder, run, signal_file, booster, meta = mixed_preset
    assert {"model.keras", "resnet1d.keras", "booster.txt.gz", SPEC_NAME} <= set(meta["files"])
    members = json.loads((folder / SPEC_NAME).read_text())["deep_source"]["members"]
    assert [(m["file"], m["input"]) for m in members] == [("model.keras", "beats"), ("resnet1d.keras", "signal")]
    assert members[1]["samples"] == SAMPLES and "resnet1d.keras" in (folder / "README.md").read_text()
    monkeypatch.setenv("ECGSL_PRESETS_DIR", str(root))
    presets.verify_preset("mixed-test")                                  # the member's SHA-256 is in the metadata
    assert isinstance(presets.load("mixed-test"), keras.Model)           # plain Keras: the beats member
    predictor = load_model("mixed-test")
    assert isinstance(predictor, StackedPredictor) and predictor.format == "stacked(keras+keras[signal]+lightgbm)"
    ecgsl = load_model(run / "model.keras")                              # the beats member alone
    resnet = keras.models.load_model(signal_file, compile=False)
    reader = open_dataset("cinc2017", cinc_dir, records=RECORDS[:1])
    record = reader.load(RECORDS[0])
    out = predictor.predict_signal(record.lead(None), record.fs, path=record.path)
    beats = ecgsl.preprocess(record.lead(None), record.fs)
    signal = np.asarray(beats.signal, np.float32)
    assert len(signal) > 2 * SAMPLES and len(signal) % SAMPLES     # several windows, the last one overlapping
    starts = list(range(0, len(signal) - SAMPLES, SAMPLES)) + [len(signal) - SAMPLES]
    windows = np.stack([signal[s:s + SAMPLES] for s in starts])[..., None]
    resnet_p = np.asarray(resnet.predict_on_batch(windows), np.float64).mean(axis=0)
    ecgsl_p = np.asarray(ecgsl.predict_signal(record.lead(None), record.fs)["probabilities"], np.float64)
    np.testing.assert_allclose(out["deep_member_probabilities"], np.stack([ecgsl_p, resnet_p]), atol=1e-6)
    deep = 0.5 * (ecgsl_p + resnet_p)
    np.testing.assert_allclose(out["deep_probabilities"], deep, atol=1e-6)
    features = predictor.features(record.lead(None), record.fs)
    expected = booster.predict_proba(np.concatenate([features, deep])[None, :])[0]
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-6)
    assert out["deep_members"] == ["model.keras", "resnet1d.keras"] and out["label"] == LABELS[int(np.argmax(expected))]
    with pytest.raises(SignalQualityError):                              # the same checks before any member runs
        predictor.predict_signal(np.zeros(3000, np.float32), 300)


def test_the_served_signal_member_equals_evaluate_on_raw_signal_tfrecords(mixed_preset, cinc_dir, tmp_path,
                                                                            monkeypatch):
    """The ResNet member's served probabilities are those of the experiment's path: ``oof.deep_outputs`` (the
    windows of ``make_dataset(include_signal=True)``) on data prepared with ``--raw-signal``."""
    import keras

    from ecgsl_keras.cli.prepare import main as prepare
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.training import oof
    from tfrecords_tools import load_manifest

    root, folder, run, signal_file, _, _ = mixed_preset
    data = tmp_path / "raw"
    assert prepare(["--dataset", "cinc2017", "--data-dir", str(cinc_dir), "--out", str(data), "--raw-signal",
                    "--split", "all", "--records", *RECORDS, "--no-progress"]) == 0
    split = sorted(load_manifest(str(data))["splits"])[0]
    config = ExperimentConfig()
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, raw_samples=SAMPLES))
    table = oof.deep_outputs(keras.models.load_model(signal_file, compile=False), data, split, config,
                             tasks.CINC2017)
    assert len(table["record_id"]) == len(RECORDS)
    monkeypatch.setenv("ECGSL_PRESETS_DIR", str(root))
    predictor = load_model("mixed-test")
    reader = open_dataset("cinc2017", cinc_dir, records=RECORDS)
    for record_id, expected in zip(table["record_id"], table["probabilities"]):
        record = reader.load(str(record_id))
        served = predictor.predict_signal(record.lead(None), record.fs)["deep_member_probabilities"][1]
        np.testing.assert_allclose(served, expected, atol=1e-5)


def test_mixed_preset_missing_or_corrupt_member_names_the_file(mixed_preset, tmp_path):
    from ecgsl_keras.serving.inference import load_model

    _, folder, _, _, _, _ = mixed_preset
    missing = tmp_path / "missing"
    shutil.copytree(folder, missing)
    (missing / "resnet1d.keras").unlink()
    with pytest.raises(ConfigError, match="resnet1d.keras.*not found"):
        load_model(missing / "model.keras")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(folder, corrupt)
    data = (corrupt / "resnet1d.keras").read_bytes()
    (corrupt / "resnet1d.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match="resnet1d.keras.*corrupt"):
        load_model(corrupt / "model.keras")
    spec = json.loads((folder / SPEC_NAME).read_text())
    spec["deep_source"]["members"] = spec["deep_source"]["members"][1:]      # model.keras not listed
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / SPEC_NAME).write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match=f"{SPEC_NAME}.*model.keras"):
        load_model(bad / "model.keras")


def test_build_refuses_a_signal_member_that_reads_beats(mixed_preset, tmp_path):
    from ecgsl_keras.training.publish import build

    _, folder, run, _, _, _ = mixed_preset
    beats_model = tmp_path / "beats.keras"
    shutil.copyfile(run / "model.keras", beats_model)
    with pytest.raises(ConfigError, match="beats.keras.*one \\(batch, samples, 1\\) signal"):
        build(run, "bad-test", "x", root=tmp_path / "presets", booster=folder, signal_members=[beats_model])


def test_evaluate_raw_runs_a_mixed_preset_by_name_and_by_folder(mixed_preset, cinc_dir, monkeypatch):
    from ecgsl_keras.evaluation.evaluate import evaluate_raw

    root, folder, _, _, _, _ = mixed_preset
    monkeypatch.setenv("ECGSL_PRESETS_DIR", str(root))
    by_name = evaluate_raw("mixed-test", "cinc2017", cinc_dir, records=RECORDS[:3], progress=False)
    by_folder = evaluate_raw(folder, "cinc2017", cinc_dir, records=RECORDS[:3], progress=False)
    assert by_name["records"] == by_folder["records"] == 3 and "keras[signal]" in by_name["model_format"]
    assert by_name["confusion_matrix"] == by_folder["confusion_matrix"] and "macro_f1" in by_name["deep"]
