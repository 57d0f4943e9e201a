"""The V side of ``mitdb-beats`` (issue 18, run mitdb31): where the shipped recipe (ECG-SL averaged with the per-beat
booster, rhythm gate included) loses V beats and calls normal beats V on DS1 records left
out, and two levers for it (neither kept, RESULTS.md).

    python experiments/mitdb/v_side.py --work WORK [--cache DIR] [--steps cache diagnose lever neighbours]
    python experiments/mitdb/v_side.py --work ANY --from-committed [NPZ] --steps cache stack   # run s36

``WORK``: ``beats_preset.py``'s work folder (2 folds: key ``v_side``; ``run.py --folds K``: ``v_side_kK``, the
recipe of key ``rhythm_gate_kK_rhythm_labels``): its ``beats_preset/table.npz``, ``folds.json``, the ECG-SL
left-out and inner predictions. The recipe of each outer fold is the one ``beats_preset.py --steps rhythm
--gate-sets shipped --gate-from-rhythm-labels`` chose on that fold's training records (key
``rhythm_gate_rhythm_labels.shipped_sets.chosen_by_inner_cv``: column set, booster size, deep weight, gate), so the
gated rows here reproduce that key's ``chosen_weighted_gated`` rows.

Steps:

``cache``    per outer fold: the ECG-SL left-out probabilities, the booster's for seeds 42-44, and the recipe's
             INNER probabilities on the training records (booster of the chosen set and size trained on one inner
             group and scored on the other, averaged with the inner ECG-SL models with the chosen deep weight),
             kept in ``--cache``.
``diagnose`` booster seed 42, gated: per record of ``RECORDS`` the V beats missed (called what; in a run, i.e. a
             V neighbour; premature against the record's average RR and their own neighbours; QRS width and
             correlation against the record's median beat; what ECG-SL and the booster each called) and the normal
             beats called V (which part says V; width, correlation, residual, amplitude against the record's
             normal beats called N). Key ``v_side.diagnosis``.
``lever``    the V decision weight: the recipe's V probability multiplied by a scale (before the gate) and the V deep
             weight (the weight of ECG-SL in the V column alone) chosen TOGETHER by each outer fold's inner CV on
             its training records (the recipe's inner probabilities, inner macro F1 over N, S, V, F; ties keep
             scale 1 and the recipe's own weight), applied to the left-out fold. Key ``v_side.lever``, with the
             recipe's rows on the same beats, per-record errors and distances to the targets; ablations: the V
             deep weight alone (``v_weight_only``), the V scale alone (``v_scale_only``); added after the lever
             failed with K = 4: the same grid chosen by the worse inner group's macro F1 (``v_lever_worst_group``).
             ``keep_rule`` decides.
``neighbours`` the run-aware lever: the booster's columns of each beat's previous and next beat
             (``neighbour_columns``: RR and shape against the record's median beat) added to the recipe's set,
             on every fold and where the training fold's inner CV prefers them. Key ``v_side.neighbours``. The
             neighbours are the table's (labelled beats); serving would take the detector's beats.
``stack``    (run s36, key ``v_side_stack[_kK]``) ECG-SL's V probability as one more booster column (stacking), the
             recipe otherwise unchanged (the fold's set, size, deep weight and gate). Why this lever: the diagnosis
             found the V errors left are the booster's (V beats of 223/106 called S, normal beats of 108/203 called
             V) on beats where ECG-SL is often right; averaging can only trade the two parts' V columns globally,
             and the per-class V weight of ``lever`` was chosen unstably by one inner split (0.25/0.5 on one fold,
             0.75/1.5 on the other, 0.75/2.0 broke record 118 with K = 4). A column lets the booster learn WHERE to
             trust ECG-SL (e.g. a premature beat near the median shape that ECG-SL calls V) with no new weight to
             choose. The column is out of fold on both sides: on the training records it is the INNER ECG-SL model's
             probability (trained on the other inner group, ``run.py --steps inner``), on the left-out records the
             outer model's (trained on the training fold). Inner models see about half the records, so the training
             column is weaker than the one scored: the booster under-trusts it (conservative, not optimistic). Only
             the V column, fixed in advance (ECG-SL's S probability is poor, S Se ~0.1 alone). The one choice, on
             each training fold alone: stacking or not, by the recipe's inner probabilities (booster trained on one
             inner group with that group's inner column, scored on the other with its own; averaged with the inner
             ECG-SL models with the fold's deep weight; gated), taken only if it raises the pooled inner macro F1
             (N, S, V, F) AND lowers neither inner group's (a choice that must hold on both halves, fixed before any
             figure because one-split choices were unstable). Rows ``stack_chosen`` (that choice), ``stack_forced``
             (every fold, ablation), ``recipe``. ``STACK_KEEP_RULE`` (fixed before any left-out figure) decides on
             ``stack_chosen``; with K = 4 (if run) it must not break either.

``--stack-inner-folds 4`` (run s37, key ``v_side_stack_inner4``; with ``--from-committed``): the same lever with a
training-side column from inner models that saw more records: ``run.py --steps inner --inner-folds 4`` trains, per
outer training fold, one ECG-SL model on three of four groups of its whole records (about 75% of them, against
about 50% with two groups) and scores the fourth; ``--steps export_inner --inner-runs RUNS_WORK`` commits those
probabilities (``oof/inner4_k2.npz``, float16), read back with ``oof.CommittedPredictions.add_inner``. The left-out
side is unchanged (the outer model's column). The choice on each training fold, fixed before any left-out figure:
the inner CV over the SAME four groups (the plain and the stacked booster of the recipe's set and size each trained
on three groups, the stacked one with the inner-4 column, and scored on the fourth; averaged with the inner-4 ECG-SL
probabilities with the fold's deep weight; gated), stacking taken only if it raises the pooled inner macro F1
(N, S, V, F) AND lowers no inner group's; ``STACK_KEEP_RULE`` decides on ``stack_chosen``. Known optimism of that
choice (stacked arm only, second order): an inner-4 column of a beat of group A comes from a model that trained on
the other groups, including the group the stacked booster is then scored on.

``--from-committed [NPZ]`` (run s36): the ECG-SL probabilities from ``oof/left_out_k2.npz`` (``oof.py``) instead of
WORK's runs; the recipe's choices are then those made on the committed probabilities (key
``committed_oof.from_file.chosen_by_inner_cv``, ``beats_preset.py --steps export``) and the recipe rows reproduce
that key's ``seed_spread``.
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

import beats_preset  # noqa: E402
import oof  # noqa: E402
from beats_preset import (EXPORT, GATE_KEY, RHYTHM, _booster, _columns_of, _deep_by_time,  # noqa: E402
                          _inner_deep, _macro_nsvf, _per_record, _scores, column_sets, rhythm_gate, step_table)
from hybrid import BOOSTER_SEEDS, TARGETS  # noqa: E402
from run import inner_groups, training_records  # noqa: E402

log = logging.getLogger("experiments.mitdb.v_side")

RECORDS = ("108", "223", "106", "203", "207", "118")   # the records of the V errors (per_record key)
V_SCALES = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0)   # candidates of the V decision weight (fixed before figures)
V_DEEP_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)            # candidates of the V column's deep weight
MORPH = ("qrs_width_norm", "qrs_width_ms", "median_corr", "median_corr_qrs", "residual_norm", "r_amplitude_norm",
         "qrs_p2p_norm", "pre_rr_norm", "post_rr_norm", "pre_rr_local_median_ratio", "pre_rr_local_z",
         "window_af_afev")
KEY = "v_side"
STACK_KEY = "v_side_stack"
STACK_COLUMN = "ecgsl_p_v"   # the stacked column: ECG-SL's out-of-fold V probability
STACK_KEEP_RULE = ("fixed before any left-out figure (run s36): stack_chosen is kept if, over booster seeds 42-44 on "
                   "the pooled left-out beats, its mean macro F1 (N, S, V, F) is not below the recipe's by more than "
                   "the seed sd (the larger of the two rows'), and V Se or V +P rises by more than its seed sd while "
                   "the other does not fall by more than its seed sd; with K = 4, where run, the same must hold")

CHOICE_RULE_INNER_K = ("fixed before any left-out figure (run s37): on each outer training fold, the inner CV over "
                       "the K inner groups of --inner-folds K (plain and stacked booster each trained on K - 1 groups, "
                       "the stacked one with the inner-K ECG-SL V column, scored on the held group; averaged with the "
                       "inner-K ECG-SL probabilities with the fold's deep weight; gated): stacking is taken only if it "
                       "raises the pooled inner macro F1 (N, S, V, F) and lowers no inner group's")


def v_weighted(p_booster, p_deep, w, labels, v_scale=1.0, v_weight=None):
    """The recipe's average with the V column's own deep weight ``v_weight`` (None: ``w``) and its V probability
    multiplied by ``v_scale``, rows renormalised."""
    v = labels.index("V")
    p = (1 - w) * p_booster + w * p_deep
    if v_weight is not None:
        p[:, v] = (1 - v_weight) * p_booster[:, v] + v_weight * p_deep[:, v]
    p[:, v] *= v_scale
    return p / p.sum(axis=1, keepdims=True)


def step_cache(work: Path, cache: Path, table: dict, labels, chosen: dict) -> None:
    folds = json.loads((work / "folds.json").read_text(encoding="utf-8"))["folds"]
    sets = column_sets()
    for held_out in range(len(folds)):
        path = cache / f"fold{held_out}.npz"
        if path.is_file():
            continue
        t0 = time.perf_counter()
        c = chosen[str(held_out)]
        test = np.isin(table["record"], folds[held_out])
        train = np.isin(table["record"], training_records(folds, held_out))
        deep, matched = _deep_by_time(work, f"scratch_focal_heldout{held_out}", f"fold{held_out}", table)
        scored = test & matched
        cols = sets[c["set"]]
        X = _columns_of(table, cols)
        out = {"scored": np.flatnonzero(scored), "train": np.flatnonzero(train), "p_deep": deep[scored]}
        for seed in BOOSTER_SEEDS:
            out[f"p_booster_s{seed}"] = _booster(X[train], table["y"][train], cols, labels, seed,
                                                 c["booster_size"]).predict_proba(X[scored])
        inner = inner_groups(work, held_out)
        yt, Xt = table["y"][train], X[train]
        inner_b = np.zeros((len(yt), len(labels)))
        for group in inner:
            m = np.isin(table["record"][train], group)
            inner_b[m] = _booster(Xt[~m], yt[~m], cols, labels, 42, c["booster_size"]).predict_proba(Xt[m])
        out["inner_booster"] = inner_b
        out["inner_deep"] = _inner_deep(work, held_out, inner, table, train)
        np.savez_compressed(path, **out)
        log.info("fold %d cached, %.0f s", held_out, time.perf_counter() - t0)


def _load(cache: Path, n_folds: int) -> list:
    return [dict(np.load(cache / f"fold{h}.npz")) for h in range(n_folds)]


def _gated(table, idx, p, c, labels):
    evidence = _columns_of(table, [c["gate_feature"]])[idx, 0]
    return rhythm_gate(p, evidence, c["gate_threshold"], labels)


def _stats(values) -> dict:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if not len(values):
        return {"n": 0}
    q = np.quantile(values, [0.25, 0.5, 0.75])
    return {"n": int(len(values)), "q25": round(float(q[0]), 3), "median": round(float(q[1]), 3),
            "q75": round(float(q[2]), 3)}


def step_diagnose(table, labels, chosen, parts) -> dict:
    """Seed 42, gated: the V errors of ``RECORDS``."""
    n, v = labels.index("N"), labels.index("V")
    idx = np.concatenate([part["scored"] for part in parts])
    y = table["y"][idx]
    rec = table["record"][idx]
    deep = np.concatenate([part["p_deep"] for part in parts])
    boost = np.concatenate([part["p_booster_s42"] for part in parts])
    p = np.concatenate([_gated(table, part["scored"], (1 - chosen[str(h)]["deep_weight"]) * part["p_booster_s42"]
                               + chosen[str(h)]["deep_weight"] * part["p_deep"], chosen[str(h)], labels)
                        for h, part in enumerate(parts)])
    call, call_deep, call_boost = p.argmax(-1), deep.argmax(-1), boost.argmax(-1)
    morph = {m: _columns_of(table, [m])[idx, 0] for m in MORPH}
    # a V beat "in a run": its previous or next labelled beat of the same record is also V (couplet / VT)
    same_prev = np.r_[False, rec[1:] == rec[:-1]]
    same_next = np.r_[rec[:-1] == rec[1:], False]
    prev_v = same_prev & np.r_[False, y[:-1] == v]
    next_v = same_next & np.r_[y[1:] == v, False]
    in_run = prev_v | next_v
    name = lambda k: labels[int(k)]   # noqa: E731
    out = {}
    for r in RECORDS:
        mine = rec == r
        if not mine.any():
            continue
        missed = mine & (y == v) & (call != v)
        hit = mine & (y == v) & (call == v)
        n_as_v = mine & (y == n) & (call == v)
        n_as_n = mine & (y == n) & (call == n)
        row = {"V": int((mine & (y == v)).sum()), "V_missed": int(missed.sum()), "N_called_V": int(n_as_v.sum())}
        if missed.any():
            row["missed_called"] = {name(k): int(c) for k, c in zip(*np.unique(call[missed], return_counts=True))}
            row["missed_in_run"] = int((missed & in_run).sum())
            row["hit_in_run"] = int((hit & in_run).sum())
            row["missed_ecgsl_called"] = {name(k): int(c) for k, c in
                                          zip(*np.unique(call_deep[missed], return_counts=True))}
            row["missed_booster_called"] = {name(k): int(c) for k, c in
                                            zip(*np.unique(call_boost[missed], return_counts=True))}
            row["missed_ecgsl_says_v"] = int((missed & (call_deep == v)).sum())
            row["missed_booster_says_v"] = int((missed & (call_boost == v)).sum())
            row["missed_mean_p_v"] = {"ecgsl": round(float(deep[missed, v].mean()), 3),
                                      "booster": round(float(boost[missed, v].mean()), 3),
                                      "recipe": round(float(p[missed, v].mean()), 3)}
            row["missed"] = {m: _stats(morph[m][missed]) for m in MORPH}
            row["hit"] = {m: _stats(morph[m][hit]) for m in MORPH}
        if n_as_v.any():
            row["N_called_V_ecgsl_says_v"] = int((n_as_v & (call_deep == v)).sum())
            row["N_called_V_booster_says_v"] = int((n_as_v & (call_boost == v)).sum())
            row["N_called_V_both_say_v"] = int((n_as_v & (call_deep == v) & (call_boost == v)).sum())
            row["N_called_V_mean_p_v"] = {"ecgsl": round(float(deep[n_as_v, v].mean()), 3),
                                          "booster": round(float(boost[n_as_v, v].mean()), 3)}
            row["N_called_V_morph"] = {m: _stats(morph[m][n_as_v]) for m in MORPH}
            row["N_called_N_morph"] = {m: _stats(morph[m][n_as_n]) for m in MORPH}
        out[r] = row
    # over every left-out beat: who says V among the errors
    missed, n_as_v = (y == v) & (call != v), (y == n) & (call == v)
    out["all"] = {"V": int((y == v).sum()), "V_missed": int(missed.sum()), "N_called_V": int(n_as_v.sum()),
                  "V_missed_in_run": int((missed & in_run).sum()), "V_in_run": int(((y == v) & in_run).sum()),
                  "V_missed_ecgsl_says_v": int((missed & (call_deep == v)).sum()),
                  "V_missed_booster_says_v": int((missed & (call_boost == v)).sum()),
                  "N_called_V_ecgsl_says_v": int((n_as_v & (call_deep == v)).sum()),
                  "N_called_V_booster_says_v": int((n_as_v & (call_boost == v)).sum()),
                  "V_sensitivity_ecgsl": round(float((call_deep[y == v] == v).mean()), 4),
                  "V_sensitivity_booster": round(float((call_boost[y == v] == v).mean()), 4),
                  "V_positive_predictivity_ecgsl": round(float((y[call_deep == v] == v).mean()), 4),
                  "V_positive_predictivity_booster": round(float((y[call_boost == v] == v).mean()), 4)}
    return out


def _choose_v(table, labels, c, part, weights=V_DEEP_WEIGHTS, scales=V_SCALES, groups=None) -> dict:
    """The V scale and the V deep weight of one outer fold, by the inner CV on its training records (``weights``
    None: the recipe's deep weight alone); ``groups`` (the inner groups' records): by the WORST inner group's
    macro F1 instead of the pooled one (a choice that must hold on both halves of the training records)."""
    train = part["train"]
    y = table["y"][train]
    ok = np.isfinite(part["inner_deep"]).all(axis=1)
    w = c["deep_weight"]
    evidence = _columns_of(table, [c["gate_feature"]])[train, 0]
    by = {}
    for vw in weights or (w,):
        for s in scales:
            p = v_weighted(part["inner_booster"][ok], part["inner_deep"][ok], w, labels, s, vw)
            p = rhythm_gate(p, evidence[ok], c["gate_threshold"], labels)
            if groups is None:
                by[f"{vw}|{s}"] = round(_macro_nsvf(y[ok], p, labels), 4)
            else:
                rec = table["record"][train][ok]
                by[f"{vw}|{s}"] = round(min(_macro_nsvf(y[ok][np.isin(rec, g)], p[np.isin(rec, g)], labels)
                                            for g in groups), 4)
    base = f"{w}|1.0"
    best = max(by, key=lambda k: (by[k], k == base))
    vw, s = best.split("|")
    return {"v_deep_weight": float(vw), "v_scale": float(s), "inner_macro_f1_nsvf": by[best],
            "inner_macro_f1_nsvf_recipe": by[base], "inner_macro_f1_nsvf_by_v_deep_weight_and_scale": by}


LEVERS = {"v_lever": (V_DEEP_WEIGHTS, V_SCALES, False),      # the lever: V deep weight and V scale together
          "v_weight_only": (V_DEEP_WEIGHTS, (1.0,), False),  # ablations: the V deep weight alone,
          "v_scale_only": (None, V_SCALES, False),           # the V scale alone (the recipe's deep weight)
          # added after v_lever failed with K = 4: the same grid chosen by the worse of the two inner groups
          "v_lever_worst_group": (V_DEEP_WEIGHTS, V_SCALES, True)}


def step_lever(table, labels, chosen, parts, work: Path) -> dict:
    choice = {lever: {str(h): _choose_v(table, labels, chosen[str(h)], part, weights, scales,
                                        inner_groups(work, h) if worst else None)
                      for h, part in enumerate(parts)}
              for lever, (weights, scales, worst) in LEVERS.items()}
    idx = np.concatenate([part["scored"] for part in parts])
    y, rec = table["y"][idx], table["record"][idx]
    rows = {}
    for seed in BOOSTER_SEEDS:
        for form in ("recipe", *LEVERS):
            ps = []
            for h, part in enumerate(parts):
                c, ch = chosen[str(h)], choice.get(form, {}).get(str(h))
                kw = {"v_scale": ch["v_scale"], "v_weight": ch["v_deep_weight"]} if ch else {}
                p = v_weighted(part[f"p_booster_s{seed}"], part["p_deep"], c["deep_weight"], labels, **kw)
                ps.append(_gated(table, part["scored"], p, c, labels))
            rows[f"{form}_s{seed}"] = (np.concatenate(ps))
    scores = {k: _scores(y, p, labels) for k, p in rows.items()}
    spread = _spread(scores, ("recipe", *LEVERS))
    per_record = {k: {r: v for r, v in _per_record(y, p, rec, labels).items() if r in RECORDS}
                  for k, p in rows.items() if k.endswith("_s42")}
    verdict = {lever: keep_rule(spread[lever], spread["recipe"]) for lever in LEVERS}
    return {"chosen_by_inner_cv": choice, "rows": scores, "seed_spread": spread, "per_record": per_record,
            "verdict": verdict, "kept": verdict["v_lever"]["kept"], "v_scales": list(V_SCALES),
            "v_deep_weights": list(V_DEEP_WEIGHTS)}


def keep_rule(a: dict, b: dict) -> dict:
    """The keep rule of seed spreads ``a`` (the lever) against ``b`` (the recipe): the seed-mean macro F1 (N, S,
    V, F) up by more than the larger seed sd, V Se and V +P each up (neither down by more than its sd, their sum
    up), S Se and S +P each not down by more than its sd."""
    gain = a["macro_f1_nsvf"]["mean"] - b["macro_f1_nsvf"]["mean"]
    sd = lambda k: max(a[k]["sd"], b[k]["sd"])   # noqa: E731
    delta = {k: round(a[k]["mean"] - b[k]["mean"], 4) for k in
             ("macro_f1_nsvf", "S_sensitivity", "S_positive_predictivity", "V_sensitivity", "V_positive_predictivity")}
    macro = gain > sd("macro_f1_nsvf")
    v_up = (delta["V_sensitivity"] + delta["V_positive_predictivity"] > 0
            and all(delta[k] >= -sd(k) for k in ("V_sensitivity", "V_positive_predictivity")))
    s_kept = all(delta[k] >= -sd(k) for k in ("S_sensitivity", "S_positive_predictivity"))
    return {"delta": delta, "macro_up_by_more_than_sd": bool(macro), "v_up": bool(v_up),
            "s_not_down_by_more_than_sd": bool(s_kept), "kept": bool(macro and v_up and s_kept)}


NEIGHBOUR_OF = ("pre_rr_norm", "post_rr_norm", "qrs_width_norm", "median_corr", "median_corr_qrs", "residual_norm")


def neighbour_columns(table: dict, names=NEIGHBOUR_OF) -> tuple:
    """(n, 2 * len(names)) the columns ``names`` of each beat's previous and next beat of the table in the same
    record (NaN at a record's ends), and their names ``prev_<name>`` / ``next_<name>``: a beat in a run of ectopic
    beats has ectopic-looking neighbours, where an isolated premature beat has normal ones."""
    x = _columns_of(table, list(names))
    rec = table["record"]
    prev, nxt = np.full_like(x, np.nan), np.full_like(x, np.nan)
    same = rec[1:] == rec[:-1]
    prev[1:][same] = x[:-1][same]
    nxt[:-1][same] = x[1:][same]
    return np.concatenate([prev, nxt], axis=1), [f"prev_{n}" for n in names] + [f"next_{n}" for n in names]


def step_neighbours(table, labels, chosen, parts, work: Path) -> dict:
    """The recipe with the neighbour columns (``neighbour_columns``) added to its chosen set, the fold's booster
    size, deep weight and gate unchanged: ``neighbours_forced`` on every fold, ``neighbours_chosen`` where the
    training fold's inner CV (the recipe's inner probabilities with and without them, gated, seed 42) prefers
    them."""
    extra, extra_names = neighbour_columns(table)
    sets = column_sets()
    inner_choice = {}
    idx = np.concatenate([part["scored"] for part in parts])
    y, rec = table["y"][idx], table["record"][idx]
    per_fold = []
    for h, part in enumerate(parts):
        c = chosen[str(h)]
        cols = sets[c["set"]] + extra_names
        X = np.concatenate([_columns_of(table, sets[c["set"]]), extra], axis=1)
        train, scored = part["train"], part["scored"]
        yt = table["y"][train]
        inner = inner_groups(work, h)
        inner_b = np.zeros((len(train), len(labels)))
        for group in inner:
            m = np.isin(table["record"][train], group)
            inner_b[m] = _booster(X[train][~m], yt[~m], cols, labels, 42, c["booster_size"]).predict_proba(
                X[train][m])
        ok = np.isfinite(part["inner_deep"]).all(axis=1)
        w = c["deep_weight"]
        f1 = {}
        for name, b in (("recipe", part["inner_booster"]), ("neighbours", inner_b)):
            pi = _gated(table, train[ok], (1 - w) * b[ok] + w * part["inner_deep"][ok], c, labels)
            f1[name] = round(_macro_nsvf(yt[ok], pi, labels), 4)
        inner_choice[str(h)] = {"inner_macro_f1_nsvf": f1, "uses_neighbours": f1["neighbours"] > f1["recipe"]}
        fold_p = {}
        for seed in BOOSTER_SEEDS:
            pb = _booster(X[train], yt, cols, labels, seed, c["booster_size"]).predict_proba(X[scored])
            fold_p[f"neighbours_forced_s{seed}"] = _gated(table, scored, (1 - w) * pb + w * part["p_deep"], c, labels)
            recipe = _gated(table, scored, (1 - w) * part[f"p_booster_s{seed}"] + w * part["p_deep"], c, labels)
            fold_p[f"recipe_s{seed}"] = recipe
            fold_p[f"neighbours_chosen_s{seed}"] = (fold_p[f"neighbours_forced_s{seed}"]
                                                    if inner_choice[str(h)]["uses_neighbours"] else recipe)
        per_fold.append(fold_p)
        log.info("neighbours, fold %d: inner %s", h, f1)
    rows = {k: np.concatenate([f[k] for f in per_fold]) for k in per_fold[0]}
    scores = {k: _scores(y, p, labels) for k, p in rows.items()}
    spread = _spread(scores, ("recipe", "neighbours_forced", "neighbours_chosen"))
    per_record = {k: {r: v for r, v in _per_record(y, p, rec, labels).items() if r in RECORDS}
                  for k, p in rows.items() if k.endswith("_s42")}
    verdict = {form: keep_rule(spread[form], spread["recipe"]) for form in ("neighbours_forced", "neighbours_chosen")}
    return {"columns": extra_names, "chosen_by_inner_cv": inner_choice, "rows": scores, "seed_spread": spread,
            "per_record": per_record, "verdict": verdict}


def stack_keep_rule(a: dict, b: dict) -> dict:
    """``STACK_KEEP_RULE`` for seed spreads ``a`` (the lever) against ``b`` (the recipe)."""
    keys = ("macro_f1_nsvf", "S_sensitivity", "S_positive_predictivity", "V_sensitivity", "V_positive_predictivity")
    delta = {k: round(a[k]["mean"] - b[k]["mean"], 4) for k in keys}
    sd = {k: max(a[k]["sd"], b[k]["sd"]) for k in keys}
    macro_held = a["macro_f1_nsvf"]["mean"] - b["macro_f1_nsvf"]["mean"] >= -sd["macro_f1_nsvf"]
    d = {k: a[k]["mean"] - b[k]["mean"] for k in ("V_sensitivity", "V_positive_predictivity")}
    v_up = any(d[k] > sd[k] and d[o] >= -sd[o] for k, o in (("V_sensitivity", "V_positive_predictivity"),
                                                            ("V_positive_predictivity", "V_sensitivity")))
    return {"delta": delta, "sd": {k: round(v, 4) for k, v in sd.items()}, "macro_not_down_beyond_sd": bool(macro_held),
            "v_up_beyond_sd_other_not_down": bool(v_up), "kept": bool(macro_held and v_up)}


def stack_columns(table, part, c, labels, side: str) -> np.ndarray:
    """The stacked booster's matrix of one outer fold: the recipe's column set + ECG-SL's V probability, the inner
    models' on the training records (``side`` "train"), the outer model's on the left-out ones ("scored")."""
    v = labels.index("V")
    idx = part[side]
    deep = part["inner_deep"] if side == "train" else part["p_deep"]
    return np.concatenate([_columns_of(table, column_sets()[c["set"]])[idx], deep[:, [v]]], axis=1)


def _choose_stack(table, labels, c, part, inner) -> dict:
    """Stacking or not on one training fold (``stack``'s rule): the recipe's inner probabilities with the plain
    booster against the stacked one, pooled and per inner group."""
    train = part["train"]
    cols = column_sets()[c["set"]] + [STACK_COLUMN]
    Xt = stack_columns(table, part, c, labels, "train")
    inner_s = inner_booster(Xt, table["y"][train], table["record"][train], inner, cols, labels, c)
    f1, uses = inner_comparison(table, labels, c, part, inner, "stack", inner_s)
    return {"inner_macro_f1_nsvf": f1, "uses_stack": uses, "inner_groups": [sorted(g) for g in inner]}


def inner_booster(X_train, y_train, records, groups, cols, labels, c) -> np.ndarray:
    """Inner out-of-group probabilities on a training fold's rows: per group, a booster (seed 42, ``c``'s size) fitted
    on the other groups' rows."""
    out = np.zeros((len(y_train), len(labels)))
    for group in groups:
        m = np.isin(records, group)
        out[m] = _booster(X_train[~m], y_train[~m], cols, labels, 42, c["booster_size"]).predict_proba(X_train[m])
    return out


def inner_comparison(table, labels, c, part, groups, name, inner_candidate) -> tuple:
    """The inner choice of a training fold (``stack``'s rule, v_gate's population columns): the recipe's inner
    probabilities with the fold's booster against those with ``inner_candidate``, gated as the recipe gates; macro F1
    (N, S, V, F) pooled and per inner group, and whether ``name`` is taken (pooled up, no group down)."""
    train = part["train"]
    yt, rec = table["y"][train], table["record"][train]
    ok = np.isfinite(part["inner_deep"]).all(axis=1)
    w = c["deep_weight"]
    f1 = {}
    for key, b in (("recipe", part["inner_booster"]), (name, inner_candidate)):
        pi = _gated(table, train[ok], (1 - w) * b[ok] + w * part["inner_deep"][ok], c, labels)
        f1[key] = {"pooled": round(_macro_nsvf(yt[ok], pi, labels), 4),
                   "groups": [round(_macro_nsvf(yt[ok][np.isin(rec[ok], g)], pi[np.isin(rec[ok], g)], labels), 4)
                              for g in groups]}
    uses = f1[name]["pooled"] > f1["recipe"]["pooled"] and all(
        a >= b for a, b in zip(f1[name]["groups"], f1["recipe"]["groups"]))
    return f1, bool(uses)


def with_inner_k(table, labels, c, part, inner_deep, groups, extra=None) -> dict:
    """``part`` with the training side of ``--stack-inner-folds K``: ``inner_deep`` (the inner-K ECG-SL
    probabilities on the training records) and the plain booster's inner probabilities over the same K ``groups``.
    ``extra`` ((names, (n_table, k) columns), run v59): columns appended to the fold's set."""
    train = part["train"]
    cols = column_sets()[c["set"]]
    X = _columns_of(table, cols)
    if extra is not None:
        cols, X = cols + list(extra[0]), np.concatenate([X, extra[1]], axis=1)
    Xt, yt, rec = X[train], table["y"][train], table["record"][train]
    inner_b = np.zeros((len(yt), len(labels)))
    for group in groups:
        m = np.isin(rec, group)
        inner_b[m] = _booster(Xt[~m], yt[~m], cols, labels, 42, c["booster_size"]).predict_proba(Xt[m])
    return dict(part, inner_deep=inner_deep, inner_booster=inner_b)


def step_stack(table, labels, chosen, parts, work: Path, inner_k=None) -> dict:
    """The ``stack`` lever (module docstring): rows ``recipe``, ``stack_forced``, ``stack_chosen``, seeds 42-44.
    ``inner_k`` (K, {held_out: (training beats, C) inner-K probabilities}, {held_out: K groups}): the training side
    of ``--stack-inner-folds K``."""
    idx = np.concatenate([part["scored"] for part in parts])
    y, rec = table["y"][idx], table["record"][idx]
    choice, per_fold = {}, []
    for h, part in enumerate(parts):
        c = chosen[str(h)]
        w = c["deep_weight"]
        groups = inner_groups(work, h)
        if inner_k is not None:
            groups = inner_k[2][h]
            part = with_inner_k(table, labels, c, part, inner_k[1][h], groups)
        choice[str(h)] = _choose_stack(table, labels, c, part, groups)
        cols = column_sets()[c["set"]] + [STACK_COLUMN]
        Xt, Xs = stack_columns(table, part, c, labels, "train"), stack_columns(table, part, c, labels, "scored")
        yt = table["y"][part["train"]]
        fold_p = {}
        for seed in BOOSTER_SEEDS:
            pb = _booster(Xt, yt, cols, labels, seed, c["booster_size"]).predict_proba(Xs)
            fold_p[f"stack_forced_s{seed}"] = _gated(table, part["scored"], (1 - w) * pb + w * part["p_deep"], c,
                                                     labels)
            fold_p[f"recipe_s{seed}"] = _gated(table, part["scored"], (1 - w) * part[f"p_booster_s{seed}"]
                                               + w * part["p_deep"], c, labels)
            fold_p[f"stack_chosen_s{seed}"] = fold_p[f"stack_forced_s{seed}" if choice[str(h)]["uses_stack"]
                                                     else f"recipe_s{seed}"]
        per_fold.append(fold_p)
        log.info("stack, fold %d: inner %s", h, choice[str(h)]["inner_macro_f1_nsvf"])
    forms = ("recipe", "stack_forced", "stack_chosen")
    rows = {k: np.concatenate([f[k] for f in per_fold]) for k in per_fold[0]}
    scores = {k: _scores(y, p, labels) for k, p in rows.items()}
    spread = _spread(scores, forms)
    per_record = {k: {r: v for r, v in _per_record(y, p, rec, labels).items() if r in RECORDS}
                  for k, p in rows.items() if k.endswith("_s42")}
    verdict = {form: stack_keep_rule(spread[form], spread["recipe"]) for form in forms[1:]}
    return {"column": STACK_COLUMN, "keep_rule": STACK_KEEP_RULE, "chosen_by_inner_cv": choice,
            "rows": scores, "seed_spread": spread, "per_record": per_record, "verdict": verdict,
            "kept": verdict["stack_chosen"]["kept"]}


def column_quality(table, labels, parts, inner_k) -> dict:
    """ECG-SL alone (argmax) on each side of the stacked column, pooled over the outer folds: the two-group inner
    models' and the inner-K models' on the training records, the outer models' on the left-out ones (V Se, V +P,
    macro F1 over N, S, V, F): how close each training-side column is to the one scored."""
    sides = {"inner2_train": [], f"inner{inner_k[0]}_train": [], "outer_scored": []}
    for h, part in enumerate(parts):
        yt = table["y"][part["train"]]
        sides["inner2_train"].append((yt, part["inner_deep"]))
        sides[f"inner{inner_k[0]}_train"].append((yt, inner_k[1][h]))
        sides["outer_scored"].append((table["y"][part["scored"]], part["p_deep"]))
    out = {}
    for name, pieces in sides.items():
        y = np.concatenate([a for a, _ in pieces])
        p = np.concatenate([b for _, b in pieces])
        ok = np.isfinite(p).all(axis=1)
        m = _scores(y[ok], p[ok], labels)
        side = "scored" if name == "outer_scored" else "train"
        out[name] = {k: m[k] for k in ("beats", "V_sensitivity", "V_positive_predictivity", "macro_f1_nsvf")}
        called_v = (p[ok].argmax(-1) == labels.index("V")) & (y[ok] != labels.index("V"))
        recs = np.concatenate([table["record"][part[side]] for part in parts])[ok]
        # the records where ECG-SL calls most non-V beats V (over 100): where a column's V +P is lost
        counts = {str(r): int(n) for r, n in zip(*np.unique(recs[called_v], return_counts=True)) if n > 100}
        out[name]["non_v_called_v_over_100"] = counts
    return out


def export_inner(runs_work: Path, table: dict, k: int, path: Path) -> dict:
    """Commit the probabilities of ``run.py --steps inner --inner-folds k`` (scratch_focal, in ``runs_work``) on the
    committed file's rows (``oof.write_inner``)."""
    from run import inner_names

    committed = beats_preset.COMMITTED
    saved = json.loads((runs_work / "folds.json").read_text(encoding="utf-8"))
    if saved["folds"] != committed.folds:
        raise SystemExit(f"{runs_work / 'folds.json'}: its folds are not those of {committed.path}")
    n = len(saved["folds"])
    inner, groups = {}, {}
    beats_preset.COMMITTED = None   # the runs' own predictions, matched to the table by time
    try:
        for h in range(n):
            groups[h] = inner_groups(runs_work, h, k)
            out = None
            for g in range(k):
                run_name, _, scored = inner_names("scratch_focal", h, n, k, g)
                if not (runs_work / run_name / "left_out_predictions.npz").is_file():
                    raise SystemExit(f"{runs_work / run_name}: no left_out_predictions.npz (run.py --steps inner "
                                     f"--inner-folds {k} not finished)")
                deep, _ = _deep_by_time(runs_work, run_name, scored, table)
                deep[~np.isin(table["record"], groups[h][g])] = np.nan
                out = deep if out is None else np.where(np.isfinite(deep), deep, out)
            inner[h] = out
    finally:
        beats_preset.COMMITTED = committed
    meta = {"source": f"run.py --work {runs_work} --steps inner --inner-folds {k} --variants scratch_focal "
                      "(2 outer folds, seed 42, epochs 100)",
            "writer": f"v_side.py --steps export_inner --stack-inner-folds {k}", "dtype": "float16"}
    return oof.write_inner(path, committed, table, inner, k, groups, meta)


def _spread(scores: dict, forms) -> dict:
    keys = ("S_sensitivity", "S_positive_predictivity", "V_sensitivity", "V_positive_predictivity",
            "macro_f1_nsvf", "accuracy")
    spread = {}
    for form in forms:
        seeds = [scores[f"{form}_s{s}"] for s in BOOSTER_SEEDS]
        spread[form] = {k: {"mean": float(np.mean([r[k] for r in seeds])),
                            "sd": float(np.std([r[k] for r in seeds], ddof=1))} for k in keys}
        spread[form]["distance_to_targets"] = {k: round(spread[form][k]["mean"] - t, 4) for k, t in TARGETS.items()}
    return spread


def _repo_relative(path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--cache", help="where the per-fold probabilities are kept (default WORK/v_side; with "
                   "--from-committed WORK/v_side_<file stem>)")
    p.add_argument("--mitdb-dir", default=str(MITDB))
    p.add_argument("--steps", nargs="+", default=["cache", "diagnose", "lever", "neighbours"],
                   choices=("cache", "diagnose", "lever", "neighbours", "stack", "export_inner"))
    p.add_argument("--stack-inner-folds", type=int, default=2,
                   help="stack: the training-side column from run.py --inner-folds K models (K > 2 needs "
                        "--from-committed and oof/inner<K>_k2.npz)")
    p.add_argument("--inner-runs", help="export_inner: the run.py --inner-folds K work folder holding the inner runs")
    p.add_argument("--out", default=str(HERE / "beats_preset_results.json"))
    p.add_argument("--recipe-from", help="the results JSON whose recipe choices (the gate key) are taken (default: "
                   "--out); with --from-committed, its committed_oof key")
    p.add_argument("--from-committed", nargs="?", const=str(oof.DEFAULT), default=None, metavar="NPZ",
                   help=f"the ECG-SL probabilities from this committed file (default {oof.DEFAULT.relative_to(REPO)})")
    args = p.parse_args(argv)
    k_inner = args.stack_inner_folds
    if k_inner < 2:
        p.error(f"--stack-inner-folds must be at least 2, got {k_inner}")
    if (k_inner > 2 or "export_inner" in args.steps) and not args.from_committed:
        p.error("--stack-inner-folds K > 2 and --steps export_inner read/write next to the committed file: "
                "add --from-committed")
    if "export_inner" in args.steps and (k_inner == 2 or not args.inner_runs):
        p.error("--steps export_inner needs --inner-runs RUNS_WORK and --stack-inner-folds K > 2")
    from ecgsl_keras import tasks as tasks_lib

    work = Path(args.work).resolve()
    if args.from_committed:
        beats_preset.COMMITTED = oof.CommittedPredictions(args.from_committed)
        beats_preset.COMMITTED.write_folds(work)
    # the committed probabilities get their own cache: WORK's v_side/ holds its own runs' (different models)
    cache = Path(args.cache) if args.cache else work / (
        f"v_side_{Path(args.from_committed).stem}" if args.from_committed else "v_side")
    cache.mkdir(parents=True, exist_ok=True)
    labels = list(tasks_lib.MITDB_AAMI.label_names)
    out_path = Path(args.out)
    result = json.loads(out_path.read_text(encoding="utf-8"))
    recipe = json.loads(Path(args.recipe_from).read_text(encoding="utf-8")) if args.recipe_from else result
    # WORK's folds (run.py --folds K [--balance-af]): the gate key and this script's key carry beats_preset's suffix
    saved = json.loads((work / "folds.json").read_text(encoding="utf-8"))
    n_folds = len(saved["folds"])
    suffix = "" if n_folds == 2 and "AF" not in saved.get("balance", []) else (
        f"_k{n_folds}" + ("_af" if "AF" in saved.get("balance", []) else ""))
    gate_key, key = GATE_KEY.replace(RHYTHM, RHYTHM + suffix), KEY + suffix
    if args.from_committed:   # the choices made on the committed probabilities (beats_preset.py --steps export)
        gate_key = f"{EXPORT}{suffix}.from_file"
        shipped_sets = recipe[EXPORT + suffix]["from_file"]
    else:
        shipped_sets = recipe[gate_key]["shipped_sets"]
    chosen = shipped_sets["chosen_by_inner_cv"]
    table = step_table(work, Path(args.mitdb_dir))
    t0 = time.perf_counter()
    if "cache" in args.steps:
        step_cache(work, cache, table, labels, chosen)
    parts = _load(cache, len(chosen))
    command = "python experiments/mitdb/v_side.py " + " ".join(sys.argv[1:] if argv is None else argv)
    shipped = shipped_sets["seed_spread"]["chosen_weighted_gated"]["macro_f1_nsvf"]["mean"]
    stack_key = STACK_KEY + (f"_inner{k_inner}" if k_inner > 2 else "") + suffix
    if "export_inner" in args.steps:
        info = export_inner(Path(args.inner_runs).resolve(), table, k_inner,
                            oof.inner_k_path_for(args.from_committed, k_inner))
        log.info("inner-%d probabilities committed: %s", k_inner, info)
    inner_k = None
    if k_inner > 2 and "stack" in args.steps:
        assert beats_preset.COMMITTED.add_inner(oof.inner_k_path_for(args.from_committed, k_inner)) == k_inner
        groups = beats_preset.COMMITTED.inner_k_groups
        inner_k = (k_inner, {h: beats_preset.COMMITTED.inner_k(h, table, k_inner)[part["train"]]
                             for h, part in enumerate(parts)}, {h: groups[str(h)] for h in range(len(parts))})
    if "stack" in args.steps:
        stack = step_stack(table, labels, chosen, parts, work, inner_k)
        if inner_k is not None:
            stack["inner_folds"] = k_inner
            stack["inner_file"] = _repo_relative(oof.inner_k_path_for(args.from_committed, k_inner))
            stack["choice_rule"] = CHOICE_RULE_INNER_K
            stack["column_quality"] = column_quality(table, labels, parts, inner_k)
        stack["reproduces_recipe_row"] = bool(
            abs(stack["seed_spread"]["recipe"]["macro_f1_nsvf"]["mean"] - shipped) < 1e-6)
        stack.update(command=command, gate_key=gate_key, seconds=round(time.perf_counter() - t0, 1),
                     from_committed=args.from_committed and _repo_relative(args.from_committed))
        result[stack_key] = stack
        log.info("stack: recipe %.4f, chosen %.4f, forced %.4f, kept %s",
                 stack["seed_spread"]["recipe"]["macro_f1_nsvf"]["mean"],
                 stack["seed_spread"]["stack_chosen"]["macro_f1_nsvf"]["mean"],
                 stack["seed_spread"]["stack_forced"]["macro_f1_nsvf"]["mean"], stack["kept"])
    if set(args.steps) & {"diagnose", "lever", "neighbours"}:
        mine = result.get(key, {})
        mine["command"] = command
        if "diagnose" in args.steps:
            mine["diagnosis"] = step_diagnose(table, labels, chosen, parts)
        if "lever" in args.steps:
            mine["lever"] = step_lever(table, labels, chosen, parts, work)
            mine["lever"]["reproduces_shipped_gated_row"] = bool(
                abs(mine["lever"]["seed_spread"]["recipe"]["macro_f1_nsvf"]["mean"] - shipped) < 1e-6)
        if "neighbours" in args.steps:
            mine["neighbours"] = step_neighbours(table, labels, chosen, parts, work)
        mine["seconds"] = round(time.perf_counter() - t0, 1)
        mine["gate_key"] = gate_key
        result[key] = mine
    out_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    written = ([stack_key] if "stack" in args.steps else []) + (
        [key] if set(args.steps) & {"diagnose", "lever", "neighbours"} else [])
    print(json.dumps({k: result[k] for k in written}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
