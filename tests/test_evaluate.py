"""Metrics (against scikit-learn), per-record aggregation, and the evaluate CLI on real fixture data."""
import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

from ecgsl_keras import tasks


# --- metrics ----------------------------------------------------------------------------------------

from ecgsl_keras.evaluation import evaluate

from ecgsl_keras.evaluation import metrics

from ecgsl_keras.store import runs
from ecgsl_keras.cli import evaluate as evaluate_cli
from helpers import tiny_experiment_config


def _random_predictions(n=200, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def test_multiclass_metrics_match_scikit_learn():
    y, probs = _random_predictions()
    found = metrics.multiclass_metrics(y, probs, tasks.CINC2017.label_names,
                                       challenge_labels=tasks.CINC2017_CHALLENGE_LABELS)
    pred = probs.argmax(axis=1)
    assert found["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert found["accuracy"] == pytest.approx(np.mean(pred == y))
    assert found["confusion_matrix"] == confusion_matrix(y, pred).tolist()
    assert found["auroc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    per_class = f1_score(y, pred, average=None)
    assert list(found["per_class_f1"].values()) == pytest.approx(list(per_class))
    assert list(found["per_class_f1"]) == ["N", "A", "O", "~"]
    assert found["challenge_f1"] == pytest.approx(per_class[:3].mean())   # N, A, O; noisy left out


def test_multiclass_metrics_with_a_missing_class():
    y = np.array([0, 0, 1, 1, 2])
    probs = np.eye(4)[[0, 1, 1, 1, 2]]
    found = metrics.multiclass_metrics(y, probs, ("N", "A", "O", "~"))
    assert found["per_class_auroc"]["~"] is None          # no noisy record: undefined, not 0 or 1
    # "~" is neither true nor predicted: left out of the mean, not counted as F1 0
    assert found["macro_f1"] == pytest.approx(f1_score(y, probs.argmax(1), labels=[0, 1, 2], average="macro"))
    assert found["macro_f1_left_out"] == ["~"] and found["per_class_f1"]["~"] is None
    with pytest.raises(ValueError, match="probabilities"):
        metrics.multiclass_metrics(y, probs[:3], ("N", "A", "O", "~"))


def test_macro_f1_of_all_correct_predictions_is_one_whatever_the_classes_absent():
    """Five records, all right, two classes present of four: accuracy 1 and macro F1 1 (it was 0.5)."""
    y = np.array([0, 0, 1, 1, 1])
    found = metrics.multiclass_metrics(y, np.eye(4)[y], ("N", "A", "O", "~"))
    assert found["accuracy"] == 1.0 and found["macro_f1"] == 1.0 and found["macro_f1_left_out"] == ["O", "~"]
    beats = metrics.per_beat_metrics(y, np.eye(5)[y], ("N", "S", "V", "F", "Q"))
    assert beats["macro_f1"] == 1.0 and beats["macro_f1_left_out"] == ["V", "F", "Q"]
    multilabel = metrics.multilabel_metrics(np.eye(3)[[0, 0, 1]], np.eye(3)[[0, 0, 1]], ("a", "b", "c"))
    assert multilabel["macro_f1"] == 1.0 and multilabel["macro_f1_left_out"] == ["c"]
    binary = metrics.binary_metrics(np.zeros(4), np.zeros(4))
    assert binary["macro_f1"] == 1.0 and binary["macro_f1_left_out"] == ["positive"]


def test_binary_metrics_sensitivity_and_specificity():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([.9, .8, .7, .2, .1, .3, .6, .2, .1, .4])
    found = metrics.binary_metrics(y, p, ("N", "A"))
    assert found["sensitivity"] == pytest.approx(3 / 4)
    assert found["specificity"] == pytest.approx(5 / 6)
    assert found["accuracy"] == pytest.approx(8 / 10)
    assert found["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert found["confusion_matrix"] == [[5, 1], [1, 3]]


def test_per_beat_metrics_sensitivity_and_positive_predictivity():
    y = np.array([0, 0, 0, 2, 2, 2, 3])
    pred = np.array([0, 0, 2, 2, 2, 0, 0])
    found = metrics.per_beat_metrics(y, np.eye(5)[pred], tasks.MITDB_AAMI.label_names)
    sens = recall_score(y, pred, labels=[0, 2, 3], average=None, zero_division=0)
    ppv = precision_score(y, pred, labels=[0, 2], average=None)
    assert [found["sensitivity"][k] for k in "NVF"] == pytest.approx(list(sens))
    assert [found["positive_predictivity"][k] for k in "NV"] == pytest.approx(list(ppv))
    assert found["sensitivity"]["S"] is None and found["positive_predictivity"]["F"] is None
    assert found["accuracy"] == pytest.approx(4 / 7)


def test_per_beat_metrics_aami_ec57_gross_positive_predictivity():
    """EC57's gross +P: V calls on fusion or Q beats and S calls on Q beats are not false positives; plain +P counts
    them. Classes N S V F Q; 4 true V called V, 2 N, 3 F and 1 Q called V; 3 true S called S, 1 N and 2 Q called S."""
    y = np.array([2] * 4 + [0] * 2 + [3] * 3 + [4] + [1] * 3 + [0] + [4] * 2 + [0] * 5)
    pred = np.array([2] * 10 + [1] * 6 + [0] * 5)
    found = metrics.per_beat_metrics(y, np.eye(5)[pred], tasks.MITDB_AAMI.label_names)
    assert found["positive_predictivity"]["V"] == pytest.approx(4 / 10)
    assert found["positive_predictivity"]["S"] == pytest.approx(3 / 6)
    ec57 = found["aami_ec57"]
    assert ec57["V_positive_predictivity"] == pytest.approx(4 / 6)       # F and Q called V left out
    assert ec57["S_positive_predictivity"] == pytest.approx(3 / 4)       # Q called S left out
    assert ec57["not_counted"] == {"S": ["Q"], "V": ["F", "Q"]}
    table = evaluate.aami_table(found)
    assert "AAMI EC57 gross: S +P 0.750, V +P 0.667" in table
    assert "aami_ec57" not in metrics.per_beat_metrics(y % 3, np.eye(3)[pred % 3], ("a", "b", "c"))


def test_thresholds_chosen_on_validation_maximise_f1():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 5)) < [0.4, 0.2, 0.3, 0.1, 0.05]).astype(int)
    probs = np.clip(0.25 * y + rng.random((300, 5)) * 0.7, 0, 1)
    chosen = metrics.choose_thresholds(y, probs)
    assert len(chosen) == 5
    for c in range(5):
        best = f1_score(y[:, c], probs[:, c] >= chosen[c])
        for t in np.linspace(0.05, 0.95, 19):
            assert best >= f1_score(y[:, c], probs[:, c] >= t) - 1e-12
    found = metrics.multilabel_metrics(y, probs, tasks.PTBXL_SUPERDIAGNOSTIC.label_names, chosen)
    assert found["macro_f1"] == pytest.approx(f1_score(y, probs >= np.array(chosen), average="macro"))
    assert found["macro_auroc"] == pytest.approx(roc_auc_score(y, probs, average="macro"))


def test_windows_are_averaged_per_record_per_example_and_per_beat():
    windows = {
        "record_id": np.array(["b", "a", "a", "b"]), "segment_start_s": np.array([0.0, 0.0, 0.0, 60.0]),
        "window_start": np.array([0, 0, 2, 0]), "targets": np.array([1, 0, 0, 1]),
        "probabilities": np.array([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]),
        "padding_mask": np.ones((4, 3), bool)}
    agg = evaluate.aggregate(windows, "multiclass")
    assert list(agg["keys"]) == ["b", "a"]
    np.testing.assert_allclose(agg["probabilities"], [[0.4, 0.6], [0.6, 0.4]])
    assert list(agg["targets"]) == [1, 0]
    # binary per-minute examples: one key per (record, start), not per record
    binary = dict(windows, probabilities=windows["probabilities"][:, 1:], targets=windows["targets"][:, None] * 1.0)
    agg = evaluate.aggregate(binary, "binary")
    assert len(agg["keys"]) == 3
    np.testing.assert_allclose(agg["probabilities"], [0.8, 0.4, 0.4])
    # per beat: windows of record "a" overlap on beat 2; unlabelled (-1) and padded beats are left out
    per_beat = {"record_id": np.array(["a", "a"]), "segment_start_s": np.zeros(2), "window_start": np.array([0, 2]),
                "targets": np.array([[0, 1, 2], [2, 1, -1]]),
                "padding_mask": np.array([[True, True, True], [True, True, False]]),
                "probabilities": np.stack([np.eye(3)[[0, 1, 2]], np.eye(3)[[0, 1, 0]]]).astype(float)}
    agg = evaluate.aggregate(per_beat, "per_beat")
    assert len(agg["keys"]) == 4                        # beats 0, 1, 2, 3 of record a
    np.testing.assert_allclose(agg["probabilities"][2], [0.5, 0.0, 0.5])   # beat 2 seen by both windows
    assert list(agg["targets"]) == [0, 1, 2, 1]


# --- the CLI on real data ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classifier_run(cinc_sample_tfrecords, tmp_path_factory):
    from ecgsl_keras.training.trainer import train

    run_dir = tmp_path_factory.mktemp("eval") / "supervised"
    # the tiny model: evaluate's figures are recomputed by hand from its outputs, whatever the model
    train("supervised", cinc_sample_tfrecords, run_dir, epochs=2, batch_size=16, verbose=0,
          config=tiny_experiment_config())
    return run_dir


def _last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _own_record_predictions(model_path, data, config):
    """Predictions recomputed without ecgsl_keras.evaluation.evaluate: tf.data windows -> model -> mean per record."""
    import keras
    import pandas as pd

    from tfrecords_tools import make_dataset

    model = keras.models.load_model(model_path, compile=False)
    ds = make_dataset(str(data), split="validation", batch_size=5, max_beats=config.model.max_beats,
                      eval_stride=config.train.eval_window_stride, include_meta=True)
    rows = []
    for features, labels in ds:
        probs = model.predict_on_batch({k: features[k] for k in ("beats", "rr", "padding_mask")})
        for rid, label, p in zip(features["record_id"].numpy(), labels.numpy(), probs):
            rows.append({"record": rid.decode(), "label": int(label), **{f"p{c}": v for c, v in enumerate(p)}})
    frame = pd.DataFrame(rows).groupby("record", sort=False).mean()
    return frame["label"].to_numpy().astype(int), frame[[f"p{c}" for c in range(4)]].to_numpy()


@pytest.mark.slow
def test_evaluate_cli_on_the_fixture_matches_scikit_learn(classifier_run, cinc_sample_tfrecords, cinc_dir, capsys):
    model_path = classifier_run / runs.MODEL_NAME
    assert evaluate_cli.main(["--model", str(model_path), "--data", str(cinc_sample_tfrecords)]) == 0
    found = _last_json(capsys)
    for key in ("macro_f1", "per_class_f1", "confusion_matrix", "auroc", "accuracy", "challenge_f1"):
        assert key in found, key
    assert found["split"] == "validation" and found["n"] == 13

    config, _, _ = runs.run_config(classifier_run)
    y, probs = _own_record_predictions(model_path, cinc_sample_tfrecords, config)
    pred = probs.argmax(axis=1)
    present = sorted(set(y.tolist()) | set(pred.tolist()))   # macro F1 over the classes in truth or prediction
    assert found["macro_f1"] == pytest.approx(f1_score(y, pred, labels=present, average="macro", zero_division=0),
                                              abs=1e-6)   # the JSON is rounded to 6 places
    assert found["confusion_matrix"] == confusion_matrix(y, pred, labels=[0, 1, 2, 3]).tolist()
    assert found["accuracy"] == pytest.approx(np.mean(pred == y), abs=1e-6)
    per_class = f1_score(y, pred, labels=[0, 1, 2, 3], average=None, zero_division=0)
    assert found["challenge_f1"] == pytest.approx(per_class[:3].mean(), abs=1e-6)

    # The raw folder, segmented again with the run's signal config, gives the same figures.
    validation_ids = sorted(_validation_ids(cinc_sample_tfrecords))
    assert evaluate_cli.main(["--model", str(model_path), "--dataset", "cinc2017", "--data-dir", str(cinc_dir),
                          "--records", *validation_ids, "--no-progress"]) == 0
    raw = _last_json(capsys)
    assert raw["records"] == 13 and raw["skipped"] == 0
    assert raw["macro_f1"] == pytest.approx(found["macro_f1"])
    assert raw["confusion_matrix"] == found["confusion_matrix"]
    assert raw["auroc"] == pytest.approx(found["auroc"], abs=1e-6)


def _validation_ids(data):
    from tfrecords_tools import make_dataset

    ds = make_dataset(str(data), split="validation", batch_size=64, include_meta=True)
    return {rid.decode() for features, _ in ds for rid in features["record_id"].numpy()}


def test_evaluate_cli_errors(tmp_path, capsys):
    assert evaluate_cli.main(["--model", str(tmp_path / "missing.keras"), "--data", str(tmp_path)]) == 2
    assert "model file not found" in capsys.readouterr().err
    (tmp_path / "model.keras").write_bytes(b"")
    assert evaluate_cli.main(["--model", str(tmp_path / "model.keras"), "--data", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


@pytest.mark.slow
def test_multilabel_thresholds_come_from_validation(fixtures_dir, tmp_path, capsys):
    from ecgsl_keras.data.prepare import prepare
    from ecgsl_keras.training.trainer import train

    data = tmp_path / "ptbxl"
    prepare("ptbxl", fixtures_dir / "ptbxl", data, progress=False)
    run_dir = tmp_path / "run"
    summary = train("supervised", data, run_dir, epochs=1, batch_size=4, verbose=0, config=tiny_experiment_config())
    assert summary["monitor"] == "val_macro_auroc"
    saved = json.loads((run_dir / runs.THRESHOLDS_NAME).read_text())
    assert len(saved["thresholds"]) == 5 and "validation" in saved["chosen_on"]
    assert evaluate_cli.main(["--model", str(run_dir / runs.MODEL_NAME), "--data", str(data), "--split", "test"]) == 0
    found = _last_json(capsys)
    assert found["split"] == "test" and found["thresholds_from"].startswith("validation")
    assert list(found["thresholds"].values()) == pytest.approx(saved["thresholds"], abs=1e-6)
    assert {"macro_auroc", "macro_f1", "per_class_auroc"} <= set(found)
