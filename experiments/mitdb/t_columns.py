"""Run v50 (issue 18): the beat's T wave as booster COLUMNS of the mitdb-beats recipe, chosen blind within DS1.

    python experiments/mitdb/t_columns.py --work WORK --steps cache      # the T columns of every DS1 table row
    python experiments/mitdb/t_columns.py --work WORK --steps lever      # key v_t_columns of v_sensitivity_results.json
    python experiments/mitdb/t_columns.py --work WORK --steps lever_relative   # key v_t_columns_relative (run v50b)

WORK: v_sensitivity.py's work folder (v_gate.py's caches: ``beats_preset/table.npz``, ``v_side_left_out_k2_median/``,
``v_side_left_out_k2/``, ``folds.json``). ``cache`` reads the 22 DS1 records through the preset's own
``Predictor.preprocess`` (as ``beats_preset.step_table`` does), computes ``per_beat_features.t_wave_features`` on
ALL the detected beats of each record (the median beat is the serving one) and keeps the table's rows (matched by
R-peak time, checked), one file per record under ``WORK/t_columns/`` (resumable). ``lever`` takes about 3 minutes
on 2 CPU cores, no deep training. Results: ``experiments/mitdb/v_sensitivity_results.json`` key ``v_t_columns``
(last line of stdout: that object).

Why. v49 found that the T-wave energy (``t_energy_norm``, already a booster column) separates 223's ventricular
firings from its supraventricular ones, but as a RULE it trades 207-like and 106-like PVCs (about half of them have
a small T by energy) for 223-like ones. Energy ignores polarity and shape. A ventricular beat's T wave is secondary:
opposite in sign to its QRS's main deflection (discordant), wide, and unlike the T wave of the record's own normal
beats. The lever gives the booster those facts as columns and lets it learn their weight, rather than a fixed rule.
It is not a re-tune of v49's rule (no threshold on any T measure; v49's left-out firings were seen, this lever uses
none of them).

The lever (written with its rules BEFORE any figure of it, training side or left out). ``T_COLUMNS`` = six columns
of ``per_beat_features.T_WAVE_FEATURE_NAMES`` (``qrs_t_discordance``, ``qrs_t_product_norm``, ``t_polarity_median``,
``t_area_norm``, ``t_width_norm``, ``t_median_corr``; names, units, meanings and NaN policy documented in the module,
NaN left to LightGBM as every other column) appended to each outer fold's chosen column set (key
``relative_beats.candidate.chosen_by_inner_cv``: set, booster size, deep weight and rhythm gate unchanged). Per outer
fold:

- training side: the booster of the fold's set + T_COLUMNS and size, seed 42, trained on 3 of the fold's 4 inner
  groups (``oof/inner4_k2_median.npz``'s groups) and scored on the held one; averaged with the inner-4 ECG-SL
  probabilities with the fold's deep weight; rhythm gate; then v40's local V gate chosen AGAIN on these inner
  probabilities with v38's rule over ``LOCAL_GRID`` (``v_gate.choose_gate``, as v44 re-chose it for its deep side);
- the choice (``CHOICE_RULE``): v48's rule over the 2-point grid (off, T columns) against v40's gated inner recipe:
  the T columns are taken when the pooled inner V Se rises over v40's AND no inner group's macro F1 (N, S, V, F)
  falls by more than 0.002 (``NESTED_MACRO_TOL``) AND no inner group's S Se by more than 0.01 (``NESTED_S_TOL``);
- left out: the booster of the fold's set + T_COLUMNS trained on all of the fold's training records, seeds 42-44,
  averaged with the outer ECG-SL model's probabilities, rhythm gate, the re-chosen V gate. Where the fold refuses the
  columns, its rows are v40's.

Keep (``KEEP_RULE``): v48's (``NESTED_KEEP_RULE``): LEVER_KEEP_RULE against v40's decision row (key
``v_gate_local.inner4``, recomputed and checked), paired over booster seeds 42-44 (V Se mean change > 0 and > max(paired
sd, v40's seed sd); V +P mean change >= -(v40's seed sd); macro F1 (N, S, V, F) mean change >= 0; S Se mean change >=
-(v40's seed sd)) AND the mean V +P change >= 0. Reported beside it, not decisions: the T columns forced on both folds
(``forced``; added after its figures: ``forced_v40_gate``, the same under v40's own V gate, since the re-chosen
gate of fold 1 is off), the per-record picture (V lost, false V, S lost, S called V on every DS1 record, seed mean), the columns'
gain in the left-out boosters (seed 42) and what a ``mitdb-beats`` rebuild would need if kept.

Run v50b (``lever_relative``, key ``v_t_columns_relative``; ``RELATIVE_WHY``): the same choice and keep rules with only
the record-relative T columns (``RELATIVE_COLUMNS``), written after v50's left-out figures and before any of its own.
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

from ecgsl_keras.data.per_beat_features import T_WAVE_FEATURE_NAMES  # noqa: E402

log = logging.getLogger("experiments.mitdb.t_columns")

OUT = HERE / "v_sensitivity_results.json"
KEY = "v_t_columns"
# run v50's six columns, named here so that a later column of the library's T set does not change what v50 measured
T_COLUMNS = ("qrs_t_discordance", "qrs_t_product_norm", "t_polarity_median", "t_area_norm", "t_width_norm",
             "t_median_corr")
KEY_RELATIVE = "v_t_columns_relative"
# run v50b: only the record-relative T columns (written after v50's left-out figures, before any of its own)
RELATIVE_COLUMNS = ("t_polarity_median", "t_median_corr", "qrs_t_discordance_vs_median")
RELATIVE_WHY = (
    "run v50b, written after run v50's left-out figures (so not blind in its design, as v42b) and before any figure "
    "of its own: v50's forced rows showed QRS-T discordance to be a record trait on one lead (96% of 207's, 83% of "
    "223's and 77% of 108's normal beats discordant) and the booster trained on 11 records gave the absolute "
    "qrs_t_product_norm a large share of its gain; this lever keeps only the T evidence relative to the record's own "
    "usual beat: t_polarity_median, t_median_corr and qrs_t_discordance_vs_median. Choice and keep rules: v50's "
    "CHOICE_RULE and KEEP_RULE unchanged, with these columns in place of T_COLUMNS")
MOVED = 7        # the per-record T description (after the verdict): the records whose V moved most when forced
CHOICE_RULE = (
    "fixed before any figure of run v50 (training side or left out): per outer training fold, on its 4 inner groups, "
    "the lever's inner recipe (the booster of the fold's column set + T_COLUMNS and the fold's size, seed 42, trained "
    "on 3 inner groups and scored on the held one; averaged with the inner-4 ECG-SL probabilities with the fold's "
    "deep weight; rhythm gate; v40's local V gate chosen again on these inner probabilities with v38's rule over "
    "LOCAL_GRID) against v40's gated inner recipe (the same without T_COLUMNS, v40's gate as that fold chose it): the "
    "T columns are taken when the pooled inner V Se is above v40's AND no inner group's macro F1 (N, S, V, F, 4 "
    "decimals) falls by more than NESTED_MACRO_TOL = 0.002 AND no inner group's S Se (a group without S beats: no "
    "test) falls by more than NESTED_S_TOL = 0.01 (v48's choice rule over the grid off / T columns); otherwise the "
    "fold keeps v40. No scored beat takes part in any choice")
KEEP_RULE = (
    "fixed before any figure of run v50: v48's NESTED_KEEP_RULE: LEVER_KEEP_RULE against v40's decision row (key "
    "v_gate_local.inner4, recomputed and checked), paired over booster seeds 42-44 (V Se mean change > 0 and > "
    "max(paired sd, v40's seed sd); V +P mean change >= -(v40's seed sd); macro F1 (N, S, V, F) mean change >= 0; S Se "
    "mean change >= -(v40's seed sd)) AND the mean V +P change >= 0. Kept: a candidate column set for the mitdb-beats "
    "build (its own build rule, before any figure of it); not kept: v40 stays, the preset is unchanged")


def _t_path(work: Path, rid: str) -> Path:
    return work / "t_columns" / f"{rid}.npz"


def step_cache(work: Path, mitdb_dir: Path, table: dict) -> dict:
    """{name: (n_table,)} every column of ``T_WAVE_FEATURE_NAMES`` for the table's rows, computed per record on all
    its detected beats through the preset's preprocessing (cached per record; a cache of other columns is redone)."""
    from beats_preset import PRESET

    from ecgsl_keras import tasks as tasks_lib
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.signal import own_beats
    names = list(T_WAVE_FEATURE_NAMES)
    out = np.full((len(table["y"]), len(names)), np.nan)
    predictor = reader = None
    for rid in tasks_lib.MITDB_DS1:
        mine = np.flatnonzero(table["record"] == rid)
        path = _t_path(work, rid)
        if not path.is_file() or [str(c) for c in np.load(path).get("names", [])] != names:
            if predictor is None:
                from ecgsl_keras.serving.inference import load_model
                predictor = load_model(PRESET)
                reader = open_dataset("mitdb", mitdb_dir, lead=predictor.lead, records=list(tasks_lib.MITDB_DS1))
            t0 = time.perf_counter()
            record = reader.load(rid)
            beats = predictor.preprocess(record.lead(None), record.fs, record.path)
            x = beat_feature_columns(own_beats(beats.beats, predictor.config.signal), beats.rr,
                                     np.asarray(beats.rpeaks, np.float64) / float(beats.fs), names)
            t = np.asarray(beats.rpeaks, np.float64) / float(beats.fs)
            j = np.clip(np.searchsorted(t, table["time_s"][mine]), 0, len(t) - 1)
            j_left = np.clip(j - 1, 0, len(t) - 1)
            j = np.where(np.abs(t[j_left] - table["time_s"][mine]) < np.abs(t[j] - table["time_s"][mine]), j_left, j)
            if np.abs(t[j] - table["time_s"][mine]).max() > 1e-6:
                raise SystemExit(f"{rid}: the table's beats are not the beats read now")
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, x=x[j], time_s=table["time_s"][mine], detected=np.array(len(t)),
                                names=np.array(names))
            log.info("%s: %d rows of %d detected beats, %.1f s", rid, len(mine), len(t), time.perf_counter() - t0)
        cached = np.load(path)
        if not np.array_equal(cached["time_s"], table["time_s"][mine]):
            raise SystemExit(f"{path}: cached for other rows; remove it")
        out[mine] = cached["x"]
    return {n: out[:, j] for j, n in enumerate(names)}


def _inner_side(table, labels, part, c, inner_deep, groups, X, cols) -> dict:
    """v_side.with_inner_k with the lever's columns: ``part`` with ``inner_deep`` and the inner booster of ``X``."""
    from beats_preset import _booster
    train = part["train"]
    Xt, yt, rec = X[train], table["y"][train], table["record"][train]
    inner_b = np.zeros((len(yt), len(labels)))
    for group in groups:
        m = np.isin(rec, group)
        inner_b[m] = _booster(Xt[~m], yt[~m], cols, labels, 42, c["booster_size"]).predict_proba(Xt[m])
    return dict(part, inner_deep=inner_deep, inner_booster=inner_b)


def step_lever(table: dict, labels: list, dec: dict, t_all: dict, columns=T_COLUMNS) -> dict:
    """Key ``v_t_columns`` (module docstring; ``columns``: ``T_COLUMNS``) or ``v_t_columns_relative`` (run v50b,
    ``RELATIVE_COLUMNS``); ``t_all``: ``step_cache``'s columns."""
    tcols = np.column_stack([t_all[n] for n in columns])
    import v_gate
    from beats_preset import _booster, _columns_of, column_sets
    from hybrid import BOOSTER_SEEDS
    from v_sensitivity import NESTED_MACRO_TOL, NESTED_S_TOL, _fixed_rule_left_out, _group_scores, _inner_base
    from v_side import _gated
    v = labels.index("V")
    sets = column_sets()
    choice, lever_rows, forced_rows, gate40_rows = {}, {}, {}, {}
    importance = {}
    for h, part in enumerate(dec["parts"]):
        c = dec["chosen"][str(h)]
        w = c["deep_weight"]
        cols = list(sets[c["set"]]) + list(columns)
        X = np.concatenate([_columns_of(table, sets[c["set"]]), tcols], axis=1)
        groups = dec["groups"][h]
        # training side: v40's gated inner recipe, and the lever's with its own V gate chosen again
        ib40 = _inner_base(table, labels, dec, h)
        inner = _inner_side(table, labels, part, c, dec["inner"][h], groups, X, cols)
        gate_ch = v_gate.choose_gate(table, labels, c, inner, groups, v_gate.LOCAL_GATE)
        base, pv, x, y_in, rec_in = v_gate._inner_recipe(table, labels, c, inner, v_gate.LOCAL_GATE)
        lever_in = (v_gate.LOCAL_GATE.apply(base, pv, x, labels, **gate_ch["best_point"]) if gate_ch["uses_gate"]
                    else base)
        ok = np.isfinite(inner["inner_deep"]).all(axis=1)
        if not np.array_equal(part["train"][ok], ib40["idx"]):
            raise SystemExit(f"fold {h}: the lever's inner beats are not v40's")
        off = _group_scores(y_in, ib40["base"], rec_in, groups, labels)
        on = _group_scores(y_in, lever_in, rec_in, groups, labels)
        falls = {"macro_f1_nsvf": [round(o["macro_f1_nsvf"] - g["macro_f1_nsvf"], 4)
                                   for o, g in zip(off["groups"], on["groups"])],
                 "S_sensitivity": [None if o["S_sensitivity"] is None
                                   else round(o["S_sensitivity"] - g["S_sensitivity"], 4)
                                   for o, g in zip(off["groups"], on["groups"])]}
        uses = bool(on["pooled"]["V_sensitivity"] > off["pooled"]["V_sensitivity"]
                    and all(f <= NESTED_MACRO_TOL for f in falls["macro_f1_nsvf"])
                    and all(f is None or f <= NESTED_S_TOL for f in falls["S_sensitivity"]))
        made_in = {}
        for name, before, after in (("new_V_calls", ib40["base"], lever_in), ("V_calls_lost", lever_in, ib40["base"])):
            m = (after.argmax(-1) == v) & (before.argmax(-1) != v)
            made_in[name] = {}
            for r, k in zip(rec_in[m], y_in[m]):
                made_in[name].setdefault(str(r), {}).setdefault(labels[int(k)], 0)
                made_in[name][str(r)][labels[int(k)]] += 1
        choice[str(h)] = {"uses_t_columns": uses, "v40_inner": off, "t_columns_inner": on, "group_falls": falls,
                          "inner_groups": [sorted(g) for g in groups], "v_gate_rechosen": {
                              "uses_gate": gate_ch["uses_gate"], "best_point": gate_ch["best_point"],
                              "inner_macro_f1_nsvf": gate_ch["inner_macro_f1_nsvf"]},
                          "v40_v_gate": {k: dec["run"]["chosen_by_inner_cv"][str(h)][k]
                                         for k in ("uses_gate", "best_point")},
                          "inner_changes": made_in}
        log.info("fold %d: T columns %s; inner pooled %s -> %s; falls %s", h, uses, off["pooled"], on["pooled"], falls)
        # left out: the lever's rows per seed (every fold, 'forced'); the chosen rows take them where the fold did
        train, scored = part["train"], part["scored"]
        xs = v_gate.LOCAL_GATE.inputs(table, scored)
        lever_rows[h], forced_rows[h], gate40_rows[h] = {}, {}, {}
        ch40 = dec["run"]["chosen_by_inner_cv"][str(h)]
        for seed in BOOSTER_SEEDS:
            booster = _booster(X[train], table["y"][train], cols, labels, seed, c["booster_size"])
            pb = booster.predict_proba(X[scored])
            if seed == 42:
                gain = np.asarray(booster.booster.feature_importance("gain"), float) if hasattr(
                    booster, "booster") else None
                if gain is not None and len(gain) == len(cols):
                    rank = np.argsort(-gain)
                    importance[str(h)] = {"t_columns_gain_share": round(float(gain[-len(columns):].sum()
                                                                              / max(gain.sum(), 1e-12)), 4),
                                          "t_columns": {n: {"gain_share": round(float(gain[cols.index(n)]
                                                                                      / max(gain.sum(), 1e-12)), 4),
                                                            "rank": int(np.flatnonzero(rank == cols.index(n))[0]) + 1}
                                                        for n in columns}, "columns": len(cols)}
            recipe = _gated(table, scored, (1 - w) * pb + w * part["p_deep"], c, labels)
            forced_rows[h][seed] = (v_gate.LOCAL_GATE.apply(recipe, part["p_deep"][:, v], xs, labels,
                                                            **gate_ch["best_point"])
                                    if gate_ch["uses_gate"] else recipe)
            lever_rows[h][seed] = forced_rows[h][seed] if uses else None
            gate40_rows[h][seed] = (v_gate.LOCAL_GATE.apply(recipe, part["p_deep"][:, v], xs, labels,
                                                            **ch40["best_point"]) if ch40["uses_gate"] else recipe)

    def apply_of(rows):
        # _fixed_rule_left_out scores a rule applied to v40's rows; this lever's rows are whole new rows (another
        # booster), so its "rule" returns them, or v40's own rows where the fold kept v40
        return {h: (lambda p, _h, seed, h=h: p if rows[h][seed] is None else rows[h][seed]) for h in rows}

    idx = dec["idx"]
    records = tuple(str(r) for r in np.unique(table["record"][idx]))
    head = {"t_columns": list(columns), "choice_rule": CHOICE_RULE,
            "choice_tolerances": {"macro_f1_nsvf": NESTED_MACRO_TOL, "S_sensitivity": NESTED_S_TOL},
            "keep_rule": KEEP_RULE, "chosen_by_inner_cv": choice,
            "uses_t_columns": {h: ch["uses_t_columns"] for h, ch in choice.items()}}
    result = _fixed_rule_left_out(table, labels, dec, apply_of(lever_rows), records, head, "t_columns")
    vpp = result["against_v40"]["paired_change"]["V_positive_predictivity"]["mean"]
    result["against_v40"]["checks"]["V_positive_predictivity_not_down"] = bool(vpp >= 0)
    result["kept"] = bool(result["against_v40"]["kept"] and vpp >= 0)
    result["decision"] = "t_columns" if result["kept"] else "none"
    forced = _fixed_rule_left_out(table, labels, dec, apply_of(forced_rows), records, {}, "t_columns_forced")
    result["forced"] = {"what": "the T columns on both folds whatever the choice rule said (an ablation, not a "
                                "decision)", **{k: forced[k] for k in ("seed_spread", "distance_to_targets", "by_record",
                                                                       "against_v40", "new_V_calls_s42")}}
    # added after the first run's figures (a report): the forced columns under v40's own V gate, not the re-chosen
    # one (fold 1's re-chosen gate is off), so the columns' effect is read apart from the gate's
    g40 = _fixed_rule_left_out(table, labels, dec, apply_of(gate40_rows), records, {}, "t_columns_forced_v40_gate")
    result["forced_v40_gate"] = {"what": "the T columns on both folds with v40's V gate as each fold chose it (an "
                                         "ablation added after the first figures; not a decision)",
                                 **{k: g40[k] for k in ("seed_spread", "distance_to_targets", "by_record",
                                                        "against_v40", "new_V_calls_s42")}}
    result["booster_importance_s42"] = importance
    y, rec = table["y"][idx], table["record"][idx]
    # how the left-out T columns look by true class (a description after the verdict, seed free)
    t_left = tcols[idx]
    result["left_out_t_columns_by_class"] = {
        labels[k]: {n: {"median": None if not np.isfinite(t_left[y == k, j]).any()
                        else round(float(np.nanmedian(t_left[y == k, j])), 3),
                        "nan_share": round(float(np.mean(~np.isfinite(t_left[y == k, j]))), 4)}
                    for j, n in enumerate(columns)} for k in range(len(labels)) if (y == k).any()}
    # the records whose V moved most in the forced row: their T columns by true class (after the verdict, seed free)
    moved = sorted(records, key=lambda r: -sum(abs(result["forced"]["by_record"][r][q] - result["v40_by_record"][r][q])
                                               for q in ("V_lost", "false_V")))[:MOVED]
    result["moved_records_t_columns"] = {
        r: {labels[k]: {"beats": int(((rec == r) & (y == k)).sum()),
                        "discordant_share": round(float(np.mean(t_all["qrs_t_discordance"][idx][(rec == r) & (y == k)]
                                                                == 1)), 3),
                        **{n: round(float(np.nanmedian(t_left[(rec == r) & (y == k), j])), 3)
                           for j, n in enumerate(columns) if n != "qrs_t_discordance"}}
            for k in range(len(labels)) if ((rec == r) & (y == k)).sum() >= 5} for r in moved}
    result["rebuild"] = ("kept: a mitdb-beats rebuild would add the lever's columns to the build's column set (beats_preset.py "
                         "--steps table build check after its own build rule)" if result["kept"] else
                         "not kept: mitdb-beats is unchanged (no rebuild)")
    return result


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--steps", nargs="+", default=["cache", "lever"], choices=["cache", "lever", "lever_relative"])
    p.add_argument("--mitdb-dir", default=str(MITDB))
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    start = time.perf_counter()
    from v_sensitivity import _setup, decision_rows
    work = Path(args.work).resolve()
    table, labels = _setup(work, Path(args.mitdb_dir))
    t_all = step_cache(work, Path(args.mitdb_dir), table)
    result = {"t_columns_cached": int(len(table["y"]))}
    if {"lever", "lever_relative"} & set(args.steps):
        dec = decision_rows(work, table, labels)
        log.info("v40 decision row reproduced: %s", dec["reproduced"])
        out_path = Path(args.out)
        saved = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
        command = "python experiments/mitdb/t_columns.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if "lever" in args.steps:
        result = saved[KEY] = dict(step_lever(table, labels, dec, t_all), command=command,
                                   seconds=round(time.perf_counter() - start, 1))
        out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    if "lever_relative" in args.steps:
        result = saved[KEY_RELATIVE] = dict(step_lever(table, labels, dec, t_all, RELATIVE_COLUMNS), why=RELATIVE_WHY,
                                            command=command, seconds=round(time.perf_counter() - start, 1))
        out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
