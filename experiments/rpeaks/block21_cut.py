"""Run s46 (issue 21): block21 rebuilt with its cut ending after the record's T wave (``bench.rhythms.t_end_cut_s``),
and run s40's baseline point and leave-one-record-out scored on it.

    python experiments/rpeaks/block21_cut.py --signal --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s46_block21_cut_signal.json
    python experiments/rpeaks/block21_cut.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s46_block21_cut.json --cache-dir /work/runs/s34-rpeaks-cut/counts \\
        --old-cache-dir /work/runs/s32-rpeaks-203/counts

Why (run s45's diagnosis at the baseline, ``block21_fp_at_baseline`` of benchmarks/results/rpeaks_s45_wide_p.json):
33 of block21's 101 false beats lie inside the builder's cuts and 21 at a cut's edge; the builder cut each blocked beat
from ``qrs_cut_s`` before R to a FIXED 0.45 s after it, and the median beat of MIT-BIH 108 (207) is still -0.068
(+0.038) mV at 0.5 s: the cut left the T wave's tail, a remnant of the builder a detector may take for a beat. The
builder (fixed before any detector figure of this run, from the signal only) now ends the cut at the record's T-wave
end: where its median regular normal beat (cleaned) returns and stays within 5% of its QRS peak-to-peak of its TP
level, + 20 ms, 0.45-0.65 s after R, and still ``p_start_s`` (0.28 s) before the next R when that is sooner
(``bench.rhythms.t_wave_end_s``, ``t_end_cut_s``; ``t_end_s=0.45`` rebuilds the old signals).

``--signal`` (no detector): per DS1 record the T-wave end, the cut end, and the median beat's distance from its TP
level at the old (0.45 s) and new cut end, or at the next P wave's start (0.28 s before the median regular RR) when
that is sooner (``median_beat_cut_end_s``; ``residual_mv`` there, ``tail_max_mv`` the largest over the 50 ms after it,
both also over the T-end band), and the share of blocked beats whose cut the next P wave ends.

Grid, choice and keep rule: run s40's (experiments/rpeaks/first_beat.py, unchanged): run s37's point with
``rpeak_keep_first_beat`` off and on, chosen for each record left out by the fewest FN + FP over the four rhythms on
the other 21 (ties: the first name in sort order), scored on it; the keep rule is run s40's (``first_beat.KEEP_RULE``,
fixed before that run; nothing here changes a default or the detector). Only block21 changes: its counts are recounted
on the new builder (``--cache-dir``); normal, pause and bigeminy are run s40's counts, copied from its cache
(``--old-cache-dir``). Where the new cut end is the old one (0.45 s) the recount must equal run s40's
(``block21_recount_equals_s40``: the builder reproduces). Counts as ``bench rpeaks`` (150 ms, VF episodes
excluded). Prints one JSON object last.

    python experiments/rpeaks/block21_cut.py --why --data-dir /work/shared/data/mitdb \
        --out benchmarks/results/rpeaks_s46_block21_cut_why.json

``--why`` (after the grid, chooses nothing): ``why``'s docstring.

    python experiments/rpeaks/block21_cut.py --levers --data-dir /work/shared/data/mitdb \
        --out benchmarks/results/rpeaks_s46_levers.json --cache-dir /work/runs/s34-rpeaks-cut/levers

``--levers`` (after the baseline): ``levers``' docstring.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import first_beat  # noqa: E402
from cluster import (RHYTHMS, TODAY, cached_counts, errors, held_out_fields, loro_summary,  # noqa: E402
                     result_head, totals, write_result)

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.bench import rhythms  # noqa: E402
from ecgsl_keras.bench.rpeaks import read_mitdb  # noqa: E402
from ecgsl_keras.data import filters as filters_lib  # noqa: E402

log = logging.getLogger("experiments.rpeaks.block21_cut")
S37, FIRST = first_beat.S37, first_beat.FIRST
NAMES = first_beat.names()
KEPT_KEYS = NAMES + [TODAY, "first_changes"]
OLD_CACHE = "/work/runs/s32-rpeaks-203/counts"
S40_JSON = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "rpeaks_loro_s40.json"
BLOCK21_BUILDER = ("bench.rhythms.build default since run s46: cut from the record's QRS onset + 20 ms, 70-120 ms "
                   "(bench.rhythms.qrs_cut_s), to the record's T-wave end + 20 ms, 0.45-0.65 s after R "
                   "(bench.rhythms.t_end_cut_s), or 0.28 s before the next R when sooner")
TAIL_S = 0.05


def signal_look(data_dir) -> dict:
    """Per DS1 record: the T-wave end and the cut ends, the median beat's distance from its TP level at the old and
    new cut end, and the share of blocked beats whose cut the next P wave ends (module docstring)."""
    rows = {}
    for rid in tasks.MITDB_DS1:
        signal, fs, ref, episodes, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
        beat = rhythms.regular_median_beat(signal, fs, ref, symbols)
        if not beat["median"].size:
            raise ValueError(f"record {rid}: no median regular beat with a TP level (next P wave {beat['tp_stop']} "
                             f"samples after R, no room: {beat['no_room']})")
        level, band = beat["level"], beat["band"]
        # the median beat again, out to 0.75 s (past the TP window of fast records) for the values at the cut ends
        regular = ref[rhythms._regular_normal(ref, symbols, fs)]
        regular = regular[(regular > fs) & (regular < signal.size - fs)]
        cleaned = filters_lib.clean(signal, fs, "neurokit")
        offsets = np.arange(int(round(0.75 * fs)) + 1)
        median = np.median(cleaned[regular[:, None] + offsets[None, :]], axis=0)
        end = rhythms.t_end_cut_s(signal, fs, ref, symbols)
        row = {"t_wave_end_s": round(rhythms.t_wave_end_s(signal, fs, ref, symbols), 4), "cut_end_s": round(end, 4),
               "tp_level_mv": round(level, 4), "band_mv": round(band, 4),
               "tp_window_stop_s": round((beat["median"].size - 1) / fs - rhythms.T_END_QRS_S, 4)}
        for name, t_end in (("old", rhythms.T_END_FIXED_S), ("new", end)):
            # where the median beat's cut ends: t_end, or the next P wave's start when sooner (fast records)
            at = min(int(round(t_end * fs)), beat["median"].size - 1 - int(round(rhythms.T_END_QRS_S * fs)))
            dist = np.abs(median - level)
            tail = float(dist[at:at + int(round(TAIL_S * fs)) + 1].max())
            built = rhythms.build("block21", signal, fs, ref, symbols, episodes, seed=int(rid), t_end_s=t_end,
                                  join_edge_s=rhythms.JOIN_EDGE_NONE)
            removed = built["removed"]
            following = ref[np.searchsorted(ref, removed) + 1]
            p_bound = following - int(round(0.28 * fs)) < removed + int(round(t_end * fs))
            row[name] = {"t_end_s": round(t_end, 4), "median_beat_cut_end_s": round(at / fs, 4),
                         "residual_mv": round(float(dist[at]), 4),
                         "residual_over_band": round(float(dist[at]) / band, 2), "tail_max_mv": round(tail, 4),
                         "tail_over_band": round(tail / band, 2), "blocked": int(removed.size),
                         "ended_by_next_p_wave": round(float(p_bound.mean()), 3) if removed.size else None}
        rows[rid] = row
        log.info("%s: %s", rid, row)
    changed = [r for r, v in rows.items() if v["cut_end_s"] != rhythms.T_END_FIXED_S]
    return {"experiment": "rpeaks_s46_block21_cut_signal", "records": list(tasks.MITDB_DS1),
            "block21_builder": BLOCK21_BUILDER,
            "rule": {"t_end_band": rhythms.T_END_BAND, "t_end_margin_s": rhythms.T_END_MARGIN_S,
                     "t_end_min_s": rhythms.T_END_MIN_S, "t_end_max_s": rhythms.T_END_MAX_S,
                     "qrs_s": rhythms.T_END_QRS_S, "tp_s": rhythms.T_END_TP_S, "p_start_s": 0.28},
            "tail_s": TAIL_S, "records_with_a_later_cut_end": changed,
            "records_tail_over_band": {"old": [r for r, v in rows.items() if v["old"]["tail_over_band"] > 1],
                                       "new": [r for r, v in rows.items() if v["new"]["tail_over_band"] > 1]},
            "per_record": rows}


WHY_RECORDS = ("108", "207")
WHY_SEEDS = 5
SEAM_S = 0.05


def why(data_dir) -> dict:
    """``--why`` (after the grid, a post hoc look; chooses nothing): in the records whose cut end moved most (108,
    207), at the baseline (``s37_first``), where block21's false beats and the beats missed lie against the nearest
    blocked beat with the old (0.45 s) and new cut end, how many lie within ``SEAM_S`` after the cut's end, and the
    spread of FN / FP over ``WHY_SEEDS`` builds with other seeds (seed = record + 1000 k: other blocked beats and other
    noise draws), to tell a builder effect from a draw."""
    from cluster import BASE, guard_constants, match, primary_config
    from ecgsl_keras.data import signal as S

    _, config, constants, _ = list(first_beat.points())[1]
    out = {}
    for rid in WHY_RECORDS:
        signal, fs, ref, episodes, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
        rows = {}
        for label, t_end in (("old", rhythms.T_END_FIXED_S), ("new", None)):
            seeds = []
            for k in range(WHY_SEEDS):
                built = rhythms.build("block21", signal, fs, ref, symbols, episodes, seed=int(rid) + 1000 * k,
                                      t_end_s=t_end, join_edge_s=rhythms.JOIN_EDGE_NONE)
                x = built["signal"]
                cleaned, detect = S.clean(x, fs, BASE.clean_method), S.clean(x, fs, BASE.rpeak_clean_method)
                primary = S.find_rpeaks(x, fs, primary_config(rpeak_keep_first_beat=True), cleaned=cleaned)
                with guard_constants(constants):
                    peaks = S.guard_rpeaks(primary, cleaned, detect, fs, config)
                tp, fn, fp, hit, false = match(built, peaks, fs)
                seeds.append([tp, fn, fp])
                if k:
                    continue
                removed = built["removed"]
                false = np.array(sorted(false), np.int64)
                missed = np.array(sorted(set(built["beats"].tolist()) - hit), np.int64)

                def offsets(samples):
                    near = removed[np.abs(removed[None, :] - samples[:, None]).argmin(axis=1)] if samples.size else []
                    return [round(float(v), 3) for v in (samples - near) / fs] if samples.size else []

                at_stop = [o for o in offsets(false) if 0 <= o - built["t_end_s"] <= SEAM_S]
                rows[label] = {"t_end_s": round(built["t_end_s"], 4), "counts": [tp, fn, fp],
                               "false_to_blocked_s": offsets(false), "missed_to_blocked_s": offsets(missed),
                               "false_within_seam_after_cut_end": len(at_stop)}
            rows[label]["seeds"] = seeds
            rows[label]["fp_over_seeds"] = {"min": min(c[2] for c in seeds), "max": max(c[2] for c in seeds),
                                            "mean": round(float(np.mean([c[2] for c in seeds])), 1)}
            rows[label]["fn_over_seeds"] = {"min": min(c[1] for c in seeds), "max": max(c[1] for c in seeds),
                                            "mean": round(float(np.mean([c[1] for c in seeds])), 1)}
        out[rid] = rows
        log.info("%s: %s", rid, {k: (v["counts"], v["fp_over_seeds"]) for k, v in rows.items()})
    return {"experiment": "rpeaks_s46_block21_cut_why", "records": list(WHY_RECORDS), "point": "s37_first",
            "seeds": [f"record + 1000 k, k < {WHY_SEEDS}"], "seam_s": SEAM_S, "per_record": out}


# runs s43-s45's grids, each with the cache it was counted in (s43 and s44 shared one)
LEVERS = (("wide_rescue", "rpeaks_s43_wide_rescue", "/work/runs/s33-rpeaks-like/counts", "like"),
          ("wide_restrict", "rpeaks_s44_wide_restrict", "/work/runs/s33-rpeaks-like/counts", "like"),
          ("wide_p", "rpeaks_s45_wide_p", "/work/runs/s33-rpeaks-p/counts", "p"))


def levers(args, argv) -> dict:
    """``--levers`` (after the baseline): runs s43-s45's grids rescored on the new block21, each by its own script's
    choice and keep rule. Their counts are copied from their caches into ``--cache-dir``/<cache>/; block21 is recounted
    on the new builder for every record (``count_record(..., t_end_s=None, names=("block21",))``), its old counts
    dropped first where the cut end moved (elsewhere the signals are the same and ``cluster.score_point`` checks the
    recount equals the cache); then the script scores the completed cache into
    benchmarks/results/rpeaks_s46_<script>.json (its ``command`` set to this one's)."""
    import importlib

    root = Path(args.cache_dir)
    moved = [rid for rid in tasks.MITDB_DS1 if _t_end(args.data_dir, rid) != rhythms.T_END_FIXED_S]
    summary = {}
    for script, old_name, old_cache, cache_name in LEVERS:
        module = importlib.import_module(script)
        cache = root / cache_name
        cache.mkdir(parents=True, exist_ok=True)
        for rid in tasks.MITDB_DS1:
            recount_block21(cache / f"{rid}.json", Path(old_cache) / f"{rid}.json",
                            f"{rid}|block21|" if rid in moved else None, f"{rid}|block21_s46|{script}",
                            lambda counts: module.count_record(args.data_dir, rid, counts, t_end_s=None,
                                                               names=("block21",)))
        out = Path(args.out).parent / f"rpeaks_s46_{script}.json"
        module.main(["--data-dir", args.data_dir, "--out", str(out), "--cache-dir", str(cache)])
        result = json.loads(out.read_text())
        result["experiment"] = f"rpeaks_s46_{script}"
        result["command"] = " ".join(["python", "experiments/rpeaks/block21_cut.py"] + argv)
        result["block21_builder"] = BLOCK21_BUILDER
        result["rescored_from"] = (f"benchmarks/results/{old_name}.json (same grid, choice and keep rule; block21 "
                                   "rebuilt)")
        out.write_text(json.dumps(result, indent=2) + "\n")
        old = json.loads((Path(args.out).parent / f"{old_name}.json").read_text())
        summary[script] = {"old": old_name, "held_out": result["errors"]["held_out"],
                           "baseline": result["errors"]["baseline"], "old_held_out": old["errors"]["held_out"],
                           "old_baseline": old["errors"]["baseline"],
                           "recommended_on_counts": result["keep"]["recommended_on_counts"],
                           "block21_fn_fp": result["held_out_rhythm_fn_fp"]["block21"],
                           "choice_counts": result["choice_counts"]}
    return {"experiment": "rpeaks_s46_levers", "records_with_a_moved_cut_end": moved, "levers": summary,
            "command": " ".join(["python", "experiments/rpeaks/block21_cut.py"] + argv)}


def recount_block21(path, old_path, drop, marker, count) -> None:
    """One record's cache file ``path`` of a lever script with block21 recounted (``--levers``; block21_seam.py's
    too): the file as it is when there (copied, and maybe recounted by the other script sharing it, already), else
    ``old_path``'s counts less the keys that start with ``drop`` (None: none); unless ``marker`` is in them,
    ``count(counts)``'s counts with ``marker`` set, written back."""
    if path.exists():
        counts = json.loads(path.read_text())
    else:
        counts = json.loads(Path(old_path).read_text())
        if drop is not None:
            counts = {k: v for k, v in counts.items() if not k.startswith(drop)}
    if marker not in counts:
        counts = count(counts)
        counts[marker] = True
        path.write_text(json.dumps(counts) + "\n")


def _t_end(data_dir, rid) -> float:
    signal, fs, ref, _, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
    return rhythms.t_end_cut_s(signal, fs, ref, symbols)


def count_record(data_dir, rid, out, old_cache) -> dict:
    """Record ``rid``'s counts: normal, pause and bigeminy copied from run s40's cache, block21 counted on the new
    builder (``first_beat.count_record``), run s40's block21 counts beside them (``rid|block21_s40``)."""
    old = json.loads((Path(old_cache) / f"{rid}.json").read_text())
    out = dict(out or {})
    for rhythm in RHYTHMS:
        if rhythm != "block21":
            for name in KEPT_KEYS:
                out[f"{rid}|{rhythm}|{name}"] = old[f"{rid}|{rhythm}|{name}"]
    out[f"{rid}|block21_s40"] = {name: old[f"{rid}|block21|{name}"] for name in NAMES + [TODAY]}
    if any(f"{rid}|block21|{name}" not in out for name in KEPT_KEYS):
        out = first_beat.count_record(data_dir, rid, out, t_end_s=None, names=("block21",))
    out[f"{rid}|block21_t_end_s"] = _t_end(data_dir, rid)
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache-dir")
    parser.add_argument("--records", nargs="+")
    parser.add_argument("--old-cache-dir", default=OLD_CACHE, help="run s40's per-record counts")
    parser.add_argument("--signal", action="store_true", help="the signal look only (no detector)")
    parser.add_argument("--why", action="store_true", help="the post hoc look at 108 and 207 (after the grid)")
    parser.add_argument("--levers", action="store_true", help="runs s43-s45's grids rescored on the new block21")
    args = parser.parse_args(argv)
    if args.levers:
        result = levers(args, argv)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["levers"]))
        return 0
    if args.why:
        result = {**why(args.data_dir), "command": " ".join(["python", "experiments/rpeaks/block21_cut.py"] + argv)}
        write_result(args.out, result, ("per_record",))
        return 0
    if args.signal:
        result = {**signal_look(args.data_dir),
                  "command": " ".join(["python", "experiments/rpeaks/block21_cut.py"] + argv)}
        write_result(args.out, result, ("records_with_a_later_cut_end", "records_tail_over_band"))
        return 0
    counts = cached_counts(args, KEPT_KEYS,
                           lambda data_dir, rid, cached: count_record(data_dir, rid, cached, args.old_cache_dir))
    if counts is None:
        return 0
    records, held, choice, all22, most = loro_summary(counts, NAMES)
    short = {S37: "s37", FIRST: "s37_first"}
    s40 = json.loads(S40_JSON.read_text())
    t_end = {r: counts[f"{r}|block21_t_end_s"] for r in records}
    same = {r: all(counts[f"{r}|block21|{n}"] == counts[f"{r}|block21_s40"][n] for n in NAMES + [TODAY])
            for r in records if t_end[r] == rhythms.T_END_FIXED_S}
    result = {**result_head("rpeaks_s46_block21_cut", "experiments/rpeaks/block21_cut.py", argv, records,
                            first_beat.KEEP_RULE),
              "block21_builder": BLOCK21_BUILDER, "block21_t_end_s": t_end,
              "block21_recount_equals_s40": {"records_at_0.45_s": len(same), "equal": sum(same.values()),
                                             "differ": [r for r, ok in same.items() if not ok]},
              "s37_point": S37, "grid": {"rpeak_keep_first_beat": [False, True]}, "grid_points": len(NAMES),
              "tie_break": "the first name in sort order (run s37's point first)",
              "most_chosen_short": short[most], "today": all22[TODAY], "s37": all22[S37],
              "s37_first_all_22": all22[FIRST],
              **held_out_fields(held, choice, all22[S37], first_beat.KEEP_RULE, short),
              "errors": {"held_out": errors(held), "s40_held_out": s40["errors"]["held_out"],
                         "today": errors(all22[TODAY]), "s37": errors(all22[S37]),
                         "s37_first_all_22": errors(all22[FIRST])},
              "held_out_rhythm_fn_fp": {r: [held[r]["FN"], held[r]["FP"]] for r in RHYTHMS},
              "s40_held_out": s40["held_out"],
              "block21_vs_s40_held_out": {k: held["block21"][k] - s40["held_out"]["block21"][k]
                                          for k in ("TP", "FN", "FP")},
              "block21_per_record": {r: {"t_end_s": t_end[r], "s40": counts[f"{r}|block21_s40"][choice[r]],
                                         "s46": counts[f"{r}|block21|{choice[r]}"]} for r in records},
              "per_record_held_out": {r: totals(counts, choice[r], [r]) for r in records}}
    result["fn_over_allowed"] = {r: held[r]["FN"] - result["fn_allowed"][r] for r in RHYTHMS}
    result["fp_over_allowed"] = {r: held[r]["FP"] - result["fp_allowed"][r] for r in RHYTHMS}
    write_result(args.out, result, ("held_out", "held_out_distance_to_target", "meets_target", "errors",
                                    "block21_vs_s40_held_out", "block21_recount_equals_s40", "choice_counts"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
