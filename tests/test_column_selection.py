"""Issue 18's af65 (experiments/cinc2017/column_selection.py): the top-k choice by gain, and a held fold taking no
part in the selection of the booster that scores it (a small synthetic table, the shipped booster setting)."""
from types import SimpleNamespace

import numpy as np
import pytest

from experiments.cinc2017 import column_selection
from experiments.cinc2017.af_lever import Lever


def test_selected_columns_are_the_top_k_by_gain_in_column_order():
    gain = np.array([0.0, 5.0, 1.0, 5.0, 3.0])
    np.testing.assert_array_equal(column_selection.selected_columns(gain, 2), [1, 3])
    np.testing.assert_array_equal(column_selection.selected_columns(gain, 3), [1, 3, 4])
    np.testing.assert_array_equal(column_selection.selected_columns([2.0, 2.0, 2.0], 1), [0])     # tie: earlier
    with pytest.raises(ValueError, match="k must be in 1..5"):
        column_selection.selected_columns(gain, 6)


def _selection(tmp_path, X, y, fold):
    pytest.importorskip("lightgbm")
    sel = object.__new__(column_selection.ColumnSelection)
    sel.lever = SimpleNamespace(names=[f"col{i}" for i in range(X.shape[1])], X={"train": X},
                                _clf=lambda names, params, seed: Lever._clf(None, names, params, seed))
    sel.work, sel.args, sel.y, sel.fold = tmp_path, SimpleNamespace(k=int(fold.max()) + 1), y, fold
    (tmp_path / "oof").mkdir(parents=True, exist_ok=True)
    return sel


def test_the_held_fold_takes_no_part_in_its_selection(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n, k = 240, 3
    y = np.arange(n) % 4
    X = rng.normal(size=(n, 8)).astype(np.float32)
    X[:, 2] += 2.0 * y                                     # two informative columns among noise
    X[:, 5] -= 1.5 * (y == 1)
    fold = rng.permutation(np.arange(n) % k)
    monkeypatch.setattr(column_selection, "VARIANTS", {"top2": 2})
    monkeypatch.setattr(column_selection, "BASE", dict(column_selection.BASE, num_boost_round=60))   # fast
    sel = _selection(tmp_path / "a", X, y, fold)
    gain = sel.fold_gain(0, 42)
    assert set(column_selection.selected_columns(gain, 2)) == {2, 5}
    oof = sel.variant_oof("top2", 42)
    assert oof.shape == (n, 4) and np.allclose(oof.sum(1), 1.0)
    assert (oof.argmax(1) == y).mean() > 0.6               # the two columns classify the held folds

    scrambled = X.copy()                                   # fold 0's records changed: fold 0's selection is not
    scrambled[fold == 0] = rng.normal(size=((fold == 0).sum(), 8))
    other = _selection(tmp_path / "b", scrambled, y, fold)
    np.testing.assert_array_equal(other.fold_gain(0, 42), gain)
    assert not np.array_equal(other.fold_gain(1, 42), sel.fold_gain(1, 42))
