"""Leave-one-record-out choice of the guard's shape rescue (``signal.GuardConstants.rescue_*``, issue 21)
on MIT-BIH DS1 and the rhythms built from it (normal, block21, pause, bigeminy).

    python experiments/rpeaks/rescue.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_rescue_loro.json

For every DS1 record and rhythm (``bench.rhythms``, seed = record number) the detector runs once without
the guard; then ``signal.guard_rpeaks`` (the shipped ``SignalConfig``: amplitude 0.35, search back 1.5 /
0.5) once per grid point of (rescue_amplitude, rescue_sharpness, rescue_width), and once with the rescue
off (today's guard). TP/FN/FP as ``bench rpeaks`` counts them (150 ms, VF episodes excluded). For each
record left out, the grid point with the fewest errors (FN + FP over the four rhythms) on the other 21
is scored on it. Reported: the held-out totals per rhythm, the choice per fold, every grid point's totals
on all 22. Per-signal counts are cached beside ``--out`` (``.counts.json``): a rerun only re-scores.
Prints one JSON object as the last stdout line.
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

from ecgsl_keras import tasks
from ecgsl_keras.bench import rhythms
from ecgsl_keras.bench.rpeaks import in_episodes, read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.data import signal as S

log = logging.getLogger("experiments.rpeaks.rescue")
RHYTHMS = ("normal", "block21", "pause", "bigeminy")
AMPLITUDE, SHARPNESS, WIDTH = (0.15, 0.2, 0.25), (0.75, 0.85), (1.0, 1.2, 1.5)


def grid():
    yield "off", dataclasses.replace(G.GUARD, rescue_amplitude=1.0)
    for a, sh, w in itertools.product(AMPLITUDE, SHARPNESS, WIDTH):
        yield f"a{a}_s{sh}_w{w}", dataclasses.replace(G.GUARD, rescue_amplitude=a, rescue_sharpness=sh, rescue_width=w)


def count(data_dir, counts: dict) -> dict:
    base = SignalConfig(rpeak_guard_amplitude=0.0, rpeak_searchback=0.0)
    config = SignalConfig()
    shipped = G.GUARD
    for rid in tasks.MITDB_DS1:
        if all(f"{rid}|{r}|off" in counts for r in RHYTHMS):
            continue
        signal, fs, ref, episodes, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
        for rhythm in RHYTHMS:
            built = rhythms.build(rhythm, signal, fs, ref, symbols, episodes, seed=int(rid), qrs_before_s=0.07,
                                  t_end_s=rhythms.T_END_FIXED_S, join_edge_s=rhythms.JOIN_EDGE_NONE)
            x = built["signal"]
            cleaned, detect = S.clean(x, fs, config.clean_method), S.clean(x, fs, config.rpeak_clean_method)
            primary = S.find_rpeaks(x, fs, base, cleaned=cleaned)
            try:
                for name, constants in grid():
                    G.GUARD = constants
                    peaks = S.guard_rpeaks(primary, cleaned, detect, fs, config)
                    peaks = peaks[~in_episodes(peaks, built["episodes"])]
                    m = S.match_peaks(built["beats"], peaks, int(round(0.15 * fs)))
                    counts[f"{rid}|{rhythm}|{name}"] = [m["tp"], m["fn"], m["fp"]]
            finally:
                G.GUARD = shipped
            log.info("%s %s: off %s", rid, rhythm, counts[f"{rid}|{rhythm}|off"])
    return counts


def totals(counts, name, records) -> dict:
    out = {r: {"TP": 0, "FN": 0, "FP": 0} for r in RHYTHMS}
    for rid in records:
        for r in RHYTHMS:
            for key, value in zip(("TP", "FN", "FP"), counts[f"{rid}|{r}|{name}"]):
                out[r][key] += value
    for figures in out.values():
        figures["Se"] = figures["TP"] / max(figures["TP"] + figures["FN"], 1)
        figures["+P"] = figures["TP"] / max(figures["TP"] + figures["FP"], 1)
    return out


def errors(t) -> int:
    return sum(v["FN"] + v["FP"] for v in t.values())


def loro(counts, names, records):
    """Held-out totals per rhythm (each record scored with the name of fewest errors on the other 21), choices."""
    held = {r: {"TP": 0, "FN": 0, "FP": 0} for r in RHYTHMS}
    choice = {}
    for left_out in records:
        train = [r for r in records if r != left_out]
        best = min(names, key=lambda n: (errors(totals(counts, n, train)), n))
        choice[left_out] = best
        for r, figures in totals(counts, best, [left_out]).items():
            for key in ("TP", "FN", "FP"):
                held[r][key] += figures[key]
    for figures in held.values():
        figures["Se"] = figures["TP"] / max(figures["TP"] + figures["FN"], 1)
        figures["+P"] = figures["TP"] / max(figures["TP"] + figures["FP"], 1)
    return held, choice


def start(doc: str, argv=None) -> tuple:
    """The command line every leave-one-record-out script here shares (``--data-dir``, ``--out``,
    ``--block21-qrs-before``, used by second.py): logging set up,
    then (args, out path, counts cache path beside it, the cached counts or {})."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--block21-qrs-before", type=float, default=0.07,
                        help="bench.rhythms.block21's qrs_before_s (seconds before the annotation a blocked beat is cut from)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    cache = out.with_suffix(".counts.json")
    return args, out, cache, json.loads(cache.read_text()) if cache.exists() else {}


def main(argv=None) -> int:
    args, out, cache, counts = start(__doc__, argv)
    counts = count(args.data_dir, counts)
    cache.write_text(json.dumps(counts) + "\n")
    records = list(tasks.MITDB_DS1)
    names = [name for name, _ in grid()]
    held, choice = loro(counts, names, records)
    all22 = {n: totals(counts, n, records) for n in names}
    chosen = min(names, key=lambda n: (errors(all22[n]), n))
    result = {"experiment": "rpeaks_rescue_loro", "records": records, "rhythms": list(RHYTHMS),
              "criterion": "fewest FN + FP over the four rhythms", "tolerance_ms": 150,
              "grid": {"rescue_amplitude": AMPLITUDE, "rescue_sharpness": SHARPNESS, "rescue_width": WIDTH},
              "held_out": held, "choice_per_fold": choice, "choice_counts": dict(collections.Counter(choice.values())),
              "chosen_on_all_22": chosen, "all_22_with_chosen": all22[chosen], "all_22_rescue_off": all22["off"],
              "grid_errors_all_22": {n: errors(all22[n]) for n in names}}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("held_out", "chosen_on_all_22", "choice_counts")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
