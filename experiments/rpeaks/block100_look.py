"""Run s41-block100's look (issue 21, a look that chooses nothing; NOT blind: it reads the held-out records it explains):
which records, rhythms and detector steps make run s40-slope2's kept point lose accuracy at 100 Hz, MIT-BIH 201 set
aside (another run looks at its false T waves).

    python experiments/rpeaks/block100_look.py --data-dir /work/shared/data/mitdb \\
        --cache-dir COPY_OF_RUN_S40_TW_COUNTS --out benchmarks/results/rpeaks_s41_block100_look.json

Part 1, from the counts (``--cache-dir``: a copy of run s40-tw's count folder, which holds run s40-slope2's point
``step_feature_sharpness`` natively and at 100 Hz; read only): per record and rhythm, the 100 Hz FN and FP minus the
native ones (block21: mean over the five builder seeds), and the records' share of the gap (``per_record``).

Part 2, a trace: each build of the records whose 100 Hz errors differ from the native ones (``--records``, default:
every record but 201 with a difference), natively and at 100 Hz (``detect_rate.detect_at_rate``'s path: resampled,
detected, mapped), with the detector's stages recorded (``t_wave_rate_look.run_staged``: into the guard, the search
back, the second proposer; and here also neurokit's own proposals, ``rpeaks.detect_rpeaks``, the minimum gap's minima
and their join after the guard, ``rpeaks.join_gap_peaks``) and every guard check's call (``s40_201_look.run_checks``).
The counts must equal the cache's (``counts_equal_cache``). Each beat one rate finds and the other loses, and each false
beat one rate makes and the other does not (within ``NEAR_S``), gets a ``cause`` at the rate that errs:

- a beat lost at 100 Hz: ``matched_elsewhere`` (a 100 Hz peak within 150 ms that the match pairs with another beat),
  ``not_proposed`` (no neurokit proposal within 150 ms; neither the search back nor the second proposer added it),
  ``apex`` (proposed, but not into the guard: dropped as too close to a stronger peak, or moved over 150 ms by the R-apex
  refinement), ``gap_rule`` (a minimum the gap kept, dropped at its join after the guard), the guard check that dropped
  it (``guard_keep``: the amplitude check; ``t_wave_like``, ``blocked_p_wave``, ...; ``check@caller`` for a candidate's
  veto), or ``guard_unrecorded``;
- a false beat made at 100 Hz: the stage that brought it in (``t_wave_rate_look.origin``: ``primary``, ``search_back``,
  ``second_proposer``, ``after_guard``: the gap's join), what the native detector did at the same place
  (``s40_201_look.native_fate``), and ``mislocated`` when a reference beat 150-300 ms away is lost at 100 Hz (one beat
  found at the wrong place: the peak's position, not a detection).

Prints one JSON object last.
"""
from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import region_rate as RR  # noqa: E402
from block21_seam import JOINS, SEED_STEP, SEEDS  # noqa: E402
from cluster import RHYTHMS, match, rhythm_signals  # noqa: E402
from detect_rate import OTHER, RATE  # noqa: E402
from look_cli import look_parser, parse_look_args  # noqa: E402
from s40_201_look import native_fate, passes, run_checks  # noqa: E402
from t_wave_rate_look import near, origin, run_staged  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.data import rpeaks  # noqa: E402
from ecgsl_keras.data.filters import resample  # noqa: E402

log = logging.getLogger("experiments.rpeaks.block100_look")
SCRIPT = "experiments/rpeaks/block100_look.py"
POINT = ("s40-slope2", "step_feature_sharpness")
SET_ASIDE = ("201",)          # another run's (its false T waves at 100 Hz)
MATCH_S = 0.15                # bench rpeaks' match tolerance
NEAR_S = 0.05                 # a false beat at one rate is "the same" as one at the other within this
MITDB_FS = 360.0              # the builds' rate (the peaks in ``builds`` are MIT-BIH samples)
MISLOCATED_S = 0.3            # a false beat with a lost beat 150-300 ms away: one beat found at the wrong place


def per_record_from_cache(cache, records) -> dict:
    """Per record and rhythm the 100 Hz FN and FP minus the native ones at the point (block21: mean over the seeds)."""
    native, at_100 = f"s58_native_{POINT[1]}", f"s58_100_{POINT[1]}"
    out = {}
    for rid in records:
        other = json.loads((cache / f"{rid}_other.json").read_text())
        block = [json.loads((cache / f"{rid}_block21_k{k}.json").read_text()) for k in SEEDS]
        row = {}
        for r in RHYTHMS:
            cs = block if r == "block21" else [other]
            fn, fp = (float(np.mean([c[f"{rid}|{r}|{at_100}"][i] - c[f"{rid}|{r}|{native}"][i] for c in cs]))
                      for i in (1, 2))
            row[r] = {"FN": round(fn, 1), "FP": round(fp, 1)}
        row["total"] = round(sum(v["FN"] + v["FP"] for v in row.values()), 1)
        out[rid] = row
    return out


def run_traced(fn):
    """``fn()`` with the stages (``run_staged``), the guard's check calls (``run_checks``), neurokit's own proposals
    (the last ``rpeaks.detect_rpeaks`` call: its peaks and the gap's minima) and the gap's join after the guard
    recorded: (peaks, stages, calls)."""
    recorded = {}
    detect, join = rpeaks.detect_rpeaks, rpeaks.join_gap_peaks

    def detect_recorded(*a, **k):
        out = detect(*a, **k)
        recorded["raw"] = np.asarray(out, np.int64).copy()
        recorded["gap_minima"] = np.asarray(k.get("gap_added") or [], np.int64)
        return out

    def join_recorded(guarded, gap_peaks, *a, **k):
        out = join(guarded, gap_peaks, *a, **k)
        recorded["gap_in"], recorded["gap_out"] = np.asarray(gap_peaks, np.int64).copy(), np.asarray(out).copy()
        return out

    rpeaks.detect_rpeaks, rpeaks.join_gap_peaks = detect_recorded, join_recorded
    try:
        (peaks, calls), stages = run_staged(lambda: run_checks(fn))
    finally:
        rpeaks.detect_rpeaks, rpeaks.join_gap_peaks = detect, join
    return peaks, stages | recorded, calls


def lost_cause(b, final, stages, calls, tol) -> str:
    """Why beat ``b`` (samples at the detector's rate) is not among the detector's matched beats (see the docstring)."""
    if near(final, b, tol):
        return "matched_elsewhere"
    if not near(stages.get("raw", []), b, tol):
        # a second proposer's candidate vetoed by a check (``check@second_proposer``), else never proposed
        vetoed = [r["check"] for r in passes(calls, b, tol) if r["dropped"] and "@" in r["check"]]
        return vetoed[0] if vetoed else "not_proposed"
    in_gap = near(stages.get("gap_in", []), b, tol) and not near(stages.get("guard_in", []), b, tol)
    if in_gap:
        return "gap_rule"
    if not near(stages.get("guard_in", []), b, tol):
        return "apex"
    dropped = [r["check"] for r in passes(calls, b, tol) if r["dropped"]]
    return dropped[0] if dropped else "guard_unrecorded"


def trace_build(rid, rhythm, built, fs, config) -> dict:
    x = built["signal"]
    scale = fs / RATE
    native, stages_n, calls_n = run_traced(lambda: rpeaks.find_rpeaks(x, fs, config))
    found, stages_h, calls_h = run_traced(lambda: rpeaks.find_rpeaks(resample(x, fs, RATE), RATE, config))
    mapped = np.unique(np.clip(np.rint(found * scale).astype(np.int64), 0, x.size - 1))
    tp_n, fn_n, fp_n, hit_n, false_n = match(built, native, fs)
    tp_h, fn_h, fp_h, hit_h, false_h = match(built, mapped, fs)
    # the 100 Hz stages mapped to fs as the peaks are (for the origin and the lost beats' causes)
    stages_hm = {k: np.rint(np.asarray(s) * scale).astype(np.int64) for k, s in stages_h.items()}
    calls_hm = [(c[0], c[1], np.rint(c[2] * scale).astype(np.int64), c[3], c[4]) for c in calls_h]
    tol, tol_near = int(round(MATCH_S * fs)), int(round(NEAR_S * fs))
    lost_100 = sorted(hit_n - hit_h)
    found_100 = sorted(hit_h - hit_n)
    rows = {"lost_at_100": [], "found_at_100": [], "false_added_at_100": [], "false_removed_at_100": []}
    for b in lost_100:
        rows["lost_at_100"].append({"at": int(b), "cause": lost_cause(b, mapped, stages_hm, calls_hm, tol),
                                    "native_origin": origin(stages_n, int(b), tol)})
    for b in found_100:
        rows["found_at_100"].append({"at": int(b), "cause_native": lost_cause(b, native, stages_n, calls_n, tol),
                                     "origin_100": origin(stages_hm, int(b), tol)})
    lost_arr = np.asarray(lost_100, np.int64)
    for p in sorted(false_h):
        if near(sorted(false_n), p, tol_near):
            continue
        d = np.abs(lost_arr - p) if lost_arr.size else np.array([])
        rows["false_added_at_100"].append({
            "at": int(p), "origin_100": origin(stages_hm, int(p), tol_near),
            "native": native_fate(stages_n, calls_n, native, int(p), tol_near),
            "mislocated": bool(d.size and np.min(d) <= int(round(MISLOCATED_S * fs))),
            "checks_100": passes(calls_hm, int(p), tol_near)})
    false_h_arr = np.asarray(sorted(false_h), np.int64)
    for p in sorted(false_n):
        if near(false_h_arr, p, tol_near):
            continue
        rows["false_removed_at_100"].append({"at": int(p), "origin_native": origin(stages_n, int(p), tol_near),
                                             "fate_100": native_fate(stages_hm, calls_hm, mapped, int(p), tol_near)})
    return {"native": [tp_n, fn_n, fp_n], "100": [tp_h, fn_h, fp_h], **rows}


def causes_of(row_list, key) -> dict:
    return dict(Counter(r[key] for r in row_list).most_common())


STAGES = {"primary": "primary_proposer", "second_proposer": "second_proposer", "search_back": "search_back",
          "after_guard": "minimum_gap", "gap_rule": "minimum_gap", "apex": "apex_position",
          "matched_elsewhere": "apex_position", "guard_keep": "amplitude_check", "kept": "position_kept_elsewhere"}


def step_of(cause, origin_other) -> str:
    """The detector step an error (or an error avoided) belongs to: a beat or false beat one rate's stage ``cause``
    handles and the other's does not; for a beat no stage proposed (``not_proposed``) or a false beat the other rate
    never proposed, the stage that proposed it at the other rate (``origin_other``)."""
    key = origin_other if cause in ("not_proposed", "proposed_not_kept") else cause
    return STAGES.get(key, key.split("@")[0] + ("_candidate" if "@" in key else ""))


def net_by_step(builds) -> dict:
    """Per detector step, per seed (block21: mean over the seeds): the 100 Hz errors it adds (FN, FP) and removes
    against the native rate, and the net. A false beat at 100 Hz 150-300 ms from a beat lost there (``mislocated``) is
    one beat found at the wrong place: its step is the lost beat's."""
    out = {}

    def add(step, key, w):
        row = out.setdefault(step, {"FN_added": 0.0, "FN_removed": 0.0, "FP_added": 0.0, "FP_removed": 0.0})
        row[key] += w

    seeds = len({n.split("|")[2] for n in builds if "|block21|" in n}) or 1
    for name, b in builds.items():
        w = 1.0 / seeds if "|block21|" in name else 1.0
        lost = {r["at"]: step_of(r["cause"], r["native_origin"]) for r in b["lost_at_100"]}
        lost_at = np.array(sorted(lost), np.int64)
        for step in lost.values():
            add(step, "FN_added", w)
        for r in b["found_at_100"]:
            add(step_of(r["cause_native"], r["origin_100"]), "FN_removed", w)
        for r in b["false_added_at_100"]:
            if r["mislocated"]:
                add(lost[int(lost_at[np.argmin(np.abs(lost_at - r["at"]))])], "FP_added", w)
            else:
                add(step_of(r["native"], r["origin_100"]), "FP_added", w)
        for r in b["false_removed_at_100"]:
            add(step_of(r["fate_100"], r["origin_native"]), "FP_removed", w)
    for row in out.values():
        row["net"] = row["FN_added"] - row["FN_removed"] + row["FP_added"] - row["FP_removed"]
    return {k: {m: round(v, 1) for m, v in row.items()} for k, row in sorted(out.items(), key=lambda kv: -kv[1]["net"])}


def summarise(builds) -> dict:
    """Per record and rhythm (block21: totals over the seeds, and per seed), the causes of the 100 Hz errors."""
    per = {}
    for name, b in builds.items():
        rid, rhythm, _ = name.split("|")
        s = per.setdefault(rid, {}).setdefault(rhythm, Counter())
        for r in b["lost_at_100"]:
            s[f"FN+ {r['cause']}|native:{r['native_origin']}"] += 1
        for r in b["found_at_100"]:
            s[f"FN- {r['cause_native']}|100:{r['origin_100']}"] += 1
        for r in b["false_added_at_100"]:
            s[f"FP+ {'mislocated' if r['mislocated'] else r['origin_100']}|native:{r['native']}"] += 1
        for r in b["false_removed_at_100"]:
            s[f"FP- {r['origin_native']}|100:{r['fate_100']}"] += 1
    seeds = len({n.split("|")[2] for n in builds if "|block21|" in n}) or 1
    totals = Counter()
    for rid, rs in per.items():
        for rhythm, c in rs.items():
            for k, v in c.items():
                totals[k] += v / seeds if rhythm == "block21" else v
    by_stage = Counter()
    for k, v in totals.items():
        sign, what = k.split(" ", 1)
        by_stage[f"{sign} {what.split('|')[0]}"] += v
    # each false beat found at the wrong place: its offset from the beat lost there (ms) and that beat's cause
    mislocated = {}
    for name, b in builds.items():
        lost = {r["at"]: r for r in b["lost_at_100"]}
        at = np.array(sorted(lost), np.int64)
        rows = [{"offset_ms": round(1000.0 * float(r["at"] - j) / MITDB_FS), "lost_cause": lost[int(j)]["cause"],
                 "origin_100": r["origin_100"]} for r in b["false_added_at_100"] if r["mislocated"]
                for j in [at[np.argmin(np.abs(at - r["at"]))]]]
        if rows:
            mislocated[name] = rows
    return {"per_record_rhythm": {rid: {r: dict(c.most_common()) for r, c in rs.items()} for rid, rs in per.items()},
            "mislocated": mislocated,
            "block21_seeds": seeds,
            "causes_per_seed": {k: round(v, 1) for k, v in totals.most_common()},
            "by_stage_per_seed": {k: round(v, 1) for k, v in by_stage.most_common()},
            "net_by_step_per_seed": net_by_step(builds),
            "net_by_step_per_record": {rid: {k: v["net"] for k, v in net_by_step(
                {n: b for n, b in builds.items() if n.startswith(f"{rid}|")}).items() if v["net"]} for rid in per},
            "net_per_seed": round(sum(v if k.split(" ")[0].endswith("+") else -v for k, v in totals.items()), 1)}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__, cache_dir="/work/runs/s41-block100/tw_counts")
    parser.add_argument("--records", nargs="+", help="trace these records (default: every record but 201 whose 100 "
                                                     "Hz errors differ from the native ones)")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--trace-dir", help="keep each traced record here (resumable)")
    args = parse_look_args(parser, argv)
    if args is None:
        return 2
    cache = Path(args.cache_dir)
    records = list(tasks.MITDB_DS1)
    missing = [str(cache / f"{r}_other.json") for r in records if not (cache / f"{r}_other.json").exists()]
    if missing:
        print(f"error: --cache-dir {cache}: missing {missing[0]} (a copy of run s40-tw's counts)", file=sys.stderr)
        return 2
    per_record = per_record_from_cache(cache, records)
    gap = round(sum(v["total"] for v in per_record.values()), 1)
    traced = args.records or [r for r in records if r not in SET_ASIDE and any(
        v["FN"] or v["FP"] for k, v in per_record[r].items() if k != "total")]
    config = RR.RUNS[POINT[0]].configs()[POINT[1]]
    trace_dir = Path(args.trace_dir) if args.trace_dir else None
    if trace_dir:
        trace_dir.mkdir(parents=True, exist_ok=True)
    builds, equal = {}, True
    native_key, key_100 = f"s58_native_{POINT[1]}", f"s58_100_{POINT[1]}"
    for rid in traced:
        path = trace_dir / f"{rid}.json" if trace_dir else None
        if path and path.exists():
            got = json.loads(path.read_text())
        else:
            got = {}
            held = {f"{rid}|{r}|today": None for r in RHYTHMS}   # today's detector is not looked at
            for rhythm, built, fs, _, _ in rhythm_signals(args.data_dir, rid, held, names=OTHER, artifacts=True):
                got[f"{rid}|{rhythm}|-"] = trace_build(rid, rhythm, built, fs, config)
            for k in args.seeds:
                for rhythm, built, fs, _, _ in rhythm_signals(args.data_dir, rid, held, names=("block21",), t_end_s=None,
                                                              join_edge_s=JOINS["new"], seed_offset=SEED_STEP * k,
                                                              artifacts=True, own_onset=True):
                    got[f"{rid}|{rhythm}|k{k}"] = trace_build(rid, rhythm, built, fs, config)
            if path:
                path.write_text(json.dumps(got) + "\n")
        for name, b in got.items():
            r, rhythm, k = name.split("|")
            c = json.loads((cache / (f"{r}_other.json" if k == "-" else f"{r}_block21_{k}.json")).read_text())
            same = b["native"] == c[f"{r}|{rhythm}|{native_key}"] and b["100"] == c[f"{r}|{rhythm}|{key_100}"]
            equal &= same
            if not same:
                log.warning("%s: traced %s / %s, cached %s / %s", name, b["native"], b["100"],
                            c[f"{r}|{rhythm}|{native_key}"], c[f"{r}|{rhythm}|{key_100}"])
        builds |= got
        log.info("%s traced: %s", rid, summarise(got)["causes_per_seed"])
    summary = summarise(builds)
    result = {"experiment": "rpeaks_s41_block100_look", "command": " ".join(["python", SCRIPT] + argv),
              "what": "a look, chooses nothing (not blind: held-out records): run s40-slope2's kept point "
                      "(step_feature_sharpness) natively and at 100 Hz (mapped), all 22 DS1 records' counts from run "
                      "s40-tw's cache, and a trace of the records whose 100 Hz errors differ (201 set aside): each beat "
                      "one rate finds and the other loses and each false beat one rate makes and the other does not, "
                      "with the detector step that caused it (block21: builder seeds record + 1000 k)",
              "point": list(POINT), "records": records, "set_aside": list(SET_ASIDE), "traced": traced,
              "match_s": MATCH_S, "near_s": NEAR_S, "mislocated_s": MISLOCATED_S,
              "gap": gap, "gap_without_set_aside": round(gap - sum(per_record[r]["total"] for r in SET_ASIDE), 1),
              "per_record": per_record, "counts_equal_cache": equal, "summary": summary, "builds": builds}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"gap": gap, "gap_without_set_aside": result["gap_without_set_aside"],
                      "counts_equal_cache": equal, "net_by_step_per_seed": summary["net_by_step_per_seed"],
                      "causes_per_seed": summary["causes_per_seed"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
