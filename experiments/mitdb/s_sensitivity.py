"""Run v56 (issue 18): where the served ``mitdb-beats`` recipe's lost S beats go (a diagnosis, no lever), and run v57:
an S lever it points to, chosen per outer fold on the training side only.

    python experiments/mitdb/s_sensitivity.py --work WORK --steps s_lost       # key s_lost_diagnosis (run v56)
    python experiments/mitdb/s_sensitivity.py --work WORK --steps s_nested     # key s_premature_nested (run v57)
    python experiments/mitdb/s_sensitivity.py --work WORK --steps s_pause_look # key s_pause_training_look

WORK: a work folder holding v_gate.py's caches (``beats_preset/table.npz``, ``v_side_left_out_k2_median/``,
``v_side_left_out_k2/``, ``v_sensitivity/beats.npz``), as ``v_sensitivity.py`` reads them (a copy of session
s35-mitdb-veto's folder was used; no training). Results: ``experiments/mitdb/s_sensitivity_results.json`` (last line of
stdout: one JSON object). The helpers (rows, scores, inner recipe) are ``v_sensitivity.py``'s, imported, not copied.

The rows scored: ``v_template_served_left_out``'s (``v_sensitivity._template_served_rows``): v37's booster + ECG-SL
average, the rhythm gate (each fold's threshold), no V gate, then the shipped ``v_pause`` and ``v_template`` as
serving loads them, each left-out record one signal, booster seeds 42-44, 2 folds of whole DS1 records (recomputed and
checked against that key of ``v_sensitivity_results.json``).

``s_lost`` (run v56, key ``s_lost_diagnosis``; ``S_LOST_WHAT``): a diagnosis, not a lever (no choice, no keep rule,
the preset unchanged). Every true S beat the served recipe does not call S (a lost S), per record and seed: what it
is called (N / V / F / Q); the stage that lost it ('mix': the booster + deep average's argmax is not S; 'gate': the
mix called S and the rhythm gate moved it to N; 'v_pause' / 'v_template': the rule turned the S call to V); which
model alone calls S (``both`` / ``booster_only`` / ``deep_only`` / ``neither``); its RR evidence (pre RR / the
record's average RR ``pre_rr_norm``, pre RR / the local median ``pre_rr_local_median_ratio``, post RR / pre RR
``post_pre_ratio``), whether it lies in AF by the preset's gate evidence (``window_af_afev`` > 31), in a run of S (a
true S neighbour, labels: a diagnosis figure), its QRS width over the median beat's, its correlation with the record's
median beat, and the deep / booster / mix P(S). For the top records and pooled (seed 42): the lost S against the
record's caught S and against its N beats called N (quantiles and AUC per column; label-using, diagnosis only). The
bound: which records hold most lost S, and what the served S Se would be were each record's lost S (and the top
records' cumulatively) all recovered with nothing else changed.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.shared_data import MITDB  # noqa: E402
sys.path.insert(0, str(HERE))

import v_sensitivity as vs  # noqa: E402  (the shared helpers: rows, scores, the inner recipe)

log = logging.getLogger("experiments.mitdb.s_sensitivity")

OUT = HERE / "s_sensitivity_results.json"

# ---- run v56 (key s_lost_diagnosis): a diagnosis, no lever and no keep decision.
S_LOST_KEY = "s_lost_diagnosis"
S_LOST_WHAT = (
    "a diagnosis, not a lever (no choice, no keep rule, the preset unchanged): on the served recipe's left-out rows "
    "(v_template_served_left_out's: v37's booster + ECG-SL average, rhythm gate, no V gate, the shipped v_pause, then "
    "the shipped v_template; recomputed and checked against that key), booster seeds 42-44, every true S beat not "
    "called S (a lost S) by record, final call and the stage that lost it: 'mix' (the booster + deep average's argmax "
    "before any rule is not S), 'gate' (the mix called S, the rhythm gate moved it to N), 'v_pause' / 'v_template' (the "
    "rule turned the S call to V); by which model alone calls S ('both', 'booster_only', 'deep_only', 'neither'). The "
    "evidence of each lost S (pre RR / the record's average RR, pre RR / the local median, post / pre RR, in AF by the "
    "preset's gate evidence, in a run of S (a true S neighbour: labels, diagnosis only), QRS width / the median beat's, "
    "correlation with the median beat, the deep / booster / mix P(S)); for the top records and pooled (seed 42) against "
    "the record's caught S and its N beats called N: quantiles and the AUC of each column (P(a lost S's value > the "
    "other's); 0.5: no separation). The bound: the served S Se (mean over seeds) were the named records' lost S all "
    "recovered and nothing else changed (per record and cumulative over the ranked records)")
S_LOST_TOP = 6   # records described in full, by mean lost S over the seeds
# the evidence columns of a lost S (per_beat_features names), in this order
S_EVIDENCE = ("pre_rr_norm", "pre_rr_local_median_ratio", "post_pre_ratio", "qrs_width_norm", "median_corr",
              "window_af_afev")
NARROW = 1.15      # v_sensitivity.NARROW: QRS width / the median beat's at most this is narrow (a bin, not a lever)
PREMATURE = 0.9    # pre RR / the record's average RR below this: premature against the patient's own rhythm (a bin)


def _s_in_run(y, rec, s) -> np.ndarray:
    """(n,) bool: a true S neighbour in the same record (labels; a diagnosis figure only)."""
    iss = y == s
    out = np.zeros(len(y), bool)
    out[1:] |= iss[:-1] & (rec[1:] == rec[:-1])
    out[:-1] |= iss[1:] & (rec[:-1] == rec[1:])
    return out


def _counts(values) -> dict:
    return {str(k): int(c) for k, c in zip(*np.unique(values, return_counts=True))}


def step_s_lost(table, labels, dec, beats) -> dict:
    """Key ``s_lost_diagnosis`` (run v56): ``S_LOST_WHAT``."""
    import v_gate
    from beats_preset import _columns_of
    from hybrid import BOOSTER_SEEDS

    saved = json.loads(vs.OUT.read_text(encoding="utf-8"))
    reference = saved[vs.TEMPLATE_SERVED_KEY]
    sr = vs._template_served_rows(table, labels, dec, beats, reference["v_template"])
    y, rec, idx = sr["y"], sr["rec"], sr["idx"]
    sc, spread = vs._seed_spread(y, sr["templated"], labels)
    if not all(abs(spread[m]["mean"] - reference["seed_spread"][m]["mean"]) < 1e-9 for m in v_gate.COMPARED):
        raise SystemExit(f"the served rows are not key {vs.TEMPLATE_SERVED_KEY}'s")
    rows = vs.left_out_rows(table, labels, dec)
    s = labels.index("S")
    af_threshold = sr["vote"].af_off["threshold"]
    ev = {name: _columns_of(table, [name])[idx, 0] for name in S_EVIDENCE}
    with np.errstate(invalid="ignore"):
        in_af = ev["window_af_afev"] > af_threshold
    in_run = _s_in_run(y, rec, s)
    deep_s = rows["deep"].argmax(-1) == s
    name = lambda k: labels[int(k)]   # noqa: E731
    true_s = y == s
    n_s = int(true_s.sum())
    per_seed, by_record, stage_of, lost_of = {}, {}, {}, {}
    for seed in BOOSTER_SEEDS:
        mix, recipe, paused, final = (rows[f"mix_s{seed}"], rows[f"recipe_s{seed}"], sr["served"][seed],
                                      sr["templated"][seed])
        final_s = final.argmax(-1) == s
        lost = true_s & ~final_s
        stage = np.full(len(y), "", dtype=object)
        stage[mix.argmax(-1) != s] = "mix"
        took = (mix.argmax(-1) == s)
        stage[took & (recipe.argmax(-1) != s)] = "gate"
        stage[took & (recipe.argmax(-1) == s) & (paused.argmax(-1) != s)] = "v_pause"
        stage[took & (paused.argmax(-1) == s) & ~final_s] = "v_template"
        boost_s = rows[f"booster_s{seed}"].argmax(-1) == s
        model = np.where(boost_s & deep_s, "both", np.where(boost_s, "booster_only",
                                                            np.where(deep_s, "deep_only", "neither")))
        stage_of[seed], lost_of[seed] = stage, lost
        with np.errstate(invalid="ignore"):
            premature = ev["pre_rr_norm"] < PREMATURE
            narrow = ev["qrs_width_norm"] <= NARROW
        per_seed[str(seed)] = {
            "lost_S": int(lost.sum()), "true_S": n_s, "S_sensitivity": round(float(1 - lost.sum() / n_s), 4),
            "by_call": {name(k): int(c) for k, c in zip(*np.unique(final[lost].argmax(-1), return_counts=True))},
            "by_stage": _counts(stage[lost]), "by_model_calling_S": _counts(model[lost]),
            "by_call_stage": vs._pair_counts(final[lost].argmax(-1), stage[lost], labels),
            "in_af": int((lost & in_af).sum()), "in_s_run": int((lost & in_run).sum()),
            "premature": int((lost & premature).sum()), "narrow": int((lost & narrow).sum()),
            "narrow_premature_outside_af_called_N": int((lost & narrow & premature & ~in_af
                                                         & (final.argmax(-1) == labels.index("N"))).sum())}
        for r in np.unique(rec[true_s]):
            m = rec == r
            lm = lost & m
            by_record.setdefault(str(r), {})[str(seed)] = {
                "true_S": int((true_s & m).sum()), "lost_S": int(lm.sum()),
                "S_called_false": int((final_s & m & ~true_s).sum()),
                "by_call": {name(k): int(c) for k, c in zip(*np.unique(final[lm].argmax(-1), return_counts=True))},
                "by_stage": _counts(stage[lm]), "by_model_calling_S": _counts(model[lm]),
                "in_af": int((lm & in_af).sum()), "in_s_run": int((lm & in_run).sum()),
                "premature": int((lm & premature).sum()), "narrow": int((lm & narrow).sum())}

    def mean_of(d, key):
        return round(float(np.mean([d.get(str(seed), {}).get(key, 0) for seed in BOOSTER_SEEDS])), 1)
    total = float(np.mean([per_seed[str(seed)]["lost_S"] for seed in BOOSTER_SEEDS]))
    ranked = sorted(by_record, key=lambda r: -mean_of(by_record[r], "lost_S"))
    record_table = [{"record": r, "true_S": by_record[r][str(BOOSTER_SEEDS[0])]["true_S"],
                     "lost_S_mean": mean_of(by_record[r], "lost_S"),
                     "share": round(mean_of(by_record[r], "lost_S") / total, 3),
                     "S_sensitivity_if_recovered": round(float(np.mean([
                         (n_s - per_seed[str(seed)]["lost_S"] + by_record[r][str(seed)]["lost_S"]) / n_s
                         for seed in BOOSTER_SEEDS])), 4),
                     "false_S_mean": mean_of(by_record[r], "S_called_false")}
                    for r in ranked if mean_of(by_record[r], "lost_S") > 0]

    def bound(records) -> float:
        return round(float(np.mean([(n_s - per_seed[str(seed)]["lost_S"]
                                     + sum(by_record[r][str(seed)]["lost_S"] for r in records)) / n_s
                                    for seed in BOOSTER_SEEDS])), 4)
    ranked_top = [row["record"] for row in record_table]
    cumulative = [{"records": ranked_top[:k], "S_sensitivity": bound(ranked_top[:k])}
                  for k in range(1, len(ranked_top) + 1)]
    needed = next((c for c in cumulative if c["S_sensitivity"] >= 0.80), None)

    # the evidence of the lost S against the record's caught S and its N called N (seed 42; label-using)
    seed = BOOSTER_SEEDS[0]
    final = sr["templated"][seed]
    n_k = labels.index("N")
    feats = dict(ev, p_s_deep=rows["deep"][:, s], p_s_booster=rows[f"booster_s{seed}"][:, s],
                 p_s_mix=rows[f"mix_s{seed}"][:, s])

    def evidence(m) -> dict:
        lost = lost_of[seed] & m
        caught = true_s & m & (final.argmax(-1) == s)
        normal = m & (y == n_k) & (final.argmax(-1) == n_k)
        return {"lost_S": int(lost.sum()), "caught_S": int(caught.sum()), "N_called_N": int(normal.sum()),
                "lost_in_s_run": round(float(in_run[lost].mean()), 3) if lost.any() else None,
                "lost_in_af": round(float(in_af[lost].mean()), 3) if lost.any() else None,
                "columns": {k: {"lost_S": vs._q(x[lost]), "caught_S": vs._q(x[caught]), "N_called_N": vs._q(x[normal]),
                                "auc_lost_over_caught": vs._auc(x[lost], x[caught]),
                                "auc_lost_over_N": vs._auc(x[lost], x[normal])} for k, x in feats.items()}}
    top = {r: dict(evidence(rec == r), lost_by_call_stage=by_record[r][str(seed)]) for r in ranked_top[:S_LOST_TOP]}
    pooled = evidence(np.ones(len(y), bool))
    stages = sorted({k for d in per_seed.values() for k in d["by_stage"]})
    calls = sorted({k for d in per_seed.values() for k in d["by_call"]})
    models = sorted({k for d in per_seed.values() for k in d["by_model_calling_S"]})
    shares = {part: {k: round(float(np.mean([per_seed[str(x)][key].get(k, 0) for x in BOOSTER_SEEDS]) / total), 3)
                     for k in keys}
              for part, key, keys in (("stage", "by_stage", stages), ("call", "by_call", calls),
                                      ("model_calling_S", "by_model_calling_S", models))}
    for k in ("in_af", "in_s_run", "premature", "narrow", "narrow_premature_outside_af_called_N"):
        shares[k] = round(float(np.mean([per_seed[str(x)][k] for x in BOOSTER_SEEDS]) / total), 3)
    result = {"what": S_LOST_WHAT, "reference_key": vs.TEMPLATE_SERVED_KEY, "reference_reproduced": True,
              "bins": {"narrow": NARROW, "premature_pre_rr_norm": PREMATURE, "af_threshold": af_threshold},
              "seed_spread": spread, "distance_to_targets": v_gate._distance(spread),
              "true_S": n_s, "lost_S_by_seed": per_seed, "lost_S_mean": round(total, 1), "shares": shares,
              "records_ranked": record_table, "by_record_and_seed": by_record,
              "s_sensitivity_bound": {"what": "the served S Se (mean over seeds) were the named records' lost S all "
                                              "recovered and nothing else changed: an upper bound of what recovering "
                                              "them can give, not a lever's figure",
                                      "per_record": {row["record"]: row["S_sensitivity_if_recovered"]
                                                     for row in record_table},
                                      "cumulative_over_ranked": cumulative,
                                      "fewest_records_reaching_target": needed,
                                      "all_but_the_first": {"records": ranked_top[1:],
                                                            "S_sensitivity": bound(ranked_top[1:])}},
              "top_records_evidence_seed42": top, "all_records_evidence_seed42": pooled}
    log.info("lost S %.1f per seed of %d; shares %s; ranked %s", total, n_s, shares, record_table[:S_LOST_TOP])
    return result


# ---- run v57 (key s_premature_nested): the premature-beat S rescue, chosen per outer fold on its inner groups. Grid,
# choice, keep, build and ship rules written here (and in the JSON) BEFORE any figure of the rescue.
S_NESTED_KEY = "s_premature_nested"
S_GRID = {"calls": (("N",), ("N", "F")), "p_s": (0.1, 0.2, 0.3), "premature": (0.8, 0.9)}
S_MACRO_TOL = 0.002   # v43's CHOICE_TOL / v48's NESTED_MACRO_TOL: about one S / V beat of an inner group
S_TARGET_PPV = 0.60   # issue 18's S +P target (met by the served recipe: 0.656)
S_WHY = (
    "not blind: run v56's left-out look (key s_lost_diagnosis) found every lost S lost in the booster + ECG-SL mix (no "
    "rule takes S away); outside record 201 (S beats called V by both models, mix P(S) ~0.02: not reachable from P(S)) "
    "the lost S of 209 / 223 / 207 / 220 are premature against their record's average RR (pre_rr_norm 0.56-0.89) and "
    "called N or F with a mix P(S) of 0.2-0.45 against ~0.01 on the record's N called N (AUC 0.97-1.00). The grid, "
    "choice, keep, build and ship rules were written before any figure of the rescue (training side or left out)")
S_CHOICE_RULE = (
    "fixed before any figure of run v57 (training side or left out): per outer training fold on its 4 inner groups "
    "only. The inner base is what mitdb-beats serves (v53's: the inner-4 recipe of the fold, the booster of the fold's "
    "set and size seed 42 trained on 3 groups and scored on the held one averaged with the inner-4 ECG-SL "
    "probabilities at the fold's deep weight, the fold's rhythm gate, NO V gate, then the preset's shipped v_pause and "
    "v_template entries as serving loads them), each inner record counted on its own. The rescue (the library's "
    "stacking.SPremature, stacking.json's s_premature; AF by the preset's rhythm gate, window_af_afev > 31): a beat "
    "called one of calls with P(S) >= p_s and pre_rr_norm < premature, outside AF, becomes S. Grid S_GRID: calls (N) / "
    "(N, F) x p_s 0.1 / 0.2 / 0.3 x premature 0.8 / 0.9 (12 points) and off. A point is admissible when its pooled inner "
    "S Se (4 decimals) is above off's AND no inner group's macro F1 (N, S, V, F) falls by more than 0.002 AND the "
    "pooled inner V Se and V +P (4 decimals) are not below off's. The admissible point of the highest pooled inner S "
    "Se is taken; ties: the higher p_s, then the lower premature, then calls (N) (each the more conservative); none "
    "admissible: off. Applied to the fold's left-out records on the served recipe's left-out rows (booster seeds "
    "42-44); no scored beat takes part in any choice")
S_KEEP_RULE = (
    "fixed before any figure of run v57 (LEVER_KEEP_RULE's form with S Se the measure to raise): against the served "
    "recipe's left-out rows (v_template_served_left_out's: v37's recipe, rhythm gate, no V gate, the shipped v_pause "
    "and v_template; recomputed and checked against that key), paired over booster seeds 42-44: kept only if the mean "
    "change of S Se > 0 and > max(sd of the paired changes, the served rows' seed sd of S Se), the mean change of "
    "every other measure (S +P, V Se, V +P, macro F1 (N, S, V, F), accuracy) >= -(the served rows' seed sd of that "
    "measure), and the mean S +P >= 0.60 (its target). Not kept: the served recipe stays, no build")
S_BUILD_RULE = (
    "fixed before any figure of run v57, used only if S_KEEP_RULE keeps the rescue: the entry a build writes is "
    "S_CHOICE_RULE's pick over ALL 8 of DS1's inner groups (both outer folds' served inner rows together, every DS1 "
    "beat once, each scored by inner models that never trained on its record), AF by the preset's rhythm gate; none "
    "admissible: no entry")
S_SHIP_RULE = (
    "fixed before any figure of run v57, used only if S_BUILD_RULE takes an entry: the entry ships in mitdb-beats "
    "(beats_preset.py --s-premature; model.keras and the booster byte-identical) only if, on the served recipe's "
    "left-out rows with the entry as serving applies it (SPremature.from_spec(...).apply, every left-out record), "
    "paired over booster seeds 42-44 against the same rows without it: the mean change of S Se > 0 AND, for each of S "
    "+P, V Se, V +P and macro F1 (N, S, V, F), the mean change >= -(that metric's seed sd on the served rows) AND the "
    "mean S +P >= 0.60. Otherwise the preset is left unchanged")
S_SHIP_GUARDED = ("S_positive_predictivity", "V_sensitivity", "V_positive_predictivity", "macro_f1_nsvf")


def _s_points() -> list:
    return [{"calls": list(c), "p_s": t, "premature": r} for c in S_GRID["calls"] for t in S_GRID["p_s"]
            for r in S_GRID["premature"]]


def s_rule(labels, af_off, calls, p_s, premature):
    """The library's rescue (``stacking.SPremature``: the one ``stacking.json``'s ``s_premature`` serves)."""
    from ecgsl_keras.modeling.stacking import SPremature
    return SPremature(list(calls), float(p_s), float(premature), labels, af_off=af_off)


def _pooled_v(y, p, v) -> dict:
    called, true = p.argmax(-1) == v, y == v
    return {"V_sensitivity": round(float((called & true).sum() / max(int(true.sum()), 1)), 4),
            "V_positive_predictivity": round(float((called & true).sum() / max(int(called.sum()), 1)), 4)}


def _s_ppv(y, p, s) -> float:
    called = p.argmax(-1) == s
    return round(float((called & (y == s)).sum() / max(int(called.sum()), 1)), 4)


def _s_firings(mask, y, rec, labels) -> dict:
    """``v_sensitivity._firings`` of the rescue (the beats it turned to S): true S, others, per record per class."""
    f = vs._firings(mask, y, rec, labels, labels.index("S"))
    return {"true_S": f["true_V"], "other": f["other"], "by_record": f["by_record"]}


def _s_choice(y, rec, groups, base, labels, cols, af_off) -> dict:
    """``S_CHOICE_RULE`` on one inner side (``base``: the served inner rows; ``cols``: the rule's evidence)."""
    s, v = labels.index("S"), labels.index("V")
    off = vs._group_scores(y, base, rec, groups, labels)
    off["pooled"].update(_pooled_v(y, base, v), S_positive_predictivity=_s_ppv(y, base, s))
    points = []
    for pt in _s_points():
        pi, fired = s_rule(labels, af_off, **pt).apply(base, cols)
        sc = vs._group_scores(y, pi, rec, groups, labels)
        sc["pooled"].update(_pooled_v(y, pi, v), S_positive_predictivity=_s_ppv(y, pi, s))
        falls = vs._group_falls(off, sc, ("macro_f1_nsvf", "S_sensitivity"))
        admissible = bool(sc["pooled"]["S_sensitivity"] > off["pooled"]["S_sensitivity"]
                          and all(f <= S_MACRO_TOL for f in falls["macro_f1_nsvf"])
                          and sc["pooled"]["V_sensitivity"] >= off["pooled"]["V_sensitivity"]
                          and sc["pooled"]["V_positive_predictivity"] >= off["pooled"]["V_positive_predictivity"])
        points.append({**pt, "pooled": sc["pooled"], "groups": sc["groups"], "group_falls": falls,
                       "admissible": admissible, "fired": _s_firings(fired, y, rec, labels)})

    def key(q):
        return (q["pooled"]["S_sensitivity"], q["p_s"], -q["premature"], -len(q["calls"]))
    ok = [q for q in points if q["admissible"]]
    best = max(ok, key=key) if ok else None
    return {"off": off, "points": points, "uses": best is not None,
            "chosen": None if best is None else {k: best[k] for k in ("calls", "p_s", "premature")}}


def _served_inner(table, labels, dec, h, beats, preset_spec) -> dict:
    """Fold ``h``'s served inner rows (v53's base: the inner-4 recipe with the rhythm gate, then the shipped v_pause and
    v_template as serving loads them)."""
    from beats_preset import _columns_of

    from ecgsl_keras.modeling.stacking import VPause, VTemplate
    gate = preset_spec["gate"]
    c_af = {"gate_feature": gate["feature"], "gate_threshold": gate["threshold"]}
    pause = VPause.from_spec(preset_spec["v_pause"], labels)
    vote = VTemplate.from_spec(preset_spec["v_template"], labels)
    ib = vs._inner_base(table, labels, dec, h, v40=False)
    idx = ib["idx"]
    rec = table["record"][idx]
    base = pause.apply(ib["base"], vs._pause_evidence(table, idx, c_af)["columns"], records=rec)[0]
    base = vote.apply(base, beats[idx], _columns_of(table, list(vote.columns))[idx], records=rec)[0]
    return {"idx": idx, "rec": rec, "y": table["y"][idx], "base": base}


def _by_record_seed(mask_of, y, rec, labels) -> dict:
    out = {}
    for seed, m in mask_of.items():
        for r in np.unique(rec[m]):
            mm = m & (rec == r)
            out.setdefault(str(r), {})[str(seed)] = {labels[int(k)]: int((mm & (y == k)).sum()) for k in np.unique(y[mm])}
    return out


def step_s_nested(table, labels, dec, beats, preset_spec: dict) -> dict:
    """Key ``s_premature_nested`` (run v57): ``S_GRID`` / ``S_CHOICE_RULE`` / ``S_KEEP_RULE`` (then, if kept,
    ``S_BUILD_RULE`` and ``S_SHIP_RULE``)."""
    import v_gate
    from beats_preset import _columns_of
    from hybrid import BOOSTER_SEEDS

    s = labels.index("S")
    gate = preset_spec["gate"]
    af_off = {"feature": gate["feature"], "threshold": float(gate["threshold"])}
    columns = list(s_rule(labels, af_off, ["N"], 0.2, 0.9).columns)
    all_cols = _columns_of(table, columns)
    choice, inner = {}, {}
    for h in range(len(dec["parts"])):
        inner[h] = _served_inner(table, labels, dec, h, beats, preset_spec)
        si = inner[h]
        ch = _s_choice(si["y"], si["rec"], dec["groups"][h], si["base"], labels, all_cols[si["idx"]], af_off)
        ch["inner_groups"] = [sorted(g) for g in dec["groups"][h]]
        choice[str(h)] = ch
        log.info("s rescue, fold %d: chosen %s; off S Se %s; %s", h, ch["chosen"], ch["off"]["pooled"]["S_sensitivity"],
                 [(q["calls"], q["p_s"], q["premature"], q["pooled"]["S_sensitivity"], q["admissible"],
                   q["fired"]["true_S"], q["fired"]["other"]) for q in ch["points"]])
    # the served recipe's left-out rows (template_served's), then each fold's chosen rescue on its left-out records
    sr = vs._template_served_rows(table, labels, dec, beats, preset_spec["v_template"])
    y, rec, idx = sr["y"], sr["rec"], sr["idx"]
    cols = all_cols[idx]
    before = sr["templated"]
    after, fired = {}, {}
    for seed in BOOSTER_SEEDS:
        after[seed], fired[seed] = before[seed].copy(), np.zeros(len(y), bool)
        for h, part in enumerate(dec["parts"]):
            pt = choice[str(h)]["chosen"]
            m = np.isin(rec, np.unique(table["record"][part["scored"]]))
            if pt is None or not m.any():
                continue
            after[seed][m], fired[seed][m] = s_rule(labels, af_off, **pt).apply(before[seed][m], cols[m])
    sc0, spread0 = vs._seed_spread(y, before, labels)
    ref_spread = json.loads(vs.OUT.read_text(encoding="utf-8"))[vs.TEMPLATE_SERVED_KEY]["seed_spread"]
    reproduced = all(abs(spread0[m]["mean"] - ref_spread[m]["mean"]) < 1e-9 for m in v_gate.COMPARED)
    if not reproduced:
        raise SystemExit(f"the served rows are not key {vs.TEMPLATE_SERVED_KEY}'s")
    sc1, spread1 = vs._seed_spread(y, after, labels)
    paired = vs._paired(sc1, sc0)
    sd0 = {m: round(spread0[m]["sd"], 4) for m in v_gate.COMPARED}
    up = "S_sensitivity"
    checks = {f"{up}_up_beyond_spread": bool(paired[up]["mean"] > 0
                                             and paired[up]["mean"] > max(paired[up]["sd"], sd0[up]))}
    checks.update({f"{m}_within_seed_sd": bool(paired[m]["mean"] >= -sd0[m]) for m in v_gate.COMPARED if m != up})
    checks["S_positive_predictivity_at_target"] = bool(spread1["S_positive_predictivity"]["mean"] >= S_TARGET_PPV)
    kept = all(checks.values())
    per_record = {}
    for r in np.unique(rec):
        m = rec == r
        n_s = int((m & (y == s)).sum())
        if not n_s and not any((fired[seed] & m).any() for seed in BOOSTER_SEEDS):
            continue
        per_record[str(r)] = {"true_S": n_s, **{f"{k}_S_called_true_mean": round(float(np.mean(
            [((rows[seed].argmax(-1) == s) & m & (y == s)).sum() for seed in BOOSTER_SEEDS])), 1)
            for k, rows in (("served", before), ("rescue", after))},
            **{f"{k}_S_called_false_mean": round(float(np.mean(
                [((rows[seed].argmax(-1) == s) & m & (y != s)).sum() for seed in BOOSTER_SEEDS])), 1)
                for k, rows in (("served", before), ("rescue", after))}}
    result = {"why": S_WHY, "blind": False,
              "rule": {"library": "ecgsl_keras.modeling.stacking.SPremature (stacking.json s_premature)",
                       "af_off": af_off, "columns": columns,
                       "after": {"v_pause": preset_spec["v_pause"], "v_template": preset_spec["v_template"]}},
              "grid": {k: [list(x) if isinstance(x, tuple) else x for x in vals] for k, vals in S_GRID.items()},
              "choice_rule": S_CHOICE_RULE, "choice_tolerances": {"macro_f1_nsvf": S_MACRO_TOL},
              "keep_rule": S_KEEP_RULE, "build_rule": S_BUILD_RULE, "ship_rule": S_SHIP_RULE,
              "reference": f"served recipe's left-out rows (key {vs.TEMPLATE_SERVED_KEY})",
              "chosen_by_inner_cv": choice, "chosen": {h: ch["chosen"] for h, ch in choice.items()},
              "served_reproduced": bool(reproduced),
              "served_seed_spread": spread0, "served_distance_to_targets": v_gate._distance(spread0),
              "seed_spread": spread1, "distance_to_targets": v_gate._distance(spread1),
              "paired_change": paired, "baseline_seed_sd": sd0, "checks": checks, "kept": kept,
              "decision": ("kept: the build rule's entry and the ship rule follow" if kept
                           else "not kept: the served recipe stays"),
              "per_seed": {str(x): {m: round(sc1[x][m], 4) for m in v_gate.COMPARED} for x in BOOSTER_SEEDS},
              "left_out_firings": _by_record_seed(fired, y, rec, labels),
              "turned_total": {str(x): {"true_S": int((fired[x] & (y == s)).sum()),
                                        "other": int((fired[x] & (y != s)).sum())} for x in BOOSTER_SEEDS},
              "by_record": per_record}
    log.info("s rescue: S Se %.4f -> %.4f, S +P %.4f -> %.4f, V Se %.4f -> %.4f, macro F1 %.4f -> %.4f, kept %s",
             spread0[up]["mean"], spread1[up]["mean"], spread0["S_positive_predictivity"]["mean"],
             spread1["S_positive_predictivity"]["mean"], spread0["V_sensitivity"]["mean"],
             spread1["V_sensitivity"]["mean"], spread0["macro_f1_nsvf"]["mean"], spread1["macro_f1_nsvf"]["mean"], kept)
    if kept:
        result["build"] = _s_build(table, labels, dec, inner, all_cols, af_off)
        entry = result["build"]["s_premature"]
        if entry is not None:
            result["served"] = _s_served(y, rec, before, cols, labels, entry, spread0)
    return result


def _s_build(table, labels, dec, inner, all_cols, af_off) -> dict:
    """``S_BUILD_RULE``: ``S_CHOICE_RULE`` over all 8 of DS1's inner groups (both folds' served inner rows)."""
    idx = np.concatenate([inner[h]["idx"] for h in sorted(inner)])
    base = np.concatenate([inner[h]["base"] for h in sorted(inner)])
    groups = [g for h in sorted(inner) for g in dec["groups"][h]]
    ch = _s_choice(table["y"][idx], table["record"][idx], groups, base, labels, all_cols[idx], af_off)
    entry = None if ch["chosen"] is None else dict(ch["chosen"], af_off=dict(af_off))
    log.info("s rescue build: %s", entry)
    return {"rule": S_BUILD_RULE, "inner_groups": [sorted(g) for g in groups], "choice": ch, "s_premature": entry}


def _s_served(y, rec, before, cols, labels, entry, spread0) -> dict:
    """``S_SHIP_RULE``: the build's entry as serving applies it on the served left-out rows."""
    import v_gate
    from hybrid import BOOSTER_SEEDS

    from ecgsl_keras.modeling.stacking import SPremature
    rule = SPremature.from_spec(entry, labels)
    after, fired = {}, {}
    for seed in BOOSTER_SEEDS:
        after[seed], fired[seed] = rule.apply(before[seed], cols)
    sc0, _ = vs._seed_spread(y, before, labels)
    sc1, spread1 = vs._seed_spread(y, after, labels)
    change = vs._paired(sc1, sc0)
    sd = {m: round(spread0[m]["sd"], 4) for m in S_SHIP_GUARDED}
    checks = {"S_sensitivity_rises": bool(change["S_sensitivity"]["mean"] > 0),
              **{f"{m}_within_seed_sd": bool(change[m]["mean"] >= -sd[m]) for m in S_SHIP_GUARDED},
              "S_positive_predictivity_at_target": bool(spread1["S_positive_predictivity"]["mean"] >= S_TARGET_PPV)}
    ship = all(checks.values())
    s = labels.index("S")
    return {"ship_rule": S_SHIP_RULE, "s_premature": entry, "seed_spread": spread1,
            "distance_to_targets": v_gate._distance(spread1), "paired_change": change, "reference_seed_sd": sd,
            "checks": checks, "ship": bool(ship),
            "decision": ("ship: beats_preset.py --s-premature writes the entry into mitdb-beats' stacking.json" if ship
                         else "not shipped: mitdb-beats unchanged"),
            "left_out_firings": _by_record_seed(fired, y, rec, labels),
            "turned_total": {str(x): {"true_S": int((fired[x] & (y == s)).sum()),
                                      "other": int((fired[x] & (y != s)).sum())} for x in BOOSTER_SEEDS}}


# ---- key s_pause_training_look: a training-side look, no lever (see the module docstring)
S_PAUSE_LOOK_KEY = "s_pause_training_look"
S_PAUSE_LOOK = {"pause": (1.25, 1.5), "below": (0.85, 0.9, 0.95)}


def step_s_pause_look(table, labels, dec, beats, preset_spec: dict) -> dict:
    """Key ``s_pause_training_look``: the less-than-compensatory-pause test on the V calls of each fold's served inner
    rows (the training side only)."""
    from beats_preset import _columns_of

    v = labels.index("V")
    threshold = float(preset_spec["gate"]["threshold"])
    names = ["pre_rr_local_median_ratio", "post_rr_local_median_ratio", preset_spec["gate"]["feature"]]
    out = {}
    for h in range(len(dec["parts"])):
        si = _served_inner(table, labels, dec, h, beats, preset_spec)
        y, rec = si["y"], si["rec"]
        pre, post, af = _columns_of(table, names)[si["idx"]].T
        with np.errstate(invalid="ignore", divide="ignore"):
            compensation, post_pre = (pre + post) / 2, post / pre
            called = (si["base"].argmax(-1) == v) & ~(af > threshold)
        points = []
        for pause in S_PAUSE_LOOK["pause"]:
            for below in S_PAUSE_LOOK["below"]:
                with np.errstate(invalid="ignore"):
                    m = called & (post_pre >= pause) & (compensation < below)
                by_record = {}
                for r, k in zip(rec[m], y[m]):
                    by_record.setdefault(str(r), {}).setdefault(labels[int(k)], 0)
                    by_record[str(r)][labels[int(k)]] += 1
                points.append({"pause": pause, "below": below, "true_V": int((m & (y == v)).sum()),
                               "true_S": int((m & (y == labels.index("S"))).sum()),
                               "other": int((m & (y != v) & (y != labels.index("S"))).sum()), "by_record": by_record,
                               "records_by_count": sorted(((r, int(sum(c.values()))) for r, c in by_record.items()),
                                                          key=lambda e: -e[1])})
        out[str(h)] = {"inner_records": sorted(set(map(str, rec))), "v_calls_outside_af": int(called.sum()),
                       "true_V_called": int((called & (y == v)).sum()),
                       "true_S_called_V": int((called & (y == labels.index("S"))).sum()), "points": points}
        log.info("s pause look, fold %d: %s", h, [(q["pause"], q["below"], q["true_V"], q["true_S"], q["other"],
                                                   q["records_by_count"][:3]) for q in points])
    return {"what": "a training-side look (no left-out figure, no lever): the V calls of each outer fold's served inner "
                    "rows, outside AF by the preset's gate, with post RR / pre RR >= pause and (pre + post RR) / (2 x "
                    "the local median RR) below 'below' (a less than compensatory pause: an atrial beat's), by record "
                    "and true class", "grid": {k: list(x) for k, x in S_PAUSE_LOOK.items()}, "by_fold": out}


# --steps in the order main runs them: (step, key, call); each saves its result under its key of --out with the
# command and the seconds so far (v_sensitivity.save_step).
S_STEPS = (
    ("s_lost", S_LOST_KEY, step_s_lost),
    ("s_nested", S_NESTED_KEY,
     lambda table, labels, dec, beats: step_s_nested(table, labels, dec, beats, vs.preset_spec())),
    ("s_pause_look", S_PAUSE_LOOK_KEY,
     lambda table, labels, dec, beats: step_s_pause_look(table, labels, dec, beats, vs.preset_spec())),
)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--steps", nargs="+", default=["s_lost"], choices=[s for s, _, _ in S_STEPS])
    p.add_argument("--mitdb-dir", default=str(MITDB))
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    start = time.perf_counter()
    work = Path(args.work).resolve()
    table, labels = vs._setup(work, Path(args.mitdb_dir))
    out_path = Path(args.out)
    saved = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
    command = "python experiments/mitdb/s_sensitivity.py " + " ".join(sys.argv[1:] if argv is None else argv)
    dec = vs.decision_rows(work, table, labels)
    beats = vs.step_beats(work, Path(args.mitdb_dir), table)
    result = {}
    for step, key, call in S_STEPS:
        if step in args.steps:
            result = vs.save_step(saved, key, call(table, labels, dec, beats), out_path, command, start)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
