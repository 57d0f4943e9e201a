"""experiments/mitdb/s_sensitivity.py (issue 18, runs v56-v57): the lost-S diagnosis's committed key adds up, the S
rescue the experiment measures is the library's ``stacking.SPremature`` (the one ``stacking.json``'s ``s_premature``
serves), its choice rule on a constructed inner side, and the committed key carries the rules written before it."""
import json
from pathlib import Path

import numpy as np

from experiments.mitdb import s_sensitivity as ss

LABELS = ["N", "S", "V", "F", "Q"]
AF = {"feature": "window_af_afev", "threshold": 31.0}


def _saved(key):
    return json.loads((Path(ss.__file__).parent / "s_sensitivity_results.json").read_text(encoding="utf-8"))[key]


def test_the_lost_s_diagnosis_adds_up():
    saved = _saved(ss.S_LOST_KEY)
    for seed, d in saved["lost_S_by_seed"].items():
        assert sum(d["by_call"].values()) == sum(d["by_stage"].values()) == d["lost_S"]
        assert sum(r[seed]["lost_S"] for r in saved["by_record_and_seed"].values()) == d["lost_S"]
        assert abs(d["S_sensitivity"] - (1 - d["lost_S"] / saved["true_S"])) < 1e-4
    s_se = np.mean([d["S_sensitivity"] for d in saved["lost_S_by_seed"].values()])
    assert abs(s_se - saved["seed_spread"]["S_sensitivity"]["mean"]) < 1e-4
    bound = saved["s_sensitivity_bound"]["cumulative_over_ranked"]
    assert all(a["S_sensitivity"] <= b["S_sensitivity"] for a, b in zip(bound, bound[1:]))


def test_the_rescue_is_the_library_rule_and_the_choice_rule_is_the_scripts():
    from ecgsl_keras.modeling.stacking import S_PREMATURE_COLUMNS, SPremature

    rule = ss.s_rule(LABELS, AF, ["N"], 0.2, 0.8)
    assert isinstance(rule, SPremature) and rule.columns == S_PREMATURE_COLUMNS + ("window_af_afev",)
    assert len(ss._s_points()) == 12
    # an inner side of two groups: record "a" holds premature S called N with P(S) 0.3 (a gain), record "b" premature
    # N beats with P(S) 0.15 (false S at p_s 0.1 only); every point above p_s 0.15 is admissible, the highest S Se wins
    n = 40
    y = np.zeros(n, np.int64)                            # a: 20 N then 10 S; b: 10 N
    y[20:30] = 1
    rec = np.array(["a"] * 30 + ["b"] * 10)
    p = np.tile([0.9, 0.05, 0.03, 0.01, 0.01], (n, 1))
    p[20:30] = [0.6, 0.3, 0.05, 0.03, 0.02]              # a's S, called N
    p[30:] = [0.75, 0.15, 0.05, 0.03, 0.02]              # b's N, P(S) 0.15
    cols = np.column_stack([np.where(np.arange(n) >= 20, 0.7, 1.0), np.zeros(n)])
    ch = ss._s_choice(y, rec, [["a"], ["b"]], p, LABELS, cols, AF)
    assert ch["chosen"] == {"calls": ["N"], "p_s": 0.3, "premature": 0.8}   # ties: the higher p_s, lower premature, (N)
    low = [q for q in ch["points"] if q["p_s"] == 0.1]
    assert all(not q["admissible"] and q["fired"]["other"] == 10 for q in low)


def test_the_committed_rescue_key_carries_its_rules():
    saved = _saved(ss.S_NESTED_KEY)
    assert saved["choice_rule"] == ss.S_CHOICE_RULE and saved["keep_rule"] == ss.S_KEEP_RULE
    assert saved["build_rule"] == ss.S_BUILD_RULE and saved["ship_rule"] == ss.S_SHIP_RULE
    assert saved["blind"] is False and saved["served_reproduced"] is True
    assert saved["kept"] == all(saved["checks"].values())
    assert ("build" in saved) == saved["kept"]
    for h, ch in saved["chosen_by_inner_cv"].items():
        assert saved["chosen"][h] == ch["chosen"] and (ch["chosen"] is None) == (not any(
            q["admissible"] for q in ch["points"]))
