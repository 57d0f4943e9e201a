"""Run s60 (issue 21): block21's errors left at run s58's point, one by one, by record and by kind. A HELD-OUT look
(every fold of run s58 chose the point scored here, so these are its held-out errors), hence NOT blind: what it reads
aims run s60's lever, whose point is still chosen leave one record out (experiments/rpeaks/minimum_gap.py --run s60).

    python experiments/rpeaks/s58_block21_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s60_block21_look.json

For every DS1 record and builder seed k (seed = record + 1000 k, run s47's builder) the block21 rhythm is traced at
run s47's baseline (``s37_first``) by ``block21_misses.diagnose`` (the ``stage`` of each miss), then detected at run
s58's point (``minimum_gap.S58_POINT``, ``minimum_gap.count``'s path) on the same signal, and the unchanged record
(``normal``) at the same point. The counts must equal run s58's (run s59's cache copy, ``--cache-dir``, read only;
``counts_equal_s58_cache``).

A miss gets the baseline's stage (``lost_at_s58`` when the baseline found it), and a ``kind``:
``dropout`` (QRS amplitude under ``DROPOUT`` x the guard's reference: a signal dropout), ``203_regions`` (203, never a
candidate: no QRS region, a short one, no extremum), ``refractory_couplet`` (lost the 0.3 s contest), ``small_wide`` (the
guard's amplitude check, width over ``WIDE`` x the median), ``guard_other`` (another guard step), ``other``; and
``missed_in_normal`` (run s58 misses the same annotation in the unchanged record: not the built rhythm's doing),
``next_to_blocked`` and ``qrs_in_a_replaced_span`` (the builder erased part of a kept beat: a builder defect).

A false beat gets where it lies against the built rhythm: ``in_normal`` (run s58 has a false beat within
``SAME_MS`` in the unchanged record: the record's own), ``mislocated`` (a missed beat within 150-300 ms: one beat
found at the wrong place), ``blocked_p_wave`` (between ``P_WAVE_S`` before a blocked beat's annotation and the start of
its replaced span: its P wave, which 2:1 block keeps), ``cut_start`` (within ``CUT_EDGE_MS`` of a replaced span's
start: a residue of the blocked beat's QRS onset, a builder defect), ``in_cut_span`` / ``cut_end`` (inside the
replaced span, or within ``CUT_EDGE_MS`` of its end: the built fill or its join), ``t_wave`` (``T_WAVE_S`` after a
kept beat), ``other``. Prints one JSON object last.

Run s61 (``--builder s58b``): the same look on run s58b's builder (run s60's artifact fix and block21's cut from each
blocked beat's own QRS onset), against run s58b's counts (every fold of run s58b chose run s58's point on every seed);
the replaced spans start at each beat's own cut. Held out, NOT blind: it aims run s61's lever.

    python experiments/rpeaks/s58_block21_look.py --builder s58b --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s61_block21_look.json

Run s64 (``--s58-stages``, issue 21; held out, NOT blind: block21's beats have been looked at since run s39): run s61's
look, each miss also traced through run s58's own detector, not the baseline's (``s58_stage``): ``not_proposed`` (no
peak of run s58's primary detector -- the gap's minima included -- within 150 ms and nearer to it than to another beat;
``stage`` then says why, from the baseline's trace), ``gap_rule`` (proposed only as a minimum the gap kept, held out of
the guard and dropped by its test, ``rpeaks.join_gap_peaks``), the guard step that dropped it (``block21_misses.
trace_guard`` at run s58's config and constants, checked against ``guard_rpeaks``: ``guard_traced``), or
``kept_elsewhere``. And whether the misses are the same beats over the seeds (``same_beats``: each missed annotation
and on how many of the five seeds it is missed; a blocked beat is no reference beat on its seed). Counts against run
s63's cache (a copy, ``--cache-dir``), which holds run s58b's points:

    python experiments/rpeaks/s58_block21_look.py --builder s58b --s58-stages --data-dir /work/shared/data/mitdb \\
        --cache-dir /work/runs/s40-block21/s58b_counts --out benchmarks/results/rpeaks_s64_block21_look.json
"""
from __future__ import annotations

import collections
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import block21_misses  # noqa: E402
from block21_203 import baseline, builder  # noqa: E402
from block21_seam import SEEDS  # noqa: E402
from cluster import guard_constants, match  # noqa: E402
from look_cli import look_parser  # noqa: E402
from minimum_gap import BASELINE, S58_POINT, final_peaks, points, suffix  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.bench.rpeaks import read_mitdb  # noqa: E402
from ecgsl_keras.data import rpeak_guard as G  # noqa: E402
from ecgsl_keras.data import signal as S  # noqa: E402

log = logging.getLogger("experiments.rpeaks.s58_block21_look")
SCRIPT = "experiments/rpeaks/s58_block21_look.py"
S58_CACHE = "/work/runs/s37-rpeaks3/s59/counts"   # run s59's cache (a copy of run s57's): run s58's point per seed
S58_NAME = f"{BASELINE}__{suffix(S58_POINT)}"
DROPOUT = 0.15      # a miss under this x the guard's reference is a signal dropout (run s54's look: 0.01-0.08)
WIDE = 1.3          # a miss of the amplitude check wider than this x the median width is a small wide beat
SAME_MS = 50.0      # a false beat of the built rhythm within this of one of the unchanged record's is the record's own
P_WAVE_S = 0.35     # a blocked beat's P wave lies within this before its annotation (PR interval + QRS to the R)
CUT_EDGE_MS = 40.0  # a false beat within this of a replaced span's start / end sits at the splice
T_WAVE_S = (0.15, 0.5)  # a false beat this long after a kept beat lies on its T wave


def s58_peaks(built, fs, cleaned, detect):
    """Run s58's final peaks on a built signal, as ``minimum_gap.count`` finds them (``final_peaks``)."""
    config = {n: c for n, c, _, _ in points("s58")}[S58_NAME]
    return final_peaks(built, fs, cleaned, detect, config, None, S58_POINT)[2]


def s58_trace(built, fs, cleaned, detect) -> dict:
    """Run s58's detector on a built signal, step by step (run s64): its primary peaks, the gap's minima among them
    (held out of the guard), the guard's steps on the others (``block21_misses.trace_guard`` with run s58's constants)
    and the final peaks, which must equal ``s58_peaks``."""
    config = {n: c for n, c, _, _ in points("s58")}[S58_NAME]
    constants = G.constants_for(config)
    primary, added, final = final_peaks(built, fs, cleaned, detect, config, None, S58_POINT)
    held = np.isin(primary, added)
    with guard_constants(constants):
        steps = block21_misses.trace_guard(primary[~held], cleaned, detect, fs, config)
    guarded = S.guard_rpeaks(primary[~held], cleaned, detect, fs, config)
    return {"primary": primary, "held": primary[held], "steps": steps, "final": final,
            "traced": bool(np.array_equal(steps["after_wide_beat"], guarded))}


def s58_stage(a, beats, trace, fs) -> str:
    """Where run s58's detector lost the annotation ``a`` (``s58_trace``; module docstring, run s64)."""
    tol = int(round(0.15 * fs))
    i = int(np.searchsorted(beats, a))
    lo = 0.5 * (a + beats[i - 1]) if i > 0 else -np.inf
    hi = 0.5 * (a + beats[i + 1]) if i + 1 < beats.size else np.inf
    own = lambda p: p[(np.abs(p - a) <= tol) & (p > lo) & (p < hi)]  # noqa: E731
    mine = own(trace["primary"])
    if mine.size == 0:
        return "not_proposed"
    if own(trace["final"]).size:
        return "kept_elsewhere"
    if np.all(np.isin(mine, trace["held"])):
        return "gap_rule"
    for step, kept in trace["steps"].items():
        if own(kept).size == 0:
            return step
    return "kept_elsewhere"


def miss_kind(rid, row) -> str:
    """A miss's kind (module docstring) from its baseline stage and size."""
    amp, stage = row.get("amplitude"), row["stage"]
    if amp is not None and amp < DROPOUT:
        return "dropout"
    if rid == "203" and stage in ("no_region", "short_region", "no_extremum"):
        return "203_regions"
    if stage == "refractory_lost":
        return "refractory_couplet"
    if stage == "guard_keep" and (row.get("width") or 0.0) > WIDE:
        return "small_wide"
    if stage in block21_misses.GUARD_STEPS:
        return "guard_other"
    return "other"


def false_kind(a, fs, beats, missed, spans, removed, normal_false) -> tuple:
    """A false beat's kind (module docstring) and the distances it is read from (ms)."""
    ms = lambda v: round(1000.0 * float(v) / fs, 1)  # noqa: E731
    info = {}
    j = int(np.searchsorted(beats, a))
    info["after_beat_ms"] = ms(a - beats[j - 1]) if j > 0 else None
    info["before_beat_ms"] = ms(beats[j] - a) if j < beats.size else None
    if removed.size:
        r = int(removed[np.argmin(np.abs(removed - a))])
        info["from_blocked_ms"] = ms(a - r)
    s = int(np.argmin(np.minimum(np.abs(spans[:, 0] - a), np.abs(spans[:, 1] - a)))) if spans.size else None
    if s is not None:
        info["from_cut_start_ms"] = ms(a - spans[s, 0])
        info["from_cut_end_ms"] = ms(a - spans[s, 1])
    if normal_false.size and np.min(np.abs(normal_false - a)) <= SAME_MS * fs / 1000.0:
        return "in_normal", info
    if missed.size and np.any((np.abs(missed - a) > 0.15 * fs) & (np.abs(missed - a) <= 0.3 * fs)):
        return "mislocated", info
    if s is not None:
        start, stop = int(spans[s, 0]), int(spans[s, 1])
        edge = CUT_EDGE_MS * fs / 1000.0
        if abs(a - start) <= edge and not (a > start + edge):
            return "cut_start", info
        if abs(a - stop) <= edge:
            return "cut_end", info
        if start < a < stop:
            return "in_cut_span", info
    nxt = removed[removed > a]
    if nxt.size and spans.size:
        k = int(np.searchsorted(removed, nxt[0]))
        if nxt[0] - a <= P_WAVE_S * fs and a < spans[k, 0]:
            return "blocked_p_wave", info
    if info["after_beat_ms"] is not None and T_WAVE_S[0] * 1000 <= info["after_beat_ms"] <= T_WAVE_S[1] * 1000:
        return "t_wave", info
    return "other", info


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__)
    parser.add_argument("--cache-dir", help="run s58's counts (read only; default: the --builder's cache)")
    parser.add_argument("--builder", choices=tuple(BUILDERS), default="s58",
                        help="s58: run s47's builder (run s60's look); s58b: with run s60's artifact fix and run "
                             "s58b's own-onset cut (run s61's look, against run s58b's counts)")
    parser.add_argument("--records", nargs="+", default=list(tasks.MITDB_DS1))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--s58-stages", action="store_true",
                        help="run s64: trace each miss through run s58's own detector too (s58_stage, same_beats)")
    args = parser.parse_args(argv)
    args.cache_dir = args.cache_dir or BUILDERS[args.builder]["cache"]
    extra = BUILDERS[args.builder]["builder"]
    name, config, constants = baseline()
    misses, falses, checks, builder_checks, normal_fp = [], [], {}, {}, {}
    for rid in args.records:
        record = read_mitdb(args.data_dir, rid, with_symbols=True)
        symbol_at = dict(zip(record[2].tolist(), record[5]))
        normal = block21_misses.run(args.data_dir, rid, "normal", config, constants, record)
        npeaks = s58_peaks(normal["built"], normal["fs"], normal["x"], normal["detect"])
        ntp, nfn, nfp, nhit, nfalse = match(normal["built"], npeaks, normal["fs"])
        # run s58b's cache holds a record's other rhythms only where it counted them; the rest are run s58r's copy's
        path = Path(args.cache_dir) / f"{rid}_other.json"
        if not path.exists() and BUILDERS[args.builder].get("other_cache"):
            path = Path(BUILDERS[args.builder]["other_cache"]) / f"{rid}_other.json"
        other = json.loads(path.read_text())
        checks[f"{rid}_normal"] = [ntp, nfn, nfp] == other[f"{rid}|normal|{S58_NAME}"]
        normal_missed = set(normal["built"]["beats"].tolist()) - nhit
        normal_false = np.array(sorted(nfalse), np.int64)
        normal_fp[rid] = int(nfp)
        for k in args.seeds:
            rows, bcheck, counts = block21_misses.diagnose(args.data_dir, rid, config, constants, dict(builder(k), **extra),
                                                           detail=True)
            detail = counts.pop("_detail")
            run, spans = detail["run"], np.asarray(detail["spans"], np.int64).reshape(-1, 2)
            fs, built = run["fs"], run["built"]
            beats, removed = built["beats"], np.sort(built["removed"])
            peaks = s58_peaks(built, fs, run["x"], run["detect"])
            trace = s58_trace(built, fs, run["x"], run["detect"]) if args.s58_stages else None
            if trace is not None:
                checks[f"{rid}_k{k}_traced"] = trace["traced"] and bool(np.array_equal(trace["final"], peaks))
            tp, fn, fp, hit, false = match(built, peaks, fs)
            cache = json.loads((Path(args.cache_dir) / f"{rid}_block21_k{k}.json").read_text())
            checks[f"{rid}_k{k}"] = [tp, fn, fp] == cache[f"{rid}|block21|{S58_NAME}"]
            builder_checks[f"{rid}_k{k}"] = bcheck
            stage = {r["sample"]: r for r in rows}
            missed = np.array(sorted(set(beats.tolist()) - hit), np.int64)
            amp, _, width = G.qrs_shapes(run["x"], peaks, fs)
            qrs = int(round(0.06 * fs))
            for a in missed.tolist():
                r = dict(stage.get(a) or {"stage": "lost_at_s58"})
                r["stage"] = r.get("stage") or "lost_at_s58"
                i = int(np.searchsorted(beats, a))
                row = {"record": rid, "seed": k, "sample": int(a), "stage": r["stage"],
                       "symbol": symbol_at.get(a, "?"), "amplitude": r.get("amplitude"), "width": r.get("width"),
                       "rr_prev_ms": round(1000.0 * (a - beats[i - 1]) / fs, 1) if i > 0 else None,
                       "rr_next_ms": round(1000.0 * (beats[i + 1] - a) / fs, 1) if i + 1 < beats.size else None,
                       "prev_symbol": symbol_at.get(int(beats[i - 1]), "?") if i > 0 else None,
                       "missed_in_normal": a in normal_missed, "next_to_blocked": r.get("next_to_blocked"),
                       "qrs_in_a_replaced_span": bool(spans.size and np.any((a + qrs >= spans[:, 0])
                                                                            & (a - qrs <= spans[:, 1])))}
                row["kind"] = miss_kind(rid, row)
                if trace is not None:
                    row["s58_stage"] = s58_stage(a, beats, trace, fs)
                misses.append(row)
            for a in sorted(false):
                kind, info = false_kind(a, fs, beats, missed, spans, removed, normal_false)
                q = int(np.argmin(np.abs(peaks - a)))
                ref = G.amplitude_reference(peaks, amp, peaks[q:q + 1])[0]
                med = float(np.median(width[max(q - 8, 0):q + 9]))
                falses.append({"record": rid, "seed": k, "sample": int(a), "kind": kind,
                               "amplitude": round(float(amp[q] / ref), 2) if ref > 0 else None,
                               "width": round(float(width[q] / med), 2) if med > 0 else None, **info})
            log.info("k=%d %s: FN %d FP %d, check %s", k, rid, fn, fp, checks[f"{rid}_k{k}"])
    n = len(args.seeds)
    tally = lambda sel, key: {s: round(v / n, 1) for s, v in  # noqa: E731
                              collections.Counter(str(r[key]) for r in sel).most_common()}

    def per_record(sel):
        return {rid: {"mean_per_seed": round(sum(r["record"] == rid for r in sel) / n, 1),
                      "kind": tally([r for r in sel if r["record"] == rid], "kind")}
                for rid, _ in collections.Counter(r["record"] for r in sel).most_common()}

    builder_sum = {key: sum(v[key] for v in builder_checks.values())
                   for key in ("beats_with_qrs_in_a_replaced_span", "other_annotations_inside_a_replaced_span",
                               "misses_next_to_a_blocked_beat")}
    experiment = "rpeaks_s64_block21_look" if args.s58_stages else BUILDERS[args.builder]["experiment"]
    result = {"experiment": experiment, "builder": args.builder, "command": " ".join(["python", SCRIPT] + argv),
              "blind": False,
              "what": "a held-out look at run s58's block21 errors, by record and by kind (every fold of run s58 chose "
                      "this point, so these are its held-out errors); it aims run s60's lever and chooses nothing",
              "point": SHORT_S58, "baseline_stage_from": "s37_first (block21_misses.diagnose)", "seeds": args.seeds,
              "counts_equal_s58_cache": all(checks.values()),
              "thresholds": {"dropout": DROPOUT, "wide": WIDE, "same_ms": SAME_MS, "p_wave_s": P_WAVE_S,
                             "cut_edge_ms": CUT_EDGE_MS, "t_wave_s": list(T_WAVE_S)},
              "misses_mean_per_seed": round(len(misses) / n, 1), "false_mean_per_seed": round(len(falses) / n, 1),
              "miss_kind_mean_per_seed": tally(misses, "kind"),
              "miss_kind_mean_per_seed_other_21": tally([r for r in misses if r["record"] != "203"], "kind"),
              "miss_stage_mean_per_seed": tally(misses, "stage"),
              "misses_missed_in_normal_mean_per_seed": round(sum(r["missed_in_normal"] for r in misses) / n, 1),
              "misses_with_qrs_in_a_replaced_span": sum(r["qrs_in_a_replaced_span"] for r in misses),
              "false_kind_mean_per_seed": tally(falses, "kind"),
              "false_kind_mean_per_seed_other_21": tally([r for r in falses if r["record"] != "203"], "kind"),
              "misses_per_record": per_record(misses), "false_per_record": per_record(falses),
              "normal_fp_per_record": normal_fp, "builder_check_sum": builder_sum,
              "misses": misses, "false": falses, "checks": checks}
    if args.s58_stages:
        result.update(stage_summary(misses, n))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("counts_equal_s58_cache", "misses_mean_per_seed", "false_mean_per_seed",
                                             "miss_kind_mean_per_seed", "false_kind_mean_per_seed",
                                             "builder_check_sum")}))
    return 0


def stage_summary(misses, n) -> dict:
    """Run s64's figures: the misses by run s58's own stage (and by it and the baseline's), and the same beats over
    the seeds: each missed annotation with the seeds it is missed on."""
    beats = collections.defaultdict(list)
    for r in misses:
        beats[(r["record"], r["sample"])].append(r)
    same = [{"record": rid, "sample": a, "seeds": sorted(r["seed"] for r in rows), "s58_stage": rows[0]["s58_stage"],
             "stage": rows[0]["stage"], "kind": rows[0]["kind"], "symbol": rows[0]["symbol"],
             "missed_in_normal": rows[0]["missed_in_normal"],
             "stages_agree_over_seeds": len({r["s58_stage"] for r in rows}) == 1}
            for (rid, a), rows in sorted(beats.items())]
    by_seeds = collections.Counter(len(b["seeds"]) for b in same)
    return {"s58_stage_mean_per_seed": {s: round(v / n, 1) for s, v in
                                        collections.Counter(r["s58_stage"] for r in misses).most_common()},
            "s58_stage_by_baseline_stage_mean_per_seed": {
                f"{a} / {b}": round(v / n, 1)
                for (a, b), v in collections.Counter((r["s58_stage"], r["stage"]) for r in misses).most_common()},
            "s58_stage_not_203_mean_per_seed": {s: round(v / n, 1) for s, v in collections.Counter(
                r["s58_stage"] for r in misses if r["record"] != "203").most_common()},
            "s58_stage_not_missed_in_normal_mean_per_seed": {s: round(v / n, 1) for s, v in collections.Counter(
                r["s58_stage"] for r in misses if not r["missed_in_normal"]).most_common()},
            "s58_stage_per_record_mean_per_seed": {
                rid: {s: round(v / n, 1) for s, v in collections.Counter(
                    r["s58_stage"] for r in misses if r["record"] == rid).most_common()}
                for rid, _ in collections.Counter(r["record"] for r in misses).most_common()},
            "beats_missed": len(same), "beats_by_seeds_missed": {str(k): by_seeds[k] for k in sorted(by_seeds)},
            "misses_on_beats_missed_on_every_seed_mean_per_seed": round(
                sum(len(b["seeds"]) for b in same if len(b["seeds"]) == n) / n, 1),
            "same_beats": same}


SHORT_S58 = "s37_first_gap0.25_final0.5_after_pair0.6_corr0.9 (run s58)"
# the builders the look can read: run s60's look (run s47's builder, run s59's cache) and run s61's (run s60's artifact
# fix and run s58b's own-onset cut, checked against run s58b's counts)
BUILDERS = {"s58": {"builder": {}, "cache": S58_CACHE, "experiment": "rpeaks_s60_block21_look"},
            "s58b": {"builder": {"artifacts": True, "own_onset": True}, "cache": "/work/runs/s38-rpeaks2/s58b/counts",
                     "other_cache": "/work/runs/s38-rpeaks2/s58r_counts_copy", "experiment": "rpeaks_s61_block21_look"}}

if __name__ == "__main__":
    sys.exit(main())
