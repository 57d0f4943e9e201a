"""Run s40 (issue 21): the record start of the primary detector (``SignalConfig.rpeak_keep_first_beat``,
``rpeaks._findpeaks_neurokit``'s ``keep_first_beat``) on run s37's point, leave-one-record-out on MIT-BIH DS1 and the
rhythms built from it (normal, block21, pause, bigeminy).

    python experiments/rpeaks/first_beat.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_loro_s40.json \
        --cache-dir /work/runs/s32-rpeaks-203/counts

Why (run s39's training-side diagnosis, benchmarks/results/rpeaks_s39_diagnosis.json): neurokit2's detector starts its
refractory contest with a dummy peak at sample 0 that wins every contest, so a beat in the first 0.3 s of a signal is
always lost (9 of block21's 119 misses at run s37's point, the same in the unchanged records). The option starts the
contest without it; nothing else changes.

Grid (fixed before any figure of this run): run s37's most chosen point (``most_chosen`` of
benchmarks/results/rpeaks_loro_s37.json) with ``rpeak_keep_first_beat`` off (that point itself) and on. Chosen
leave-one-record-out as in runs s30-s39: for each record left out, the point with the fewest FN + FP over the four
rhythms on the other 21 (ties: the first name in sort order, run s37's point first), scored on it. Counts as
``bench rpeaks`` (150 ms, VF episodes excluded); per-record counts cached in ``--cache-dir`` (run s37's point's counts
are there from run s39: same signals, same point). Also, per record and rhythm, the reference beats the option finds
or loses and the false beats it adds or removes, with their times (``first_beat_changes``).

Keep rule (fixed before any figure of this grid was seen): the option is recommended on run s37's point when (a) no
rhythm's held-out Se or +P falls below run s37's point's (scored on every record: 847 errors), (b) the held-out FN + FP
over the four rhythms is below 847, and (c) the point's CPU time is at most 1.3x today's detector
(experiments/rpeaks/first_beat_speed.py; about 1.0x run s37's point expected). A default changes in no case here.
Prints one JSON object last.
"""
from __future__ import annotations

import dataclasses
import logging
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import post_wide  # noqa: E402
from cluster import (RHYTHMS, cached_counts, errors, guard_constants, held_out_fields, loro_summary,  # noqa: E402
                     match, parse_grid_arguments, primary_config, result_head, rhythm_signals, totals, write_result)
from t_wave import TODAY  # noqa: E402

from ecgsl_keras.data import signal as S  # noqa: E402

log = logging.getLogger("experiments.rpeaks.first_beat")
S37, S37_CONFIG, S37_CONSTANTS = post_wide.most_chosen()
FIRST = f"{S37}__first"
KEEP_RULE = ("recommended when no rhythm's held-out Se or +P falls below run s37's point's (scored on every record), "
             "the held-out FN + FP over the four rhythms falls below that point's (847), and the point's CPU time is at "
             "most 1.3x today's detector (first_beat_speed.py)")


def points():
    """(name, SignalConfig, GuardConstants, keep_first_beat): run s37's point, then with the option."""
    yield S37, S37_CONFIG, S37_CONSTANTS, False
    yield FIRST, dataclasses.replace(S37_CONFIG, rpeak_keep_first_beat=True), S37_CONSTANTS, True


def names():
    return [name for name, _, _, _ in points()]


def count_record(data_dir, rid, out=None, **signals) -> dict:
    """Counts of record ``rid``'s four signals at both points, and the beats the option changes
    (``rid|rhythm|first_changes``: reference beats found / lost, false beats added / removed, in seconds).
    ``signals``: ``rhythm_signals``' ``t_end_s`` and ``names`` (run s46 recounts block21 on its builder)."""
    out = dict(out or {})
    for rhythm, built, fs, cleaned, detect in rhythm_signals(data_dir, rid, out, **signals):
        found = {}
        for name, config, constants, first in points():
            primary = S.find_rpeaks(built["signal"], fs, primary_config(rpeak_keep_first_beat=first), cleaned=cleaned)
            with guard_constants(constants):
                peaks = S.guard_rpeaks(primary, cleaned, detect, fs, config)
            tp, fn, fp, hit, false = match(built, peaks, fs)
            out[f"{rid}|{rhythm}|{name}"] = [tp, fn, fp]
            found[first] = (hit, false)
        (hit_off, false_off), (hit_on, false_on) = found[False], found[True]
        out[f"{rid}|{rhythm}|first_changes"] = {
            "found": [round(t / fs, 3) for t in sorted(hit_on - hit_off)],
            "lost": [round(t / fs, 3) for t in sorted(hit_off - hit_on)],
            "false_added": [round(t / fs, 3) for t in sorted(false_on - false_off)],
            "false_removed": [round(t / fs, 3) for t in sorted(false_off - false_on)]}
        log.info("%s %s: s37 %s first %s %s", rid, rhythm, out[f"{rid}|{rhythm}|{S37}"], out[f"{rid}|{rhythm}|{FIRST}"],
                 out[f"{rid}|{rhythm}|first_changes"])
    return out


def main(argv=None) -> int:
    args = parse_grid_arguments(__doc__, argv)
    # the change records are computed with the counts: a cache holding run s37's point (run s39) still needs them
    counts = cached_counts(args, names() + ["first_changes"], count_record)
    if counts is None:
        return 0
    all_names = names()
    records, held, choice, all22, most = loro_summary(counts, all_names)
    base = all22[S37]
    short = {S37: "s37", FIRST: "s37_first"}
    changes = {f"{rid}|{r}": counts[f"{rid}|{r}|first_changes"] for rid in records for r in RHYTHMS}
    summary = {kind: {r: sum(len(changes[f"{rid}|{r}"][kind]) for rid in records) for r in RHYTHMS}
               for kind in ("found", "lost", "false_added", "false_removed")}
    at_start = {kind: {r: sum(sum(t < 1.0 for t in changes[f"{rid}|{r}"][kind]) for rid in records) for r in RHYTHMS}
                for kind in ("found", "lost", "false_added", "false_removed")}
    result = {**result_head("rpeaks_loro_s40", "experiments/rpeaks/first_beat.py", argv, records, KEEP_RULE),
              "s37_point": S37, "grid": {"rpeak_keep_first_beat": [False, True]},
              "grid_points": len(all_names), "tie_break": "the first name in sort order (run s37's point first)",
              "most_chosen": most, "most_chosen_short": short[most], "today": all22[TODAY], "s37": base,
              "s37_first_all_22": all22[FIRST],
              **held_out_fields(held, choice, base, KEEP_RULE, short),
              "errors": {"today": errors(all22[TODAY]), "s37": errors(base), "held_out": errors(held),
                         "s37_first_all_22": errors(all22[FIRST])},
              "held_out_rhythm_errors": {r: held[r]["FN"] + held[r]["FP"] for r in RHYTHMS},
              "first_beat_summary_all_22": summary,
              "first_beat_summary_first_second": at_start,
              "first_beat_changes": {k: v for k, v in changes.items() if any(v.values())},
              "per_record_held_out": {r: totals(counts, choice[r], [r]) for r in records}}
    write_result(args.out, result, ("held_out", "held_out_distance_to_target", "meets_target", "choice_counts",
                                    "errors", "keep", "first_beat_summary_all_22", "first_beat_summary_first_second"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
