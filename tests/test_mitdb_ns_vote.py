"""experiments/mitdb/ns_vote.py (issue 18, session s41): the lead-2 vote on the N / S split only. The split keeps
P(V), P(F), P(Q) and every V / F / Q call, on made-up rows and on the shipped mitdb-beats' probabilities of the
fixture record 208; the choice's tolerances and the keep rule."""
import numpy as np
import pytest

from experiments.mitdb import ns_vote

LABELS = ["N", "S", "V", "F", "Q"]
N, S, V, F, Q = range(5)


def vote(p, p2, w, mask=None):
    return ns_vote.lead2_ns_vote(p, p2, w, mask, n=N, s=S)


def test_the_split_moves_only_n_and_s_and_never_a_v_f_or_q_call():
    p = np.array([[0.60, 0.20, 0.10, 0.05, 0.05],    # N call: its N / S split moves toward p2's
                  [0.30, 0.25, 0.40, 0.05, 0.00],    # V call: kept
                  [0.10, 0.05, 0.05, 0.80, 0.00],    # F call: kept
                  [0.45, 0.15, 0.40, 0.00, 0.00],    # N call, but a 50 / 50 split would hand the call to V: kept
                  [0.50, 0.40, 0.10, 0.00, 0.00]])   # N call; p2 has no N + S mass: kept
    p2 = np.array([[0.10, 0.70, 0.10, 0.05, 0.05],
                   [0.10, 0.80, 0.05, 0.05, 0.00],
                   [0.10, 0.80, 0.05, 0.05, 0.00],
                   [0.40, 0.40, 0.20, 0.00, 0.00],
                   [0.00, 0.00, 1.00, 0.00, 0.00]])
    assert vote(p, p2, 0.0) is p
    got = vote(p, p2, 0.5)
    np.testing.assert_array_equal(got[:, [V, F, Q]], p[:, [V, F, Q]])
    np.testing.assert_allclose(got.sum(1), 1.0)
    np.testing.assert_allclose(got[:, N] + got[:, S], p[:, N] + p[:, S])
    share = 0.5 * 0.2 / 0.8 + 0.5 * 0.7 / 0.8                  # (1 - w) p_S / (p_N + p_S) + w q_S / (q_N + q_S)
    np.testing.assert_allclose(got[0, [N, S]], [0.8 * (1 - share), 0.8 * share])
    assert got[0].argmax() == S                                  # the vote turns this N call into S
    np.testing.assert_array_equal(got[1:], p[1:])
    np.testing.assert_allclose(vote(p, p2, 1.0)[0, S] / 0.8, 0.7 / 0.8)   # w = 1: p2's split
    np.testing.assert_array_equal(vote(p, p2, 0.5, mask=[False] * 5), p)
    with pytest.raises(ValueError, match="differ in shape"):
        vote(p, p2[:, :4], 0.5)


def test_the_split_on_the_shipped_presets_probabilities_of_fixture_record_208(fixtures_dir):
    """mitdb-beats' served average on 2 minutes of fixture record 208 (MLII), split toward its own ECG-SL's N / S
    split (a second real opinion on the same beats): every column but N and S and every call but N <-> S kept."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.serving.inference import load_model

    predictor = load_model("mitdb-beats")
    assert list(predictor.label_names) == LABELS
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    signal = record.lead(None)[: int(120 * record.fs)]
    result = predictor.predict_signal(signal, record.fs)
    p, p2 = (np.asarray(result[k], np.float64) for k in ("ungated_beat_probabilities", "deep_beat_probabilities"))
    calls = p.argmax(1)
    assert (calls == V).sum() > 10                              # 208's V beats: the calls the vote must keep
    for w in (0.15, 0.3, 0.5):
        got = vote(p, p2, w)
        np.testing.assert_array_equal(got[:, [V, F, Q]], p[:, [V, F, Q]])
        np.testing.assert_allclose(got.sum(1), p.sum(1), atol=1e-12)
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
        after = got.argmax(1)
        np.testing.assert_array_equal(after == V, calls == V)
        np.testing.assert_array_equal(after == F, calls == F)
        assert set(after[after != calls]) <= {N, S} and set(calls[after != calls]) <= {N, S}
        moved = np.isin(calls, (N, S)) & np.isin(after, (N, S))
        assert not np.allclose(got[moved, S], p[moved, S])      # the split does move


def test_the_choice_refuses_a_group_losing_more_than_0005_of_s_se():
    y = np.array([N] * 300 + [S] * 200 + [V] * 10 + [N] * 50 + [S] * 20 + [V] * 10)
    rec = np.array(["a"] * 510 + ["b"] * 80)
    groups = [["a"], ["b"]]
    served = np.eye(len(LABELS))[y]
    served[:10] = np.eye(len(LABELS))[V]                         # ten false V in group a at w = 0
    lose2, lose1 = np.eye(len(LABELS))[y], np.eye(len(LABELS))[y]
    lose2[[300, 301]] = np.eye(len(LABELS))[N]                   # group a: 2 of its 200 S lost (0.01)
    lose1[300] = np.eye(len(LABELS))[N]                          # 1 of 200 (0.005)
    ch = ns_vote.ns_weight_choice(y, rec, groups, {0.0: served, 0.15: lose2, 0.3: lose1, 0.5: lose2}, LABELS)
    assert [q["admissible"] for q in ch["points"]] == [False, True, False]
    first = ch["points"][0]
    assert first["checks"]["pooled_macro_f1_up"] and first["group_falls"]["S_sensitivity"][0] == 0.01
    assert ch["chosen_w"] == 0.3
    ch = ns_vote.ns_weight_choice(y, rec, groups, {0.0: served, 0.15: served, 0.3: lose2, 0.5: lose2}, LABELS)
    assert ch["chosen_w"] == 0.0                                 # none admissible: the served recipe


def test_the_keep_rule_asks_s_se_up_beyond_its_spread_and_nothing_else_down():
    sd0 = {"S_sensitivity": 0.011, "S_positive_predictivity": 0.008, "V_sensitivity": 0.001,
           "V_positive_predictivity": 0.005, "macro_f1_nsvf": 0.002}

    def paired(**change):
        return {m: {"mean": change.get(m, 0.0), "sd": 0.002} for m in sd0}
    assert ns_vote.ns_keep(paired(S_sensitivity=0.012), sd0)[1]
    assert not ns_vote.ns_keep(paired(S_sensitivity=0.010), sd0)[1]                      # within its seed sd
    assert not ns_vote.ns_keep(paired(S_sensitivity=0.02, V_sensitivity=-0.0015), sd0)[1]
    assert ns_vote.ns_keep(paired(S_sensitivity=0.02, V_positive_predictivity=-0.004), sd0)[1]
    assert not ns_vote.ns_keep(paired(S_sensitivity=0.02, macro_f1_nsvf=-0.003), sd0)[1]
    assert ns_vote.rules()["grid"]["w"] == [0.0, 0.15, 0.3, 0.5]
    assert ns_vote.NS_TOL["S_sensitivity"] == ns_vote.NS_TOL["V_sensitivity"] == 0.005


def test_the_committed_figures_follow_the_committed_rules():
    """ns_vote_results.json: the nested key repeats the rules-only key written before it, its verdict follows from
    its own per-fold choice and keep checks, and the vote moved no V call below w = 0.5."""
    import json
    from pathlib import Path

    saved = json.loads((Path(ns_vote.__file__).parent / "ns_vote_results.json").read_text(encoding="utf-8"))
    rules, nested = saved[ns_vote.RULES_KEY], saved[ns_vote.NESTED_KEY]
    assert all(nested[k] == v for k, v in rules.items() if k not in ("command", "seconds"))
    for h, ch in nested["chosen_by_inner_cv"].items():
        ok = [q["w"] for q in ch["points"] if q["admissible"]]
        assert ch["chosen_w"] == nested["chosen_w"][h] and (ch["chosen_w"] in ok or (not ok and ch["chosen_w"] == 0))
    if not any(nested["chosen_w"].values()):
        assert nested["seed_spread"] == nested["served_seed_spread"] and not nested["kept"] and nested["build"] is None
    assert nested["kept"] == all(nested["checks"].values()) or not any(nested["chosen_w"].values())
    for w in ("0.15", "0.3"):
        assert nested["forced"][w]["v_calls_through_rules"]["took_V"] == {"N": 0.0, "S": 0.0, "V": 0.0, "F": 0.0}
        assert nested["forced"][w]["v_calls_through_rules"]["made_V"] == {"N": 0.0, "S": 0.0, "V": 0.0, "F": 0.0}
