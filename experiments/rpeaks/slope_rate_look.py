"""Run s40-slope's look (issue 21, after the counts; chooses nothing): where does the fixed-step slope
(``rpeak_region_gradient_step_s`` = 1/360 s alone) cost MIT-BIH 108 errors at 100 Hz, and what is left in 201?

    python experiments/rpeaks/slope_rate_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_region_slope_look.json

``rpeaks_region_slope.json`` puts 108's FN + FP at 100 Hz +19.0 with the step (bigeminy +11), 201's -47.0. Here run s58's point
at 100 Hz (``detect_rate.detect_at_rate``, mapped), off and with the step, on 108's and 201's builds (normal, bigeminy, pause;
block21 at builder seed k = 0; run s58b's builder, as ``region_rate.py``). For each beat one of the two finds and the
other loses, and each false beat one adds and the other removes: the stage that brought it in
(``t_wave_rate_look.origin``: the primary detector, the search back, the second proposer, after the guard), whether
the primary detector proposed it at the other point (within 150 ms of a beat, 50 ms of a false peak), its lag after the reference beat before it and
before the one after it, and the origins of every false beat left with the step; in bigeminy, whether a lost beat is one the builder scaled down and its MIT-BIH symbol.
Prints one JSON object last.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import region_rate as RR  # noqa: E402
from block21_seam import JOINS  # noqa: E402
from cluster import match, rhythm_signals  # noqa: E402
from detect_rate import detect_at_rate  # noqa: E402
from look_cli import look_parser, parse_look_args  # noqa: E402
from t_wave_rate_look import near, origin, run_staged  # noqa: E402

from ecgsl_keras.bench.rpeaks import read_mitdb  # noqa: E402

log = logging.getLogger("experiments.rpeaks.slope_rate_look")
SCRIPT = "experiments/rpeaks/slope_rate_look.py"
RECORDS = ("108", "201")   # the records step costs the most (108) and saves the most (201) at 100 Hz
NEAR_S = 0.05
MATCH_S = 0.15       # bench rpeaks' match tolerance


def describe(p, built, fs, stages, other_stages, symbols=None) -> dict:
    """One changed peak ``p`` (samples at ``fs``; a reference beat for a beat found or lost, within the match's
    ``MATCH_S`` of its peak, else a false peak, within ``NEAR_S``): its origin, whether the other point's primary
    detector proposed it, its lags to the reference beats around it (for a beat: the RR before and after); with
    ``symbols``, the nearest reference beat's symbol and whether the builder scaled it."""
    beats = np.asarray(built["beats"])
    i = int(np.searchsorted(beats, p))
    beat = i < beats.size and beats[i] == p
    tol = int(round((MATCH_S if beat else NEAR_S) * fs))
    nxt = i + 1 if beat else i
    row = {"origin": origin(stages, p, tol), "other_primary": near(other_stages.get("guard_in", []), p, tol),
           "after_prev_s": round(float((p - beats[i - 1]) / fs), 3) if i > 0 else None,
           "before_next_s": round(float((beats[nxt] - p) / fs), 3) if nxt < beats.size else None}
    if symbols is not None:
        j = int(np.argmin(np.abs(beats - p)))
        row["symbol"] = symbols[j]
        row["scaled"] = bool(np.isin(beats[j], built.get("scaled", [])))
    return row


def look(data_dir, rid) -> dict:
    configs = RR.RUNS["s40-slope"].configs()
    symbols = read_mitdb(data_dir, rid, with_symbols=True)[5]
    builds = [dict(names=("normal", "bigeminy", "pause"), artifacts=True),
              dict(names=("block21",), t_end_s=None, join_edge_s=JOINS["new"], artifacts=True, own_onset=True)]
    out = {}
    for signals in builds:
        # today's detector is not looked at: its keys held so that rhythm_signals does not score it
        held = {f"{rid}|{r}|today": None for r in signals["names"]}
        for rhythm, built, fs, cleaned, _ in rhythm_signals(data_dir, rid, held, **signals):
            x = built["signal"]
            found, stages = {}, {}
            for v in ("off", "step"):
                peaks, stages[v] = run_staged(lambda: detect_at_rate(x, fs, configs[v]))
                # the stages are at 100 Hz: map them to fs as the peaks are
                stages[v] = {k: np.rint(np.asarray(s) * (fs / 100.0)).astype(np.int64) for k, s in stages[v].items()}
                found[v] = match(built, peaks, fs)
            same_beats = rhythm in ("normal", "bigeminy")
            sym = symbols if same_beats else None
            (_, fn0, fp0, hit0, false0), (_, fn1, fp1, hit1, false1) = found["off"], found["step"]
            rows = {"lost": [describe(p, built, fs, stages["off"], stages["step"], sym) for p in sorted(hit0 - hit1)],
                    "found": [describe(p, built, fs, stages["step"], stages["off"], sym) for p in sorted(hit1 - hit0)],
                    "false_added": [describe(p, built, fs, stages["step"], stages["off"]) for p in sorted(false1 - false0)],
                    "false_removed": [describe(p, built, fs, stages["off"], stages["step"])
                                      for p in sorted(false0 - false1)]}
            summary = {k: {"n": len(v), "origins": {o: sum(r["origin"] == o for r in v)
                                                     for o in sorted({r["origin"] for r in v})},
                           "other_primary": sum(r["other_primary"] for r in v)} for k, v in rows.items()}
            # every false beat left with the step, by the stage that brought it in (what a next lever has to remove)
            left = [origin(stages["step"], p, int(round(NEAR_S * fs))) for p in sorted(false1)]
            summary["false_at_step"] = {o: left.count(o) for o in sorted(set(left))}
            out[f"{rid}|{rhythm}"] = {"off_fn_fp": [fn0, fp0], "step_fn_fp": [fn1, fp1], "summary": summary, "peaks": rows}
            log.info("%s %s: off %s step %s %s", rid, rhythm, [fn0, fp0], [fn1, fp1], summary)
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__)
    args = parse_look_args(parser, argv)
    if args is None:
        return 2
    builds = {}
    for rid in RECORDS:
        builds |= look(args.data_dir, rid)
    result = {"experiment": "rpeaks_region_slope_look", "command": " ".join(["python", SCRIPT] + argv),
              "records": list(RECORDS), "what": "the changed beats at 100 Hz, run s58's point with the fixed-step slope "
              "against off (a look after the counts, chooses nothing); block21 at builder seed k = 0",
              "near_s": NEAR_S, "match_s": MATCH_S, "builds": builds}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({r: {"off": b["off_fn_fp"], "step": b["step_fn_fp"], **b["summary"]} for r, b in builds.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
