"""Run s59 (issue 21): why the folds' choice left the held-out errors above run s58's. A look AFTER run s59's held-out
counts, so NOT blind; it chooses nothing and aims the next lever.

    python experiments/rpeaks/gap_pair_templates_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s59_templates_look.json

Two parts. (1) From run s59's cache (``--cache-dir``), per builder seed: the point each fold chose for 108 and 203 held
out, and the errors of every grid point on those two records and on the other 21 of their folds (``cluster.loro``'s
criterion). (2) On 108 at k = 0 (its four rhythms, detector runs): the false beats the most chosen point (t = 0.95) adds
against run s58's point, each with its time before the next reference beat and after the previous one (a P wave sits
some 0.26-0.29 s before its beat: run s54's look), and where in the built signals they lie (``templates``: the
constants the option's templates use). Prints one JSON object last.
"""
from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from block21_seam import JOINS, SEEDS  # noqa: E402
from cluster import RHYTHMS, errors, loro, match, rhythm_signals, totals  # noqa: E402
from gap_pair_correlation_look import seed_counts  # noqa: E402
from look_cli import look_parser  # noqa: E402
from minimum_gap import BASELINE, CACHES, GRIDS, SHORT, S58_POINT, final_peaks, names, points, suffix  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.data import rpeak_guard as G  # noqa: E402

RUN = "s59"
RECORDS = ("108", "203")


def fold_part(cache) -> dict:
    grid = names(RUN)
    out = {}
    for k in SEEDS:
        counts = seed_counts(cache, k)
        _, choice = loro(counts, grid, list(tasks.MITDB_DS1))
        out[str(k)] = {rid: {"chosen": SHORT[choice[rid]],
                             "errors_held_out_record": {SHORT[n]: errors(totals(counts, n, [rid])) for n in grid},
                             "errors_other_21": {SHORT[n]: errors(totals(counts, n, [r for r in tasks.MITDB_DS1
                                                                                   if r != rid])) for n in grid}}
                       for rid in RECORDS}
    return out


def record_part(data_dir) -> dict:
    grid = {SHORT[n]: (config, constants, options) for n, config, constants, options in points(RUN)}
    s58 = SHORT[f"{BASELINE}__{suffix(S58_POINT)}"]
    chosen = SHORT[f"{BASELINE}__{suffix(GRIDS[RUN][-1])}"]
    rows, per_rhythm = [], {}
    for rhythm, kwargs in [(r, dict(names=(r,))) for r in RHYTHMS if r != "block21"] + [
            ("block21", dict(names=("block21",), t_end_s=None, join_edge_s=JOINS["new"], seed_offset=0))]:
        for _, built, fs, cleaned, detect in rhythm_signals(data_dir, "108", {f"108|{rhythm}|today": 0}, **kwargs):
            found = {name: match(built, final_peaks(built, fs, cleaned, detect, *grid[name])[2], fs)
                     for name in (s58, chosen)}
            ref = np.asarray(built["beats"])
            added = sorted(found[chosen][4] - found[s58][4])
            per_rhythm[rhythm] = {"false_added": len(added), "false_removed": len(found[s58][4] - found[chosen][4]),
                                  "found": len(found[chosen][3] - found[s58][3]),
                                  "lost": len(found[s58][3] - found[chosen][3])}
            for a in added:
                nxt = ref[np.searchsorted(ref, a):][:1]
                prev = ref[:np.searchsorted(ref, a)][-1:]
                rows.append({"rhythm": rhythm, "sample": int(a),
                             "before_next_beat_ms": round(1000.0 * float(nxt[0] - a) / fs, 1) if nxt.size else None,
                             "after_previous_beat_ms": round(1000.0 * float(a - prev[0]) / fs, 1) if prev.size else None})
    before = [r["before_next_beat_ms"] for r in rows if r["before_next_beat_ms"] is not None]
    return {"point": chosen, "against": s58, "record": "108", "block21_seed": "record + 0", "per_rhythm": per_rhythm,
            "false_added_before_next_beat_ms_min_median_max": ([round(float(q), 1) for q in
                                                                np.percentile(before, [0, 50, 100])] if before else None),
            "false_added_260_300_ms_before_a_beat": sum(260.0 <= b <= 300.0 for b in before),
            # where in the built signals (seconds from their start): the first and the last added false beat
            "false_added_first_last_s": ([round(min(r["sample"] for r in rows) / fs, 1),
                                          round(max(r["sample"] for r in rows) / fs, 1)] if rows else None),
            "rows": rows}


def main(argv=None) -> int:
    argv, parser = look_parser(argv, __doc__, cache_dir=CACHES[RUN])
    args = parser.parse_args(argv)
    folds = fold_part(args.cache_dir)
    chosen = {rid: dict(collections.Counter(v[rid]["chosen"] for v in folds.values())) for rid in RECORDS}
    result = {"experiment": "rpeaks_s59_templates_look",
              "command": " ".join(["python", "experiments/rpeaks/gap_pair_templates_look.py"] + argv),
              "blind": False, "chooses": "nothing (a look after run s59's held-out counts)",
              "fold_chosen_for": chosen, "per_seed": folds, "record_108": record_part(args.data_dir),
              "templates": {"correlation": [c for c in (0.9, 0.95)], "constants": {
                  k: getattr(G.GUARD, k) for k in ("templates_count", "templates_min", "templates_sample",
                                                   "templates_amplitude")}}}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("fold_chosen_for",)} | {
        "record_108": {k: v for k, v in result["record_108"].items() if k != "rows"}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
