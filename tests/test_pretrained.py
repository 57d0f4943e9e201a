"""Pretrained presets (ecgsl_keras.store.presets): build from a run folder, load by name, integrity
checks, names in the evaluate/predict/train entry points, and refusal of mismatched preprocessing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

import ecgsl_keras  # noqa: F401
from ecgsl_keras import tasks
from ecgsl_keras.evaluation import evaluate
from ecgsl_keras.store import presets as pretrained
from ecgsl_keras.store import runs
from ecgsl_keras.config import ExperimentConfig, ModelConfig, SignalConfig, TrainConfig, signal_mismatch
from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.cli import evaluate as evaluate_cli
from ecgsl_keras.cli import presets as presets_cli
from ecgsl_keras.training import publish
from helpers import assert_metrics_match_confusion, cinc_batch, majority_macro_f1, save_run_folder

# one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_pretrained")

TINY = ModelConfig(embed_dim=8, conv_filters=(4, 8, 8), d_model=16, num_heads=2, ff_dim=16, num_layers=1,
                   max_beats=64, head_units=8, attention_units=8)
NAME = "tiny-cinc"


def make_run(folder: Path, data: Path, seed: int = 0, metrics: bool = True) -> Path:
    """An (untrained) classifier saved as a finished supervised run folder, with real validation
    metrics on ``data`` (metrics.json as train writes it) unless ``metrics`` is False."""
    from ecgsl_keras.modeling import models
    from tfrecords_tools import load_manifest

    keras.utils.set_random_seed(seed)
    config = ExperimentConfig(model=TINY, train=TrainConfig(batch_size=16))
    model = models.build_classifier(TINY, tasks.CINC2017)
    folder.mkdir(parents=True, exist_ok=True)
    save_run_folder(model, folder, config, tasks.CINC2017)
    manifest = load_manifest(data)
    info = runs.read_json(folder / runs.CONFIG_NAME)
    info.update(stage="supervised", status=runs.STATUS_FINISHED, model_kind="ecgsl", data=str(data), seed=seed,
                data_splits={k: {"examples": v.get("examples"), "beats": v.get("beats")}
                             for k, v in manifest["splits"].items()})
    runs.write_json(folder / runs.CONFIG_NAME, info)
    if not metrics:
        return folder
    metrics = evaluate.evaluate_model(model, data, "validation", config, tasks.CINC2017)
    metrics.update(split="validation", best={"monitor": "val_macro_f1", "value": metrics["macro_f1"], "epoch": 1})
    runs.write_json(folder / runs.METRICS_NAME, metrics)
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, cinc_sample_tfrecords):
    return make_run(tmp_path_factory.mktemp("tiny_run") / "run", cinc_sample_tfrecords)


@pytest.fixture(scope="module")
def preset_root(tmp_path_factory, run_dir):
    root = tmp_path_factory.mktemp("presets")
    extra = root.parent / "extra.md"
    extra.write_text("Extra card text: built by the tests.\n")
    assert presets_cli.main(["build", "--run", str(run_dir), "--name", NAME, "--description", "a tiny test model",
                            "--card-extra", str(extra), "--out-root", str(root)]) == 0
    return root


def test_build_layout_and_load_gives_the_source_predictions(preset_root, run_dir, capsys):
    folder = preset_root / NAME
    assert pretrained.list_presets(root=preset_root) == [NAME]
    assert pretrained.preset_dir(NAME, root=preset_root) == folder
    assert pretrained.path(NAME, root=preset_root) == folder / "model.keras"
    assert not list(preset_root.glob(".*")), "temporary build folder left behind"
    assert folder.stat().st_mode & 0o777 == 0o755                  # shipped: readable by everyone
    assert {f.stat().st_mode & 0o777 for f in folder.iterdir()} == {0o644}
    meta = pretrained.metadata(NAME, root=preset_root)
    # no path of the building machine: the run folder by its last two parts
    assert meta["source_run"] == f"{run_dir.parent.name}/{run_dir.name}"
    assert set(meta["files"]) == {"model.keras", "config.json", "signal_config.json", "README.md"}
    for rel, entry in meta["files"].items():
        assert entry["sha256"] == pretrained.sha256_file(folder / rel)
        assert entry["size"] == (folder / rel).stat().st_size
    assert meta["name"] == NAME and meta["description"] == "a tiny test model"
    assert meta["stage"] == "supervised" and meta["label_names"] == list(tasks.CINC2017.label_names)
    assert meta["validation"]["records"] == 13 and meta["validation"]["split_examples"] == 13
    source_metrics = runs.read_json(run_dir / "metrics.json")
    assert meta["validation"]["metrics"]["macro_f1"] == pytest.approx(source_metrics["macro_f1"])
    assert meta["training_data"]["splits"]["train"]["examples"] == 51
    card = (folder / "README.md").read_text()
    assert "not a medical device" in card and "Extra card text" in card and "13 records" in card
    preset_config = json.loads((folder / "config.json").read_text())
    assert preset_config["stage"] == "supervised" and preset_config["task"]["name"] == "cinc2017"
    assert pretrained.signal_config(NAME, root=preset_root) == SignalConfig()

    features, _ = cinc_batch(4, 32)
    source = keras.models.load_model(run_dir / "model.keras", compile=False)
    expected = np.asarray(source(features, training=False))
    loaded = pretrained.load(NAME, root=preset_root)
    np.testing.assert_allclose(np.asarray(loaded(features, training=False)), expected, atol=1e-6)
    plain = keras.models.load_model(pretrained.path(NAME, root=preset_root))   # plain Keras, no custom_objects
    np.testing.assert_allclose(np.asarray(plain(features, training=False)), expected, atol=1e-6)

    # list prints one JSON line; building again needs --overwrite
    capsys.readouterr()
    assert presets_cli.main(["list", "--root", str(preset_root)]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listed["presets"][0]["name"] == NAME and listed["presets"][0]["description"] == "a tiny test model"
    with pytest.raises(ECGSLError, match="already exists"):
        publish.build(run_dir, NAME, "again", root=preset_root)


def test_corrupt_or_missing_files_are_named(preset_root, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(preset_root / NAME, root / NAME)
    model_file = root / NAME / "model.keras"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"model\.keras.*corrupt.*SHA-256"):
        pretrained.load(NAME, root=root)
    model_file.unlink()
    with pytest.raises(ConfigError, match=r"model\.keras.*missing"):
        pretrained.load(NAME, root=root)
    shutil.copyfile(preset_root / NAME / "model.keras", model_file)
    pretrained.load(NAME, root=root)    # repaired
    (root / NAME / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"config\.json.*corrupt"):
        pretrained.load(NAME, root=root)
    (root / NAME / "metadata.json").unlink()
    with pytest.raises(ConfigError, match=r"metadata\.json"):
        pretrained.load(NAME, root=root)


def test_unknown_name_lists_the_presets(preset_root, monkeypatch, capsys, cinc_sample_tfrecords):
    with pytest.raises(ConfigError, match=f"no pretrained model of that name.*{NAME}"):
        pretrained.load("no-such-model", root=preset_root)
    assert pretrained.is_preset_name(NAME, root=preset_root)
    assert not pretrained.is_preset_name(f"x/{NAME}", root=preset_root)
    assert not pretrained.is_preset_name("no-such-model", root=preset_root)
    monkeypatch.setenv(pretrained.ENV_VAR, str(preset_root))
    assert pretrained.is_preset_name(NAME) and NAME in pretrained.list_presets()
    assert runs.model_path(NAME) == preset_root / NAME / "model.keras"
    assert runs.find_run_dir(NAME) == preset_root / NAME
    with pytest.raises(ConfigError, match=NAME):
        runs.model_path("no-such-model")
    capsys.readouterr()
    assert evaluate_cli.main(["--model", "no-such-model", "--data", str(cinc_sample_tfrecords)]) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and NAME in err and "Traceback" not in err


def test_names_work_in_evaluate_and_predict(preset_root, run_dir, monkeypatch, capsys, cinc_sample_tfrecords,
                                            cinc_dir):
    from ecgsl_keras.serving import inference

    monkeypatch.setenv(pretrained.ENV_VAR, str(preset_root))
    capsys.readouterr()
    assert evaluate_cli.main(["--model", NAME, "--data", str(cinc_sample_tfrecords), "--no-progress"]) == 0
    by_name = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    by_path = runs.read_json(run_dir / "metrics.json")   # evaluate_model on the same split, by path
    assert by_name["n"] == 13 and by_name["macro_f1"] == pytest.approx(by_path["macro_f1"])
    assert by_name["confusion_matrix"] == by_path["confusion_matrix"]

    from ecgsl_keras.data.datasets import open_dataset

    records = open_dataset("cinc2017", cinc_dir).record_ids()[:3]
    assert evaluate_cli.main(["--model", NAME, "--dataset", "cinc2017", "--data-dir", str(cinc_dir),
                          "--records", *records, "--no-progress"]) == 0
    raw = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert raw["records"] == 3 and raw["n"] == 3

    record = open_dataset("cinc2017", cinc_dir).load(records[0])
    named = inference.load_model(NAME).predict_signal(record.lead(None), record.fs)
    direct = inference.load_model(run_dir / "model.keras").predict_signal(record.lead(None), record.fs)
    np.testing.assert_allclose(named["probabilities"], direct["probabilities"], atol=1e-6)


def _copy_with_signal(data: Path, out: Path, **changes) -> Path:
    shutil.copytree(data, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["metadata"]["signal_config"].update(changes)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_mismatched_preprocessing_is_refused(preset_root, run_dir, monkeypatch, tmp_path, cinc_sample_tfrecords):
    from ecgsl_keras.training import trainer as train_lib

    base = SignalConfig()
    assert signal_mismatch(base, base.to_dict()) == []
    assert signal_mismatch(base, SignalConfig(min_duration_s=5.0, supported_fs=(100.0, 500.0))) == []  # quality only
    diff = signal_mismatch(SignalConfig(normalize="none", target_fs=125.0), base)
    assert [d.split(":")[0] for d in diff] == ["normalize", "target_fs"]

    monkeypatch.setenv(pretrained.ENV_VAR, str(preset_root))
    other = _copy_with_signal(cinc_sample_tfrecords, tmp_path / "other", normalize="none", r_offset=40)
    for model in (NAME, run_dir):
        with pytest.raises(ConfigError, match=r"manifest\.json.*normalize.*r_offset"):
            evaluate.evaluate_tfrecords(model, other)
    with pytest.raises(ConfigError, match=r"manifest\.json.*normalize"):
        train_lib.train("finetune", other, tmp_path / "ft", init_from=NAME, epochs=1, strategy="onedevice")
    assert not (tmp_path / "ft").exists() or not any((tmp_path / "ft").iterdir())


@pytest.mark.slow   # one epoch of fine-tuning (~30 s on 2 busy cores)
def test_train_init_from_a_preset_name(preset_root, monkeypatch, tmp_path, cinc_sample_tfrecords):
    from ecgsl_keras.training import trainer as train_lib

    monkeypatch.setenv(pretrained.ENV_VAR, str(preset_root))
    # beats cut another way (as for the edge model: R-peaks found at the graph's rate): refused above,
    # trained with adapt_signal, which records what differed
    other = _copy_with_signal(cinc_sample_tfrecords, tmp_path / "other", r_offset=40)
    summary = train_lib.train("finetune", other, tmp_path / "ft", init_from=NAME, epochs=1,
                              batch_size=16, strategy="onedevice", verbose=0, adapt_signal=True)
    assert summary["epochs_completed"] == 1
    info = runs.read_json(tmp_path / "ft" / "config.json")
    assert info["experiment_config"]["model"]["d_model"] == TINY.d_model   # the preset's model config
    assert [d.split(":")[0] for d in info["signal_adapted"]] == ["r_offset"]
    assert info["experiment_config"]["signal"]["r_offset"] == 40          # the run's beats are the data's


# --- the presets shipped in the package ---------------------------------------------------------

SHIPPED = ("encoder", "cinc2017")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_preset_loads_by_name_and_with_plain_keras(name):
    assert name in pretrained.list_presets(root=pretrained.PACKAGE_ROOT)
    model = pretrained.load(name)                     # every file checked against its SHA-256 first
    plain = keras.models.load_model(pretrained.path(name), compile=False)
    meta = pretrained.metadata(name)
    card = (pretrained.preset_dir(name) / pretrained.CARD_NAME).read_text(encoding="utf-8")
    assert "not a medical device" in card.lower()
    assert pretrained.signal_config(name) == SignalConfig.from_dict(
        json.loads((pretrained.preset_dir(name) / pretrained.SIGNAL_CONFIG_NAME).read_text()))
    features, _ = cinc_batch(2, 32)
    out, again = model(features, training=False), plain(features, training=False)
    if name == "cinc2017":
        assert meta["task"]["name"] == "cinc2017" and list(meta["label_names"]) == ["N", "A", "O", "~"]
        probabilities = np.asarray(out)
        assert probabilities.shape == (2, 4) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(probabilities, np.asarray(again), atol=1e-6)
    else:
        from ecgsl_keras.modeling.models import MaskedSegmentModel

        assert isinstance(model, MaskedSegmentModel) and meta["stage"] == "masked"
        assert out["prediction"].shape == (2, 32, model.get_layer("target_encoder").output.shape[-1])


@pytest.mark.slow   # segments and classifies 64 records with a 3-member ensemble: ~12 s
def test_shipped_cinc2017_evaluates_a_raw_folder(cinc_dir, capsys):
    """The command of the README, on the 64 CinC 2017 records shipped in the package."""
    capsys.readouterr()
    assert evaluate_cli.main(["--model", "cinc2017", "--dataset", "cinc2017", "--data-dir", str(cinc_dir),
                          "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 64
    matrix = np.asarray(result["confusion_matrix"])
    assert matrix.sum() == 64
    f1 = assert_metrics_match_confusion(result, ["N", "A", "O", "~"])
    assert result["challenge_f1"] == pytest.approx(f1[:3].mean())          # N, A, O; noisy left out
    # the shipped model does much better than always answering the majority class on these records
    assert result["macro_f1"] > majority_macro_f1(matrix) + 0.3


def test_train_init_from_the_shipped_encoder_copies_its_weights():
    from ecgsl_keras.modeling import models

    encoder = pretrained.load("encoder")
    config = ExperimentConfig.from_dict(pretrained.config("encoder")["experiment_config"])
    classifier = models.build_classifier(config.model, tasks.CINC2017, pretrained=encoder)
    for name in ("beat_encoder", "transformer_block_1", "positional_encoding"):
        source = encoder.get_layer(name).get_weights()
        copied = classifier.get_layer("temporal_encoder").get_layer(name).get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(source, copied))


def test_build_with_serving_settings_writes_them_and_names_bad_ones(run_dir, tmp_path, capsys):
    """``serving``: the preset reads records with settings other than the trained ones (cinc2017-edge's windows
    and 100 Hz R-peaks); they reach config.json and signal_config.json, and the metadata and the card list them."""
    serving = tmp_path / "serving.json"
    serving.write_text(json.dumps({"train": {"predict_window_s": 30}, "signal": {"detect_at_native_rate": False}}))
    root = tmp_path / "served"
    assert presets_cli.main(["build", "--run", str(run_dir), "--name", NAME, "--description", "served",
                             "--serving", str(serving), "--out-root", str(root)]) == 0
    capsys.readouterr()
    folder = root / NAME
    experiment = json.loads((folder / "config.json").read_text())["experiment_config"]
    assert experiment["train"]["predict_window_s"] == 30
    assert pretrained.signal_config(NAME, root=root).detect_at_native_rate is False
    assert runs.read_json(run_dir / "config.json")["experiment_config"]["signal"]["detect_at_native_rate"] is True
    meta = pretrained.verify_preset(NAME, root)
    assert meta["serving"] == {"train.predict_window_s": [0.0, 30], "signal.detect_at_native_rate": [True, False]}
    card = (folder / "README.md").read_text()
    assert "## Serving settings" in card and "| `signal.detect_at_native_rate` | `true` | `false` |" in card

    for bad, message in (({"trian": {"predict_window_s": 30}}, "unknown serving section 'trian'"),
                         ({"train": {"window": 30}}, r"unknown train setting\(s\) \['window'\]"),
                         ({"train": {"predict_window_s": -1}}, "serving settings: .*predict_window_s")):
        with pytest.raises(ConfigError, match=message):
            publish.build(run_dir, "bad-serving", "x", root=root, serving=bad)
    assert sorted(p.name for p in root.iterdir()) == [NAME]      # nothing half-built left behind
