"""experiments/mitdb/v_gate.py (issue 18, run v38): the ECG-SL agreement gate on V, its choice, its keep rule."""
from pathlib import Path

import numpy as np
import pytest

from experiments.mitdb import oof, v_gate

LABELS = ["N", "S", "V", "F", "Q"]
N, V = LABELS.index("N"), LABELS.index("V")


def _rows(*v_probs):
    """Rows whose V probability is given, the rest on N (and a little on S so that renormalising shows)."""
    p = np.zeros((len(v_probs), len(LABELS)))
    p[:, V] = v_probs
    p[:, N] = (1 - p[:, V]) * 0.8
    p[:, 1] = (1 - p[:, V]) * 0.2
    return p


def test_gate_drops_only_on_time_narrow_v_calls_that_ecgsl_does_not_back():
    p = _rows(0.9, 0.9, 0.9, 0.9, 0.9, 0.3)
    rr = np.array([1.0, 0.7, 1.0, 1.0, np.nan, 1.0])       # beat 1 premature, beat 4 RR unknown
    width = np.array([1.0, 1.0, 2.0, 1.0, 1.0, 1.0])       # beat 2 wide
    ecgsl_v = np.array([0.1, 0.1, 0.1, 0.6, 0.1, 0.1])     # beat 3 backed by ECG-SL; beat 5 not called V anyway
    out = v_gate.v_agreement_gate(p, ecgsl_v, rr, width, LABELS, premature=0.9, wide=1.3, t=0.5)
    np.testing.assert_array_equal(out.argmax(-1), [N, V, V, V, V, N])
    assert out[0, V] == 0 and out[0].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(out[0, [N, 1]], [0.8, 0.2])   # the other classes keep their ratios
    np.testing.assert_array_equal(out[1:5], p[1:5])          # untouched rows are the input's
    np.testing.assert_array_equal(out[5], p[5])
    np.testing.assert_array_equal(p[0], _rows(0.9)[0])       # the input is not changed in place


def _table(n_per_group=60, seed=0, records=("100", "101")):
    """Two records (inner groups) of normal beats, true V beats (premature, wide) and normal beats of a second shape
    that the booster calls V (on time, narrow) while ECG-SL does not; a rhythm-gate column that never fires."""
    rng = np.random.default_rng(seed)
    y, rr, width, booster, deep, rec = [], [], [], [], [], []
    for r in records:
        for kind, count in (("N", n_per_group), ("V", 15), ("N2", 15)):
            for _ in range(count):
                y.append(V if kind == "V" else N)
                rr.append(0.6 if kind == "V" else 1.0 + rng.normal(0, 0.02))
                width.append(1.8 if kind == "V" else 1.0)
                booster.append(0.9 if kind in ("V", "N2") else 0.05)
                deep.append(0.9 if kind == "V" else 0.05)
                rec.append(r)
    table = {"X": np.c_[rr, width, np.zeros(len(y))], "y": np.array(y), "record": np.array(rec),
             "columns": np.array(["pre_rr_norm", "qrs_width_norm", "window_af_afev"])}
    part = {"train": np.arange(len(y)), "inner_booster": _rows(*booster), "inner_deep": _rows(*deep)}
    return table, part


def test_choice_takes_the_gate_when_it_helps_both_inner_groups():
    table, part = _table()
    c = {"deep_weight": 0.25, "gate_feature": "window_af_afev", "gate_threshold": 30.0}
    out = v_gate.choose_gate(table, LABELS, c, part, [["100"], ["101"]])
    assert out["uses_gate"]
    f1 = out["inner_macro_f1_nsvf"]
    assert f1["best"]["pooled"] > f1["no_gate"]["pooled"]
    assert out["inner_V_calls"] == {"no_gate": {"V_called": 60, "V_true": 30}, "best": {"V_called": 30, "V_true": 30}}
    # ECG-SL backing the second shape too: nothing for the gate to do, no gate
    part["inner_deep"] = part["inner_booster"]
    assert not v_gate.choose_gate(table, LABELS, c, part, [["100"], ["101"]])["uses_gate"]


def test_choice_over_four_inner_groups_refuses_when_one_falls():
    """Run v39 (--inner-folds 4): the same rule over K groups; one group whose macro F1 falls refuses the gate."""
    records = ("100", "101", "102", "103")
    table, part = _table(records=records)
    c = {"deep_weight": 0.25, "gate_feature": "window_af_afev", "gate_threshold": 30.0}
    groups = [[r] for r in records]
    out = v_gate.choose_gate(table, LABELS, c, part, groups)
    assert out["uses_gate"] and len(out["inner_macro_f1_nsvf"]["best"]["groups"]) == 4
    # on record 103 ECG-SL misses its true V beats: gating there costs V Se, so that group falls and the gate is refused
    m = (table["record"] == "103") & (table["y"] == V)
    part["inner_deep"][m] = _rows(*[0.05] * int(m.sum()))
    table["X"][m] = np.c_[np.full(m.sum(), 1.0), np.full(m.sum(), 1.0), np.zeros(m.sum())]
    refused = v_gate.choose_gate(table, LABELS, c, part, groups)
    f1 = refused["inner_macro_f1_nsvf"]
    assert not refused["uses_gate"]
    assert any(b < n for b, n in zip(f1["best"]["groups"], f1["no_gate"]["groups"]))


def _run(v_pp, v_se=0.86, macro=0.63, s_se=0.77):
    rows = {f"{form}_s{s}": {"macro_f1_nsvf": macro + d, "V_sensitivity": v_se, "V_positive_predictivity": v_pp + d,
                             "S_sensitivity": s_se, "S_positive_predictivity": 0.63, "accuracy": 0.95}
            for form in ("recipe", "v_gate") for s, d in ((42, 0.0), (43, 0.002), (44, -0.002))}
    sd = {k: {"sd": 0.004} for k in v_gate.COMPARED}
    return {"rows": rows, "seed_spread": {"recipe": sd}}


def test_keep_rule():
    base = _run(0.81)
    assert v_gate.compare(base, _run(0.83), "v_gate")["kept"]
    assert not v_gate.compare(base, _run(0.812), "v_gate")["kept"]                     # inside the seed sd
    assert not v_gate.compare(base, _run(0.83, v_se=0.85), "v_gate")["kept"]           # V Se down beyond its sd
    assert not v_gate.compare(base, _run(0.83, macro=0.62), "v_gate")["kept"]          # macro F1 down
    assert not v_gate.compare(base, _run(0.83, s_se=0.75), "v_gate")["kept"]           # S Se down beyond its sd


def test_inner_k_rule_against_the_v38_lever():
    """INNER_K_RULE: against the lever's v_gate rows; macro F1 may fall by up to the lever's seed sd."""
    lever = _run(0.826)
    lever["seed_spread"] = {"v_gate": lever["seed_spread"]["recipe"]}
    kw = {"base_form": "v_gate", "macro_within_sd": True}
    assert v_gate.compare(lever, _run(0.84, macro=0.627), "v_gate", **kw)["kept"]       # macro -0.003 within sd
    assert not v_gate.compare(lever, _run(0.84, macro=0.62), "v_gate", **kw)["kept"]    # macro -0.01 beyond it
    assert not v_gate.compare(lever, _run(0.829), "v_gate", **kw)["kept"]               # V +P inside the seed sd
    assert "lowers NO inner group" in v_gate.INNER_K_RULE


def test_committed_median_file_reads_back_with_its_inner_models():
    path = Path(v_gate.COMMITTED_TO)
    committed = oof.CommittedPredictions(path)
    saved = np.load(path)
    assert saved["outer"].dtype == np.float16 and saved["outer"].shape[1] == len(LABELS)
    assert len(committed.folds) == 2
    assert all(f"inner_heldout{h}" in saved.files for h in range(2))


def test_committed_median_inner4_file_joins_the_median_file():
    """Run v39: the inner-4 beat-minus-median probabilities (float16) sit beside v37's file and join it."""
    path = Path(v_gate.COMMITTED_TO)
    inner = oof.inner_k_path_for(path, 4)
    assert inner.name == "inner4_k2_median.npz" and inner.is_file()
    committed = oof.CommittedPredictions(path)
    assert committed.add_inner(inner) == 4
    assert np.load(inner)["inner4_heldout0"].dtype == np.float16
    assert [len(committed.inner_k_groups[str(h)]) for h in range(2)] == [4, 4]


def test_local_on_time_reads_prematurity_against_the_neighbours():
    """Run v40: on time against the neighbours' median RR; the pause and regularity tests only when asked; NaN in a
    test that is made is no evidence (not on time)."""
    pre = np.array([1.0, 0.7, 1.0, 1.0, np.nan, 0.95])
    post = np.array([1.0, 1.3, 1.4, 1.0, 1.0, 1.0])        # beat 2: a compensatory pause (post/pre 1.4)
    mad = np.array([0.02, 0.02, 0.02, 0.2, 0.02, np.nan])   # beat 3: an irregular neighbourhood (fibrillation)
    np.testing.assert_array_equal(v_gate.local_on_time(pre, post, mad, 0.9), [1, 0, 1, 1, 0, 1])
    np.testing.assert_array_equal(v_gate.local_on_time(pre, post, mad, 0.9, pause=1.25), [1, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(v_gate.local_on_time(pre, post, mad, 0.9, irregular=0.1), [1, 0, 1, 0, 0, 0])


def test_local_gate_drops_only_locally_on_time_narrow_unbacked_v_calls():
    p = _rows(0.9, 0.9, 0.9, 0.9, 0.9)
    x = np.array([[1.0, 1.0, 0.02, 1.0],      # on time, narrow, not backed: dropped
                  [0.7, 1.3, 0.02, 1.0],      # premature against its neighbours: kept
                  [1.0, 1.0, 0.02, 2.0],      # wide: kept
                  [1.0, 1.0, 0.25, 1.0],      # irregular neighbourhood: kept when irregular is tested
                  [1.0, 1.0, 0.02, 1.0]])     # backed by ECG-SL: kept
    ecgsl_v = np.array([0.1, 0.1, 0.1, 0.1, 0.6])
    out = v_gate.v_local_gate(p, ecgsl_v, x, LABELS, premature=0.9, wide=1.3, t=0.5, irregular=0.1)
    np.testing.assert_array_equal(out.argmax(-1), [N, V, V, V, V])
    assert out[0].sum() == pytest.approx(1.0)
    assert v_gate.v_local_gate(p, ecgsl_v, x, LABELS, premature=0.9, wide=1.3, t=0.5).argmax(-1)[3] == N
    assert v_gate.LOCAL_GATE.columns[0] == "pre_rr_local_median_ratio" and len(v_gate.LOCAL_GATE.points()) == 270


def test_rescue_turns_backed_premature_wide_or_paused_non_v_calls_into_v():
    p = _rows(0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9)
    x = np.array([[0.7, 1.3, 0.02, 1.0],      # premature, backed: rescued
                  [1.0, 1.0, 0.02, 2.0],      # wide, backed: rescued
                  [1.0, 1.4, 0.02, 1.0],      # compensatory pause, backed: rescued only when pause is tested
                  [1.0, 1.0, 0.02, 1.0],      # on time, narrow, no pause: left alone
                  [0.7, 1.3, 0.02, 1.0],      # premature but not backed by ECG-SL: left alone
                  [np.nan, np.nan, np.nan, np.nan],   # unknown timing and width: no evidence
                  [1.0, 1.0, 0.02, 1.0]])     # already V: unchanged
    ecgsl_v = np.array([0.8, 0.8, 0.8, 0.8, 0.3, 0.8, 0.8])
    out = v_gate.v_rescue(p, ecgsl_v, x, LABELS, t_high=0.5, premature=0.9, wide=1.3, pause=1.25)
    np.testing.assert_array_equal(out.argmax(-1) == V, [1, 1, 1, 0, 0, 0, 1])
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert (v_gate.v_rescue(p, ecgsl_v, x, LABELS, t_high=0.5, premature=0.9, wide=1.3).argmax(-1) == V)[2] == 0
    assert (v_gate.v_rescue(p, ecgsl_v, x, LABELS, t_high=0.9, premature=0.9, wide=1.3).argmax(-1) == V).sum() == 1
    np.testing.assert_array_equal(out[6], p[6])
    assert len(v_gate.RESCUE_GATE.points()) == 24 and v_gate.RESCUE_GATE.columns == list(v_gate.LOCAL_COLUMNS)
