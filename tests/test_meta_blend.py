"""The learned blend of issue 18's af46 (experiments/cinc2017/meta_blend.py): its nested CV never lets a held fold's
labels reach the meta-learner that scores it."""
import argparse
import json

import numpy as np

from experiments.cinc2017 import meta_blend

K = 5


class _FoldBoosters:
    """The booster outputs meta_blend reads from af_lever's ``Lever`` (``oof``: each fold from a model fitted on the
    other 4; ``nested_pair``: folds a and b from one fitted on the other 3), here from a small logistic regression on
    synthetic columns, fitted on the labels the test gives it."""

    def __init__(self, X, y, fold):
        self.X, self.y, self.fold = X, y, fold

    def _fit_predict(self, held):
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=2000).fit(self.X[~held], self.y[~held])
        out = np.full((len(self.y), 4), np.nan)
        out[held] = model.predict_proba(self.X[held])
        return out

    def oof(self, tag, params, seed):
        out = np.zeros((len(self.y), 4))
        for k in range(K):
            held = self.fold == k
            out[held] = self._fit_predict(held)[held]
        return out

    def nested_pair(self, cand, seed, a, b):
        return self._fit_predict(np.isin(self.fold, [a, b]))


def _blend(y, X, fold, deep):
    blend = meta_blend.MetaBlend.__new__(meta_blend.MetaBlend)
    blend.args = argparse.Namespace(k=K)
    blend.lever = _FoldBoosters(X, y, fold)
    blend.y, blend.fold = y, fold
    blend.ecgsl, blend.resnet = deep
    return blend


def test_a_held_folds_labels_never_reach_its_meta_learner():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 4, n)
    X = rng.normal(size=(n, 6)) + np.eye(4, 6)[y] * 1.5           # columns that carry the class
    fold = np.arange(n) % K
    deep = tuple(rng.dirichlet(np.ones(4), n) * 0.5 + np.eye(4)[y] * 0.5 * rng.random((n, 1)) for _ in range(2))
    pred, chosen = _blend(y, X, fold, deep).nested_cv(42)
    assert len(chosen) == K and all(0 <= c["setting"] < len(meta_blend.GRID) for c in chosen)
    assert (pred == y).mean() > 0.6                                  # the blend learns (chance is 0.25)
    shuffled = y.copy()
    held = fold == 0
    shuffled[held] = rng.permutation(4)[y[held]]                     # fold 0's labels relabelled
    again, _ = _blend(shuffled, X, fold, deep).nested_cv(42)
    np.testing.assert_array_equal(again[held], pred[held])           # fold 0's predictions never saw its labels
    assert (again[~held] != pred[~held]).any()                       # the other folds' meta-learners did


def test_the_meta_inputs_are_the_clipped_log_probabilities():
    p = np.array([[1.0, 0.0, 0.0, 0.0]])
    X = meta_blend.meta_inputs(p, p, p)
    assert X.shape == (1, 12) and np.isfinite(X).all() and X.min() == np.log(meta_blend.FLOOR)


def test_the_committed_plan_is_the_scripts():
    assert json.loads(meta_blend.PLAN_PATH.read_text()) == json.loads(json.dumps(meta_blend.PLAN))


def _run(seed, af, macro=0.80):
    per = {"N": 0.9, "A": af, "O": 0.75, "~": 0.65}
    return {"seed": seed, "macro_f1": macro, "af_f1": af, "challenge_f1": 0.84, "per_class_f1": per,
            "booster_macro_f1": macro, "booster_af_f1": af, "o_as_a": 50, "a_as_o": 40}


def test_the_two_seed_set_keep_rule_of_af36_and_af46():
    from experiments.cinc2017.af_lever import FRESH, SEEDS, Lever, seed_set_row

    jitter = dict(zip(SEEDS + FRESH, (0.000, 0.002, -0.002, 0.001, -0.001, 0.000)))
    base = {"base": Lever.summarise([_run(s, 0.85 + jitter[s]) for s in SEEDS]),
            "base_fresh_seeds": Lever.summarise([_run(s, 0.85 + jitter[s]) for s in FRESH])}
    lever = argparse.Namespace(result=base, summarise=Lever.summarise)
    better = seed_set_row(lever, lambda s: _run(s, 0.86 + jitter[s] + 0.001 * (s % 2)))
    assert better["seeds_42_44"]["passes_af_lever_rule"] and better["seeds_45_47"]["passes_af_lever_rule"]
    assert better["passes_paired_rule"] and better["passes"]
    assert better["paired"]["seeds"] == SEEDS + FRESH and better["paired"]["af_f1"]["positive"] == 6
    same = seed_set_row(lever, lambda s: _run(s, 0.85 + jitter[s]))
    assert not same["passes"] and not same["passes_paired_rule"]
    worse_macro = seed_set_row(lever, lambda s: _run(s, 0.86 + jitter[s] + 0.001 * (s % 2), macro=0.78))
    assert not worse_macro["passes"]
