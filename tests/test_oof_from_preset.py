"""The committed out-of-fold inputs of the CinC 2017 AF levers (experiments/cinc2017/oof_from_preset.py, issue 18)."""
import numpy as np
import pytest

from ecgsl_keras.data.record_features import DEFAULT_GROUPS, feature_names
from ecgsl_keras.modeling.stacking import assign_folds
from experiments.cinc2017 import oof_table


def test_committed_table_holds_the_preset_folds_and_probabilities():
    table = oof_table.load_deep_oof(oof_table.DEFAULT_NPZ)
    ids = table["ecgsl"]["train_record_id"]
    labels = table["ecgsl"]["train_targets"]
    # the folds are hybrid.py's: assign_folds (k=5, seed 42) of the training records and their labels
    assert table["fold_of"] == assign_folds(list(ids), list(labels), k=5, seed=42)
    assert len(ids) == 5456 and len(table["ecgsl"]["validation_record_id"]) == 1364
    assert not set(ids) & set(table["ecgsl"]["validation_record_id"])
    for family in ("ecgsl", "resnet"):
        for split in ("train", "validation"):
            p = table[family][f"{split}_probabilities"]
            assert p.shape == (len(table[family][f"{split}_record_id"]), 4)
            np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(table[family]["train_record_id"], ids)


def test_committed_feature_table_has_the_lever_columns():
    data = np.load(oof_table.DEFAULT_FEATURES_NPZ)
    assert [str(n) for n in data["names"]] == list(feature_names(list(DEFAULT_GROUPS) + ["atrial"]))
    assert data["X"].shape == (len(data["record_id"]), 118)


def test_a_file_that_is_not_the_table_is_named(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, record_id=np.array(["A"]))
    with pytest.raises(SystemExit, match="other.npz"):
        oof_table.load_deep_oof(path)
    with pytest.raises(SystemExit, match="missing.npz"):
        oof_table.load_deep_oof(tmp_path / "missing.npz")
