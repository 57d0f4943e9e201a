"""Leave-one-record-out choice of the refractory rule's negative-QRS fallback (``SignalConfig.rpeak_mindelay_keep``
"prominent" or "prominent_negative_last"), the guard's deep rescue (``SignalConfig.rpeak_rescue_deep``,
``signal.GuardConstants.deep_*``), the search back in irregular rhythm (``SignalConfig.rpeak_searchback_irregular``,
``GuardConstants.searchback_irregular_spread``) and the P-wave check (``SignalConfig.rpeak_guard_p_wave``,
``GuardConstants.p_wave_*``), issue 21, on MIT-BIH DS1 and the rhythms built from it (normal, block21, pause,
bigeminy).

    python experiments/rpeaks/deep.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_loro_s27.json

As ``experiments/rpeaks/irregular.py``: for every DS1 record and rhythm (``bench.rhythms``, seed = record number)
the detector runs once without the guard per refractory rule, then ``signal.guard_rpeaks`` once per grid point.
"kfirst_today" is today's default, "kprominent_off" the prominent rule alone (the starting point of this run).
TP/FN/FP as ``bench rpeaks`` counts them (150 ms, VF episodes excluded). For each record left out, the grid point
with the fewest errors (FN + FP over the four rhythms) on the other 21 is scored on it. Per-signal counts are
cached beside ``--out`` (``.counts.json``, written after each record). Prints one JSON object as the last stdout line.
"""
from __future__ import annotations

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
# the sibling script's rhythm sets, counts layout and leave-one-record-out choice (run from experiments/rpeaks)
from rescue import RHYTHMS, errors, loro, start, totals  # noqa: E402

log = logging.getLogger("experiments.rpeaks.deep")
DEEP, DEEP_SHARPNESS, DEEP_WIDTH = (0.15, 0.2), (1.0, 1.1), (0.6, 0.8)
IRREGULAR, SPREAD = (1.2, 1.3), (0.2, 0.3)
P_WAVE = (0.5, 0.6, 0.7, 0.8, 1.0)   # with each refractory rule and deep rescue point, no irregular search back
KEEP = ("prominent", "prominent_negative_last")
TODAY, START = "kfirst_today", "kprominent_off"


def deep_grid():
    yield "off", 0.0, G.GUARD
    for d, sh, w in itertools.product(DEEP, DEEP_SHARPNESS, DEEP_WIDTH):
        yield f"d{d}_s{sh}_w{w}", d, dataclasses.replace(G.GUARD, deep_sharpness=sh, deep_width=w)


def grid(keeps=KEEP):
    """(name, SignalConfig, GuardConstants) of every point: refractory rule x deep rescue x irregular search back."""
    irregular = [("off", 0.0, None)] + [(f"i{r}_sp{sp}", r, sp) for r, sp in itertools.product(IRREGULAR, SPREAD)]
    for keep, (dname, deep, constants), (iname, ratio, spread) in itertools.product(keeps, list(deep_grid()), irregular):
        name = f"k{keep}_off" if dname == iname == "off" else f"k{keep}_{dname}_{iname}"
        config = SignalConfig(rpeak_mindelay_keep=keep, rpeak_rescue_deep=deep, rpeak_searchback_irregular=ratio)
        if spread is not None:
            constants = dataclasses.replace(constants, searchback_irregular_spread=spread)
        yield name, config, constants, keep
    for keep, (dname, deep, constants), p_wave in itertools.product(keeps, list(deep_grid()), P_WAVE):
        yield (f"k{keep}_{dname}_off_p{p_wave}",
               SignalConfig(rpeak_mindelay_keep=keep, rpeak_rescue_deep=deep, rpeak_guard_p_wave=p_wave), constants, keep)


def all_names():
    return [name for name, _, _, _ in grid()]


def count(data_dir, counts: dict, cache: Path) -> dict:
    shipped = G.GUARD
    names = all_names() + [TODAY]
    for rid in tasks.MITDB_DS1:
        if all(f"{rid}|{r}|{n}" in counts for r in RHYTHMS for n in names):
            continue
        # a rerun with more grid points computes only those
        signal, fs, ref, episodes, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
        for rhythm in RHYTHMS:
            built = rhythms.build(rhythm, signal, fs, ref, symbols, episodes, seed=int(rid), qrs_before_s=0.07,
                                  t_end_s=rhythms.T_END_FIXED_S, join_edge_s=rhythms.JOIN_EDGE_NONE)
            x = built["signal"]
            config = SignalConfig()
            cleaned, detect = S.clean(x, fs, config.clean_method), S.clean(x, fs, config.rpeak_clean_method)
            primary = {keep: S.find_rpeaks(x, fs, SignalConfig(rpeak_guard_amplitude=0.0, rpeak_searchback=0.0,
                                                               rpeak_mindelay_keep=keep), cleaned=cleaned)
                       for keep in ("first",) + KEEP}
            points = [point for point in [(TODAY, config, shipped, "first")] + list(grid())
                      if f"{rid}|{rhythm}|{point[0]}" not in counts]
            try:
                for name, signal_config, constants, keep in points:
                    G.GUARD = constants
                    peaks = S.guard_rpeaks(primary[keep], cleaned, detect, fs, signal_config)
                    peaks = peaks[~in_episodes(peaks, built["episodes"])]
                    m = S.match_peaks(built["beats"], peaks, int(round(0.15 * fs)))
                    counts[f"{rid}|{rhythm}|{name}"] = [m["tp"], m["fn"], m["fp"]]
            finally:
                G.GUARD = shipped
            log.info("%s %s: today %s, prominent %s", rid, rhythm, counts[f"{rid}|{rhythm}|{TODAY}"],
                     counts[f"{rid}|{rhythm}|{START}"])
        cache.write_text(json.dumps(counts) + "\n")
    return counts


def distance(held) -> dict:
    """Per rhythm: how far Se and +P are under the issue's 0.997 (0 when met)."""
    return {r: {"Se": max(0.0, 0.997 - f["Se"]), "+P": max(0.0, 0.997 - f["+P"])} for r, f in held.items()}


def main(argv=None) -> int:
    args, out, cache, counts = start(__doc__, argv)
    counts = count(args.data_dir, counts, cache)
    records = list(tasks.MITDB_DS1)
    names = all_names()
    held, choice = loro(counts, names, records)
    prominent = [n for n, _, _, _ in grid(("prominent",))]
    deep_only = [n for n in prominent if n == START or (n.endswith("_off") and "_off_" not in n)]
    irregular_only = [n for n in prominent if n == START or n.startswith("kprominent_off_i")]
    negative_only = [START, "kprominent_negative_last_off"]
    p_wave_only = [START] + [f"kprominent_off_off_p{t}" for t in P_WAVE]
    held_p_wave, choice_p_wave = loro(counts, p_wave_only, records)
    held_prominent, choice_prominent = loro(counts, prominent, records)
    held_deep, choice_deep = loro(counts, deep_only, records)
    held_irregular, choice_irregular = loro(counts, irregular_only, records)
    held_negative, choice_negative = loro(counts, negative_only, records)
    all22 = {n: totals(counts, n, records) for n in names + [TODAY]}
    chosen = min(names, key=lambda n: (errors(all22[n]), n))
    result = {"experiment": "rpeaks_loro_s27",
              "command": " ".join(["python", "experiments/rpeaks/deep.py"] + list(argv or sys.argv[1:])),
              "records": records, "rhythms": list(RHYTHMS), "scored_on": "each DS1 record held out (choice on the other 21)",
              "criterion": "fewest FN + FP over the four rhythms", "tolerance_ms": 150, "target": 0.997,
              "grid": {"rpeak_mindelay_keep": KEEP, "rpeak_rescue_deep": DEEP, "deep_sharpness": DEEP_SHARPNESS,
                       "deep_width": DEEP_WIDTH, "rpeak_searchback_irregular": IRREGULAR,
                       "searchback_irregular_spread": SPREAD, "rpeak_guard_p_wave": P_WAVE},
              "tie_break": "the first name in sort order (a point without an option before the same point with it)",
              "before": all22[START], "before_distance_to_target": distance(all22[START]),
              "today_default": all22[TODAY],
              "held_out": held, "held_out_distance_to_target": distance(held),
              "choice_per_fold": choice, "choice_counts": dict(collections.Counter(choice.values())),
              "held_out_prominent_only": held_prominent,
              "choice_counts_prominent_only": dict(collections.Counter(choice_prominent.values())),
              "held_out_negative_last_only": held_negative,
              "choice_counts_negative_last_only": dict(collections.Counter(choice_negative.values())),
              "held_out_p_wave_only": held_p_wave,
              "choice_counts_p_wave_only": dict(collections.Counter(choice_p_wave.values())),
              "held_out_deep_only": held_deep, "held_out_deep_only_distance_to_target": distance(held_deep),
              "choice_counts_deep_only": dict(collections.Counter(choice_deep.values())),
              "held_out_irregular_only": held_irregular,
              "choice_counts_irregular_only": dict(collections.Counter(choice_irregular.values())),
              "errors": {"before": errors(all22[START]), "held_out": errors(held), "held_out_deep_only": errors(held_deep),
                         "held_out_negative_last_only": errors(held_negative), "held_out_p_wave_only": errors(held_p_wave),
                         "held_out_prominent_only": errors(held_prominent),
                         "today_default": errors(all22[TODAY])},
              "chosen_on_all_22": chosen, "all_22_with_chosen": all22[chosen],
              "grid_errors_all_22": {n: errors(all22[n]) for n in names + [TODAY]},
              "per_record_before": {r: totals(counts, START, [r]) for r in records},
              "per_record_chosen": {r: totals(counts, chosen, [r]) for r in records}}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("held_out", "held_out_distance_to_target", "chosen_on_all_22", "choice_counts")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
