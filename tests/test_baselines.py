"""The hand-made-feature baseline (ecgsl_keras.evaluation.baselines): features and the CLI on the real fixture."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from ecgsl_keras.evaluation import baselines
from helpers import assert_metrics_match_confusion


def _rr_array(intervals):
    """(n, 3) RR features like signal.rr_features for beats separated by ``intervals`` (s)."""
    intervals = np.asarray(intervals, np.float64)
    previous = np.concatenate([intervals[:1], intervals])
    following = np.concatenate([intervals, intervals[-1:]])
    local = np.array([previous[max(0, i - 4):i + 5].mean() for i in range(len(previous))])
    return np.stack([previous, following, local], axis=1).astype(np.float32)


def _beats(n, rng):
    t = np.arange(96)
    template = 3.0 * np.exp(-0.5 * ((t - 32) / 2.0) ** 2) + 0.4 * np.exp(-0.5 * ((t - 62) / 6.0) ** 2)
    return (template[None, :] + 0.05 * rng.standard_normal((n, 96))).astype(np.float32)


def test_record_features_finite_and_fixed_length():
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 5, 40):
        beats = _beats(n, rng)
        rr = _rr_array(np.full(max(n - 1, 1), 0.8))[:n]
        features = baselines.record_features(beats, rr)
        assert list(features) == list(baselines.FEATURE_NAMES)
        assert all(isinstance(v, float) and math.isfinite(v) for v in features.values()), features
    # all-zero beats (flat) still give finite features
    flat = baselines.record_features(np.zeros((6, 96), np.float32), _rr_array(np.full(5, 1.0)))
    assert all(math.isfinite(v) for v in flat.values())


def test_irregular_rr_scores_higher_irregularity():
    rng = np.random.default_rng(1)
    regular = 0.8 + 0.01 * rng.standard_normal(60)
    irregular = rng.uniform(0.4, 1.2, 60)
    beats = _beats(61, rng)
    reg = baselines.record_features(beats, _rr_array(regular))
    irr = baselines.record_features(beats, _rr_array(irregular))
    for name in ("cv_rr", "rmssd_norm", "pnn50", "irregular_fraction", "madsd_norm", "sd1_norm",
                 "rr_ratio_out_fraction", "sd_entropy"):
        assert irr[name] > reg[name], (name, irr[name], reg[name])
    assert abs(reg["heart_rate"] - 75.0) < 2.0
    assert reg["irregular_fraction"] == 0.0


def test_beat_correlation_features():
    rng = np.random.default_rng(2)
    clean = _beats(30, rng)
    noisy = clean + 1.5 * rng.standard_normal(clean.shape).astype(np.float32)
    rr = _rr_array(np.full(29, 0.8))
    a, b = baselines.record_features(clean, rr), baselines.record_features(noisy, rr)
    assert a["corr_mean"] > 0.95 > b["corr_mean"]
    assert b["corr_sd"] > a["corr_sd"]
    assert a["beat_count"] == 30.0


@pytest.mark.slow   # grid-search CV fit in-process and again in a subprocess: ~17 s
def test_fit_features_baseline_and_cli(cinc_sample_tfrecords, tmp_path):
    grid = ({"max_iter": 20, "max_leaf_nodes": 7}, {"max_iter": 30, "max_leaf_nodes": 3})
    details = {}
    model, metrics = baselines.fit_features_baseline(cinc_sample_tfrecords, seed=0, cv_folds=3, grid=grid,
                                                     details=details)
    assert metrics["n"] == 13 and np.asarray(metrics["confusion_matrix"]).sum() == 13
    f1 = assert_metrics_match_confusion(metrics, ["N", "A", "O", "~"])
    assert metrics["challenge_f1"] == pytest.approx(f1[:3].mean())
    # the fitted model learnt something: on its own training records it beats always answering the majority class
    from sklearn.metrics import f1_score

    X_train, y_train, _ = baselines.features_matrix(baselines.load_split_records(cinc_sample_tfrecords, "train"))
    labels = [0, 1, 2, 3]
    fitted = f1_score(y_train, model.predict(X_train), labels=labels, average="macro", zero_division=0)
    majority = f1_score(y_train, np.full_like(y_train, np.bincount(y_train).argmax()), labels=labels,
                        average="macro", zero_division=0)
    assert fitted > majority + 0.2, (fitted, majority)
    assert len(details["cv_scores"]) == 2 and details["params"] in [dict(g) for g in grid]
    assert set(metrics["per_class_f1"]) == {"N", "A", "O", "~"} and "challenge_f1" in metrics

    out = tmp_path / "features.json"
    proc = subprocess.run([sys.executable, "-m", "ecgsl_keras.baselines", "features", "--data",
                           str(cinc_sample_tfrecords), "--seed", "42", "--cv-folds", "0", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert np.asarray(result["metrics"]["confusion_matrix"]).sum() == 13
    assert_metrics_match_confusion(result["metrics"], ["N", "A", "O", "~"])
    assert result["macro_f1"] == result["metrics"]["macro_f1"]
    assert result["features"] == list(baselines.FEATURE_NAMES)
    assert result["splits"]["train"] == 51 and result["splits"]["validation"] == 13
    assert len(result["records"]["validation"]) == 13
    assert not set(result["records"]["train"]) & set(result["records"]["validation"])
    assert json.loads(out.read_text())["macro_f1"] == result["macro_f1"]
    assert "macro_f1" in proc.stderr and "confusion matrix" in proc.stderr
