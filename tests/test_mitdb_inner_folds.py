"""experiments/mitdb/run.py --inner-folds K (run s37): K inner groups of whole records, each inner model trained on
the other K - 1; and v_side.py's training side built from them."""
import json

import numpy as np
import pytest

from experiments.mitdb import run, v_side

BEATS = {r: {"N": 100 + i, "V": 10 * (i % 3), "S": 5 * (i % 2), "F": i % 4} for i, r in
         enumerate(["100", "101", "102", "103", "104", "105", "106", "107", "108", "109"])}


@pytest.fixture
def work(tmp_path):
    folds = [["100", "101", "102", "103", "104"], ["105", "106", "107", "108", "109"]]
    (tmp_path / "folds.json").write_text(json.dumps({"folds": folds, "beats_per_record": BEATS}))
    return tmp_path


def test_inner_groups_cover_the_training_records_once(work):
    for k in (2, 4):
        groups = run.inner_groups(work, 0, k)
        assert len(groups) == k
        assert sorted(r for g in groups for r in g) == ["105", "106", "107", "108", "109"]
    assert run.inner_groups(work, 1) == run.inner_groups(work, 1, 2)   # the default is the old two groups


def test_inner_names_keep_the_two_group_names_and_name_k():
    assert run.inner_names("scratch_focal", 0, 2, 2, 1) == ("scratch_focal_heldout0_inner1", "fold1_inner0",
                                                            "fold1_inner1")
    assert run.inner_names("scratch_focal", 1, 2, 4, 3) == ("scratch_focal_heldout1_inner4g3", "fold0_inner4rest3",
                                                            "fold0_inner4g3")
    assert run.inner_names("scratch_focal", 2, 4, 4, 0)[1] == "train2_inner4rest0"


def test_inner_folds_below_two_is_refused(capsys):
    with pytest.raises(SystemExit):
        run.main(["--steps", "inner", "--inner-folds", "1", "--work", "unused"])
    assert "--inner-folds must be at least 2" in capsys.readouterr().err


def test_with_inner_k_replaces_the_training_side_only(monkeypatch):
    labels = ["N", "S", "V", "F", "Q"]
    table = {"X": np.arange(16, dtype=float).reshape(8, 2), "columns": np.array(["a", "b"]),
             "record": np.array(["100", "100", "101", "101", "102", "102", "103", "103"]), "y": np.zeros(8, int)}
    part = {"train": np.arange(6), "scored": np.array([6, 7]), "inner_deep": np.zeros((6, 5)),
            "inner_booster": np.zeros((6, 5)), "p_deep": np.ones((2, 5)) / 5}
    seen = []

    class Fixed:
        def __init__(self, n_train):
            self.n_train = n_train

        def predict_proba(self, x):
            return np.tile([self.n_train, 0, 0, 0, 0], (len(x), 1)).astype(float)

    def booster(X, y, cols, labels_, seed, size):
        seen.append(len(X))
        return Fixed(len(X))

    monkeypatch.setattr(v_side, "column_sets", lambda: {"beat": ["b"]})
    monkeypatch.setattr(v_side, "_booster", booster)
    deep4 = np.full((6, 5), 0.2)
    out = v_side.with_inner_k(table, labels, {"set": "beat", "booster_size": "small"}, part, deep4,
                              [["100"], ["101"], ["102"]])
    assert seen == [4, 4, 4]                                  # each group scored by a booster of the other two
    np.testing.assert_array_equal(out["inner_deep"], deep4)
    np.testing.assert_array_equal(out["inner_booster"][:, 0], [4] * 6)
    assert out["p_deep"] is part["p_deep"] and part["inner_deep"].sum() == 0   # left-out side and input unchanged


def test_v_run_weight_sets_the_v_run_loss_weight_and_nothing_else():
    plain = run.experiment_config("median")
    weighted = run.experiment_config("median", v_run_weight=True)
    assert (plain.train.run_weight_class, plain.train.run_weight) == (-1, 1.0)        # off by default
    assert (weighted.train.run_weight_class, weighted.train.run_weight) == (2, run.V_RUN_WEIGHT)
    assert weighted.train.augment_class == -1
    assert weighted.to_dict()["signal"] == plain.to_dict()["signal"]
    assert {k: v for k, v in weighted.to_dict()["train"].items() if not k.startswith("run_weight")} == \
        {k: v for k, v in plain.to_dict()["train"].items() if not k.startswith("run_weight")}
