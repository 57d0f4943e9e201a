"""Runs s53-s54 (issue 21): block21's errors left at run s51's point, one by one. A HELD-OUT look (the counts it reads
are run s51's held-out ones), so NOT blind: what it reads aims runs s53-s54's levers, whose points are still chosen
leave one record out (experiments/rpeaks/minimum_gap.py --run s53 / s54).

    python experiments/rpeaks/s51_block21_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s54_block21_look.json

For every DS1 record and builder seed k (seed = record + 1000 k, run s47's builder) the block21 rhythm is traced at
run s47's baseline (``s37_first``) by ``block21_misses.diagnose`` (run s43's ``stage`` of each miss: never a candidate
-- ``no_region`` / ``short_region`` / ``no_extremum`` / ``refractory_lost`` / ``close_or_refine`` -- or the guard step
that dropped it), then detected at run s51's point (``minimum_gap.S51_POINT``) on the same signal. A miss of run s51 is
given the baseline's stage when the baseline misses it too, else ``lost_at_s51``. The false beats run s51 adds or
removes against the baseline are listed with the kept peaks around them (run s53: 207's two at k = 0), with their QRS
amplitude over the guard's reference and width over the median width (``rpeak_guard.qrs_shapes``), and whether the
gap kept a minimum within 1 s before them. Counts are checked against run s51's cache (``--cache-dir``, read only).
Prints one JSON object last.
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
from cluster import match  # noqa: E402
from look_cli import look_parser  # noqa: E402
from minimum_gap import S51_POINT, final_peaks  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.data import rpeak_guard as G  # noqa: E402

log = logging.getLogger("experiments.rpeaks.s51_block21_look")
SCRIPT = "experiments/rpeaks/s51_block21_look.py"
S51_CACHE = "/work/runs/s36-rpeaks/counts"


def s51_peaks(run, config, constants):
    """Run s51's final peaks on the traced signal (``minimum_gap.final_peaks``, ``count``'s path) and the gap's
    minima."""
    import dataclasses

    _, added, peaks = final_peaks(run["built"], run["fs"], run["x"], run["detect"],
                                  dataclasses.replace(config, **S51_POINT), constants, S51_POINT)
    return peaks, added


def context(peaks, at, cleaned, fs, beats, added, n=3):
    """The kept peaks around ``at`` (ms from it, amplitude over the guard's reference, width over the median)."""
    amp, _, width = G.qrs_shapes(cleaned, peaks, fs)
    j = int(np.argmin(np.abs(peaks - at)))
    ref = G.amplitude_reference(peaks, amp, peaks[j:j + 1])[0] if peaks.size > 1 else np.nan
    med = float(np.median(width[max(j - 8, 0):j + 9]))
    rows = []
    for q in range(max(j - n, 0), min(j + n + 1, peaks.size)):
        b = beats[np.argmin(np.abs(beats - peaks[q]))]
        rows.append({"ms": round(1000.0 * (peaks[q] - at) / fs, 1), "amplitude": round(float(amp[q] / ref), 2),
                     "width": round(float(width[q] / med), 2), "true": bool(abs(int(b) - int(peaks[q])) <= 0.15 * fs),
                     "gap_peak": bool(peaks[q] in set(added.tolist()))})
    before = added[(added < at) & (added > at - fs)]
    return {"sample": int(at), "t_s": round(at / fs, 2), "around": rows,
            "gap_minimum_within_1s_before_ms": round(1000.0 * (at - int(before[-1])) / fs, 1) if before.size else None}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__)
    parser.add_argument("--cache-dir", default=S51_CACHE, help="run s51's counts (read only)")
    parser.add_argument("--records", nargs="+", default=list(tasks.MITDB_DS1))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    args = parser.parse_args(argv)
    name, config, constants = baseline()
    rows, false_rows, checks = [], [], {}
    for k in args.seeds:
        for rid in args.records:
            misses, _, counts = block21_misses.diagnose(args.data_dir, rid, config, constants, builder(k), detail=True)
            run = counts.pop("_detail")["run"]
            fs, beats = run["fs"], run["built"]["beats"]
            peaks, added = s51_peaks(run, config, constants)
            tp, fn, fp, hit, false = match(run["built"], peaks, fs)
            _, _, _, hit0, false0 = match(run["built"], run["peaks"], fs)
            cache = json.loads((Path(args.cache_dir) / f"{rid}_block21_k{k}.json").read_text())
            s51_key = [key for key in cache if key.endswith("final0.5_after") and key.count("|") == 2][0]
            checks[f"{rid}_k{k}"] = [tp, fn, fp] == cache[s51_key] and [counts["FN"], counts["FP"]] == \
                cache[f"{rid}|block21|{name}"][1:]
            stage = {r["sample"]: r for r in misses}
            for a in sorted(set(beats.tolist()) - hit):
                r = stage.get(a)
                rows.append({"record": rid, "seed": k, "sample": int(a),
                             "stage": r["stage"] if r else "lost_at_s51",
                             "symbol": r["symbol"] if r else None, "amplitude": r["amplitude"] if r else None,
                             "width": r["width"] if r else None, "missed_in_normal": r["missed_in_normal"] if r else None,
                             "slope_over_mean": r.get("slope_over_mean") if r else None,
                             "prev_kept_ms": r["prev_kept_ms"] if r else None})
            for kind, samples in (("false_added", false - false0), ("false_removed", false0 - false)):
                for a in sorted(samples):
                    false_rows.append({"record": rid, "seed": k, "kind": kind,
                                       **context(peaks if kind == "false_added" else run["peaks"], a, run["x"], fs,
                                                 beats, added)})
            log.info("k=%d %s: FN %d FP %d, check %s", k, rid, fn, fp, checks[f"{rid}_k{k}"])
    tally = lambda sel, key: dict(collections.Counter(str(r[key]) for r in sel).most_common())  # noqa: E731
    n_seeds = len(args.seeds)
    per_record = {rid: {"misses_mean": round(sum(r["record"] == rid for r in rows) / n_seeds, 1),
                        "stage": tally([r for r in rows if r["record"] == rid], "stage")}
                  for rid in args.records if any(r["record"] == rid for r in rows)}
    other = [r for r in rows if r["record"] != "203"]
    result = {"experiment": "rpeaks_s54_block21_look", "command": " ".join(["python", SCRIPT] + argv),
              "blind": False, "what": "a held-out look at run s51's block21 errors (aims runs s53-s54; chooses nothing)",
              "point": "s37_first_gap0.25_final0.5_after (run s51)", "baseline": "s37_first",
              "seeds": args.seeds, "counts_equal_s51_cache": all(checks.values()),
              "misses_mean_per_seed": round(len(rows) / n_seeds, 1),
              "stage_mean_per_seed": {s: round(v / n_seeds, 1) for s, v in tally(rows, "stage").items()},
              "stage_mean_per_seed_other_21": {s: round(v / n_seeds, 1) for s, v in tally(other, "stage").items()},
              "stage_by_symbol": {s: tally([r for r in rows if r["symbol"] == s], "stage")
                                  for s in sorted({str(r["symbol"]) for r in rows})},
              "per_record": dict(sorted(per_record.items(), key=lambda kv: -kv[1]["misses_mean"])),
              "false_changes": {"added": sum(r["kind"] == "false_added" for r in false_rows),
                                "removed": sum(r["kind"] == "false_removed" for r in false_rows),
                                "per_record": tally(false_rows, "record")},
              "false_rows": false_rows, "misses": rows, "checks": checks}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("counts_equal_s51_cache", "misses_mean_per_seed", "stage_mean_per_seed",
                                             "stage_mean_per_seed_other_21", "per_record", "false_changes")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
