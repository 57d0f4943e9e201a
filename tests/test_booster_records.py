"""Issue 18's af57 (experiments/cinc2017/booster_records.py): the curve's shares are stratified and nested, a fold's
booster never learns from the fold it scores, and in the cross-fit no validation record trains the booster that
scores it (the ``train`` booster sees no validation record at all)."""
import argparse

import numpy as np

from experiments.cinc2017 import booster_records


def test_stratified_share_keeps_each_class_share_and_nests():
    y = np.repeat([0, 1, 2, 3], [400, 60, 200, 7])
    half, three_quarters = (booster_records.stratified_share(y, f, 42) for f in (0.5, 0.75))
    for c, n in zip(range(4), (400, 60, 200, 7)):
        assert half[y == c].sum() == max(1, round(0.5 * n))
        assert three_quarters[y == c].sum() == max(1, round(0.75 * n))
    assert not (half & ~three_quarters).any()                     # the smaller share inside the larger
    assert not np.array_equal(half, booster_records.stratified_share(y, 0.5, 43))


class _Lever:
    """Rows carry their own index in column 0, so a fit can report which rows trained it."""
    names = ["row"]

    def __init__(self, n_train=60, n_val=40):
        rng = np.random.default_rng(0)
        self.X = {"train": np.arange(n_train, dtype=float)[:, None],
                  "validation": 1000 + np.arange(n_val, dtype=float)[:, None]}
        self.y = {"train": rng.permutation(np.arange(n_train) % 4), "validation": np.arange(n_val) % 4}
        self.deep = {"validation": np.full((n_val, 4), 0.25)}
        self.fold = np.arange(n_train) % 5
        self.ids = {"train": [f"t{i}" for i in range(n_train)], "validation": [f"v{i}" for i in range(n_val)]}


def _recording(tmp_path):
    lever = booster_records.BoosterRecords.__new__(booster_records.BoosterRecords)
    lever.lever, lever.work, lever.args = _Lever(), tmp_path, argparse.Namespace(k=5)
    lever.ids = lever.lever.ids["train"]
    (tmp_path / "oof").mkdir()
    fits = []

    def fit_predict(X, y, seed, X_out):
        fits.append((set(X[:, 0].astype(int)), set(X_out[:, 0].astype(int))))
        return np.tile(np.eye(4)[y[0]], (len(X_out), 1))

    lever.fit_predict = fit_predict
    return lever, fits


def test_a_fold_booster_never_learns_from_its_fold_and_only_from_the_share(tmp_path):
    lever, fits = _recording(tmp_path)
    lever.share_oof(0.5, 42)
    share = set(np.flatnonzero(booster_records.stratified_share(lever.lever.y["train"], 0.5, 42)))
    assert len(fits) == 5
    for trained, scored in fits:
        assert not trained & scored and trained <= share


def test_crossfit_never_trains_on_the_record_it_scores(tmp_path, monkeypatch):
    lever, fits = _recording(tmp_path)
    monkeypatch.setattr(booster_records, "PARTITIONS", 2)
    result = {}
    lever.step_crossfit(result)
    validation = set(range(1000, 1040))
    alone = [f for f in fits if not f[0] & validation]
    plus = [f for f in fits if f[0] & validation]
    assert len(alone) == 2 and len(plus) == 10
    for trained, scored in fits:
        assert not trained & scored
    for r in range(2):                                           # each partition's fifths cover every record once
        assert set().union(*(s for _, s in plus[5 * r:5 * r + 5])) == validation
    assert len(result["crossfit"]["partitions"]) == 2 and "kept" in result["crossfit"]

