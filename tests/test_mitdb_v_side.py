"""experiments/mitdb/v_side.py (issue 18, run mitdb31): the V decision weight, the neighbour columns, the keep rule."""
import numpy as np

from experiments.mitdb import v_side

LABELS = ["N", "S", "V", "F", "Q"]


def _probabilities(rng, n):
    p = rng.random((n, len(LABELS)))
    return p / p.sum(axis=1, keepdims=True)


def test_v_weighted_is_the_recipe_average_by_default_and_moves_only_v():
    rng = np.random.default_rng(0)
    pb, pd = _probabilities(rng, 50), _probabilities(rng, 50)
    plain = v_side.v_weighted(pb, pd, 0.25, LABELS)
    np.testing.assert_allclose(plain, 0.75 * pb + 0.25 * pd)
    # V column from ECG-SL alone, then doubled: rows still sum to 1, the other classes keep their ratios
    p = v_side.v_weighted(pb, pd, 0.25, LABELS, v_scale=2.0, v_weight=1.0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    raw = 0.75 * pb + 0.25 * pd
    raw[:, 2] = 2.0 * pd[:, 2]
    np.testing.assert_allclose(p, raw / raw.sum(axis=1, keepdims=True))
    assert (v_side.v_weighted(pb, pd, 0.25, LABELS, v_scale=3.0).argmax(-1) == 2).sum() > (plain.argmax(-1) == 2).sum()


def test_neighbour_columns_stop_at_record_ends():
    x = np.arange(12, dtype=float).reshape(6, 2)
    table = {"X": x, "columns": np.array(["a", "b"]), "record": np.array(["100"] * 3 + ["101"] * 3)}
    out, names = v_side.neighbour_columns(table, ("b",))
    assert names == ["prev_b", "next_b"]
    np.testing.assert_array_equal(out[:, 0], [np.nan, 1, 3, np.nan, 7, 9])
    np.testing.assert_array_equal(out[:, 1], [3, 5, np.nan, 9, 11, np.nan])


def _spread(macro, v_se, v_pp, s_se=0.77, s_pp=0.64, sd=0.003):
    return {k: {"mean": m, "sd": sd} for k, m in (("macro_f1_nsvf", macro), ("V_sensitivity", v_se),
                                                  ("V_positive_predictivity", v_pp), ("S_sensitivity", s_se),
                                                  ("S_positive_predictivity", s_pp))}


def test_keep_rule():
    base = _spread(0.632, 0.860, 0.815)
    assert v_side.keep_rule(_spread(0.643, 0.880, 0.837), base)["kept"]
    assert not v_side.keep_rule(_spread(0.634, 0.880, 0.837), base)["kept"]              # macro within the sd
    assert not v_side.keep_rule(_spread(0.643, 0.940, 0.480), base)["kept"]              # V +P falls
    assert not v_side.keep_rule(_spread(0.643, 0.880, 0.837, s_se=0.70), base)["kept"]  # S Se falls
