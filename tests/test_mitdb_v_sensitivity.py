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


def test_the_template_vote_is_the_library_rule_and_its_key_carries_its_rules():
    """Run v51: the experiment's vote is ``stacking.VTemplate`` (the one ``stacking.json``'s ``v_template`` serves),
    each record with its own template; the committed key holds the script's rules and grid, and its decision follows
    from its keep verdict against v48's recomputed row."""
    import json
    from pathlib import Path

    from ecgsl_keras.modeling.stacking import V_TEMPLATE_COLUMNS, VTemplate

    rng = np.random.default_rng(0)
    t = np.arange(96)
    v_shape = -np.exp(-0.5 * ((t - 34) / 5.0) ** 2)
    beats = np.stack([v_shape + 0.01 * rng.normal(size=96) for _ in range(6)])
    p = np.tile([0.1, 0.1, 0.6, 0.1, 0.1], (6, 1))
    p[[4, 5]] = [0.1, 0.6, 0.1, 0.1, 0.1]                          # two S calls shaped like the V calls
    ev = {"columns": np.column_stack([np.zeros(6), np.full(6, 2.0), np.zeros(6)]), "beats": beats,
          "record": np.array(["a"] * 4 + ["a", "b"]), "af_off": {"feature": "window_af_afev", "threshold": 30.0}}
    rule = vs.template_rule(LABELS, ev["af_off"], ["S", "F"], 3, 0.9)
    assert isinstance(rule, VTemplate) and rule.columns == V_TEMPLATE_COLUMNS + ("window_af_afev",)
    out, turned = vs.template_call(p, LABELS, ev, ["S", "F"], 3, 0.9)
    np.testing.assert_array_equal(turned, [0, 0, 0, 0, 1, 0])       # record "b" has no V calls of its own
    np.testing.assert_array_equal(out, rule.apply(p, beats, ev["columns"], records=ev["record"])[0])
    saved = json.loads((Path(vs.__file__).parent / "v_sensitivity_results.json").read_text(encoding="utf-8"))[
        vs.TEMPLATE_KEY]
    assert saved["choice_rule"] == vs.TEMPLATE_CHOICE_RULE and saved["keep_rule"] == vs.TEMPLATE_KEEP_RULE
    assert saved["grid"]["min_called"] == list(vs.TEMPLATE_GRID["min_called"]) and saved["v48_reproduced"] is True
    assert saved["kept"] == saved["against_v48"]["kept"] == all(saved["against_v48"]["checks"].values())
    assert saved["decision"] == ("v_template" if saved["kept"] else "none")


def test_false_v_diagnosis_counts_add_up_to_the_served_figure():
    """Run v52: the AUC helper, and the committed key's counts: per seed the false V split by class and by stage add
    up to the false V total, whose share of all V calls is 1 - the served V +P (the mean over seeds)."""
    import json
    from pathlib import Path

    assert vs._auc([2, 3], [0, 1]) == 1.0 and vs._auc([0], [1]) == 0.0 and vs._auc([1, 1], [1]) == 0.5
    assert vs._auc([], [1]) is None and vs._auc([np.nan], [1]) is None
    assert vs._pair_counts(np.array([0, 3, 3]), np.array(["mix_both", "mix_both", "v_pause"]), LABELS) == {
        "F|mix_both": 1, "N|mix_both": 1, "F|v_pause": 1}
    saved = json.loads((Path(vs.__file__).parent / "v_sensitivity_results.json").read_text(encoding="utf-8"))[
        vs.FALSE_V_KEY]
    assert saved["what"] == vs.FALSE_V_WHAT and saved["reference_reproduced"] is True
    pp = []
    for d in saved["false_V_by_seed"].values():
        assert sum(d["by_class"].values()) == sum(d["by_stage"].values()) == d["false_V"]
        assert "V" not in d["by_class"]
        pp.append(d["true_V_called"] / (d["true_V_called"] + d["false_V"]))
    assert abs(np.mean(pp) - saved["seed_spread"]["V_positive_predictivity"]["mean"]) < 1e-9
    assert abs(sum(r["false_V_mean"] for r in saved["records_ranked"]) - saved["false_V_mean"]) < 0.5


def test_the_template_veto_is_the_library_rule_and_its_key_carries_its_rules():
    """Run v53: the experiment's veto is ``stacking.VVeto`` (the one ``stacking.json``'s ``v_veto`` serves); the
    committed key holds the script's rules and grid, and a fold that takes no point leaves its left-out rows as served."""
    import json
    from pathlib import Path

    from ecgsl_keras.modeling.stacking import V_TEMPLATE_COLUMNS, VVeto

    rule = vs.veto_rule(LABELS, {"feature": "window_af_afev", "threshold": 30.0}, 40, 0.5, True)
    assert isinstance(rule, VVeto) and rule.columns == V_TEMPLATE_COLUMNS + ("window_af_afev",)
    assert {(q["corr"], q["median"]) for q in vs._veto_points()} == {(0.5, False), (0.5, True), (0.7, False),
                                                                       (0.7, True)}
    saved = json.loads((Path(vs.__file__).parent / "v_sensitivity_results.json").read_text(encoding="utf-8"))[
        vs.VETO_KEY]
    assert saved["choice_rule"] == vs.VETO_CHOICE_RULE and saved["keep_rule"] == vs.VETO_KEEP_RULE
    assert saved["blind"] is False and saved["served_reproduced"] is True
    assert saved["kept"] == all(saved["checks"].values())
    for h, ch in saved["chosen_by_inner_cv"].items():
        assert saved["chosen"][h] == ch["chosen"] and (ch["chosen"] is None) == (not any(
            q["admissible"] for q in ch["points"]))
    if not any(saved["chosen"].values()):
        assert all(saved["paired_change"][m]["mean"] == 0 for m in saved["paired_change"]) and not saved["kept"]


def test_the_v54_and_v55_grids_are_valid_library_rules():
    """Every point that runs v54 / v55 / v55b measure is an entry the library serves (stacking.VVeto with clusters,
    stacking.VGate), so a kept point can be written to stacking.json as measured."""
    from ecgsl_keras.modeling.stacking import VGate, VVeto
    af = {"feature": "window_af_afev", "threshold": 31.0}
    for pt in vs._multi_veto_points():
        rule = vs.veto_rule(LABELS, af, **pt)
        assert VVeto.from_spec(rule.to_spec(), LABELS).to_spec() == rule.to_spec()
    specs = [vs.narrow_gate_spec(pt, af) for pt in vs._narrow_points()]
    assert len(specs) == 24 and sum("af_off" in s for s in specs) == 12
    for spec in specs:
        assert VGate.from_spec(spec, LABELS).to_spec() == spec


def test_the_narrow_gate_runs_before_the_pause_rule_and_the_vote_as_served():
    """_served_with_gate applies the v_gate first (serving's RULES order): a narrow, on-time V call with a low deep
    P(V) loses V to S, and the pause rule then sees it as an S call."""
    from ecgsl_keras.modeling.stacking import VPause, VTemplate
    p, rec, ev = _case()
    p = p.copy()
    p[0] = [0.1, 0.3, 0.5, 0.05, 0.05]            # beat 0: called V
    table = {"columns": ["pre_rr_local_median_ratio", "post_rr_local_median_ratio", "rhythm_mad_norm",
                               "qrs_width_norm"],
             "X": np.tile([1.0, 1.0, 0.1, 1.0], (len(p), 1))}
    idx = np.arange(len(p))
    pause = VPause(1.25, [0.95, 1.05], 1.25, 10**6, LABELS)   # never reaches its count: no change
    vote = VTemplate(10**6, 0.9, 1.25, ["S", "F"], LABELS)      # never has a template: no change
    beats = np.random.default_rng(0).normal(size=(len(p), 96))
    spec = {"premature": 0.9, "wide": 1.5, "t": 0.2, "pause": 1.1, "irregular": None}
    pv = np.full(len(p), 0.05)
    out, fired = vs._served_with_gate(spec, p, pv, table, idx, pause, ev["columns"][:, :3], vote,
                                      np.column_stack([np.zeros(len(p)), ev["columns"][:, 2]]), beats, rec, LABELS)
    assert fired.tolist() == [True] + [False] * (len(p) - 1)
    assert out[0].argmax() == 1
    same, none = vs._served_with_gate(None, p, pv, table, idx, pause, ev["columns"][:, :3], vote,
                                      np.column_stack([np.zeros(len(p)), ev["columns"][:, 2]]), beats, rec, LABELS)
    np.testing.assert_array_equal(same, p)
    assert not none.any()


def test_the_v58_width_grid_is_the_library_rule_and_its_tie_prefers_fewer_vetoes():
    """Run v58: every width-veto point is an entry the library serves (stacking.VVeto with width, the correlation test
    off by corr -1), and the tie order takes the lower width, then one reference group, then the larger min_members."""
    from ecgsl_keras.modeling.stacking import VVeto
    af = {"feature": "window_af_afev", "threshold": 31.0}
    points = vs._width_veto_points()
    assert len(points) == 15 and {q["width"] for q in points} == {0.6, 0.7, 0.8}
    for pt in points:
        rule = vs.veto_rule(LABELS, af, **pt)
        assert rule.width == pt["width"] and rule.corr == -1.0 and not rule.median
        assert VVeto.from_spec(rule.to_spec(), LABELS).to_spec() == rule.to_spec()
    same = [dict(q, pooled={"V_positive_predictivity": 0.9}) for q in points]
    best = max(same, key=vs._width_veto_tie)
    assert best["width"] == 0.6 and best["clusters"] is None
    rest = [q for q in same if q["clusters"] is not None and q["width"] == 0.6]
    assert max(rest, key=vs._width_veto_tie)["clusters"] == {"corr": 0.9, "min_members": 20}


def test_the_step_table_saves_each_step_under_its_key_with_its_run_stamp(tmp_path):
    """main's dispatch is one table: a row per --steps choice (after "beats"), each under a module key, and
    save_step writes a step's result with the command and the seconds, keeping the other keys of the file."""
    import json

    names = [step for step, _, _ in vs.STEPS]
    assert len(names) == len(set(names)) and "beats" not in names
    assert all(isinstance(key, str) and callable(call) for _, key, call in vs.STEPS)
    # a RULES_ONLY step writes the rules-only form of its run's key, which the run's step then fills; no other two
    # rows share a key
    assert set(vs.RULES_ONLY) <= set(names)
    keys = [key for step, key, _ in vs.STEPS if step not in vs.RULES_ONLY]
    assert len(keys) == len(set(keys))
    out = tmp_path / "results.json"
    saved = {"other": {"x": 1}}
    got = vs.save_step(saved, "k", {"a": 2}, out, "python x.py", start=0.0)
    assert got["a"] == 2 and got["command"] == "python x.py" and got["seconds"] > 0
    assert json.loads(out.read_text(encoding="utf-8")) == {"other": {"x": 1}, "k": got}


def test_the_v59_choice_takes_the_second_lead_only_when_no_inner_group_falls_beyond_its_tolerance():
    """Run v59: the rules name the library's second-lead columns, and SECOND_LEAD_CHOICE_RULE takes the two-lead arm
    when its pooled inner macro F1 rises and no inner group's macro F1 / S Se / V Se falls beyond its tolerance."""
    from ecgsl_keras.data.per_beat_features import SECOND_LEAD_FEATURE_NAMES
    rules = vs.second_lead_rules()
    assert rules["columns"] == list(SECOND_LEAD_FEATURE_NAMES) and rules["blind"] is False
    assert vs.RULES_ONLY["second_lead_rules"] == "v59"
    n, s, v = LABELS.index("N"), LABELS.index("S"), LABELS.index("V")
    y = np.array([n] * 40 + [s] * 10 + [v] * 10 + [n] * 40 + [s] * 10 + [v] * 10)
    rec = np.array(["a"] * 60 + ["b"] * 60)
    groups = [["a"], ["b"]]
    one = np.eye(len(LABELS))[y]
    one[[0, 1, 2, 60, 61]] = np.eye(len(LABELS))[v]                      # five false V in the one-lead arm
    two = np.eye(len(LABELS))[y]                                        # the two-lead arm: every beat right
    ch = vs._second_lead_choice(y, rec, groups, one, two, LABELS)
    assert ch["uses_second_lead"] and all(ch["checks"].values())
    worse = two.copy()
    worse[110:112] = np.eye(len(LABELS))[n]                             # group b loses 2 of its 10 V beats
    ch = vs._second_lead_choice(y, rec, groups, one, worse, LABELS)
    assert not ch["uses_second_lead"] and not ch["checks"]["groups_V_sensitivity_within"]
    assert ch["group_falls"]["V_sensitivity"] == [0.0, 0.2]
    same = vs._second_lead_choice(y, rec, groups, one, one, LABELS)
    assert not same["uses_second_lead"] and not same["checks"]["pooled_macro_f1_up"]


def test_the_v60_vote_mixes_the_lead2_booster_only_where_its_mask_says_and_w0_is_the_served_rows():
    """Run v60: lead2_vote is (1 - w m) p + w m p2 per beat, w = 0 returns the served rows themselves; arm B's mask
    marks the beats unlike their lead-2 median beat (NaN: no vote); the lead-2 booster swaps MLII's shape columns for
    the second lead's."""
    from ecgsl_keras.data.per_beat_features import SECOND_LEAD_FEATURE_NAMES, SHAPE_FEATURE_NAMES
    p = np.tile([0.6, 0.1, 0.3, 0.0, 0.0], (3, 1))
    p2 = np.tile([0.0, 0.0, 1.0, 0.0, 0.0], (3, 1))
    assert vs.lead2_vote(p, p2, 0.0) is p
    got = vs.lead2_vote(p, p2, 0.3, mask=np.array([True, False, True]))
    assert np.allclose(got[0], 0.7 * p[0] + 0.3 * p2[0]) and np.array_equal(got[1], p[1])
    assert np.allclose(got.sum(axis=1), 1.0)
    assert np.allclose(vs.lead2_vote(p, p2, 0.15), 0.85 * p + 0.15 * p2)
    cols = np.zeros((4, len(SECOND_LEAD_FEATURE_NAMES)))
    cols[:, SECOND_LEAD_FEATURE_NAMES.index("lead2_median_corr")] = [0.95, 0.5, np.nan, 0.9]
    assert vs.lead2_unlike(cols).tolist() == [False, True, False, False]
    fold_set = ["pre_rr_norm", "qrs_width_norm", "median_corr", "window_af_afev"]
    got = vs.lead2_booster_columns(fold_set)
    assert got == ["pre_rr_norm", "window_af_afev", *SECOND_LEAD_FEATURE_NAMES]
    assert not set(got) & set(SHAPE_FEATURE_NAMES)


def test_the_v60_choice_takes_the_best_admissible_weight_and_otherwise_stays_served():
    """LEAD2_VOTE_CHOICE_RULE: each w against w = 0 as v59's arms; the admissible w of the highest pooled macro F1
    (ties: the smaller w); none admissible: w = 0. The rules are in the rules-only key."""
    rules = vs.lead2_vote_rules()
    assert rules["grid"]["w"] == [0.0, 0.15, 0.3] and rules["blind"] is False
    assert vs.RULES_ONLY["lead2_vote_rules"] == "v60" and "lead2_vote_rules" in vs.NO_DECISION_ROWS
    n, s, v = LABELS.index("N"), LABELS.index("S"), LABELS.index("V")
    y = np.array([n] * 40 + [s] * 10 + [v] * 10 + [n] * 40 + [s] * 10 + [v] * 10)
    rec = np.array(["a"] * 60 + ["b"] * 60)
    groups = [["a"], ["b"]]
    served = np.eye(len(LABELS))[y]
    served[[0, 1, 2, 60, 61]] = np.eye(len(LABELS))[v]                   # five false V at w = 0
    better = np.eye(len(LABELS))[y]                                     # every beat right
    ch = vs._lead2_weight_choice(y, rec, groups, {0.0: served, 0.15: better, 0.3: better}, LABELS)
    assert ch["chosen_w"] == 0.15 and all(q["admissible"] for q in ch["points"])   # a tie: the smaller w
    worse = better.copy()
    worse[110:112] = np.eye(len(LABELS))[n]                             # group b loses 2 of its 10 V beats
    ch = vs._lead2_weight_choice(y, rec, groups, {0.0: served, 0.15: served, 0.3: worse}, LABELS)
    assert ch["chosen_w"] == 0.0 and [q["admissible"] for q in ch["points"]] == [False, False]
    ch = vs._lead2_weight_choice(y, rec, groups, {0.0: served, 0.15: worse, 0.3: better}, LABELS)
    assert ch["chosen_w"] == 0.3


def test_the_v59_and_v60_keep_rule_needs_a_v_gain_beyond_spread_and_no_target_fall():
    """_lead2_keep: V +P or V Se up by more than max(paired sd, served seed sd), no target measure down beyond its
    served seed sd."""
    sd0 = {m: 0.005 for m in vs.SECOND_LEAD_TARGETS}

    def paired(**means):
        return {m: {"mean": means.get(m, 0.0), "sd": 0.002} for m in vs.SECOND_LEAD_TARGETS}
    assert vs._lead2_keep(paired(V_positive_predictivity=0.01), sd0)[1]
    assert not vs._lead2_keep(paired(V_positive_predictivity=0.004), sd0)[1]       # within the seed sd
    assert not vs._lead2_keep(paired(V_sensitivity=0.01, S_sensitivity=-0.006), sd0)[1]
    assert not vs._lead2_keep(paired(), sd0)[1]


def _shapes(n_beats, rng, v_shape, n_shape):
    return np.stack([v_shape if k else n_shape for k in n_beats]) + 0.01 * rng.standard_normal((len(n_beats), 96))


def test_the_v61_ratio_compares_the_call_templates_of_the_two_leads_and_needs_enough_calls():
    """separation_ratio: d = 1 - corr(V-call template, N-call template) per lead, the ratio second / MLII; a record
    under LEAD2_SWITCH_MIN_CALLS V calls has none. switch_mask: on at ratio >= r or without a ratio."""
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 96)
    normal, wide = np.exp(-((x - 0.3) / 0.03) ** 2), -np.exp(-((x - 0.35) / 0.1) ** 2)
    n, v = LABELS.index("N"), LABELS.index("V")
    calls = np.array(([v] * 12 + [n] * 30) * 2 + [v] * 3 + [n] * 30)
    rec = np.array(["a"] * 42 + ["b"] * 42 + ["c"] * 33)
    is_v = calls == v
    mlii = _shapes(is_v, rng, wide, normal)
    second = mlii.copy()
    second[rec == "b"] = _shapes(is_v[rec == "b"], rng, normal, normal)   # b's V calls look normal in lead 2
    ratio = vs.separation_ratio(mlii, second, calls, rec, LABELS)
    assert ratio["c"] is None                                  # 3 V calls: no template
    assert abs(ratio["a"] - 1.0) < 0.05 and ratio["b"] < 0.05
    d = vs.template_separation(mlii, calls, rec, v, n)
    assert d["a"] > 1.0 and d["c"] is None                     # opposite shapes: correlation below 0
    assert vs.switch_mask(rec, ratio, 0.5).tolist() == [True] * 42 + [False] * 42 + [True] * 33
    assert not vs.switch_mask(rec, {"a": 0.4, "b": 0.1, "c": 0.2}, 0.5).any()


def test_the_v61_choice_ties_go_to_the_smaller_weight_then_the_higher_ratio_and_rules_are_committed_alone():
    """LEAD2_SWITCH_CHOICE_RULE: each (r, w) against w = 0 with v60's admission; ties: smaller w, then higher r."""
    rules = vs.lead2_switch_rules()
    assert rules["grid"]["r"] == [0.5, 0.75, 1.0] and rules["grid"]["w"] == [0.0, 0.15, 0.3]
    assert rules["blind"] is False and rules["min_calls"] == 10
    assert vs.RULES_ONLY["lead2_switch_rules"] == "v61" and "lead2_switch_rules" in vs.NO_DECISION_ROWS
    n, s, v = LABELS.index("N"), LABELS.index("S"), LABELS.index("V")
    y = np.array([n] * 40 + [s] * 10 + [v] * 10 + [n] * 40 + [s] * 10 + [v] * 10)
    rec = np.array(["a"] * 60 + ["b"] * 60)
    served = np.eye(len(LABELS))[y]
    served[[0, 1, 2, 60, 61]] = np.eye(len(LABELS))[v]
    better = np.eye(len(LABELS))[y]
    rows = {0.0: served, **{(r, w): better for r in vs.LEAD2_SWITCH_GRID for w in vs.LEAD2_VOTE_GRID}}
    ch = vs._lead2_switch_choice(y, rec, [["a"], ["b"]], rows, LABELS)
    assert ch["chosen"] == {"r": 1.0, "w": 0.15} and len(ch["points"]) == 6
    rows = {0.0: served, **{k: served for k in rows if k != 0.0}}
    assert vs._lead2_switch_choice(y, rec, [["a"], ["b"]], rows, LABELS)["chosen"] is None


def test_the_lead2_hooks_vote_each_fold_at_its_own_weight():
    """_lead2_hooks: fold h's rows voted with its lead-2 booster at w_of[h] on its mask (w = 0: the rows unchanged)."""
    p, p2 = np.tile([0.6, 0.1, 0.3, 0.0, 0.0], (4, 1)), np.tile([0.0, 0.0, 1.0, 0.0, 0.0], (4, 1))
    dec = {"parts": [{}, {}]}
    outer = [{42: p2}, {42: p2}]
    hooks = vs._lead2_hooks(dec, outer, {0: 0.0, 1: 0.5}, lambda h, seed: np.array([1, 1, 0, 0]))
    np.testing.assert_array_equal(hooks[0](p, 0, 42), p)
    got = hooks[1](p, 1, 42)
    np.testing.assert_allclose(got[:2], 0.5 * p[:2] + 0.5 * p2[:2])
    np.testing.assert_array_equal(got[2:], p[2:])


def test_the_v62_v_column_vote_moves_only_p_v_and_keeps_the_order_of_the_other_classes():
    """lead2_v_vote (run v62's arm A): P(V) becomes (1 - w) p_V + w p2_V, the row renormalised, so N / S / F keep
    their order; w = 0 returns the rows themselves and a beat off the mask is left exactly as it was."""
    from functools import partial

    v = LABELS.index("V")
    p = np.array([[0.5, 0.3, 0.2, 0.0, 0.0], [0.2, 0.5, 0.3, 0.0, 0.0], [0.3, 0.25, 0.45, 0.0, 0.0]])
    p2 = np.array([[0.0, 0.0, 1.0, 0.0, 0.0], [0.9, 0.1, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0]])
    assert vs.lead2_v_vote(p, p2, 0.0, v=v) is p
    got = vs.lead2_v_vote(p, p2, 0.45, v=v)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)
    new_v = 0.55 * p[:, v] + 0.45 * p2[:, v]
    np.testing.assert_allclose(got[:, v], new_v / (1 - p[:, v] + new_v))
    others = [k for k in range(len(LABELS)) if k != v]
    np.testing.assert_allclose(got[:, others] / got[:, others].sum(1, keepdims=True),
                               p[:, others] / p[:, others].sum(1, keepdims=True))
    # the lead-2 booster calls beat 2 S outright: v60's vote makes it S, arm A only lowers its P(V) and MLII's order
    # of the other classes makes it N
    assert vs.lead2_vote(p, p2, 0.45)[2].argmax() == LABELS.index("S") and got[2].argmax() == LABELS.index("N")
    masked = vs.lead2_v_vote(p, p2, 0.45, mask=np.array([True, False, False]), v=v)
    np.testing.assert_array_equal(masked[1:], p[1:])
    np.testing.assert_allclose(masked[0], got[0])
    # run v62 passes it through _lead2_hooks' vote argument
    hooks = vs._lead2_hooks({"parts": [{}]}, [{42: p2}], {0: 0.3}, vote=partial(vs.lead2_v_vote, v=v))
    np.testing.assert_allclose(hooks[0](p, 0, 42), vs.lead2_v_vote(p, p2, 0.3, v=v))


def test_the_v62_agreement_counts_beats_either_lead_calls_n_and_switches_the_vote_per_record():
    """call_agreement: |both N| / |either N| per record (under LEAD2_AGREE_MIN_BEATS such beats: none);
    agreement_mask: the vote on where the agreement is >= a or there is none."""
    n, s, v = LABELS.index("N"), LABELS.index("S"), LABELS.index("V")
    served = np.array([n] * 18 + [v] * 2 + [n] * 20 + [n] * 5 + [v] * 5)
    lead2 = np.array([n] * 18 + [n] * 2 + [n] * 19 + [s] + [n] * 5 + [v] * 5)
    rec = np.array(["a"] * 20 + ["b"] * 20 + ["c"] * 10)
    agree = vs.call_agreement(served, lead2, rec, n)
    assert agree["a"] == 18 / 20 and agree["b"] == 19 / 20 and agree["c"] is None   # c: 5 N beats, under 10
    assert vs.call_agreement(served, lead2, rec, n, min_beats=5)["c"] == 1.0
    mask = vs.agreement_mask(rec, agree, 0.95)
    assert mask.tolist() == [False] * 20 + [True] * 30
    assert vs.agreement_mask(rec, agree, 0.98).tolist() == [False] * 40 + [True] * 10


def test_the_v62_rules_are_committed_alone_and_its_choices_follow_v60s_admission():
    """LEAD2_V62_CHOICE_RULE: arm A each w of its grid against w = 0 (ties: smaller w); arm B each (a, w) (ties:
    smaller w, then higher a); none admissible: the served rows. The rules-only step writes them before any figure."""
    rules = vs.lead2_v62_rules()
    assert rules["grid"]["v_column"]["w"] == [0.0, 0.15, 0.3, 0.45]
    assert rules["grid"]["agreement"] == {"a": [0.95, 0.98, 0.99], "w": [0.0, 0.15, 0.3]}
    assert rules["blind"] is False and rules["arms"] == ["v_column", "agreement"] and rules["min_beats"] == 10
    assert vs.RULES_ONLY["lead2_v62_rules"] == "v62" and "lead2_v62_rules" in vs.NO_DECISION_ROWS
    n, s, v = LABELS.index("N"), LABELS.index("S"), LABELS.index("V")
    y = np.array([n] * 40 + [s] * 10 + [v] * 10 + [n] * 40 + [s] * 10 + [v] * 10)
    rec = np.array(["a"] * 60 + ["b"] * 60)
    groups = [["a"], ["b"]]
    served = np.eye(len(LABELS))[y]
    served[[0, 1, 2, 60, 61]] = np.eye(len(LABELS))[v]
    better = np.eye(len(LABELS))[y]
    worse = better.copy()
    worse[110:112] = np.eye(len(LABELS))[n]                             # group b loses 2 of its 10 V beats
    ch = vs._lead2_weight_choice(y, rec, groups, {0.0: served, 0.15: worse, 0.3: better, 0.45: better}, LABELS,
                                 grid=vs.LEAD2_V_COLUMN_GRID)
    assert ch["chosen_w"] == 0.3 and [q["admissible"] for q in ch["points"]] == [False, True, True]
    rows = {0.0: served, **{(a, w): better for a in vs.LEAD2_AGREE_GRID for w in vs.LEAD2_VOTE_GRID}}
    ch = vs._lead2_switch_choice(y, rec, groups, rows, LABELS, key="a")
    assert ch["chosen"] == {"a": 0.99, "w": 0.15} and len(ch["points"]) == 6 and "a" in ch["points"][0]
    rows = {0.0: served, **{k: worse for k in rows if k != 0.0}}
    assert vs._lead2_switch_choice(y, rec, groups, rows, LABELS, key="a")["chosen"] is None


def test_the_lead2_build_rule_is_v60s_admission_over_all_8_ds1_groups_and_its_committed_choice_follows_it():
    """Session s40: the build rules (committed alone before any figure) take v60's grid, tolerances and arm A; the
    committed key holds the same rules, chose over 8 inner groups covering every DS1 record once, and its w is the
    one its own points give (none admissible: w = 0, nothing served)."""
    import json

    from ecgsl_keras import tasks as tasks_lib
    rules, v60 = vs.lead2_build_rules(), vs.lead2_vote_rules()
    assert rules["grid"] == v60["grid"] and rules["choice_tolerances"] == v60["choice_tolerances"]
    assert rules["arm"] == vs.LEAD2_VOTE_ARMS[0] == "all_beats" and rules["blind"] is False
    assert "lead2_build_rules" in vs.RULES_ONLY and "lead2_build_rules" in vs.NO_DECISION_ROWS
    key = json.loads(vs.OUT.read_text(encoding="utf-8"))[vs.LEAD2_BUILD_KEY]
    assert {k: key[k] for k in rules} == json.loads(json.dumps(rules))
    choice = key["chosen_by_inner_groups"]
    groups = choice["inner_groups"]
    assert len(groups) == 8 and sorted(r for g in groups for r in g) == sorted(tasks_lib.MITDB_DS1)
    assert [q["w"] for q in choice["points"]] == list(vs.LEAD2_VOTE_GRID)
    ok = [q for q in choice["points"] if all(q["checks"].values())]
    assert [q["admissible"] for q in choice["points"]] == [all(q["checks"].values()) for q in choice["points"]]
    best = max(ok, key=lambda q: (round(q["pooled"]["macro_f1_nsvf"], 4), -q["w"]))["w"] if ok else 0.0
    assert key["chosen_w"] == choice["chosen_w"] == best
    assert (key["chosen_w"] == 0.0) == ("served" not in key)
    assert key["chosen_w"] > 0 or key["ship"] is False


def test_the_keep_v_vote_leaves_one_lead_v_calls_as_they_are_and_its_committed_choice_follows_its_rules():
    """Session s40b: the vote keeps a row whose one-lead argmax is V exactly and votes every other row as v60's; the
    rules (committed alone) take v60's grid and tolerances; the committed key's per-fold w is the one its own points
    give, its keep verdict is v60's keep rule on its own paired changes, and no build rule runs unless it is kept."""
    import json

    from ecgsl_keras import tasks as tasks_lib
    v = LABELS.index("V")
    p = np.array([[0.3, 0.1, 0.6, 0.0, 0.0], [0.6, 0.1, 0.3, 0.0, 0.0], [0.2, 0.5, 0.3, 0.0, 0.0]])
    p2 = np.tile([0.0, 1.0, 0.0, 0.0, 0.0], (3, 1))
    assert vs.lead2_vote_keep_v(p, p2, 0.0, v=v) is p
    got = vs.lead2_vote_keep_v(p, p2, 0.3, v=v)
    assert np.array_equal(got[0], p[0]) and np.allclose(got[1:], vs.lead2_vote(p[1:], p2[1:], 0.3))
    got = vs.lead2_vote_keep_v(p, p2, 0.3, mask=np.array([True, False, True]), v=v)
    assert np.array_equal(got[:2], p[:2]) and np.allclose(got[2], 0.7 * p[2] + 0.3 * p2[2])
    rules, v60 = vs.lead2_keep_v_rules(), vs.lead2_vote_rules()
    assert rules["grid"] == v60["grid"] and rules["choice_tolerances"] == v60["choice_tolerances"]
    assert rules["blind"] is False and rules["ship_rule"] == vs.LEAD2_SHIP_RULE
    assert "lead2_keep_v_rules" in vs.RULES_ONLY and "lead2_keep_v_rules" in vs.NO_DECISION_ROWS
    key = json.loads(vs.OUT.read_text(encoding="utf-8"))[vs.LEAD2_KEEP_V_KEY]
    assert {k: key[k] for k in rules} == json.loads(json.dumps(rules))
    groups = []
    for h, choice in key["chosen_by_inner_cv"].items():
        groups += choice["inner_groups"]
        assert [q["w"] for q in choice["points"]] == list(vs.LEAD2_VOTE_GRID)
        assert [q["admissible"] for q in choice["points"]] == [all(q["checks"].values()) for q in choice["points"]]
        ok = [q for q in choice["points"] if q["admissible"]]
        best = max(ok, key=lambda q: (round(q["pooled"]["macro_f1_nsvf"], 4), -q["w"]))["w"] if ok else 0.0
        assert key["chosen_w"][h] == choice["chosen_w"] == best
    # the two outer folds' inner sides: every DS1 record once
    assert len(groups) == 8 and sorted(r for g in groups for r in g) == sorted(tasks_lib.MITDB_DS1)
    assert key["reference_reproduced"] is True
    checks, kept = vs._lead2_keep(key["paired_change"], key["baseline_seed_sd"])
    assert key["checks"] == checks and key["kept"] is kept
    if not any(key["chosen_w"].values()):
        assert all(x["mean"] == 0 for x in key["paired_change"].values())
    assert (key["build"] is None) == (not kept)


def test_v_pp_counts_leaves_out_only_the_named_classes_and_matches_the_metric():
    from ecgsl_keras.evaluation.metrics import per_beat_metrics

    labels = ["N", "S", "V", "F", "Q"]
    y = np.array([2, 2, 2, 3, 3, 0, 4, 1])
    pred = np.array([2, 2, 0, 2, 2, 2, 2, 1])   # 2 true V called V; F, F, N, Q called V; one V called N
    probs = np.eye(5)[pred]
    called = pred == 2
    m = per_beat_metrics(y, probs, labels)
    # the metric counts F and Q called V as false V, and a V called N as a lost V
    assert vs._v_pp_counts(y, called, 2) == round(2 / 6, 4) == round(m["positive_predictivity"]["V"], 4)
    assert abs(m["sensitivity"]["V"] - 2 / 3) < 1e-12
    assert vs._v_pp_counts(y, called, 2, skip=(3,)) == 0.5
    assert vs._v_pp_counts(y, called, 2, skip=(3, 4)) == round(2 / 3, 4)
    assert np.isnan(vs._v_pp_counts(y, np.zeros_like(called), 2))
    assert vs.SOURCES_KEY == "v_false_v_sources" and "false_v_sources" in {s for s, _, _ in vs.STEPS}


def test_the_v63_amplitude_gate_is_vgate_with_r_amplitude_as_its_fourth_column():
    from ecgsl_keras.modeling.stacking import V_GATE_COLUMNS, VGate

    labels = ["N", "S", "V", "F", "Q"]
    pts = vs._amp_points()
    assert len(pts) == 24 and all(set(p) == set(vs.AMP_GRID) for p in pts)
    spec = vs.amplitude_gate_spec(pts[0], {"feature": "f", "threshold": 0.5})
    assert "af_off" not in spec and spec["amplitude"] == 0.3
    gate = vs.AmplitudeGate.from_spec(dict(spec, af_off={"feature": "f", "threshold": 0.5}), labels)
    assert isinstance(gate, VGate) and gate.columns == V_GATE_COLUMNS[:3] + ("r_amplitude_norm", "f")
    # on time, no pause, small R, deep P(V) low: loses V; a large R or a premature beat keeps it
    rows = np.tile([0.2, 0.0, 0.8, 0.0, 0.0], (3, 1))
    ev = np.array([[1.0, 1.0, 0.05, 0.2, 0.0], [1.0, 1.0, 0.05, 1.0, 0.0], [0.6, 1.0, 0.05, 0.2, 0.0]])
    p, fired = gate.apply(rows, np.array([0.05, 0.05, 0.05]), ev)
    assert fired.tolist() == [True, False, False] and p[0].argmax() == 0 and p[1].argmax() == 2
    # the tie prefers the lower t, then the higher premature, the smaller amplitude, af_off on
    q = lambda **k: dict({"pooled": {"V_positive_predictivity": 0.9}, "t": 0.1, "premature": 0.8,  # noqa: E731
                          "amplitude": 0.3, "af_off": False}, **k)
    assert vs._amp_tie(q()) > vs._amp_tie(q(t=0.2)) and vs._amp_tie(q(amplitude=0.3)) > vs._amp_tie(q(amplitude=0.5))
    rules = vs.amplitude_gate_rules()
    assert rules["blind"] is False and rules["choice_tolerances"]["V_sensitivity"] == 0.0
    assert vs.RULES_ONLY["amplitude_gate_rules"] == "v63" and "amplitude_gate_rules" in vs.NO_DECISION_ROWS


def test_the_v64_and_v65_grids_are_library_rules_and_their_ties_prefer_the_most_conservative_point():
    """Runs v64 / v65: every grid point is an entry the library serves (stacking.VTiming, stacking.VFusion); among
    points of equal inner V +P the tie takes the most conservative one; the rules are committed alone."""
    from ecgsl_keras.modeling.stacking import VFusion, VTiming
    af = {"feature": "window_af_afev", "threshold": 31.0}
    timing = vs._grid_points(vs.TIMING_GRID)
    assert len(timing) == 24
    for pt in timing:
        spec = vs.timing_spec(pt, af)
        assert ("af_off" in spec) == pt["af_off"] and VTiming.from_spec(spec, LABELS).to_spec() == spec
    fusion = vs._grid_points(vs.FUSION_GRID)
    assert len(fusion) == 12
    for pt in fusion:
        spec = vs.fusion_spec(pt, af)
        assert spec["to"] == "F" and VFusion.from_spec(spec, LABELS).to_spec() == spec
    same = [dict(q, pooled={"V_positive_predictivity": 0.9}) for q in timing]
    assert {k: max(same, key=vs._timing_tie)[k] for k in ("share", "min_called", "af_off", "premature")} == {
        "share": 0.8, "min_called": 40, "af_off": True, "premature": 0.9}
    better = dict(same[0], pooled={"V_positive_predictivity": 0.91})
    assert max(same + [better], key=vs._timing_tie) is better        # V +P first
    same = [dict(q, pooled={"V_positive_predictivity": 0.9}) for q in fusion]
    assert {k: max(same, key=vs._fusion_tie)[k] for k in ("corr", "width", "median_corr")} == {
        "corr": 0.7, "width": 0.7, "median_corr": 0.5}
    for step, run in (("timing_rules", "v64"), ("fusion_rules", "v65")):
        assert vs.RULES_ONLY[step] == run and step in vs.NO_DECISION_ROWS
    rules = vs.post_rule_rules("v_timing")
    assert rules["blind"] is False and rules["choice_tolerances"]["V_sensitivity"] == 0.0


def test_the_v64_choice_admits_a_point_that_changes_nothing_only_with_ppv_ge():
    """v64 / v65's admission (ppv_ge): a point whose rows equal off's is admissible (pooled V +P not below off's),
    under v55b's rule (ppv above off's) it is not; a point that takes an inner true V is admissible under neither."""
    y = np.array([2, 2, 0, 0])
    rec = np.array(["a", "a", "b", "b"])
    base = np.tile([0.1, 0.1, 0.6, 0.1, 0.1], (4, 1))
    base[3] = [0.6, 0.1, 0.1, 0.1, 0.1]

    def apply(pt):
        p = base.copy()
        if pt["k"] == 1:                       # takes a true V
            p[0] = [0.6, 0.1, 0.1, 0.1, 0.1]
        return p, np.array([pt["k"] == 1, False, False, False])
    grid = [{"k": 0}, {"k": 1}]
    ge = vs._veto_choice(y, rec, [["a"], ["b"]], base, LABELS, None, None, None, grid=grid,
                         tie=lambda q: (q["pooled"]["V_positive_predictivity"], -q["k"]), apply=apply, v_tol=0.0,
                         ppv_ge=True)
    assert [q["admissible"] for q in ge["points"]] == [True, False] and ge["chosen"] == {"k": 0}
    gt = vs._veto_choice(y, rec, [["a"], ["b"]], base, LABELS, None, None, None, grid=grid,
                         tie=lambda q: (q["pooled"]["V_positive_predictivity"], -q["k"]), apply=apply, v_tol=0.0)
    assert gt["chosen"] is None


def test_the_v66_grid_is_vfusion_with_p_wave_and_its_tie_prefers_the_higher_p_wave():
    """Run v66: every FUSION_P_GRID point is a v_fusion entry with p_wave that the library serves; ties go to the
    higher p_wave, then v65's order; the rules are committed alone."""
    from ecgsl_keras.modeling.stacking import VFusion
    af = {"feature": "window_af_afev", "threshold": 31.0}
    grid = vs._grid_points(vs.FUSION_P_GRID)
    assert len(grid) == 16
    for pt in grid:
        spec = vs.fusion_p_spec(pt, af)
        assert spec["p_wave"] == pt["p_wave"] and VFusion.from_spec(spec, LABELS).to_spec() == spec
    same = [dict(q, pooled={"V_positive_predictivity": 0.9}) for q in grid]
    assert {k: max(same, key=vs._fusion_p_tie)[k] for k in ("p_wave", "corr", "width", "median_corr")} == {
        "p_wave": 0.8, "corr": 0.8, "width": 0.85, "median_corr": 0.5}
    assert vs.RULES_ONLY["fusion_p_rules"] == "v66" and "fusion_p_rules" in vs.NO_DECISION_ROWS
    rules = vs.post_rule_rules("v_fusion_p")
    assert rules["blind"] is False and rules["grid"]["p_wave"] == [0.7, 0.8]


def test_the_v67_run_neighbour_rule_turns_a_p_less_early_beat_inside_a_run_of_v_calls():
    """Run v67: a beat called S between two V calls, with no P wave and early, becomes V; with 'both' a beat with
    one V neighbour stays, with 'either' it goes; a beat with the record's P wave, a late beat, a beat in AF and a Q
    call stay; each record is on its own, in time order."""
    t = np.arange(96)
    p_wave = 0.3 * np.exp(-0.5 * ((t - 16) / 2.5) ** 2)
    normal = np.exp(-0.5 * ((t - 32) / 1.5) ** 2) + p_wave
    rng = np.random.default_rng(0)
    # rows out of time order on purpose: times give the order
    kinds = ["N"] * 8 + ["V", "S", "V", "S", "S", "V", "Q", "V"]
    beats = np.stack([normal + 0.01 * rng.normal(size=96) for _ in kinds])
    for i in (8, 9, 10, 11, 13, 14, 15):          # the V calls and the candidates: no P wave
        beats[i] -= p_wave
    beats[12] = normal                            # row 12: the record's P wave
    p = np.tile([0.1, 0.1, 0.1, 0.1, 0.1], (16, 1))
    for i, k in enumerate(kinds):
        p[i, "NSVFQ".index(k)] = 0.6
    pre = np.full(16, 0.7)
    pre[:8] = 1.0
    af = np.zeros(16)
    times = np.arange(16, dtype=float)[::-1]       # reversed: the run is rows 15 .. 8 in time
    rec = np.array(["a"] * 16)
    af_off = {"feature": "window_af_afev", "threshold": 31.0}
    both = vs.RunNeighbour("both", 0.3, 0.9, LABELS, af_off)
    out, fired = both.apply(p, beats, pre, af, times, rec)
    # in time: ... N(7) V(8) S(9) V(10) S(11) S(12) V(13) Q(14) V(15); reversed times put 15 first
    assert np.flatnonzero(fired).tolist() == [9]
    assert out[9].argmax() == LABELS.index("V") and np.isclose(out[9].sum(), 1.0)
    either = vs.RunNeighbour("either", 0.3, 0.9, LABELS, af_off).apply(p, beats, pre, af, times, rec)[1]
    assert np.flatnonzero(either).tolist() == [9, 11]           # 12 has the P wave, 14 is Q
    late = pre.copy()
    late[9] = 1.0
    assert not both.apply(p, beats, late, af, times, rec)[1].any()
    in_af = af.copy()
    in_af[9] = 40.0
    assert not both.apply(p, beats, pre, in_af, times, rec)[1].any()
    split = rec.copy()
    split[10:] = "b"                              # row 9's next beat in time (row 10) is another record's
    assert np.flatnonzero(vs.RunNeighbour("either", 0.3, 0.9, LABELS, af_off).apply(
        p, beats, pre, af, times, split)[1]).tolist() == [9, 11]
    assert not vs.RunNeighbour("both", 0.3, 0.9, LABELS, af_off).apply(p, beats, pre, af, times, split)[1].any()
    assert len(vs._grid_points(vs.RUN_GRID)) == 8 and len(vs._grid_points(vs.RUN_B_GRID)) == 8
    assert vs.RULES_ONLY["run_neighbour_rules"] == "v67" and vs.RULES_ONLY["run_record_rr_rules"] == "v67b"
    assert vs.run_neighbour_rules("v67b")["rule"]["premature_column"] == "pre_rr_norm"
    same = [dict(q, pooled={"V_sensitivity": 0.9}) for q in vs._grid_points(vs.RUN_GRID)]
    assert {k: max(same, key=vs._run_tie)[k] for k in vs.RUN_GRID} == {"neighbour": "both", "p_max": 0.0,
                                                                        "premature": 0.9}


def test_the_v68_neighbour_columns_stay_inside_a_record_in_time_order():
    values = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    rec = np.array(["a", "a", "b", "a", "b"])
    times = np.array([2.0, 0.0, 5.0, 1.0, 4.0])     # record a in time: rows 1, 3, 0; record b: rows 4, 2
    out = vs.neighbour_values(values, rec, times)
    np.testing.assert_array_equal(out[[1, 3, 0], 0], [np.nan, 0.2, 0.4])
    np.testing.assert_array_equal(out[[1, 3, 0], 1], [0.4, 0.1, np.nan])
    np.testing.assert_array_equal(out[[4, 2]], [[np.nan, 0.3], [0.5, np.nan]])


def test_the_v68_rules_are_committed_alone_and_the_tie_prefers_fewer_columns():
    assert vs.RULES_ONLY["context_rules"] == "v68" and "context_rules" in vs.NO_DECISION_ROWS
    rules = vs.context_rules()
    assert rules["blind"] is False and set(rules["arms"]) == {"p_wave", "neighbours", "both"}
    assert rules["arms"]["both"] == [vs.CONTEXT_P_WAVE, *vs.CONTEXT_NEIGHBOURS]
    same = [{"arm": a, "pooled": {"V_f1": 0.9}} for a in vs.CONTEXT_ARMS]
    assert max(same, key=vs._context_tie)["arm"] == "p_wave"
    assert max(same[1:], key=vs._context_tie)["arm"] == "neighbours"
    assert vs._v_f1(0.8, 0.8) == 0.8 and vs._v_f1(0.0, 0.0) == 0.0


def test_the_v69_keep_rule_needs_a_v_se_gain_beyond_the_served_sd_and_no_target_falling_beyond_its_sd():
    sd0 = {"V_sensitivity": 0.002, "V_positive_predictivity": 0.006, "S_sensitivity": 0.011,
           "S_positive_predictivity": 0.008, "macro_f1_nsvf": 0.002}

    def paired(**means):
        return {m: {"mean": means.get(m, 0.0), "sd": 0.001} for m in sd0}
    assert vs.vrun_keep(paired(V_sensitivity=0.003), sd0)[1]
    assert not vs.vrun_keep(paired(V_sensitivity=0.002), sd0)[1]                    # not beyond the sd
    checks, kept = vs.vrun_keep(paired(V_sensitivity=0.01, S_sensitivity=-0.012), sd0)
    assert not kept and not checks["S_sensitivity_within_seed_sd"]
    assert vs.vrun_keep(paired(V_sensitivity=0.01, S_sensitivity=-0.011, macro_f1_nsvf=-0.1), sd0)[1]   # F1 not a target
    assert "before any figure" in vs.VRUN_KEEP_RULE and "--v-run-weight" in vs.VRUN_SETTING


def test_v_in_runs_finds_couplets_and_runs_within_a_record_in_time_order():
    y = np.array([2, 0, 2, 2, 2, 0, 2, 2])
    rec = np.array(["a", "a", "a", "a", "b", "b", "c", "c"])
    t = np.array([3.0, 2.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0])     # record a backwards in the rows
    # a in time: V(3) V(2) N(1) V(0) -> rows 3 and 2 form a couplet, row 0 stands alone; b: one V; c: a couplet
    np.testing.assert_array_equal(vs.v_in_runs(y, rec, t, 2), [False, False, True, True, False, False, True, True])
