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


def test_stack_keep_rule():
    base = _spread(0.632, 0.860, 0.815)
    assert v_side.stack_keep_rule(_spread(0.630, 0.870, 0.813), base)["kept"]        # V Se up, the rest held
    assert v_side.stack_keep_rule(_spread(0.632, 0.858, 0.830), base)["kept"]        # V +P up, V Se held
    assert not v_side.stack_keep_rule(_spread(0.632, 0.862, 0.817), base)["kept"]    # both within the sd
    assert not v_side.stack_keep_rule(_spread(0.640, 0.900, 0.800), base)["kept"]    # V +P falls beyond its sd
    assert not v_side.stack_keep_rule(_spread(0.625, 0.900, 0.815), base)["kept"]    # macro F1 falls beyond its sd


def test_stack_columns_take_the_inner_models_on_training_beats_and_the_outer_on_scored_ones(monkeypatch):
    table = {"X": np.arange(12, dtype=float).reshape(6, 2), "columns": np.array(["pre_rr_norm", "median_corr"]),
             "record": np.array(["100"] * 6)}
    part = {"train": np.array([0, 1, 2]), "scored": np.array([3, 4, 5]),
            "inner_deep": np.tile([[0.1, 0.0, 0.7, 0.1, 0.1]], (3, 1)), "p_deep": np.tile([[0.5, 0, 0.2, 0.3, 0]], (3, 1))}
    monkeypatch.setattr(v_side, "column_sets", lambda: {"beat": ["median_corr"]})
    xt = v_side.stack_columns(table, part, {"set": "beat"}, LABELS, "train")
    xs = v_side.stack_columns(table, part, {"set": "beat"}, LABELS, "scored")
    np.testing.assert_array_equal(xt, [[1, 0.7], [3, 0.7], [5, 0.7]])
    np.testing.assert_array_equal(xs, [[7, 0.2], [9, 0.2], [11, 0.2]])
