"""experiments/cinc2017/af_specialist.py's A-vs-O re-decision (lever h, af32, issue 18)."""
import numpy as np

from experiments.cinc2017 import af_specialist as sp

A, O = sp.A, sp.O


def _rows(*probs):
    return np.array(probs, float)


def test_only_close_a_o_rows_are_re_decided():
    p = _rows([0.05, 0.50, 0.40, 0.05],     # A over O, margin 0.10: gated
              [0.05, 0.40, 0.50, 0.05],     # O over A, margin 0.10: gated
              [0.50, 0.45, 0.03, 0.02],     # N and A on top: never gated
              [0.05, 0.70, 0.20, 0.05])     # A over O by 0.50: gated only with margin 1.0
    q = np.array([0.0, 1.0, 1.0, 0.0])
    assert sp.apply_specialist(p, q, margin=0.2, w=1.0).tolist() == [O, A, 0, A]
    assert sp.apply_specialist(p, q, margin=1.0, w=1.0).tolist() == [O, A, 0, O]
    assert sp.apply_specialist(p, q, margin=0.05, w=1.0).tolist() == p.argmax(-1).tolist()


def test_weight_mixes_the_recipe_a_share_with_the_specialist():
    p = _rows([0.0, 0.6, 0.4, 0.0])          # A share 0.6
    assert sp.apply_specialist(p, [0.35], margin=1.0, w=0.5).tolist() == [O]     # 0.3 + 0.175 < 0.5
    assert sp.apply_specialist(p, [0.45], margin=1.0, w=0.5).tolist() == [A]     # 0.3 + 0.225 >= 0.5
    assert sp.apply_specialist(p, [0.0], margin=1.0, w=0.0).tolist() == [A]      # w = 0: the recipe's call


def test_specialist_trains_on_a_and_o_rows_only():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    X = rng.normal(size=(400, 3))
    X[:, 0] += 3 * (y == A)                                           # column 0 separates A from O
    X[y == 0, 0] = 10                                                  # N rows would mislead if used
    model = sp.fit_specialist(X, y, "small", 42)
    assert model.num_feature() == 3
    ao = np.isin(y, [A, O])
    q = model.predict(X[ao])
    assert ((q > 0.5) == (y[ao] == A)).mean() > 0.9


def test_grid_and_keep_rule_are_fixed():
    assert set(sp.GRID) == {f"m{m}_w{w}_{s}" for s in sp.SIZES for m in sp.MARGINS for w in sp.SPEC_WEIGHTS}
    assert "45-47" in sp.KEEP_RULE and "nested" in sp.KEEP_RULE
