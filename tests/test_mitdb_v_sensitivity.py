"""experiments/mitdb/v_sensitivity.py (issue 18, runs v46-v48): the full-pause rule and its record-level count, both
the library's ``stacking.VPause`` (the rule ``stacking.json``'s ``v_pause`` serves)."""
import numpy as np

from experiments.mitdb import v_sensitivity as vs

LABELS = ["N", "S", "V", "F", "Q"]


def _case():
    # record "a": 12 wide S calls with a full pause; record "b": 3 such beats and one narrow S call
    n_a, n_b = 12, 4
    n = n_a + n_b
    p = np.tile([0.2, 0.5, 0.2, 0.05, 0.05], (n, 1))
    rec = np.array(["a"] * n_a + ["b"] * n_b)
    width = np.full(n, 1.6)
    width[-1] = 1.0
    pre = np.full(n, 2 / 2.6)                     # compensation (pre + post) / 2 = 1.0, post / pre = 1.6
    post = np.full(n, 2 * 1.6 / 2.6)
    af = np.zeros(n)                              # the rhythm gate's AF evidence, threshold 30
    ev = {"columns": np.column_stack([pre, post, width, af]), "record": rec,
          "af_off": {"feature": "window_af_afev", "threshold": 30.0}}
    return p, rec, ev


def test_full_pause_call_turns_every_firing_beat_to_v():
    p, rec, ev = _case()
    out = vs.full_pause_call(p, LABELS, ev, **vs.FULL_PAUSE_RULE)
    called = out.argmax(-1)
    assert (called[:-1] == 2).all() and called[-1] == 1
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_population_call_acts_only_on_records_with_enough_firings():
    p, rec, ev = _case()
    out = vs.population_call(p, LABELS, ev, **vs.POPULATION_RULE)
    called = out.argmax(-1)
    assert (called[rec == "a"] == 2).all()          # 12 firings >= 10: the rule acts
    assert (called[rec == "b"] == 1).all()          # 3 firings: v40's calls stay
    np.testing.assert_array_equal(out[rec == "b"], p[rec == "b"])
    # AF on 5 of record "a"'s beats leaves it 7 firings, under the count: nothing changes
    ev["columns"][:5, 3] = 100.0
    out = vs.population_call(p, LABELS, ev, **vs.POPULATION_RULE)
    np.testing.assert_array_equal(out, p)


def test_the_experiment_measures_the_library_rule():
    """The rule runs v46-v48 measured is ``stacking.VPause``, the one ``stacking.json``'s ``v_pause`` serves."""
    from ecgsl_keras.modeling.stacking import VPause

    p, rec, ev = _case()
    rule = vs.pause_rule(LABELS, ev, **vs.POPULATION_RULE)
    assert isinstance(rule, VPause) and rule.min_fires == 10 and rule.af_off == ev["af_off"]
    np.testing.assert_array_equal(vs.population_call(p, LABELS, ev, **vs.POPULATION_RULE),
                                  rule.apply(p, ev["columns"], records=rec)[0])


def test_t_columns_result_carries_its_rules_and_the_library_columns():
    """Run v50: the committed key holds the rules the script states, the library's T columns, and a decision that
    follows from the folds' choices (a fold that refuses the columns keeps v40's rows, so with both refusing every
    paired change is exactly 0)."""
    import json
    from pathlib import Path

    from ecgsl_keras.data.per_beat_features import T_WAVE_FEATURE_NAMES
    from experiments.mitdb import t_columns as tc

    saved = json.loads((Path(tc.__file__).parent / "v_sensitivity_results.json").read_text(encoding="utf-8"))[tc.KEY]
    assert saved["choice_rule"] == tc.CHOICE_RULE and saved["keep_rule"] == tc.KEEP_RULE
    assert saved["t_columns"] == list(tc.T_COLUMNS) and set(tc.T_COLUMNS) <= set(T_WAVE_FEATURE_NAMES)
    assert set(tc.RELATIVE_COLUMNS) <= set(T_WAVE_FEATURE_NAMES)
    assert saved["v40_reproduced"] is True
    if not any(saved["uses_t_columns"].values()):
        assert all(v["mean"] == 0 for v in saved["against_v40"]["paired_change"].values())
        assert saved["kept"] is False and saved["decision"] == "none"
