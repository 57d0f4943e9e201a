"""experiments/mitdb/vote_separation.py (issue 18, session s41): the look's AUROC, its best threshold, the per-group
threshold that never sees the held-out group's beats, and the noise ratio of a beat."""
import numpy as np

from experiments.mitdb import vote_separation as sep


def test_auc_counts_ties_half_and_drops_nan():
    assert sep.auc([3, 4], [1, 2]) == 1.0
    assert sep.auc([1, 2], [3, 4]) == 0.0
    assert sep.auc([1, np.nan], [1]) == 0.5
    assert sep.auc([], [1]) is None


def test_best_threshold_takes_the_direction_that_keeps_the_true_v():
    x = np.array([0.6, 0.7, 0.8, 1.0, 1.1, 1.2])
    keep = np.array([True, True, True, False, False, False])
    d, t, ba = sep.best_threshold(x, keep)
    assert d == -1 and 0.8 <= t < 1.0 and ba == 1.0
    np.testing.assert_array_equal(sep._keeps(x, d, t), keep)


def test_group_threshold_is_chosen_without_the_held_out_group():
    # groups 0 and 1 keep the true V below 1; group 2 (record 223) has its true V ABOVE every other value: a threshold
    # chosen on groups 0 and 1 keeps none of them, although 223's own beats would separate perfectly
    x = np.array([0.5, 0.6, 1.0, 1.1, 0.5, 0.6, 1.0, 1.1, 2.0, 2.1, 1.0, 1.0])
    keep = np.array([1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0], bool)
    group = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    rec = np.array(["1"] * 4 + ["2"] * 4 + ["223", "223", "208", "208"])
    inst = {"q": {"x": x}, "true_v": keep, "group": group, "rec": rec}
    g = sep._group_thresholds(inst, "x", 1)
    assert g["KEPT_RECORD_true_V"] == {"n": 2.0, "kept": 0.0}
    assert g["released_records_non_V"] == {"n": 2.0, "released": 2.0}
    assert g["per_group"]["2"]["direction"] == "<=" and g["per_group"]["2"]["threshold"] < 1.0


def test_noise_ratio_rises_with_noise_outside_the_qrs():
    t = np.arange(96)
    beat = np.exp(-0.5 * ((t - 32) / 2.0) ** 2)
    rng = np.random.default_rng(0)
    noisy = beat + 0.05 * rng.standard_normal(96)
    r = sep.noise_ratio(np.stack([beat, noisy, np.zeros(96)]))
    assert r[0] < 0.01 < r[1] and np.isnan(r[2])
