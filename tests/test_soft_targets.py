"""Issue 18's af63 (experiments/cinc2017/soft_targets.py): the booster trained on soft targets through a custom
multiclass objective. With one-hot targets and no column sampling the objective is LightGBM's own multiclass booster;
soft targets move the booster's probabilities towards the second view."""
import numpy as np

from experiments.cinc2017 import soft_targets
from experiments.cinc2017.af_lever import BASE, Lever


def _clf(rounds, **params):
    return Lever._clf(None, ["c0", "c1", "c2"], dict(BASE, num_boost_round=rounds, **params), 42)


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    X = np.c_[y + rng.normal(0, 0.8, n), rng.normal(size=n), (y == 1) + rng.normal(0, 1.0, n)]
    return X, y


def test_soft_targets_are_distributions_and_one_hot_at_alpha_one():
    y = np.array([0, 1, 2, 3, 1])
    q = np.random.default_rng(0).dirichlet(np.ones(4), 5) * 3.0          # not normalised: the function normalises
    t = soft_targets.soft_targets(y, 0.8, q)
    assert np.allclose(t.sum(1), 1)
    assert np.all(t.argmax(1) == y)                                       # 0.8 on the label always wins
    assert np.array_equal(soft_targets.soft_targets(y, 1.0, q), np.eye(4)[y])
    assert np.array_equal(soft_targets.soft_targets(y, 0.5, None), np.eye(4)[y])


def test_one_hot_targets_give_lightgbms_own_multiclass_booster():
    X, y = _data()
    t = np.eye(4)[y[:450]]
    for rounds in (5, 60):
        clf = _clf(rounds, feature_fraction=1.0).fit(X[:450], y[:450])
        ours = soft_targets.soft_fit_predict(_clf(rounds, feature_fraction=1.0), X[:450], y[:450], t, X[450:])
        theirs = clf.booster.predict(X[450:])
        if rounds == 5:
            assert np.allclose(ours, theirs, atol=1e-6)
        else:        # LightGBM keeps its own gradients in float32: later trees drift by rounding, no more
            assert np.abs(ours - theirs).max() < 0.05 and (ours.argmax(1) == theirs.argmax(1)).mean() > 0.97


def test_soft_targets_pull_the_booster_towards_the_second_view():
    X, y = _data(seed=1)
    q = np.full((450, 4), 0.25)                                           # a second view that knows nothing
    hard = soft_targets.soft_fit_predict(_clf(100), X[:450], y[:450], np.eye(4)[y[:450]], X[450:])
    soft = soft_targets.soft_fit_predict(_clf(100), X[:450], y[:450], soft_targets.soft_targets(y[:450], 0.5, q),
                                         X[450:])
    assert np.allclose(soft.sum(1), 1)
    # less confident than the hard booster, still ranking the classes from the columns
    assert soft.max(1).mean() < hard.max(1).mean() - 0.05
    assert (soft.argmax(1) == y[450:]).mean() > 0.5
