"""Run s41, post hoc (after the held-out figures of experiments/rpeaks/wide_runs_add.py were seen; NOT a held-out
result): the additive wide-run pass (``SignalConfig.rpeak_run_mode = "add"``) with spans around every wide peak
(``GuardConstants.run_rr_s`` = 0, run s40's second span definition) instead of the 0.5 s pairs, on run s37's point with
``rpeak_keep_first_beat`` at threshold {1.3, 1.2} x shortest region {0.4, 0.1}. Counts on all 22 DS1 records and the
four rhythms against that baseline, to size the next run's lever (do the wider spans find 203's beats, and does the
guard keep 201's T waves out when the first pass's peaks stay?). No choice and no keep decision here.

    python experiments/rpeaks/wide_runs_add_every.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s41_add_every_posthoc.json --cache-dir /work/runs/s32-rpeaks-203/counts

Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import first_beat  # noqa: E402
import wide_runs_add  # noqa: E402
from cluster import RHYTHMS, cached_counts, changes, errors, grid_arguments, totals  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402

FIRST = first_beat.FIRST


def points():
    """(name, SignalConfig, GuardConstants, baseline name): run s37's point with the record-start fix, then it with
    "add" over spans around every wide peak."""
    for base, config, constants, first in first_beat.points():
        if base != FIRST:
            continue
        yield base, config, constants, base
        every = dataclasses.replace(constants, run_rr_s=0.0)
        for threshold, length in itertools.product(wide_runs_add.THRESHOLD, wide_runs_add.MIN_LENGTH):
            yield (f"{base}__add{threshold}_ml{length}_every",
                   dataclasses.replace(config, rpeak_run_threshold=threshold, rpeak_run_min_length=length,
                                       rpeak_run_mode="add"), every, base)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    grid_arguments(parser)
    args = parser.parse_args(argv)
    wide_runs_add.points = points            # the counting of run s41's grid, over these points
    all_names = [n for n, _, _, _ in points()]
    adds = all_names[1:]
    counts = cached_counts(args, all_names + [f"{n}|changes" for n in adds], wide_runs_add.count_record)
    if counts is None:
        return 0
    records = list(tasks.MITDB_DS1)
    short = {n: n.replace(FIRST, "s37_first") for n in all_names}

    others = [r for r in records if r != "203"]
    result = {"experiment": "rpeaks_s41_add_every_posthoc", "post_hoc": True,
              "note": "after run s41's held-out figures; all-22 counts, no held-out score, no keep decision",
              "command": " ".join(["python", "experiments/rpeaks/wide_runs_add_every.py"]
                                  + list(argv if argv is not None else sys.argv[1:])),
              "records": records, "rhythms": list(RHYTHMS), "tolerance_ms": 150, "run_rr_s": 0.0,
              "errors_all_22": {short[n]: errors(totals(counts, n, records)) for n in all_names},
              "rhythm_fn_fp_all_22": {short[n]: {r: [v["FN"], v["FP"]] for r, v in totals(counts, n, records).items()}
                                      for n in all_names},
              "errors_203_vs_other_21": {short[n]: [errors(totals(counts, n, ["203"])), errors(totals(counts, n, others))]
                                         for n in all_names},
              "changes_203": {short[n]: changes(counts, n, ["203"]) for n in adds},
              "changes_201": {short[n]: changes(counts, n, ["201"]) for n in adds},
              "changes_other_21": {short[n]: changes(counts, n, others) for n in adds}}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
