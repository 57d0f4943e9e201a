"""experiments/cinc2017/relative_lever.py (lever af38, issue 18): the deep side of each row and the committed table
of the relative ECG-SL fold set (beats with the median reference channel)."""
import numpy as np
import pytest

from experiments.cinc2017 import relative_lever as rl
from experiments.cinc2017.oof_table import DEFAULT_NPZ


def test_deep_side_of_each_form():
    e, r, x = np.full((2, 4), 0.1), np.full((2, 4), 0.4), np.full((2, 4), 0.7)
    np.testing.assert_allclose(rl.deep_side("base", e, r, x), 0.25)        # ECG-SL and the ResNet: shipped
    np.testing.assert_allclose(rl.deep_side("replace", e, r, x), 0.55)     # the relative set instead of ECG-SL
    np.testing.assert_allclose(rl.deep_side("add", e, r, x), 0.4)          # a third deep set
    with pytest.raises(ValueError, match="form"):
        rl.deep_side("weighted", e, r, x)


def test_deep_side_of_the_seed_forms():
    """af39: the ECG-SL members are averaged first, then with the ResNet at half weight (not a third each)."""
    from experiments.cinc2017 import seed_lever as sl

    e, r, x, p = np.full((2, 4), 0.1), np.full((2, 4), 0.4), np.full((2, 4), 0.7), np.full((2, 4), 0.3)
    np.testing.assert_allclose(rl.deep_side("seeds2", e, r, x, plain=p), (0.2 + 0.4) / 2)
    np.testing.assert_allclose(rl.deep_side("seeds3", e, r, x, plain=p), ((0.1 + 0.3 + 0.7) / 3 + 0.4) / 2)
    np.testing.assert_allclose(rl.deep_side("base", e, r, x, plain=p), rl.deep_side("base", e, r, x))
    with pytest.raises(ValueError, match="seeds2"):
        rl.deep_side("seeds2", e, r, x)            # the plain set is needed
    sets = {"ecgsl": e, "plain": p, "relative": x, "resnet": r}
    np.testing.assert_allclose(sl.ecgsl_side("base", sets), 0.1)
    np.testing.assert_allclose(sl.ecgsl_side("seeds3", sets), (0.1 + 0.3 + 0.7) / 3)
    assert sl.ROWS == ("seeds2", "seeds3")


@pytest.mark.parametrize("name,key", [("relative_oof.npz", "ecgsl_relative"), ("plain_retrain_oof.npz", "ecgsl_plain"),
                                      ("window_oof.npz", "ecgsl_tq"),      # af40: window_lever.py --steps table
                                      ("window_median_oof.npz", "ecgsl_tq_median"),   # af40b: --reference tq_median
                                      ("multich_oof.npz", "ecgsl_tq_median_pre"),     # af42: --pretrain
                                      ("multich_preset_oof.npz", "ecgsl_tq_median_warm")])   # af43: --pretrain-start
def test_committed_fold_set_tables_have_the_committed_folds(name, key):
    path = rl.HERE / "oof" / name
    if not path.is_file():
        pytest.skip(f"{name} not written yet (relative_lever.py --steps table / control)")
    rel, deep = np.load(path), np.load(DEFAULT_NPZ)
    assert rel[key].dtype == np.float16
    np.testing.assert_allclose(rel[key].astype(float).sum(-1), 1.0, atol=5e-3)
    fold = {r: f for r, f, s in zip(deep["record_id"], deep["fold"], deep["split"])}
    assert all(int(fold[r]) == int(f) for r, f in zip(rel["record_id"], rel["fold"]))   # same folds, -1 validation
    assert sorted(rel["record_id"].tolist()) == sorted(deep["record_id"].tolist())
    assert (rel["fold"] == -1).sum() == (deep["split"] == "validation").sum()
    label = {r: c for r, c in zip(deep["record_id"], deep["label"])}
    assert all(int(label[r]) == int(c) for r, c in zip(rel["record_id"], rel["label"]))
