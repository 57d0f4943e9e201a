"""Issue 18's af60 (experiments/cinc2017/residual_booster.py): the booster starts from the deep side's
log-probabilities, so with nothing to learn it returns the deep side, and with an informative column it corrects
the deep side where that is wrong."""
import numpy as np

from experiments.cinc2017 import residual_booster
from experiments.cinc2017.af_lever import BASE, Lever


def _clf(rounds):
    return Lever._clf(None, ["c0", "c1"], dict(BASE, num_boost_round=rounds), 42)


def test_nothing_to_learn_returns_the_deep_side():
    rng = np.random.default_rng(0)
    y = np.arange(400) % 4
    deep = rng.dirichlet(np.ones(4), 400)
    X = np.zeros((400, 2))                                   # constant columns: no split is possible
    p = residual_booster.residual_fit_predict(_clf(20), X, y, deep, X[:50], deep[:50])
    # balanced classes, no split: the trees add one constant per class, the same for every row
    shift = np.log(p) - np.log(deep[:50])
    assert np.allclose(shift - shift[:, :1], (shift - shift[:, :1])[0], atol=1e-6)
    assert np.allclose(p.sum(1), 1)


def test_an_informative_column_corrects_a_wrong_deep_side():
    rng = np.random.default_rng(1)
    y = np.arange(800) % 4
    deep = np.full((800, 4), 0.25)                           # a deep side that knows nothing
    X = np.c_[y + rng.normal(0, 0.2, 800), rng.normal(size=800)]
    p = residual_booster.residual_fit_predict(_clf(100), X[:600], y[:600], deep[:600], X[600:], deep[600:])
    assert (p.argmax(1) == y[600:]).mean() > 0.9
