"""Issue 18's af67 (experiments/cinc2017/lorenz_member.py): the Lorenz-plot image of an RR series, the member built
as planned, and a held fold never training the member that scores it."""
import numpy as np
import pytest

from experiments.cinc2017 import lorenz_member as lm


def test_lorenz_image_shares_and_shapes():
    rng = np.random.default_rng(0)
    irregular = lm.lorenz_image(rng.uniform(0.4, 1.2, 60))          # AF-like: a diffuse cloud
    bigeminy = lm.lorenz_image(np.tile([0.6, 1.1], 30))             # two clusters
    steady = lm.lorenz_image(np.full(60, 0.8))
    for image in (irregular, bigeminy, steady):
        assert image.shape == (lm.GRID, lm.GRID, 2) and image.dtype == np.float32
        np.testing.assert_allclose(image.sum(axis=(0, 1)), [1.0, 1.0], rtol=1e-6)   # shares of the points
    assert (bigeminy[:, :, 0] > 0).sum() == 2 and (steady[:, :, 0] > 0).sum() == 1
    assert (irregular[:, :, 0] > 0).sum() > 20 and (irregular[:, :, 1] > 0).sum() > 20
    # the median RR sets the scale: the same rhythm twice as fast gives the same image
    np.testing.assert_array_equal(lm.lorenz_image(np.tile([0.3, 0.55], 30)), bigeminy)
    assert not lm.lorenz_image(np.full(lm.MIN_RR - 1, 0.8)).any()      # too few intervals: empty
    assert not lm.lorenz_image([0.8, np.nan, -1.0]).any()


def test_member_is_the_planned_cnn():
    pytest.importorskip("keras")
    model = lm.build_member(42)
    assert model.input_shape == (None, lm.GRID, lm.GRID, 2) and model.output_shape == (None, 4)
    assert [layer.__class__.__name__ for layer in model.layers[1:]] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense", "Dense"]


class _Recorder:
    """A stand-in member that remembers the rows it trained on and scores each row by its first pixel."""
    fitted = []

    def fit(self, x, y, **kw):
        self.rows = x[:, 0, 0, 0].copy()
        _Recorder.fitted.append(self.rows)

    def predict(self, x, **kw):
        p = np.zeros((len(x), 4))
        p[np.arange(len(x)), 0] = x[:, 0, 0, 0]          # identity of the row, to check where it lands
        p[:, 3] = len(_Recorder.fitted)                   # which model scored it
        return p


def test_a_held_fold_never_trains_its_member(monkeypatch):
    n, k = 40, 5
    fold = np.arange(n) % k
    y = np.arange(n) % 4
    images = np.zeros((n, lm.GRID, lm.GRID, 2), np.float32)
    images[:, 0, 0, 0] = (np.arange(n) + 1.0) ** 2                 # sqrt gives back the row number + 1
    _Recorder.fitted = []
    monkeypatch.setattr(lm, "build_member", lambda seed: _Recorder())
    out = lm.member_oof(images, y, fold, seed=42, k=k)
    assert len(_Recorder.fitted) == k
    for h in range(k):
        trained = set(np.round(_Recorder.fitted[h]).astype(int) - 1)
        assert trained == set(np.flatnonzero(fold != h))           # the other folds' rows, every one of them
        held = np.flatnonzero(fold == h)
        np.testing.assert_allclose(out[held, 0], held + 1.0)        # each row scored in its own place
        assert (out[held, 3] == h + 1).all()                       # by the member that did not train on it


def test_af68_nested_columns_never_carry_the_outer_folds_labels():
    from experiments.cinc2017 import lorenz_stack

    k, n = 5, 50
    fold = np.arange(n) % k
    outer = np.full((n, 4), -1.0)
    # the pair member of folds (a, b) writes 10 a + b into its two folds' rows: which member each row came from
    pairs = {}
    for a in range(k):
        for b in range(a + 1, k):
            p = np.full((n, 4), np.nan)
            p[np.isin(fold, [a, b])] = 10 * a + b
            pairs[frozenset((a, b))] = p
    for h in range(k):
        cols = lorenz_stack.nested_columns(pairs, outer, fold, h)
        assert (cols[fold == h] == -1.0).all()                              # the held fold: the outer member
        for g in set(range(k)) - {h}:
            assert (cols[fold == g] == 10 * min(g, h) + max(g, h)).all()    # fold g: the member blind to h and g
