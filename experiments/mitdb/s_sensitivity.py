"""Run v56 (issue 18): where the served ``mitdb-beats`` recipe's lost S beats go (a diagnosis, no lever), and run v57:
an S lever it points to, chosen per outer fold on the training side only.

    python experiments/mitdb/s_sensitivity.py --work WORK --steps s_lost       # key s_lost_diagnosis (run v56)
    python experiments/mitdb/s_sensitivity.py --work WORK --steps s_nested     # key s_premature_nested (run v57)

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
                                      "fewest_records_reaching_target": needed},
              "top_records_evidence_seed42": top, "all_records_evidence_seed42": pooled}
    log.info("lost S %.1f per seed of %d; shares %s; ranked %s", total, n_s, shares, record_table[:S_LOST_TOP])
    return result


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--steps", nargs="+", default=["s_lost"], choices=["s_lost"])
    p.add_argument("--mitdb-dir", default=str(REPO.parent / "shared" / "data" / "mitdb"))
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
    if "s_lost" in args.steps:
        result = saved[S_LOST_KEY] = dict(step_s_lost(table, labels, dec, beats), command=command,
                                          seconds=round(time.perf_counter() - start, 1))
        out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
