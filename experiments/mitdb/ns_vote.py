"""Session s41 (issue 18): the lead-2 vote on the N / S split only (not blind). The second lead's booster may move a
beat's probability mass between N and S, never P(V), P(F), P(Q) nor a V / F / Q call.

    python experiments/mitdb/ns_vote.py --work WORK --steps rules        # key v_lead2_ns_vote_rules (no figure)
    python experiments/mitdb/ns_vote.py --work WORK --steps reproduce    # key v_lead2_ns_vote_reproduced
    python experiments/mitdb/ns_vote.py --work WORK --steps nested       # key v_lead2_ns_vote_nested (+ its build)
    python experiments/mitdb/ns_vote.py --work WORK --steps s_sources    # key v_lead2_ns_vote_s_sources (a report)

WORK: a folder holding ``v_sensitivity.py``'s caches (the DS1 table, v_side's per-fold caches, the 96-sample
``step_beats`` cache, v59's lead-2 columns; session s41 used a copy of session s41-vsep's folder). No deep training:
the lead-2 boosters are refitted as runs v60 / s40 / s40b fit them. Results: ``ns_vote_results.json`` beside this
file (last line of stdout: one JSON object).

**Why, and not blind.** Run v60's lead-2 vote, (1 - w) p + w p_lead2 on every class, gained S Se on the left-out
records, but session s40's build over DS1's 8 inner groups took w = 0: the group of 122 / 223 / 230 lost 0.0190 of V
Se, because 223's V beats look normal in V1 and the vote turned some of them away from V. Session s40b kept the
one-lead V calls (not kept: fold 1 took w = 0, the vote's removed false V being fold 1's inner gain), and session s41's
look (``vote_separation.py``) found no label-free test that tells 223's true V from the other records' false V. The
same look found the vote's S gains on 209 and 220. So this vote keeps only the N / S part: it is written after those
figures (v60's left-out rows, s40's inner rows, s40b's, s41's) had been seen, hence **not blind**.

The vote, the grid, the choice rule, the keep rule and the build rule (``NS_VOTE_RULE``, ``NS_GRID``,
``NS_CHOICE_RULE``, ``NS_KEEP_RULE``, ``NS_BUILD_RULE``) were committed with the rules-only key
(``--steps rules``) before any figure of this vote, inner or left out. ``reproduce`` recomputes the committed rows
this run builds on (no new figure): each fold's inner served rows (key ``v_lead2_keep_v_nested``'s
``chosen_by_inner_cv[h].off``), the 8 inner groups' rows (key ``v_lead2_vote_build``'s w = 0) and today's served
left-out rows (key ``v_lead2_keep_v_nested``'s served rows, per seed).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.shared_data import MITDB  # noqa: E402
sys.path.insert(0, str(HERE))

import v_sensitivity as vs  # noqa: E402

log = logging.getLogger("ns_vote")

OUT = HERE / "ns_vote_results.json"
RULES_KEY = "v_lead2_ns_vote_rules"
REPRODUCED_KEY = "v_lead2_ns_vote_reproduced"
NESTED_KEY = "v_lead2_ns_vote_nested"
NS_GRID = (0.15, 0.3, 0.5)   # w; 0 is the served recipe
NS_TOL = {"macro_f1_nsvf": 0.002, "S_sensitivity": 0.005, "V_sensitivity": 0.005}   # an inner group's largest fall
KEEP_UP = "S_sensitivity"
KEEP_WITHIN = ("V_sensitivity", "V_positive_predictivity", "S_positive_predictivity", "macro_f1_nsvf")
NS_VOTE_WHY = (
    "not blind: run v60's vote (every class) gained S Se left out (209, 220), session s40's build took w = 0 (the "
    "group of 122 / 223 / 230 lost 0.0190 of V Se: 223's V look normal in V1), session s40b's keep-V arm was not kept "
    "and session s41's look (key vote_separation_s41) found no label-free test of 223's true V against the vote's "
    "removed false V; this vote keeps only the N / S part, so it cannot touch 223's V (nor remove any false V)")
NS_VOTE_RULE = (
    "the served average p = (1 - d) booster + d ECG-SL (d the fold's deep weight), BEFORE the rules, and the lead-2 "
    "booster's q (run v60's LEAD2_VOTE_BOOSTER_WHAT): P(V), P(F) and P(Q) are kept exactly; the mass p_N + p_S is "
    "split anew, p_S' = (p_N + p_S) * ((1 - w) p_S / (p_N + p_S) + w q_S / (q_N + q_S)), p_N' = (p_N + p_S) - p_S'. "
    "It acts only on a beat whose call (argmax of p) is N or S and whose voted call is N or S too; elsewhere (a V, F "
    "or Q call; a split that would hand the call to V, F or Q; p_N + p_S = 0 or q_N + q_S = 0) the beat keeps p "
    "exactly. So the vote never changes P(V), P(F), P(Q) nor makes or takes a V / F / Q call. Then serving's rules in "
    "serving's order, unchanged: the fold's rhythm gate, the shipped v_gate (with the ECG-SL's P(V)), v_pause and "
    "v_template, each record one signal (a beat the vote moves from N to S may still be turned to V by v_pause or "
    "v_template, as any S call is today: reported, key v_calls_through_rules)")
NS_CHOICE_RULE = (
    "fixed before any figure of this vote: per outer training fold on its 4 inner groups only, on what mitdb-beats "
    "serves today (the inner-4 recipe: the fold's booster seed 42 and the lead-2 booster seed 42, each trained on 3 "
    "inner groups and scored on the held one, averaged with the inner-4 ECG-SL at the fold's deep weight; the vote; "
    "the fold's rhythm gate, the shipped v_gate, v_pause and v_template; each inner record one signal): each w of "
    "NS_GRID (0.15, 0.3, 0.5) is compared with w = 0 (the served inner rows): admissible when the pooled inner macro "
    "F1 (N, S, V, F; 4 decimals) is above w = 0's AND no inner group's S Se nor V Se falls by more than 0.005 (the "
    "brief's tolerance, tighter than s40's 0.01) nor its macro F1 by more than 0.002 (s40's NESTED_MACRO_TOL) (a group "
    "without beats of the class: no test); the admissible w of the highest pooled inner macro F1 (4 decimals; ties: "
    "the smaller w); none admissible: w = 0. Applied to the fold's left-out records with run v60's outer lead-2 "
    "boosters (seeds 42-44, paired with the served booster's seed), the outer ECG-SL, the fold's rhythm gate, the "
    "shipped v_gate, v_pause and v_template; no scored beat's label takes part in any choice")
NS_KEEP_RULE = (
    "fixed before any figure of this vote: against today's served left-out rows (rhythm gate, shipped v_gate, "
    "v_pause, v_template: key v_gate_and_lead2_left_out's v_gate rows = key v_lead2_keep_v_nested's served rows, "
    "recomputed and checked per seed), paired over booster seeds 42-44: kept only if the mean change of S Se is > 0 "
    "and > max(sd of its paired changes, the served rows' seed sd of S Se), AND the mean change of each of V Se, V "
    "+P, S +P and macro F1 (N, S, V, F) >= -(the served rows' seed sd of that measure). Both folds at w = 0: the rows "
    "are the served ones (change 0), not kept. Reported, not decided on: the forced rows (each w on both folds), the "
    "V calls that change through the rules, per-record figures of every DS1 record")
NS_BUILD_RULE = (
    "fixed before any figure of this vote, run only if it is kept: session s40's build (LEAD2_BUILD_RULE's rows) with "
    "this vote and NS_CHOICE_RULE's admission over ALL 8 of DS1's inner groups (both outer folds' inner rows, every "
    "DS1 beat once; w = 0 checked against key v_lead2_vote_build's pooled w = 0 rows): the admissible w of NS_GRID "
    "with the highest pooled macro F1 (ties: the smaller w), none: w = 0 (the preset is not changed). When it takes w "
    "> 0, its served left-out figure: that w on both outer folds (= the forced row) against today's served rows with "
    "NS_KEEP_RULE. Not nested (w chosen on the inner rows of every DS1 record) and not blind. No preset is built here "
    "(out of scope: a two-lead serving path, NS_VOTE_SERVING)")
NS_VOTE_SERVING = (
    "what a build would take (not done here): (1) a second lead beside MLII in Predictor.predict_signal / preprocess "
    "(signal of shape (n, 2) with lead names, or a lead2= argument) and per_beat_features.second_lead_features at the "
    "detected R-peaks (V1; V5 in 114, V4 in 124); (2) a second LightGBM booster in the preset in its own text format "
    "(booster_lead2.txt, never a pickle) trained on all of DS1 with the fold's columns less MLII's shape columns plus "
    "SECOND_LEAD_FEATURE_NAMES, its columns named in stacking.json; (3) a stacking.json entry {lead2_vote: {weight: w, "
    "booster: booster_lead2.txt, columns: [...], split: ['N', 'S']}} applied in StackedClassifier to the average "
    "before the rhythm gate, v_gate, v_pause and v_template, with this module's lead2_ns_vote moved into "
    "ecgsl_keras.modeling.stacking (one place); (4) the preset's metadata declaring the leads it needs, a one-lead "
    "input served as today (w = 0) or refused with a clear error; evaluate --model mitdb-beats reading both leads; "
    "(5) tests: the split on the fixture (208 has MLII and V1), round trip of the entry, a corrupt entry named; "
    "(6) the DS2 check by the issue's owner")


def lead2_ns_vote(p, p2, w: float, mask=None, *, n: int, s: int) -> np.ndarray:
    """``NS_VOTE_RULE``: the N / S split of ``p`` (n, C) moved toward ``p2``'s at weight ``w``; every other column
    kept exactly; a row whose call (argmax) is not N or S before, or would not be after, is returned unchanged, as is
    a row with no N + S mass in ``p`` or ``p2`` or with ``mask`` False. ``w`` = 0 returns ``p`` itself."""
    if w == 0:
        return p
    p, p2 = np.asarray(p, np.float64), np.asarray(p2, np.float64)
    if p.shape != p2.shape:
        raise ValueError(f"the two probability arrays differ in shape: {p.shape} and {p2.shape}")
    mass, mass2 = p[:, n] + p[:, s], p2[:, n] + p2[:, s]
    act = np.isin(p.argmax(-1), (n, s)) & (mass > 0) & (mass2 > 0)
    if mask is not None:
        act &= np.asarray(mask, bool)
    q = p.copy()
    share = (1 - w) * p[act, s] / mass[act] + w * p2[act, s] / mass2[act]
    q[act, s] = mass[act] * share
    q[act, n] = mass[act] - q[act, s]
    lost = act & ~np.isin(q.argmax(-1), (n, s))   # the split would hand the call to V / F / Q: keep the row
    q[lost] = p[lost]
    return q


def ns_weight_choice(y, rec, groups, rows, labels, grid=NS_GRID, tol=None) -> dict:
    """``NS_CHOICE_RULE`` on one set of inner groups: ``rows`` {w: served inner rows} over 0 and ``grid``."""
    tol = NS_TOL if tol is None else tol
    s, v = labels.index("S"), labels.index("V")

    def pooled(sc, p):
        return dict(sc["pooled"], V_positive_predictivity=vs._v_ppv(y, p, v),
                    S_positive_predictivity=vs._v_ppv(y, p, s))
    off = vs._group_scores(y, rows[0.0], rec, groups, labels)
    points = []
    for w in grid:
        sc = vs._group_scores(y, rows[w], rec, groups, labels)
        falls = vs._group_falls(off, sc, tuple(tol))
        checks = {"pooled_macro_f1_up": bool(sc["pooled"]["macro_f1_nsvf"] > off["pooled"]["macro_f1_nsvf"]),
                  **{f"groups_{m}_within": all(f is None or f <= t for f in falls[m]) for m, t in tol.items()}}
        points.append({"w": w, "pooled": pooled(sc, rows[w]), "groups": sc["groups"], "group_falls": falls,
                       "checks": checks, "admissible": all(checks.values())})
    ok = [q for q in points if q["admissible"]]
    best = max(ok, key=lambda q: (round(q["pooled"]["macro_f1_nsvf"], 4), -q["w"])) if ok else None
    return {"off": pooled(off, rows[0.0]), "off_groups": off["groups"], "points": points,
            "chosen_w": 0.0 if best is None else best["w"], "inner_groups": [sorted(map(str, g)) for g in groups]}


def ns_keep(paired, sd0) -> tuple:
    """(checks, kept) of ``NS_KEEP_RULE``: ``paired`` ``v_sensitivity._paired``'s, ``sd0`` the served rows' seed sd."""
    up = paired[KEEP_UP]
    checks = {f"{KEEP_UP}_up_beyond_spread": bool(up["mean"] > 0 and up["mean"] > max(up["sd"], sd0[KEEP_UP])),
              **{f"{m}_within_seed_sd": bool(paired[m]["mean"] >= -sd0[m]) for m in KEEP_WITHIN}}
    return checks, all(checks.values())


def rules() -> dict:
    """The rules (written to the JSON before any figure, and repeated with the figures)."""
    return {"why": NS_VOTE_WHY, "blind": False, "vote_rule": NS_VOTE_RULE, "grid": {"w": [0.0, *NS_GRID]},
            "choice_rule": NS_CHOICE_RULE, "choice_tolerances": NS_TOL, "keep_rule": NS_KEEP_RULE,
            "keep_up": KEEP_UP, "keep_within": list(KEEP_WITHIN), "build_rule": NS_BUILD_RULE,
            "booster_what": vs.LEAD2_VOTE_BOOSTER_WHAT,
            "order": "lead-2 N / S vote (before the rules), rhythm gate, v_gate, v_pause, v_template",
            "reference": f"today's served recipe: key {vs.GATE_AND_LEAD2_KEY}'s v_gate rows",
            "serving_would_need": NS_VOTE_SERVING}


# ---- the rows
def _load(work: Path, mitdb_dir: Path) -> dict:
    table, labels = vs._setup(work, mitdb_dir)
    dec = vs.decision_rows(work, table, labels)
    beats = vs.step_beats(work, mitdb_dir, table)
    spec = vs.preset_spec()
    lead2, _ = vs.step_lead2(work, mitdb_dir, table)
    saved = json.loads(vs.OUT.read_text(encoding="utf-8"))
    vs._shipped_v_gate(spec, saved)
    return {"table": table, "labels": labels, "dec": dec, "beats": beats, "spec": spec, "lead2": lead2,
            "saved": saved, "vote": partial(lead2_ns_vote, n=labels.index("N"), s=labels.index("S"))}


def _inner(d: dict, grid) -> list:
    """Per outer fold, its inner served rows at w = 0 and each w of ``grid`` ('rows' {w: rows}), checked: w = 0 is
    key ``v_lead2_keep_v_nested``'s ``chosen_by_inner_cv[h].off``."""
    folds = []
    ref = d["saved"][vs.LEAD2_KEEP_V_KEY]["chosen_by_inner_cv"]
    for h in range(len(d["dec"]["parts"])):
        f = vs._lead2_gated_inner(d["table"], d["labels"], d["dec"], h, d["beats"], d["spec"], d["lead2"],
                                  {"ns": d["vote"]}, grid=grid)
        y, rec = d["table"]["y"][f["idx"]], d["table"]["record"][f["idx"]]
        off = ns_weight_choice(y, rec, f["groups"], f["rows"]["ns"], d["labels"], grid=())["off"]
        want = ref[str(h)]["off"]
        if any(round(float(off[m]), 4) != want[m] for m in want):
            raise SystemExit(f"fold {h}: the inner w = 0 rows are not key {vs.LEAD2_KEEP_V_KEY}'s: {off} / {want}")
        folds.append(dict(f, y=y, rec=rec))
        log.info("fold %d: inner rows (w = 0 reproduced)", h)
    return folds


def _eight_groups(d: dict, folds: list, grid) -> dict:
    """Both folds' inner rows together (DS1's 8 inner groups), checked: w = 0 is key ``v_lead2_vote_build``'s."""
    idx = np.concatenate([f["idx"] for f in folds])
    rows = {w: np.concatenate([f["rows"]["ns"][w] for f in folds]) for w in (0.0, *grid)}
    y, rec = d["table"]["y"][idx], d["table"]["record"][idx]
    groups = [g for f in folds for g in f["groups"]]
    ch = ns_weight_choice(y, rec, groups, rows, d["labels"], grid=grid)
    want = d["saved"][vs.LEAD2_BUILD_KEY]["chosen_by_inner_groups"]["off"]
    if any(round(float(ch["off"][m]), 4) != want[m] for m in want):
        raise SystemExit(f"the 8 groups' w = 0 rows are not key {vs.LEAD2_BUILD_KEY}'s: {ch['off']} / {want}")
    return {"idx": idx, "y": y, "rec": rec, "rows": rows, "choice": ch}


def _left_out_reference(d: dict) -> dict:
    """Today's served left-out rows, checked per seed against key ``v_lead2_keep_v_nested``'s served rows."""
    import v_gate
    t, labels, dec, spec = d["table"], d["labels"], d["dec"], d["spec"]
    v = labels.index("V")
    entry = spec["v_gate"]
    p_deep_v = np.concatenate([part["p_deep"] for part in dec["parts"]])[:, v]
    sr0 = vs._template_served_rows(t, labels, dec, d["beats"], spec["v_template"])
    before = vs._v_gated_left_out(entry, sr0, p_deep_v, t, d["beats"], labels)
    sc0, spread0 = vs._seed_spread(sr0["y"], before, labels)
    ref = d["saved"][vs.LEAD2_KEEP_V_KEY]
    per_seed0 = vs._per_seed(sc0)
    ok = (all(abs(spread0[m]["mean"] - ref["served_seed_spread"][m]["mean"]) < 1e-9 for m in v_gate.COMPARED)
          and per_seed0 == ref["served_per_seed"])
    if not ok:
        raise SystemExit(f"today's served left-out rows are not key {vs.LEAD2_KEEP_V_KEY}'s served rows")
    return {"sr0": sr0, "before": before, "sc0": sc0, "spread0": spread0, "p_deep_v": p_deep_v,
            "sd0": {m: round(spread0[m]["sd"], 4) for m in v_gate.COMPARED}, "per_seed0": per_seed0}


def step_reproduce(work: Path, mitdb_dir: Path) -> dict:
    """Key ``REPRODUCED_KEY``: the committed rows this run builds on, recomputed (no figure of the vote)."""
    d = _load(work, mitdb_dir)
    folds = _inner(d, grid=())
    eight = _eight_groups(d, folds, grid=())
    ref = _left_out_reference(d)
    return {"what": "the committed rows this run builds on, recomputed before any figure of the vote (each raises "
                    "SystemExit when not reproduced)",
            "inner_per_fold": f"{vs.LEAD2_KEEP_V_KEY}.chosen_by_inner_cv[h].off (4 decimals): reproduced",
            "inner_eight_groups": f"{vs.LEAD2_BUILD_KEY}.chosen_by_inner_groups.off (4 decimals): reproduced",
            "left_out_served": f"{vs.LEAD2_KEEP_V_KEY}.served_seed_spread (1e-9) and served_per_seed: reproduced",
            "inner_w0_pooled": eight["choice"]["off"], "left_out_served_per_seed": ref["per_seed0"]}


def _v_call_audit(y, before, after, labels) -> dict:
    """Beats whose V call differs between ``before`` and ``after`` ({seed: rows}), seed means by true class: what
    reaches V through the rules after the vote (v_pause, v_template act on S calls)."""
    v = labels.index("V")
    out = {}
    for tag, f in (("made_V", lambda b, a: (a == v) & (b != v)), ("took_V", lambda b, a: (a != v) & (b == v))):
        out[tag] = {k: round(float(np.mean([(f(before[s].argmax(-1), after[s].argmax(-1)) & (y == labels.index(k)))
                                            .sum() for s in before])), 1) for k in ("N", "S", "V", "F")}
    return out


def _pre_rule_check(d: dict, outer: list, w_of: dict) -> dict:
    """Before the rules, on the left-out rows: the vote's rows keep every column but N and S and every V / F / Q call
    (checked, SystemExit if not); the beats it moves, by true class (seed means)."""
    from hybrid import BOOSTER_SEEDS
    labels, dec = d["labels"], d["dec"]
    lo0 = vs.left_out_rows(d["table"], labels, dec)
    lo1 = vs.left_out_rows(d["table"], labels, dec, mix=vs._lead2_hooks(dec, outer, w_of, vote=d["vote"]))
    y = np.concatenate([d["table"]["y"][part["scored"]] for part in dec["parts"]])
    n, s = labels.index("N"), labels.index("S")
    other = [i for i in range(len(labels)) if i not in (n, s)]
    moved = {}
    for seed in BOOSTER_SEEDS:
        p, q = lo0[f"mix_s{seed}"], lo1[f"mix_s{seed}"]
        if not (np.array_equal(q[:, other], p[:, other]) and np.allclose(q.sum(1), p.sum(1))
                and np.array_equal(np.where(np.isin(p.argmax(-1), other), p.argmax(-1), -1),
                                   np.where(np.isin(q.argmax(-1), other), q.argmax(-1), -1))):
            raise SystemExit("the N / S vote changed a column or a call it must keep")
        changed = p.argmax(-1) != q.argmax(-1)
        moved[seed] = {k: int((changed & (y == labels.index(k))).sum()) for k in ("N", "S", "V", "F")}
    return {"what": "left-out calls the vote changes before the rules (N <-> S only; checked: P(V), P(F), P(Q) and "
                    "every V / F / Q call kept), by true class", **{str(k): x for k, x in moved.items()}}


def step_nested(work: Path, mitdb_dir: Path) -> dict:
    """Key ``NESTED_KEY``: ``NS_CHOICE_RULE`` per outer fold, ``NS_KEEP_RULE`` and, if kept, ``NS_BUILD_RULE``."""
    import v_gate
    d = _load(work, mitdb_dir)
    t, labels, dec, spec = d["table"], d["labels"], d["dec"], d["spec"]
    nf = range(len(dec["parts"]))
    folds = _inner(d, grid=NS_GRID)
    choice = {}
    for h, f in zip(nf, folds):
        choice[str(h)] = ch = ns_weight_choice(f["y"], f["rec"], f["groups"], f["rows"]["ns"], labels)
        log.info("N / S vote, fold %d: w %s; off %s; points %s", h, ch["chosen_w"], ch["off"]["macro_f1_nsvf"],
                 [(q["w"], q["pooled"]["macro_f1_nsvf"], q["admissible"]) for q in ch["points"]])
    ref = _left_out_reference(d)
    sr0, before, sc0, spread0, sd0 = ref["sr0"], ref["before"], ref["sc0"], ref["spread0"], ref["sd0"]
    y, rec, idx = sr0["y"], sr0["rec"], sr0["idx"]
    outer = vs._lead2_outer(t, labels, dec, d["lead2"])

    def left_out(w_of):
        if not any(w_of.values()):
            return before
        sr = vs._template_served_rows(t, labels, dec, d["beats"], spec["v_template"],
                                      mix=vs._lead2_hooks(dec, outer, w_of, vote=d["vote"]))
        if not np.array_equal(sr["idx"], idx):
            raise SystemExit("the vote's left-out rows are not the served ones")
        return vs._v_gated_left_out(spec["v_gate"], sr, ref["p_deep_v"], t, d["beats"], labels)
    w_of = {h: choice[str(h)]["chosen_w"] for h in nf}
    chosen = left_out(w_of)
    sc1, spread1 = vs._seed_spread(y, chosen, labels)
    paired = vs._paired(sc1, sc0)
    checks, kept = ns_keep(paired, sd0)
    kept = bool(kept and any(w_of.values()))
    log.info("N / S vote: w %s; V Se %.4f -> %.4f, V +P %.4f -> %.4f, S Se %.4f -> %.4f, S +P %.4f -> %.4f; kept %s",
             w_of, *vs._target_means(spread0, spread1), kept)
    records = sorted(set(rec.astype(str)))
    by_record = {"served": vs._record_figures(y, rec, before, labels, records),
                 "chosen": vs._record_figures(y, rec, chosen, labels, records)}
    forced, forced_rows = {}, {}
    for w in NS_GRID:
        forced_rows[w] = rows = left_out({h: w for h in nf})
        scf, spreadf = vs._seed_spread(y, rows, labels)
        forced[str(w)] = {"seed_spread": spreadf, "distance_to_targets": v_gate._distance(spreadf),
                          "paired_change": vs._paired(scf, sc0), "v_calls_through_rules":
                          _v_call_audit(y, before, rows, labels)}
        by_record[f"forced_w{w}"] = vs._record_figures(y, rec, rows, labels, records)
        log.info("forced w %s: S Se %+.4f", w, forced[str(w)]["paired_change"]["S_sensitivity"]["mean"])
    result = {**rules(), "chosen_by_inner_cv": choice, "reference_reproduced": True,
              "served_seed_spread": spread0, "served_distance_to_targets": v_gate._distance(spread0),
              "baseline_seed_sd": sd0, "served_per_seed": ref["per_seed0"],
              "chosen_w": {str(h): w for h, w in w_of.items()}, "seed_spread": spread1,
              "distance_to_targets": v_gate._distance(spread1), "paired_change": paired, "checks": checks,
              "kept": kept, "per_seed": vs._per_seed(sc1),
              "v_calls_through_rules": _v_call_audit(y, before, chosen, labels),
              "pre_rule_moves": _pre_rule_check(d, outer, w_of) if any(w_of.values()) else None,
              "by_record_moved": vs._records_moved(y, rec, before, chosen, labels),
              "forced": {"what": "ablation: each w on both folds whatever the choice; paired against the served rows",
                         **forced},
              "by_record": {"what": "seed means over booster seeds 42-44 (beats) of every DS1 record: served rows, "
                                    "the chosen rows and each forced row", **by_record},
              "left_out_beats": int(len(idx))}
    if not kept:
        return dict(result, build=None, decision="not kept: the served one-lead recipe stays (no build rule run)")
    eight = _eight_groups(d, folds, NS_GRID)
    build, wb = eight["choice"], float(eight["choice"]["chosen_w"])
    log.info("N / S vote build: w %s; off %s; points %s", wb, build["off"]["macro_f1_nsvf"],
             [(q["w"], q["pooled"]["macro_f1_nsvf"], q["admissible"]) for q in build["points"]])
    out = {"chosen_by_inner_groups": build, "chosen_w": wb, "inner_beats": int(len(eight["idx"])),
           "inner_w0_reproduces": f"{vs.LEAD2_BUILD_KEY}.chosen_by_inner_groups.off",
           "inner_by_record_moved": {str(x): vs._records_moved(eight["y"], eight["rec"], {42: eight["rows"][0.0]},
                                                               {42: eight["rows"][x]}, labels) for x in NS_GRID}}
    if wb == 0:
        return dict(result, build=dict(out, ship=False),
                    decision="kept, but the build rule takes w = 0: the preset is not changed")
    scb, spreadb = vs._seed_spread(y, forced_rows[wb], labels)
    pb = vs._paired(scb, sc0)
    bchecks, ship = ns_keep(pb, sd0)
    out["served"] = {"what": "left out, the build's w on both folds against today's served rows (= the forced row)",
                     "seed_spread": spreadb, "distance_to_targets": v_gate._distance(spreadb), "paired_change": pb,
                     "per_seed": vs._per_seed(scb),
                     "by_record_moved": vs._records_moved(y, rec, before, forced_rows[wb], labels)}
    return dict(result, build=dict(out, checks=bchecks, ship=ship),
                decision=(f"kept; the build rule takes w = {wb} and its served figure passes the keep rule: a "
                          "candidate for a two-lead build (not built here: serving_would_need)" if ship else
                          f"kept; the build rule takes w = {wb}, but its served figure fails the keep rule"))


S_SOURCES_KEY = "v_lead2_ns_vote_s_sources"
S_SOURCES_RECORDS = ("201", "207", "209", "220", "223", "118")   # DS1's records with the most S beats
S_SOURCES_WHAT = (
    "a report written after key v_lead2_ns_vote_nested's figures (nothing chosen on it): where run v60's vote gains "
    "the S calls that the N / S split does not. Left out, booster seeds 42-44 (seed means), before any rule: the "
    "served average p, run v60's vote (1 - w) p + w q (lead2_vote) and this N / S split at the same w on both folds; "
    "per record, its true S beats called S by each, and the one-lead call (argmax of p) of the true S beats that v60's "
    "vote calls S and the split does not")


def step_s_sources(work: Path, mitdb_dir: Path) -> dict:
    """Key ``S_SOURCES_KEY``: ``S_SOURCES_WHAT``."""
    from hybrid import BOOSTER_SEEDS
    d = _load(work, mitdb_dir)
    t, labels, dec = d["table"], d["labels"], d["dec"]
    nf = range(len(dec["parts"]))
    outer = vs._lead2_outer(t, labels, dec, d["lead2"])
    lo = vs.left_out_rows(t, labels, dec)
    y = np.concatenate([t["y"][part["scored"]] for part in dec["parts"]])
    rec = np.concatenate([t["record"][part["scored"]] for part in dec["parts"]]).astype(str)
    s = labels.index("S")
    out = {}
    for w in (0.15, 0.3):
        per = {r: [] for r in ("all", *S_SOURCES_RECORDS)}
        for seed in BOOSTER_SEEDS:
            p, q = lo[f"mix_s{seed}"], np.concatenate([outer[h][seed] for h in nf])
            calls = {"one_lead": p.argmax(1), "v60_vote": vs.lead2_vote(p, q, w).argmax(1),
                     "ns_split": d["vote"](p, q, w).argmax(1)}
            for r in per:
                m = (y == s) & (True if r == "all" else rec == r)
                only = m & (calls["v60_vote"] == s) & (calls["ns_split"] != s)
                per[r].append({**{f"{k}_calls_S": int((m & (c == s)).sum()) for k, c in calls.items()},
                               **{f"v60_only_from_{labels[k]}": int((only & (calls["one_lead"] == k)).sum())
                                  for k in range(len(labels))}})
        out[str(w)] = {r: {"S": int(((y == s) & (True if r == "all" else rec == r)).sum()),
                           **{k: round(float(np.mean([x[k] for x in rows])), 1) for k in rows[0]}}
                       for r, rows in per.items()}
        log.info("w %s: %s", w, out[str(w)]["all"])
    return {"what": S_SOURCES_WHAT, "blind": False, "decides_nothing": True, "by_w": out}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--steps", nargs="+", required=True, choices=["rules", "reproduce", "nested", "s_sources"])
    p.add_argument("--mitdb-dir", default=str(MITDB))
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    work, mitdb_dir, out_path = Path(args.work).resolve(), Path(args.mitdb_dir), Path(args.out)
    if not work.is_dir():
        print(f"error: --work {work} is not a folder", file=sys.stderr)
        return 2
    command = "python experiments/mitdb/ns_vote.py " + " ".join(sys.argv[1:] if argv is None else argv)
    steps = {"rules": (RULES_KEY, rules),
             "reproduce": (REPRODUCED_KEY, lambda: step_reproduce(work, mitdb_dir)),
             "nested": (NESTED_KEY, lambda: step_nested(work, mitdb_dir)),
             "s_sources": (S_SOURCES_KEY, lambda: step_s_sources(work, mitdb_dir))}
    summary = {}
    for name in args.steps:
        key, f = steps[name]
        start = time.perf_counter()
        result = f()
        saved = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
        saved[key] = dict(result, command=command, seconds=round(time.perf_counter() - start, 1))
        out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
        summary[key] = result.get("decision", "written")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
