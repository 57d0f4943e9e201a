"""experiments/cinc2017/hybrid.py picks record-feature columns by name (issue 18, the ectopy / rhythm / atrial groups)."""
import numpy as np
import pytest

from ecgsl_keras.data import record_features as rf
from experiments.cinc2017 import hybrid as exp


def _table(tmp_path, names):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, len(names)))
    path = tmp_path / "features.npz"
    np.savez(path, record_id=np.array([f"A{i:05d}" for i in range(5)]), status=np.array(["ok"] * 5),
             names=np.array(names), X=X)
    return path, X


def test_feature_table_selects_the_default_groups_by_name_whatever_the_table_holds(tmp_path):
    every = list(rf.feature_names(rf.GROUPS))
    shuffled = list(np.random.default_rng(1).permutation(every))
    path, X = _table(tmp_path, shuffled)
    names, got, rows, status = exp._feature_table(path, None)
    assert names == list(rf.feature_names()) and len(names) == 111       # the shipped rows' columns
    for j, name in enumerate(names):
        np.testing.assert_array_equal(got[:, j], X[:, shuffled.index(name)])
    names, got, _, _ = exp._feature_table(path, list(rf.DEFAULT_GROUPS) + ["atrial"])
    assert names == list(rf.feature_names()) + list(rf.feature_names("atrial"))
    assert rows["A00003"] == 3 and list(status) == ["ok"] * 5
    old, _ = _table(tmp_path, list(rf.feature_names()))                  # a table of the 111 only
    with pytest.raises(SystemExit, match="features.py --groups"):
        exp._feature_table(old, ["baseline", "rhythm"])


def test_error_analysis_counts_the_af_cells():
    y = np.array([1, 1, 2, 2, 1, 0, 0])
    pred = np.array([1, 2, 1, 2, 0, 0, 2])
    names = ["heart_rate", "rhy_ectopic_fraction"]
    X = np.array([[60, 0.1], [70, 0.2], [80, 0.3], [90, np.nan], [100, 0.5], [110, 0.6], [0, 0]], float)
    out = exp._error_analysis(y, pred, X, names)
    assert out["counts"] == {"A_as_A": 1, "O_as_A": 1, "A_as_O": 1, "O_as_O": 1, "A_as_N": 1, "N_as_N": 1}
    assert out["medians"]["heart_rate"]["O_as_A"] == 80 and out["medians"]["rhy_ectopic_fraction"]["O_as_O"] is None
    assert set(out["medians"]) == set(names)
