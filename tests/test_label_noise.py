"""experiments/cinc2017/label_noise.py's confident-learning flags and its CV (lever af36, issue 18)."""
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from experiments.cinc2017 import label_noise as ln

A = ln.A


def _blobs(flip=7, n=40, seed=0):
    """Three well-separated classes; row ``flip`` (class 0) given label 1."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), n)
    X = rng.normal(scale=0.5, size=(3 * n, 2)) + 6.0 * np.eye(3)[truth][:, :2]
    X[truth == 2] += np.array([-6.0, -6.0])
    y = truth.copy()
    y[flip] = 1
    fold = np.arange(3 * n) % 4
    return X, y, truth, fold


def _oof(X, y, fold):
    return cross_val_predict(LogisticRegression(max_iter=500), X, y, groups=fold, method="predict_proba",
                             cv=[(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(4)])


def test_flipped_label_is_flagged_and_clean_ones_are_not():
    X, y, truth, fold = _blobs()
    flags, confident, t = ln.flag_label_issues(_oof(X, y, fold), y, 3)
    assert np.flatnonzero(flags).tolist() == [7]
    assert confident[7] == truth[7] == 0
    assert t.shape == (3,) and np.all(t > 0.5)


def test_a_class_with_no_rows_is_never_a_confident_class():
    p = np.array([[0.2, 0.0, 0.8], [0.9, 0.0, 0.1]])
    flags, confident, t = ln.flag_label_issues(p, np.array([0, 0]), 3)
    assert np.isinf(t[1]) and np.isinf(t[2]) and 1 not in confident and flags.tolist() == [False, False]


def test_af_scope_keeps_only_flags_that_involve_a():
    y = np.array([0, 2, A, 2])
    confident = np.array([2, A, 0, 0])
    flags = np.ones(4, bool)
    assert ln.in_scope(flags, y, confident, "af").tolist() == [False, True, True, False]
    assert ln.in_scope(flags, y, confident, "all").tolist() == [True] * 4


def test_cv_drops_flags_from_training_only_and_scores_original_labels():
    X, y, truth, fold = _blobs()
    p = _oof(X, y, fold)

    def flags_for_fold(h):                        # flags from the training rows' own out-of-fold outputs
        train = fold != h
        out = np.zeros(len(y), bool)
        out[train] = ln.flag_label_issues(p[train], y[train], 3)[0]
        return out

    def fit_predict(train, mult, held):
        model = LogisticRegression(max_iter=500).fit(X[train], y[train], sample_weight=mult)
        return model.predict_proba(X[held])

    out, used = ln.noise_cv(y, fold, flags_for_fold, fit_predict, ln.VARIANTS["drop"], 4)
    assert not np.isnan(out).any()                                   # every row scored, none dropped
    for h, rows in used.items():
        assert not np.isin(rows, np.flatnonzero(fold == h)).any()      # never trained on its held fold
        assert 7 not in rows                  # the flipped row: held out, or flagged and dropped
    pred = out.argmax(-1)
    assert pred[7] == truth[7]
    # scored against the ORIGINAL labels: the flipped row counts as the one error
    assert (pred == y).sum() == len(y) - 1

    seen = {}

    def record(train, mult, held):
        seen[int(fold[held][0])] = (train.copy(), mult)
        return fit_predict(train, mult, held)

    ln.noise_cv(y, fold, flags_for_fold, record, ln.VARIANTS["weight"], 4)
    for h, (train, mult) in seen.items():
        assert train.sum() == (fold != h).sum()                        # weight keeps every training row
        rows = np.flatnonzero(train)
        expected = np.where(rows == 7, ln.WEIGHT_FACTOR, 1.0)
        assert np.allclose(mult, expected)


def test_keep_rule_and_primary_are_fixed():
    assert ln.PRIMARY == "drop" and set(ln.VARIANTS) == {"drop", "weight", "drop_af"}
    assert "45-47" in ln.KEEP_RULE and "original labels" in ln.KEEP_RULE
