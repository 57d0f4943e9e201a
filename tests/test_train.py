"""Training stages on the embedded CinC 2017 sample: run folders, weight hand-over, resume."""
import csv
import json

import keras
import numpy as np
import pytest

import ecgsl_keras  # noqa: F401  (custom objects)
from ecgsl_keras.store import runs
from ecgsl_keras.training import trainer as train_lib
from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.cli import train as train_cli
from ecgsl_keras.cli import evaluate as evaluate_cli
from helpers import assert_metrics_match_confusion, tiny_experiment_config

# one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_train")


TINY = tiny_experiment_config()   # the model of every run here: run folders, hand-over and resume are tested


def _history(run_dir):
    with open(run_dir / runs.HISTORY_NAME, newline="") as fh:
        return list(csv.DictReader(fh))


def _assert_same(a, b):
    assert len(a) == len(b) and len(a) > 0
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def autoencoder_run(cinc_sample_tfrecords, tmp_path_factory):
    # The tiny model (masked and finetune inherit it through --init-from): the run folders and the weight
    # hand-over are tested, not the architecture.
    run_dir = tmp_path_factory.mktemp("runs") / "autoencoder"
    TINY.save(run_dir.parent / "tiny.json")
    code = train_cli.main(["--stage", "autoencoder", "--data", str(cinc_sample_tfrecords), "--run-dir", str(run_dir),
                           "--epochs", "2", "--batch-size", "128", "--seed", "3", "--verbose", "0",
                           "--config", str(run_dir.parent / "tiny.json")])
    assert code == 0
    return run_dir


@pytest.fixture(scope="module")
def masked_run(cinc_sample_tfrecords, autoencoder_run):
    # Learning rate 0: the weights stay as initialised, so the hand-over can be checked after the run.
    run_dir = autoencoder_run.parent / "masked"
    code = train_cli.main(["--stage", "masked", "--data", str(cinc_sample_tfrecords), "--run-dir", str(run_dir),
                           "--init-from", str(autoencoder_run), "--epochs", "1", "--batch-size", "16",
                           "--learning-rate", "0", "--verbose", "0"])
    assert code == 0
    return run_dir


@pytest.mark.slow
def test_autoencoder_cli_writes_the_run_folder(autoencoder_run, cinc_sample_tfrecords, capsys):
    for name in (runs.MODEL_NAME, runs.LAST_MODEL_NAME, runs.CONFIG_NAME, runs.HISTORY_NAME, runs.METRICS_NAME):
        assert (autoencoder_run / name).is_file(), name
    for folder in (runs.TENSORBOARD_DIR, runs.CHECKPOINTS_DIR):
        assert (autoencoder_run / folder).is_dir(), folder
    assert not (autoencoder_run / runs.BACKUP_DIR).exists()     # removed once the run completed
    if train_lib.tensorboard_available():
        assert list((autoencoder_run / runs.TENSORBOARD_DIR).rglob("events.out.tfevents*"))
    info = json.loads((autoencoder_run / runs.CONFIG_NAME).read_text())
    assert info["stage"] == "autoencoder" and info["status"] == runs.STATUS_FINISHED
    assert info["seed"] == 3 and info["epochs_completed"] == 2
    assert info["data"] == str(cinc_sample_tfrecords.resolve())
    assert {"tensorflow", "keras", "numpy", "scikit_learn"} <= set(info["versions"])
    assert info["experiment_config"]["train"]["batch_size"] == 128
    assert type(TINY.model).from_dict(info["experiment_config"]["model"]) == TINY.model
    # the signal config is the one the data were prepared with
    manifest = json.loads((cinc_sample_tfrecords / "manifest.json").read_text())
    assert info["experiment_config"]["signal"] == manifest["metadata"]["signal_config"]
    assert [int(r["epoch"]) for r in _history(autoencoder_run)] == [0, 1]
    metrics = json.loads((autoencoder_run / runs.METRICS_NAME).read_text())
    assert metrics["split"] == "validation" and metrics["val_loss"] > 0
    assert sorted(p.name for p in (autoencoder_run / runs.CHECKPOINTS_DIR).iterdir()) == [
        "epoch_001.weights.h5", "epoch_002.weights.h5"]
    model = keras.models.load_model(autoencoder_run / runs.MODEL_NAME)
    assert model.name == "beat_autoencoder"
    # a pre-training run is no classifier: evaluate says so
    from ecgsl_keras.evaluation import evaluate
    assert evaluate_cli.main(["--model", str(autoencoder_run), "--data", str(cinc_sample_tfrecords)]) == 2
    assert "pre-training" in capsys.readouterr().err


@pytest.mark.slow
def test_masked_stage_starts_from_the_autoencoder(masked_run, autoencoder_run):
    autoencoder = keras.models.load_model(autoencoder_run / runs.MODEL_NAME, compile=False)
    masked = keras.models.load_model(masked_run / runs.LAST_MODEL_NAME, compile=False)
    assert masked.name == "masked_segment_model"
    _assert_same(autoencoder.get_layer("beat_encoder").get_weights(), masked.get_layer("beat_encoder").get_weights())
    info = json.loads((masked_run / runs.CONFIG_NAME).read_text())
    assert info["init_from"] == str(autoencoder_run.resolve())
    assert info["monitor"] == "val_loss"


@pytest.mark.slow
def test_masked_diagnostic_matches_the_validation_loss(masked_run, autoencoder_run, cinc_sample_tfrecords, capsys):
    from ecgsl_keras.bench.__main__ import main as bench_main

    # the frozen target encoder is the stage-1 encoder
    autoencoder = keras.models.load_model(autoencoder_run / runs.MODEL_NAME, compile=False)
    masked = keras.models.load_model(masked_run / runs.MODEL_NAME, compile=False)
    _assert_same(autoencoder.get_layer("beat_encoder").get_weights(), masked.get_layer("target_encoder").get_weights())
    assert bench_main(["masked", "--model", str(masked_run), "--data", str(cinc_sample_tfrecords)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    latent, rr = result["spaces"]["latent"], result["spaces"]["rr"]
    assert latent["masked_beats"] == rr["masked_beats"] > 0
    # The sample's records hold fewer than max_beats beats: one window each, the validation loss's masks.
    row = _history(masked_run)[-1]
    assert latent["errors"]["model"] == pytest.approx(float(row["val_masked_main"]), rel=1e-4)
    assert rr["errors"]["model"] == pytest.approx(float(row["val_masked_rr"]), rel=1e-4)
    for space in (latent, rr):
        errors = space["errors"]
        best = min(v for k, v in errors.items() if k != "model")
        assert errors[space["best_trivial"]] == best
        assert space["margin"] == pytest.approx(1 - errors["model"] / best)
        # the record's own mean is a better guess than the training mean (zeros) on real ECGs
        assert errors["record_mean"] < errors["zeros"]


class _InitialWeights(keras.callbacks.Callback):
    """Weights of the named (nested) layers when training starts."""

    def __init__(self, names):
        super().__init__()
        self.names, self.weights = names, {}

    def on_train_begin(self, logs=None):
        encoder = self.model.get_layer("temporal_encoder")
        self.weights = {name: [np.array(w) for w in encoder.get_layer(name).get_weights()] for name in self.names}


@pytest.mark.slow
def test_finetune_starts_from_the_masked_model_and_its_loss_falls(masked_run, cinc_sample_tfrecords):
    names = ("beat_encoder", "projection", "positional_encoding", "transformer_block_1", "encoder_norm")
    initial = _InitialWeights(names)
    run_dir = masked_run.parent / "finetune"
    summary = train_lib.train("finetune", cinc_sample_tfrecords, run_dir, init_from=masked_run, epochs=3,
                              batch_size=8, verbose=0, callbacks=[initial])
    masked = keras.models.load_model(masked_run / runs.MODEL_NAME, compile=False)
    for name in names:
        _assert_same(masked.get_layer(name).get_weights(), initial.weights[name])
    losses = [float(r["loss"]) for r in _history(run_dir)]
    assert len(losses) == summary["epochs_completed"] >= 2
    assert losses[-1] < losses[0]
    metrics = json.loads((run_dir / runs.METRICS_NAME).read_text())
    assert metrics["task"] == "cinc2017" and np.asarray(metrics["confusion_matrix"]).sum() == 13
    assert_metrics_match_confusion(metrics, ["N", "A", "O", "~"])
    assert summary["monitor"] == "val_macro_f1"
    history = _history(run_dir)
    assert {"val_macro_f1", "val_challenge_f1", "val_loss", "val_auroc"} <= set(history[0])
    # the best model is the epoch with the best validation macro F1, and metrics.json describes it
    best = max(float(r["val_macro_f1"]) for r in history)
    assert metrics["macro_f1"] == pytest.approx(best)


@pytest.mark.slow
def test_supervised_resnet_baseline_from_the_cli(cinc_sample_tfrecords, tmp_path, capsys):
    run_dir = tmp_path / "resnet"
    TINY.save(tmp_path / "tiny.json")     # a small ResNet: the CLI path is tested, not the model
    code = train_cli.main(["--stage", "supervised", "--model", "resnet1d", "--data", str(cinc_sample_tfrecords),
                           "--run-dir", str(run_dir), "--epochs", "1", "--batch-size", "16", "--verbose", "0",
                           "--config", str(tmp_path / "tiny.json")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["stage"] == "supervised" and summary["epochs_completed"] == 1
    model = keras.models.load_model(run_dir / runs.MODEL_NAME, compile=False)
    assert model.name == "resnet1d_baseline" and model.input_shape == (None, 128 * 96, 1)
    assert json.loads((run_dir / runs.CONFIG_NAME).read_text())["model_kind"] == "resnet1d"
    # a finished run is never overwritten without --overwrite
    code = train_cli.main(["--stage", "supervised", "--data", str(cinc_sample_tfrecords), "--run-dir", str(run_dir),
                           "--epochs", "1", "--verbose", "0"])
    assert code == 2
    assert "finished supervised run" in capsys.readouterr().err


def test_stage_arguments_are_checked(cinc_sample_tfrecords, tmp_path):
    with pytest.raises(ConfigError, match="--init-from"):
        train_lib.train("masked", cinc_sample_tfrecords, tmp_path / "m")
    with pytest.raises(ConfigError, match="random weights"):
        train_lib.train("supervised", cinc_sample_tfrecords, tmp_path / "s", init_from=tmp_path)
    with pytest.raises(ConfigError, match="resnet1d"):
        train_lib.train("finetune", cinc_sample_tfrecords, tmp_path / "f", init_from=tmp_path, model="resnet1d")
    with pytest.raises(ConfigError, match="does not match"):
        train_lib.train("supervised", cinc_sample_tfrecords, tmp_path / "t", task="ptbxl-superdiagnostic")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ECGSLError, match="not empty"):
        train_lib.train("supervised", cinc_sample_tfrecords, tmp_path / "busy", epochs=1)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_class_weights_from_the_manifest(cinc_sample_tfrecords):
    from ecgsl_keras import tasks
    from tfrecords_tools import load_manifest

    manifest = load_manifest(cinc_sample_tfrecords)
    weights = train_lib.class_weights(manifest, tasks.CINC2017)
    counts = manifest["splits"]["train"]["label_counts"]["record"]["examples"]
    n = np.array([counts[str(c)] for c in range(4)], float)
    np.testing.assert_allclose(weights, n.sum() / (4 * n))
    # rarer classes weigh more; weighted counts are equal
    np.testing.assert_allclose(weights * n, np.full(4, n.sum() / 4))


class Killed(Exception):
    pass


class _KillAt(keras.callbacks.Callback):
    """Raises in the middle of an epoch, like a killed process."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.kill_epoch, self.kill_batch, self.epoch = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.kill_epoch and batch == self.kill_batch:
            raise Killed("killed in the middle of an epoch")


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_backup(cinc_sample_tfrecords, tmp_path):
    run_dir = tmp_path / "resume"
    args = dict(epochs=4, batch_size=256, seed=5, verbose=0, config=TINY)
    with pytest.raises(Killed):
        train_lib.train("autoencoder", cinc_sample_tfrecords, run_dir, callbacks=[_KillAt(2, 1)], **args)
    assert [int(r["epoch"]) for r in _history(run_dir)] == [0, 1]
    assert json.loads((run_dir / runs.BACKUP_DIR / "training_metadata.json").read_text())["epoch"] == 2
    assert json.loads((run_dir / runs.CONFIG_NAME).read_text())["status"] == runs.STATUS_RUNNING
    backup_state = json.loads((run_dir / runs.BACKUP_DIR / train_lib.CALLBACK_STATE_NAME).read_text())

    summary = train_lib.train("autoencoder", cinc_sample_tfrecords, run_dir, **args)   # the same command again
    assert summary["resumed"] and summary["epochs_run_now"] == 2      # epochs 3 and 4 only
    assert summary["epochs_completed"] == 4
    history = _history(run_dir)
    assert [int(r["epoch"]) for r in history] == [0, 1, 2, 3]
    info = json.loads((run_dir / runs.CONFIG_NAME).read_text())
    assert info["status"] == runs.STATUS_FINISHED and len(info["resumed"]) == 1
    assert not (run_dir / runs.BACKUP_DIR).exists()
    # the best checkpoint kept its memory of the epochs before the kill
    losses = [float(r["val_loss"]) for r in history]
    assert summary["best"]["value"] == pytest.approx(min(losses))
    assert backup_state["checkpoint_best"] == pytest.approx(min(losses[:2]))


@pytest.mark.slow
def test_a_backup_torn_by_the_kill_falls_back_on_the_previous_one(cinc_sample_tfrecords, tmp_path):
    run_dir = tmp_path / "torn"
    args = dict(epochs=3, batch_size=256, seed=5, verbose=0, config=TINY)
    with pytest.raises(Killed):
        train_lib.train("autoencoder", cinc_sample_tfrecords, run_dir, callbacks=[_KillAt(2, 0)], **args)
    latest = run_dir / runs.BACKUP_DIR / "latest.weights.h5"
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 3])          # a kill in the middle of writing the backup
    summary = train_lib.train("autoencoder", cinc_sample_tfrecords, run_dir, **args)
    assert summary["resumed"] and summary["epochs_completed"] == 3
    assert summary["epochs_run_now"] in (1, 2)          # from the last backup, or the one before it
    assert [int(r["epoch"]) for r in _history(run_dir)] == [0, 1, 2]   # an epoch run again is listed once
