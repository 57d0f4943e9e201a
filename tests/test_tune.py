"""ecgsl_keras.training.tune: a keras-tuner search of train runs on the CinC sample, resumed, and its best config trained."""
import dataclasses
import json
import sys

import pytest

from ecgsl_keras.training import tune
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.cli import tune as tune_cli
from ecgsl_keras.cli import train as train_cli


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    """Small beats encoder and short windows: the trials are about the search, not the model."""
    base = ExperimentConfig()
    config = dataclasses.replace(base, model=dataclasses.replace(base.model, conv_filters=(8, 8, 8), embed_dim=16,
                                                                 attention_units=16, head_units=16, max_beats=32))
    path = tmp_path_factory.mktemp("tune_config") / "config.json"
    config.save(path)
    return path


# one xdist unit with the suite's other long single runs (--dist loadgroup sends units of several tests before
# single tests): they start early instead of leaving one worker busy with one of them at the end
@pytest.mark.xdist_group("long_runs")
@pytest.mark.slow
def test_tune_two_trials_resume_and_train_best(cinc_sample_tfrecords, tiny_config, tmp_path, capsys):
    from ecgsl_keras.training import trainer as train

    out = tmp_path / "search"
    common = ["--data", str(cinc_sample_tfrecords), "--stage", "supervised", "--tuner", "random", "--epochs", "1",
              "--batch-size", "32", "--config", str(tiny_config), "--out", str(out)]
    assert tune_cli.main(common + ["--max-trials", "1"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["trials_finished"] == 1 and first["objective"] == "val_macro_f1"
    # the same command with a larger budget resumes: the finished trial is kept, one more runs
    assert tune_cli.main(common + ["--max-trials", "2"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    summary = json.loads((out / tune.SUMMARY_NAME).read_text())
    assert second["trials_finished"] == 2 and len(summary["trials"]) == 2
    kept = [t for t in summary["trials"] if t["hyperparameters"] == first["best_hyperparameters"]]
    assert kept and kept[0]["val_macro_f1"] == pytest.approx(first["best_score"])
    scores = [t["val_macro_f1"] for t in summary["trials"]]
    best_trial = next(t for t in summary["trials"] if t["trial"] == second["best_trial"])
    assert second["best_score"] == max(scores) == best_trial["val_macro_f1"]
    assert second["best_hyperparameters"] == best_trial["hyperparameters"]
    # every trial is a train run folder whose best value is the trial's score
    for trial in summary["trials"]:
        info = json.loads((tmp_path / "search" / "trials" / trial["trial"] / "config.json").read_text())
        assert info["status"] == "finished" and info["best"]["value"] == pytest.approx(trial["val_macro_f1"])
    # best_config.json is an ExperimentConfig holding the best trial's values, and train accepts it as is
    best = ExperimentConfig.load(out / tune.BEST_CONFIG_NAME)
    hp = second["best_hyperparameters"]
    assert (best.model.d_model, best.model.num_layers, best.model.num_heads) == (hp["d_model"], hp["num_layers"],
                                                                                 hp["num_heads"])
    assert best.train.learning_rate == pytest.approx(hp["learning_rate"]) and best.model.max_beats == 32
    assert train_cli.main(["--stage", "supervised", "--data", str(cinc_sample_tfrecords), "--run-dir",
                       str(tmp_path / "best_run"), "--config", str(out / tune.BEST_CONFIG_NAME), "--verbose", "0"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["epochs_completed"] == 1


def test_tune_bad_input(cinc_sample_tfrecords, tmp_path, capsys, monkeypatch):
    # finetune without a pre-trained run
    assert tune_cli.main(["--data", str(cinc_sample_tfrecords), "--stage", "finetune", "--out", str(tmp_path)]) == 2
    assert "--init-from" in capsys.readouterr().err
    # without the extra: which pip install to run, no traceback
    monkeypatch.setitem(sys.modules, "keras_tuner", None)
    assert tune_cli.main(["--data", str(cinc_sample_tfrecords), "--stage", "supervised", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[tune]"' in err and "Traceback" not in err
