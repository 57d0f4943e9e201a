"""Run s30 (issue 21): leave-one-record-out choice of the T-wave veto (``SignalConfig.rpeak_guard_t_wave``,
``signal.t_wave_like``, ``GuardConstants.t_wave_*``) with the cluster rescue and its closer spacing, on run s28's point,
on MIT-BIH DS1 and the rhythms built from it (normal, block21, pause, bigeminy).

    python experiments/rpeaks/t_wave.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_loro_s30.json

Why: run s29's cluster rescue, given the second proposer's candidates and allowed closer to a kept beat (0.4 x the local
RR), reaches 0.997 on bigeminy on all 22 records but adds the T waves after PVCs (208): their +-60 ms window
correlates at 0.9 with 208's normal QRS. A T wave repeats, at the same lag, after every beat of its PVC's shape; a
small normal beat of atrial fibrillation (203's built bigeminy) does not. The veto compares a candidate's wave with
that template (``t_wave_like``).

For every DS1 record and rhythm (``bench.rhythms.build`` with its defaults, seed = record number) the detector runs
once without the guard (``prominent_negative_last``), then ``signal.guard_rpeaks`` once per grid point: the cluster
variants (``CLUSTERS``: off = run s28's point; run s29's chosen 0.9 / 0.3 / 16; with the second proposer's candidates at
spacing 0.5 / 0.4 / 0.35, sharpness 0 / 0.8) x the veto (off; correlation 0.7 / 0.8 / 0.9; on the second proposer's
candidates only, or with ``t_wave_all`` on every kept peak too; with the second proposer's candidates also the size
ceiling ``t_wave_size`` 4 / 8 instead of 2, on every kept peak). ``today``: the shipped ``SignalConfig()`` (scored, not
chosen). TP/FN/FP as ``bench rpeaks`` counts them (150 ms, VF episodes excluded). For each record left out, the point
with the fewest errors (FN + FP over the four rhythms) on the other 21 is scored on it ("held_out"); the base (run
s28's point) is fixed. ``kinds``: the block21 and bigeminy errors of each point by kind: a false beat near a blocked
beat's annotation (-300..+100 ms: its P wave or what the cut left), 0.15-0.45 s after a reference beat (a T wave), or
other; a missed beat by its annotation symbol (N, V, other) and whether next to a V beat. Per-record counts are cached
in ``--cache-dir`` (``--records`` counts a subset and stops, to count in two processes). Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import json
import logging
import sys
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks
from ecgsl_keras.bench import rhythms
from ecgsl_keras.bench.rpeaks import in_episodes, read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.data import signal as S

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cluster import (BASE, BASE_CONSTANTS, cached_counts, RHYTHMS, distance, errors, loro, totals,  # noqa: E402
                     cpu_seconds_per_record, grid_arguments, loro_summary, parse_grid_arguments,
                     speed_arguments)

log = logging.getLogger("experiments.rpeaks.t_wave")
OFF, TODAY = "s28", "today"
S29 = "s28__c0.9_a0.3_n16_s0.0"            # run s29's choice (20 of 22 folds); names as in experiments/rpeaks/cluster.py
# (name, rpeak_rescue_cluster, GuardConstants changes)
CLUSTERS = [(OFF, 0.0, {}), (S29, 0.9, dict(cluster_second=False, cluster_sharpness=0.0))]
for _spacing, _sharp in itertools.product((0.5, 0.4, 0.35), (0.0, 0.8)):
    CLUSTERS.append((f"s28__c0.9_a0.3_second_n16_s{_sharp}" + ("" if _spacing == 0.5 else f"_sp{_spacing}"), 0.9,
                     dict(cluster_second=True, cluster_sharpness=_sharp, cluster_spacing=_spacing)))
T_WAVE, T_WAVE_ALL = (0.7, 0.8, 0.9), (False, True)
# second grid (after the first left false beats 2-8 x the T-wave template's size after the closer spacing): the veto's
# size ceiling (GuardConstants.t_wave_size, 2 in the first), on every kept peak too, with the second proposer's candidates
T_WAVE_SIZE = (4.0, 8.0)
KIND_RHYTHMS = ("block21", "bigeminy")
# run s29's closer spacing (0.4, sharpness 0.8) without and with the veto: per record and by kind in the output
SPACING_04 = ("s28__c0.9_a0.3_second_n16_s0.8_sp0.4", "s28__c0.9_a0.3_second_n16_s0.8_sp0.4__t0.9_all_z4")


def points():
    """(name, SignalConfig, GuardConstants) of every grid point, run s28's point first."""
    base = dataclasses.replace(G.GUARD, **BASE_CONSTANTS)
    for name, cluster, changes in CLUSTERS:
        config = dataclasses.replace(BASE, rpeak_rescue_cluster=cluster)
        constants = dataclasses.replace(base, cluster_amplitude=0.3, cluster_neighbours=16, **changes)
        yield name, config, constants
        for t, everywhere in itertools.product(T_WAVE, T_WAVE_ALL):
            yield (f"{name}__t{t}" + ("_all" if everywhere else ""), dataclasses.replace(config, rpeak_guard_t_wave=t),
                   dataclasses.replace(constants, t_wave_all=everywhere))
        if not changes.get("cluster_second"):
            continue
        for t, size in itertools.product(T_WAVE, T_WAVE_SIZE):
            yield (f"{name}__t{t}_all_z{size:g}", dataclasses.replace(config, rpeak_guard_t_wave=t),
                   dataclasses.replace(constants, t_wave_all=True, t_wave_size=size))


def names():
    return [name for name, _, _ in points()]


def kinds(built, symbols, ref, peaks, match, fs) -> dict:
    """The errors of one signal by kind (see the module docstring)."""
    beats, det = match["reference"], match["detected"]
    fn = np.setdiff1d(np.arange(beats.size), match["matched"][:, 0])
    fp = det[np.setdiff1d(np.arange(det.size), match["matched"][:, 1])]
    index = np.clip(np.searchsorted(ref, beats), 0, ref.size - 1)
    symbol = np.where(ref[index] == beats, np.asarray(symbols)[index], "?")
    out = collections.Counter()
    for i in fn:
        s = symbol[i] if symbol[i] in ("N", "V") else "other"
        near_v = any(0 <= i + k < beats.size and symbol[i + k] == "V" for k in (-1, 1))
        out[f"fn_{s}" + ("_next_to_v" if near_v else "")] += 1
    removed = np.sort(built["removed"])
    for p in fp:
        j = np.searchsorted(removed, p)
        near = [removed[k] - p for k in (j - 1, j) if 0 <= k < removed.size]
        if any(-0.1 * fs <= d <= 0.3 * fs for d in near):
            out["fp_blocked_beat"] += 1
            continue
        k = np.searchsorted(beats, p) - 1
        lag = p - beats[k] if k >= 0 else -1
        if 0.15 * fs <= lag <= 0.45 * fs:
            out["fp_t_wave" + ("_after_v" if symbol[k] == "V" else "")] += 1
        else:
            out["fp_other"] += 1
    return dict(out)


def count_record(data_dir, rid, out=None, grid=None) -> dict:
    """Counts of record ``rid``'s four signals at every point of ``grid`` (``(name, config, constants)``; default
    this run's ``points()``) that ``out`` (a cached dict) lacks."""
    signal, fs, ref, episodes, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
    out = dict(out or {})
    grid = list(points() if grid is None else grid)
    shipped = G.GUARD
    for rhythm in RHYTHMS:
        built = rhythms.build(rhythm, signal, fs, ref, symbols, episodes, seed=int(rid), t_end_s=rhythms.T_END_FIXED_S,
                              join_edge_s=rhythms.JOIN_EDGE_NONE)
        x = built["signal"]
        cleaned, detect = S.clean(x, fs, BASE.clean_method), S.clean(x, fs, BASE.rpeak_clean_method)

        def score(peaks, name=None):
            peaks = peaks[~in_episodes(peaks, built["episodes"])]
            m = S.match_peaks(built["beats"], peaks, int(round(0.15 * fs)))
            if name is not None and rhythm in KIND_RHYTHMS:
                out[f"{rid}|{rhythm}|{name}|kinds"] = kinds(built, symbols, ref, peaks, m, fs)
            return [m["tp"], m["fn"], m["fp"]]

        if f"{rid}|{rhythm}|{TODAY}" not in out:
            out[f"{rid}|{rhythm}|{TODAY}"] = score(S.find_rpeaks(x, fs, SignalConfig(), cleaned=cleaned))
        primary = S.find_rpeaks(x, fs, dataclasses.replace(BASE, rpeak_guard_amplitude=0.0, rpeak_searchback=0.0,
                                                           rpeak_second_proposer=0.0), cleaned=cleaned)
        for name, config, constants in grid:
            if f"{rid}|{rhythm}|{name}" in out:
                continue
            try:
                G.GUARD = constants
                out[f"{rid}|{rhythm}|{name}"] = score(S.guard_rpeaks(primary, cleaned, detect, fs, config), name)
            finally:
                G.GUARD = shipped
        log.info("%s %s: today %s, s28 %s, s29 %s", rid, rhythm, out[f"{rid}|{rhythm}|{TODAY}"],
                 out.get(f"{rid}|{rhythm}|{OFF}"), out.get(f"{rid}|{rhythm}|{S29}"))   # (absent from later grids)
    return out


def grid_counts(args, grid) -> dict | None:
    """``cluster.cached_counts`` of a later grid counted by ``count_record`` (the grids of runs s34-s38): every DS1
    record's counts at each ``(name, SignalConfig, GuardConstants)`` of ``grid``; None when ``--records`` asked for
    counting only."""
    grid = list(grid)
    return cached_counts(args, [name for name, _, _ in grid],
                         lambda data_dir, rid, cached: count_record(data_dir, rid, cached, grid=grid))


def kind_totals(counts, name, records, rhythm) -> dict:
    out = collections.Counter()
    for rid in records:
        out.update(counts[f"{rid}|{rhythm}|{name}|kinds"])
    return dict(sorted(out.items()))


# the results JSON of the grids of runs s31-s33 (residual.py, noise.py, pvc_run.py) in parts, each run's own keys
# between them: one place for what a key means; the parts keep the key order of the committed results


def grid_start(doc, argv, grid) -> tuple | None:
    """The ``main`` preamble of these grids: ``parse_grid_arguments`` and ``grid_counts`` of ``grid``;
    ``(args, counts, records, names)`` (the DS1 records, the grid's names), or None when ``--records`` asked for
    counting only."""
    args = parse_grid_arguments(doc, argv)
    grid = list(grid)
    counts = grid_counts(args, grid)
    if counts is None:
        return None
    return args, counts, list(tasks.MITDB_DS1), [name for name, _, _ in grid]


def grid_loro(doc, argv, grid) -> tuple | None:
    """``grid_start`` and ``cluster.loro_summary`` (the preamble of runs s34-s38's grids): ``(args, counts, names,
    records, held, choice, all22, most)``, or None when ``--records`` asked for counting only."""
    start = grid_start(doc, argv, grid)
    if start is None:
        return None
    args, counts, _, names = start
    return (args, counts, names, *loro_summary(counts, names))


def loro_grid(counts, names, records) -> tuple:
    """``(held, choice, all22, best, others)``: ``loro``'s held-out totals and choice per fold over ``names``; the
    totals on all of ``records`` of each name and of ``TODAY``; the name with the fewest errors on them (ties: the first
    in sort order); per record the other records."""
    held, choice = loro(counts, names, records)
    all22 = {n: totals(counts, n, records) for n in list(names) + [TODAY]}
    best = min(names, key=lambda n: (errors(all22[n]), n))
    others = {r: [o for o in records if o != r] for r in records}
    return held, choice, all22, best, others


def head_fields(experiment, script, argv, records) -> dict:
    """The first keys: what ran and how it is scored."""
    return {"experiment": experiment,
            "command": " ".join(["python", script] + list(argv if argv is not None else sys.argv[1:])),
            "records": records, "rhythms": list(RHYTHMS), "scored_on": "each DS1 record held out (choice on the other 21)",
            "criterion": "fewest FN + FP over the four rhythms", "tolerance_ms": 150, "target": 0.997}


def most_chosen_fields(choice) -> dict:
    return {"most_chosen": max(sorted(set(choice.values())), key=list(choice.values()).count),
            "tie_break": "the first name in sort order"}


def held_fields(held) -> dict:
    """The held-out totals, their distance to 0.997 and the most FN (FP) a rhythm may have for Se (+P) >= 0.997."""
    return {"held_out": held, "held_out_distance_to_target": distance(held),
            "fn_allowed": {rh: int((1 - 0.997) * (v["TP"] + v["FN"])) for rh, v in held.items()}}


def choice_best_fields(choice, all22, best, best_distance=True) -> dict:
    """The choice per fold and its counts; the fewest-errors point on all 22 and its figures (and their distance to
    0.997 when ``best_distance``)."""
    out = {"choice_per_fold": choice, "choice_counts": dict(collections.Counter(choice.values())),
           "best_all_22": best, "best_all_22_figures": all22[best]}
    if best_distance:
        out["best_all_22_distance_to_target"] = distance(all22[best])
    return out


def first_grid_fields(held, choice, held_first, choice_first, keep_first, all22, best, most, base, reported) -> dict:
    """The middle keys of runs s34 and s36 (blocked_p.py, templates.py: two grids on run s33's point ``base``, the
    second added after the first's figures): the first grid's held-out totals, keep decision ``keep_first`` and choice
    counts; ``choice_best_fields``; the errors of today's detector, ``base``, the held-out choice, ``base``'s held-out
    errors as its run reported them (``reported``), the first grid's, the fewest-errors and the most chosen point's;
    the most chosen point's totals."""
    return {"held_out_first_grid": held_first, "keep_first_grid": keep_first,
            "choice_counts_first_grid": dict(collections.Counter(choice_first.values())),
            **choice_best_fields(choice, all22, best, best_distance=False),
            "errors": {"today": errors(all22[TODAY]), "s33_point": errors(all22[base]), "held_out": errors(held),
                       "s33_reported_held_out": reported, "held_out_first_grid": errors(held_first),
                       "best_all_22": errors(all22[best]), "most_chosen_all_22": errors(all22[most])},
            "most_chosen_all_22": all22[most]}


def rhythm_errors_fields(all22, names) -> dict:
    """Each point's errors on all 22 records, in all and per rhythm as [FN, FP]."""
    return {"grid_errors_all_22": {n: errors(all22[n]) for n in names},
            "grid_rhythm_errors_all_22": {n: {r: [all22[n][r]["FN"], all22[n][r]["FP"]] for r in RHYTHMS}
                                          for n in names}}


def fold_against(counts, choice, others, r, base, key) -> dict:
    """Fold ``r``'s errors of the chosen point and of ``base`` (reported as ``key``) on the other records and on ``r``."""
    return {"train_chosen": errors(totals(counts, choice[r], others[r])),
            f"train_{key}": errors(totals(counts, base, others[r])),
            "held_out_chosen": errors(totals(counts, choice[r], [r])),
            f"held_out_{key}": errors(totals(counts, base, [r]))}


def fold_chosen(counts, choice, others, r) -> dict:
    """Fold ``r``'s first ``fold_errors`` keys: the chosen point's errors on the other records and on ``r``."""
    return {"train_chosen": errors(totals(counts, choice[r], others[r])),
            "held_out_chosen": errors(totals(counts, choice[r], [r]))}


def fold_best(counts, choice, best, others, r) -> dict:
    """Fold ``r``'s errors of the fewest-errors point on all 22 (on the other records, on ``r``) and its gap to the
    chosen point on the other records."""
    return {"train_best_all_22": errors(totals(counts, best, others[r])),
            "held_out_best_all_22": errors(totals(counts, best, [r])),
            "train_gap_best_all_22": errors(totals(counts, best, others[r]))
            - errors(totals(counts, choice[r], others[r]))}


def watch_fields(counts, choice, records, watch, block21_kinds=True) -> dict:
    """The last keys: per record the totals of the ``watch`` points and of each fold's choice held out, the false-beat
    kinds of the ``watch`` points (and per record in block21 when ``block21_kinds``)."""
    out = {"per_record": {n: {r: totals(counts, n, [r]) for r in records} for n in watch},
           "per_record_held_out": {r: totals(counts, choice[r], [r]) for r in records},
           "kinds": {n: {rh: kind_totals(counts, n, records, rh) for rh in KIND_RHYTHMS} for n in watch}}
    if block21_kinds:
        out["kinds_per_record_block21"] = {n: {r: counts[f"{r}|block21|{n}|kinds"] for r in records} for n in watch}
    return out


def chosen_point_speed(doc, script, results, points, fixed, chosen_key, most_chosen=False,
                       ratio_to=("today",)) -> dict:
    """The one JSON object of runs s30-s33's *_speed.py (``script``, run from the command line: ``--data-dir``,
    ``--results`` default ``results``, ``--repeats`` default 3): CPU seconds per record of the ``fixed`` configurations
    (``{key: (SignalConfig, GuardConstants) or a name of the grid ``points()``}``, timed in this order) and of the
    point most folds of ``--results`` chose (its ``most_chosen`` when ``most_chosen``, else the most counted in its
    ``choice_counts``, ties: the first in sort order) reported as ``chosen_key``, and the ratios to each of
    ``ratio_to`` (keys of ``fixed``)."""
    args = speed_arguments(doc, results, lambda parser: parser.set_defaults(repeats=3))
    saved = json.loads(Path(args.results).read_text())
    if most_chosen:
        chosen = saved["most_chosen"]
    else:
        counts = saved["choice_counts"]
        chosen = max(sorted(counts), key=lambda n: counts[n])
    grid = {name: (config, constants) for name, config, constants in points()}
    configs = {**{k: grid[v] if isinstance(v, str) else v for k, v in fixed.items()}, chosen_key: grid[chosen]}
    res = cpu_seconds_per_record(args.data_dir, configs, args.repeats)
    return {"cpu_seconds_per_record": res,
            **{f"ratio_to_{base}": {k: res[k] / res[base] for k in configs} for base in ratio_to},
            chosen_key: chosen, "records": list(tasks.MITDB_DS1), "repeats": args.repeats, "clock": "process_time",
            "command": f"python experiments/rpeaks/{script} " + " ".join(sys.argv[1:])}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    grid_arguments(parser)
    args = parser.parse_args(argv)
    out = Path(args.out)
    counts = cached_counts(args, names(), count_record)
    if counts is None:
        return 0
    records = list(tasks.MITDB_DS1)
    all_names = names()
    held, choice = loro(counts, all_names, records)
    all22 = {n: totals(counts, n, records) for n in all_names + [TODAY]}
    best = min(all_names, key=lambda n: (errors(all22[n]), n))
    others = {r: [o for o in records if o != r] for r in records}
    watch = sorted({OFF, S29, best, *choice.values(), *SPACING_04})
    result = {"experiment": "rpeaks_loro_s30",
              "command": " ".join(["python", "experiments/rpeaks/t_wave.py"] + list(argv if argv is not None else sys.argv[1:])),
              "records": records, "rhythms": list(RHYTHMS), "scored_on": "each DS1 record held out (choice on the other 21)",
              "criterion": "fewest FN + FP over the four rhythms", "tolerance_ms": 150, "target": 0.997,
              "base": {**{f: getattr(BASE, f) for f in ("rpeak_mindelay_keep", "rpeak_rescue_deep", "rpeak_guard_p_wave",
                                                          "rpeak_second_proposer")}, **BASE_CONSTANTS},
              "grid": {"clusters": [[n, c, ch] for n, c, ch in CLUSTERS], "rpeak_guard_t_wave": T_WAVE,
                       "t_wave_all": T_WAVE_ALL, "t_wave_size (second grid)": T_WAVE_SIZE,
                       **{f.name: getattr(G.GUARD, f.name) for f in dataclasses.fields(G.GUARD)
                          if f.name.startswith("t_wave_") and f.name != "t_wave_all"}},
              "grid_points": len(all_names),
              "tie_break": "the first name in sort order",
              "today": all22[TODAY], "s28": all22[OFF], "s29": all22[S29],
              "held_out": held, "held_out_distance_to_target": distance(held),
              "choice_per_fold": choice, "choice_counts": dict(collections.Counter(choice.values())),
              "best_all_22": best, "best_all_22_figures": all22[best],
              "best_all_22_distance_to_target": distance(all22[best]),
              "errors": {"today": errors(all22[TODAY]), "s28": errors(all22[OFF]), "s29": errors(all22[S29]),
                         "held_out": errors(held), "best_all_22": errors(all22[best])},
              "grid_all_22": {n: all22[n] for n in all_names},
              "grid_errors_all_22": {n: errors(all22[n]) for n in all_names},
              # per fold: the chosen point's errors on the other 21 against the base's, and on the held-out record
              "fold_errors": {r: {"train_chosen": errors(totals(counts, choice[r], others[r])),
                                  "train_s28": errors(totals(counts, OFF, others[r])),
                                  "held_out_chosen": errors(totals(counts, choice[r], [r])),
                                  "held_out_s28": errors(totals(counts, OFF, [r])),
                                  "train_best_all_22": errors(totals(counts, best, others[r])),
                                  "held_out_best_all_22": errors(totals(counts, best, [r])),
                                  "train_s29": errors(totals(counts, S29, others[r])),
                                  "held_out_s29": errors(totals(counts, S29, [r]))} for r in records},
              "per_record": {n: {r: totals(counts, n, [r]) for r in records} for n in watch},
              "per_record_held_out": {r: totals(counts, choice[r], [r]) for r in records},
              "kinds": {n: {rh: kind_totals(counts, n, records, rh) for rh in KIND_RHYTHMS} for n in watch},
              "kinds_per_record_block21": {n: {r: counts[f"{r}|block21|{n}|kinds"] for r in records} for n in watch}}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("held_out", "held_out_distance_to_target", "choice_counts", "errors",
                                             "best_all_22")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
