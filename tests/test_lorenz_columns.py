"""Issue 18's af55 (experiments/cinc2017/lorenz_columns.py): the primary variant's columns are the rhythm group's
Lorenz-plot / RR-cluster columns, and the library's values of them tell a bigeminal RR series (two tight clusters) from
one of the same spread without order; the booster side joins them to the 118 columns."""
import numpy as np
import pytest

from experiments.cinc2017 import lorenz_columns


def test_the_organisation_columns_are_rhythm_columns():
    names = lorenz_columns.rhythm_names()
    assert set(lorenz_columns.ORGANISATION) <= set(names) and len(names) > len(lorenz_columns.ORGANISATION)


def test_clusters_tell_an_organised_rhythm_from_a_disorganised_one():
    from ecgsl_keras.data.record_features import rhythm_features

    rng = np.random.default_rng(0)
    bigeminy = np.tile([0.55, 0.85], 30)                       # alternating short-long: two tight Lorenz clusters
    shuffled = rng.permutation(np.tile([0.55, 0.85], 30) + rng.normal(0, 0.08, 60))   # the same spread, no order
    organised, disorganised = rhythm_features(bigeminy), rhythm_features(shuffled)
    assert organised["rhy_poincare_top3_fraction"] > disorganised["rhy_poincare_top3_fraction"]
    assert organised["rhy_poincare_cell_fraction"] < disorganised["rhy_poincare_cell_fraction"]
    assert organised["rhy_kmeans2_cv"] < disorganised["rhy_kmeans2_cv"]


def test_booster_side_joins_the_variant_columns(tmp_path):
    lever = lorenz_columns.LorenzColumns.__new__(lorenz_columns.LorenzColumns)
    seen = {}

    class _Lever:
        names = ["a", "b"]
        X = {"train": np.zeros((3, 2))}

        def oof(self, tag, params, seed, X=None, names=None):
            seen.update(tag=tag, X=X, names=names)
            return np.full((3, 4), 0.25)

    lever.lever = _Lever()
    rhythm = np.arange(33, dtype=float).reshape(3, 11)
    lever.__dict__["rhythm_train"] = rhythm
    lever.booster_side("organisation", 42)
    names = lorenz_columns.rhythm_names()
    keep = [names.index(n) for n in lorenz_columns.ORGANISATION]
    assert seen["names"] == ["a", "b"] + list(lorenz_columns.ORGANISATION) and seen["tag"] == "af55_organisation"
    np.testing.assert_array_equal(seen["X"][:, 2:], rhythm[:, keep])
    lever.booster_side("rhythm", 42)
    assert seen["X"].shape == (3, 13) and seen["names"][2:] == names


def test_cv_without_the_table_names_it(tmp_path):
    lever = lorenz_columns.LorenzColumns.__new__(lorenz_columns.LorenzColumns)
    lever.work, lever.ids = tmp_path, ["A00001"]
    with pytest.raises(SystemExit, match=r"rhythm\.npz: not found"):
        lever.step_cv({})
