"""experiments/mitdb/v_sensitivity.py (issue 18, runs v46 / v47): the full-pause rule and its record-level count."""
import numpy as np

from experiments.mitdb import v_sensitivity as vs

LABELS = ["N", "S", "V", "F", "Q"]


def _case():
    # record "a": 12 wide S calls with a full pause; record "b": 3 such beats and one narrow S call
    n_a, n_b = 12, 4
    p = np.tile([0.2, 0.5, 0.2, 0.05, 0.05], (n_a + n_b, 1))
    rec = np.array(["a"] * n_a + ["b"] * n_b)
    width = np.full(n_a + n_b, 1.6)
    width[-1] = 1.0
    ev = {"width_norm": width, "post_pre": np.full(n_a + n_b, 1.6), "compensation": np.full(n_a + n_b, 1.0),
          "not_af": np.ones(n_a + n_b, bool)}
    return p, rec, ev


def test_full_pause_call_turns_every_firing_beat_to_v():
    p, rec, ev = _case()
    out = vs.full_pause_call(p, LABELS, ev["width_norm"], ev["post_pre"], ev["compensation"], ev["not_af"],
                             **vs.FULL_PAUSE_RULE)
    called = out.argmax(-1)
    assert (called[:-1] == 2).all() and called[-1] == 1
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_population_call_acts_only_on_records_with_enough_firings():
    p, rec, ev = _case()
    out = vs.population_call(p, LABELS, rec, ev["width_norm"], ev["post_pre"], ev["compensation"], ev["not_af"],
                             **vs.POPULATION_RULE)
    called = out.argmax(-1)
    assert (called[rec == "a"] == 2).all()          # 12 firings >= 10: the rule acts
    assert (called[rec == "b"] == 1).all()          # 3 firings: v40's calls stay
    np.testing.assert_array_equal(out[rec == "b"], p[rec == "b"])
    # AF on 5 of record "a"'s beats leaves it 7 firings, under the count: nothing changes
    ev["not_af"][:5] = False
    out = vs.population_call(p, LABELS, rec, ev["width_norm"], ev["post_pre"], ev["compensation"], ev["not_af"],
                             **vs.POPULATION_RULE)
    np.testing.assert_array_equal(out, p)
