"""evaluation.metrics.bootstrap_f1_intervals and experiments/cinc2017/validation_ci.py (issue 18)."""
import numpy as np
import pytest


def test_bootstrap_f1_intervals_point_is_sklearns_and_interval_narrows_with_records():
    from sklearn.metrics import f1_score

    from ecgsl_keras.evaluation.metrics import bootstrap_f1_intervals

    confusion = np.array([[50, 3, 5, 1], [2, 12, 3, 0], [6, 4, 30, 1], [1, 0, 1, 4]])
    y_true = np.repeat(np.repeat(np.arange(4), 4), confusion.ravel())
    y_pred = np.repeat(np.tile(np.arange(4), 4), confusion.ravel())
    ci = bootstrap_f1_intervals(confusion, ["N", "A", "O", "~"], ["N", "A", "O"], n_resamples=2000, seed=1)
    sk = f1_score(y_true, y_pred, average=None)
    for i, name in enumerate("NAO~"):
        band = ci["per_class_f1"][name]
        assert band["point"] == pytest.approx(sk[i]) and band["low"] <= band["point"] <= band["high"]
    assert ci["macro_f1"]["point"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert ci["challenge_f1"]["point"] == pytest.approx(f1_score(y_true, y_pred, labels=[0, 1, 2], average="macro"))
    assert ci["records"] == confusion.sum() and ci["n_resamples"] == 2000
    ten_times = bootstrap_f1_intervals(confusion * 10, ["N", "A", "O", "~"], n_resamples=2000, seed=1)
    assert ten_times["per_class_f1"]["A"]["sd"] < 0.5 * ci["per_class_f1"]["A"]["sd"]
    assert "challenge_f1" not in ten_times
    again = bootstrap_f1_intervals(confusion, ["N", "A", "O", "~"], ["N", "A", "O"], n_resamples=2000, seed=1)
    assert again == ci                                                  # seeded: the same intervals


@pytest.mark.parametrize("confusion, message", [([[1, 2], [3, 4]], "4 x 4"), (np.zeros((4, 4)), "at least one"),
                                                ([[1, -1, 0, 0]] + [[0] * 4] * 3, "non-negative")])
def test_bootstrap_f1_intervals_refuses_bad_confusion(confusion, message):
    from ecgsl_keras.evaluation.metrics import bootstrap_f1_intervals

    with pytest.raises(ValueError, match=message):
        bootstrap_f1_intervals(confusion, ["N", "A", "O", "~"])


def test_validation_ci_script_reads_the_shipped_confusion(tmp_path):
    import json

    from experiments.cinc2017 import validation_ci

    result = validation_ci.main(["--resamples", "500", "--out", str(tmp_path / "ci.json")])
    shipped = json.loads(validation_ci.SHIP_RESULTS.read_text())["shipped"]
    assert result["shipped"]["per_class_f1"]["A"]["point"] == pytest.approx(shipped["per_class_f1"]["A"])
    assert result["targets"]["af_f1"]["point"] == pytest.approx(shipped["per_class_f1"]["A"])
    assert json.loads((tmp_path / "ci.json").read_text())["shipped"] == result["shipped"]
