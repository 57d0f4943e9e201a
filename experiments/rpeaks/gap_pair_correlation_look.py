"""Run s57 (issue 21): why the folds' choice left every rhythm's +P under run s51's. A look AFTER run s57's held-out
counts (its cache only, no detector runs), so NOT blind; it chooses nothing and aims the next lever.

    python experiments/rpeaks/gap_pair_correlation_look.py --out benchmarks/results/rpeaks_s57_fold_look.json

Per builder seed: the records whose fold chose each grid point (``cluster.loro``: fewest FN + FP over the four rhythms
on the other 21), the held-out FN / FP of those records at the point chosen and at the most chosen point, and each
grid point scored on all 22 records (no choice) per rhythm (Se, +P), mean over the seeds, against run s51's held-out
``rhythm_means``. Prints one JSON object last.
"""
from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from block21_seam import SEEDS  # noqa: E402
from cluster import RHYTHMS, errors, loro, totals  # noqa: E402
from look_cli import look_parser  # noqa: E402
from minimum_gap import CACHES, S51_JSON, SHORT, names  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402

RUN = "s57"


def seed_counts(cache, k) -> dict:
    counts = {}
    for rid in tasks.MITDB_DS1:
        counts.update(json.loads((Path(cache) / f"{rid}_other.json").read_text()))
        counts.update(json.loads((Path(cache) / f"{rid}_block21_k{k}.json").read_text()))
    return counts


def main(argv=None) -> int:
    argv, parser = look_parser(argv, __doc__, data_dir=False, cache_dir=CACHES[RUN])
    args = parser.parse_args(argv)
    records = list(tasks.MITDB_DS1)
    grid = names(RUN)
    per_seed, all22 = {}, {n: [] for n in grid}
    for k in SEEDS:
        counts = seed_counts(args.cache_dir, k)
        _, choice = loro(counts, grid, records)
        most = collections.Counter(choice.values()).most_common(1)[0][0]
        folds = {}
        for name in sorted(set(choice.values())):
            rids = sorted(r for r, c in choice.items() if c == name)
            folds[SHORT[name]] = {
                "records": rids,
                # those records held out at the point their fold chose and at the most chosen point: FN / FP per rhythm
                "at_chosen": {r: [totals(counts, name, rids)[r][m] for m in ("FN", "FP")] for r in RHYTHMS},
                "at_most_chosen": {r: [totals(counts, most, rids)[r][m] for m in ("FN", "FP")] for r in RHYTHMS},
                # what the fold compared: each point's errors on the other 21
                "errors_other_21": {SHORT[n]: errors(totals(counts, n, [x for x in records if x not in rids]))
                                    for n in grid} if len(rids) == 1 else None}
        per_seed[str(k)] = {"most_chosen": SHORT[most], "folds": folds}
        for n in grid:
            all22[n].append(totals(counts, n, records))
    s51 = json.loads(S51_JSON.read_text())["rhythm_means"]
    all22_means = {SHORT[n]: {r: {m: round(float(np.mean([t[r][m] for t in v])), 5) for m in ("Se", "+P")}
                              for r in RHYTHMS} for n, v in all22.items()}
    above = {name: {r: {m: round(v[r][m] - s51[r][m]["held_out"], 5) for m in ("Se", "+P")} for r in RHYTHMS}
             for name, v in all22_means.items()}
    result = {"experiment": "rpeaks_s57_fold_look",
              "command": " ".join(["python", "experiments/rpeaks/gap_pair_correlation_look.py"] + argv),
              "blind": False, "after": "run s57's held-out counts (rpeaks_s57_gap_pair_correlation.json); chooses nothing",
              "per_seed": per_seed, "all_22_rhythm_means": all22_means, "all_22_minus_s51_held_out": above,
              "minus_target_all_22": {name: {r: {m: round(v[r][m] - 0.997, 5) for m in ("Se", "+P")} for r in RHYTHMS}
                                      for name, v in all22_means.items()}}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("per_seed", "all_22_minus_s51_held_out")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
