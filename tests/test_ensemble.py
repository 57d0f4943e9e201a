"""Seed ensembles (ecgsl_keras.modeling.ensemble): mean of the members, one .keras file, attention, evaluate,
the CLI, and a preset built from an ensemble."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import ecgsl_keras  # noqa: F401
from ecgsl_keras import tasks
from ecgsl_keras.modeling import ensemble
from ecgsl_keras.evaluation import evaluate
from ecgsl_keras.modeling import models
from ecgsl_keras.store import presets as pretrained
from ecgsl_keras.store import runs
from ecgsl_keras.config import ExperimentConfig, TrainConfig
from ecgsl_keras.cli import ensemble as ensemble_cli
from ecgsl_keras.training import publish
from helpers import cinc_batch, run_model_saving_test
from test_pretrained import TINY, make_run


@pytest.fixture(scope="module")
def members():
    out = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        out.append(models.build_classifier(TINY, tasks.CINC2017))
    return out


def test_ensemble_is_the_mean_and_round_trips(members, tmp_path):
    features, _ = cinc_batch(4, 32)
    outputs = [np.asarray(m(features, training=False)) for m in members]
    assert not np.allclose(outputs[0], outputs[1])          # different seeds, different members
    model = ensemble.build_ensemble(members)
    assert [layer.name for layer in ensemble.ensemble_members(model)] == ["member_0", "member_1"]
    assert sorted(model.input) == ["beats", "padding_mask", "rr"]
    got = np.asarray(model(features, training=False))
    np.testing.assert_allclose(got, (outputs[0] + outputs[1]) / 2, atol=1e-6)

    loaded = run_model_saving_test(model, features, tmp_path)      # plain keras.models.load_model, same outputs

    # attention_model: mean of the members' attention weights, a distribution over real beats
    out = models.attention_model(loaded)
    both = out(features, training=False)
    member_att = [np.asarray(models.attention_model(m)(features, training=False)["attention_weights"]) for m in members]
    np.testing.assert_allclose(np.asarray(both["probabilities"]), got, atol=1e-6)
    np.testing.assert_allclose(np.asarray(both["attention_weights"]), (member_att[0] + member_att[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(np.asarray(both["attention_weights"]).sum(axis=1), 1.0, atol=1e-5)
    assert np.all(np.asarray(both["attention_weights"])[~features["padding_mask"]] == 0)


def test_ensemble_evaluates_like_its_members(members, cinc_sample_tfrecords):
    config = ExperimentConfig(model=TINY, train=TrainConfig(batch_size=16))
    dataset = evaluate.eval_dataset(cinc_sample_tfrecords, "validation", config, tasks.CINC2017)
    windows = [evaluate.predict_windows(m, dataset)["probabilities"] for m in members]
    combined = evaluate.predict_windows(ensemble.build_ensemble(members), dataset)
    np.testing.assert_allclose(combined["probabilities"], (windows[0] + windows[1]) / 2, atol=1e-6)
    metrics = evaluate.metrics_from_windows(tasks.CINC2017, combined)
    assert metrics["n"] == 13


@pytest.mark.slow   # trains two member runs, then the CLI: ~25 s
def test_ensemble_cli_then_preset(tmp_path, cinc_sample_tfrecords, capsys):
    runs_dirs = [make_run(tmp_path / f"seed{seed}", cinc_sample_tfrecords, seed=seed, metrics=False) for seed in (1, 2)]
    out = tmp_path / "ens" / "model.keras"
    capsys.readouterr()
    assert ensemble_cli.main(["--members", *map(str, runs_dirs), "--out", str(out), "--data", str(cinc_sample_tfrecords)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["out"] == str(out) and len(summary["members"]) == 2 and summary["metrics"]["n"] == 13
    info = runs.read_json(out.parent / "config.json")
    assert info["stage"] == "ensemble" and info["task"]["name"] == "cinc2017"
    # the output folder is a run folder: evaluate reads it, and the same figures come back
    by_cli = evaluate.evaluate_tfrecords(out, cinc_sample_tfrecords)
    assert by_cli["macro_f1"] == pytest.approx(summary["metrics"]["macro_f1"])
    assert ensemble_cli.main(["--members", *map(str, runs_dirs), "--out", str(out)]) == 2   # no --overwrite
    assert "already exists" in capsys.readouterr().err

    root = tmp_path / "presets"
    meta = publish.build(out, "tiny-ensemble", "two tiny members", root=root)
    assert meta["stage"] == "ensemble" and meta["validation"]["records"] == 13
    assert len(meta["training_data"]["members"]) == 2
    features, _ = cinc_batch(3, 32)
    np.testing.assert_allclose(np.asarray(pretrained.load("tiny-ensemble", root=root)(features, training=False)),
                               np.asarray(keras.models.load_model(out)(features, training=False)), atol=1e-6)
