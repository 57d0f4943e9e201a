"""Leave-one-record-out choice of the second proposer (``SignalConfig.rpeak_second_proposer``,
``signal.GuardConstants.second_*``, issue 21) together with run s27's recommended settings, on MIT-BIH DS1 and
the rhythms built from it (normal, block21, pause, bigeminy).

    python experiments/rpeaks/second.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_loro_s28.json
    python experiments/rpeaks/second.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_loro_s28_block100.json \
        --block21-qrs-before 0.1

As ``experiments/rpeaks/deep.py``: for every DS1 record and rhythm (``bench.rhythms``, seed = record number) the
detector runs once without the guard per refractory rule, then ``signal.guard_rpeaks`` once per base point (the
three points run s27's folds chose: ``BASES``), then ``signal.second_proposer`` on its peaks once per grid point
(the last step of ``guard_rpeaks``, so this equals ``guard_rpeaks`` with the option on). TP/FN/FP as
``bench rpeaks`` counts them (150 ms, VF episodes excluded). For each record left out, the point with the fewest
errors (FN + FP over the four rhythms) on the other 21 is scored on it: over every base and grid point
("held_out"), and with the base fixed at s27's choice on all 22 ("held_out_on_s27": the option alone). Per-signal
counts are cached beside ``--out`` (``.counts.json``, written after each record). ``--block21-qrs-before 0.1``:
block21 built with the blocked beats cut from 100 ms before the annotation (no R upstroke left in MIT-BIH 108; run
s28b, experiments/rpeaks/block.py). Prints one JSON object as the last stdout line.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import logging
import sys

from ecgsl_keras import tasks
from ecgsl_keras.bench import rhythms
from ecgsl_keras.bench.rpeaks import in_episodes, read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.data import signal as S
# the sibling scripts' rhythm sets, counts layout, leave-one-record-out choice and distance (run from experiments/rpeaks)
from deep import distance  # noqa: E402
from rescue import RHYTHMS, errors, loro, start, totals  # noqa: E402

log = logging.getLogger("experiments.rpeaks.second")
LEVEL, PERCENTILE, AMPLITUDE = (0.4, 0.5, 0.6, 0.7), (50.0, 25.0), (0.1, 0.2, 0.3)
SPACING, CORRELATION = (0.4, 0.5, 0.6), (0.0, 0.8)
# run s27's choices (experiments/rpeaks/deep.py: 20, 1 and 1 folds), named as there
S27 = "kprominent_negative_last_d0.2_s1.0_w0.8_off_p1.0"
BASES = {S27: (SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_rescue_deep=0.2, rpeak_guard_p_wave=1.0),
               dict(deep_sharpness=1.0, deep_width=0.8)),
         "kprominent_negative_last_d0.2_s1.0_w0.8_off_p0.8": (
             SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_rescue_deep=0.2, rpeak_guard_p_wave=0.8),
             dict(deep_sharpness=1.0, deep_width=0.8)),
         "kprominent_d0.2_s1.0_w0.6_off_p0.8": (
             SignalConfig(rpeak_mindelay_keep="prominent", rpeak_rescue_deep=0.2, rpeak_guard_p_wave=0.8),
             dict(deep_sharpness=1.0, deep_width=0.6))}


def second_grid():
    """(suffix, level, GuardConstants) of every second-proposer point."""
    for level, q, a, sp, c in itertools.product(LEVEL, PERCENTILE, AMPLITUDE, SPACING, CORRELATION):
        yield (f"l{level}_q{q:g}_a{a}_sp{sp}_c{c}", level,
               dataclasses.replace(G.GUARD, second_level_percentile=q, second_amplitude=a, second_spacing=sp,
                                   second_correlation=c))


def all_names(bases=tuple(BASES)):
    return [n for b in bases for n in [b] + [f"{b}__{suffix}" for suffix, _, _ in second_grid()]]


def count(data_dir, counts: dict, cache, qrs_before_s=0.07) -> dict:
    shipped = G.GUARD
    names = all_names()
    for rid in tasks.MITDB_DS1:
        if all(f"{rid}|{r}|{n}" in counts for r in RHYTHMS for n in names):
            continue
        signal, fs, ref, episodes, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
        for rhythm in RHYTHMS:
            if all(f"{rid}|{rhythm}|{n}" in counts for n in names):   # a cache seeded with some rhythms' counts
                continue
            built = rhythms.build(rhythm, signal, fs, ref, symbols, episodes, seed=int(rid), qrs_before_s=qrs_before_s,
                                  t_end_s=rhythms.T_END_FIXED_S, join_edge_s=rhythms.JOIN_EDGE_NONE)
            x = built["signal"]
            config = SignalConfig()
            cleaned, detect = S.clean(x, fs, config.clean_method), S.clean(x, fs, config.rpeak_clean_method)
            feature = S.slope_feature(detect, fs)
            primary = {keep: S.find_rpeaks(x, fs, SignalConfig(rpeak_guard_amplitude=0.0, rpeak_searchback=0.0,
                                                               rpeak_mindelay_keep=keep), cleaned=cleaned)
                       for keep in ("prominent", "prominent_negative_last")}

            def score(name, peaks):
                peaks = peaks[~in_episodes(peaks, built["episodes"])]
                m = S.match_peaks(built["beats"], peaks, int(round(0.15 * fs)))
                counts[f"{rid}|{rhythm}|{name}"] = [m["tp"], m["fn"], m["fp"]]

            for base, (base_config, deep) in BASES.items():
                try:
                    G.GUARD = dataclasses.replace(shipped, **deep)
                    guarded = S.guard_rpeaks(primary[base_config.rpeak_mindelay_keep], cleaned, detect, fs, base_config)
                finally:
                    G.GUARD = shipped
                score(base, guarded)
                for suffix, level, constants in second_grid():
                    point = dataclasses.replace(base_config, rpeak_second_proposer=level)
                    score(f"{base}__{suffix}", S.second_proposer(guarded, cleaned, detect, fs, point, feature, constants))
            log.info("%s %s: s27 %s, s27 + second l0.5_q50_a0.2_sp0.5_c0.0 %s", rid, rhythm, counts[f"{rid}|{rhythm}|{S27}"],
                     counts[f"{rid}|{rhythm}|{S27}__l0.5_q50_a0.2_sp0.5_c0.0"])
        cache.write_text(json.dumps(counts) + "\n")
    return counts


def main(argv=None) -> int:
    args, out, cache, counts = start(__doc__, argv)
    counts = count(args.data_dir, counts, cache, args.block21_qrs_before)
    records = list(tasks.MITDB_DS1)
    names = all_names()
    on_s27 = all_names((S27,))
    held, choice = loro(counts, names, records)
    held_s27, choice_s27 = loro(counts, on_s27, records)
    held_bases, choice_bases = loro(counts, list(BASES), records)
    all22 = {n: totals(counts, n, records) for n in names}
    chosen = min(names, key=lambda n: (errors(all22[n]), n))
    chosen_s27 = min(on_s27, key=lambda n: (errors(all22[n]), n))
    result = {"experiment": "rpeaks_loro_s28",
              "command": " ".join(["python", "experiments/rpeaks/second.py"] + list(argv or sys.argv[1:])),
              "records": records, "rhythms": list(RHYTHMS), "scored_on": "each DS1 record held out (choice on the other 21)",
              "criterion": "fewest FN + FP over the four rhythms", "tolerance_ms": 150, "target": 0.997,
              "block21_qrs_before_s": args.block21_qrs_before,
              "bases": {b: {"rpeak_mindelay_keep": c.rpeak_mindelay_keep, "rpeak_rescue_deep": c.rpeak_rescue_deep,
                            "rpeak_guard_p_wave": c.rpeak_guard_p_wave, **d} for b, (c, d) in BASES.items()},
              "grid": {"rpeak_second_proposer": LEVEL, "second_level_percentile": PERCENTILE,
                       "second_amplitude": AMPLITUDE, "second_spacing": SPACING, "second_correlation": CORRELATION,
                       "second_width": G.GUARD.second_width},
              "tie_break": "the first name in sort order (a base before the same base with the second proposer)",
              "s27_recommended": all22[S27], "s27_recommended_distance_to_target": distance(all22[S27]),
              "held_out": held, "held_out_distance_to_target": distance(held),
              "choice_per_fold": choice, "choice_counts": dict(collections.Counter(choice.values())),
              "held_out_on_s27": held_s27, "held_out_on_s27_distance_to_target": distance(held_s27),
              "choice_counts_on_s27": dict(collections.Counter(choice_s27.values())),
              "held_out_bases_only": held_bases,
              "choice_counts_bases_only": dict(collections.Counter(choice_bases.values())),
              "errors": {"s27_recommended": errors(all22[S27]), "held_out": errors(held), "held_out_on_s27": errors(held_s27),
                         "held_out_bases_only": errors(held_bases)},
              "chosen_on_all_22": chosen, "all_22_with_chosen": all22[chosen],
              "chosen_on_all_22_on_s27": chosen_s27, "all_22_with_chosen_on_s27": all22[chosen_s27],
              "grid_errors_all_22": {n: errors(all22[n]) for n in names},
              "per_record_s27": {r: totals(counts, S27, [r]) for r in records},
              "per_record_chosen_on_s27": {r: totals(counts, chosen_s27, [r]) for r in records},
              # the chosen point with the slope level against the neighbours' median (percentile 50)
              "per_record_chosen_on_s27_percentile50": {r: totals(counts, chosen_s27.replace("_q25_", "_q50_"), [r])
                                                        for r in records}}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("held_out", "held_out_distance_to_target", "held_out_on_s27",
                                              "chosen_on_all_22", "choice_counts", "choice_counts_on_s27")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
