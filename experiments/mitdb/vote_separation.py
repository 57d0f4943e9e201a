"""Session s41 (issue 18, a diagnosis; nothing chosen, the preset is not changed): which label-free per-beat or
per-record quantities tell the true V that the lead-2 vote takes away (223's) from the false V that it takes away
(208's, 203's, 108's, 220's)?

    python experiments/mitdb/vote_separation.py --work WORK --steps collect look     # key vote_separation_s41

WORK: a folder holding ``v_sensitivity.py``'s caches (the DS1 table, v_side's per-fold caches, the 96-sample
``step_beats`` cache, v59's lead-2 columns and run v61's lead-2 beats; session s41 used a copy of session s40's folder,
which reproduced the committed keys). ``collect`` (about 5 minutes on 2 CPU cores, no deep training: the lead-2
boosters are refitted as runs v60 / s40 / s40b fit them) writes each side's per-beat rows to
``WORK/vote_separation/``; ``look`` reads them. Results: key ``vote_separation_s41`` of
``vote_separation_results.json`` beside this file (last line of stdout: one JSON object).

**Not blind.** Every figure here is read off labels, on the inner rows (training side) and on the left-out rows.
Sessions s40 / s40b and runs v60-v62 had shown where the vote helps and hurts; this look asks why, and chooses nothing.

What the rows are (both checked against the committed keys before any figure of the look):
- **inner** (seed 42): session s40's build rows (key ``v_lead2_vote_build``): both outer folds' inner-4 sides, DS1's 8
  inner groups, every DS1 beat once; the fold's inner-4 recipe voted with its inner lead-2 booster,
  (1 - w) p + w p_lead2 (run v60's arm all_beats, every beat), then serving's rules (rhythm gate, the shipped v_gate,
  v_pause, v_template). w = 0 must reproduce that key's pooled figures.
- **left out** (booster seeds 42-44): today's served left-out rows (key ``v_gate_and_lead2_left_out``'s v_gate rows)
  and the same vote at w on both outer folds with the outer lead-2 boosters (key ``v_lead2_keep_v_nested``'s forced
  ``unprotected`` rows, reproduced).

The vote's V decisions: for each w of ``W_GRID``, a beat is **removed** when the served rows call it V at w = 0 and not
at w, **added** when the other way round. The gate the brief asks about would keep a removed V call (m = 0 there).
The named contrast: 223's removed true V (the vote is wrong: a gate must keep them) against the removed non-V beats of
208, 203, 108 and 220 (the vote is right: a gate must let them go).

Quantities (``QUANTITIES``; all label free, computed from the signal or from the recipe's own outputs):
lead 1 (MLII) and lead 2 (V1; V5 in 114, V4 in 124): QRS width / the record's median beat's, R amplitude / the median
beat's, correlation with the record's median beat, a per-beat noise ratio (RMS of the first difference outside R +- 80
ms / QRS peak-to-peak, of the 96-sample beat); prematurity (pre RR / the median of the 16 neighbouring RR, the table's
``pre_rr_local_median_ratio``) and the pause after it (``post_rr_local_median_ratio``); the ECG-SL P(V) (MLII only:
no ECG-SL model was trained on lead 2, so there is no deep P(V) of lead 2), the one-lead booster's P(V), the lead-2
booster's P(V), their difference, the served average's P(V) before any rule; per record: the share of its beats the
served rows call V (w = 0, that seed), the median of its lead-2 beats' correlation with their median beat and the
median of its lead-2 noise ratios (lead-2 signal quality).

Separation (``look``): for each quantity, side and w, the AUROC of the named contrast (P(223's removed true V has the
larger value); 0.5 is none, 0 or 1 full) and of the pooled one (every record's removed true V against every record's
removed non-V); the same two AUROCs over the added decisions (223's added true V against the four records' added
non-V; every record's) are reported beside them. The best single threshold is chosen per record group: for each of
DS1's 8 inner groups, direction and threshold maximise the balanced accuracy (true V kept + non-V released, each as a
share) over the OTHER 7 groups' removed decisions (every record, pooled), and are applied to the held-out group; the
counts are the sums over the groups (left out: per seed mean). The in-sample best threshold of the named contrast is
reported as an upper bound. Added after the first figures of the look (a report, outside ``ROOM_RULE``): the same
per-group threshold over the ADDED decisions (``group_threshold_added``: "kept" there means the vote may turn the
beat into V; 223's added true V against the four records' added non-V).

Room to spare (``ROOM_RULE``, fixed before any figure of the look): a quantity qualifies for a committed plan only if,
on both sides and at each w of ``W_GRID``, its named AUROC is at least 0.9 from 0.5's far side (max(a, 1 - a) >= 0.9)
AND its per-group threshold keeps at least 80% of 223's removed true V AND releases at least 80% of the removed non-V
of 208, 203, 108 and 220. Where none qualifies, no plan is committed and the closest quantity is reported with its
distance (the smallest of its margins to those three bars, on its worst side and w).
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

import v_sensitivity as vs  # noqa: E402

log = logging.getLogger("vote_separation")

OUT = HERE / "vote_separation_results.json"
KEY = "vote_separation_s41"
W_GRID = (0.15, 0.3)                       # run v60's LEAD2_VOTE_GRID
KEPT_RECORD = "223"                        # the true V a gate must keep
RELEASED_RECORDS = ("208", "203", "108", "220")   # the false V a gate must let the vote remove
REPORTED_RECORDS = ("223", "207", "106", "203", "108", "208", "220")   # per-record counts, zeros included
ROOM_AUC, ROOM_KEPT, ROOM_RELEASED = 0.9, 0.8, 0.8
ROOM_RULE = (
    "fixed before any figure of the look: a quantity qualifies for a committed plan only if, on both sides (inner "
    "seed 42; left out seeds 42-44) and at each w of W_GRID (0.15, 0.3), max(AUROC, 1 - AUROC) of the named contrast "
    "(223's vote-removed true V against the vote-removed non-V of 208, 203, 108, 220) >= 0.9 AND the per-group "
    "threshold (chosen on the other 7 inner groups' removed decisions of every record, balanced accuracy) keeps >= 80% "
    "of 223's removed true V AND releases >= 80% of the four records' removed non-V. None qualifies: no plan; the "
    "closest quantity and its distance are reported")
QRS = slice(24, 41)                        # R +- 80 ms of a 96-sample beat at 100 Hz (per_beat_features.QRS_REGION)
TABLE_COLUMNS = {"lead1_qrs_width_norm": "qrs_width_norm", "lead1_r_amplitude_norm": "r_amplitude_norm",
                 "lead1_median_corr": "median_corr", "pre_rr_local_median_ratio": "pre_rr_local_median_ratio",
                 "post_rr_local_median_ratio": "post_rr_local_median_ratio"}
LEAD2_COLUMNS = {"lead2_qrs_width_norm": "lead2_qrs_width_norm", "lead2_r_amplitude_norm": "lead2_r_amplitude_norm",
                 "lead2_median_corr": "lead2_median_corr"}
QUANTITIES = {
    "lead1_qrs_width_norm": "MLII QRS width / the record's median beat's",
    "lead2_qrs_width_norm": "lead-2 QRS width / its median beat's",
    "lead1_r_amplitude_norm": "MLII R amplitude / the median beat's",
    "lead2_r_amplitude_norm": "lead-2 R amplitude / its median beat's",
    "lead1_median_corr": "MLII correlation with the record's median beat",
    "lead2_median_corr": "lead-2 correlation with its median beat",
    "lead1_noise": "MLII beat: RMS of the first difference outside R +- 80 ms / QRS peak-to-peak",
    "lead2_noise": "lead-2 beat: the same",
    "pre_rr_local_median_ratio": "pre RR / the median of the 16 neighbouring RR (prematurity)",
    "post_rr_local_median_ratio": "post RR / the same median (pause after the beat)",
    "deep_p_v": "ECG-SL P(V) (MLII; no deep model on lead 2)",
    "booster1_p_v": "one-lead booster P(V)",
    "booster2_p_v": "lead-2 booster P(V)",
    "booster2_minus_booster1_p_v": "lead-2 booster P(V) - one-lead booster P(V)",
    "mix_p_v": "served average P(V) before any rule (w = 0)",
    "record_v_fraction": "the record's share of beats the served rows call V (w = 0)",
    "lead2_record_corr": "the record's median lead-2 correlation with its median beat (lead-2 quality)",
    "lead2_record_noise": "the record's median lead-2 noise ratio (lead-2 quality)",
}

log_fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def noise_ratio(beats: np.ndarray) -> np.ndarray:
    """(n,) RMS of the first difference outside ``QRS`` / the QRS peak-to-peak of each 96-sample beat (NaN: flat)."""
    b = np.asarray(beats, np.float64)
    d = np.diff(b, axis=1)
    out_qrs = np.ones(d.shape[1], bool)
    out_qrs[QRS.start:QRS.stop - 1] = False
    p2p = b[:, QRS].max(axis=1) - b[:, QRS].min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p2p > 1e-9, np.sqrt((d[:, out_qrs] ** 2).mean(axis=1)) / p2p, np.nan)


def _record_median(rec, x) -> np.ndarray:
    """Each row's record median of ``x`` (NaN ignored)."""
    out = np.full(len(x), np.nan)
    for r in np.unique(rec):
        m = rec == r
        out[m] = np.nanmedian(x[m]) if np.isfinite(x[m]).any() else np.nan
    return out


def _record_share(rec, called) -> np.ndarray:
    out = np.zeros(len(called))
    for r in np.unique(rec):
        m = rec == r
        out[m] = called[m].mean()
    return out


def _signal_quantities(table, idx, beats, lead2, lead2_beats) -> dict:
    """The quantities of ``QUANTITIES`` that do not depend on a seed, for the table rows ``idx``."""
    from beats_preset import _columns_of

    from ecgsl_keras.data.per_beat_features import SECOND_LEAD_FEATURE_NAMES
    q = {k: _columns_of(table, [c])[idx, 0].astype(np.float64) for k, c in TABLE_COLUMNS.items()}
    q.update({k: lead2[idx, list(SECOND_LEAD_FEATURE_NAMES).index(c)] for k, c in LEAD2_COLUMNS.items()})
    q["lead1_noise"] = noise_ratio(beats[idx])
    q["lead2_noise"] = noise_ratio(lead2_beats[idx])
    rec = table["record"][idx]
    # record-level lead-2 quality over ALL the record's table rows (not only ``idx``: a record is on one side whole)
    q["lead2_record_corr"] = _record_median(rec, q["lead2_median_corr"])
    q["lead2_record_noise"] = _record_median(rec, q["lead2_noise"])
    return q


def _called_v(rows, v) -> np.ndarray:
    return np.asarray(rows).argmax(-1) == v


def collect_inner(work, mitdb_dir, table, labels, dec, beats, spec, lead2, lead2_beats, saved) -> dict:
    """Session s40's inner rows (seed 42) at w = 0 and each w of ``W_GRID``, with the quantities; checked: w = 0
    pooled reproduces key ``v_lead2_vote_build``'s figures."""
    from beats_preset import _columns_of
    from v_side import _gated

    from ecgsl_keras.modeling.stacking import VPause, VTemplate
    v = labels.index("V")
    parts = []
    for h in range(len(dec["parts"])):
        q = vs._lead2_inner_parts(table, labels, dec, h, beats, spec, lead2)
        idx, c = q["idx"], dec["chosen"][str(h)]
        gate = spec["gate"]
        c_af = {"gate_feature": gate["feature"], "gate_threshold": gate["threshold"]}
        pause, vote = VPause.from_spec(spec["v_pause"], labels), VTemplate.from_spec(spec["v_template"], labels)
        rec = table["record"][idx]
        pcols = vs._pause_evidence(table, idx, c_af)["columns"]
        vcols = _columns_of(table, list(vote.columns))[idx]

        def served(p):
            return vs._served_with_gate(spec["v_gate"], _gated(table, idx, p, c, labels), q["deep"][:, v], table,
                                        idx, pause, pcols, vote, vcols, beats[idx], rec, labels)[0]
        rows = {w: served(vs.lead2_vote(q["mix"], q["lead2_booster"], w)) for w in (0.0, *W_GRID)}
        wd = float(c["deep_weight"])
        booster1 = (q["mix"] - wd * q["deep"]) / (1 - wd)
        group = np.full(len(idx), -1)
        for g, members in enumerate(dec["groups"][h]):
            group[np.isin(rec, members)] = 4 * h + g
        parts.append({"idx": idx, "rows": rows, "deep_p_v": q["deep"][:, v], "booster1_p_v": booster1[:, v],
                      "booster2_p_v": q["lead2_booster"][:, v], "mix_p_v": q["mix"][:, v], "group": group})
        log.info("inner fold %d: %d rows", h, len(idx))
    idx = np.concatenate([p["idx"] for p in parts])
    rows = {w: np.concatenate([p["rows"][w] for p in parts]) for w in (0.0, *W_GRID)}
    y = table["y"][idx]
    from beats_preset import _scores
    off = _scores(y, rows[0.0], labels)
    ref = saved[vs.LEAD2_BUILD_KEY]["chosen_by_inner_groups"]["off"]
    if any(round(float(off[m]), 4) != ref[m] for m in ref):
        raise SystemExit(f"the inner w = 0 rows are not key {vs.LEAD2_BUILD_KEY}'s: {off} against {ref}")
    for i, w in enumerate(W_GRID):
        ref_w = saved[vs.LEAD2_BUILD_KEY]["chosen_by_inner_groups"]["points"][i]
        got = _scores(y, rows[w], labels)
        if ref_w["w"] != w or any(round(float(got[m]), 4) != ref_w["pooled"][m] for m in ref_w["pooled"]):
            raise SystemExit(f"the inner w = {w} rows are not key {vs.LEAD2_BUILD_KEY}'s")
    out = {"idx": idx, "y": y, "rec": table["record"][idx].astype(str),
           "group": np.concatenate([p["group"] for p in parts]),
           **{f"called_w{w}": _called_v(rows[w], v) for w in (0.0, *W_GRID)},
           **{k: np.concatenate([p[k] for p in parts]) for k in ("deep_p_v", "booster1_p_v", "booster2_p_v",
                                                                 "mix_p_v")}}
    out.update(_signal_quantities(table, idx, beats, lead2, lead2_beats))
    return out


def collect_left_out(work, mitdb_dir, table, labels, dec, beats, spec, lead2, lead2_beats, saved) -> dict:
    """Today's served left-out rows and v60's vote at each w of ``W_GRID`` on both folds, seeds 42-44, with the
    quantities; checked against keys ``v_gate_and_lead2_left_out`` (w = 0) and ``v_lead2_keep_v_nested`` (forced
    unprotected rows)."""
    import v_gate
    from hybrid import BOOSTER_SEEDS
    v = labels.index("V")
    entry = vs._shipped_v_gate(spec, saved)
    outer = vs._lead2_outer(table, labels, dec, lead2)
    p_deep_v = np.concatenate([part["p_deep"] for part in dec["parts"]])[:, v]
    sr0 = vs._template_served_rows(table, labels, dec, beats, spec["v_template"])
    y, rec, idx = sr0["y"], sr0["rec"], sr0["idx"]
    rows = {0.0: vs._v_gated_left_out(entry, sr0, p_deep_v, table, beats, labels)}
    _, spread0 = vs._seed_spread(y, rows[0.0], labels)
    ref0 = saved[vs.GATE_AND_LEAD2_KEY]["v_gate"]["seed_spread"]
    if any(abs(spread0[m]["mean"] - ref0[m]["mean"]) > 1e-9 for m in v_gate.COMPARED):
        raise SystemExit(f"today's served rows are not key {vs.GATE_AND_LEAD2_KEY}'s v_gate rows")
    nf = range(len(dec["parts"]))
    for w in W_GRID:
        sr = vs._template_served_rows(table, labels, dec, beats, spec["v_template"],
                                      mix=vs._lead2_hooks(dec, outer, {h: w for h in nf}))
        if not np.array_equal(sr["idx"], idx):
            raise SystemExit("the vote's left-out rows are not the served ones")
        rows[w] = vs._v_gated_left_out(entry, sr, p_deep_v, table, beats, labels)
        _, spread = vs._seed_spread(y, rows[w], labels)
        ref = saved[vs.LEAD2_KEEP_V_KEY]["forced"]["unprotected"][str(w)]["seed_spread"]
        if any(abs(spread[m]["mean"] - ref[m]["mean"]) > 1e-9 for m in v_gate.COMPARED):
            raise SystemExit(f"the vote's rows at w = {w} are not key {vs.LEAD2_KEEP_V_KEY}'s forced rows")
        log.info("left out: w %s reproduced", w)
    lo = vs.left_out_rows(table, labels, dec)
    group = np.full(len(idx), -1)
    for h in nf:
        for g, members in enumerate(dec["groups"][h]):
            group[np.isin(rec, members)] = 4 * h + g
    if (group < 0).any():
        raise SystemExit("a left-out record is in none of DS1's 8 inner groups")
    out = {"idx": idx, "y": y, "rec": rec.astype(str), "group": group, "deep_p_v": p_deep_v}
    for s in BOOSTER_SEEDS:
        for w in (0.0, *W_GRID):
            out[f"called_w{w}_s{s}"] = _called_v(rows[w][s], v)
        out[f"booster1_p_v_s{s}"] = lo[f"booster_s{s}"][:, v]
        out[f"booster2_p_v_s{s}"] = np.concatenate([outer[h][s][:, v] for h in nf])
        out[f"mix_p_v_s{s}"] = lo[f"mix_s{s}"][:, v]
    out.update(_signal_quantities(table, idx, beats, lead2, lead2_beats))
    return out


def step_collect(work: Path, mitdb_dir: Path) -> dict:
    table, labels = vs._setup(work, mitdb_dir)
    dec = vs.decision_rows(work, table, labels)
    beats = vs.step_beats(work, mitdb_dir, table)
    spec = vs.preset_spec()
    lead2, _ = vs.step_lead2(work, mitdb_dir, table)
    lead2_beats = vs.step_lead2_beats(work, mitdb_dir, table)
    saved = json.loads(vs.OUT.read_text(encoding="utf-8"))
    cache = work / "vote_separation"
    cache.mkdir(parents=True, exist_ok=True)
    args = (work, mitdb_dir, table, labels, dec, beats, spec, lead2, lead2_beats, saved)
    for side, f in (("inner", collect_inner), ("left_out", collect_left_out)):
        np.savez_compressed(cache / f"{side}.npz", **f(*args))
        log.info("%s rows written", side)
    return {"cache": str(cache),
            "checks": "inner w = 0 / 0.15 / 0.3 reproduce key v_lead2_vote_build; left-out w = 0 reproduces "
                      "v_gate_and_lead2_left_out, w = 0.15 / 0.3 v_lead2_keep_v_nested's forced unprotected rows"}


# ---- the look
def auc(pos, neg) -> float | None:
    """P(a ``pos`` value > a ``neg`` value) + half the ties (NaN dropped); None if either side is empty."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if not len(pos) or not len(neg):
        return None
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sv = allv[order]
    # average ranks of ties
    i = 0
    while i < len(sv):
        j = i
        while j + 1 < len(sv) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def best_threshold(x, keep) -> tuple:
    """(direction, threshold, balanced accuracy) maximising the balanced accuracy of "keep when x >= t" (direction
    +1) or "keep when x <= t" (-1) over finite ``x`` (``keep``: the true V). NaN values are released."""
    x, keep = np.asarray(x, float), np.asarray(keep, bool)
    ok = np.isfinite(x)
    n_pos, n_neg = int(keep.sum()), int((~keep).sum())
    if not n_pos or not n_neg:
        return None, None, None
    best = (None, None, -1.0)
    cand = np.unique(x[ok])
    for d in (1, -1):
        xs = d * x[ok]
        kp, kn = np.sort(xs[keep[ok]]), np.sort(xs[~keep[ok]])
        for t in d * cand:
            tp = len(kp) - np.searchsorted(kp, t, side="left")
            tn = n_neg - (len(kn) - np.searchsorted(kn, t, side="left"))
            ba = 0.5 * (tp / n_pos + tn / n_neg)
            if ba > best[2] + 1e-12:
                best = (d, float(d * t), float(ba))
    return best


def _keeps(x, d, t) -> np.ndarray:
    x = np.asarray(x, float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(x) & ((x >= t) if d == 1 else (x <= t))


def _instances(data: dict, side: str, w: float) -> dict:
    """The vote's changed V decisions at ``w``: {'removed' / 'added': {'rec', 'group', 'true_v', 'seed', 'q': {name:
    values}}} pooled over the side's seeds (inner: 42)."""
    from hybrid import BOOSTER_SEEDS
    seeds = (None,) if side == "inner" else BOOSTER_SEEDS
    v = int(data["v"])
    out = {}
    for kind in ("removed", "added"):
        acc = {"rec": [], "group": [], "true_v": [], "seed": [], "q": {k: [] for k in QUANTITIES}}
        for s in seeds:
            sfx = "" if s is None else f"_s{s}"
            c0, cw = data[f"called_w0.0{sfx}"], data[f"called_w{w}{sfx}"]
            m = (c0 & ~cw) if kind == "removed" else (~c0 & cw)
            acc["rec"].append(data["rec"][m])
            acc["group"].append(data["group"][m])
            acc["true_v"].append(data["y"][m] == v)
            acc["seed"].append(np.full(int(m.sum()), -1 if s is None else s))
            for k in QUANTITIES:
                if k == "record_v_fraction":
                    x = _record_share(data["rec"], c0)
                elif k == "booster2_minus_booster1_p_v":
                    x = data[f"booster2_p_v{sfx}"] - data[f"booster1_p_v{sfx}"]
                elif f"{k}{sfx}" in data:
                    x = data[f"{k}{sfx}"]
                else:
                    x = data[k]
                acc["q"][k].append(np.asarray(x, float)[m])
        out[kind] = {"rec": np.concatenate(acc["rec"]), "group": np.concatenate(acc["group"]),
                     "true_v": np.concatenate(acc["true_v"]), "seed": np.concatenate(acc["seed"]),
                     "q": {k: np.concatenate(x) for k, x in acc["q"].items()}}
    return out


def _r(x, nd=4):
    return None if x is None else round(float(x), nd)


def _group_thresholds(inst: dict, name: str, n_seeds: int) -> dict:
    """Leave-one-inner-group-out threshold of quantity ``name`` over the removed decisions (every record): counts
    summed over the 8 groups (per seed mean), for 223's true V, the four records' non-V and all records."""
    x, keep, group, rec = inst["q"][name], inst["true_v"], inst["group"], inst["rec"]
    kept = np.zeros(len(x), bool)
    per_group = {}
    for g in np.unique(group):
        test = group == g
        d, t, ba = best_threshold(x[~test], keep[~test])
        if d is None:
            per_group[str(int(g))] = None
            continue
        kept[test] = _keeps(x[test], d, t)
        per_group[str(int(g))] = {"direction": ">=" if d == 1 else "<=", "threshold": _r(t), "train_balanced_acc":
                                  _r(ba), "records": sorted(set(rec[test]))}
    named_v = (rec == KEPT_RECORD) & keep
    named_f = np.isin(rec, RELEASED_RECORDS) & ~keep
    per = 1.0 / n_seeds
    return {
        "KEPT_RECORD_true_V": {"n": _r(named_v.sum() * per, 2), "kept": _r((kept & named_v).sum() * per, 2)},
        "released_records_non_V": {"n": _r(named_f.sum() * per, 2), "released": _r((~kept & named_f).sum() * per, 2)},
        "all_true_V": {"n": _r(keep.sum() * per, 2), "kept": _r((kept & keep).sum() * per, 2)},
        "all_non_V": {"n": _r((~keep).sum() * per, 2), "released": _r((~kept & ~keep).sum() * per, 2)},
        "kept_share_223": _r((kept & named_v).sum() / named_v.sum()) if named_v.any() else None,
        "released_share_four": _r((~kept & named_f).sum() / named_f.sum()) if named_f.any() else None,
        "per_group": per_group}


def _in_sample(x, pos, neg) -> dict:
    """The named contrast's best threshold chosen on its own beats (an upper bound, label-using)."""
    xx = np.concatenate([x[pos], x[neg]])
    kk = np.concatenate([np.ones(pos.sum(), bool), np.zeros(neg.sum(), bool)])
    d, t, ba = best_threshold(xx, kk)
    if d is None:
        return None
    return {"direction": ">=" if d == 1 else "<=", "threshold": _r(t), "balanced_acc": _r(ba),
            "kept_share_223": _r(_keeps(x[pos], d, t).mean()),
            "released_share_four": _r(1 - _keeps(x[neg], d, t).mean())}


def _medians(x, m) -> dict:
    v = x[m]
    v = v[np.isfinite(v)]
    return {"median": _r(np.median(v)) if len(v) else None, "q25": _r(np.quantile(v, 0.25)) if len(v) else None,
            "q75": _r(np.quantile(v, 0.75)) if len(v) else None, "n_finite": int(len(v))}


def look_side(data: dict, side: str) -> dict:
    n_seeds = 1 if side == "inner" else 3
    out = {}
    for w in W_GRID:
        inst = _instances(data, side, w)
        rem, add = inst["removed"], inst["added"]
        pos = (rem["rec"] == KEPT_RECORD) & rem["true_v"]
        neg = np.isin(rem["rec"], RELEASED_RECORDS) & ~rem["true_v"]
        counts = {}
        for kind, d in (("removed", rem), ("added", add)):
            by = {r: {"true_V": 0, "non_V": 0} for r in REPORTED_RECORDS}
            for r, tv in zip(d["rec"], d["true_v"]):
                by.setdefault(str(r), {"true_V": 0, "non_V": 0})["true_V" if tv else "non_V"] += 1
            counts[kind] = {r: {k: _r(n / n_seeds, 2) for k, n in c.items()} for r, c in sorted(by.items())}
            counts[kind]["all"] = {"true_V": _r(d["true_v"].sum() / n_seeds, 2),
                                   "non_V": _r((~d["true_v"]).sum() / n_seeds, 2)}
        per_q = {}
        for k in QUANTITIES:
            x = rem["q"][k]
            a_named = auc(x[pos], x[neg])
            a_pooled = auc(x[rem["true_v"]], x[~rem["true_v"]])
            a_added = auc(add["q"][k][add["true_v"]], add["q"][k][~add["true_v"]])
            a_named_added = auc(add["q"][k][(add["rec"] == KEPT_RECORD) & add["true_v"]],
                                add["q"][k][np.isin(add["rec"], RELEASED_RECORDS) & ~add["true_v"]])
            per_q[k] = {"auc_named": _r(a_named), "separation_named": _r(None if a_named is None else max(a_named,
                                                                                                       1 - a_named)),
                        "auc_pooled_removed": _r(a_pooled), "auc_pooled_added": _r(a_added),
                        "auc_named_added": _r(a_named_added),
                        "named_223_true_V": _medians(x, pos), "named_four_non_V": _medians(x, neg),
                        "group_threshold": _group_thresholds(rem, k, n_seeds),
                        "group_threshold_added": _group_thresholds(add, k, n_seeds),
                        "in_sample_named": _in_sample(x, pos, neg)}
        out[str(w)] = {"counts_per_seed": counts,
                       "named": {"223_true_V_removed_per_seed": _r(pos.sum() / n_seeds, 2),
                                 "four_non_V_removed_per_seed": _r(neg.sum() / n_seeds, 2)},
                       "quantities": per_q}
    return out


def room(sides: dict) -> dict:
    """``ROOM_RULE`` per quantity: its three margins on its worst side and w, and whether it qualifies."""
    res = {}
    for k in QUANTITIES:
        margins = []
        for side, by_w in sides.items():
            for w, r in by_w.items():
                q = r["quantities"][k]
                gt = q["group_threshold"]
                margins.append({"side": side, "w": w,
                                "auc": None if q["separation_named"] is None else q["separation_named"] - ROOM_AUC,
                                "kept": None if gt["kept_share_223"] is None else gt["kept_share_223"] - ROOM_KEPT,
                                "released": (None if gt["released_share_four"] is None
                                             else gt["released_share_four"] - ROOM_RELEASED)})
        worst = {m: min((x[m] for x in margins if x[m] is not None), default=None) for m in ("auc", "kept", "released")}
        ok = all(x is not None and x >= 0 for x in worst.values())
        res[k] = {"worst_margin": {m: _r(x) for m, x in worst.items()},
                  "distance": _r(min(x for x in worst.values() if x is not None)), "qualifies": bool(ok)}
    closest = max(res, key=lambda k: res[k]["distance"] if res[k]["distance"] is not None else -9)
    return {"rule": ROOM_RULE, "by_quantity": res, "qualifying": [k for k in res if res[k]["qualifies"]],
            "closest": closest, "closest_distance": res[closest]["distance"]}


def step_look(work: Path) -> dict:
    from ecgsl_keras import tasks as tasks_lib
    labels = list(tasks_lib.MITDB_AAMI.label_names)
    sides = {}
    for side in ("inner", "left_out"):
        data = dict(np.load(work / "vote_separation" / f"{side}.npz"))
        data["v"] = labels.index("V")
        sides[side] = look_side(data, side)
        log.info("%s: looked", side)
    verdict = room(sides)
    return {"what": "a diagnosis (nothing chosen, the preset is not changed; not blind: read off labels on the inner "
                    "and left-out rows)", "blind": False, "w_grid": list(W_GRID), "kept_record": KEPT_RECORD,
            "released_records": list(RELEASED_RECORDS), "quantities": QUANTITIES, "sides": sides, "room": verdict,
            "plan": (None if not verdict["qualifying"] else "a quantity qualifies: see the plan key"),
            "decision": ("no quantity separates the groups with room to spare: no plan is committed"
                         if not verdict["qualifying"] else f"qualifying: {verdict['qualifying']}")}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format=log_fmt, stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--steps", nargs="+", default=["collect", "look"], choices=["collect", "look"])
    p.add_argument("--mitdb-dir", default=str(MITDB))
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    start = time.perf_counter()
    work = Path(args.work).resolve()
    result = {}
    if "collect" in args.steps:
        result = step_collect(work, Path(args.mitdb_dir))
    if "look" in args.steps:
        out_path = Path(args.out)
        saved = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
        command = "python experiments/mitdb/vote_separation.py " + " ".join(sys.argv[1:] if argv is None else argv)
        result = saved[KEY] = dict(step_look(work), command=command, seconds=round(time.perf_counter() - start, 1))
        out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"key": KEY, "decision": result.get("decision"), "room": result.get("room", {}).get("closest")}
                     if "look" in args.steps else result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
