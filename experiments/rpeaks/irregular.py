"""Leave-one-record-out choice of the detector's refractory rule (``SignalConfig.rpeak_mindelay_keep``) and the
guard's shape-checked search back (``SignalConfig.rpeak_searchback_shape``, ``signal.GuardConstants.searchback_shape_*``),
issue 21, on MIT-BIH DS1 and the rhythms built from it (normal, block21, pause, bigeminy).

    python experiments/rpeaks/irregular.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_irregular_loro.json

As ``experiments/rpeaks/rescue.py``: for every DS1 record and rhythm (``bench.rhythms``, seed = record number)
the detector runs once without the guard per ``rpeak_mindelay_keep`` ("first" = neurokit2, today), then the
guard's amplitude check (shipped ``SignalConfig`` and ``GUARD``, rescue on), then the search back once per grid
point of (gap ratio, amplitude, sharpness, width) of its shape check, and once with it off. "kfirst_off" is
today's default. TP/FN/FP as ``bench rpeaks`` counts them (150 ms, VF
episodes excluded). For each record left out, the grid point with the fewest errors (FN + FP over the four
rhythms) on the other 21 is scored on it. Per-signal counts are cached beside ``--out`` (``.counts.json``,
written after each record): a rerun resumes / only re-scores. Prints one JSON object as the last stdout line.
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

log = logging.getLogger("experiments.rpeaks.irregular")
KEEP = ("first", "prominent", "prominent_negative")
RATIO, AMPLITUDE, SHARPNESS, WIDTH = (1.1, 1.2), (0.35, 0.5), (0.7, 0.85), (1.5, 99.0)
DEFAULT = "kfirst_off"


def grid(keep):
    yield f"k{keep}_off", SignalConfig(), G.GUARD
    for r, a, sh, w in itertools.product(RATIO, AMPLITUDE, SHARPNESS, WIDTH):
        yield (f"k{keep}_r{r}_a{a}_s{sh}_w{w}", SignalConfig(rpeak_searchback_shape=r),
               dataclasses.replace(G.GUARD, searchback_shape_amplitude=a, searchback_shape_sharpness=sh,
                                   searchback_shape_width=w))


def all_names():
    return [name for keep in KEEP for name, _, _ in grid(keep)]


def count(data_dir, counts: dict, cache: Path) -> dict:
    config = SignalConfig()
    shipped = G.GUARD
    names = all_names()
    for rid in tasks.MITDB_DS1:
        if all(f"{rid}|{r}|{n}" in counts for r in RHYTHMS for n in names):
            continue
        signal, fs, ref, episodes, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
        for rhythm in RHYTHMS:
            built = rhythms.build(rhythm, signal, fs, ref, symbols, episodes, seed=int(rid), qrs_before_s=0.07,
                                  t_end_s=rhythms.T_END_FIXED_S, join_edge_s=rhythms.JOIN_EDGE_NONE)
            x = built["signal"]
            cleaned, detect = S.clean(x, fs, config.clean_method), S.clean(x, fs, config.rpeak_clean_method)
            for keep in KEEP:
                base = SignalConfig(rpeak_guard_amplitude=0.0, rpeak_searchback=0.0, rpeak_mindelay_keep=keep)
                primary = S.find_rpeaks(x, fs, base, cleaned=cleaned)
                # the guard's amplitude check (with the rescue) is the same for every search-back grid point
                guarded = S.guard_rpeaks(primary, cleaned, detect, fs, dataclasses.replace(config, rpeak_searchback=0.0))
                try:
                    for name, signal_config, constants in grid(keep):
                        G.GUARD = constants
                        peaks = S.guard_rpeaks(guarded, cleaned, detect, fs,
                                               dataclasses.replace(signal_config, rpeak_guard_amplitude=0.0))
                        peaks = peaks[~in_episodes(peaks, built["episodes"])]
                        m = S.match_peaks(built["beats"], peaks, int(round(0.15 * fs)))
                        counts[f"{rid}|{rhythm}|{name}"] = [m["tp"], m["fn"], m["fp"]]
                finally:
                    G.GUARD = shipped
            best = min(names, key=lambda n: sum(counts[f"{rid}|{rhythm}|{n}"][1:]))
            log.info("%s %s: today %s, best %s %s", rid, rhythm, counts[f"{rid}|{rhythm}|{DEFAULT}"], best,
                     counts[f"{rid}|{rhythm}|{best}"])
        cache.write_text(json.dumps(counts) + "\n")
    return counts


def main(argv=None) -> int:
    args, out, cache, counts = start(__doc__, argv)
    counts = count(args.data_dir, counts, cache)
    records = list(tasks.MITDB_DS1)
    names = all_names()
    held, choice = loro(counts, names, records)
    # the refractory rule alone (search back as today): the two or three detectors, nothing else chosen
    held_rule, choice_rule = loro(counts, [f"k{keep}_off" for keep in KEEP], records)
    held_prominent, choice_prominent = loro(counts, ["kfirst_off", "kprominent_off"], records)
    all22 = {n: totals(counts, n, records) for n in names}
    chosen = min(names, key=lambda n: (errors(all22[n]), n))
    result = {"experiment": "rpeaks_irregular_loro", "command": " ".join(["python", "experiments/rpeaks/irregular.py"] + list(argv or sys.argv[1:])),
              "records": records, "rhythms": list(RHYTHMS),
              "criterion": "fewest FN + FP over the four rhythms", "tolerance_ms": 150,
              "grid": {"rpeak_mindelay_keep": KEEP, "rpeak_searchback_shape": RATIO, "searchback_shape_amplitude": AMPLITUDE,
                       "searchback_shape_sharpness": SHARPNESS, "searchback_shape_width": WIDTH},
              "held_out": held, "choice_per_fold": choice, "choice_counts": dict(collections.Counter(choice.values())),
              "held_out_refractory_rule_only": held_rule,
              "choice_counts_refractory_rule_only": dict(collections.Counter(choice_rule.values())),
              "held_out_first_or_prominent": held_prominent,
              "choice_counts_first_or_prominent": dict(collections.Counter(choice_prominent.values())),
              "chosen_on_all_22": chosen, "all_22_with_chosen": all22[chosen], "all_22_today": all22[DEFAULT],
              "all_22": {n: all22[n] for n in names if n.endswith("_off")},
              "record_203": {n: totals(counts, n, ["203"]) for n in names if n.endswith("_off")},
              "record_108": {n: totals(counts, n, ["108"]) for n in names if n.endswith("_off")},
              "grid_errors_all_22": {n: errors(all22[n]) for n in names}}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("held_out", "chosen_on_all_22", "choice_counts", "held_out_refractory_rule_only",
                                             "choice_counts_refractory_rule_only")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
