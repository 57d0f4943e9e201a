"""Session s41-slost (issue 18): where today's served ``mitdb-beats`` recipe loses 201's and 124's S beats, a look
(a diagnosis: nothing is chosen, no keep rule, the preset unchanged; NOT blind: it reads the left-out rows).

    python experiments/mitdb/s_lost_look.py --work WORK        # key s_lost_stage_look of s_lost_look_results.json

WORK: a folder holding ``v_sensitivity.py``'s caches (the DS1 table, v_side's per-fold caches, the 96-sample
``step_beats`` cache); session s41-slost used a copy of session s41-nsvote's folder. No training. The helpers (rows,
scores, the served rules) are ``v_sensitivity.py``'s and ``ns_vote.py``'s, imported, not copied.

The rows: today's served left-out rows (2 outer folds of whole DS1 records, booster seeds 42-44): v37's booster +
ECG-SL average ('mix'), the fold's rhythm gate, the shipped ``v_gate`` (with ECG-SL's P(V)), ``v_pause`` and
``v_template``, each left-out record one signal; recomputed and checked per seed against key
``v_lead2_keep_v_nested``'s served rows (as ``ns_vote.py --steps reproduce`` does), and the chain below checked to end
in exactly those rows. ``LOOK_WHAT`` says what is measured.
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

import v_sensitivity as vs  # noqa: E402  (the shared helpers: rows, scores, the served rules)

log = logging.getLogger("s_lost_look")

OUT = HERE / "s_lost_look_results.json"
LOOK_KEY = "s_lost_stage_look"
STAGES = ("mix", "rhythm_gate", "v_gate", "v_pause", "v_template")   # serving's order (stacking.RULES)
LOOK_RECORDS = ("201", "124")          # the brief's records
OTHER_RECORDS = ("209", "223")         # the next two by lost S, counted the same way (not described in full)
AAMI_S_SYMBOLS = ("A", "a", "J", "S")  # MIT-BIH beat symbols of the AAMI S class in DS1
# the room two physiology tests would have on the left-out calls (counts only: not a lever, not chosen, not blind):
# a V call after a less-than-compensatory pause (compensation below, pre RR / local median below); an N call with
# little P-wave energy and faster than the record's last 5 minutes (a junctional beat)
ROOM_PAUSE = ((0.85, 0.6), (0.9, 0.6), (0.9, 0.7))
ROOM_JUNCTIONAL = ((0.3, 0.9), (0.5, 0.95))
EVIDENCE = ("pre_rr_norm", "pre_rr_local_median_ratio", "pre_rr_past10_ratio", "pre_rr_5min_ratio", "post_pre_ratio",
            "qrs_width_norm", "median_corr", "p_energy_norm", "window_af_afev")
LOOK_WHAT = (
    "a diagnosis, not a lever, not blind (it reads the left-out rows; nothing is chosen on it): on today's served "
    "left-out rows, booster seeds 42-44, every true S beat of DS1 is followed through serving's steps in order, mix "
    "(booster + ECG-SL average) -> rhythm gate -> v_gate -> v_pause -> v_template; a lost S (not called S at the end) "
    "is lost at 'mix' when no step ever calls it S, else at the step that last took its S call away. Per record: "
    "the lost S by step and by final call, which model alone calls S (ECG-SL / the booster, argmax), the MIT-BIH beat "
    "symbol (A, a, J, S) and the rhythm annotation in force at the beat (the .atr aux notes read by the library's "
    "MitdbReader), its RR evidence (pre RR / the record's average RR, pre RR / the local median RR, post / pre RR, "
    "(pre + post) / (2 x local median)), QRS width / the median beat's, correlation with the median beat, the gate's "
    "AF evidence and whether the gate fires. For 201 and 124 (seed 42): the lost S against the record's caught S and "
    "its N beats called N (quantiles, AUC = P(a lost S's value > the other's)); 201's lost aberrated APCs (symbol a) "
    "against DS1's V beats called V (the pause after them). What each outer fold's training records hold of each S "
    "symbol (the beat types a fold's models could learn). The ablation of each rule (every seed): the served rows "
    "with that one rule left out, S Se and S +P (what the rule costs or gives; a diagnosis figure)")


def rhythm_at(rhythm, fs: float, times_s) -> np.ndarray:
    """(n,) object array: the rhythm annotation in force at each of ``times_s`` (seconds), from ``rhythm`` (the
    ``(sample, note)`` pairs of ``MitdbReader.read_annotations``, in sample order); '' before the first note."""
    times_s = np.asarray(times_s, np.float64)
    if not len(rhythm):
        return np.full(len(times_s), "", dtype=object)
    starts = np.array([sample for sample, _ in rhythm], np.float64) / float(fs)
    notes = np.array([note for _, note in rhythm] + [""], dtype=object)
    current = np.searchsorted(starts, times_s, side="right") - 1
    return notes[np.where(current >= 0, current, -1)]


def symbols_at(samples, symbols, fs: float, times_s, tolerance_s: float = 0.15) -> np.ndarray:
    """(n,) object array: the annotated beat symbol nearest each of ``times_s`` (seconds; the table's detected
    R-peaks), '' where no annotated beat lies within ``tolerance_s``."""
    t = np.asarray(samples, np.float64) / float(fs)
    times_s = np.asarray(times_s, np.float64)
    sym = np.array(list(symbols) + [""], dtype=object)
    if not len(t):
        return np.full(len(times_s), "", dtype=object)
    j = np.clip(np.searchsorted(t, times_s), 0, len(t) - 1)
    j_left = np.clip(j - 1, 0, len(t) - 1)
    j = np.where(np.abs(t[j_left] - times_s) < np.abs(t[j] - times_s), j_left, j)
    return sym[np.where(np.abs(t[j] - times_s) <= tolerance_s, j, -1)]


def loss_stage(calls: dict, target: int, stages=STAGES) -> np.ndarray:
    """(n,) object array: for each row, the step of ``stages`` (keys of ``calls``, each an (n,) array of class
    indices after that step, in order) that last took a ``target`` call away, 'mix' when no step calls it ``target``
    (the first step's name), '' when the last step calls it ``target`` (not lost)."""
    order = [np.asarray(calls[k]) for k in stages]
    out = np.full(len(order[0]), stages[0], dtype=object)
    for k in range(1, len(stages)):
        out[(order[k - 1] == target) & (order[k] != target)] = stages[k]
    out[order[-1] == target] = ""
    return out


# ---- the rows
def _load(work: Path, mitdb_dir: Path) -> dict:
    table, labels = vs._setup(work, mitdb_dir)
    dec = vs.decision_rows(work, table, labels)
    beats = vs.step_beats(work, mitdb_dir, table)
    spec = vs.preset_spec()
    saved = json.loads(vs.OUT.read_text(encoding="utf-8"))
    vs._shipped_v_gate(spec, saved)
    return {"table": table, "labels": labels, "dec": dec, "beats": beats, "spec": spec, "saved": saved}


def _chain(d: dict, ref: dict, drop: str | None = None) -> dict:
    """{seed: {step: rows after it}} of the served left-out rows (``ns_vote._left_out_reference``'s ``ref``), serving's
    order; ``drop``: that one rule left out (its step's rows are the step before's). Without ``drop`` the last step
    is checked to be ``ref['before']`` exactly."""
    from beats_preset import _columns_of
    from hybrid import BOOSTER_SEEDS

    from ecgsl_keras.modeling.stacking import VGate
    t, labels, dec, spec = d["table"], d["labels"], d["dec"], d["spec"]
    sr = ref["sr0"]
    idx, rec = sr["idx"], sr["rec"]
    rows = vs.left_out_rows(t, labels, dec)
    gate = VGate.from_spec(spec["v_gate"], labels)
    gate_cols = _columns_of(t, list(gate.columns))[idx]
    out = {}
    for seed in BOOSTER_SEEDS:
        steps = {"mix": rows[f"mix_s{seed}"]}
        steps["rhythm_gate"] = steps["mix"] if drop == "rhythm_gate" else rows[f"recipe_s{seed}"]
        if drop != "rhythm_gate" and not np.array_equal(steps["rhythm_gate"], sr["base"][seed]):
            raise SystemExit(f"seed {seed}: the rhythm-gated rows are not the served recipe's")
        steps["v_gate"] = (steps["rhythm_gate"] if drop == "v_gate" else
                           gate.apply(steps["rhythm_gate"], ref["p_deep_v"], gate_cols)[0])
        steps["v_pause"] = (steps["v_gate"] if drop == "v_pause" else
                            sr["rule"].apply(steps["v_gate"], sr["ev"], records=rec)[0])
        steps["v_template"] = (steps["v_pause"] if drop == "v_template" else
                               sr["vote"].apply(steps["v_pause"], d["beats"][idx], sr["cols"], records=rec)[0])
        if drop is None and not np.array_equal(steps["v_template"], ref["before"][seed]):
            raise SystemExit(f"seed {seed}: the chain does not end in today's served rows")
        out[seed] = steps
    return out


def _annotations(mitdb_dir: Path, table: dict, idx) -> tuple:
    """(symbol, rhythm) per left-out row: the annotated beat symbol nearest its R-peak and the rhythm in force."""
    from ecgsl_keras.data.datasets.mitdb import MitdbReader
    reader = MitdbReader(mitdb_dir)
    rec, ts = table["record"][idx], table["time_s"][idx]
    sym, rhy = np.full(len(idx), "", dtype=object), np.full(len(idx), "", dtype=object)
    for rid in sorted(set(rec.tolist())):
        fs = float(reader._header(rid).fs)
        beats, rhythm = reader.read_annotations(rid)
        m = rec == rid
        sym[m] = symbols_at(beats.samples, beats.symbols, fs, ts[m])
        rhy[m] = rhythm_at(rhythm, fs, ts[m])
    return sym, rhy


def _gate_fires(table, dec) -> np.ndarray:
    """(n,) bool over the left-out rows (``dec['idx']`` order): the fold's rhythm gate fires (its AF evidence above
    its threshold; NaN never fires)."""
    from beats_preset import _columns_of
    out = []
    for h, part in enumerate(dec["parts"]):
        c = dec["chosen"][str(h)]
        with np.errstate(invalid="ignore"):
            out.append(_columns_of(table, [c["gate_feature"]])[part["scored"], 0] > c["gate_threshold"])
    return np.concatenate(out)


def _counts(values) -> dict:
    return {str(k): int(c) for k, c in zip(*np.unique(np.asarray(values, dtype=str), return_counts=True))}


def _mean_counts(per_seed: list) -> dict:
    keys = sorted({k for c in per_seed for k in c})
    return {k: round(float(np.mean([c.get(k, 0) for c in per_seed])), 1) for k in keys}


def step_look(work: Path, mitdb_dir: Path) -> dict:
    """Key ``LOOK_KEY``: ``LOOK_WHAT``."""
    import ns_vote
    import v_gate
    from beats_preset import _columns_of
    from hybrid import BOOSTER_SEEDS
    d = _load(work, mitdb_dir)
    t, labels = d["table"], d["labels"]
    ref = ns_vote._left_out_reference(d)   # SystemExit unless today's served rows are reproduced per seed
    chain = _chain(d, ref)
    sr = ref["sr0"]
    idx, y, rec = sr["idx"], sr["y"], sr["rec"].astype(str)
    s, n, v = labels.index("S"), labels.index("N"), labels.index("V")
    sym, rhy = _annotations(mitdb_dir, t, idx)
    aami = {"N": "N", "L": "N", "R": "N", "e": "N", "j": "N", "A": "S", "a": "S", "J": "S", "S": "S", "V": "V",
            "E": "V", "F": "F", "/": "Q", "f": "Q", "Q": "Q"}
    mismatched = int(sum(aami.get(str(a), "?") != labels[int(b)] for a, b in zip(sym, y)))
    ev = {k: _columns_of(t, [k])[idx, 0] for k in EVIDENCE}
    ev["compensation"] = vs.compensation_of(t, idx)
    gate_fires = _gate_fires(t, d["dec"])
    rows = vs.left_out_rows(t, labels, d["dec"])
    deep_call = rows["deep"].argmax(-1)
    true_s = y == s
    n_s = int(true_s.sum())
    name = np.array(labels, dtype=object)

    per_seed, stage_of = {}, {}
    for seed in BOOSTER_SEEDS:
        calls = {k: p.argmax(-1) for k, p in chain[seed].items()}
        stage = loss_stage(calls, s)
        stage_of[seed] = stage
        lost = true_s & (calls["v_template"] != s)
        boost_call = rows[f"booster_s{seed}"].argmax(-1)
        model = np.where((boost_call == s) & (deep_call == s), "both", np.where(
            boost_call == s, "booster_only", np.where(deep_call == s, "deep_only", "neither")))
        recs = {}
        for r in ("all", *LOOK_RECORDS, *OTHER_RECORDS):
            m = lost & (True if r == "all" else rec == r)
            c = true_s & (True if r == "all" else rec == r)
            recs[r] = {"true_S": int(c.sum()), "lost_S": int(m.sum()),
                       "by_stage": _counts(stage[m]), "by_final_call": _counts(name[calls["v_template"][m]]),
                       "by_mix_call": _counts(name[calls["mix"][m]]),
                       "by_model_calling_S": _counts(model[m]), "deep_call": _counts(name[deep_call[m]]),
                       "booster_call": _counts(name[boost_call[m]]),
                       "by_symbol": _counts(sym[m]), "by_rhythm": _counts(rhy[m]),
                       "by_symbol_rhythm": _counts([f"{a}_{b}" for a, b in zip(sym[m], rhy[m])]),
                       "gate_fires": int((m & gate_fires).sum()),
                       "true_S_by_symbol": _counts(sym[c]), "true_S_by_rhythm": _counts(rhy[c]),
                       "caught_by_symbol": _counts(sym[c & ~lost])}
        per_seed[str(seed)] = recs
    by_record = {}
    for r in ("all", *LOOK_RECORDS, *OTHER_RECORDS):
        x = [per_seed[str(seed)][r] for seed in BOOSTER_SEEDS]
        by_record[r] = {"true_S": x[0]["true_S"], "true_S_by_symbol": x[0]["true_S_by_symbol"],
                        "true_S_by_rhythm": x[0]["true_S_by_rhythm"],
                        "lost_S_mean": round(float(np.mean([e["lost_S"] for e in x])), 1),
                        "lost_S_per_seed": [e["lost_S"] for e in x],
                        "share_of_true_S_all": round(float(np.mean([e["lost_S"] for e in x])) / n_s, 4),
                        **{k: _mean_counts([e[k] for e in x]) for k in (
                            "by_stage", "by_final_call", "by_mix_call", "by_model_calling_S", "deep_call",
                            "booster_call", "by_symbol", "by_rhythm", "by_symbol_rhythm", "caught_by_symbol")},
                        "gate_fires": round(float(np.mean([e["gate_fires"] for e in x])), 1)}

    # the evidence (seed 42): lost S against the record's caught S and its N beats called N (label-using)
    seed = BOOSTER_SEEDS[0]
    final = chain[seed]["v_template"].argmax(-1)
    feats = dict(ev, p_s_deep=rows["deep"][:, s], p_s_booster=rows[f"booster_s{seed}"][:, s],
                 p_s_mix=rows[f"mix_s{seed}"][:, s], p_v_mix=rows[f"mix_s{seed}"][:, v])

    def evidence(m) -> dict:
        lost, caught = true_s & m & (final != s), true_s & m & (final == s)
        normal = m & (y == n) & (final == n)
        return {"lost_S": int(lost.sum()), "caught_S": int(caught.sum()), "N_called_N": int(normal.sum()),
                "lost_gate_fires": int((lost & gate_fires).sum()),
                "caught_gate_fires": int((caught & gate_fires).sum()),
                "N_gate_fires": int((normal & gate_fires).sum()),
                "lost_by_symbol": _counts(sym[lost]), "caught_by_symbol": _counts(sym[caught]),
                "lost_by_rhythm": _counts(rhy[lost]), "caught_by_rhythm": _counts(rhy[caught]),
                "N_by_rhythm": _counts(rhy[normal]),
                "columns": {k: {"lost_S": vs._q(x[lost]), "caught_S": vs._q(x[caught]), "N_called_N": vs._q(x[normal]),
                                "auc_lost_over_caught": vs._auc(x[lost], x[caught]),
                                "auc_lost_over_N": vs._auc(x[lost], x[normal])} for k, x in feats.items()}}
    evidence_42 = {r: evidence(rec == r) for r in LOOK_RECORDS}
    # 201 by symbol: its aberrated APCs (a) against its APCs (A)
    m201 = rec == "201"
    by_sym_201 = {}
    for sy in ("a", "A"):
        m = m201 & true_s & (sym == sy)
        lost = m & (final != s)
        by_sym_201[sy] = {"true_S": int(m.sum()), "lost_S": int(lost.sum()),
                          "columns": {k: vs._q(feats[k][m]) for k in ("qrs_width_norm", "median_corr", "pre_rr_norm",
                                                                      "pre_rr_local_median_ratio", "post_pre_ratio",
                                                                      "compensation", "p_energy_norm", "p_v_mix",
                                                                      "p_s_mix")}}

    # what each outer fold's training records hold of the S beat types lost (the other fold's records)
    training_side = {}
    for h, part in enumerate(d["dec"]["parts"]):
        left = set(t["record"][part["scored"]].astype(str).tolist())
        train = ~np.isin(rec, sorted(left))
        training_side[str(h)] = {"left_out_records": sorted(left),
                                 "training_S_by_symbol": _counts(sym[train & true_s]),
                                 "training_S_by_record_symbol": _counts([f"{a}_{b}" for a, b in zip(
                                     rec[train & true_s], sym[train & true_s])])}
    # 201's lost aberrated APCs (a) against DS1's V beats called V (seed 42): the pause after them (compensation)
    lost_a = m201 & true_s & (sym == "a") & (final != s)
    v_called_v = (y == v) & (final == v)
    against_v = {k: {"lost_a_201": vs._q(feats[k][lost_a]), "V_called_V": vs._q(feats[k][v_called_v]),
                     "auc_lost_a_over_V": vs._auc(feats[k][lost_a], feats[k][v_called_v])}
                 for k in ("compensation", "post_pre_ratio", "pre_rr_local_median_ratio", "qrs_width_norm",
                           "p_energy_norm")}

    # the room of two physiology tests on the served calls (seed 42, outside the fold's rhythm gate): counts only
    def fired_by(mask) -> dict:
        return {"fired": int(mask.sum()), "true_S_share": round(float((mask & true_s).sum() / max(mask.sum(), 1)), 3),
                "true_S": int((mask & true_s).sum()), "true_N": int((mask & (y == n)).sum()),
                "true_V": int((mask & (y == v)).sum()), "true_F": int((mask & (y == labels.index("F"))).sum()),
                "true_S_by_record": _counts(rec[mask & true_s]), "other_by_record": _counts(rec[mask & ~true_s])}
    with np.errstate(invalid="ignore"):
        room = {"what": "counts only (seed 42, the served calls, beats where the fold's rhythm gate does not fire; "
                        "keys: compensation below c and pre RR / local median below q; P energy below e and pre RR "
                        "/ 5 min below q): not a lever, nothing chosen, not blind",
                "v_call_short_pause": {f"compensation{c}_pre_local{q}": fired_by(
                    (final == v) & ~gate_fires & (ev["compensation"] < c) & (ev["pre_rr_local_median_ratio"] < q))
                    for c, q in ROOM_PAUSE},
                "n_call_junctional": {f"p_energy{e}_pre_5min{q}": fired_by(
                    (final == n) & ~gate_fires & (ev["p_energy_norm"] < e) & (ev["pre_rr_5min_ratio"] < q))
                    for e, q in ROOM_JUNCTIONAL}}

    # the ablation: each rule left out, the rest served (every seed)
    sc0, spread0 = vs._seed_spread(y, {sd: chain[sd]["v_template"] for sd in BOOSTER_SEEDS}, labels)
    ablation = {}
    for rule in STAGES[1:]:
        ch = _chain(d, ref, drop=rule)
        final_of = {sd: ch[sd]["v_template"] for sd in BOOSTER_SEEDS}
        sc1, spread1 = vs._seed_spread(y, final_of, labels)
        ablation[rule] = {
            "paired_change": vs._paired(sc1, sc0),
            "seed_spread": {m: spread1[m] for m in ("S_sensitivity", "S_positive_predictivity")},
            "true_S_called_S_gained": {r: round(float(np.mean([
                (true_s & (True if r == "all" else rec == r) & (final_of[sd].argmax(-1) == s)
                 & (chain[sd]["v_template"].argmax(-1) != s)).sum() for sd in BOOSTER_SEEDS])), 1)
                for r in ("all", *LOOK_RECORDS, *OTHER_RECORDS)},
            "other_called_S_gained": round(float(np.mean([
                (~true_s & (final_of[sd].argmax(-1) == s) & (chain[sd]["v_template"].argmax(-1) != s)).sum()
                for sd in BOOSTER_SEEDS])), 1)}
        log.info("without %s: S Se %+.4f", rule, ablation[rule]["paired_change"]["S_sensitivity"]["mean"])
    lost_mean = by_record["all"]["lost_S_mean"]
    result = {
        "what": LOOK_WHAT, "blind": False, "decides_nothing": True,
        "reference": f"{vs.LEAD2_KEEP_V_KEY}'s served rows (per seed), reproduced; the step chain ends in them exactly",
        "stages": list(STAGES), "left_out_beats": int(len(idx)),
        "fold_gates": {h: {k: c[k] for k in ("gate_feature", "gate_threshold")} for h, c in d["dec"]["chosen"].items()},
        "annotation_class_mismatches": mismatched,
        "served_seed_spread": spread0, "served_distance_to_targets": v_gate._distance(spread0), "true_S": n_s,
        "true_V": int((y == v).sum()),
        "by_record": by_record, "per_seed": per_seed, "evidence_seed42": evidence_42,
        "record_201_by_symbol_seed42": by_sym_201,
        "training_side_S_symbols": training_side, "lost_a_201_against_V_seed42": against_v,
        "physiology_test_room_seed42": room, "rule_ablation": ablation,
        "s_se_if_recovered": {r: round(float(np.mean([
            (n_s - per_seed[str(sd)]["all"]["lost_S"] + per_seed[str(sd)][r]["lost_S"]) / n_s
            for sd in BOOSTER_SEEDS])), 4) for r in (*LOOK_RECORDS, *OTHER_RECORDS)},
        "lost_S_mean_all": lost_mean}
    log.info("lost S %s; 201 %s; 124 %s", lost_mean, by_record["201"]["by_stage"], by_record["124"]["by_stage"])
    return result


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--mitdb-dir", default=str(MITDB))
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    work, mitdb_dir, out_path = Path(args.work).resolve(), Path(args.mitdb_dir), Path(args.out)
    if not work.is_dir():
        print(f"error: --work {work} is not a folder", file=sys.stderr)
        return 2
    start = time.perf_counter()
    command = "python experiments/mitdb/s_lost_look.py " + " ".join(sys.argv[1:] if argv is None else argv)
    saved = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
    result = vs.save_step(saved, LOOK_KEY, step_look(work, mitdb_dir), out_path, command, start)
    print(json.dumps({LOOK_KEY: {k: result[k] for k in ("lost_S_mean_all", "s_se_if_recovered")}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
